// gc (SPEC §8): the retention rule applied to blocks written elsewhere, on the
// directory backend and on the in-memory one; reads never change.
#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>

#include "mem_raw_storage.hpp"
#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

namespace {

Transforms parseTransforms(const std::string& text) {
  auto j = parseJson(text, "test");
  REQUIRE(j.isOk());
  auto t = decodeTransforms(*j, "test");
  REQUIRE(t.isOk());
  return *t;
}

void commitOne(StorageRepo& repo, Rev rev) {
  const TrxId trx = "t" + std::to_string(rev);
  const std::string text =
      rev == 1 ? R"({"inserts":{"b1":{"header":{"id":"b1","type":"T","collectionId":"c"},"n":[]}}})"
               : R"({"updates":{"b1":[["n",0,0,)" + std::to_string(rev) + "]]}}";
  auto p = repo.pend(PendRequest{trx, parseTransforms(text), std::nullopt, Policy::Continue, 1.0});
  REQUIRE(p.isOk());
  auto c = repo.commit(trx, {"b1"}, rev);
  REQUIRE(c.isOk());
  REQUIRE(c->success);
}

std::vector<std::string> readsAt(StorageRepo& repo, Rev top) {
  std::vector<std::string> out;
  for (Rev r = 1; r <= top; ++r) {
    GetContext ctx;
    ctx.rev = r;
    auto g = repo.get({"b1"}, ctx);
    REQUIRE(g.isOk());
    out.push_back(toJson(g->toJson()));
  }
  return out;
}

struct Counts {
  std::size_t revisions = 0, committed = 0, materialized = 0;
  std::set<TrxId> mats;
};

Counts countItems(RawStorage& raw) {
  auto l = raw.listBlock("b1");
  REQUIRE(l.isOk());
  Counts c;
  c.revisions = l->revisions.size();
  c.committed = l->committed.size();
  c.materialized = l->materialized.size();
  for (const auto& [t, item] : l->materialized) c.mats.insert(t);
  return c;
}

std::size_t problemsOf(RawStorage& raw) {
  std::size_t n = 0;
  auto r = checkStore(raw, CheckOptions{}, [&](const Problem&) { ++n; });
  REQUIRE(r.isOk());
  return n;
}

}  // namespace

TEST_CASE("gc: a trx history migrated to actions keeps what upstream's rule keeps, and reads the same", "[gc]") {
  for (bool memory : {false, true}) {
    INFO((memory ? "memory storage" : "directory on a MemEnv"));
    std::shared_ptr<RawStorage> raw;
    std::shared_ptr<MemEnv> env;
    if (memory) {
      raw = std::make_shared<MemRawStorage>(Dialect::Trx);
    } else {
      env = std::make_shared<MemEnv>();
      raw = std::make_shared<FileRawStorage>(env, true);
      REQUIRE(raw->setStoreDialect(Dialect::Trx).isOk());
    }
    StorageRepo repo(raw);
    for (Rev r = 1; r <= 70; ++r) commitOne(repo, r);
    // trx retention: every 16th revision of the range, and the tip.
    CHECK(countItems(*raw).mats == std::set<TrxId>{"t1", "t17", "t33", "t49", "t65", "t70"});
    auto nothing = repo.gc({}, false);
    REQUIRE(nothing.isOk());
    CHECK(nothing->removed == 0);  // written by optdb's own rule: nothing to collect

    auto m = repo.migrate({}, true, Dialect::Actions);
    REQUIRE(m.isOk());
    const auto before = readsAt(repo, 70);
    const Counts had = countItems(*raw);
    const auto treeBefore = env ? envTree(*env, true) : std::map<std::string, std::string>();

    auto dry = repo.gc({"b1"}, true);
    REQUIRE(dry.isOk());
    CHECK(countItems(*raw).mats == had.mats);  // a dry run removes nothing
    if (env) CHECK(envTree(*env, true) == treeBefore);
    std::set<TrxId> listed;
    for (const auto& [id, d] : dry->listed) {
      CHECK(id == "b1");
      CHECK(d.trxId == "t" + std::to_string(d.rev));
      CHECK(d.bytes > 0);
      listed.insert(d.trxId);
    }
    // actions retention: the range's first revision (1), the tip (70), rev % 32 == 0 (none materialized).
    CHECK(listed == std::set<TrxId>{"t17", "t33", "t49", "t65"});
    CHECK(dry->removed == 4);

    auto real = repo.gc({}, false);
    REQUIRE(real.isOk());
    CHECK(real->removed == dry->removed);
    CHECK(real->bytes == dry->bytes);
    const Counts has = countItems(*raw);
    CHECK(has.mats == std::set<TrxId>{"t1", "t70"});
    CHECK(has.revisions == had.revisions);  // never a revision
    CHECK(has.committed == had.committed);  // never a transform
    CHECK(readsAt(repo, 70) == before);
    CHECK(problemsOf(*raw) == 0);
    auto again = repo.gc({}, false);
    REQUIRE(again.isOk());
    CHECK(again->removed == 0);
  }
}

TEST_CASE("gc: materializations beyond the rule go, the tip and each range's first revision stay", "[gc]") {
  auto env = std::make_shared<MemEnv>();
  auto raw = std::make_shared<FileRawStorage>(env, true, Dialect::Trx);
  StorageRepo repo(raw);
  for (Rev r = 1; r <= 40; ++r) commitOne(repo, r);
  const auto before = readsAt(repo, 40);
  // As a restore from elsewhere might leave them: every revision materialized.
  BlockStorage bs("b1", *raw);
  for (Rev r = 1; r <= 40; ++r) {
    auto state = bs.getBlockAt(r);
    REQUIRE(state.isOk());
    REQUIRE(state->has_value());
    REQUIRE(raw->saveMaterialized("b1", "t" + std::to_string(r), **state).isOk());
  }
  // A materialization no revision names is not gc's to judge.
  REQUIRE(raw->saveMaterialized("b1", "orphan", Json::object()).isOk());
  auto r = repo.gc({"b1"}, false);
  REQUIRE(r.isOk());
  CHECK(r->removed == 40 - 4);
  CHECK(countItems(*raw).mats == std::set<TrxId>{"t1", "t17", "t33", "t40", "orphan"});
  CHECK(readsAt(repo, 40) == before);
}

TEST_CASE("gc: a named block not in the store is NotFound, and nothing is removed", "[gc]") {
  auto env = std::make_shared<MemEnv>();
  auto raw = std::make_shared<FileRawStorage>(env, true, Dialect::Actions);
  StorageRepo repo(raw);
  for (Rev r = 1; r <= 3; ++r) commitOne(repo, r);
  const auto tree = envTree(*env, true);
  auto r = repo.gc({"b1", "nope"}, false);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == Code::NotFound);
  CHECK(envTree(*env, true) == tree);
  auto bad = repo.gc({"a/b"}, true);
  REQUIRE_FALSE(bad.isOk());
  CHECK(bad.status().code() == Code::InvalidInput);
}
