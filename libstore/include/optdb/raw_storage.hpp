// The low-level storage interface (the design's IRawStorage): typed reads and
// writes of one block's metadata, revisions, transforms and materializations,
// plus the store-wide commit intents and locks. Nothing above this layer knows
// a file name.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "optdb/env.hpp"
#include "optdb/model.hpp"
#include "optdb/store_scan.hpp"

namespace optdb {

// Called after each block of a long command (SPEC §5's progress): blocks
// done, blocks in all, the block just done.
using BlockProgressFn = std::function<void(std::size_t done, std::size_t total, const BlockId& id)>;

// A block's revision numbers in ascending order, searched without being
// loaded whole (memory does not grow with the history).
class RevisionList {
 public:
  virtual ~RevisionList() = default;
  virtual std::size_t size() const = 0;
  virtual Result<Rev> at(std::size_t i) = 0;
  // Index of the first revision above (upperBound) or at least (lowerBound) rev.
  Result<std::size_t> upperBound(Rev rev);
  Result<std::size_t> lowerBound(Rev rev);
};

// The list held in memory: a storage whose index is read whole (or none).
class VectorRevisionList : public RevisionList {
 public:
  explicit VectorRevisionList(std::vector<Rev> revs) : revs_(std::move(revs)) {}
  std::size_t size() const override { return revs_.size(); }
  Result<Rev> at(std::size_t i) override { return revs_.at(i); }

 private:
  std::vector<Rev> revs_;
};

class RawStorage {
 public:
  virtual ~RawStorage() = default;

  // nullopt when the block has no meta.json (it does not exist here).
  virtual Result<std::optional<BlockMeta>> getMeta(const BlockId& id) = 0;
  // Written in meta.dialect, which must be the block's (a new block's: dialect(id)).
  virtual Status saveMeta(const BlockId& id, const BlockMeta& meta) = 0;

  virtual Result<std::optional<TrxId>> getRevision(const BlockId& id, Rev rev) = 0;
  virtual Status saveRevision(const BlockId& id, Rev rev, const TrxId& trxId) = 0;
  // Every revision number with a revs/ file, ascending, from the directory itself.
  virtual Result<std::vector<Rev>> listRevisions(const BlockId& id) = 0;
  // The same, from the revision index when it is current for `meta`; otherwise
  // from listRevisions. Never probes revision numbers one at a time.
  virtual Result<std::unique_ptr<RevisionList>> revisions(const BlockId& id, const BlockMeta& meta) = 0;
  // Records `rev`, whose revs/ file is written next, as the block's new highest
  // revision; `before` and `after` are meta.json before and after the commit.
  virtual Status indexRevision(const BlockId& id, const BlockMeta& before, const BlockMeta& after, Rev rev) = 0;
  // Rebuilds the revision index from the revs/ files for `meta` (meta.json as
  // it is about to be saved), after revisions were written anywhere, not only
  // above the tip (restore). A storage without an index has nothing to do.
  virtual Status rebuildRevisionIndex(const BlockId& id, const BlockMeta& meta) {
    (void)id;
    (void)meta;
    return Status::ok();
  }
  // The same when the caller knows what it added: `added` revisions (their
  // revs/ files written) to an index that was current for `before`. Cheaper
  // than a rebuild for long histories restored in chunks.
  virtual Status addToRevisionIndex(const BlockId& id, const std::optional<BlockMeta>& before,
                                    const BlockMeta& after, const std::vector<Rev>& added) {
    (void)before;
    (void)added;
    return rebuildRevisionIndex(id, after);
  }

  // Removes what these revisions left below a floor meta.json no longer
  // holds (forget): each one's materialization, committed transform (in
  // either dialect) and revision record, the record last, so that an
  // interrupted removal is found again from the records; then brings the
  // revision index up to date for `meta`. Removals are made durable together
  // at the end: what a power cut brings back lies outside the ranges.
  virtual Status removeRevisions(const BlockId& id, const BlockMeta& meta, const std::vector<TrxRev>& revisions) = 0;

  virtual Result<std::optional<Transform>> getPending(const BlockId& id, const TrxId& trxId) = 0;
  virtual Status savePending(const BlockId& id, const TrxId& trxId, const Transform& t) = 0;
  virtual Status deletePending(const BlockId& id, const TrxId& trxId) = 0;
  // Sorted bytewise by TrxId.
  virtual Result<std::vector<TrxId>> listPendings(const BlockId& id) = 0;

  virtual Result<std::optional<Transform>> getCommitted(const BlockId& id, const TrxId& trxId) = 0;
  virtual Status saveCommitted(const BlockId& id, const TrxId& trxId, const Transform& t) = 0;
  // Moves a pending transform to committed, durably.
  virtual Status promotePending(const BlockId& id, const TrxId& trxId) = 0;

  virtual Result<std::optional<Json>> getMaterialized(const BlockId& id, const TrxId& trxId) = 0;
  virtual Status saveMaterialized(const BlockId& id, const TrxId& trxId, const Json& block) = 0;
  virtual Status deleteMaterialized(const BlockId& id, const TrxId& trxId) = 0;
  // The same, durably: for a materialization that would be wrong if it came
  // back after a power cut (one an unfinished attempt left), not a pruned one.
  virtual Status discardMaterialized(const BlockId& id, const TrxId& trxId) = 0;

  // Block ids in sorted order (directories holding meta.json).
  virtual Result<std::vector<BlockId>> listBlocks() = 0;

  virtual Status saveIntent(const CommitIntent& intent) = 0;
  virtual Status deleteIntent(const TrxId& trxId) = 0;
  virtual Result<std::vector<CommitIntent>> listIntents() = 0;

  // Writers hold the store lock shared; repair and check hold it exclusively.
  virtual Result<std::unique_ptr<FileLock>> lockStore(LockMode mode, double timeoutSeconds) = 0;
  virtual Result<std::unique_ptr<FileLock>> lockBlock(const BlockId& id, double timeoutSeconds) = 0;

  // The dialect the block's files are written in (SPEC §2): its own, or for a
  // block without one, the store's. getMeta's BlockMeta::dialect is the same.
  virtual Result<Dialect> dialect(const BlockId& id) = 0;
  // Rewrites the block's files in dialect `to` (SPEC §2 migrate), so that a
  // crash at any instant leaves it reading as before, and running it again
  // finishes it; also what repair does for a mixed-dialect block. True when
  // anything changed (false: all of it was in `to` already). The caller
  // holds the block's lock. Integrity when both dialects hold one
  // transaction's transform and they differ (nothing is converted then).
  virtual Result<bool> convertBlock(const BlockId& id, Dialect to) = 0;
  // What convertBlock refuses before it writes anything, alone (a dry run):
  // the same Integrity, or NotFound, or ok when it would go ahead.
  virtual Status checkConvertible(const BlockId& id, Dialect to) = 0;
  // Records `d` as the dialect new blocks of the store take.
  virtual Status setStoreDialect(Dialect d) = 0;
  // The block's dialect given what its metadata's latest names (nullopt: no
  // latest, or unreadable metadata): that, else its committed collections',
  // else the store's. One rule, for readers and integrity alike.
  virtual Result<Dialect> dialectGiven(const BlockId& id, std::optional<Dialect> fromMeta) = 0;

  // ---- for integrity (store_scan.hpp) ----

  // Whether the location holds a store at all (false: every block is absent).
  virtual Result<bool> exists() = 0;
  // Visits the named blocks (each once), or every block of the store in
  // bytewise id order: a block to `onBlock`; problems of the store's own
  // items met on the way (a link where a block belongs, a block whose name is
  // no id) to `onProblem`, in order with the blocks; named blocks not held to
  // `notFound`. A block that cannot be searched is visited, never skipped.
  virtual Status visitBlocks(const std::vector<BlockId>& named, std::vector<BlockId>* notFound,
                             const ProblemSink& onProblem, const std::function<Status(const BlockId&)>& onBlock) = 0;
  // The items of one block, by name; nothing read but the listing.
  virtual Result<BlockListing> listBlock(const BlockId& id) = 0;
  // Every commit intent item and what it decodes to.
  virtual Result<IntentListing> listIntentItems() = 0;
  // The bytes of an item a listing named; nullopt when it is gone meanwhile.
  virtual Result<std::optional<std::string>> readItem(const std::string& where) = 0;
  // Where an item of the block is, or would be written (a committed one in
  // `dialect`), as listings name it: for what repair reports it wrote.
  virtual std::string whereRevision(const BlockId& id, Rev rev) = 0;
  virtual std::string whereIntents() = 0;
  virtual std::string whereItem(const BlockId& id, ItemKind kind, const TrxId& trxId, Dialect dialect) = 0;
  // Removes a leftover a listing named in `temps` (nothing else, whatever `where` says).
  virtual Status removeStray(const std::string& where) = 0;
  // The store lock like lockStore, but nullptr (and nothing written) when
  // the store has nowhere to keep it yet: a tree optdb never wrote to.
  virtual Result<std::unique_ptr<FileLock>> lockStoreIfKept(LockMode mode, double timeoutSeconds) = 0;
  // A host directory on the storage's own disk where restore may spool
  // input it cannot read twice; nullopt: none ($TMPDIR is used).
  virtual std::optional<std::string> spoolDirectory() { return std::nullopt; }
  // Every write so far made durable (a store at rest, after repair).
  virtual Status syncStore() = 0;
  // The end of a unit of work (a pend, a commit, a block restored), called
  // while its locks are held: what it wrote made durable together. A
  // journaled storage stages the unit's writes until then (readers in this
  // process see them; others, once this returns); one whose every write is
  // durable at once has nothing to do.
  virtual Status persist() { return Status::ok(); }
  // A flush window (batch --buffer, SPEC §8): from beginWindow() on, a
  // unit's persist() may leave it to the next flushWindow() to be made
  // durable, the window's units together. Until then other processes see
  // none of it, and this one sees all; a writer elsewhere that takes one of
  // its locks finishes its units first. Nothing to do where every write is
  // durable at once. beginWindow() says whether it opened one (false: one is
  // open already); endWindow() flushes it and closes it.
  virtual bool beginWindow() { return false; }
  virtual Status flushWindow() { return Status::ok(); }
  virtual Status endWindow() { return Status::ok(); }
  // Units of work that writers killed part way left, finished (a journaled
  // storage's next holder of their locks would finish each; repair finishes
  // them all first). Nothing to do where every write is durable at once.
  virtual Status finishInterruptedUnits() { return Status::ok(); }
};

}  // namespace optdb
