// One block's history over RawStorage: materializing a revision, the steps
// of a commit in SPEC §3 order, finishing interrupted ones, and retention.
#include "optdb/block_storage.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "optdb/transform.hpp"

namespace optdb {

namespace {

// The start of the range holding rev (0 when none does).
Rev rangeFloor(const Ranges& ranges, Rev rev) {
  for (const auto& r : ranges)
    if (rangesContain({r}, rev)) return r.start;
  return 0;
}

}  // namespace

bool retainsMaterialization(Dialect dialect, Rev rev, std::size_t ordinal, Rev floor, Rev tip) {
  if (rev == tip) return true;
  if (dialect == Dialect::Actions) return rev == floor || rev % kActionsCheckpointRevs == 0;
  return ordinal % kCheckpointInterval == 0;  // the floor is ordinal 0
}

bool holdsRevision(const std::optional<BlockMeta>& meta, std::optional<Rev> rev) {
  return meta && (!rev || rangesContain(meta->ranges, *rev));
}

BlockStorage::BlockStorage(BlockId id, RawStorage& raw) : id_(std::move(id)), raw_(raw) {}

Result<std::optional<Json>> BlockStorage::getBlock(std::optional<Rev> rev, std::optional<BlockMeta>* metaOut) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (metaOut) *metaOut = meta;
  const bool held = holdsRevision(meta, rev);
  if (!meta) return std::optional<Json>();  // a missing block reads as absent
  // Nothing committed anywhere this store knows of (an actions block with
  // only pendings holds no range): absent at every revision, as upstream reads it.
  if (!held && meta->latest)
    return Status::notFound(fmt::format("block {}: revision {} is not held by this store", id_, *rev));
  if (!meta->latest) return std::optional<Json>();
  Rev target = rev ? std::min(*rev, meta->latest->rev) : meta->latest->rev;
  return materialize(target, *meta);
}

Result<std::optional<Json>> BlockStorage::getBlockAt(Rev rev) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta) return std::optional<Json>();
  return materialize(rev, *meta);
}

Result<std::optional<Json>> BlockStorage::materialize(Rev target, const BlockMeta& meta) {
  lastReplay_ = 0;
  const auto& tip = meta.latest;
  if (tip && tip->rev == target) {  // the common case: the tip is materialized
    OPTDB_ASSIGN(auto block, raw_.getMaterialized(id_, tip->trxId));
    if (block) return block;
  }
  // The revision index: a binary search, whatever the gaps between revisions.
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, meta));
  OPTDB_ASSIGN(const std::size_t end, revs->upperBound(target));
  if (end == 0) return std::optional<Json>();
  std::vector<Transform> chain;
  std::optional<Json> base;
  auto replay = [&]() -> Result<std::optional<Json>> {
    lastReplay_ = chain.size();
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      auto next = applyTransform(std::move(base), *it);
      if (!next) return Status::integrity(fmt::format("block {}: replay failed: {}", id_, next.status().message()));
      base = std::move(next).value();
    }
    return std::move(base);
  };
  // First try the checkpoint the retention rule keeps below the target.
  const std::size_t idx = end - 1;
  OPTDB_ASSIGN(const Rev top, revs->at(idx));
  const Rev floor = rangeFloor(meta.ranges, top);
  OPTDB_ASSIGN(const std::size_t floorIdx, revs->lowerBound(floor));
  std::size_t checkpoint = idx - (idx - floorIdx) % kCheckpointInterval;
  if (meta.dialect == Dialect::Actions) {  // kept by revision number, not by count
    const Rev multiple = top - top % kActionsCheckpointRevs;
    OPTDB_ASSIGN(const std::size_t above, revs->upperBound(std::max(multiple, floor)));
    checkpoint = above == 0 ? 0 : std::min(above - 1, idx);
  }
  OPTDB_ASSIGN(const Rev checkpointRev, revs->at(checkpoint));
  OPTDB_ASSIGN(auto cpTrx, raw_.getRevision(id_, checkpointRev));
  if (cpTrx) {
    OPTDB_ASSIGN(auto mat, raw_.getMaterialized(id_, *cpTrx));
    if (mat) {
      base = std::move(mat);
      for (std::size_t i = idx; i > checkpoint; --i) {
        OPTDB_ASSIGN(const Rev r, revs->at(i));
        OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, r));
        if (!trxId) continue;
        OPTDB_ASSIGN(auto t, raw_.getCommitted(id_, *trxId));
        if (t) chain.push_back(std::move(*t));  // no transform: an interrupted commit, not a revision
      }
      return replay();
    }
  }
  // Otherwise walk down to the nearest materialization, or to a transform that needs nothing older.
  for (std::size_t i = end; i > 0;) {
    --i;
    OPTDB_ASSIGN(const Rev r, revs->at(i));
    OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, r));
    if (!trxId) continue;
    OPTDB_ASSIGN(auto mat, raw_.getMaterialized(id_, *trxId));
    if (mat) {
      base = std::move(mat);
      break;
    }
    OPTDB_ASSIGN(auto t, raw_.getCommitted(id_, *trxId));
    if (!t) continue;
    bool standalone = t->insert.has_value() || t->del;
    chain.push_back(std::move(*t));
    if (standalone) break;
  }
  return replay();
}

Result<std::optional<CommittedRevision>> BlockStorage::committedAt(Rev rev) {
  OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, rev));
  if (!trxId) return std::optional<CommittedRevision>();
  OPTDB_ASSIGN(auto t, raw_.getCommitted(id_, *trxId));
  if (!t) return std::optional<CommittedRevision>();
  return std::optional<CommittedRevision>(CommittedRevision{{*trxId, rev}, std::move(*t)});
}

Result<std::optional<Rev>> BlockStorage::greatestCommitted(RevisionList& revs, Rev floor, Rev n) {
  OPTDB_ASSIGN(std::size_t i, revs.upperBound(n));
  while (i > 0) {
    OPTDB_ASSIGN(const Rev r, revs.at(--i));
    if (r < floor) break;
    OPTDB_ASSIGN(auto c, committedAt(r));
    if (c) return std::optional<Rev>(r);
  }
  return std::optional<Rev>();
}

Result<std::vector<CommittedRevision>> BlockStorage::committedRevisions(Rev from, Rev to) {
  std::vector<CommittedRevision> out;
  if (from > to) return out;
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta) return out;
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, *meta));
  OPTDB_ASSIGN(std::size_t i, revs->lowerBound(from));
  for (; i < revs->size(); ++i) {
    OPTDB_ASSIGN(const Rev r, revs->at(i));
    if (r > to) break;
    OPTDB_ASSIGN(auto c, committedAt(r));
    if (c) out.push_back(std::move(*c));
  }
  return out;
}

Result<PreparedCommit> BlockStorage::beginCommit(const TrxId& trxId, Rev rev) {
  PreparedCommit c;
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (meta) c.meta = *meta;
  OPTDB_ASSIGN(auto named, raw_.getRevision(id_, rev));
  if (named && *named == trxId) c.state = PreparedCommit::State::Retry;
  else if (c.meta.latest && c.meta.latest->rev >= rev) c.state = PreparedCommit::State::Stale;
  return c;
}

Status BlockStorage::prepareCommit(const TrxId& trxId, PreparedCommit& c) {
  OPTDB_ASSIGN(auto t, raw_.getPending(id_, trxId));
  c.pending = t.has_value();
  if (!t) return Status::ok();
  std::optional<Json> before;
  if (c.meta.latest) {
    OPTDB_ASSIGN(before, getBlock(c.meta.latest->rev));
  }
  if (!before && !t->insert && t->updates && !t->updates->empty())
    return Status::invalid(fmt::format("block {}: updates to a block that does not exist", id_));
  auto after = applyTransform(std::move(before), *t);
  if (!after) return Status::invalid(fmt::format("block {}: {}", id_, after.status().message()));
  c.after = std::move(after).value();
  return Status::ok();
}

Status BlockStorage::applyCommit(const TrxId& trxId, Rev rev, const PreparedCommit& c) {
  if (c.state == PreparedCommit::State::Retry) return completeCommit(trxId, rev);
  return writeCommit(trxId, rev, c.after, c.meta);
}

Status BlockStorage::writeCommit(const TrxId& trxId, Rev rev, const std::optional<Json>& block, BlockMeta meta) {
  const BlockMeta after = withLatest(meta, TrxRev{trxId, rev});
  // A deleted block has no materialization; one left by an attempt that never
  // reached its revision file must not be taken for this commit's.
  if (block) OPTDB_TRY(raw_.saveMaterialized(id_, trxId, *block));
  else OPTDB_TRY(raw_.discardMaterialized(id_, trxId));
  OPTDB_TRY(raw_.indexRevision(id_, meta, after, rev));
  OPTDB_TRY(raw_.saveRevision(id_, rev, trxId));
  OPTDB_TRY(raw_.promotePending(id_, trxId));
  OPTDB_TRY(raw_.saveMeta(id_, after));
  if (meta.latest && meta.latest->rev < rev) OPTDB_TRY(pruneMaterialization(*meta.latest, after));
  return Status::ok();
}

Status BlockStorage::pruneMaterialization(const TrxRev& old, const BlockMeta& meta) {
  const Rev tip = meta.latest ? meta.latest->rev : old.rev;
  if (meta.dialect == Dialect::Actions) {
    // Upstream v0.24 judges only by revision numbers, with the floor of the
    // tip's range: no listing needed.
    if (retainsMaterialization(meta.dialect, old.rev, 1, rangeFloor(meta.ranges, tip), tip)) return Status::ok();
    return raw_.deleteMaterialized(id_, old.trxId);
  }
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, meta));
  OPTDB_ASSIGN(const std::size_t at, revs->lowerBound(old.rev));
  if (at == revs->size()) return Status::ok();
  OPTDB_ASSIGN(const Rev found, revs->at(at));
  if (found != old.rev) return Status::ok();
  // Count revisions from the floor of old's range.
  const Rev floor = rangeFloor(meta.ranges, old.rev);
  OPTDB_ASSIGN(const std::size_t first, revs->lowerBound(floor));
  if (retainsMaterialization(meta.dialect, old.rev, at - first, floor, tip)) return Status::ok();
  return raw_.deleteMaterialized(id_, old.trxId);
}

Result<std::vector<DroppedMaterialization>> BlockStorage::collectGarbage(bool dryRun) {
  std::vector<DroppedMaterialization> out;
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta || !meta->latest) return out;
  OPTDB_ASSIGN(BlockListing listing, raw_.listBlock(id_));
  if (listing.materialized.empty()) return out;
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, *meta));
  for (const auto& range : meta->ranges) {
    OPTDB_ASSIGN(const std::size_t first, revs->lowerBound(range.start));
    OPTDB_ASSIGN(const std::size_t end, range.end ? revs->lowerBound(*range.end) : Result<std::size_t>(revs->size()));
    if (first >= end) continue;
    // The range's tip: the block's latest when the range holds it, else its last revision.
    OPTDB_ASSIGN(const Rev last, revs->at(end - 1));
    const Rev tip = rangesContain({range}, meta->latest->rev) ? meta->latest->rev : last;
    for (std::size_t i = first + 1; i < end; ++i) {  // the range's first revision is kept
      OPTDB_ASSIGN(const Rev rev, revs->at(i));
      if (rev == meta->latest->rev || retainsMaterialization(meta->dialect, rev, i - first, range.start, tip)) continue;
      OPTDB_ASSIGN(auto trx, raw_.getRevision(id_, rev));
      if (!trx) continue;
      auto item = listing.materialized.find(*trx);
      if (item == listing.materialized.end()) continue;
      if (!dryRun) OPTDB_TRY(raw_.deleteMaterialized(id_, *trx));
      out.push_back({rev, *trx, item->second.bytes});
    }
  }
  return out;
}

Result<bool> BlockStorage::overtakes(const TrxId& trxId, Rev rev) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta || !meta->latest || meta->latest->rev <= rev) return false;
  OPTDB_ASSIGN(auto named, raw_.getRevision(id_, rev));
  return !named || *named != trxId;
}

Status BlockStorage::completeCommit(const TrxId& trxId, Rev rev) {
  OPTDB_ASSIGN(const bool overtaken, overtakes(trxId, rev));
  if (overtaken)
    return Status::integrity(fmt::format(
        "block {}: the interrupted commit of {} at revision {} was overtaken by a later revision committed without it; "
        "finishing it would fork the block's history",
        id_, trxId, rev));
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  // The interrupted writer's last step may be visible but not durable (a file
  // renamed or a directory created, its directory not fsynced yet). What this
  // recovery relies on is therefore written again, so that a power cut after
  // it cannot take away what it built on: meta.json first (as it stands; its
  // directory fsync also makes the block's subdirectories durable), then the
  // revision and the committed transform, and meta.json again last.
  if (meta) OPTDB_TRY(raw_.saveMeta(id_, *meta));
  if (!meta) {
    OPTDB_ASSIGN(const Dialect dialect, raw_.dialect(id_));
    meta = newBlockMeta(dialect);
  }
  OPTDB_ASSIGN(auto committed, raw_.getCommitted(id_, trxId));
  OPTDB_ASSIGN(auto pending, raw_.getPending(id_, trxId));
  if (!committed && !pending)
    return Status::notFound(fmt::format("block {}: transaction {} is neither pending nor committed", id_, trxId));
  const Transform& t = committed ? *committed : *pending;
  bool isTip = !meta->latest || meta->latest->rev <= rev;
  if (isTip) {
    // Computed again, never taken from blocks/: a materialization of trxId may
    // be left from an earlier attempt that never reached its revision file,
    // computed on a block that has changed since.
    OPTDB_ASSIGN(auto before, materialize(rev - 1, *meta));
    auto after = applyTransform(std::move(before), t);
    if (!after) return Status::integrity(fmt::format("block {}: transaction {} cannot apply: {}", id_, trxId, after.status().message()));
    if (*after) OPTDB_TRY(raw_.saveMaterialized(id_, trxId, **after));
    else OPTDB_TRY(raw_.discardMaterialized(id_, trxId));
  }
  OPTDB_ASSIGN(auto named, raw_.getRevision(id_, rev));
  if (named && *named != trxId)
    return Status::integrity(fmt::format("block {}: revision {} belongs to {}, not {}", id_, rev, *named, trxId));
  OPTDB_TRY(raw_.saveRevision(id_, rev, trxId));
  if (pending && !committed) {
    OPTDB_TRY(raw_.promotePending(id_, trxId));
  } else {
    OPTDB_TRY(raw_.saveCommitted(id_, trxId, *committed));
    if (pending) OPTDB_TRY(raw_.deletePending(id_, trxId));
  }
  if (isTip) {
    std::optional<TrxRev> old = meta->latest;
    meta = withLatest(std::move(*meta), TrxRev{trxId, rev});
    OPTDB_TRY(raw_.saveMeta(id_, *meta));
    if (old && old->rev < rev) OPTDB_TRY(pruneMaterialization(*old, *meta));
  }
  return Status::ok();
}

Result<std::size_t> BlockStorage::firstAboveLatest(const BlockMeta& meta, RevisionList& revs) {
  if (revs.size() == 0 || !meta.latest) return std::size_t{0};
  OPTDB_ASSIGN(const Rev last, revs.at(revs.size() - 1));
  if (last <= meta.latest->rev) return revs.size();  // the common case: nothing above latest
  return revs.upperBound(meta.latest->rev);
}

Result<std::vector<TrxRev>> BlockStorage::interruptedAbove(RevisionList& revs, std::size_t first) {
  std::vector<TrxRev> out;
  for (std::size_t i = first; i < revs.size(); ++i) {
    OPTDB_ASSIGN(const Rev r, revs.at(i));
    OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, r));
    if (!trxId) continue;
    OPTDB_ASSIGN(auto pending, raw_.getPending(id_, *trxId));
    bool known = pending.has_value();
    if (!known) {
      OPTDB_ASSIGN(auto committed, raw_.getCommitted(id_, *trxId));
      known = committed.has_value();
    }
    if (known) out.push_back({*trxId, r});
  }
  return out;
}

Result<std::vector<TrxRev>> BlockStorage::interruptedCommits() {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta) return std::vector<TrxRev>();
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, *meta));
  OPTDB_ASSIGN(const std::size_t first, firstAboveLatest(*meta, *revs));
  return interruptedAbove(*revs, first);
}

Status BlockStorage::finishInterruptedCommits() {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta) return Status::ok();
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, *meta));
  OPTDB_ASSIGN(const std::size_t first, firstAboveLatest(*meta, *revs));
  if (first == revs->size()) return Status::ok();
  OPTDB_ASSIGN(auto interrupted, interruptedAbove(*revs, first));
  for (const auto& c : interrupted) {
    Status s = completeCommit(c.trxId, c.rev);
    if (!s) return Status(s.code() == Code::NotFound ? Code::Integrity : s.code(),
                          fmt::format("interrupted commit {}: {}", c.trxId, s.message()));
  }
  // Records of commits that never reached their revision file would shift the
  // checkpoint ordinals once the index is rebuilt; drop them now.
  if (interrupted.size() != revs->size() - first) {
    OPTDB_ASSIGN(meta, raw_.getMeta(id_));
    OPTDB_TRY(raw_.rebuildRevisionIndex(id_, *meta));
  }
  return Status::ok();
}

}  // namespace optdb
