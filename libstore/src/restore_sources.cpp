// The restore sources of get --restore-from: archive files, other stores and
// commands (spawned in their own process group, killed with optdb).
#include "optdb/archive.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "deadline.hpp"
#include "optdb/file_raw_storage.hpp"
#include "spool.hpp"
#include "write_locks.hpp"

extern char** environ;

namespace optdb {

// ---- restore sources ----

Result<std::vector<RestoreSource>> parseRestoreSources(const std::vector<std::string>& specs) {
  std::vector<RestoreSource> out;
  for (const auto& spec : specs) {
    RestoreSource src;
    src.spec = spec;
    if (spec.rfind("cmd:", 0) == 0) {
      src.kind = RestoreSource::Kind::Command;
      src.location = spec.substr(4);
      if (src.location.find_first_not_of(" \t") == std::string::npos)
        return Status::invalid(fmt::format("--restore-from '{}': no command after cmd:", spec));
    } else {
      if (spec.empty()) return Status::invalid("--restore-from: an empty source");
      struct stat st;
      src.kind = ::stat(spec.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? RestoreSource::Kind::Store
                                                                          : RestoreSource::Kind::File;
      src.location = spec;
    }
    out.push_back(std::move(src));
  }
  return out;
}

namespace {

// The process groups of the restore-source commands running now, for the
// signal handler below: a fixed table of atomics, as a handler may only
// read lock-free memory. 0 is a free slot.
constexpr std::size_t kMaxChildren = 64;
std::atomic<pid_t> gChildGroups[kMaxChildren];

// Registers a command's process group for its lifetime (SIGINT and SIGTERM
// kill it with optdb: SPEC §7).
class ChildGroup {
 public:
  explicit ChildGroup(pid_t pgid) {
    for (auto& slot : gChildGroups) {
      pid_t expected = 0;
      if (slot.compare_exchange_strong(expected, pgid)) {
        slot_ = &slot;
        return;
      }
    }
  }
  ~ChildGroup() {
    if (slot_) slot_->store(0);
  }
  ChildGroup(const ChildGroup&) = delete;
  ChildGroup& operator=(const ChildGroup&) = delete;

 private:
  std::atomic<pid_t>* slot_ = nullptr;
};

constexpr int kTerminatingSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void killChildrenAndDie(int sig) {
  for (auto& slot : gChildGroups) {
    pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
  // SA_RESETHAND restored the default action; the signal, blocked while this
  // handler runs, is delivered again when it returns, and ends optdb.
  ::raise(sig);
}

// An open descriptor, closed at the end of its scope.
struct OwnedFd {
  int fd = -1;
  OwnedFd() = default;
  explicit OwnedFd(int f) : fd(f) {}
  OwnedFd(OwnedFd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
};

// Runs `/bin/sh -c COMMAND optdb-restore ID REV` with stdin from /dev/null and
// stdout spooled into an unnamed temporary file (never held in memory: SPEC
// §7), returned at its start; its stderr passes through. It runs in a process
// group of its own, so that a timeout, an output above maxBytes or a signal
// to optdb kills whatever it started too.
Result<OwnedFd> runCommand(const std::string& command, const BlockId& id, std::optional<Rev> rev,
                           double timeoutSeconds, std::uint64_t maxBytes) {
  OPTDB_ASSIGN(const int spoolFd, openSpool(std::string(), "its output"));
  OwnedFd spool(spoolFd);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::io(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  std::string sh = "/bin/sh", dashC = "-c", cmd = command, name = "optdb-restore", blockArg = id;
  std::string revArg = rev ? std::to_string(*rev) : std::string();
  char* argv[] = {sh.data(), dashC.data(), cmd.data(), name.data(), blockArg.data(), revArg.data(), nullptr};
  // The terminating signals are held from before the spawn until the group is
  // registered, so that none can end optdb with the command left unregistered;
  // the command starts with optdb's own mask, and SIGPIPE at its default (optdb
  // ignores it, and an ignored signal would be inherited).
  sigset_t terminating, old;
  sigemptyset(&terminating);
  for (int s : kTerminatingSignals) sigaddset(&terminating, s);
  pthread_sigmask(SIG_BLOCK, &terminating, &old);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &old);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  std::optional<ChildGroup> group;
  if (rc == 0) group.emplace(pid);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status::io(fmt::format("cannot run /bin/sh: {}", std::strerror(rc)));
  }
  char buf[65536];
  int readErr = 0, spoolErr = 0;
  bool timedOut = false, tooBig = false;
  std::uint64_t total = 0;
  const Deadline deadline = timeoutSeconds > 0 ? Deadline::after(timeoutSeconds) : Deadline::never();
  for (;;) {
    // Checked at every read too: a command that never stops writing times out.
    struct pollfd p{fds[0], POLLIN, 0};
    int ready = deadline.expired() ? 0 : ::poll(&p, 1, deadline.pollMs());
    if (ready == 0) {
      timedOut = true;
      break;
    }
    ssize_t n = ready < 0 ? -1 : ::read(fds[0], buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      readErr = errno;
      break;
    }
    if (n == 0) break;
    if (total + static_cast<std::uint64_t>(n) > maxBytes) {
      tooBig = true;
      break;
    }
    total += static_cast<std::uint64_t>(n);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(spool.fd, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        spoolErr = errno;
        break;
      }
      done += w;
    }
    if (spoolErr) break;
  }
  ::close(fds[0]);
  // Stopped before its end: the command, and whatever it started, is killed.
  if (timedOut || tooBig || readErr || spoolErr) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::io(fmt::format("waiting for the command: {}", std::strerror(errno)));
  }
  if (timedOut)
    return Status::io(fmt::format("the command did not finish within {} s (OPTDB_RESTORE_TIMEOUT); it was killed",
                                  formatNumber(timeoutSeconds)));
  if (tooBig)
    return Status::io(fmt::format("its output exceeds OPTDB_RESTORE_MAX_BYTES ({} bytes); the command was killed",
                                  maxBytes));
  if (readErr) return Status::io(fmt::format("reading the command's output: {}", std::strerror(readErr)));
  if (spoolErr) return Status::io(fmt::format("spooling the command's output: {}", std::strerror(spoolErr)));
  if (WIFSIGNALED(status)) return Status::io(fmt::format("the command was killed by signal {}", WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::io(fmt::format("the command exited with status {}", WEXITSTATUS(status)));
  if (::lseek(spool.fd, 0, SEEK_SET) != 0)
    return Status::io(fmt::format("rewinding the command's spooled output: {}", std::strerror(errno)));
  return spool;
}

// Reads the archives of `fd` a line at a time (memory holds one archive, not
// the input), validated; those of block `id` are appended to `out`. Another
// block's archive is skipped, or with `othersFail` is that source's failure.
// A zstd input decompressing to more than `maxBytes` (0: no limit) fails.
Status readSourceArchives(int fd, const std::string& name, const BlockId& id, bool othersFail,
                          std::uint64_t maxBytes, std::vector<BlockArchive>& out) {
  ArchiveReader reader(readFromFd(fd, name), name);
  reader.limitDecompressed(maxBytes, "OPTDB_RESTORE_MAX_BYTES");
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) return Status::ok();
    OPTDB_TRY(archiveMaterializations(*a, reader.where()));
    if (a->blockId == id) out.push_back(std::move(*a));
    else if (othersFail) return Status::invalid(fmt::format("it printed an archive of block {}, not {}", a->blockId, id));
  }
}

}  // namespace

void killRestoreSourcesOnSignals() {
  for (int sig : kTerminatingSignals) {
    struct sigaction old {};
    // A signal ignored by whoever started optdb stays ignored.
    if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = killChildrenAndDie;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &sa, nullptr);
  }
}

Result<std::vector<BlockArchive>> fetchFromSource(const RestoreSource& source, const BlockId& id,
                                                  std::optional<Rev> rev) {
  std::vector<BlockArchive> out;
  switch (source.kind) {
    case RestoreSource::Kind::File: {
      int fd = ::open(source.location.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::io(fmt::format("{}: {}", source.location, std::strerror(errno)));
      OwnedFd closer(fd);
      OPTDB_TRY(readSourceArchives(fd, source.location, id, false, 0, out));
      break;
    }
    case RestoreSource::Kind::Store: {
      // Another store, read only: what `archive ID --rev REV` answers there.
      FileRawStorage other(std::shared_ptr<Env>(newPosixEnv(source.location)), false);
      ArchiveRequest req;
      req.blockIds = {id};
      req.rev = rev;
      OPTDB_TRY(writeArchives(other, req, [&](const BlockArchive& a) -> Status {
        OPTDB_TRY(archiveMaterializations(a, source.location));
        out.push_back(a);
        return Status::ok();
      }));
      break;
    }
    case RestoreSource::Kind::Command: {
      OPTDB_ASSIGN(auto spool, runCommand(source.location, id, rev, source.timeoutSeconds, source.maxBytes));
      // Decompressed output is held to the limit too: a small stream must not
      // unpack into more than the command could have written plainly.
      OPTDB_TRY(readSourceArchives(spool.fd, "its output", id, true, source.maxBytes, out));
      break;
    }
  }
  return out;
}

Status restoreFromSources(const std::vector<RestoreSource>& sources, RawStorage& target, const BlockId& id,
                          std::optional<Rev> rev, double lockTimeout, const WarningSink& warn) {
  std::string what = rev ? fmt::format("block {} revision {}", id, *rev) : fmt::format("block {}", id);
  auto warning = [&](const RestoreSource& src, const std::string& message) {
    if (warn) warn(fmt::format("--restore-from {}: {}: {}", src.spec, what, message));
  };
  auto held = [&](const std::optional<BlockMeta>& meta) {
    return meta && (!rev || rangesContain(meta->ranges, *rev));
  };
  for (const auto& src : sources) {
    auto fetched = fetchFromSource(src, id, rev);
    if (!fetched) {
      warning(src, fetched.status().message());
      continue;
    }
    if (fetched->empty()) {
      warning(src, "it has no archive of this block");
      continue;
    }
    OPTDB_ASSIGN(auto meta, target.getMeta(id));
    Ranges merged = meta ? meta->ranges : Ranges{};
    for (const auto& a : *fetched) merged.push_back(a.range);
    if (rev && !rangesContain(normalizeRanges(merged), *rev)) {
      warning(src, "its archives do not cover that revision");
      continue;
    }
    {
      OPTDB_ASSIGN(auto locks, lockRecovered(target, {id}, nullptr, lockTimeout));
      for (const auto& a : *fetched) {
        OPTDB_ASSIGN(auto conflict, BlockStorage(a.blockId, target).restoreArchive(a));
        if (conflict) warning(src, fmt::format("an archive conflicts with this store and was skipped: {}", *conflict));
      }
    }
    OPTDB_ASSIGN(meta, target.getMeta(id));
    if (held(meta)) return Status::ok();
    warning(src, "what it supplied does not cover the target");
  }
  return Status::notFound(fmt::format("no restore source supplied {}", what));
}

RestoreCallback makeRestoreCallback(std::vector<RestoreSource> sources, std::function<RawStorage&()> target,
                                    double lockTimeout, WarningSink warn) {
  return [sources = std::move(sources), target = std::move(target), lockTimeout, warn = std::move(warn)](
             const BlockId& id, std::optional<Rev> rev) -> Status {
    return restoreFromSources(sources, target(), id, rev, lockTimeout, warn);
  };
}

}  // namespace optdb
