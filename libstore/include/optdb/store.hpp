// The one entry point of libstore (after LevelDB's DB): a store opened from a
// location, running every operation of SPEC §3–§8 through the layers beneath
// it (StorageRepo → BlockStorage → RawStorage → Env). Each operation returns
// a result that knows its JSON (toJson) and its exit status (exitCode).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "optdb/archive.hpp"
#include "optdb/integrity.hpp"
#include "optdb/metrics.hpp"
#include "optdb/storage_repo.hpp"

namespace optdb {

class Store {
 public:
  // A store on the directory `location` (created by its first write).
  static std::unique_ptr<Store> open(const std::string& location, StoreOptions options = {});

  // Where get looks for revisions this store does not hold (SPEC §4);
  // `warn` hears of each source that fails.
  void setRestoreSources(std::vector<RestoreSource> sources, WarningSink warn);

  Result<GetResult> get(const std::vector<BlockId>& blockIds, const GetContext& context = {});
  Result<PendResult> pend(const PendRequest& request);
  Result<CommitResult> commit(const TrxId& trxId, const std::vector<BlockId>& blockIds, Rev rev);
  Result<CancelResult> cancel(const TrxId& trxId, const std::vector<BlockId>& blockIds);
  Result<MigrateResult> migrate(const std::vector<BlockId>& blockIds, bool all, Dialect to,
                                const BlockProgressFn& progress = {});

  Result<GcResult> gc(const std::vector<BlockId>& blockIds, bool dryRun, const BlockProgressFn& progress = {});
  // SPEC §8 forget: the history below the floor appended to the archive
  // file `archivePath` (ArchiveFile), or discarded when it is nullopt.
  Result<ForgetResult> forget(const ForgetRequest& request, const std::optional<std::string>& archivePath,
                              const BlockProgressFn& progress = {});

  // inspect, inspect --check and repair (SPEC §6), with the store's lock timeout.
  Result<SummaryResult> summarize(const SummaryOptions& options, const std::function<void(const BlockSummary&)>& onBlock,
                                  const ProblemSink& onProblem);
  // `progress` once per block (blocks done, blocks in all, the block).
  Result<CheckResult> check(std::vector<BlockId> blockIds, const ProblemSink& sink, const BlockProgressFn& progress = {});
  Result<RepairReport> repair(std::vector<BlockId> blockIds, bool dryRun, const BlockProgressFn& progress = {});
  // inspect --prom (SPEC §8): the metrics of a summary of `blockIds` (and of
  // the check of them, when given), as of now.
  Result<StoreMetrics> metrics(const std::vector<BlockId>& blockIds, const SummaryResult& summary,
                               const CheckResult* check);

  // archive and restore (SPEC §4). Restore spools an input it cannot read
  // twice under the store's own directory when there is one (the disk the
  // data goes to), else $TMPDIR, else /tmp.
  Status archive(const ArchiveRequest& request, const ArchiveSink& sink, const ArchiveProgress& progress = {});
  // `jobs` > 1: blocks restored in parallel by that many threads, each on
  // its own handle on the store; 0: one a CPU, at most kDefaultRestoreJobs.
  static constexpr unsigned kDefaultRestoreJobs = 4;
  Result<RestoreSummary> restore(const std::vector<ArchiveStream>& inputs, const BlockProgressFn& progress = {},
                                 unsigned jobs = 1);
  // restore --dry-run: what restore would do, writing nothing.
  Result<RestorePlan> planRestore(const std::vector<ArchiveStream>& inputs);

  // batch --buffer (SPEC §8): the writes from here to each flushWindow()
  // made durable together, at it (RawStorage::beginWindow).
  bool beginWindow();
  Status flushWindow();

  const StoreOptions& options() const { return repo_->options(); }
  // The layers beneath, for tests and tools that work at one of them.
  StorageRepo& repo() { return *repo_; }
  RawStorage& raw() { return *raw_; }

 private:
  Store(std::string location, StoreOptions options);

  std::string location_;
  std::shared_ptr<RawStorage> raw_;
  std::unique_ptr<StorageRepo> repo_;
};

}  // namespace optdb
