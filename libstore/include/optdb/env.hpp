// The file-system seam (after LevelDB's Env): every file-system call libstore
// makes goes through here, so tests can fail or "crash" any write, rename or
// fsync, and simulate a power cut. Paths are relative to the Env's root; no
// path may leave the root or pass through a symbolic link.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "optdb/status.hpp"

namespace optdb {

enum class FileType { None, File, Dir, Symlink, Other };

struct DirEntry {
  std::string name;
  FileType type = FileType::Other;
};

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(std::string_view data) = 0;
  virtual Status sync() = 0;
  virtual Status close() = 0;
};

// Reads at offsets, for indexes that are searched rather than loaded.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  virtual std::uint64_t size() const = 0;
  // Up to n bytes at offset (fewer at the end of the file).
  virtual Result<std::string> read(std::uint64_t offset, std::size_t n) = 0;
};

// Held until destroyed; the kernel releases it when the process dies.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class LockMode { Shared, Exclusive };

class Env {
 public:
  virtual ~Env() = default;

  // Stored files are read under one rule (SPEC §7): only a regular file is
  // data. A FIFO, device or socket is never opened in a way that blocks and
  // is Integrity ("not a regular file"); a file larger than kMaxStoredFileBytes
  // is Integrity too. NotFound only when the file does not exist: a file or
  // directory that cannot be read is IoError, never taken for an absent one.
  static constexpr std::uint64_t kMaxStoredFileBytes = std::uint64_t(1) << 30;

  virtual Result<std::string> readFile(const std::string& path) = 0;
  // The same rules. The default reads the whole file once.
  virtual Result<std::unique_ptr<RandomAccessFile>> newRandomAccessFile(const std::string& path);
  // Creates or truncates.
  virtual Result<std::unique_ptr<WritableFile>> newWritableFile(const std::string& path) = 0;
  // Opens an existing file for appending (NotFound when missing). Integrity
  // unless it is a regular file with one link: appending through a hard link
  // would change a file outside this name.
  virtual Result<std::unique_ptr<WritableFile>> newAppendableFile(const std::string& path) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status removeFile(const std::string& path) = 0;
  // An empty directory (NotFound when missing; an error when not empty).
  virtual Status removeDir(const std::string& path) = 0;
  // Ok when the directory exists already. "" is the root, created with its parents.
  virtual Status createDir(const std::string& path) = 0;
  virtual Status syncDir(const std::string& path) = 0;
  // Makes everything written to the file system so far durable (syncfs(2)):
  // repair ends with it, so that what it found complete stays complete.
  virtual Status syncAll() = 0;
  // NotFound when the directory does not exist; IoError when it cannot be read.
  virtual Result<std::vector<DirEntry>> listDir(const std::string& path) = 0;
  // Does not follow a final symbolic link; None when missing; IoError when
  // it cannot be told (a directory on the way that cannot be searched).
  virtual Result<FileType> fileType(const std::string& path) = 0;
  virtual Result<std::uint64_t> fileSize(const std::string& path) = 0;
  // What the file system allocated for it (what du(1) counts): st_blocks
  // on a real one, the apparent size where there is no such thing.
  virtual Result<std::uint64_t> allocatedSize(const std::string& path) { return fileSize(path); }
  // When the file's data was last written (st_mtime on a real file system):
  // inspect --prom's age of the oldest pending transaction. nullopt where the
  // medium keeps no such time.
  virtual Result<std::optional<std::chrono::system_clock::time_point>> modifiedTime(const std::string& path) {
    (void)path;
    return std::optional<std::chrono::system_clock::time_point>();
  }
  // Where `path` is on the host's file system, for what must be opened there
  // directly (restore's unnamed spool file, on the store's own disk);
  // nullopt where the medium is not the host's.
  virtual std::optional<std::string> hostPath(const std::string& path) {
    (void)path;
    return std::nullopt;
  }
  // How many names the file has (1 unless hard-linked); inspect --check reports more.
  virtual Result<std::uint64_t> linkCount(const std::string& path) {
    (void)path;
    return std::uint64_t{1};
  }
  // Which boot of the machine this is ("" when the medium cannot tell): a
  // journal written in another boot may hold what a power cut took from the
  // tree, and is replayed (journal_env.hpp).
  virtual std::string bootId() { return std::string(); }
  // Waits up to timeoutSeconds (0: try once) without spinning; LockTimeout
  // otherwise. Creates the lock file when missing; where it cannot be written
  // (a read-only store, another user's) it locks a read-only descriptor, and
  // on a read-only file system where it is missing it holds nothing (no one
  // can write there).
  virtual Result<std::unique_ptr<FileLock>> lockFile(const std::string& path, LockMode mode,
                                                     double timeoutSeconds) = 0;
};

// The real file system under `root`.
std::unique_ptr<Env> newPosixEnv(const std::string& root);

}  // namespace optdb
