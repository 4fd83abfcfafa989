// The writers' lock protocol: the store lock shared, block locks in sorted
// order, and no interrupted commit left once they are held.
#include "write_locks.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "optdb/block_storage.hpp"

namespace optdb {

namespace {

Status refuseOwn(const TrxId& trxId) {
  return Status::integrity(fmt::format("transaction {} has an interrupted commit; run optdb repair first", trxId));
}

// Whether some block of the intent has a later revision committed without it.
Result<bool> overtakenOnAny(RawStorage& raw, const CommitIntent& intent) {
  for (const auto& id : intent.blockIds) {
    OPTDB_ASSIGN(const bool overtaken, BlockStorage(id, raw).overtakes(intent.trxId, intent.rev));
    if (overtaken) return true;
  }
  return false;
}

bool touchesAny(const CommitIntent& in, const std::set<BlockId>& ids) {
  return std::any_of(in.blockIds.begin(), in.blockIds.end(), [&](const BlockId& b) { return ids.count(b) > 0; });
}

}  // namespace

Result<std::unique_ptr<FileLock>> lockWholeStore(RawStorage& raw, LockMode mode, double timeoutSeconds, bool ifKept) {
  return ifKept ? raw.lockStoreIfKept(mode, timeoutSeconds) : raw.lockStore(mode, timeoutSeconds);
}

Result<WriteLocks> lockBlocks(RawStorage& raw, std::vector<BlockId> blockIds, double timeoutSeconds) {
  std::sort(blockIds.begin(), blockIds.end());
  blockIds.erase(std::unique(blockIds.begin(), blockIds.end()), blockIds.end());
  WriteLocks locks;
  OPTDB_ASSIGN(auto storeLock, lockWholeStore(raw, LockMode::Shared, timeoutSeconds));
  locks.push_back(std::move(storeLock));
  for (const auto& id : blockIds) {
    OPTDB_ASSIGN(auto l, raw.lockBlock(id, timeoutSeconds));
    locks.push_back(std::move(l));
  }
  return locks;
}

Status finishIntent(RawStorage& raw, const CommitIntent& intent) {
  for (const auto& id : intent.blockIds) {
    Status s = BlockStorage(id, raw).completeCommit(intent.trxId, intent.rev);
    if (!s) return Status(s.code() == Code::NotFound ? Code::Integrity : s.code(),
                          fmt::format("interrupted commit {}: {}", intent.trxId, s.message()));
  }
  return raw.deleteIntent(intent.trxId);
}

namespace {

// The intents touching `want`, and the blocks they touch (an intent's other
// blocks may carry intents of their own: the closure).
std::pair<std::set<BlockId>, std::vector<const CommitIntent*>> intentsTouching(const std::vector<CommitIntent>& intents,
                                                                               const std::set<BlockId>& want) {
  std::set<BlockId> closure = want;
  std::vector<const CommitIntent*> touching;
  for (bool grew = true; grew;) {
    grew = false;
    touching.clear();
    for (const auto& in : intents) {
      if (!touchesAny(in, closure)) continue;
      touching.push_back(&in);
      for (const auto& b : in.blockIds) grew = closure.insert(b).second || grew;
    }
  }
  return {std::move(closure), std::move(touching)};
}

// Finishes the dead writers' commits on `blocks`, whose locks (or the store's,
// exclusively) the caller holds: the intents in revision order (one a later
// revision overtook is left for repair), then the single-block ones.
Status finishTouching(RawStorage& raw, std::vector<const CommitIntent*> touching, const std::set<BlockId>& blocks) {
  std::sort(touching.begin(), touching.end(),
            [](const CommitIntent* a, const CommitIntent* b) { return a->rev < b->rev; });
  for (const auto* in : touching) {
    OPTDB_ASSIGN(const bool overtaken, overtakenOnAny(raw, *in));
    if (!overtaken) OPTDB_TRY(finishIntent(raw, *in));
  }
  // Commits on one block record no intent; their revision file above latest marks them.
  for (const auto& id : blocks) OPTDB_TRY(BlockStorage(id, raw).finishInterruptedCommits());
  return Status::ok();
}

}  // namespace

Result<WriteLocks> lockRecovered(RawStorage& raw, const std::vector<BlockId>& blockIds, const TrxId* own,
                                 double timeoutSeconds) {
  std::set<BlockId> want(blockIds.begin(), blockIds.end());
  for (;;) {
    OPTDB_ASSIGN(auto locks, lockBlocks(raw, {want.begin(), want.end()}, timeoutSeconds));
    // Under the locks every intent touching these blocks is a dead writer's:
    // a live one holds the locks of all its blocks until it removes its intent.
    OPTDB_ASSIGN(auto intents, raw.listIntents());
    if (own && std::any_of(intents.begin(), intents.end(), [&](const CommitIntent& i) { return i.trxId == *own; }))
      return refuseOwn(*own);
    auto [closure, touching] = intentsTouching(intents, want);
    if (closure != want) {
      // Finishing them needs all their blocks' locks: released, then taken again in order.
      want = std::move(closure);
      continue;
    }
    // A refusal changes nothing: it comes before any other commit is finished.
    if (own) {
      for (const auto& id : want) {
        OPTDB_ASSIGN(auto interrupted, BlockStorage(id, raw).interruptedCommits());
        for (const auto& c : interrupted)
          if (c.trxId == *own) return refuseOwn(*own);
      }
    }
    OPTDB_TRY(finishTouching(raw, std::move(touching), want));
    OPTDB_TRY(raw.persist());  // what was finished is a unit of its own, before the caller's
    return locks;
  }
}

Status recoverUnderStoreLock(RawStorage& raw, const std::vector<BlockId>& blockIds) {
  OPTDB_TRY(raw.finishInterruptedUnits());
  OPTDB_ASSIGN(auto intents, raw.listIntents());
  auto [closure, touching] = intentsTouching(intents, {blockIds.begin(), blockIds.end()});
  OPTDB_TRY(finishTouching(raw, std::move(touching), closure));
  return raw.persist();
}

}  // namespace optdb
