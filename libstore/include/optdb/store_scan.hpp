// What a storage holds, item by item, for integrity (SPEC §6) to judge. A
// storage lists and classifies what it finds and reports the problems only
// its own medium can have (a symbolic link, a FIFO, a stray temporary file,
// a name that is no id); whether a block is sound as a whole is integrity's
// judgement, made the same on every storage.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "optdb/dialect.hpp"
#include "optdb/model.hpp"
#include "optdb/problem.hpp"

namespace optdb {

// One stored item: where it is (store-relative, the path of problems and of
// RawStorage::readItem) and how many bytes it holds.
struct StoredItem {
  std::string where;
  std::uint64_t bytes = 0;
  // When it was last written, for a pending item (the age of a pending
  // transaction, inspect --prom); unset for the others, and where the medium
  // keeps no such time.
  std::optional<std::chrono::system_clock::time_point> modified = std::nullopt;
};

// The items of a block named by a transaction id.
enum class ItemKind { Pending, Committed, Materialized };

// One block's items, as found; nothing in it is read but the names.
struct BlockListing {
  BlockId id;
  std::string metaWhere;              // where its metadata is (or would be)
  bool hasMeta = false;               // a metadata item is there, as data
  std::map<Rev, StoredItem> revisions;  // revision records, by number
  std::map<TrxId, StoredItem> pending, materialized;
  // Committed transforms; where both dialects hold one, the one readers take.
  std::map<TrxId, StoredItem> committed;
  std::set<Dialect> committedDialects;  // dialects whose committed collection is there
  std::vector<std::string> temps;     // leftovers of interrupted writes (removeStray)
  std::uint64_t bytes = 0;            // every item of the block, whatever it is
  std::uint64_t allocatedBytes = 0;   // what the medium allocated for them (du(1) on a directory, itself included)
  std::vector<Problem> problems;      // of single items, in listing order
};

// The commit intents of the store (those that decode), and what else is there.
struct IntentListing {
  struct Entry {
    std::string where;
    CommitIntent intent;
  };
  std::vector<Entry> intents;
  std::vector<Problem> problems;   // of single items; a malformed intent is bad-json
  std::vector<std::string> temps;  // leftovers of interrupted writes (removeStray)
};

}  // namespace optdb
