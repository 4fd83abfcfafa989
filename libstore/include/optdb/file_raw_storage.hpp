// RawStorage on a directory tree in the exact layout of SPEC §2, shared with
// the TypeScript FileRawStorage, with every name from layout.hpp.
#pragma once

#include <map>
#include <set>
#include <string>

#include "optdb/raw_storage.hpp"

namespace optdb {

class JournalEnv;  // journal_env.hpp

class FileRawStorage : public RawStorage {
 public:
  // `sync` false skips every fsync (bulk loads; SPEC's --no-sync). `layout`
  // is the dialect new blocks take (--layout); nullopt: the store's (SPEC §2).
  // `journal`: durable writes through the write-ahead journal (one flush per
  // unit of work) where the Env can tell one boot from the next; false: an
  // fsync per file. A journal left by others is replayed either way.
  FileRawStorage(std::shared_ptr<Env> env, bool sync, std::optional<Dialect> layout = std::nullopt,
                 bool journal = true);
  ~FileRawStorage() override;

  Result<std::optional<BlockMeta>> getMeta(const BlockId& id) override;
  Status saveMeta(const BlockId& id, const BlockMeta& meta) override;
  Result<std::optional<TrxId>> getRevision(const BlockId& id, Rev rev) override;
  Status saveRevision(const BlockId& id, Rev rev, const TrxId& trxId) override;
  Result<std::vector<Rev>> listRevisions(const BlockId& id) override;
  Result<std::unique_ptr<RevisionList>> revisions(const BlockId& id, const BlockMeta& meta) override;
  Status indexRevision(const BlockId& id, const BlockMeta& before, const BlockMeta& after, Rev rev) override;
  Status rebuildRevisionIndex(const BlockId& id, const BlockMeta& meta) override;
  Status addToRevisionIndex(const BlockId& id, const std::optional<BlockMeta>& before, const BlockMeta& after,
                            const std::vector<Rev>& added) override;
  Status removeRevisions(const BlockId& id, const BlockMeta& meta, const std::vector<TrxRev>& revisions) override;
  Result<std::optional<Transform>> getPending(const BlockId& id, const TrxId& trxId) override;
  Status savePending(const BlockId& id, const TrxId& trxId, const Transform& t) override;
  Status deletePending(const BlockId& id, const TrxId& trxId) override;
  Result<std::vector<TrxId>> listPendings(const BlockId& id) override;
  Result<std::optional<Transform>> getCommitted(const BlockId& id, const TrxId& trxId) override;
  Status saveCommitted(const BlockId& id, const TrxId& trxId, const Transform& t) override;
  Status promotePending(const BlockId& id, const TrxId& trxId) override;
  Result<std::optional<Json>> getMaterialized(const BlockId& id, const TrxId& trxId) override;
  Status saveMaterialized(const BlockId& id, const TrxId& trxId, const Json& block) override;
  Status deleteMaterialized(const BlockId& id, const TrxId& trxId) override;
  Status discardMaterialized(const BlockId& id, const TrxId& trxId) override;
  Result<std::vector<BlockId>> listBlocks() override;
  Status saveIntent(const CommitIntent& intent) override;
  Status deleteIntent(const TrxId& trxId) override;
  Result<std::vector<CommitIntent>> listIntents() override;
  Result<std::unique_ptr<FileLock>> lockStore(LockMode mode, double timeoutSeconds) override;
  Result<std::unique_ptr<FileLock>> lockBlock(const BlockId& id, double timeoutSeconds) override;
  Result<Dialect> dialect(const BlockId& id) override;
  Result<bool> convertBlock(const BlockId& id, Dialect to) override;
  Status checkConvertible(const BlockId& id, Dialect to) override;
  Status setStoreDialect(Dialect d) override;
  Result<Dialect> dialectGiven(const BlockId& id, std::optional<Dialect> fromMeta) override;
  // For integrity: the tree walked through the Env (file_scan.cpp), every
  // symbolic link reported where it stands and never followed.
  Result<bool> exists() override;
  Status visitBlocks(const std::vector<BlockId>& named, std::vector<BlockId>* notFound, const ProblemSink& onProblem,
                     const std::function<Status(const BlockId&)>& onBlock) override;
  Result<BlockListing> listBlock(const BlockId& id) override;
  Result<IntentListing> listIntentItems() override;
  Result<std::optional<std::string>> readItem(const std::string& where) override;
  Status removeStray(const std::string& where) override;
  std::string whereRevision(const BlockId& id, Rev rev) override;
  std::string whereIntents() override;
  std::string whereItem(const BlockId& id, ItemKind kind, const TrxId& trxId, Dialect dialect) override;
  Result<std::unique_ptr<FileLock>> lockStoreIfKept(LockMode mode, double timeoutSeconds) override;
  Status syncStore() override;
  Status persist() override;
  bool beginWindow() override;
  Status flushWindow() override;
  Status endWindow() override;
  Status finishInterruptedUnits() override;
  // Its .optdb/ directory, when there is one (restore spools there).
  std::optional<std::string> spoolDirectory() override;

  // The dialect a new block takes: --layout, else settings.json, else that of
  // the existing blocks when they agree, else actions.
  Result<Dialect> storeDialect();
  // What the block's own files say (meta.json's latest, else an actions/ or
  // trx/ directory); nullopt when nothing does (no block, or only pendings).
  Result<std::optional<Dialect>> ownDialect(const BlockId& id);

  Env& env() { return *env_; }
  // The write-ahead journal every call goes through (for tests and benchmarks).
  JournalEnv& journal() { return *journal_; }
  bool syncing() const { return sync_; }

  // The names of the tree are in layout.hpp.

 private:
  // Temp file (named as `dialect`'s writers name it), fsync, rename, directory
  // fsync; creates missing directories.
  Status writeAtomic(const std::string& dir, const std::string& name, const std::string& data,
                     Dialect dialect = Dialect::Trx);
  // Records the store's dialect in settings.json unless it is there (once per instance).
  Status recordSettings();
  Status writeSettings(Dialect d);
  Result<std::optional<Dialect>> readSettings();
  // The dialect the block's trx/ or actions/ directory shows (actions when both).
  Result<std::optional<Dialect>> directoryDialect(const BlockId& id);
  Status ensureDir(const std::string& dir);
  Status ensureLockDir(const std::string& dir);
  // The lock file `path` in `dir`, which is made when missing.
  Result<std::unique_ptr<FileLock>> lockIn(const std::string& dir, const std::string& path, LockMode mode,
                                           double timeoutSeconds);
  Result<std::optional<std::string>> readIfExists(const std::string& path);
  Result<std::optional<Json>> readJson(const std::string& path);
  // The path of a transaction file, trying the encoded then the raw name.
  Result<std::optional<std::string>> findTrxFile(const std::string& dir, const TrxId& trxId);
  // Removes <dir>/<trxId>.json under every name readers accept; true when one was there.
  Result<bool> removeTrxFiles(const std::string& dir, const TrxId& trxId);
  Status syncDirIfNeeded(const std::string& dir);
  Result<std::optional<Transform>> readTransform(const BlockId& id, const std::string& dir, const TrxId& trxId);
  // The index of `revs` for `meta`, in the place of meta's dialect.
  Status writeIndex(const BlockId& id, const BlockMeta& meta, const std::vector<Rev>& revs);
  // The index when it is current for `meta`, else nullptr.
  Result<std::unique_ptr<RevisionList>> openIndex(const BlockId& id, const BlockMeta& meta);

  // What the storage cached from writes a failed unit of work dropped.
  void forgetCaches();

  std::shared_ptr<JournalEnv> journal_;
  std::shared_ptr<Env> env_;  // journal_, as an Env
  bool sync_;
  std::optional<Dialect> layout_;
  std::optional<Dialect> storeDialect_;
  bool settingsRecorded_ = false;
  std::map<BlockId, Dialect> dialects_;  // as getMeta last found them
  std::set<std::string> lockDirs_;       // lock directories found
  std::set<std::string> knownDirs_;  // directories seen to exist: no stat per write
  std::set<std::string> syncedDirs_;  // parents fsynced after their existing children were found
};

}  // namespace optdb
