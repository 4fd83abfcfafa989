// One block's versioned history over a RawStorage: materialization at any
// revision, the steps of a commit, retention of materializations, and the
// restoration hook for revisions this store does not hold.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "optdb/raw_storage.hpp"

namespace optdb {

struct BlockArchive;  // archive.hpp

// What the repository asks, before get reads a block, for a revision the
// store does not hold (rev nullopt: the block is missing entirely). It saves
// what it finds into the store; NotFound when no source has it.
using RestoreCallback = std::function<Status(const BlockId& id, std::optional<Rev> rev)>;

// In the trx dialect a materialization is kept at the tip, at the first
// revision of each range, and at every kCheckpointInterval-th revision of a range (counted in this
// block's revisions), so that a read replays fewer than kCheckpointInterval
// transforms. 16 was chosen by measuring W4 (read cost) against W6 (bytes per
// revision) in bench/: see README.
constexpr std::size_t kCheckpointInterval = 16;
// In the actions dialect the rule is upstream v0.24's (its CHECKPOINT_INTERVAL):
// the prior tip is kept when its revision number is a multiple of 32.
constexpr Rev kActionsCheckpointRevs = 32;

// The retention rule (SPEC §2), the one place it is written: whether a block
// in `dialect` keeps the materialization of revision `rev`, the `ordinal`-th
// revision (from 0) of the range that starts at `floor`, when `tip` is the
// range's latest. Commits prune by it and restore saves by it.
bool retainsMaterialization(Dialect dialect, Rev rev, std::size_t ordinal, Rev floor, Rev tip);

// Whether a block with metadata `meta` (nullopt: not in the store) holds
// revision `rev` (nullopt: its latest): what get reads without a restore.
bool holdsRevision(const std::optional<BlockMeta>& meta, std::optional<Rev> rev);

// One block's part of a commit, prepared in memory under the block's lock
// (nothing written) and then applied: beginCommit, prepareCommit, applyCommit.
struct PreparedCommit {
  enum class State {
    Fresh,  // to be committed here
    Retry,  // revs/<rev> names the transaction already: finish what remains
    Stale,  // a revision at or above rev is committed here without it
  };
  State state = State::Fresh;
  BlockMeta meta;             // as read (a new block's when there is none)
  bool pending = false;       // Fresh: the transform is pending here
  std::optional<Json> after;  // Fresh and pending: the block after the commit
};

// A materialization the retention rule does not keep (what gc removes).
struct DroppedMaterialization {
  Rev rev = 0;
  TrxId trxId;
  std::uint64_t bytes = 0;
};

struct CommittedRevision {
  TrxRev trxRev;
  Transform transform;
};

// What forget --before N does to one block (SPEC §8), as planned under the
// store lock: the window archived first, then forget() with the plan.
struct ForgetPlan {
  Rev floor = 0;                 // F, where the block's history starts afterwards
  std::optional<Range> window;   // [range start, F), archived first; nullopt: nothing held below F
  std::vector<TrxRev> below;     // the revision records below the floor (leftovers too), removed
  std::uint64_t bytes = 0;       // what their items hold
};

class BlockStorage {
 public:
  BlockStorage(BlockId id, RawStorage& raw);

  const BlockId& id() const { return id_; }

  // The block after the greatest committed revision ≤ rev (latest when
  // nullopt); nullopt when deleted or never written. NotFound when `rev` is
  // outside what this store holds (the repository asks restore sources first).
  // `meta` receives the metadata the read used (nullopt: no such block).
  Result<std::optional<Json>> getBlock(std::optional<Rev> rev, std::optional<BlockMeta>* meta = nullptr);

  // The block after the greatest revision ≤ rev by SPEC §2's definition (a
  // revs/ file naming a committed transform), even above meta.json's latest,
  // where getBlock stops: a commit interrupted between pending→committed and
  // meta.json is already a revision. No restore source is asked.
  Result<std::optional<Json>> getBlockAt(Rev rev);

  // SPEC §8 gc: the materializations of this block's revisions that the
  // retention rule of its dialect does not keep, the tip and each range's
  // first revision kept whatever the rule says; removed unless `dryRun`.
  // Never a transform or a revision; a materialization no revision names,
  // or one of a revision outside the ranges, is left alone.
  Result<std::vector<DroppedMaterialization>> collectGarbage(bool dryRun);

  // The committed revision at `rev` (SPEC §2: a revision record naming a
  // transaction whose committed transform exists); nullopt when there is none.
  Result<std::optional<CommittedRevision>> committedAt(Rev rev);
  // The greatest committed revision in [floor, n] of this block's `revs`.
  Result<std::optional<Rev>> greatestCommitted(RevisionList& revs, Rev floor, Rev n);

  // forget --before `before`: F is the greatest committed revision ≤ before
  // inside the ranges; the window [first range start, F) is what leaves the
  // store. Leftovers of an interrupted forget (records below the first range,
  // under `before`) are removed too. nullopt: nothing to do.
  Result<std::optional<ForgetPlan>> planForget(Rev before);
  // The plan's steps once its window is archived durably: F materialized,
  // the ranges narrowed to start at F, then what lies below F removed. A
  // crash at any instant leaves every revision readable here or archived,
  // and planning again finishes the job. The caller holds the store lock.
  Status forget(const ForgetPlan& plan);

  // Committed revisions in [from, to], ascending, with their transforms.
  Result<std::vector<CommittedRevision>> committedRevisions(Rev from, Rev to);

  // What this block says of a commit of trxId at rev (its metadata and one
  // revision record: cheap, so that a stale commit reads nothing more).
  Result<PreparedCommit> beginCommit(const TrxId& trxId, Rev rev);
  // For a Fresh one: whether the transform is pending here and, when it is,
  // the block after it. InvalidInput when it cannot apply.
  Status prepareCommit(const TrxId& trxId, PreparedCommit& commit);
  // Writes it: writeCommit for a Fresh one, completeCommit for a Retry.
  Status applyCommit(const TrxId& trxId, Rev rev, const PreparedCommit& commit);

  // Saves a validated archive of this block (SPEC §4 restore; defined with
  // restore, restore.cpp): its revisions, transforms and the
  // materializations the retention rule keeps, its range merged into the
  // ranges, latest moved up to its highest revision, its pendings. The
  // caller holds the block's lock, taken with lockRecovered. Returns the
  // reason when the archive conflicts with the store (nothing written).
  Result<std::optional<std::string>> restoreArchive(const BlockArchive& a);

  // The commit's durable steps for this block, in SPEC §3 order: materialization,
  // revision, pending→committed, meta.json; then prunes the old tip. The caller
  // holds the block's lock and has computed `block` (the state after the commit).
  // The revision index learns of `rev` before its revs/ file is written, so an
  // index record above meta.json's latest marks a commit that may have been
  // interrupted: that is how a single-block commit, which records no intent,
  // is found again (interruptedCommits).
  Status writeCommit(const TrxId& trxId, Rev rev, const std::optional<Json>& block, BlockMeta meta);

  // Finishes an interrupted commit of trxId at rev from whatever steps were
  // done (the pending or committed transform must exist). Idempotent.
  // Integrity when overtakes(trxId, rev): never finished below a later revision.
  Status completeCommit(const TrxId& trxId, Rev rev);

  // Whether finishing trxId at rev would put it below a revision committed
  // without it (latest above rev, and revs/<rev> not naming trxId): history
  // would fork, every later state lacking it (SPEC §6).
  Result<bool> overtakes(const TrxId& trxId, Rev rev);

  // Commits interrupted on this block after their revision file was written:
  // revisions above meta.json's latest whose transaction is pending or
  // committed here, ascending. One crashed before that point has left nothing
  // but an unused materialization and index record; it never happened.
  Result<std::vector<TrxRev>> interruptedCommits();
  // Finishes each of them (the caller holds the block's lock), and drops
  // index records left by commits that never happened.
  Status finishInterruptedCommits();

  // Number of transforms a read at `rev` replays, for tests and benchmarks.
  std::size_t lastReplayCount() const { return lastReplay_; }

 private:
  // The state after the greatest committed revision ≤ target.
  Result<std::optional<Json>> materialize(Rev target, const BlockMeta& meta);
  Status pruneMaterialization(const TrxRev& old, const BlockMeta& meta);
  // The index in `revs` of the first revision above meta.json's latest.
  Result<std::size_t> firstAboveLatest(const BlockMeta& meta, RevisionList& revs);
  // interruptedCommits among revs[first…].
  Result<std::vector<TrxRev>> interruptedAbove(RevisionList& revs, std::size_t first);

  BlockId id_;
  RawStorage& raw_;
  std::size_t lastReplay_ = 0;
};

}  // namespace optdb
