// Counts what a workload asks of the file system (files written, renames,
// fsync-family calls), between libstore and the real Env: shared by the benches.
#pragma once

#include <memory>
#include <string>

#include "optdb/env.hpp"

namespace optdb::bench {

// Counts what a commit asks of the file system, to report files written and fsyncs.
class CountingEnv : public Env {
 public:
  explicit CountingEnv(std::unique_ptr<Env> base) : base_(std::move(base)) {}
  std::uint64_t filesCreated = 0, filesAppended = 0, renames = 0, fileSyncs = 0, dirSyncs = 0, fsSyncs = 0;
  // Every fsync-family call: fsync/fdatasync, directory fsyncs, syncfs.
  std::uint64_t syncs() const { return fileSyncs + dirSyncs + fsSyncs; }

  Result<std::string> readFile(const std::string& p) override { return base_->readFile(p); }
  Result<std::unique_ptr<WritableFile>> newWritableFile(const std::string& p) override {
    ++filesCreated;
    auto f = base_->newWritableFile(p);
    if (!f) return f;
    return std::unique_ptr<WritableFile>(new CountingFile(std::move(f).value(), this));
  }
  Result<std::unique_ptr<WritableFile>> newAppendableFile(const std::string& p) override {
    ++filesAppended;
    auto f = base_->newAppendableFile(p);
    if (!f) return f;
    return std::unique_ptr<WritableFile>(new CountingFile(std::move(f).value(), this));
  }
  Result<std::unique_ptr<RandomAccessFile>> newRandomAccessFile(const std::string& p) override {
    return base_->newRandomAccessFile(p);
  }
  Status rename(const std::string& a, const std::string& b) override {
    ++renames;
    return base_->rename(a, b);
  }
  Status removeFile(const std::string& p) override { return base_->removeFile(p); }
  Status removeDir(const std::string& p) override { return base_->removeDir(p); }
  Status createDir(const std::string& p) override { return base_->createDir(p); }
  Status syncDir(const std::string& p) override {
    ++dirSyncs;
    return base_->syncDir(p);
  }
  Status syncAll() override {
    ++fsSyncs;
    return base_->syncAll();
  }
  Result<std::vector<DirEntry>> listDir(const std::string& p) override { return base_->listDir(p); }
  Result<FileType> fileType(const std::string& p) override { return base_->fileType(p); }
  Result<std::uint64_t> linkCount(const std::string& p) override { return base_->linkCount(p); }
  std::string bootId() override { return base_->bootId(); }
  Result<std::uint64_t> fileSize(const std::string& p) override { return base_->fileSize(p); }
  Result<std::unique_ptr<FileLock>> lockFile(const std::string& p, LockMode m, double t) override {
    return base_->lockFile(p, m, t);
  }

 private:
  struct CountingFile : WritableFile {
    CountingFile(std::unique_ptr<WritableFile> f, CountingEnv* e) : f_(std::move(f)), e_(e) {}
    Status append(std::string_view d) override { return f_->append(d); }
    Status sync() override {
      ++e_->fileSyncs;
      return f_->sync();
    }
    Status close() override { return f_->close(); }
    std::unique_ptr<WritableFile> f_;
    CountingEnv* e_;
  };
  std::unique_ptr<Env> base_;
};

}  // namespace optdb::bench
