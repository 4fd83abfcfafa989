// A test fixture: RawStorage held wholly in memory, with no file names at
// all, to show that what lies above RawStorage (BlockStorage, StorageRepo,
// integrity's check, repair and summary) works unchanged on a storage that
// is not a directory tree.
//
// Items are named by "where" strings that are deliberately not paths:
//   <id>#meta                       the block's metadata
//   <id>#rev/<rev>                  a revision record
//   <id>#pending/<trxId>            a pending transform
//   <id>#committed.<dialect>/<trxId>  a committed transform (dialect trx|actions)
//   <id>#materialized/<trxId>       a materialization
//   <id>#temp/<name>                a leftover of an interrupted write (test helpers only)
//   #intents/<trxId>                a commit intent (whereIntents() is "#intents")
//   #intents.temp/<name>            a leftover beside the intents (test helpers only)
// A block id may hold '#', a transaction id never does: a where splits at its last '#'.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "optdb/raw_storage.hpp"

namespace optdb::test_support {

class MemRawStorage : public RawStorage {
 public:
  // `storeDialect`: the dialect new blocks take.
  explicit MemRawStorage(Dialect storeDialect = Dialect::Trx);
  ~MemRawStorage() override;

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

  // ---- test helpers: damage, as a crash or a person would leave it ----

  // Forgets a revision record (a lost revs/ file); false when there was none.
  bool dropRevision(const BlockId& id, Rev rev);
  // Forgets a materialization (of the tip, say); false when there was none.
  bool dropMaterialized(const BlockId& id, const TrxId& trxId);
  // A commit of a pending transaction stopped right after its revision
  // record: the transaction stays pending and `rev` names it. False unless
  // `trxId` is pending on the block.
  bool interruptCommit(const BlockId& id, const TrxId& trxId, Rev rev);
  // A commit intent left behind (as saveIntent; for symmetry with the above).
  void putIntent(const CommitIntent& intent);
  // The metadata as raw text (damaged metadata: "{", say); readers parse it.
  // nullopt: back to the typed metadata. saveMeta replaces it.
  void setMetaText(const BlockId& id, std::optional<std::string> text);
  // Sets latest (nothing else) of a block's typed metadata; false when it has none.
  bool setLatest(const BlockId& id, std::optional<TrxRev> latest);
  // Moves a committed transform into dialect `to`'s collection (a half done
  // hand conversion); false when the block holds it in no collection.
  bool moveCommitted(const BlockId& id, const TrxId& trxId, Dialect to);
  // Puts a committed transform into dialect `d`'s collection, whatever is elsewhere.
  void putCommitted(const BlockId& id, Dialect d, const TrxId& trxId, const Transform& t);
  // A leftover of an interrupted write in the block (listed in its temps);
  // returns its where.
  std::string addTemp(const BlockId& id, const std::string& name, const std::string& content);
  // The same beside the commit intents.
  std::string addIntentTemp(const std::string& name, const std::string& content);

  // ---- test helpers: looking ----

  // Every item of the store and its contents, one a line, in a fixed order:
  // equal dumps are equal stores.
  std::string dump() const;
  // The dialects whose committed collection of the block is non-empty.
  std::set<Dialect> committedDialectsOf(const BlockId& id) const;
  bool hasMaterialized(const BlockId& id, const TrxId& trxId) const;
  std::size_t materializedCount(const BlockId& id) const;
  // Locks held right now (the store lock in either mode counts once per holder).
  std::size_t locksHeld() const;

 private:
  struct Block {
    std::optional<BlockMeta> meta;
    std::optional<std::string> metaText;  // overrides `meta` when set
    std::map<Rev, TrxId> revisions;
    std::map<TrxId, Transform> pending;
    std::map<TrxId, std::chrono::system_clock::time_point> pendedAt;  // when each pending was last saved
    std::map<Dialect, std::map<TrxId, Transform>> committed;
    std::map<TrxId, Json> materialized;
    std::map<std::string, std::string> temps;  // where → content
    bool held() const { return meta.has_value() || metaText.has_value(); }
  };

  struct LockTable {
    std::mutex m;
    std::condition_variable cv;
    std::size_t storeShared = 0;
    bool storeExclusive = false;
    std::set<BlockId> blocks;
  };
  class MemLock;

  // Parsed where: `id` (empty for the intents) and what follows its last '#'.
  struct Where {
    BlockId id;
    std::string kind;  // "meta", "rev", "pending", "committed.trx", …
    std::string name;  // after the first '/', when any
  };
  static std::optional<Where> parseWhere(const std::string& where);

  // Caller holds mu_.
  Result<std::optional<BlockMeta>> metaLocked(const BlockId& id);
  Dialect collectionDialectOr(const Block* b, Dialect fallback) const;
  Block* find(const BlockId& id);
  const Block* find(const BlockId& id) const;

  mutable std::recursive_mutex mu_;
  std::map<BlockId, Block> blocks_;  // std::string orders bytewise
  std::map<TrxId, CommitIntent> intents_;
  std::map<std::string, std::string> intentTemps_;  // where → content
  Dialect storeDialect_;
  std::shared_ptr<LockTable> locks_;
};

}  // namespace optdb::test_support
