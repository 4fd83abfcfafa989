// RawStorage in a Ceph RADOS pool (SPEC §9, `--store rados:POOL[/NAMESPACE]`):
// a block is one object whose omap holds its metadata, revision index and
// the index of its items; each transform and materialization is an object of
// its own (the names: libstore/src/rados_layout.hpp).
//
// A unit's writes (those made while this storage holds a lock, up to
// persist() or the last lock's release) are sent together: the item objects
// first, then each block's object in one compound operation, guarded by the
// block's lock (a holder whose lease ran out writes nothing), then the
// removals. The compound operation is the unit's commit point on its block,
// as a rename is on a directory; a commit on several blocks records an intent
// first, as on a directory. Locks are cls_lock advisory locks with a lease,
// renewed while held, so a dead client's locks expire.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "optdb/raw_storage.hpp"

namespace optdb {

namespace rados {
class Pool;
}

struct RadosOptions {
  std::string conf;             // the cluster's ceph.conf (SPEC §9's order: --ceph-conf, $CEPH_CONF, /etc/ceph/ceph.conf)
  std::string client = "admin"; // $CEPH_ID
  double leaseSeconds = 30;     // a lock's lease ($OPTDB_RADOS_LEASE)
  std::optional<Dialect> layout;
};

// "rados:POOL" or "rados:POOL/NAMESPACE" taken apart; nullopt for anything else.
struct RadosLocation {
  std::string pool, nspace;
};
bool isRadosLocation(const std::string& location);
Result<RadosLocation> parseRadosLocation(const std::string& location);
// The options SPEC §9 gives a store: `cephConf` (--ceph-conf) when not empty,
// then the environment.
RadosOptions radosOptionsFromEnvironment(const std::string& cephConf, std::optional<Dialect> layout);

class RadosRawStorage : public RawStorage {
 public:
  // `location` is rados:POOL[/NAMESPACE]. Connects on first use: a bad
  // location or an unreachable cluster is the first operation's error.
  RadosRawStorage(const std::string& location, RadosOptions options);
  ~RadosRawStorage() override;

  Result<std::optional<BlockMeta>> getMeta(const BlockId& id) override;
  Status saveMeta(const BlockId& id, const BlockMeta& meta) override;
  Result<std::optional<TrxId>> getRevision(const BlockId& id, Rev rev) override;
  Status saveRevision(const BlockId& id, Rev rev, const TrxId& trxId) override;
  Result<std::vector<Rev>> listRevisions(const BlockId& id) override;
  Result<std::unique_ptr<RevisionList>> revisions(const BlockId& id, const BlockMeta& meta) override;
  Status indexRevision(const BlockId& id, const BlockMeta& before, const BlockMeta& after, Rev rev) override;
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

  Result<bool> exists() override;
  Status visitBlocks(const std::vector<BlockId>& named, std::vector<BlockId>* notFound, const ProblemSink& onProblem,
                     const std::function<Status(const BlockId&)>& onBlock) override;
  Result<BlockListing> listBlock(const BlockId& id) override;
  Result<IntentListing> listIntentItems() override;
  Result<std::optional<std::string>> readItem(const std::string& where) override;
  std::string whereRevision(const BlockId& id, Rev rev) override;
  std::string whereIntents() override;
  std::string whereItem(const BlockId& id, ItemKind kind, const TrxId& trxId, Dialect dialect) override;
  Status removeStray(const std::string& where) override;
  Result<std::unique_ptr<FileLock>> lockStoreIfKept(LockMode mode, double timeoutSeconds) override;
  Status syncStore() override;
  Status persist() override;

  // The round trips waited for so far, {reads, writes} (bench/).
  std::pair<std::uint64_t, std::uint64_t> roundTripsByKind() const;

 private:
  class Lock;
  class LeaseKeeper;
  // A block's writes staged in the current unit: omap keys and item objects,
  // each a value or nullopt (removed).
  struct Staged {
    std::map<std::string, std::optional<std::string>> keys;
    std::map<std::string, std::optional<std::string>> objects;
  };

  // What this storage read of a block whose lock it holds (none can write it
  // meanwhile), brought up to date by each unit it sends; dropped with the lock.
  struct Cached {
    std::map<std::string, std::optional<std::string>> keys;             // omap key: value, or absent
    std::map<std::string, std::map<std::string, std::string>> listings;  // by prefix, whole
    std::map<std::string, std::optional<std::string>> objects;          // item objects: bytes, or absent
    // What is known of key `k`: nullopt when nothing.
    std::optional<std::optional<std::string>> known(const std::string& k) const;
  };
  Cached* cacheOf(const BlockId& id);  // null unless its lock is held
  void remember(const BlockId& id, const Staged& staged);

  Status ready();
  void released(Lock* lock);
  Status afterWrite();  // sends what was staged unless a lock is held
  Status flush();

  Result<std::optional<std::string>> key(const BlockId& id, const std::string& key);
  Result<std::map<std::string, std::string>> keys(const BlockId& id, const std::string& prefix);
  Result<std::optional<std::string>> item(const BlockId& id, char kind, const TrxId& trx);
  void stageItem(const BlockId& id, char kind, const TrxId& trx, std::optional<std::string> bytes);
  Result<std::optional<Transform>> transformItem(const BlockId& id, char kind, const TrxId& trx);
  Result<Dialect> storeDialect();
  Result<std::optional<Dialect>> committedDialect(const BlockId& id);
  Result<std::map<BlockId, std::vector<std::string>>> objectsByBlock(std::vector<std::string>* foreign);
  // Whether each block holds metadata (exists), its keys read in parallel.
  Result<std::vector<bool>> holdingMeta(const std::vector<BlockId>& ids);

  RadosLocation location_;
  RadosOptions options_;
  std::shared_ptr<rados::Pool> pool_;
  Status openError_;
  bool opened_ = false;
  std::unique_ptr<LeaseKeeper> leases_;
  std::recursive_mutex mu_;
  std::map<BlockId, Staged> staged_;
  std::set<TrxId> intentsDone_;          // intents removed when the unit is sent
  std::map<BlockId, std::string> blockCookies_;  // the block locks held, by cookie
  std::map<BlockId, Cached> cache_;
  int locksHeld_ = 0;
  std::optional<Dialect> storeDialect_;
  bool layoutRecorded_ = false;
  std::optional<std::map<BlockId, std::vector<std::string>>> visiting_;  // item objects, during visitBlocks
};

}  // namespace optdb
