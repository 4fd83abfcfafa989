// The repository operations of SPEC §3 (get, pend, commit, cancel) over any
// RawStorage: validation, cross-process locking, stale and pending checks,
// and commits that survive a crash at any instant (ordered writes; an intent
// for a commit on several blocks).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optdb/block_storage.hpp"
#include "optdb/raw_storage.hpp"

namespace optdb {

struct StoreOptions {
  bool sync = true;           // false: skip fsyncs (--no-sync)
  double lockTimeout = 30.0;  // seconds to wait for a lock; 0: try once
  std::optional<Dialect> layout;  // the dialect new blocks take (--layout); nullopt: the store's
  std::string cephConf;           // a rados: store's cluster (--ceph-conf); empty: $CEPH_CONF, /etc/ceph/ceph.conf
};

struct GetContext {
  std::vector<TrxRev> committed;
  std::optional<Rev> rev;
  std::optional<TrxId> trxId;
};

struct BlockState {
  std::optional<Json> block;
  std::optional<TrxRev> latest;
  std::vector<TrxId> pendings;
  std::optional<std::string> notFound;  // why the block or its revision could not be obtained
};

struct GetResult {
  std::vector<std::pair<BlockId, BlockState>> blocks;
  // Any block asked for is absent or could not be obtained (exit 3).
  bool anyMissing() const;
  Json toJson() const;
  Code exitCode() const { return anyMissing() ? Code::NotFound : Code::Ok; }
};

// One transaction a caller has not seen, restricted to the blocks it asked about.
struct MissingTrx {
  TrxId trxId;
  Rev rev = 0;
  Transforms transforms;
};

struct PendingRef {
  BlockId blockId;
  TrxId trxId;
  std::optional<Transform> transform;  // policy r only
};

enum class Policy { Continue, Fail, Return, Wait };
// "c", "f", "r", "w" (SPEC §3); nullopt for anything else.
std::optional<Policy> parsePolicy(std::string_view text);

struct PendRequest {
  TrxId trxId;
  Transforms transforms;
  std::optional<Rev> rev;
  Policy policy = Policy::Continue;
  double timeoutSeconds = 30.0;  // policy w
};

struct PendResult {
  enum class Outcome { Pended, Stale, PendingConflict } outcome = Outcome::Pended;
  std::vector<MissingTrx> missing;
  std::vector<PendingRef> pending;
  std::vector<BlockId> blockIds;
  Json toJson() const;
  Code exitCode() const {
    return outcome == Outcome::Stale             ? Code::Stale
           : outcome == Outcome::PendingConflict ? Code::PendingConflict
                                                 : Code::Ok;
  }
};

struct CommitResult {
  bool success = false;  // false: stale, see missing
  std::vector<MissingTrx> missing;
  Json toJson() const;
  Code exitCode() const { return success ? Code::Ok : Code::Stale; }
};

struct MigrateResult {
  std::vector<BlockId> migrated;   // converted
  std::vector<BlockId> unchanged;  // in the target dialect already, or nothing to convert
  Json toJson() const;             // {"migrated":[…],"unchanged":[…]}
  Code exitCode() const { return Code::Ok; }
};

struct GcResult {
  bool dryRun = false;
  std::uint64_t removed = 0, bytes = 0;  // dry run: what would be removed
  std::vector<std::pair<BlockId, DroppedMaterialization>> listed;  // dry run only
  // {"removed","bytes"}; a dry run {"dryRun":true,"removed","bytes","materializations":[{"blockId","rev","trxId","bytes"}…]}
  Json toJson() const;
  Code exitCode() const { return Code::Ok; }
};


// forget --before N (SPEC §8) on the named blocks, or every block with `all`.
struct ForgetRequest {
  Rev before = 0;
  std::vector<BlockId> blockIds;
  bool all = false;
  // InvalidInput unless it names blocks or `all` (not both) and `before` is a revision.
  Status validate() const;
};

struct ForgottenBlock {
  BlockId blockId;
  Rev from = 0;                // where its history starts now
  std::size_t revisions = 0;   // revisions removed
  std::uint64_t bytes = 0;     // what their items held
};

struct ForgetResult {
  std::vector<ForgottenBlock> forgotten;  // blocks changed, in id order
  // {"forgotten":[{"blockId","from","revisions","bytes"}…]}
  Json toJson() const;
  Code exitCode() const { return Code::Ok; }
};

class ArchiveFile;

struct CancelResult {
  std::vector<BlockId> cancelled;
  std::vector<BlockId> committed;
  Json toJson() const;
  Code exitCode() const { return Code::Ok; }
};

class StorageRepo {
 public:
  StorageRepo(std::shared_ptr<RawStorage> raw, StoreOptions options = {}, RestoreCallback restore = {});

  Result<GetResult> get(const std::vector<BlockId>& blockIds, const GetContext& context = {});
  Result<PendResult> pend(const PendRequest& request);
  Result<CommitResult> commit(const TrxId& trxId, const std::vector<BlockId>& blockIds, Rev rev);
  Result<CancelResult> cancel(const TrxId& trxId, const std::vector<BlockId>& blockIds);
  // SPEC §2 migrate: each block (every block with `all`, which also makes
  // `to` the store's dialect first) converted to `to` under its lock.
  // NotFound, nothing converted, when a named block is not in the store.
  // `progress` is called after each block: blocks done, blocks in all, the block.
  Result<MigrateResult> migrate(const std::vector<BlockId>& blockIds, bool all, Dialect to,
                                const BlockProgressFn& progress = {});

  // SPEC §8 gc on the named blocks (empty: every block): each under its
  // lock, unless a dry run, which reads as a reader and writes nothing.
  // NotFound, nothing removed, when a named block is not in the store.
  Result<GcResult> gc(const std::vector<BlockId>& blockIds, bool dryRun, const BlockProgressFn& progress = {});

  // SPEC §8 forget under the store lock held exclusively: every block's
  // window [range start, F) appended to `archive` and made durable first
  // (nullptr: --discard), then each block narrowed to start at F. NotFound,
  // nothing done, when a named block is not in the store.
  Result<ForgetResult> forget(const ForgetRequest& request, ArchiveFile* archive, const BlockProgressFn& progress = {});

  // Finishes every interrupted commit (all, or those touching `blockIds`).
  // Returns the TrxIds finished.
  Result<std::vector<TrxId>> recoverIntents(const std::vector<BlockId>* blockIds = nullptr);

  // The named blocks, each in the store (NotFound naming those that are
  // not), or with none named every block.
  Result<std::vector<BlockId>> heldBlocks(const std::vector<BlockId>& blockIds);

  RawStorage& raw() { return *raw_; }
  void setRestore(RestoreCallback restore) { restore_ = std::move(restore); }
  const StoreOptions& options() const { return options_; }
  BlockStorage blockStorage(const BlockId& id) { return BlockStorage(id, *raw_); }

 private:
  // A pending transform on one block (meta.json created if missing).
  Status savePendingOn(const BlockId& id, const TrxId& trxId, const Transform& t);
  Result<CommitResult> commitLocked(const TrxId& trxId, const std::vector<BlockId>& blockIds, Rev rev);
  Result<std::vector<MissingTrx>> collectMissing(const std::vector<BlockId>& blockIds, Rev from);
  // Asks the restore sources for `rev` of a block this store does not hold
  // there (SPEC §4's lazy restore), before get reads it.
  Status restoreIfMissing(const BlockId& id, std::optional<Rev> rev);
  Result<std::optional<PendResult>> pendOnce(const PendRequest& request, const std::vector<BlockId>& blockIds,
                                             std::vector<PendingRef>* seen);

  std::shared_ptr<RawStorage> raw_;
  StoreOptions options_;
  RestoreCallback restore_;
};

// A StorageRepo on the directory `path` through the real file system.
std::unique_ptr<StorageRepo> openStore(const std::string& path, StoreOptions options = {},
                                       RestoreCallback restore = {});

}  // namespace optdb
