// get, pend, commit, cancel and migrate (SPEC §3): validation, locking,
// stale and pending checks, commit planning, interrupted-commit recovery.
#include "optdb/storage_repo.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "deadline.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/transform.hpp"
#include "write_locks.hpp"

namespace optdb {

namespace {

std::vector<BlockId> distinct(const std::vector<BlockId>& ids) {
  std::vector<BlockId> out;
  std::set<BlockId> seen;
  for (const auto& id : ids)
    if (seen.insert(id).second) out.push_back(id);
  return out;
}

Status validateIds(const std::vector<BlockId>& ids) {
  if (ids.empty()) return Status::invalid("no block ids given");
  for (const auto& id : ids) OPTDB_TRY(validateBlockId(id, fmt::format("block id \"{}\"", id)));
  return Status::ok();
}

std::string joinIds(const std::vector<BlockId>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

Json encodeMissing(const std::vector<MissingTrx>& missing) {
  Json arr = Json::array();
  for (const auto& m : missing) {
    Json j = Json::object();
    j["trxId"] = m.trxId;
    j["rev"] = m.rev;
    j["transforms"] = encodeTransforms(m.transforms);
    arr.push_back(std::move(j));
  }
  return arr;
}

}  // namespace

std::optional<Policy> parsePolicy(std::string_view text) {
  if (text == "c") return Policy::Continue;
  if (text == "f") return Policy::Fail;
  if (text == "r") return Policy::Return;
  if (text == "w") return Policy::Wait;
  return std::nullopt;
}

bool GetResult::anyMissing() const {
  return std::any_of(blocks.begin(), blocks.end(), [](const auto& b) { return !b.second.block || b.second.notFound; });
}

Json GetResult::toJson() const {
  Json out = Json::object();
  for (const auto& [id, s] : blocks) {
    Json entry = Json::object();
    if (s.block) entry["block"] = *s.block;
    Json state = Json::object();
    if (s.latest) state["latest"] = encodeTrxRev(*s.latest);
    state["pendings"] = s.pendings;
    entry["state"] = std::move(state);
    out[id] = std::move(entry);
  }
  return out;
}

Json PendResult::toJson() const {
  Json j = Json::object();
  j["success"] = outcome == Outcome::Pended;
  if (outcome == Outcome::Stale) {
    j["missing"] = encodeMissing(missing);
    return j;
  }
  Json p = Json::array();
  for (const auto& ref : pending) {
    Json e = Json::object();
    e["blockId"] = ref.blockId;
    e["trxId"] = ref.trxId;
    if (ref.transform) e["transform"] = encodeTransform(*ref.transform);
    p.push_back(std::move(e));
  }
  j["pending"] = std::move(p);
  if (outcome == Outcome::Pended) j["blockIds"] = blockIds;
  return j;
}

Json CommitResult::toJson() const {
  Json j = Json::object();
  j["success"] = success;
  if (!success) j["missing"] = encodeMissing(missing);
  return j;
}

Json CancelResult::toJson() const {
  Json j = Json::object();
  j["success"] = true;
  j["cancelled"] = cancelled;
  j["committed"] = committed;
  return j;
}

StorageRepo::StorageRepo(std::shared_ptr<RawStorage> raw, StoreOptions options, RestoreCallback restore)
    : raw_(std::move(raw)), options_(options), restore_(std::move(restore)) {}

// ---- get ----

Status StorageRepo::restoreIfMissing(const BlockId& id, std::optional<Rev> rev) {
  if (!restore_) return Status::ok();
  OPTDB_ASSIGN(auto meta, raw_->getMeta(id));
  if (holdsRevision(meta, rev)) return Status::ok();
  Status s = restore_(id, rev);
  return s || s.code() == Code::NotFound ? Status::ok() : s;
}

Result<GetResult> StorageRepo::get(const std::vector<BlockId>& blockIds, const GetContext& context) {
  OPTDB_TRY(validateIds(blockIds));
  GetResult result;
  auto committed = context.committed;
  std::sort(committed.begin(), committed.end(), [](const TrxRev& a, const TrxRev& b) { return a.rev < b.rev; });
  for (const auto& id : distinct(blockIds)) {
    BlockState state;
    BlockStorage bs = blockStorage(id);
    // Catch up with transactions the caller knows are committed elsewhere.
    if (!committed.empty()) {
      OPTDB_ASSIGN(auto meta, raw_->getMeta(id));
      for (const auto& c : committed) {
        if (meta && meta->latest && c.rev <= meta->latest->rev) continue;
        OPTDB_ASSIGN(auto pending, raw_->getPending(id, c.trxId));
        if (!pending) continue;
        OPTDB_ASSIGN(auto locks, lockBlocks(*raw_, {id}, options_.lockTimeout));
        // Under the lock: still pending, and not an interrupted commit. That is
        // repair's and the next commit's to finish, never get's: committing it
        // here would replace its intent and strand its other blocks.
        OPTDB_ASSIGN(pending, raw_->getPending(id, c.trxId));
        if (!pending) continue;
        OPTDB_ASSIGN(auto intents, raw_->listIntents());
        if (std::any_of(intents.begin(), intents.end(), [&](const CommitIntent& i) { return i.trxId == c.trxId; }))
          continue;
        // Nothing is built on an unfinished commit, on several blocks or this one alone.
        if (std::any_of(intents.begin(), intents.end(), [&](const CommitIntent& i) {
              return std::find(i.blockIds.begin(), i.blockIds.end(), id) != i.blockIds.end();
            }))
          break;
        OPTDB_ASSIGN(auto interrupted, bs.interruptedCommits());
        if (!interrupted.empty()) break;
        auto r = commitLocked(c.trxId, {id}, c.rev);  // stale: another writer got there first
        if (!r && r.status().code() == Code::InvalidInput) {
          // The transform cannot apply here: this block cannot be brought to
          // what the caller knows, and is reported so; the others are read.
          state.notFound = fmt::format("block {}: cannot catch up with {} at revision {}: {}", id, c.trxId, c.rev,
                                       r.status().message());
          break;
        }
        if (!r) return r.status();
        OPTDB_ASSIGN(meta, raw_->getMeta(id));
      }
    }
    if (state.notFound) {
      OPTDB_ASSIGN(auto meta, raw_->getMeta(id));
      if (meta) state.latest = meta->latest;
      OPTDB_ASSIGN(state.pendings, raw_->listPendings(id));
      result.blocks.emplace_back(id, std::move(state));
      continue;
    }
    std::optional<BlockMeta> meta;
    Status restored = restoreIfMissing(id, context.rev);
    auto block = restored ? bs.getBlock(context.rev, &meta) : Result<std::optional<Json>>(restored);
    if (block) {
      state.block = std::move(block).value();
    } else if (block.status().code() == Code::NotFound) {
      state.notFound = block.status().message();
    } else {
      return block.status();
    }
    if (meta) state.latest = meta->latest;
    if (context.trxId) {
      state.pendings = {*context.trxId};
      OPTDB_ASSIGN(auto pending, raw_->getPending(id, *context.trxId));
      if (!pending) {
        // Never print the committed block as if the transaction were applied.
        state.notFound = fmt::format("block {}: transaction {} is not pending", id, *context.trxId);
        state.block.reset();
      } else if (!state.notFound) {
        auto applied = applyTransform(std::move(state.block), *pending);
        if (!applied) {
          state.block.reset();
          state.notFound = fmt::format("block {}: pending {} cannot apply: {}", id, *context.trxId, applied.status().message());
        } else {
          state.block = std::move(applied).value();
        }
      }
    } else {
      OPTDB_ASSIGN(state.pendings, raw_->listPendings(id));
    }
    result.blocks.emplace_back(id, std::move(state));
  }
  return result;
}

// ---- pend ----

Result<std::vector<MissingTrx>> StorageRepo::collectMissing(const std::vector<BlockId>& blockIds, Rev from) {
  std::map<std::pair<Rev, TrxId>, Transforms> byTrx;
  for (const auto& id : blockIds) {
    OPTDB_ASSIGN(auto meta, raw_->getMeta(id));
    if (!meta || !meta->latest || meta->latest->rev < from) continue;
    OPTDB_ASSIGN(auto revs, blockStorage(id).committedRevisions(from, meta->latest->rev));
    for (const auto& c : revs) byTrx[{c.trxRev.rev, c.trxRev.trxId}].add(id, c.transform);
  }
  std::vector<MissingTrx> out;
  for (auto& [key, t] : byTrx) out.push_back({key.second, key.first, std::move(t)});
  return out;
}

Result<std::optional<PendResult>> StorageRepo::pendOnce(const PendRequest& req, const std::vector<BlockId>& blockIds,
                                                         std::vector<PendingRef>* seen) {
  // Re-pending a transaction whose commit was interrupted would replace the
  // transform that commit's finished steps (its materializations) were
  // computed from; as for cancel, repair (or a retried commit) goes first.
  // Others' interrupted commits are finished first, so the stale check sees them.
  OPTDB_ASSIGN(auto locks, lockRecovered(*raw_, blockIds, &req.trxId, options_.lockTimeout));
  PendResult result;
  result.blockIds = blockIds;
  std::vector<BlockId> staleCheck;
  const auto parts = req.transforms.byBlock();  // in blockIds order; forBlock per block would be quadratic
  for (const auto& [id, t] : parts) {
    OPTDB_ASSIGN(auto committed, raw_->getCommitted(id, req.trxId));
    if (committed)
      return Status::invalid(fmt::format("transaction {} is already committed on block {}", req.trxId, id));
    if (req.rev || t.insert) staleCheck.push_back(id);
  }
  OPTDB_ASSIGN(result.missing, collectMissing(staleCheck, req.rev.value_or(0)));
  if (!result.missing.empty()) {
    result.outcome = PendResult::Outcome::Stale;
    return std::optional<PendResult>(std::move(result));
  }
  for (const auto& id : blockIds) {
    OPTDB_ASSIGN(auto pendings, raw_->listPendings(id));
    for (const auto& other : pendings) {
      if (other == req.trxId) continue;
      PendingRef ref{id, other, std::nullopt};
      if (req.policy == Policy::Return) {
        OPTDB_ASSIGN(ref.transform, raw_->getPending(id, other));
        if (!ref.transform) continue;  // committed or cancelled meanwhile
      }
      result.pending.push_back(std::move(ref));
    }
  }
  if (!result.pending.empty() && req.policy != Policy::Continue) {
    if (req.policy == Policy::Wait) {
      *seen = result.pending;
      return std::optional<PendResult>();  // the caller waits, then runs again
    }
    result.outcome = PendResult::Outcome::PendingConflict;
    return std::optional<PendResult>(std::move(result));
  }
  std::vector<BlockId> saved;
  for (const auto& [id, t] : parts) {
    Status s = savePendingOn(id, req.trxId, t);
    if (!s) {
      // A full disk, say: say what was left behind and what finishes the job.
      if (saved.empty()) return s;
      return Status(s.code(), fmt::format("{}; transaction {} was left pending on block{} {} only: run the same pend "
                                          "again to finish it, or optdb cancel --trx {} to withdraw it",
                                          s.message(), req.trxId, saved.size() == 1 ? "" : "s", joinIds(saved),
                                          req.trxId));
    }
    saved.push_back(id);
  }
  OPTDB_TRY(raw_->persist());
  return std::optional<PendResult>(std::move(result));
}

Status StorageRepo::savePendingOn(const BlockId& id, const TrxId& trxId, const Transform& t) {
  OPTDB_ASSIGN(auto meta, raw_->getMeta(id));
  if (!meta) {
    OPTDB_ASSIGN(const Dialect dialect, raw_->dialect(id));
    OPTDB_TRY(raw_->saveMeta(id, newBlockMeta(dialect)));
  }
  return raw_->savePending(id, trxId, t);
}

Result<PendResult> StorageRepo::pend(const PendRequest& req) {
  OPTDB_TRY(validateTrxId(req.trxId, "trxId"));
  auto blockIds = req.transforms.blockIds();
  if (blockIds.empty()) return Status::invalid("transforms: no block is inserted, updated or deleted");
  OPTDB_TRY(validateIds(blockIds));
  // Transforms built in code get the checks decodeTransforms makes: nothing is written for bad input.
  for (const auto& [id, block] : req.transforms.inserts)
    OPTDB_TRY(validateBlock(block, id, fmt::format("inserts[\"{}\"]", id)));
  for (const auto& [id, ops] : req.transforms.updates) {
    if (!ops.is_array()) return Status::invalid(fmt::format("updates[\"{}\"]: must be an array of operations", id));
    for (size_t i = 0; i < ops.size(); ++i)
      OPTDB_TRY(validateOperation(ops[i], fmt::format("updates[\"{}\"][{}]", id, i)));
  }
  if (req.rev && *req.rev > kMaxRev) return Status::invalid("rev: too large");
  const Deadline deadline = Deadline::after(req.timeoutSeconds);
  for (;;) {
    std::vector<PendingRef> seen;
    OPTDB_ASSIGN(auto r, pendOnce(req, blockIds, &seen));
    if (r) return std::move(*r);
    // Policy w: wait, without spinning, until every pending seen is gone.
    auto pause = std::chrono::milliseconds(2);
    for (;;) {
      bool anyLeft = false;
      for (const auto& p : seen) {
        OPTDB_ASSIGN(auto still, raw_->getPending(p.blockId, p.trxId));
        anyLeft = anyLeft || still.has_value();
      }
      if (!anyLeft) break;
      if (deadline.expired()) {
        PendResult timedOut;
        timedOut.outcome = PendResult::Outcome::PendingConflict;
        timedOut.pending = seen;
        timedOut.blockIds = blockIds;
        return timedOut;
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline.remaining()));
      pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
  }
}

// ---- commit ----

Result<std::vector<TrxId>> StorageRepo::recoverIntents(const std::vector<BlockId>* blockIds) {
  OPTDB_TRY(raw_->finishInterruptedUnits());
  OPTDB_ASSIGN(auto intents, raw_->listIntents());
  std::vector<TrxId> finished;
  for (const auto& intent : intents) {
    if (blockIds && std::none_of(intent.blockIds.begin(), intent.blockIds.end(), [&](const BlockId& b) {
          return std::find(blockIds->begin(), blockIds->end(), b) != blockIds->end();
        }))
      continue;
    // The writers' protocol (write_locks.hpp): the store lock shared too, so
    // that this never runs beside a repair.
    OPTDB_ASSIGN(auto locks, lockBlocks(*raw_, intent.blockIds, options_.lockTimeout));
    // A live committer may have finished it while we waited for its locks.
    OPTDB_ASSIGN(auto now, raw_->listIntents());
    if (std::none_of(now.begin(), now.end(), [&](const CommitIntent& i) { return i.trxId == intent.trxId; }))
      continue;
    OPTDB_TRY(finishIntent(*raw_, intent));
    OPTDB_TRY(raw_->persist());
    finished.push_back(intent.trxId);
  }
  return finished;
}

Result<CommitResult> StorageRepo::commit(const TrxId& trxId, const std::vector<BlockId>& blockIds, Rev rev) {
  OPTDB_TRY(validateTrxId(trxId, "trxId"));
  OPTDB_TRY(validateIds(blockIds));
  if (rev < 1 || rev > kMaxRev) return Status::invalid(fmt::format("rev: a commit needs a revision from 1 to {}", kMaxRev));
  auto ids = distinct(blockIds);
  // Interrupted commits on these blocks are looked for under their locks: one
  // that died while this commit waited for a lock is finished before it.
  OPTDB_ASSIGN(auto locks, lockRecovered(*raw_, ids, nullptr, options_.lockTimeout));
  auto r = commitLocked(trxId, ids, rev);
  if (r) {
    if (Status p = raw_->persist(); !p) r = p;
  }
  if (!r && r.status().code() == Code::IoError)  // a full disk, a permission: the commit is not acknowledged
    return Status::io(fmt::format("{}; commit {} at revision {} is not acknowledged: once the cause is fixed, run the "
                                  "same commit again or optdb repair, which finish what was written",
                                  r.status().message(), trxId, rev));
  return r;
}

Result<CommitResult> StorageRepo::commitLocked(const TrxId& trxId, const std::vector<BlockId>& ids, Rev rev) {
  using State = PreparedCommit::State;
  // Prepared on every block before anything is written: stale first (what
  // the caller lacks), then not pending, then the states after the commit.
  std::vector<PreparedCommit> plans;
  std::vector<BlockId> stale, notPending;
  for (const auto& id : ids) {
    OPTDB_ASSIGN(auto c, blockStorage(id).beginCommit(trxId, rev));
    if (c.state == State::Stale) stale.push_back(id);
    plans.push_back(std::move(c));
  }
  if (!stale.empty()) {
    CommitResult r;
    OPTDB_ASSIGN(r.missing, collectMissing(stale, rev));
    return r;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (plans[i].state == State::Retry) continue;
    OPTDB_TRY(blockStorage(ids[i]).prepareCommit(trxId, plans[i]));
    if (!plans[i].pending) notPending.push_back(ids[i]);
  }
  if (!notPending.empty())
    return Status::notFound(fmt::format("transaction {} is not pending on block(s) {}", trxId, joinIds(notPending)));
  // Only a commit on several blocks needs an intent to be finished on all of
  // them; a single block's commit is found again from its revision index.
  const bool anyNew = ids.size() > 1 && std::any_of(plans.begin(), plans.end(), [](const PreparedCommit& c) {
                        return c.state != State::Retry;
                      });
  if (anyNew) OPTDB_TRY(raw_->saveIntent({trxId, rev, ids}));
  for (std::size_t i = 0; i < ids.size(); ++i) OPTDB_TRY(blockStorage(ids[i]).applyCommit(trxId, rev, plans[i]));
  if (anyNew) OPTDB_TRY(raw_->deleteIntent(trxId));
  return CommitResult{true, {}};
}

// ---- cancel ----

Result<CancelResult> StorageRepo::cancel(const TrxId& trxId, const std::vector<BlockId>& blockIds) {
  OPTDB_TRY(validateTrxId(trxId, "trxId"));
  OPTDB_TRY(validateIds(blockIds));
  auto ids = distinct(blockIds);
  OPTDB_ASSIGN(auto locks, lockRecovered(*raw_, ids, &trxId, options_.lockTimeout));
  CancelResult r;
  for (const auto& id : ids) {
    OPTDB_ASSIGN(auto pending, raw_->getPending(id, trxId));
    OPTDB_ASSIGN(auto committed, raw_->getCommitted(id, trxId));
    if (pending) {
      OPTDB_TRY(raw_->deletePending(id, trxId));
      // And what a commit attempt that never reached its revision file left.
      if (!committed) OPTDB_TRY(raw_->deleteMaterialized(id, trxId));
      r.cancelled.push_back(id);
    }
    if (committed) r.committed.push_back(id);
  }
  OPTDB_TRY(raw_->persist());
  return r;
}

// ---- migrate ----

Result<std::vector<BlockId>> StorageRepo::heldBlocks(const std::vector<BlockId>& blockIds) {
  if (blockIds.empty()) return raw_->listBlocks();
  OPTDB_TRY(validateIds(blockIds));
  auto ids = distinct(blockIds);
  std::vector<BlockId> missing;
  for (const auto& id : ids) {
    OPTDB_ASSIGN(auto meta, raw_->getMeta(id));
    if (!meta) missing.push_back(id);
  }
  if (!missing.empty()) return Status::notFound(fmt::format("not in the store: {}", joinIds(missing)));
  return ids;
}

// ---- gc ----

Json GcResult::toJson() const {
  Json j = Json::object();
  if (dryRun) j["dryRun"] = true;
  j["removed"] = removed;
  j["bytes"] = bytes;
  if (dryRun) {
    j["materializations"] = Json::array();
    for (const auto& [id, m] : listed) {
      Json e = Json::object();
      e["blockId"] = id;
      e["rev"] = m.rev;
      e["trxId"] = m.trxId;
      e["bytes"] = m.bytes;
      j["materializations"].push_back(std::move(e));
    }
  }
  return j;
}

Result<GcResult> StorageRepo::gc(const std::vector<BlockId>& blockIds, bool dryRun, const BlockProgressFn& progress) {
  OPTDB_ASSIGN(const auto ids, heldBlocks(blockIds));
  GcResult r;
  r.dryRun = dryRun;
  std::size_t done = 0;
  for (const auto& id : ids) {
    // A real run as every writer (no interrupted commit left on the block
    // first); a dry run as a reader, writing nothing, not even a lock.
    WriteLocks locks;
    if (!dryRun) {
      OPTDB_ASSIGN(locks, lockRecovered(*raw_, {id}, nullptr, options_.lockTimeout));
    }
    OPTDB_ASSIGN(auto dropped, blockStorage(id).collectGarbage(dryRun));
    for (auto& m : dropped) {
      ++r.removed;
      r.bytes += m.bytes;
      if (dryRun) r.listed.emplace_back(id, std::move(m));
    }
    if (!dryRun) OPTDB_TRY(raw_->persist());
    if (progress) progress(++done, ids.size(), id);
  }
  return r;
}

Json MigrateResult::toJson() const {
  Json j = Json::object();
  j["migrated"] = migrated;
  j["unchanged"] = unchanged;
  return j;
}

Result<MigrateResult> StorageRepo::migrate(const std::vector<BlockId>& blockIds, bool all, Dialect to,
                                           const BlockProgressFn& progress) {
  if (all && !blockIds.empty()) return Status::invalid("give block ids or --all, not both");
  if (!all && blockIds.empty()) return Status::invalid("no block given: name blocks or use --all");
  OPTDB_ASSIGN(const auto ids, heldBlocks(all ? std::vector<BlockId>() : blockIds));
  // First, so that a block created meanwhile is born in `to`.
  if (all) OPTDB_TRY(raw_->setStoreDialect(to));
  MigrateResult r;
  for (const auto& id : ids) {
    // As every writer: no interrupted commit is left on the block first.
    OPTDB_ASSIGN(auto locks, lockRecovered(*raw_, {id}, nullptr, options_.lockTimeout));
    OPTDB_ASSIGN(const bool changed, raw_->convertBlock(id, to));
    OPTDB_TRY(raw_->persist());
    (changed ? r.migrated : r.unchanged).push_back(id);
    if (progress) progress(r.migrated.size() + r.unchanged.size(), ids.size(), id);
  }
  return r;
}

std::unique_ptr<StorageRepo> openStore(const std::string& path, StoreOptions options, RestoreCallback restore) {
  std::shared_ptr<Env> env = newPosixEnv(path);
  auto raw = std::make_shared<FileRawStorage>(env, options.sync, options.layout);
  return std::make_unique<StorageRepo>(raw, options, std::move(restore));
}

}  // namespace optdb
