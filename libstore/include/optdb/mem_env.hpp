// An in-memory Env for tests that models durability: file data is durable
// only once fsynced, a directory entry (creation, rename, removal) only once its
// directory is fsynced. powerCut() drops everything not yet durable, as a
// machine losing power would. crashAfter(n) makes every mutating call after
// the first n fail, as a process killed at that instant would.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "optdb/env.hpp"

namespace optdb {

class MemEnv : public Env {
 public:
  MemEnv();
  ~MemEnv() override;

  Result<std::string> readFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> newWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> newAppendableFile(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status removeFile(const std::string& path) override;
  Status removeDir(const std::string& path) override;
  Status createDir(const std::string& path) override;
  Status syncDir(const std::string& path) override;
  Status syncAll() override;
  Result<std::vector<DirEntry>> listDir(const std::string& path) override;
  Result<FileType> fileType(const std::string& path) override;
  Result<std::uint64_t> fileSize(const std::string& path) override;
  Result<std::optional<std::chrono::system_clock::time_point>> modifiedTime(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lockFile(const std::string& path, LockMode mode, double timeoutSeconds) override;
  // A new one after every powerCut(), as a machine boots again.
  std::string bootId() override;

  // Mutating calls (file creation, append, fsync, rename, remove, mkdir, dir fsync) so far.
  std::uint64_t mutations() const;
  // Every mutating call after the next n fails with an I/O error; nullopt lifts it.
  void crashAfter(std::optional<std::uint64_t> n);
  // Forgets all that was not made durable, then lifts any crash point.
  void powerCut();
  // A symbolic link, so tests can check it is never followed.
  void addSymlink(const std::string& path);
  // A FIFO or device node: reading or appending to it is Integrity, as on a real store.
  void addSpecialFile(const std::string& path);
  // `path` (a file or directory) and everything beneath it cannot be read or
  // listed (permission denied) until allowed again.
  void denyAccess(const std::string& path, bool denied = true);
  // While full, every call that needs space (a file's creation or append, a
  // mkdir) fails with "No space left on device"; removals and renames work.
  void setDiskFull(bool full);

  struct Node;
  class File;

 private:
  Status mutate(const char* what, const std::string& path);
  Status needSpace(const char* what, const std::string& path);
  // A node of `type` at `path`, durable at once (what tests plant in a store).
  void addDurableNode(const std::string& path, FileType type);
  // IoError when `path` lies under a path denied access.
  Status access(const std::string& path) const;
  std::shared_ptr<Node> find(const std::string& path);

  mutable std::mutex mu_;
  std::shared_ptr<Node> root_;
  std::uint64_t mutations_ = 0;
  std::optional<std::uint64_t> crashAt_;
  std::vector<std::string> denied_;
  bool diskFull_ = false;
  std::uint64_t boots_ = 1;
};

}  // namespace optdb
