// forget --before N (SPEC §8): history below a floor moved out of the store,
// archived durably before anything leaves it.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "optdb/archive.hpp"
#include "optdb/archive_file.hpp"
#include "optdb/block_storage.hpp"
#include "optdb/storage_repo.hpp"
#include "write_locks.hpp"

namespace optdb {

// ---- one block ----

Result<std::optional<ForgetPlan>> BlockStorage::planForget(Rev before) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta || !meta->latest) return std::optional<ForgetPlan>();
  const Ranges held = normalizeRanges(meta->ranges);
  if (held.empty()) return std::optional<ForgetPlan>();
  OPTDB_ASSIGN(auto revs, raw_.revisions(id_, *meta));
  // F: the greatest committed revision ≤ before that the store holds.
  std::optional<Rev> floor;
  for (auto it = held.rbegin(); it != held.rend() && !floor; ++it) {
    if (it->start > before) continue;
    const Rev hi = it->end ? std::min(before, *it->end - 1) : before;
    OPTDB_ASSIGN(floor, greatestCommitted(*revs, it->start, hi));
  }
  ForgetPlan plan;
  plan.floor = floor.value_or(held.front().start);
  if (floor && held.front().start < *floor) plan.window = Range{held.front().start, *floor};
  // Below F everything goes; without an F, only what an interrupted forget
  // left below the ranges, and never anything at or above `before`.
  const Rev bound = floor ? *floor : std::min(held.front().start, before);
  OPTDB_ASSIGN(const std::size_t end, revs->lowerBound(bound));
  // Nothing recorded below: the block is left as it is, its ranges too.
  if (end == 0) return std::optional<ForgetPlan>();
  OPTDB_ASSIGN(BlockListing listing, raw_.listBlock(id_));
  auto bytesOf = [](const std::map<TrxId, StoredItem>& items, const TrxId& t) {
    auto it = items.find(t);
    return it == items.end() ? std::uint64_t{0} : it->second.bytes;
  };
  for (std::size_t i = 0; i < end; ++i) {
    OPTDB_ASSIGN(const Rev rev, revs->at(i));
    OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, rev));
    if (!trxId) continue;
    plan.below.push_back({*trxId, rev});
    auto record = listing.revisions.find(rev);
    plan.bytes += (record == listing.revisions.end() ? 0 : record->second.bytes) + bytesOf(listing.committed, *trxId) +
                  bytesOf(listing.materialized, *trxId);
  }
  // A transaction is committed once per block: one named below F and again
  // above would lose the later revision's transform with the earlier one.
  std::set<TrxId> belowIds;
  for (const auto& r : plan.below) belowIds.insert(r.trxId);
  for (std::size_t i = end; i < revs->size(); ++i) {
    OPTDB_ASSIGN(const Rev rev, revs->at(i));
    OPTDB_ASSIGN(auto trxId, raw_.getRevision(id_, rev));
    if (trxId && belowIds.count(*trxId))
      return Status::integrity(fmt::format("block {}: transaction {} is named by revision {} and by an older one; "
                                           "run optdb inspect --check",
                                           id_, *trxId, rev));
  }
  return std::optional<ForgetPlan>(std::move(plan));
}

Status BlockStorage::forget(const ForgetPlan& plan) {
  OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
  if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id_));
  if (plan.window) {
    // F readable without anything older before the ranges stop at it. A
    // block deleted at F has no state to keep: its delete needs nothing older.
    OPTDB_ASSIGN(auto at, committedAt(plan.floor));
    if (!at) return Status::integrity(fmt::format("block {}: revision {} vanished while forgetting below it", id_, plan.floor));
    OPTDB_ASSIGN(auto kept, raw_.getMaterialized(id_, at->trxRev.trxId));
    if (!kept) {
      OPTDB_ASSIGN(auto state, getBlockAt(plan.floor));
      if (state) OPTDB_TRY(raw_.saveMaterialized(id_, at->trxRev.trxId, *state));
    }
    meta->ranges = rangesFrom(normalizeRanges(meta->ranges), plan.floor);
    OPTDB_TRY(raw_.saveMeta(id_, *meta));
  }
  return raw_.removeRevisions(id_, *meta, plan.below);
}

// ---- the store ----

Json ForgetResult::toJson() const {
  Json list = Json::array();
  for (const auto& f : forgotten) {
    Json e = Json::object();
    e["blockId"] = f.blockId;
    e["from"] = f.from;
    e["revisions"] = f.revisions;
    e["bytes"] = f.bytes;
    list.push_back(std::move(e));
  }
  Json j = Json::object();
  j["forgotten"] = std::move(list);
  return j;
}

Status ForgetRequest::validate() const {
  if (all && !blockIds.empty()) return Status::invalid("give block ids or --all, not both");
  if (!all && blockIds.empty()) return Status::invalid("no block given: name blocks or use --all");
  if (before > kMaxRev) return Status::invalid(fmt::format("--before: revision {} is above {}", before, kMaxRev));
  return Status::ok();
}

Result<ForgetResult> StorageRepo::forget(const ForgetRequest& request, ArchiveFile* archive,
                                         const BlockProgressFn& progress) {
  OPTDB_TRY(request.validate());
  OPTDB_ASSIGN(const auto ids, heldBlocks(request.blockIds));
  ForgetResult result;
  if (ids.empty()) return result;
  // The store at rest throughout: no writer between archiving a window and
  // removing it (writers hold the store lock shared).
  OPTDB_ASSIGN(auto storeLock, lockWholeStore(*raw_, LockMode::Exclusive, options_.lockTimeout));
  OPTDB_TRY(recoverUnderStoreLock(*raw_, ids));
  OPTDB_TRY(raw_->persist());
  // Progress counts each block once: as it is archived, or (--discard) trimmed.
  std::size_t done = 0;
  // 1. Every window into the archive, durably, before the store changes.
  std::map<BlockId, Range> archived;
  if (archive) {
    for (const auto& id : ids) {
      OPTDB_ASSIGN(auto plan, blockStorage(id).planForget(request.before));
      if (plan && plan->window) {
        ArchiveRequest window;
        window.blockIds = {id};
        window.from = plan->window->start;
        window.to = plan->window->end;
        OPTDB_TRY(writeArchives(*raw_, window, [&](const BlockArchive& a) { return archive->add(a); }));
        archived.emplace(id, *plan->window);
      }
      if (progress) progress(++done, ids.size(), id);
    }
    OPTDB_TRY(archive->commit());
  }
  // 2. Then each block: F materialized, ranges narrowed, what is below removed.
  for (const auto& id : ids) {
    BlockStorage block = blockStorage(id);
    OPTDB_ASSIGN(auto plan, block.planForget(request.before));
    if (plan) {
      auto it = archived.find(id);
      if (archive && plan->window && (it == archived.end() || !(it->second == *plan->window)))
        return Status::integrity(fmt::format("block {} changed while it was being forgotten", id));
      OPTDB_TRY(block.forget(*plan));
      OPTDB_TRY(raw_->persist());
      result.forgotten.push_back({id, plan->floor, plan->below.size(), plan->bytes});
    }
    if (progress && !archive) progress(++done, ids.size(), id);
  }
  // At rest, and the journal trimmed: what forget freed is not kept there.
  // Its work is durable already: a trim that fails is tried again later.
  if (!result.forgotten.empty()) (void)raw_->syncStore();
  return result;
}

}  // namespace optdb
