// An archive file that forget appends to (SPEC §8): the file must stay whole
// at every instant, since the history it receives leaves the store once it
// is durable. What is added is written into a temporary file beside it,
// after a copy of what FILE holds; commit() renames it over FILE and makes
// it durable. Readers see the old file or the whole new one.
#pragma once

#include <memory>
#include <string>

#include "optdb/archive.hpp"
#include "optdb/env.hpp"
#include "optdb/zstd.hpp"

namespace optdb {

class ArchiveFile {
 public:
  // `name` in `env`: a new file, or an existing regular file that reads as
  // archives (InvalidInput otherwise, naming it). Written as a zstd stream
  // when the file is one, or is new and named *.zst. Holds a lock file
  // beside it (`.<name>.lock`) until destroyed, so that two writers never
  // append at once (one's archives would be lost).
  static Result<std::unique_ptr<ArchiveFile>> open(std::shared_ptr<Env> env, const std::string& name, bool sync,
                                                   double lockTimeout);
  // The same for `path` on the real file system.
  static Result<std::unique_ptr<ArchiveFile>> openPath(const std::string& path, bool sync, double lockTimeout);
  ~ArchiveFile();
  ArchiveFile(const ArchiveFile&) = delete;
  ArchiveFile& operator=(const ArchiveFile&) = delete;

  Status add(const BlockArchive& a);
  // FILE as it was and then every archive added, in its place durably (when
  // `sync`). Nothing is written when nothing was added.
  Status commit();

 private:
  ArchiveFile(std::shared_ptr<Env> env, std::string name, bool sync) : env_(std::move(env)), name_(std::move(name)), sync_(sync) {}
  // Whether FILE can be appended to (and whether it is zstd): its size.
  Result<std::uint64_t> examine();
  // The temporary file, holding a copy of FILE's bytes.
  Status start();
  Status write(std::string_view data);

  std::shared_ptr<Env> env_;
  std::string name_, tmp_;
  bool sync_;
  bool exists_ = false, zstd_ = false, committed_ = false;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<WritableFile> out_;
  std::unique_ptr<ZstdWriter> compressor_;
  std::string line_;
};

}  // namespace optdb
