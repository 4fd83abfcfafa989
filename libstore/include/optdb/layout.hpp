// The on-disk layout of SPEC §2 in one place (after LevelDB's filename.h):
// every directory and file name of a directory store, how ids and revisions
// become names and back, and what a name found in a store is. FileRawStorage
// writes through these; inspect and repair read the tree through them.
#pragma once

#include <optional>
#include <string>

#include "optdb/model.hpp"

namespace optdb::layout {

// A block's files, beneath <store>/<blockId>/.
inline constexpr const char* kMetaFile = "meta.json";
inline constexpr const char* kRevsSubdir = "revs";
inline constexpr const char* kPendSubdir = "pend";
inline constexpr const char* kTrxSubdir = "trx";
inline constexpr const char* kActionsSubdir = "actions";  // upstream v0.24's name for trx/
inline constexpr const char* kBlocksSubdir = "blocks";
// optdb's revision index, revs/optdb-index: not a .json name, so never data
// to other readers. A header and one record per revision, 17 bytes each.
inline constexpr const char* kRevisionIndexFile = "optdb-index";

// optdb's own files, beneath <store>/.optdb/: never a block.
inline constexpr const char* kOwnDir = ".optdb";
inline constexpr const char* kIntentsPath = ".optdb/intents";
inline constexpr const char* kLocksPath = ".optdb/locks";
inline constexpr const char* kStoreLockPath = ".optdb/store.lock";

// "a/b" (either may be empty: the store's root).
std::string join(const std::string& a, const std::string& b);

// Store-relative paths.
std::string metaPath(const BlockId& id);
std::string subdirPath(const BlockId& id, const char* subdir);
std::string revPath(const BlockId& id, Rev rev);
std::string indexPath(const BlockId& id);
std::string lockPath(const BlockId& id);

// "<trxId>.json" with ':' written %3A.
std::string encodeTrxFileName(const TrxId& trxId);
// The name a raw ':' gives, which readers also accept (nullopt: none, no ':').
std::optional<std::string> rawTrxFileName(const TrxId& trxId);
// nullopt unless `fileName` is "<trxId>.json" for a valid TrxId (%3A or raw ':').
std::optional<TrxId> decodeTrxFileName(const std::string& fileName);

// "<rev>.json"; decoding gives nullopt unless `fileName` is exactly that
// (decimal, no sign, no leading zero, at most kMaxRev).
std::string encodeRevFileName(Rev rev);
std::optional<Rev> decodeRevFileName(const std::string& fileName);

// The temporary name optdb writes `name` under before renaming it: a leading
// '.' so that no reader takes it for data.
std::string tempFileName(const std::string& name, long pid, std::uint64_t counter);
// optdb's own temporary files (".<name>.tmp.<pid>.<n>"), which repair removes.
bool isTempName(const std::string& name);

}  // namespace optdb::layout
