#include "optdb/block_storage.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "optdb/transform.hpp"

namespace optdb {

BlockStorage::BlockStorage(BlockId id, RawStorage& raw, RestoreCallback restore)
    : id_(std::move(id)), raw_(raw), restore_(std::move(restore)) {}

Result<std::optional<Json>> BlockStorage::getBlock(std::optional<Rev> rev) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  bool held = meta && (!rev || rangesContain(meta->ranges, *rev));
  if (!held && restore_) {
    Status s = restore_(id_, rev);
    if (!s && s.code() != Code::NotFound) return s;
    OPTDB_ASSIGN(meta, raw_.getMeta(id_));
    held = meta && (!rev || rangesContain(meta->ranges, *rev));
  }
  if (!meta) return std::optional<Json>();  // a missing block reads as absent
  if (!held)
    return Status::notFound(fmt::format("block {}: revision {} is not held by this store", id_, *rev));
  if (!meta->latest) return std::optional<Json>();
  Rev target = rev ? std::min(*rev, meta->latest->rev) : meta->latest->rev;
  return materialize(target, meta->latest->rev, meta->latest);
}

Result<std::optional<Json>> BlockStorage::materialize(Rev target, Rev ceiling, const std::optional<TrxRev>& tip) {
  lastReplay_ = 0;
  if (tip && tip->rev == target) {  // the common case: the tip is materialized
    OPTDB_ASSIGN(auto block, raw_.getMaterialized(id_, tip->trxId));
    if (block) return block;
  }
  // The revision index: one directory listing, whatever the gaps between revisions.
  OPTDB_ASSIGN(auto revs, raw_.listRevisions(id_));
  auto end = std::upper_bound(revs.begin(), revs.end(), std::min(target, ceiling));
  std::vector<Transform> chain;
  std::optional<Json> base;
  for (auto it = end; it != revs.begin();) {
    --it;
    OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, *it));
    if (!trxId) continue;
    OPTDB_ASSIGN(auto mat, raw_.getMaterialized(id_, *trxId));
    if (mat) {
      base = std::move(mat);
      break;
    }
    OPTDB_ASSIGN(auto t, raw_.getCommitted(id_, *trxId));
    if (!t) continue;  // an interrupted commit: not a revision
    bool standalone = t->insert.has_value() || t->del;  // needs nothing older
    chain.push_back(std::move(*t));
    if (standalone) break;
  }
  lastReplay_ = chain.size();
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto next = applyTransform(std::move(base), *it);
    if (!next) return Status::integrity(fmt::format("block {}: replay failed: {}", id_, next.status().message()));
    base = std::move(next).value();
  }
  return base;
}

Result<std::vector<CommittedRevision>> BlockStorage::committedRevisions(Rev from, Rev to) {
  std::vector<CommittedRevision> out;
  if (from > to) return out;
  OPTDB_ASSIGN(auto revs, raw_.listRevisions(id_));
  for (auto it = std::lower_bound(revs.begin(), revs.end(), from); it != revs.end() && *it <= to; ++it) {
    OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, *it));
    if (!trxId) continue;
    OPTDB_ASSIGN(auto t, raw_.getCommitted(id_, *trxId));
    if (!t) continue;
    out.push_back({{*trxId, *it}, std::move(*t)});
  }
  return out;
}

Status BlockStorage::writeCommit(const TrxId& trxId, Rev rev, const std::optional<Json>& block, BlockMeta meta) {
  if (block) OPTDB_TRY(raw_.saveMaterialized(id_, trxId, *block));
  OPTDB_TRY(raw_.saveRevision(id_, rev, trxId));
  OPTDB_TRY(raw_.promotePending(id_, trxId));
  std::optional<TrxRev> old = meta.latest;
  meta.latest = TrxRev{trxId, rev};
  if (!rangesContain(meta.ranges, rev)) {
    meta.ranges.push_back({rev, std::nullopt});
    meta.ranges = normalizeRanges(std::move(meta.ranges));
  }
  OPTDB_TRY(raw_.saveMeta(id_, meta));
  if (old && old->rev < rev) OPTDB_TRY(pruneMaterialization(*old, meta));
  return Status::ok();
}

Status BlockStorage::pruneMaterialization(const TrxRev& old, const BlockMeta& meta) {
  OPTDB_ASSIGN(auto revs, raw_.listRevisions(id_));
  auto it = std::lower_bound(revs.begin(), revs.end(), old.rev);
  if (it == revs.end() || *it != old.rev) return Status::ok();
  // Count revisions from the floor of old's range.
  Rev floor = 0;
  for (const auto& r : meta.ranges)
    if (rangesContain({r}, old.rev)) floor = r.start;
  auto first = std::lower_bound(revs.begin(), revs.end(), floor);
  auto ordinal = static_cast<std::size_t>(it - first);
  if (ordinal % kCheckpointInterval == 0) return Status::ok();  // a retained checkpoint
  return raw_.deleteMaterialized(id_, old.trxId);
}

Status BlockStorage::completeCommit(const TrxId& trxId, Rev rev) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta) meta = BlockMeta{};
  OPTDB_ASSIGN(auto committed, raw_.getCommitted(id_, trxId));
  OPTDB_ASSIGN(auto pending, raw_.getPending(id_, trxId));
  if (!committed && !pending)
    return Status::notFound(fmt::format("block {}: transaction {} is neither pending nor committed", id_, trxId));
  const Transform& t = committed ? *committed : *pending;
  bool isTip = !meta->latest || meta->latest->rev <= rev;
  OPTDB_ASSIGN(auto existing, raw_.getMaterialized(id_, trxId));
  if (isTip && !existing) {
    OPTDB_ASSIGN(auto before, materialize(rev - 1, rev - 1, std::nullopt));
    auto after = applyTransform(std::move(before), t);
    if (!after) return Status::integrity(fmt::format("block {}: transaction {} cannot apply: {}", id_, trxId, after.status().message()));
    if (*after) OPTDB_TRY(raw_.saveMaterialized(id_, trxId, **after));
  }
  OPTDB_ASSIGN(auto named, raw_.getRevision(id_, rev));
  if (!named) OPTDB_TRY(raw_.saveRevision(id_, rev, trxId));
  else if (*named != trxId)
    return Status::integrity(fmt::format("block {}: revision {} belongs to {}, not {}", id_, rev, *named, trxId));
  if (pending && !committed) OPTDB_TRY(raw_.promotePending(id_, trxId));
  else if (pending) OPTDB_TRY(raw_.deletePending(id_, trxId));
  if (isTip && !(meta->latest && meta->latest->rev == rev)) {
    std::optional<TrxRev> old = meta->latest;
    meta->latest = TrxRev{trxId, rev};
    if (!rangesContain(meta->ranges, rev)) {
      meta->ranges.push_back({rev, std::nullopt});
      meta->ranges = normalizeRanges(std::move(meta->ranges));
    }
    OPTDB_TRY(raw_.saveMeta(id_, *meta));
    if (old) OPTDB_TRY(pruneMaterialization(*old, *meta));
  }
  return Status::ok();
}

}  // namespace optdb
