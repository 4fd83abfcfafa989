// Integrity of a store (SPEC §6): the check behind `optdb inspect --check`,
// the repair behind `optdb repair`, and the summary behind `optdb inspect`.
//
// All three stream: they visit one block at a time and hold only that
// block's file listing, so memory does not grow with the number of blocks.
// Every file is reached through the store's Env; a symbolic link is reported
// where it stands and never followed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "optdb/problem.hpp"
#include "optdb/raw_storage.hpp"
#include "optdb/json.hpp"
#include "optdb/model.hpp"

namespace optdb {

// Repair actions (the `action` of a RepairAction; see optdb-repair(1)).
namespace action {
inline constexpr const char* kFinishCommit = "finish-commit";
inline constexpr const char* kRemoveIntent = "remove-intent";
inline constexpr const char* kSetLatest = "set-latest";
inline constexpr const char* kWriteTip = "write-tip";
inline constexpr const char* kRemoveTemp = "remove-temp";
inline constexpr const char* kFixRanges = "fix-ranges";
inline constexpr const char* kRebuildMeta = "rebuild-meta";
inline constexpr const char* kRemovePending = "remove-pending";
inline constexpr const char* kRebuildRevision = "rebuild-revision";
inline constexpr const char* kConvertDialect = "convert-dialect";
}  // namespace action


struct RepairAction {
  std::string path;  // store-relative path changed
  std::string action;
  std::string message;
  // {"path","action","message"}
  Json toJson() const;
};


// ---- inspect --check ----

struct CheckOptions {
  std::vector<BlockId> blockIds;  // empty: the whole store
  double lockTimeout = 30.0;      // for the store lock, taken exclusively
  // After each block; the blocks are counted first, in a listing pass of
  // their own, only when it is set.
  BlockProgressFn progress;
};

struct CheckResult {
  std::size_t problems = 0;
  std::map<std::string, std::uint64_t> kinds;  // the problems by kind
  std::vector<BlockId> notFound;  // named blocks the store does not hold
  Code exitCode() const { return problems > 0 ? Code::Integrity : notFound.empty() ? Code::Ok : Code::NotFound; }
};

// Runs every check of SPEC §6, calling `sink` once per problem as it is found
// (intents first, then the top level and the blocks in bytewise id order).
// Holds the store lock exclusively while it looks (LockTimeout otherwise).
// InvalidInput for a named id that is not a valid block id.
Result<CheckResult> checkStore(RawStorage& raw, const CheckOptions& options, const ProblemSink& sink);

// ---- repair ----

struct RepairOptions {
  std::vector<BlockId> blockIds;  // empty: the whole store
  double lockTimeout = 30.0;
  bool dryRun = false;  // report what would be done, change nothing
  // After each block is repaired (not the deferred pass for lost revisions,
  // nor the closing check); counted first, as CheckOptions::progress.
  BlockProgressFn progress;
};

struct RepairReport {
  std::vector<RepairAction> actions;
  std::vector<Problem> remaining;  // what inspect --check reports afterwards (dry run: would report)
  std::vector<BlockId> notFound;
  // The store itself could not be examined (it cannot be listed): exit 1,
  // the report printed all the same. One block that cannot is in `remaining`.
  bool examined = true;
  // {"actions":[…],"remaining":[…]}
  Json toJson() const;
  Code exitCode() const {
    if (!examined) return Code::IoError;
    if (!remaining.empty()) return Code::Integrity;
    return notFound.empty() ? Code::Ok : Code::NotFound;
  }
};

// SPEC §6 repair, under the store lock held exclusively. Never deletes a
// committed transform or a revision file, never follows or removes a
// symbolic link.
Result<RepairReport> repairStore(RawStorage& raw, const RepairOptions& options);

// ---- inspect (summary) ----

struct RevisionSummary {
  Rev rev = 0;
  TrxId trxId;
  bool materialized = false;
  std::uint64_t transformBytes = 0;
  // {"rev","trxId","materialized","transformBytes"}
  Json toJson() const;
};

struct BlockSummary {
  BlockId blockId;
  Dialect dialect = Dialect::Trx;  // the one its files are written in (SPEC §2)
  std::optional<Ranges> ranges;  // nullopt when meta.json cannot be read
  std::optional<TrxRev> latest;
  std::uint64_t revisionCount = 0;  // complete revisions: revs/ file and committed transform
  std::optional<Rev> firstRev, lastRev;
  std::vector<TrxId> pendings;  // sorted bytewise
  std::uint64_t materialized = 0;  // materializations retained under blocks/
  std::uint64_t bytes = 0;         // every regular file under the block's directory
  std::uint64_t allocatedBytes = 0;  // what the file system allocated for them, as du(1) counts
  std::optional<std::vector<RevisionSummary>> revisions;  // with SummaryOptions::revisions
  // When its oldest pending transaction was written (StoredItem::modified;
  // not in the JSON): nullopt with no pendings, or none with a known time.
  std::optional<std::chrono::system_clock::time_point> oldestPending;
  // {"blockId","dialect","ranges","latest"?,"revisionCount","revisionSpan"?:[first,last],
  //  "pendings","materialized","bytes","allocatedBytes","revisions"?}
  Json toJson() const;
};

struct StoreSummary {
  std::uint64_t blocks = 0, revisions = 0, pendings = 0, bytes = 0, allocatedBytes = 0, problems = 0;
  std::optional<std::chrono::system_clock::time_point> oldestPending;  // of every block's (not in the JSON)
  // {"blocks","revisions","pendings","bytes","allocatedBytes","problems"}
  Json toJson() const;
};

struct SummaryOptions {
  std::vector<BlockId> blockIds;  // empty: every block
  bool revisions = false;         // list each revision
};

struct SummaryResult {
  StoreSummary store;
  std::vector<BlockId> notFound;
  Code exitCode() const { return store.problems > 0 ? Code::Integrity : notFound.empty() ? Code::Ok : Code::NotFound; }
};

// Describes blocks one at a time (bytewise id order, or the order named),
// taking no lock and writing nothing, as a reader. Files met that do not
// parse (meta.json, revs/) go to `onProblem` and count in store.problems.
Result<SummaryResult> summarizeStore(RawStorage& raw, const SummaryOptions& options,
                                     const std::function<void(const BlockSummary&)>& onBlock,
                                     const ProblemSink& onProblem);

}  // namespace optdb
