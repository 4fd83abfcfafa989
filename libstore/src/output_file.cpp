#include "optdb/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace optdb {

Result<std::unique_ptr<OutputFile>> OutputFile::open(const std::string& path, bool sync, std::string_view option) {
  std::unique_ptr<OutputFile> out(new OutputFile(path, sync, std::string(option)));
  struct stat st, so;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::invalid(fmt::format("{} {}: is a directory", option, path));
    const int outFlags = ::fcntl(STDOUT_FILENO, F_GETFL);
    if (outFlags != -1 && (outFlags & O_ACCMODE) != O_RDONLY && ::fstat(STDOUT_FILENO, &so) == 0 &&
        so.st_dev == st.st_dev && so.st_ino == st.st_ino)
      return std::unique_ptr<OutputFile>();  // stdout, reached by another name: written as stdout is
  }
  OPTDB_TRY(out->openFile());
  return out;
}

Status OutputFile::openFile() {
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    direct_ = true;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) return Status::io(fmt::format("{} {}: {}", option_, path_, std::strerror(errno)));
    return Status::ok();
  }
  // A symbolic link to a regular file: the file it names is replaced, not the link.
  std::string target = path_;
  struct stat lst;
  if (::lstat(path_.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    char* real = ::realpath(path_.c_str(), nullptr);
    if (!real) return Status::io(fmt::format("{} {}: {}", option_, path_, std::strerror(errno)));
    target = real;
    std::free(real);
  }
  const auto slash = target.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : target.substr(0, slash));
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  if (base.empty()) return Status::invalid(fmt::format("{} {}: not a file name", option_, path_));
  final_ = target;
  tmp_ = fmt::format("{}/.{}.tmp.{}", dir_, base, ::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    tmp_.clear();
    return Status::io(fmt::format("{} {}: {}", option_, path_, std::strerror(err)));
  }
  return Status::ok();
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());  // not committed: FILE stays as it was
}

Status OutputFile::write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io(fmt::format("writing {}: {}", direct_ ? path_ : tmp_, std::strerror(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::ok();
}

Status OutputFile::commit() {
  if (sync_ && !direct_ && ::fsync(fd_) != 0) return Status::io(fmt::format("fsync {}: {}", tmp_, std::strerror(errno)));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Status::io(fmt::format("closing {}: {}", direct_ ? path_ : tmp_, std::strerror(errno)));
  if (direct_) return Status::ok();
  if (::rename(tmp_.c_str(), final_.c_str()) != 0)
    return Status::io(fmt::format("{} {}: {}", option_, path_, std::strerror(errno)));
  tmp_.clear();
  if (sync_) {
    const int d = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
      ::fsync(d);
      ::close(d);
    }
  }
  return Status::ok();
}

}  // namespace optdb
