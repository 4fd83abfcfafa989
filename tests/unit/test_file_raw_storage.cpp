// FileRawStorage on its own, on MemEnv and on a real directory alike: how a
// block's dialect and the store's are found and recorded, where each
// dialect's files and revision index go, temporary names, and migrate's
// conversion refusing before it writes.
#include "layout.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/mem_env.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

namespace {

// One Env of each kind, so that every case runs on both.
struct Envs {
  ScratchDir dir{"frs"};
  std::vector<std::pair<std::string, std::shared_ptr<Env>>> all() {
    std::filesystem::create_directories(dir.path / "s");
    return {{"MemEnv", std::make_shared<MemEnv>()}, {"PosixEnv", std::shared_ptr<Env>(newPosixEnv(dir / "s"))}};
  }
};

Transform insert(const BlockId& id) {
  Transform t;
  t.insert = parse(B(id, R"("v":1)"));
  return t;
}

std::string read(Env& env, const std::string& path) {
  auto d = env.readFile(path);
  INFO(path << ": " << d.status().message());
  REQUIRE(d.isOk());
  return *d;
}

bool has(Env& env, const std::string& path) {
  auto t = env.fileType(path);
  REQUIRE(t.isOk());
  return *t != FileType::None;
}

// A first commit of `trx` at `rev` on block `id`, as BlockStorage writes it.
void commitFirst(FileRawStorage& raw, const BlockId& id, const TrxId& trx, Rev rev) {
  auto d = raw.dialect(id);
  REQUIRE(d.isOk());
  REQUIRE(raw.saveMeta(id, newBlockMeta(*d)).isOk());
  REQUIRE(raw.savePending(id, trx, insert(id)).isOk());
  auto before = raw.getMeta(id);
  REQUIRE(before.isOk());
  const BlockMeta after = withLatest(**before, {trx, rev});
  REQUIRE(raw.saveMaterialized(id, trx, *insert(id).insert).isOk());
  REQUIRE(raw.indexRevision(id, **before, after, rev).isOk());
  REQUIRE(raw.saveRevision(id, rev, trx).isOk());
  REQUIRE(raw.promotePending(id, trx).isOk());
  REQUIRE(raw.saveMeta(id, after).isOk());
}

}  // namespace

TEST_CASE("FileRawStorage: each dialect's files, index and settings, on MemEnv and PosixEnv", "[frs]") {
  Envs envs;
  for (auto& [name, env] : envs.all()) {
    for (Dialect d : kDialects) {
      INFO(name << ", " << namesOf(d).name);
      const BlockId id = std::string("b-") + namesOf(d).name;
      FileRawStorage raw(env, true, d);
      commitFirst(raw, id, "t1", 3);
      CHECK(has(*env, layout::committedDir(id, d) + "/t1.json"));
      CHECK(!has(*env, layout::committedDir(id, otherDialect(d))));
      CHECK(has(*env, layout::indexPath(id, d)));
      CHECK(!has(*env, layout::indexPath(id, otherDialect(d))));
      const std::string m = read(*env, id + "/meta.json");
      CHECK(m.find(std::string("\"") + namesOf(d).idMember + "\":\"t1\"") != std::string::npos);
      // A fresh instance with no --layout finds the block's dialect in its files.
      FileRawStorage again(env, true);
      auto found = again.dialect(id);
      REQUIRE(found.isOk());
      CHECK(*found == d);
      auto revs = again.revisions(id, *again.getMeta(id).value());
      REQUIRE(revs.isOk());
      CHECK((*revs)->size() == 1);
    }
    // The first write recorded the store's dialect: trx, the --layout of the first instance.
    CHECK(read(*env, layout::kSettingsPath) == R"({"layout":"trx"})");
  }
}

TEST_CASE("FileRawStorage: the store's dialect from settings.json, then the blocks, then actions", "[frs]") {
  auto env = std::make_shared<MemEnv>();
  {
    FileRawStorage raw(env, true);
    auto d = raw.storeDialect();
    REQUIRE(d.isOk());
    CHECK(*d == Dialect::Actions);  // an empty store
  }
  {
    FileRawStorage raw(env, true, Dialect::Trx);
    commitFirst(raw, "a", "t1", 1);
  }
  REQUIRE(env->removeFile(layout::kSettingsPath).isOk());
  {
    FileRawStorage raw(env, true);
    CHECK(raw.storeDialect().value() == Dialect::Trx);  // the blocks agree
  }
  auto f = env->newWritableFile(layout::kSettingsPath);
  REQUIRE(f.isOk());
  REQUIRE((*f)->append(R"({"layout":"yaml"})").isOk());
  REQUIRE((*f)->close().isOk());
  FileRawStorage raw(env, true);
  CHECK(raw.storeDialect().status().code() == Code::Integrity);
}

TEST_CASE("FileRawStorage: a write killed midway leaves its dialect's temporary name, never a pending", "[frs]") {
  for (Dialect d : kDialects) {
    INFO(namesOf(d).name);
    auto env = std::make_shared<MemEnv>();
    FileRawStorage raw(env, true, d);
    commitFirst(raw, "a", "t1", 1);
    env->crashAfter(2);  // the temporary file created and written, then killed
    CHECK(!raw.savePending("a", "t2", insert("a")).isOk());
    env->crashAfter(std::nullopt);
    auto entries = env->listDir("a/pend");
    REQUIRE(entries.isOk());
    std::vector<std::string> temps;
    for (const auto& e : *entries)
      if (layout::isTempName(e.name)) temps.push_back(e.name);
    REQUIRE(temps.size() == 1);
    CHECK(temps[0].front() == (d == Dialect::Trx ? '.' : 't'));
    CHECK(raw.listPendings("a").value().empty());
  }
}

TEST_CASE("FileRawStorage: converting refuses, before writing, a transform held differently in both dialects", "[frs]") {
  auto env = std::make_shared<MemEnv>();
  FileRawStorage raw(env, true, Dialect::Trx);
  commitFirst(raw, "a", "t1", 1);
  REQUIRE(env->createDir("a/actions").isOk());
  auto f = env->newWritableFile("a/actions/t1.json");
  REQUIRE(f.isOk());
  REQUIRE((*f)->append(R"({"delete":true})").isOk());
  REQUIRE((*f)->close().isOk());
  const auto before = envTree(*env, true);
  CHECK(raw.convertBlock("a", Dialect::Actions).status().code() == Code::Integrity);
  CHECK(envTree(*env, true) == before);
}
