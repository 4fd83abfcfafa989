// Every lock the layers take, in one place: the protocol every writer follows
// (SPEC §3 "Locks" and step 3: the store lock shared, each block's lock in
// sorted id order, and once they are held no interrupted commit left on
// those blocks), and the store lock held alone, by restore and integrity.
#pragma once

#include <memory>
#include <vector>

#include "optdb/raw_storage.hpp"

namespace optdb {

using WriteLocks = std::vector<std::unique_ptr<FileLock>>;

// The store lock alone: shared by a writer that then locks block by block
// (restore), exclusive by check and repair, so that what they examine is at
// rest. `ifKept`: nullptr, and nothing written, when the store keeps no lock
// yet (a tree optdb never wrote to; a check or dry run writes nothing).
Result<std::unique_ptr<FileLock>> lockWholeStore(RawStorage& raw, LockMode mode, double timeoutSeconds,
                                                 bool ifKept = false);

// The store lock shared, then each block's lock in sorted id order.
Result<WriteLocks> lockBlocks(RawStorage& raw, std::vector<BlockId> blockIds, double timeoutSeconds);

// lockBlocks, and under the locks no interrupted commit on those blocks: a
// commit that died while this writer waited for a lock is seen only once the
// lock is held, and is finished first (an intent's other blocks are locked
// too, everything taken again in sorted order), or the writer would build on
// a state that lacks it. An intent that a later revision has overtaken is
// left for repair to report: finishing it would fork history. `own`:
// Integrity instead when that transaction's commit is the interrupted one
// (pend and cancel must not replace or remove what it was computed from).
Result<WriteLocks> lockRecovered(RawStorage& raw, const std::vector<BlockId>& blockIds, const TrxId* own,
                                 double timeoutSeconds);

// What lockRecovered does once its locks are held, for a caller holding the
// store lock exclusively (every intent is then a dead writer's): no
// interrupted commit left on `blockIds`.
Status recoverUnderStoreLock(RawStorage& raw, const std::vector<BlockId>& blockIds);

// Finishes an intent's commit on every block, then removes the intent. The
// caller holds the locks of all its blocks.
Status finishIntent(RawStorage& raw, const CommitIntent& intent);

}  // namespace optdb
