// The on-disk layout of SPEC §2 in one place (after LevelDB's filename.h):
// every directory and file name of a directory store, how ids and revisions
// become names and back, and what a name found in a store is. FileRawStorage
// writes through these; inspect and repair read the tree through them.
#pragma once

#include <optional>
#include <string>

#include "optdb/dialect.hpp"
#include "optdb/model.hpp"

namespace optdb::layout {

// A block's files, beneath <store>/<blockId>/.
inline constexpr const char* kMetaFile = "meta.json";
inline constexpr const char* kRevsSubdir = "revs";
inline constexpr const char* kPendSubdir = "pend";
// Committed transforms: namesOf(dialect).committedSubdir (trx/ or actions/).
inline constexpr const char* kBlocksSubdir = "blocks";
// optdb's revision index: a header and one record per revision, 17 bytes
// each. A trx block keeps it as revs/optdb-index (not a .json name, so never
// data to other readers); an actions block, whose tree holds exactly what
// upstream v0.24 writes, under .optdb/index/<blockId>.
inline constexpr const char* kRevisionIndexFile = "optdb-index";
inline constexpr const char* kIndexesPath = ".optdb/index";

// optdb's own files, beneath <store>/.optdb/: never a block.
inline constexpr const char* kOwnDir = ".optdb";
inline constexpr const char* kIntentsPath = ".optdb/intents";
inline constexpr const char* kLocksPath = ".optdb/locks";
inline constexpr const char* kStoreLockPath = ".optdb/store.lock";
// The write-ahead journal (journal_env.hpp) and the locks of its phases.
inline constexpr const char* kJournalPath = ".optdb/journal";
inline constexpr const char* kJournalLockPath = ".optdb/journal.lock";
inline constexpr const char* kJournalSyncPath = ".optdb/journal.sync";
inline constexpr const char* kSettingsFile = "settings.json";  // {"layout":"trx"|"actions"}
inline constexpr const char* kSettingsPath = ".optdb/settings.json";

// "a/b" (either may be empty: the store's root).
std::string join(const std::string& a, const std::string& b);

// Store-relative paths.
std::string metaPath(const BlockId& id);
std::string subdirPath(const BlockId& id, const char* subdir);
std::string committedDir(const BlockId& id, Dialect dialect);
std::string revPath(const BlockId& id, Rev rev);
// The revision index of a block in `dialect`: its directory and its name there.
std::string indexDir(const BlockId& id, Dialect dialect);
std::string indexName(const BlockId& id, Dialect dialect);
std::string indexPath(const BlockId& id, Dialect dialect);
std::string lockPath(const BlockId& id);
// What the block's lock guards: its directory and its index under .optdb/.
std::vector<std::string> lockedPaths(const BlockId& id);

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

// The temporary name `name` is written under before its rename, as the
// dialect's writers name it: trx ".<name>.tmp.<pid>.<n>" (a leading '.', so
// that no reader takes it for data); actions "<name>.<pid>.<n>.tmp", as
// upstream v0.24 does (its readers skip names not ending in .json).
// <pid> is this process's; <n> is counted for the whole process, so that
// storages on one store in several threads (a parallel restore) never pick
// the same name.
std::string tempFileName(const std::string& name, Dialect dialect);
// The journal's own temporary name for `name` while it applies a unit:
// ".<name>.jtmp.<pid>.<n>", counted as above.
std::string journalTempName(const std::string& name);
// A stray temporary file of any writer (SPEC §2): a name starting with '.',
// or "<final name>.<digits>.<digits>.tmp". Never data; repair removes it.
bool isTempName(const std::string& name);

}  // namespace optdb::layout
