// forget's archive file: appended to by writing it anew beside itself.
#include "optdb/archive_file.hpp"

#include <fmt/format.h>

namespace optdb {

namespace {

std::pair<std::string, std::string> splitName(const std::string& name) {
  auto slash = name.rfind('/');
  if (slash == std::string::npos) return {"", name};
  return {name.substr(0, slash), name.substr(slash + 1)};
}

std::string beside(const std::string& name, const std::string& suffix) {
  auto [dir, base] = splitName(name);
  return (dir.empty() ? "" : dir + "/") + "." + base + suffix;
}

// Reads `file` from the start, in pieces.
ByteReadFn readerOf(RandomAccessFile& file) {
  auto offset = std::make_shared<std::uint64_t>(0);
  return [&file, offset](char* buf, std::size_t size) -> Result<std::size_t> {
    OPTDB_ASSIGN(auto piece, file.read(*offset, size));
    std::copy(piece.begin(), piece.end(), buf);
    *offset += piece.size();
    return piece.size();
  };
}

}  // namespace

Result<std::uint64_t> ArchiveFile::examine() {
  OPTDB_ASSIGN(const FileType type, env_->fileType(name_));
  if (type != FileType::None && type != FileType::File)
    return Status::invalid(fmt::format("{}: not a regular file (forget appends to an archive file)", name_));
  exists_ = type == FileType::File;
  zstd_ = namesZstdFile(name_);
  if (!exists_) return std::uint64_t{0};
  // Every archive in it must read back, or appending would bury ours in a file no restore reads.
  OPTDB_ASSIGN(auto file, env_->newRandomAccessFile(name_));
  OPTDB_ASSIGN(auto head, file->read(0, 4));
  zstd_ = startsWithZstdMagic(head);
  ArchiveReader reader(readerOf(*file), name_);
  for (;;) {
    auto next = reader.next();
    if (!next)
      return Status::invalid(fmt::format("{} is not an archive file forget can append to: {}", name_, next.status().message()));
    if (!*next) break;
  }
  return file->size();
}

Result<std::unique_ptr<ArchiveFile>> ArchiveFile::open(std::shared_ptr<Env> env, const std::string& name, bool sync,
                                                       double lockTimeout) {
  std::unique_ptr<ArchiveFile> f(new ArchiveFile(std::move(env), name, sync));
  // Refused before the lock file is made: bad input writes nothing. Looked
  // at again under the lock when another writer appended meanwhile.
  OPTDB_ASSIGN(const std::uint64_t size, f->examine());
  OPTDB_ASSIGN(f->lock_, f->env_->lockFile(beside(name, ".lock"), LockMode::Exclusive, lockTimeout));
  OPTDB_ASSIGN(const FileType type, f->env_->fileType(name));
  OPTDB_ASSIGN(const std::uint64_t now, type == FileType::File ? f->env_->fileSize(name) : Result<std::uint64_t>(0));
  if (type != (f->exists_ ? FileType::File : FileType::None) || now != size) OPTDB_TRY(f->examine().status());
  return f;
}

Result<std::unique_ptr<ArchiveFile>> ArchiveFile::openPath(const std::string& path, bool sync, double lockTimeout) {
  auto [dir, base] = splitName(path);
  if (base.empty() || base == "." || base == "..") return Status::invalid(fmt::format("{}: not a file name", path));
  std::shared_ptr<Env> env = newPosixEnv(path.front() == '/' && dir.empty() ? "/" : dir.empty() ? "." : dir);
  return open(std::move(env), base, sync, lockTimeout);
}

ArchiveFile::~ArchiveFile() {
  if (out_ && !committed_) {
    compressor_.reset();
    (void)out_->close();
    (void)env_->removeFile(tmp_);
  }
}

Status ArchiveFile::start() {
  tmp_ = beside(name_, ".tmp");
  OPTDB_ASSIGN(out_, env_->newWritableFile(tmp_));
  if (exists_) {
    OPTDB_ASSIGN(auto file, env_->newRandomAccessFile(name_));
    constexpr std::size_t kPiece = 1 << 20;
    for (std::uint64_t at = 0; at < file->size(); at += kPiece) {
      OPTDB_ASSIGN(auto piece, file->read(at, kPiece));
      OPTDB_TRY(out_->append(piece));
    }
  }
  // A new zstd frame after the old ones: readers decompress frame after frame.
  if (zstd_) {
    OPTDB_ASSIGN(compressor_, ZstdWriter::open([this](std::string_view d) { return out_->append(d); }));
  }
  return Status::ok();
}

Status ArchiveFile::write(std::string_view data) { return compressor_ ? compressor_->write(data) : out_->append(data); }

Status ArchiveFile::add(const BlockArchive& a) {
  if (!out_) OPTDB_TRY(start());
  line_.clear();
  appendArchiveLine(line_, a);
  return write(line_);
}

Status ArchiveFile::commit() {
  if (!out_ || committed_) return Status::ok();
  if (compressor_) OPTDB_TRY(compressor_->finish());
  if (sync_) OPTDB_TRY(out_->sync());
  OPTDB_TRY(out_->close());
  OPTDB_TRY(env_->rename(tmp_, name_));
  committed_ = true;
  return sync_ ? env_->syncDir(splitName(name_).first) : Status::ok();
}

}  // namespace optdb
