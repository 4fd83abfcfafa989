// The Store facade: opens the layers on a directory and hands each command to them.
#include "optdb/store.hpp"

#include <algorithm>
#include <thread>

#include "optdb/archive_file.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/rados_raw_storage.hpp"

namespace optdb {

namespace {

// The layers below StorageRepo at `location`: a directory, or rados:POOL[/NAMESPACE] (SPEC §9).
std::shared_ptr<RawStorage> openRaw(const std::string& location, const StoreOptions& options) {
  if (isRadosLocation(location))
    return std::make_shared<RadosRawStorage>(location, radosOptionsFromEnvironment(options.cephConf, options.layout));
  return std::make_shared<FileRawStorage>(newPosixEnv(location), options.sync, options.layout);
}

}  // namespace

Store::Store(std::string location, StoreOptions options) : location_(std::move(location)) {
  raw_ = openRaw(location_, options);
  repo_ = std::make_unique<StorageRepo>(raw_, options);
}

std::unique_ptr<Store> Store::open(const std::string& location, StoreOptions options) {
  return std::unique_ptr<Store>(new Store(location, options));
}

void Store::setRestoreSources(std::vector<RestoreSource> sources, WarningSink warn) {
  if (sources.empty()) {
    repo_->setRestore({});
    return;
  }
  repo_->setRestore(makeRestoreCallback(
      std::move(sources), [this]() -> RawStorage& { return *raw_; }, options().lockTimeout, std::move(warn)));
}

Result<GetResult> Store::get(const std::vector<BlockId>& blockIds, const GetContext& context) {
  return repo_->get(blockIds, context);
}
Result<PendResult> Store::pend(const PendRequest& request) { return repo_->pend(request); }
Result<CommitResult> Store::commit(const TrxId& trxId, const std::vector<BlockId>& blockIds, Rev rev) {
  return repo_->commit(trxId, blockIds, rev);
}
bool Store::beginWindow() { return raw_->beginWindow(); }

Status Store::flushWindow() { return raw_->flushWindow(); }

Result<CancelResult> Store::cancel(const TrxId& trxId, const std::vector<BlockId>& blockIds) {
  return repo_->cancel(trxId, blockIds);
}
Result<MigrateResult> Store::migrate(const std::vector<BlockId>& blockIds, bool all, Dialect to,
                                     const BlockProgressFn& progress) {
  return repo_->migrate(blockIds, all, to, progress);
}

Result<ForgetResult> Store::forget(const ForgetRequest& request, const std::optional<std::string>& archivePath,
                                   const BlockProgressFn& progress) {
  // Bad arguments write nothing, not even the archive's lock file.
  OPTDB_TRY(request.validate());
  OPTDB_TRY(repo_->heldBlocks(request.blockIds).status());
  std::unique_ptr<ArchiveFile> archive;
  if (archivePath) {
    OPTDB_ASSIGN(archive, ArchiveFile::openPath(*archivePath, options().sync, options().lockTimeout));
  }
  return repo_->forget(request, archive.get(), progress);
}

Result<GcResult> Store::gc(const std::vector<BlockId>& blockIds, bool dryRun, const BlockProgressFn& progress) {
  return repo_->gc(blockIds, dryRun, progress);
}

Result<SummaryResult> Store::summarize(const SummaryOptions& options,
                                       const std::function<void(const BlockSummary&)>& onBlock,
                                       const ProblemSink& onProblem) {
  return summarizeStore(*raw_, options, onBlock, onProblem);
}

Result<CheckResult> Store::check(std::vector<BlockId> blockIds, const ProblemSink& sink, const BlockProgressFn& progress) {
  CheckOptions o;
  o.blockIds = std::move(blockIds);
  o.lockTimeout = options().lockTimeout;
  o.progress = progress;
  return checkStore(*raw_, o, sink);
}

Result<RepairReport> Store::repair(std::vector<BlockId> blockIds, bool dryRun, const BlockProgressFn& progress) {
  RepairOptions o;
  o.blockIds = std::move(blockIds);
  o.lockTimeout = options().lockTimeout;
  o.dryRun = dryRun;
  o.progress = progress;
  return repairStore(*raw_, o);
}

Result<StoreMetrics> Store::metrics(const std::vector<BlockId>& blockIds, const SummaryResult& summary,
                                    const CheckResult* check) {
  return collectMetrics(*raw_, blockIds, summary, check, std::chrono::system_clock::now());
}

Status Store::archive(const ArchiveRequest& request, const ArchiveSink& sink, const ArchiveProgress& progress) {
  return writeArchives(*raw_, request, sink, progress);
}

Result<RestorePlan> Store::planRestore(const std::vector<ArchiveStream>& inputs) {
  return planRestoreStreams(*raw_, inputs, options().lockTimeout);
}

Result<RestoreSummary> Store::restore(const std::vector<ArchiveStream>& inputs, const BlockProgressFn& progress,
                                     unsigned jobs) {
  RestoreThreads threads;
  threads.jobs = jobs ? jobs : std::clamp(std::thread::hardware_concurrency(), 1u, kDefaultRestoreJobs);
  threads.open = [this]() -> Result<std::shared_ptr<RawStorage>> { return openRaw(location_, options()); };
  return restoreArchiveStreams(*raw_, inputs, options().lockTimeout, raw_->spoolDirectory().value_or(""), progress,
                               threads);
}

}  // namespace optdb
