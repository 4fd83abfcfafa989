// Restore (SPEC §4): applying validated archives under each block's lock,
// and reading inputs twice, spooling those that cannot be.
#include "optdb/archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "spool.hpp"
#include "write_locks.hpp"

namespace optdb {

// ---- restore ----

Json RestoreSummary::toJson() const {
  Json j = Json::object();
  j["restored"] = restored;
  Json rej = Json::array();
  for (const auto& [id, reason] : rejected) {
    Json e = Json::object();
    e["blockId"] = id;
    e["reason"] = reason;
    rej.push_back(std::move(e));
  }
  j["rejected"] = std::move(rej);
  return j;
}

namespace {

// The revision of the block whose file names trxId, if any: a scan of the
// history, for the rare transform found committed with no revision of its own.
Result<std::optional<Rev>> revisionNaming(RawStorage& raw, const BlockId& id, const TrxId& trxId) {
  OPTDB_ASSIGN(auto revs, raw.listRevisions(id));
  for (Rev r : revs) {
    OPTDB_ASSIGN(auto named, raw.getRevision(id, r));
    if (named && *named == trxId) return std::optional<Rev>(r);
  }
  return std::optional<Rev>();
}

}  // namespace

namespace {

// What a dry run has found it would write to one block so far: the later
// archives of that block are judged against the store and this, as a real
// restore, applying them in order, judges them against what it wrote.
struct PlannedBlock {
  std::map<Rev, TrxId> revisions;                       // revision files it would write
  std::map<TrxId, std::pair<Rev, std::size_t>> committed;  // transform it would hold: rev, digest
  std::set<TrxId> pendingsAdded, pendingsRemoved;
  std::optional<std::optional<BlockMeta>> meta;  // meta.json as it would be; unset: the store's
};

std::size_t transformDigest(const Transform& t) { return std::hash<std::string>{}(toJson(encodeTransform(t))); }

// Per revision of an archive: what the store (and a dry run's plan) already holds.
struct Step {
  bool haveRevision = false;
  bool haveTransform = false;
};

// The reason `a` conflicts with the store (and `planned`, when given), or
// nullopt with `steps` filled. Reads only.
Result<std::optional<std::string>> findConflict(RawStorage& raw, const BlockArchive& a, const PlannedBlock* planned,
                                                std::vector<Step>& steps) {
  using Conflict = std::optional<std::string>;
  const BlockId& id = a.blockId;
  steps.clear();
  steps.reserve(a.revisions.size());
  for (const auto& r : a.revisions) {
    OPTDB_ASSIGN(auto local, raw.getRevision(id, r.trx.rev));
    if (!local && planned) {
      if (auto it = planned->revisions.find(r.trx.rev); it != planned->revisions.end()) local = it->second;
    }
    if (local && *local != r.trx.trxId)
      return Conflict(fmt::format("revision {} is held here by transaction {}; the archive has {}", r.trx.rev, *local,
                                  r.trx.trxId));
    OPTDB_ASSIGN(auto localT, raw.getCommitted(id, r.trx.trxId));
    const std::pair<Rev, std::size_t>* plannedT = nullptr;
    if (planned) {
      if (auto it = planned->committed.find(r.trx.trxId); it != planned->committed.end()) plannedT = &it->second;
    }
    if ((localT || plannedT) && !local) {
      // A transform no revision file names (a restore interrupted before its
      // revision file, or a lost revision file) is what the archive vouches
      // for; another revision naming the transaction is a conflict.
      std::optional<Rev> elsewhere;
      if (localT) {
        OPTDB_ASSIGN(elsewhere, revisionNaming(raw, id, r.trx.trxId));
      }
      if (!elsewhere && plannedT && plannedT->first != r.trx.rev) elsewhere = plannedT->first;
      if (elsewhere)
        return Conflict(fmt::format("transaction {} is committed here at revision {}, not {}", r.trx.trxId, *elsewhere,
                                    r.trx.rev));
    }
    const bool sameTransform = localT ? toJson(encodeTransform(*localT)) == toJson(encodeTransform(r.transform))
                                      : !plannedT || plannedT->second == transformDigest(r.transform);
    if (!sameTransform)
      return Conflict(fmt::format("revision {}: transaction {} is held here with a different transform", r.trx.rev,
                                  r.trx.trxId));
    steps.push_back({local.has_value(), localT.has_value() || plannedT});
  }
  return Conflict();
}

// meta.json once `a` is restored over `meta` (nullopt: a new block of `dialect`).
BlockMeta restoredMeta(const std::optional<BlockMeta>& meta, Dialect dialect, const BlockArchive& a) {
  BlockMeta m = meta ? *meta : newBlockMeta(dialect);
  if (!meta) m.ranges.clear();  // a restored block holds only what its archives claim
  // An actions block holds revisions from its first commit (upstream v0.24):
  // an archive of pendings alone adds none.
  if (!a.revisions.empty() || m.dialect == Dialect::Trx) {
    m.ranges.push_back(a.range);
    m.ranges = normalizeRanges(std::move(m.ranges));
  }
  if (!a.revisions.empty()) {
    const TrxRev& top = a.revisions.back().trx;
    if (!m.latest || top.rev > m.latest->rev) m.latest = top;
  }
  return m;
}

bool sameMeta(const std::optional<BlockMeta>& before, const BlockMeta& after) {
  return before && toJson(encodeMeta(after)) == toJson(encodeMeta(*before));
}

}  // namespace

Result<std::optional<std::string>> BlockStorage::restoreArchive(const BlockArchive& a) {
  using Conflict = std::optional<std::string>;
  if (a.blockId != id_) return Status::invalid(fmt::format("an archive of block {} restored into block {}", a.blockId, id_));
  RawStorage& raw = raw_;
  const BlockId& id = id_;
  OPTDB_ASSIGN(auto meta, raw.getMeta(id));
  // Find any conflict before writing anything.
  std::vector<Step> steps;
  OPTDB_ASSIGN(auto conflict, findConflict(raw, a, nullptr, steps));
  if (conflict) return conflict;
  OPTDB_ASSIGN(const Dialect dialect, raw.dialect(id));
  OPTDB_ASSIGN(auto mats, archiveMaterializations(a, "archive", dialect));
  OPTDB_ASSIGN(auto pendingList, raw.listPendings(id));
  std::set<TrxId> localPendings(pendingList.begin(), pendingList.end());
  const BlockMeta m = restoredMeta(meta, dialect, a);
  const bool metaChanged = !sameMeta(meta, m);
  // Per revision: the revision file, the materialization, then the committed
  // transform, which is what makes it a revision (SPEC §2). Interrupted at any
  // point, this leaves what readers ignore (a revision file naming no
  // committed transform) or what the same restore finishes when run again.
  bool newRevision = false;
  std::vector<Rev> added;
  for (size_t i = 0; i < a.revisions.size(); ++i) {
    const auto& r = a.revisions[i];
    if (!steps[i].haveRevision) {
      OPTDB_TRY(raw.saveRevision(id, r.trx.rev, r.trx.trxId));
      added.push_back(r.trx.rev);
      newRevision = true;
    }
    // A materialization is trusted only for a transaction committed here: one of
    // a transaction only pending here may be left by an attempt that never
    // reached its revision file, computed on another block state.
    if (mats[i]) {
      std::optional<Json> existing;
      if (steps[i].haveTransform) {
        OPTDB_ASSIGN(existing, raw.getMaterialized(id, r.trx.trxId));
      }
      if (!existing) OPTDB_TRY(raw.saveMaterialized(id, r.trx.trxId, *mats[i]));
    } else if (!steps[i].haveTransform) {
      OPTDB_TRY(raw.discardMaterialized(id, r.trx.trxId));
    }
    if (!steps[i].haveTransform) OPTDB_TRY(raw.saveCommitted(id, r.trx.trxId, r.transform));
  }
  // Revisions written below the tip too: the index is rebuilt for the new meta.json.
  if (newRevision || metaChanged) OPTDB_TRY(raw.addToRevisionIndex(id, meta, m, added));
  // A pending transaction the archive shows committed is committed now.
  std::set<TrxId> committedHere;
  for (const auto& r : a.revisions) {
    committedHere.insert(r.trx.trxId);
    if (localPendings.count(r.trx.trxId)) {
      OPTDB_TRY(raw.deletePending(id, r.trx.trxId));
      localPendings.erase(r.trx.trxId);
    }
  }
  if (!a.range.end) {
    for (const auto& p : a.pending) {
      if (committedHere.count(p.trxId) || localPendings.count(p.trxId)) continue;
      OPTDB_ASSIGN(auto committed, raw.getCommitted(id, p.trxId));
      if (committed) continue;
      OPTDB_TRY(raw.savePending(id, p.trxId, p.transform));
    }
  }
  if (metaChanged) OPTDB_TRY(raw.saveMeta(id, m));
  return Conflict();
}

namespace {

// Restore's first pass over one input: every archive parsed and checked,
// nothing written. Returns how many there are.
Result<std::size_t> validateArchives(ArchiveReader& reader) {
  std::size_t count = 0;
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) return count;
    OPTDB_TRY(archiveMaterializations(*a, reader.where()));
    ++count;
  }
}

// Restore's writes in one flush window (RawStorage::beginWindow): every block
// restored made durable together at close(), not one flush per block; on any
// other way out, what was restored so far is flushed too.
class RestoreWindow {
 public:
  explicit RestoreWindow(RawStorage& raw) : raw_(raw), opened_(raw.beginWindow()) {}
  RestoreWindow(const RestoreWindow&) = delete;
  RestoreWindow& operator=(const RestoreWindow&) = delete;
  ~RestoreWindow() {
    if (opened_) (void)raw_.endWindow();  // after an error: what fails here, the next writer of each block finishes
  }
  Status close() {
    if (!std::exchange(opened_, false)) return Status::ok();
    return raw_.endWindow();
  }

 private:
  RawStorage& raw_;
  bool opened_;
};

// One validated archive applied under its block's lock: the conflict that
// made it skipped, if any.
Result<std::optional<std::string>> applyArchive(RawStorage& raw, const BlockArchive& a, double lockTimeout) {
  OPTDB_ASSIGN(auto locks, lockRecovered(raw, {a.blockId}, nullptr, lockTimeout));
  return BlockStorage(a.blockId, raw).restoreArchive(a);
}

// An archive's outcome added to `summary`, in input order.
void addOutcome(RestoreSummary& summary, std::set<BlockId>& restored, const BlockId& id,
                const std::optional<std::string>& conflict) {
  if (conflict) summary.rejected.emplace_back(id, *conflict);
  else if (restored.insert(id).second) summary.restored.push_back(id);
}

// Restore's second pass over one input: each archive applied under its
// block's lock, its outcome added to `summary`. Returns how many were read.
// `onApplied` hears of each archive once it is applied (or refused).
Result<std::size_t> applyArchives(RawStorage& raw, ArchiveReader& reader, double lockTimeout, RestoreSummary& summary,
                                  std::set<BlockId>& restored, const std::function<void(const BlockId&)>& onApplied = {}) {
  std::size_t applied = 0;
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) return applied;
    ++applied;
    OPTDB_ASSIGN(auto conflict, applyArchive(raw, *a, lockTimeout));
    addOutcome(summary, restored, a->blockId, conflict);
    if (onApplied) onApplied(a->blockId);
  }
}

// The second pass with its archives applied by `lanes.size()` threads, each
// on a storage of its own (as separate processes would be: its own locks,
// journal units and flush window) holding the store lock shared. A block's
// archives all go to one lane, in input order; blocks run in parallel. The
// reader (this thread) waits when a lane has kQueued archives waiting. On
// the first failure every lane stops at its next archive; what each applied
// is flushed, as a sequential restore flushes what it applied.
class ParallelApply {
 public:
  ParallelApply(std::vector<std::shared_ptr<RawStorage>> storages, double lockTimeout,
                std::function<void(const BlockId&)> onApplied)
      : lockTimeout_(lockTimeout), onApplied_(std::move(onApplied)), lanes_(storages.size()) {
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      lanes_[i].raw = std::move(storages[i]);
      lanes_[i].thread = std::thread([this, i] { run(lanes_[i]); });
    }
  }
  ParallelApply(const ParallelApply&) = delete;
  ParallelApply& operator=(const ParallelApply&) = delete;
  ~ParallelApply() { (void)finish(); }

  // The `index`th archive of the pass handed to its block's lane; false once a lane has failed.
  bool add(std::size_t index, BlockArchive a) {
    Lane& lane = lanes_[std::hash<std::string>{}(a.blockId) % lanes_.size()];
    std::unique_lock<std::mutex> hold(mu_);
    changed_.wait(hold, [&] { return failed_ || lane.queue.size() < kQueued; });
    if (failed_) return false;
    lane.queue.push_back(Item{index, std::move(a)});
    changed_.notify_all();
    return true;
  }

  // Every lane done and its window flushed: the first lane's failure, else the
  // outcomes added to `summary` in input order.
  Status finish(RestoreSummary* summary = nullptr, std::set<BlockId>* restored = nullptr) {
    {
      std::lock_guard<std::mutex> hold(mu_);
      closed_ = true;
      changed_.notify_all();
    }
    for (auto& lane : lanes_)
      if (lane.thread.joinable()) lane.thread.join();
    for (const auto& lane : lanes_)
      if (!lane.status) return lane.status;
    if (summary) {
      std::vector<const Outcome*> all;
      for (const auto& lane : lanes_)
        for (const auto& o : lane.outcomes) all.push_back(&o);
      std::sort(all.begin(), all.end(), [](const Outcome* a, const Outcome* b) { return a->index < b->index; });
      for (const Outcome* o : all) addOutcome(*summary, *restored, o->blockId, o->conflict);
    }
    return Status::ok();
  }

 private:
  static constexpr std::size_t kQueued = 1;  // memory: about 2 archives a lane
  struct Item {
    std::size_t index;
    BlockArchive archive;
  };
  struct Outcome {
    std::size_t index;
    BlockId blockId;
    std::optional<std::string> conflict;
  };
  struct Lane {
    std::shared_ptr<RawStorage> raw;
    std::thread thread;
    std::deque<Item> queue;
    std::vector<Outcome> outcomes;
    Status status;
  };

  void run(Lane& lane) {
    Status st = applyLane(lane);
    std::lock_guard<std::mutex> hold(mu_);
    lane.status = st;
    if (!st) failed_ = true;
    changed_.notify_all();
  }

  Status applyLane(Lane& lane) {
    OPTDB_ASSIGN(auto storeLock, lockWholeStore(*lane.raw, LockMode::Shared, lockTimeout_));
    RestoreWindow window(*lane.raw);
    for (;;) {
      std::optional<Item> item;
      {
        std::unique_lock<std::mutex> hold(mu_);
        changed_.wait(hold, [&] { return failed_ || closed_ || !lane.queue.empty(); });
        if (failed_ || lane.queue.empty()) break;
        item.emplace(std::move(lane.queue.front()));
        lane.queue.pop_front();
        changed_.notify_all();
      }
      OPTDB_ASSIGN(auto conflict, applyArchive(*lane.raw, item->archive, lockTimeout_));
      lane.outcomes.push_back(Outcome{item->index, item->archive.blockId, std::move(conflict)});
      if (onApplied_) {
        std::lock_guard<std::mutex> hold(mu_);
        onApplied_(item->archive.blockId);
      }
    }
    return window.close();
  }

  double lockTimeout_;
  std::function<void(const BlockId&)> onApplied_;
  std::vector<Lane> lanes_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool closed_ = false;
  bool failed_ = false;
};

}  // namespace

Result<RestoreSummary> restoreArchives(RawStorage& raw, const std::vector<ArchiveInput>& inputs, double lockTimeout) {
  // Everything is validated before anything is written.
  std::size_t count = 0;
  for (const auto& in : inputs) {
    ArchiveReader reader(in.text, in.name);
    OPTDB_ASSIGN(const std::size_t n, validateArchives(reader));
    count += n;
  }
  RestoreSummary summary;
  if (count == 0) return summary;  // nothing to write: not even the store directory
  std::set<BlockId> restored;
  OPTDB_ASSIGN(auto storeLock, lockWholeStore(raw, LockMode::Shared, lockTimeout));
  RestoreWindow window(raw);
  for (const auto& in : inputs) {
    ArchiveReader reader(in.text, in.name);
    OPTDB_TRY(applyArchives(raw, reader, lockTimeout, summary, restored).status());
  }
  OPTDB_TRY(window.close());
  return summary;
}

namespace {

// An unnamed file in `d`, or -1 (errno set).
int openUnnamed(const std::string& d) {
  int fd = -1;
#ifdef O_TMPFILE
  fd = ::open(d.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
  if (fd < 0) {
    std::string path = d + "/optdb-restore.XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  return fd;
}

}  // namespace

// An unnamed temporary file in `dir`, else (when empty, or where no file can
// be made: a read-only store) in $TMPDIR, else /tmp; read and write, gone
// when closed: where input that cannot be read twice or must not be held in
// memory is spooled. `what` names the input in messages.
Result<int> openSpool(const std::string& dir, const std::string& what) {
  int fd = dir.empty() ? -1 : openUnnamed(dir);
  const std::string d = std::getenv("TMPDIR") && *std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  if (fd < 0) fd = openUnnamed(d);
  if (fd < 0)
    return Status::io(
        fmt::format("{}: cannot make a temporary file in {} to hold the input: {}", what, d, std::strerror(errno)));
  return fd;
}

ByteReadFn readFromFd(int fd, std::string name, int tee) {
  return [fd, tee, name = std::move(name)](char* buf, std::size_t size) -> Result<std::size_t> {
    for (;;) {
      ssize_t n = ::read(fd, buf, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::io(fmt::format("reading {}: {}", name, std::strerror(errno)));
      }
      for (ssize_t done = 0; tee >= 0 && done < n;) {
        ssize_t w = ::write(tee, buf + done, static_cast<std::size_t>(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          return Status::io(fmt::format("{}: writing its temporary copy: {}", name, std::strerror(errno)));
        }
        done += w;
      }
      return static_cast<std::size_t>(n);
    }
  };
}

namespace {

// One restore input over its two passes.
class StreamInput {
 public:
  explicit StreamInput(const ArchiveStream& in) : in_(in) {}
  StreamInput(const StreamInput&) = delete;
  StreamInput& operator=(const StreamInput&) = delete;
  StreamInput(StreamInput&& o) noexcept
      : in_(o.in_), seekable_(o.seekable_), offset_(o.offset_), st_(o.st_), spool_(o.spool_) {
    o.spool_ = -1;
  }
  ~StreamInput() {
    if (spool_ >= 0) ::close(spool_);
  }

  // Before the first pass: where the input starts, or a spool for it.
  Status open(const std::string& spoolDir) {
    if (in_.fd < 0) return Status::ok();
    if (::fstat(in_.fd, &st_) != 0) return Status::io(fmt::format("{}: {}", in_.name, std::strerror(errno)));
    if (S_ISDIR(st_.st_mode)) return Status::invalid(fmt::format("{}: is a directory", in_.name));
    if (S_ISREG(st_.st_mode)) {
      offset_ = ::lseek(in_.fd, 0, SEEK_CUR);
      seekable_ = offset_ >= 0;
    }
    if (seekable_) return Status::ok();
    // Cannot be read twice: copy it while validating, into a file with no name.
    OPTDB_ASSIGN(spool_, openSpool(spoolDir, in_.name));
    return Status::ok();
  }

  // The first pass reads the input (copying it into the spool); the second,
  // the spool or the input again from where it started.
  ArchiveReader reader(bool second) {
    if (in_.fd < 0) return ArchiveReader(std::string_view(), in_.name);
    const int fd = second && spool_ >= 0 ? spool_ : in_.fd;
    return ArchiveReader(readFromFd(fd, in_.name, !second ? spool_ : -1), in_.name);
  }

  // Between the passes: back to the start, the input unchanged.
  Status rewind() {
    if (in_.fd < 0) return Status::ok();
    if (spool_ >= 0) {
      if (::lseek(spool_, 0, SEEK_SET) != 0)
        return Status::io(fmt::format("{}: rewinding its temporary copy: {}", in_.name, std::strerror(errno)));
      return Status::ok();
    }
    struct stat now;
    if (::fstat(in_.fd, &now) != 0) return Status::io(fmt::format("{}: {}", in_.name, std::strerror(errno)));
    if (now.st_size != st_.st_size || now.st_mtim.tv_sec != st_.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != st_.st_mtim.tv_nsec)
      return Status::io(fmt::format("{}: the file changed while it was being validated; nothing was written", in_.name));
    if (::lseek(in_.fd, offset_, SEEK_SET) != offset_)
      return Status::io(fmt::format("{}: cannot read it again: {}", in_.name, std::strerror(errno)));
    return Status::ok();
  }

 private:
  ArchiveStream in_;
  bool seekable_ = false;
  off_t offset_ = 0;
  struct stat st_ {};
  int spool_ = -1;
};

}  // namespace

Result<RestoreSummary> restoreArchiveStreams(RawStorage& raw, const std::vector<ArchiveStream>& inputs,
                                             double lockTimeout, const std::string& spoolDir,
                                             const BlockProgressFn& progress, const RestoreThreads& threads) {
  std::vector<StreamInput> streams;
  streams.reserve(inputs.size());
  for (const auto& in : inputs) {
    streams.emplace_back(in);
    OPTDB_TRY(streams.back().open(spoolDir));
  }
  // First pass: everything is validated before anything is written.
  std::size_t count = 0;
  for (auto& in : streams) {
    ArchiveReader reader = in.reader(false);
    OPTDB_ASSIGN(const std::size_t n, validateArchives(reader));
    count += n;
  }
  RestoreSummary summary;
  if (count == 0) return summary;  // nothing to write: not even the store directory
  for (auto& in : streams) OPTDB_TRY(in.rewind());
  // Second pass: the same archives again, applied one at a time (by blocks
  // in parallel, with threads.jobs > 1).
  std::set<BlockId> restored;
  std::size_t applied = 0, done = 0;
  OPTDB_ASSIGN(auto storeLock, lockWholeStore(raw, LockMode::Shared, lockTimeout));
  std::function<void(const BlockId&)> onApplied;
  if (progress) onApplied = [&](const BlockId& id) { progress(std::min(++done, count), count, id); };
  const auto changed = [&] {
    return Status::io(fmt::format("the input changed while it was being restored: {} archives validated, {} read again",
                                  count, applied));
  };
  if (threads.jobs > 1 && threads.open && count > 1) {
    std::vector<std::shared_ptr<RawStorage>> storages;
    for (unsigned i = 0; i < std::min<std::size_t>(threads.jobs, count); ++i) {
      OPTDB_ASSIGN(auto another, threads.open());
      storages.push_back(std::move(another));
    }
    ParallelApply lanes(std::move(storages), lockTimeout, onApplied);
    for (auto& in : streams) {
      ArchiveReader reader = in.reader(true);
      for (;;) {
        OPTDB_ASSIGN(auto a, reader.next());
        if (!a) break;
        if (!lanes.add(applied++, std::move(*a))) break;  // a lane failed: finish() says how
      }
    }
    OPTDB_TRY(lanes.finish(&summary, &restored));
    if (applied != count) return changed();
    return summary;
  }
  RestoreWindow window(raw);
  for (auto& in : streams) {
    ArchiveReader reader = in.reader(true);
    OPTDB_ASSIGN(const std::size_t n, applyArchives(raw, reader, lockTimeout, summary, restored, onApplied));
    applied += n;
  }
  if (applied != count) return changed();
  OPTDB_TRY(window.close());
  return summary;
}

// ---- restore --dry-run ----

Json RestorePlan::toJson() const {
  Json j = Json::object();
  j["dryRun"] = true;
  Json sj = summary.toJson();
  j["restored"] = std::move(sj["restored"]);
  j["rejected"] = std::move(sj["rejected"]);
  Json list = Json::array();
  for (const auto& e : archives) {
    Json a = Json::object();
    a["blockId"] = e.blockId;
    a["input"] = e.where;
    a["range"] = encodeRanges({e.range}).front();
    if (e.refuse) {
      a["refuse"] = *e.refuse;
    } else {
      Json w = Json::object();
      w["revisions"] = e.writeRevisions;
      w["pending"] = e.writePendings;
      w["meta"] = e.writeMeta;
      Json k = Json::object();
      k["revisions"] = e.skipRevisions;
      k["pending"] = e.skipPendings;
      a["write"] = std::move(w);
      a["skip"] = std::move(k);
      a["removePending"] = e.removePendings;
    }
    list.push_back(std::move(a));
  }
  j["archives"] = std::move(list);
  return j;
}

namespace {

// What applyArchive would do with `a`, found by reading only; `planned`
// becomes the block as it would then be.
Result<RestorePlanEntry> planArchive(RawStorage& raw, const BlockArchive& a, const std::string& where,
                                     PlannedBlock& planned) {
  const BlockId& id = a.blockId;
  RestorePlanEntry e;
  e.blockId = id;
  e.where = where;
  e.range = a.range;
  std::vector<Step> steps;
  OPTDB_ASSIGN(e.refuse, findConflict(raw, a, &planned, steps));
  if (e.refuse) return e;
  std::optional<BlockMeta> meta;
  if (planned.meta) meta = *planned.meta;
  else {
    OPTDB_ASSIGN(meta, raw.getMeta(id));
  }
  OPTDB_ASSIGN(const Dialect dialect, raw.dialect(id));
  const BlockMeta m = restoredMeta(meta, dialect, a);
  e.writeMeta = !sameMeta(meta, m);
  planned.meta = std::optional<BlockMeta>(m);
  for (std::size_t i = 0; i < a.revisions.size(); ++i) {
    const auto& r = a.revisions[i];
    if (steps[i].haveRevision && steps[i].haveTransform) {
      ++e.skipRevisions;
      continue;
    }
    ++e.writeRevisions;
    planned.revisions[r.trx.rev] = r.trx.trxId;
    planned.committed[r.trx.trxId] = {r.trx.rev, transformDigest(r.transform)};
  }
  OPTDB_ASSIGN(auto pendingList, raw.listPendings(id));
  std::set<TrxId> localPendings(pendingList.begin(), pendingList.end());
  for (const auto& t : planned.pendingsRemoved) localPendings.erase(t);
  localPendings.insert(planned.pendingsAdded.begin(), planned.pendingsAdded.end());
  std::set<TrxId> committedHere;
  for (const auto& r : a.revisions) {
    committedHere.insert(r.trx.trxId);
    if (localPendings.erase(r.trx.trxId)) {
      ++e.removePendings;
      planned.pendingsAdded.erase(r.trx.trxId);
      planned.pendingsRemoved.insert(r.trx.trxId);
    }
  }
  if (!a.range.end) {
    for (const auto& p : a.pending) {
      bool held = committedHere.count(p.trxId) || localPendings.count(p.trxId) || planned.committed.count(p.trxId);
      if (!held) {
        OPTDB_ASSIGN(auto committed, raw.getCommitted(id, p.trxId));
        held = committed.has_value();
      }
      if (held) {
        ++e.skipPendings;
        continue;
      }
      ++e.writePendings;
      localPendings.insert(p.trxId);
      planned.pendingsAdded.insert(p.trxId);
      planned.pendingsRemoved.erase(p.trxId);
    }
  }
  return e;
}

}  // namespace

Result<RestorePlan> planRestoreStreams(RawStorage& raw, const std::vector<ArchiveStream>& inputs, double lockTimeout) {
  for (const auto& in : inputs) {
    struct stat st;
    if (in.fd < 0) continue;
    if (::fstat(in.fd, &st) != 0) return Status::io(fmt::format("{}: {}", in.name, std::strerror(errno)));
    if (S_ISDIR(st.st_mode)) return Status::invalid(fmt::format("{}: is a directory", in.name));
  }
  // Only where a lock file exists: a dry run creates nothing.
  OPTDB_ASSIGN(auto storeLock, lockWholeStore(raw, LockMode::Shared, lockTimeout, true));
  RestorePlan plan;
  std::map<BlockId, PlannedBlock> planned;
  std::set<BlockId> restored;
  for (const auto& in : inputs) {
    if (in.fd < 0) continue;
    ArchiveReader reader(readFromFd(in.fd, in.name), in.name);
    for (;;) {
      OPTDB_ASSIGN(auto a, reader.next());
      if (!a) break;
      OPTDB_TRY(archiveMaterializations(*a, reader.where()));
      OPTDB_ASSIGN(auto e, planArchive(raw, *a, reader.where(), planned[a->blockId]));
      if (e.refuse) plan.summary.rejected.emplace_back(a->blockId, *e.refuse);
      else if (restored.insert(a->blockId).second) plan.summary.restored.push_back(a->blockId);
      plan.archives.push_back(std::move(e));
    }
  }
  return plan;
}

}  // namespace optdb
