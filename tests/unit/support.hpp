// Helpers shared by the unit tests (header-only; include as "support.hpp").
// Everything lives in namespace optdb::test_support; a test file picks what it
// needs with `using namespace optdb::test_support;` or using-declarations.
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "optdb/archive.hpp"
#include "optdb/codec.hpp"
#include "optdb/env.hpp"
#include "optdb/integrity.hpp"
#include "optdb/storage_repo.hpp"

namespace optdb::test_support {

// An Env that passes every call on to `base`: a test overrides what it watches.
class ForwardingEnv : public Env {
 public:
  explicit ForwardingEnv(std::shared_ptr<Env> base) : base_(std::move(base)) {}
  Result<std::string> readFile(const std::string& p) override { return base_->readFile(p); }
  Result<std::unique_ptr<RandomAccessFile>> newRandomAccessFile(const std::string& p) override {
    return base_->newRandomAccessFile(p);
  }
  Result<std::unique_ptr<WritableFile>> newWritableFile(const std::string& p) override { return base_->newWritableFile(p); }
  Result<std::unique_ptr<WritableFile>> newAppendableFile(const std::string& p) override {
    return base_->newAppendableFile(p);
  }
  Status rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  Status removeFile(const std::string& p) override { return base_->removeFile(p); }
  Status removeDir(const std::string& p) override { return base_->removeDir(p); }
  Status createDir(const std::string& p) override { return base_->createDir(p); }
  Status syncDir(const std::string& p) override { return base_->syncDir(p); }
  Status syncAll() override { return base_->syncAll(); }
  Result<std::vector<DirEntry>> listDir(const std::string& p) override { return base_->listDir(p); }
  Result<FileType> fileType(const std::string& p) override { return base_->fileType(p); }
  Result<std::uint64_t> fileSize(const std::string& p) override { return base_->fileSize(p); }
  Result<std::uint64_t> linkCount(const std::string& p) override { return base_->linkCount(p); }
  std::string bootId() override { return base_->bootId(); }
  Result<std::unique_ptr<FileLock>> lockFile(const std::string& p, LockMode m, double t) override {
    return base_->lockFile(p, m, t);
  }

 private:
  std::shared_ptr<Env> base_;
};

// The bytes of `text`, handed out in random pieces of 1 to `most` bytes: a
// stream for an ArchiveReader or a zstd decompressor.
inline std::function<Result<std::size_t>(char*, std::size_t)> pieces(std::string text, std::size_t most,
                                                                      unsigned seed) {
  auto state = std::make_shared<std::pair<std::string, std::size_t>>(std::move(text), 0);
  auto rng = std::make_shared<std::mt19937>(seed);
  return [state, rng, most](char* buf, std::size_t size) -> Result<std::size_t> {
    auto& [t, pos] = *state;
    std::size_t n = std::min({size, t.size() - pos, std::size_t(1 + (*rng)() % most)});
    std::memcpy(buf, t.data() + pos, n);
    pos += n;
    return n;
  };
}

// Every archive id and where it was read ("b1@in: line 1;…"), then the error if any.
inline std::string readArchiveIds(ArchiveReader reader) {
  std::string out;
  for (;;) {
    auto a = reader.next();
    if (!a) return out + "error: " + a.status().message();
    if (!*a) return out;
    out += (*a)->blockId + "@" + reader.where() + ";";
  }
}

// A fresh directory optdb-<tag>-XXXXXX under the system temporary directory,
// removed with everything in it when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("optdb-" + tag + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A fresh directory on a RAM file system when there is one and $TMPDIR is not
// set (file opens on this machine's disk are about 20x slower), else under the
// system temporary directory; removed with everything in it when the object goes.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tag) {
    static int counter = 0;
    std::filesystem::path base = std::filesystem::temp_directory_path();
    if (!std::getenv("TMPDIR") && ::access("/dev/shm", W_OK) == 0 && std::filesystem::is_directory("/dev/shm"))
      base = "/dev/shm";
    path = base / ("optdb-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// The bytes of a file (empty when it cannot be read).
inline std::string fileBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The bytes of a regular file; nullopt for anything else (missing, a directory, a link).
inline std::optional<std::string> slurp(const std::filesystem::path& p) {
  if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(p))) return std::nullopt;
  return fileBytes(p);
}

// Every directory ("path/" -> "<dir>") and file (path -> bytes) under `dir` of
// an Env; anything else is "<other>". With skipLocks, the lock files (empty,
// created by any writer that takes a lock) are left out: they are not data.
inline void listTree(Env& env, const std::string& dir, std::map<std::string, std::string>& out, bool skipLocks) {
  auto entries = env.listDir(dir);
  REQUIRE(entries.isOk());
  for (const auto& e : *entries) {
    std::string p = dir.empty() ? e.name : dir + "/" + e.name;
    if (skipLocks && (p == ".optdb/locks" || p == ".optdb/store.lock")) continue;
    if (e.type == FileType::Dir) {
      out[p + "/"] = "<dir>";
      listTree(env, p, out, skipLocks);
    } else if (e.type == FileType::File) {
      auto data = env.readFile(p);
      REQUIRE(data.isOk());
      out[p] = *data;
    } else {
      out[p] = "<other>";
    }
  }
}

// The whole tree of an Env, as listTree gives it.
inline std::map<std::string, std::string> envTree(Env& env, bool skipLocks) {
  std::map<std::string, std::string> out;
  listTree(env, "", out, skipLocks);
  return out;
}

// JSON text that must parse.
inline Json parse(const std::string& text) {
  auto j = parseJson(text, "test");
  INFO(text);
  REQUIRE(j.isOk());
  return *j;
}

// A block of type "t" in collection "c" with the given extra members.
inline std::string B(const std::string& id, const std::string& members) {
  return R"({"header":{"id":")" + id + R"(","type":"t","collectionId":"c"},)" + members + "}";
}

// Transforms text that must decode.
inline Transforms T(const std::string& text) {
  auto t = decodeTransforms(parse(text), "transforms");
  INFO(text << ": " << t.status().message());
  REQUIRE(t.isOk());
  return *t;
}

// A pend (default policy and timeout) that must succeed and pend.
inline void pendOk(StorageRepo& repo, const TrxId& trx, const std::string& transforms, std::optional<Rev> rev = {}) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = T(transforms);
  req.rev = rev;
  auto r = repo.pend(req);
  INFO("pend " << trx << ": " << r.status().message());
  REQUIRE(r.isOk());
  INFO(toJson(r->toJson()));
  REQUIRE(r->outcome == PendResult::Outcome::Pended);
}

// A commit that must succeed.
inline void commitOk(StorageRepo& repo, const TrxId& trx, const std::vector<BlockId>& ids, Rev rev) {
  auto r = repo.commit(trx, ids, rev);
  INFO("commit " << trx << "@" << rev << ": " << r.status().message());
  REQUIRE(r.isOk());
  INFO(toJson(r->toJson()));
  REQUIRE(r->success);
}

// The block `id` as get reads it (at `rev`, or latest): its JSON text,
// "<absent>", or "<not found>".
inline std::string readBlock(StorageRepo& repo, const BlockId& id, std::optional<Rev> rev = {}) {
  GetContext ctx;
  ctx.rev = rev;
  auto r = repo.get({id}, ctx);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  const auto& st = r->blocks.at(0).second;
  if (st.notFound) return "<not found>";
  return st.block ? toJson(*st.block) : "<absent>";
}

// Problems one a line, for INFO.
inline std::string describe(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.path + " [" + p.kind + "] " + p.message + "\n";
  return s;
}

}  // namespace optdb::test_support
