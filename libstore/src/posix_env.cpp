// The Env on the real file system: every path opened beneath the store's
// root without following links, flock locks with timeouts, fsyncs.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "deadline.hpp"
#include "optdb/env.hpp"

namespace optdb {

namespace {

Status errnoStatus(const std::string& what, const std::string& path, int err) {
  if (err == ENOENT) return Status::notFound(fmt::format("{}: {}", path, std::strerror(err)));
  if (err == ELOOP) return Status::integrity(fmt::format("{}: refusing to follow a symbolic link", path));
  if (err == EXDEV) return Status::integrity(fmt::format("{}: refusing a path that leads outside the store", path));
  return Status::io(fmt::format("{} {}: {}", what, path.empty() ? "." : path, std::strerror(err)));
}

// The record getdents64(2) fills in (glibc declares no wrapper type for it).
struct LinuxDirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = o.fd_;
    o.fd_ = -1;
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::ok();
  }
  Status sync() override {
    if (::fdatasync(fd_.get()) != 0) return errnoStatus("fsync", path_, errno);
    return Status::ok();
  }
  Status close() override {
    int fd = fd_.release();
    if (fd >= 0 && ::close(fd) != 0) return errnoStatus("close", path_, errno);
    return Status::ok();
  }

 private:
  Fd fd_;
  std::string path_;
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  PosixRandomAccessFile(Fd fd, std::uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  std::uint64_t size() const override { return size_; }
  Result<std::string> read(std::uint64_t offset, std::size_t n) override {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_.get(), out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("read", path_, errno);
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }

 private:
  Fd fd_;
  std::uint64_t size_;
  std::string path_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(Fd fd) : fd_(std::move(fd)) {}

 private:
  Fd fd_;  // closing it releases the flock
};

class PosixEnv : public Env {
 public:
  explicit PosixEnv(std::string root) : root_(root.empty() ? std::string(".") : std::move(root)) { openRoot(); }

  std::optional<std::string> hostPath(const std::string& path) override {
    return path.empty() ? root_ : root_ + "/" + path;
  }

  Result<std::string> readFile(const std::string& path) override {
    struct stat st;
    OPTDB_ASSIGN(Fd fd, openStored(path, O_RDONLY, &st));
    std::string out;
    out.reserve(static_cast<size_t>(st.st_size));
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("read", path, errno);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > kMaxStoredFileBytes) return tooLarge(path);  // it grew while we read
      // On Linux a regular file reads short only at its end: skip the read that would return 0.
      if (static_cast<size_t>(n) < sizeof buf) break;
    }
    return out;
  }

  Result<std::unique_ptr<RandomAccessFile>> newRandomAccessFile(const std::string& path) override {
    struct stat st;
    OPTDB_ASSIGN(Fd fd, openStored(path, O_RDONLY, &st));
    return std::unique_ptr<RandomAccessFile>(
        new PosixRandomAccessFile(std::move(fd), static_cast<std::uint64_t>(st.st_size), path));
  }

  Result<std::unique_ptr<WritableFile>> newAppendableFile(const std::string& path) override {
    struct stat st;
    OPTDB_ASSIGN(Fd fd, openStored(path, O_WRONLY | O_APPEND, &st));
    if (st.st_nlink > 1)
      return Status::integrity(fmt::format("{}: has {} hard links; optdb never writes through a link", path, st.st_nlink));
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd.release(), path));
  }

  Result<std::unique_ptr<WritableFile>> newWritableFile(const std::string& path) override {
    // O_NONBLOCK: a FIFO planted at the name must not hang the open (ENXIO
    // without a reader); whatever opens must be a regular file.
    Fd fd(openBeneath(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY, 0644));
    if (fd.get() < 0) {
      if (errno == ENXIO || errno == ENODEV)
        return Status::integrity(fmt::format("{}: is not a regular file; optdb never writes into it", path));
      return errnoStatus("create", path, errno);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return errnoStatus("stat", path, errno);
    if (!S_ISREG(st.st_mode)) return Status::integrity(fmt::format("{}: is not a regular file; optdb never writes into it", path));
    if (::fcntl(fd.get(), F_SETFL, 0) != 0) return errnoStatus("fcntl", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd.release(), path));
  }

  Status rename(const std::string& from, const std::string& to) override {
    const auto [fromDir, fromName] = splitParent(from);
    const auto [toDir, toName] = splitParent(to);
    Fd a(openBeneath(fromDir, O_RDONLY | O_DIRECTORY));
    if (a.get() < 0) return errnoStatus("rename", from, errno);
    // Most renames install a temporary file in its own directory: one open will do.
    Fd b(toDir == fromDir ? -1 : openBeneath(toDir, O_RDONLY | O_DIRECTORY));
    if (toDir != fromDir && b.get() < 0) return errnoStatus("rename", to, errno);
    if (::renameat(a.get(), fromName.c_str(), toDir == fromDir ? a.get() : b.get(), toName.c_str()) != 0)
      return errnoStatus("rename", from, errno);
    return Status::ok();
  }

  Status syncAll() override {
    if (::syncfs(rootFd_.get()) != 0) return errnoStatus("syncfs", "", errno);
    return Status::ok();
  }

  Status removeFile(const std::string& path) override {
    std::string name;
    Fd p(openParent(path, &name));
    if (p.get() < 0) return errnoStatus("remove", path, errno);
    if (::unlinkat(p.get(), name.c_str(), 0) != 0) return errnoStatus("remove", path, errno);
    return Status::ok();
  }

  Status removeDir(const std::string& path) override {
    std::string name;
    Fd p(openParent(path, &name));
    if (p.get() < 0) return errnoStatus("remove directory", path, errno);
    if (::unlinkat(p.get(), name.c_str(), AT_REMOVEDIR) != 0) return errnoStatus("remove directory", path, errno);
    return Status::ok();
  }

  Status createDir(const std::string& path) override {
    if (path.empty()) {
      if (rootFd_.get() >= 0) return Status::ok();
      std::string prefix;
      size_t pos = 0;
      while (pos != std::string::npos) {
        pos = root_.find('/', pos + 1);
        prefix = root_.substr(0, pos);
        if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
          return errnoStatus("create directory", prefix, errno);
      }
      openRoot();
      if (rootFd_.get() < 0) return errnoStatus("open", root_, errno);
      return Status::ok();
    }
    std::string name;
    Fd p(openParent(path, &name));
    if (p.get() < 0) return errnoStatus("create directory", path, errno);
    if (::mkdirat(p.get(), name.c_str(), 0755) != 0) {
      if (errno != EEXIST) return errnoStatus("create directory", path, errno);
      struct stat st;
      if (::fstatat(p.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
        return Status::integrity(fmt::format("{}: exists and is not a directory", path));
    }
    return Status::ok();
  }

  Status syncDir(const std::string& path) override {
    Fd fd(openBeneath(path, O_RDONLY | O_DIRECTORY));
    if (fd.get() < 0) return errnoStatus("open", path, errno);
    if (::fsync(fd.get()) != 0) return errnoStatus("fsync", path, errno);
    return Status::ok();
  }

  Result<std::vector<DirEntry>> listDir(const std::string& path) override {
    int fd = openBeneath(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
      if (errno == ENOTDIR) return Status::integrity(fmt::format("{}: expected a directory", path));
      return errnoStatus("list", path, errno);
    }
    // getdents64 straight into a buffer on the stack: opendir's stat, fcntls and
    // heap buffer cost as much as the listing itself for a small directory.
    Fd dir(fd);
    std::vector<DirEntry> out;
    alignas(8) char buf[8192];
    for (;;) {
      long got = ::syscall(SYS_getdents64, dir.get(), buf, sizeof buf);
      if (got < 0) return errnoStatus("list", path, errno);
      if (got == 0) break;
      for (long off = 0; off < got;) {
        const auto* e = reinterpret_cast<const LinuxDirent64*>(buf + off);
        off += e->d_reclen;
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        unsigned char dt = e->d_type;
        if (dt == DT_UNKNOWN) {
          struct stat st;
          if (::fstatat(dir.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            dt = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
        }
        FileType t = dt == DT_REG ? FileType::File : dt == DT_DIR ? FileType::Dir : dt == DT_LNK ? FileType::Symlink : FileType::Other;
        out.push_back({std::string(name), t});
      }
    }
    return out;
  }

  Result<FileType> fileType(const std::string& path) override {
    if (path.empty()) {
      if (rootFd_.get() < 0 && rootErrno_ != ENOENT) return errnoStatus("open", root_, rootErrno_);
      if (rootFd_.get() < 0) return FileType::None;
      return FileType::Dir;
    }
    struct stat st;
    if (!statBeneath(path, &st)) {
      if (errno == ENOENT || errno == ENOTDIR) return FileType::None;
      return errnoStatus("stat", path, errno);
    }
    if (S_ISREG(st.st_mode)) return FileType::File;
    if (S_ISDIR(st.st_mode)) return FileType::Dir;
    if (S_ISLNK(st.st_mode)) return FileType::Symlink;
    return FileType::Other;
  }

  Result<std::uint64_t> fileSize(const std::string& path) override {
    struct stat st;
    if (!statBeneath(path, &st)) return errnoStatus("stat", path, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

  Result<std::uint64_t> allocatedSize(const std::string& path) override {
    struct stat st;
    if (!statBeneath(path, &st)) return errnoStatus("stat", path, errno);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;  // st_blocks counts 512-byte units (POSIX)
  }

  Result<std::optional<std::chrono::system_clock::time_point>> modifiedTime(const std::string& path) override {
    struct stat st;
    if (!statBeneath(path, &st)) return errnoStatus("stat", path, errno);
    const auto sinceEpoch = std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
    return std::optional<std::chrono::system_clock::time_point>(
        std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(sinceEpoch)));
  }

  std::string bootId() override {
    // The kernel's random id of this boot; "" where /proc does not say.
    static const std::string id = [] {
      std::string out;
      Fd f(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
      char buf[64];
      ssize_t n = f.get() < 0 ? -1 : ::read(f.get(), buf, sizeof buf);
      for (ssize_t i = 0; i < n; ++i)
        if (buf[i] != '\n' && buf[i] != ' ') out.push_back(buf[i]);
      return out;
    }();
    return id;
  }

  Result<std::uint64_t> linkCount(const std::string& path) override {
    struct stat st;
    if (!statBeneath(path, &st)) return errnoStatus("stat", path, errno);
    return static_cast<std::uint64_t>(st.st_nlink);
  }

  Result<std::unique_ptr<FileLock>> lockFile(const std::string& path, LockMode mode, double timeoutSeconds) override {
    // O_NONBLOCK: a FIFO planted as a lock file must not hang the open.
    Fd fd(openBeneath(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOCTTY, 0644));
    if (fd.get() < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
      const int denied = errno;
      // flock(2) works on a read-only descriptor: readers of a store they may not write still exclude writers.
      fd = Fd(openBeneath(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
      if (fd.get() < 0 && errno == ENOENT && denied == EROFS) return std::make_unique<FileLock>();
      if (fd.get() < 0) return errnoStatus("open lock", path, denied);
    }
    if (fd.get() < 0) return errnoStatus("open lock", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return errnoStatus("stat", path, errno);
    if (!S_ISREG(st.st_mode)) return notRegular(path, st);
    const int op = (mode == LockMode::Shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
    const Deadline deadline = Deadline::after(timeoutSeconds);
    auto pause = std::chrono::microseconds(200);
    for (;;) {
      if (::flock(fd.get(), op) == 0) return std::unique_ptr<FileLock>(new PosixFileLock(std::move(fd)));
      if (errno != EWOULDBLOCK && errno != EINTR) return errnoStatus("lock", path, errno);
      if (deadline.expired())
        return Status::lockTimeout(fmt::format("{}: lock not acquired within {} s", path, timeoutSeconds));
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline.remaining()));
      pause = std::min(pause * 2, std::chrono::microseconds(20000));
    }
  }

 private:
  void openRoot() {
    rootFd_ = Fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    rootErrno_ = rootFd_.get() < 0 ? errno : 0;
  }

  static Status notRegular(const std::string& path, const struct stat& st) {
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    return Status::integrity(fmt::format("{}: is {} where a regular file belongs; optdb never reads it", path, what));
  }

  static Status tooLarge(const std::string& path) {
    return Status::integrity(fmt::format("{}: larger than {} bytes, the most optdb reads of a stored file", path,
                                         kMaxStoredFileBytes));
  }

  // The one way a stored file is opened: never blocking (a FIFO or device
  // planted in the store must not hang or flood us), a regular file only, of
  // bounded size.
  Result<Fd> openStored(const std::string& path, int flags, struct stat* st) {
    Fd fd(openBeneath(path, flags | O_NONBLOCK | O_NOCTTY));
    if (fd.get() < 0) {
      // A FIFO opened for writing without a reader, or a device without its driver.
      if (errno == ENXIO || errno == ENODEV) return Status::integrity(fmt::format("{}: is not a regular file; optdb never reads it", path));
      if (errno == EISDIR) return Status::integrity(fmt::format("{}: is a directory where a regular file belongs", path));
      return errnoStatus("open", path, errno);
    }
    if (::fstat(fd.get(), st) != 0) return errnoStatus("stat", path, errno);
    if (!S_ISREG(st->st_mode)) return notRegular(path, *st);
    if (static_cast<std::uint64_t>(st->st_size) > kMaxStoredFileBytes) return tooLarge(path);
    // Regular files never block; clearing O_NONBLOCK keeps reads plain.
    if (::fcntl(fd.get(), F_SETFL, flags & (O_APPEND)) != 0) return errnoStatus("fcntl", path, errno);
    return fd;
  }

  // Opens `path` beneath the root, refusing symbolic links and "..", in one call where the kernel has openat2.
  int openBeneath(const std::string& path, int flags, mode_t mode = 0) {
    if (rootFd_.get() < 0) {
      errno = rootErrno_ ? rootErrno_ : ENOENT;  // an unreadable store is never an absent one
      return -1;
    }
    const char* p = path.empty() ? "." : path.c_str();
    flags |= O_CLOEXEC;
    static std::atomic<bool> haveOpenat2{true};  // restore runs threads
    if (haveOpenat2) {
      struct open_how how;
      std::memset(&how, 0, sizeof how);
      how.flags = static_cast<std::uint64_t>(flags);
      how.mode = (flags & O_CREAT) ? mode : 0;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
      long fd = ::syscall(SYS_openat2, rootFd_.get(), p, &how, sizeof how);
      if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
      haveOpenat2 = false;
    }
    // Older kernels: each id is one component, so O_NOFOLLOW on the last one
    // plus the id rules (no '/', no leading '.') keep us inside the root.
    return ::openat(rootFd_.get(), p, flags | O_NOFOLLOW, mode);
  }

  // "a/b/c" → {"a/b", "c"}; "c" → {"", "c"} (the store's root).
  static std::pair<std::string, std::string> splitParent(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return {std::string(), path};
    return {path.substr(0, slash), path.substr(slash + 1)};
  }

  // lstat of `path` beneath the root (errno set when false).
  bool statBeneath(const std::string& path, struct stat* st) {
    std::string name;
    Fd p(openParent(path, &name));
    return p.get() >= 0 && ::fstatat(p.get(), name.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0;
  }

  // The directory holding `path`'s last component, beneath the root. A last
  // component of "." or ".." would name the parent itself, or the root's own
  // parent: refused as leading outside, like any ".." openat2 meets.
  int openParent(const std::string& path, std::string* name) {
    auto [dir, base] = splitParent(path);
    if (base == "." || base == "..") {
      errno = EXDEV;
      return -1;
    }
    *name = std::move(base);
    return openBeneath(dir, O_RDONLY | O_DIRECTORY);
  }

  std::string root_;
  Fd rootFd_;
  int rootErrno_ = 0;
};

}  // namespace

std::unique_ptr<Env> newPosixEnv(const std::string& root) { return std::make_unique<PosixEnv>(root); }

}  // namespace optdb
