// The data model of SPEC §1: ids, revisions, transforms, ranges, block metadata.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "optdb/dialect.hpp"
#include "optdb/json.hpp"
#include "optdb/status.hpp"

namespace optdb {

using BlockId = std::string;
using TrxId = std::string;
using Rev = std::uint64_t;
constexpr Rev kMaxRev = (Rev{1} << 53) - 1;

// `where` prefixes the error message, e.g. `inserts["b1"]`.
Status validateBlockId(std::string_view id, std::string_view where);
Status validateTrxId(std::string_view id, std::string_view where);
// Parses a decimal revision as typed on a command line.
Result<Rev> parseRev(std::string_view text, std::string_view where);

struct TrxRev {
  TrxId trxId;
  Rev rev = 0;
  bool operator==(const TrxRev&) const = default;
};

// One block's change. Applied as: insert, then updates, then delete.
struct Transform {
  std::optional<Json> insert;   // a Block
  std::optional<Json> updates;  // an array of BlockOperation
  bool del = false;
  bool empty() const { return !insert && !updates && !del; }
};

// A transaction's changes, keeping the order the ids were first seen.
struct Transforms {
  std::vector<std::pair<BlockId, Json>> inserts;
  std::vector<std::pair<BlockId, Json>> updates;
  std::vector<BlockId> deletes;

  // Distinct ids of inserts, then updates, then deletes, in first-seen order.
  std::vector<BlockId> blockIds() const;
  // One block's part: a scan of the whole transaction.
  Transform forBlock(const BlockId& id) const;
  // Every block's part, in blockIds() order, in one pass: what a loop over the
  // blocks uses (forBlock in that loop would make it quadratic).
  std::vector<std::pair<BlockId, Transform>> byBlock() const;
  void add(const BlockId& id, const Transform& t);
};

// [start] (open-ended, end = nullopt) or [start, end) with end exclusive.
struct Range {
  Rev start = 0;
  std::optional<Rev> end;
  bool operator==(const Range&) const = default;
};
using Ranges = std::vector<Range>;

bool rangesContain(const Ranges& ranges, Rev rev);
// Sorts and merges ranges that overlap or touch.
Ranges normalizeRanges(Ranges ranges);
// The part of (normalized) `ranges` at or above `floor` (forget's narrowing).
Ranges rangesFrom(const Ranges& ranges, Rev floor);

struct BlockMeta {
  Ranges ranges{Range{0, std::nullopt}};
  std::optional<TrxRev> latest;
  Dialect dialect = Dialect::Trx;  // the block's layout generation (SPEC §2)
};

// What a block's first write records: `[[0]]` in the trx dialect; in the
// actions dialect `[]` (upstream v0.24 holds no revision until a commit).
BlockMeta newBlockMeta(Dialect dialect);
// `meta` after a commit at latest.rev, ranges included, by the block's
// dialect: trx adds `[rev]` when not held; actions adds `[previous latest, or
// rev]` and merges, as upstream v0.24 does. The one rule for "set latest".
BlockMeta withLatest(BlockMeta meta, const TrxRev& latest);
// `meta` as migrate writes it in dialect `to` (SPEC §2), given the block's
// lowest revision record: into actions, a range from 0 starts at that
// revision (upstream v0.24 holds revisions from the first commit, and reads
// revision 0 of a range from 0 as revision 1), or goes when it holds none.
BlockMeta metaInDialect(BlockMeta meta, Dialect to, std::optional<Rev> lowestRevision);

// Recorded before a commit touches any block, removed once all are done.
struct CommitIntent {
  TrxId trxId;
  Rev rev = 0;
  std::vector<BlockId> blockIds;
};

}  // namespace optdb
