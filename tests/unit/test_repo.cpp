// The operations of SPEC §3 through StorageRepo, on a MemEnv and on a real
// directory opened with openStore().
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "optdb/transform.hpp"
#include "rados_support.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

namespace {

// One store, reached through any backend. `another()` opens a second,
// independent StorageRepo on the same store (another process, in effect).
struct Store {
  std::string kind;
  std::shared_ptr<MemEnv> mem;
  std::unique_ptr<TempDir> dir;
  std::string rados;  // rados:POOL/NAMESPACE
  std::unique_ptr<StorageRepo> repo;

  static Store make(const std::string& kind) {
    Store s;
    s.kind = kind;
    if (kind == "mem") {
      s.mem = std::make_shared<MemEnv>();
    } else if (kind == "rados") {
      s.rados = freshRadosStore("repo");
    } else {
      s.dir = std::make_unique<TempDir>("repo");
    }
    s.repo = s.another();
    return s;
  }
  std::unique_ptr<StorageRepo> another() const {
    if (mem) return std::make_unique<StorageRepo>(std::make_shared<FileRawStorage>(mem, true, Dialect::Trx));
    if (!rados.empty())
      return std::make_unique<StorageRepo>(std::make_shared<RadosRawStorage>(rados, testRadosOptions(Dialect::Trx)),
                                           StoreOptions{true, 30.0, Dialect::Trx, {}});
    // fsync costs ~10 ms here; durability is the crash test's business.
    return openStore(dir->path(), StoreOptions{false, 30.0, Dialect::Trx, {}});
  }
  // Where the store is files (mem, posix): tests of file names use it.
  bool onFiles() const { return rados.empty(); }
  Env& env() { return dynamic_cast<FileRawStorage&>(repo->raw()).env(); }
  // Everything the store holds (for "nothing written" checks).
  std::map<std::string, std::string> tree();
  // What the store holds at `file` (on files) or `object` (rados: an object, or object#key).
  std::optional<std::string> at(const std::string& file, const std::string& object) {
    auto t = tree();
    auto it = t.find(onFiles() ? file : object);
    return it == t.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  StorageRepo& operator*() { return *repo; }
  StorageRepo* operator->() { return repo.get(); }
};

// Every directory and file under the store, with the files' bytes; lock files
// (empty, created by any writer that takes a lock) are not data.
std::map<std::string, std::string> tree(Env& env) { return envTree(env, /*skipLocks=*/true); }

std::map<std::string, std::string> Store::tree() { return onFiles() ? ::tree(env()) : radosTree(rados); }

PendResult pend(StorageRepo& repo, const TrxId& trx, const std::string& transforms, std::optional<Rev> rev = {},
                Policy policy = Policy::Continue, double timeout = 30) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = T(transforms);
  req.rev = rev;
  req.policy = policy;
  req.timeoutSeconds = timeout;
  auto r = repo.pend(req);
  INFO("pend " << trx << ": " << r.status().message());
  REQUIRE(r.isOk());
  return *r;
}

// pend + commit.
void apply(StorageRepo& repo, const TrxId& trx, const std::string& transforms, Rev rev) {
  pendOk(repo, trx, transforms, rev);
  commitOk(repo, trx, T(transforms).blockIds(), rev);
}

BlockState state(StorageRepo& repo, const BlockId& id, const GetContext& ctx = {}) {
  auto r = repo.get({id}, ctx);
  INFO("get " << id << ": " << r.status().message());
  REQUIRE(r.isOk());
  REQUIRE(r->blocks.size() == 1);
  CHECK(r->blocks[0].first == id);
  return r->blocks[0].second;
}

// The block as JSON text, "<absent>" when absent.
std::string read(StorageRepo& repo, const BlockId& id, std::optional<Rev> rev = {}) {
  GetContext ctx;
  ctx.rev = rev;
  auto s = state(repo, id, ctx);
  INFO(id << "@" << (rev ? std::to_string(*rev) : "latest") << ": " << s.notFound.value_or(""));
  CHECK_FALSE(s.notFound);
  return s.block ? toJson(*s.block) : "<absent>";
}

std::string getJson(StorageRepo& repo, const std::vector<BlockId>& ids, const GetContext& ctx = {}) {
  auto r = repo.get(ids, ctx);
  REQUIRE(r.isOk());
  return toJson(r->toJson());
}

#define BACKEND() const std::string backend = GENERATE(from_range(testBackends({"mem", "posix"}))); \
  INFO("backend " << backend); \
  Store s = Store::make(backend)

}  // namespace

TEST_CASE("pend, commit and get: results in the documented shape", "[repo]") {
  BACKEND();
  // blockIds: inserts, then updates, then deletes, first-seen order.
  auto p = pend(*s, "t1",
                R"({"inserts":{"b":)" + B("b", R"("l":[])") + R"(,"a":)" + B("a", R"("l":[])") +
                    R"(},"updates":{"a":[["l",0,0,[1]]],"c":[["l",0,0,[1]]]},"deletes":["d","b"]})");
  CHECK(toJson(p.toJson()) == R"({"success":true,"pending":[],"blockIds":["b","a","c","d"]})");
  auto never = state(*s, "zz");
  CHECK_FALSE(never.block);
  CHECK_FALSE(never.latest);
  CHECK(never.pendings.empty());
  CHECK(getJson(*s, {"zz"}) == R"({"zz":{"state":{"pendings":[]}}})");
  // Pended but never committed: absent, with its pending listed.
  CHECK(getJson(*s, {"a", "b"}) == R"({"a":{"state":{"pendings":["t1"]}},"b":{"state":{"pendings":["t1"]}}})");
  s->cancel("t1", {"a", "b", "c", "d"}).value();

  apply(*s, "t2", R"({"inserts":{"a":)" + B("a", R"("l":[],"n":1)") + R"(,"b":)" + B("b", R"("x":"y")") + "}}", 1);
  // Distinct ids in first-seen order.
  CHECK(getJson(*s, {"b", "a", "b"}) ==
        R"({"b":{"block":)" + B("b", R"("x":"y")") + R"(,"state":{"latest":{"trxId":"t2","rev":1},"pendings":[]}},)" +
            R"("a":{"block":)" + B("a", R"("l":[],"n":1)") +
            R"(,"state":{"latest":{"trxId":"t2","rev":1},"pendings":[]}}})");
  auto r = s->get({"a", "never"});
  REQUIRE(r.isOk());
  CHECK(r->anyMissing());
  r = s->get({"a", "b"});
  REQUIRE(r.isOk());
  CHECK_FALSE(r->anyMissing());

  // Any id obeying the rules works, not only base64url.
  const std::string longId(255, 'x');
  for (const std::string& id : {std::string("\xc3\xa9 \xe2\x9c\x93"), std::string("-dash"), std::string("a b"), longId}) {
    INFO("block id " << id);
    apply(*s, "u" + std::to_string(id.size()), R"({"inserts":{")" + id + R"(":)" + B(id, R"("v":1)") + "}}", 2);
    CHECK(read(*s, id) == B(id, R"("v":1)"));
  }
  // Bad input is refused.
  CHECK(s->get({std::string(256, 'x')}).status().code() == Code::InvalidInput);
  CHECK(s->get({"a/b"}).status().code() == Code::InvalidInput);
  CHECK(s->get({std::string("a\x01")}).status().code() == Code::InvalidInput);
  CHECK(s->get({"../x"}).status().code() == Code::InvalidInput);
  CHECK(s->get({}).status().code() == Code::InvalidInput);
  CHECK(s->commit("t2", {"a"}, 0).status().code() == Code::InvalidInput);
  CHECK(s->commit("bad id!", {"a"}, 3).status().code() == Code::InvalidInput);
  CHECK(s->cancel("t2", {".hidden"}).status().code() == Code::InvalidInput);
  PendRequest empty;
  empty.trxId = "t9";
  CHECK(s->pend(empty).status().code() == Code::InvalidInput);
}

TEST_CASE("stale pend and stale commit list what is missing", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"b":)" + B("b", R"("l":[])") + "}}", 1);
  apply(*s, "t2", R"({"inserts":{"c":)" + B("c", R"("l":[])") + R"(},"updates":{"b":[["l",0,0,[2]]]}})", 2);
  apply(*s, "t3", R"({"updates":{"a":[["l",0,0,[3]]],"c":[["l",0,0,[3]]]}})", 3);
  apply(*s, "t4", R"({"updates":{"a":[["l",0,0,[5]]],"b":[["l",0,0,[5]]]}})", 5);
  auto before = s.tree();

  // One entry per transaction, sorted by rev, restricted to the blocks asked about (c is not).
  auto p = pend(*s, "t9", R"({"updates":{"a":[["l",0,0,[9]]],"b":[["l",0,0,[9]]]}})", 2);
  CHECK(p.outcome == PendResult::Outcome::Stale);
  CHECK(toJson(p.toJson()) ==
        R"({"success":false,"missing":[)"
        R"({"trxId":"t2","rev":2,"transforms":{"inserts":{},"updates":{"b":[["l",0,0,[2]]]},"deletes":[]}},)"
        R"({"trxId":"t3","rev":3,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[3]]]},"deletes":[]}},)"
        R"({"trxId":"t4","rev":5,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[5]]],"b":[["l",0,0,[5]]]},"deletes":[]}}]})");
  CHECK(s.tree() == before);  // nothing written

  // rev = latest: the latest is missing.
  p = pend(*s, "t9", R"({"updates":{"b":[["l",0,0,[9]]]}})", 5);
  CHECK(toJson(p.toJson()) ==
        R"({"success":false,"missing":[{"trxId":"t4","rev":5,"transforms":{"inserts":{},"updates":{"b":[["l",0,0,[5]]]},"deletes":[]}}]})");
  // An insert without rev is checked from 0: every revision of the block.
  p = pend(*s, "t9", R"({"inserts":{"a":)" + B("a", R"("l":["new"])") + "}}");
  CHECK(toJson(p.toJson()) ==
        R"({"success":false,"missing":[)"
        R"({"trxId":"t1","rev":1,"transforms":{"inserts":{"a":)" + B("a", R"("l":[])") + R"(},"updates":{},"deletes":[]}},)"
        R"({"trxId":"t3","rev":3,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[3]]]},"deletes":[]}},)"
        R"({"trxId":"t4","rev":5,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[5]]]},"deletes":[]}}]})");
  CHECK(s.tree() == before);

  // Updates without rev are not checked; rev above latest is not stale.
  pendOk(*s, "t10", R"({"updates":{"a":[["l",0,0,[10]]]}})");
  pendOk(*s, "t11", R"({"updates":{"a":[["l",0,0,[11]]],"c":[["l",0,0,[11]]]}})", 6);
  before = s.tree();

  // Commit at a rev some blocks already hold.
  auto c = s->commit("t11", {"a", "c"}, 3);
  REQUIRE(c.isOk());
  CHECK_FALSE(c->success);
  CHECK(toJson(c->toJson()) ==
        R"({"success":false,"missing":[)"
        R"({"trxId":"t3","rev":3,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[3]]],"c":[["l",0,0,[3]]]},"deletes":[]}},)"
        R"({"trxId":"t4","rev":5,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[5]]]},"deletes":[]}}]})");
  CHECK(s.tree() == before);
  // Only c is stale at 4; a (latest 5) too at 5.
  c = s->commit("t11", {"c"}, 4);
  REQUIRE(c.isOk());
  CHECK(c->success);
  c = s->commit("t11", {"a"}, 5);
  REQUIRE(c.isOk());
  CHECK(toJson(c->toJson()) ==
        R"({"success":false,"missing":[{"trxId":"t4","rev":5,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,[5]]]},"deletes":[]}}]})");
  commitOk(*s, "t11", {"a"}, 6);
  CHECK(read(*s, "a") == B("a", R"("l":[11,5,3])"));
  CHECK(read(*s, "c") == B("c", R"("l":[11,3])"));
  CHECK(state(*s, "a").latest == TrxRev{"t11", 6});
  CHECK(state(*s, "c").latest == TrxRev{"t11", 4});
  CHECK(state(*s, "a").pendings == std::vector<TrxId>{"t10"});
}

TEST_CASE("pending policies c, f, r and w", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"b":)" + B("b", R"("l":[])") + "}}", 1);
  auto p = pend(*s, "p1", R"({"updates":{"a":[["l",0,0,["p1"]]]}})");
  CHECK(toJson(p.toJson()) == R"({"success":true,"pending":[],"blockIds":["a"]})");
  const std::string p2 = R"({"updates":{"a":[["l",0,0,["p2"]]],"b":[["l",0,0,["p2"]]]}})";
  auto before = s.tree();

  p = pend(*s, "p2", p2, std::nullopt, Policy::Fail);
  CHECK(p.outcome == PendResult::Outcome::PendingConflict);
  CHECK(toJson(p.toJson()) == R"({"success":false,"pending":[{"blockId":"a","trxId":"p1"}]})");
  CHECK(s.tree() == before);

  p = pend(*s, "p2", p2, std::nullopt, Policy::Return);
  CHECK(p.outcome == PendResult::Outcome::PendingConflict);
  CHECK(toJson(p.toJson()) ==
        R"({"success":false,"pending":[{"blockId":"a","trxId":"p1","transform":{"updates":[["l",0,0,["p1"]]]}}]})");
  CHECK(s.tree() == before);

  p = pend(*s, "p2", p2, std::nullopt, Policy::Continue);
  CHECK(toJson(p.toJson()) ==
        R"({"success":true,"pending":[{"blockId":"a","trxId":"p1"}],"blockIds":["a","b"]})");
  CHECK(state(*s, "a").pendings == std::vector<TrxId>{"p1", "p2"});
  CHECK(state(*s, "b").pendings == std::vector<TrxId>{"p2"});

  // Re-pending one's own transaction is not a conflict.
  p = pend(*s, "p2", p2, std::nullopt, Policy::Fail);
  CHECK(toJson(p.toJson()) == R"({"success":false,"pending":[{"blockId":"a","trxId":"p1"}]})");

  // w, and the pending never goes: answered as f once the timeout passes.
  before = s.tree();
  auto t0 = std::chrono::steady_clock::now();
  p = pend(*s, "p3", R"({"updates":{"b":[["l",0,0,["p3"]]]}})", std::nullopt, Policy::Wait, 0.2);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(p.outcome == PendResult::Outcome::PendingConflict);
  CHECK(toJson(p.toJson()) == R"({"success":false,"pending":[{"blockId":"b","trxId":"p2"}]})");
  CHECK(waited >= 0.19);
  CHECK(waited < 5);
  CHECK(s.tree() == before);

  // w, and another writer cancels the pending meanwhile.
  {
    std::unique_ptr<StorageRepo> other = s.another();
    Status cancelled;
    PendRequest req;
    req.trxId = "p3";
    req.transforms = T(R"({"updates":{"b":[["l",0,0,["p3"]]]}})");
    req.policy = Policy::Wait;
    req.timeoutSeconds = 20;
    t0 = std::chrono::steady_clock::now();  // before the cancel can happen
    std::thread th([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto r = other->cancel("p2", {"a", "b"});
      cancelled = r.status();
    });
    auto r = s->pend(req);
    waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    th.join();
    CHECK(cancelled.isOk());
    INFO(r.status().message());
    REQUIRE(r.isOk());
    p = *r;
    CHECK(toJson(p.toJson()) == R"({"success":true,"pending":[],"blockIds":["b"]})");
    CHECK(waited >= 0.09);
    CHECK(waited < 10);
    CHECK(state(*s, "b").pendings == std::vector<TrxId>{"p3"});
  }

  // w, the pending is committed meanwhile: pend runs again from the start, stale check included.
  {
    std::unique_ptr<StorageRepo> other = s.another();
    Status committed;
    bool success = false;
    PendRequest req;
    req.trxId = "p4";
    req.transforms = T(R"({"updates":{"a":[["l",0,0,["p4"]]]}})");
    req.rev = 2;
    req.policy = Policy::Wait;
    req.timeoutSeconds = 20;
    std::thread th([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto r = other->commit("p1", {"a"}, 2);
      committed = r.status();
      success = r.isOk() && r->success;
    });
    auto r = s->pend(req);
    th.join();
    INFO(r.status().message());
    REQUIRE(r.isOk());
    p = *r;
    CHECK(committed.isOk());
    CHECK(success);
    CHECK(p.outcome == PendResult::Outcome::Stale);
    CHECK(toJson(p.toJson()) ==
          R"({"success":false,"missing":[{"trxId":"p1","rev":2,"transforms":{"inserts":{},"updates":{"a":[["l",0,0,["p1"]]]},"deletes":[]}}]})");
    CHECK(state(*s, "a").pendings.empty());
  }
}

TEST_CASE("commit: retries, partial commits, not-pending", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"b":)" + B("b", R"("l":[])") + "}}", 1);
  auto before = s.tree();
  // Committing again at the same rev is a retry: it succeeds and changes nothing.
  commitOk(*s, "t1", {"a", "b"}, 1);
  commitOk(*s, "t1", {"b"}, 1);
  CHECK(s.tree() == before);
  apply(*s, "t2", R"({"updates":{"a":[["l",0,0,[2]]]}})", 2);
  commitOk(*s, "t1", {"a", "b"}, 1);  // still a retry on a block with newer revisions
  CHECK(read(*s, "a") == B("a", R"("l":[2])"));
  // At another rev it is stale.
  auto c = s->commit("t1", {"a"}, 2);
  REQUIRE(c.isOk());
  CHECK_FALSE(c->success);

  // Not pending on every block: not found, naming the block; nothing written.
  pendOk(*s, "t3", R"({"updates":{"a":[["l",0,0,[3]]]}})");
  before = s.tree();
  c = s->commit("t3", {"a", "bee"}, 3);
  CHECK(c.status().code() == Code::NotFound);
  CHECK(c.status().message().find("bee") != std::string::npos);
  CHECK(s.tree() == before);
  c = s->commit("nope", {"a"}, 3);
  CHECK(c.status().code() == Code::NotFound);
  CHECK(s.tree() == before);

  // A commit whose revision file was written on one block before it stopped:
  // the retry finishes that block and commits the other.
  pendOk(*s, "t4", R"({"updates":{"a":[["l",0,0,[4]]],"b":[["l",0,0,[4]]]}})");
  REQUIRE(s->raw().saveRevision("b", 4, "t4").isOk());
  commitOk(*s, "t4", {"a", "b"}, 4);
  CHECK(read(*s, "a") == B("a", R"("l":[4,2])"));
  CHECK(read(*s, "b") == B("b", R"("l":[4])"));
  CHECK(state(*s, "b").latest == TrxRev{"t4", 4});
  CHECK(state(*s, "b").pendings == std::vector<TrxId>{});
  CHECK(state(*s, "a").pendings == std::vector<TrxId>{"t3"});
  auto committed = s->raw().getCommitted("b", "t4");
  REQUIRE(committed.isOk());
  CHECK(committed->has_value());
}

TEST_CASE("get catches up through context.committed", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"b":)" + B("b", R"("l":[])") + "}}", 1);
  pendOk(*s, "t2", R"({"updates":{"a":[["l",-1,0,["t2"]]],"b":[["l",-1,0,["t2"]]]}})");
  GetContext ctx;
  ctx.committed = {{"t2", 4}, {"t1", 1}, {"unknown", 9}};
  auto st = state(*s, "a", ctx);
  REQUIRE(st.block);
  CHECK(toJson(*st.block) == B("a", R"("l":["t2"])"));
  CHECK(st.latest == TrxRev{"t2", 4});
  CHECK(st.pendings.empty());
  // b was not asked about: untouched.
  CHECK(state(*s, "b").latest == TrxRev{"t1", 1});
  CHECK(state(*s, "b").pendings == std::vector<TrxId>{"t2"});
  CHECK(read(*s, "b") == B("b", R"("l":[])"));
  // Asked again: b catches up at the same rev; a is past it.
  auto r = s->get({"a", "b"}, ctx);
  REQUIRE(r.isOk());
  CHECK(r->blocks[1].second.latest == TrxRev{"t2", 4});
  CHECK(read(*s, "b") == B("b", R"("l":["t2"])"));
  CHECK(read(*s, "b", 3) == B("b", R"("l":[])"));

  // Several, applied in ascending rev order whatever the order given.
  pendOk(*s, "t3", R"({"updates":{"a":[["l",-1,0,["t3"]]]}})");
  pendOk(*s, "t4", R"({"updates":{"a":[["l",-1,0,["t4"]]]}})");
  ctx.committed = {{"t4", 9}, {"t3", 7}};
  st = state(*s, "a", ctx);
  CHECK(st.latest == TrxRev{"t4", 9});
  REQUIRE(st.block);
  // Each inserts before the last element: t3 then t4 gives [t3,t4,t2]; t4 then t3 would give [t4,t3,t2].
  CHECK(toJson(*st.block) == B("a", R"("l":["t3","t4","t2"])"));
  CHECK(read(*s, "a", 7) == B("a", R"("l":["t3","t2"])"));
  CHECK(read(*s, "a", 8) == B("a", R"("l":["t3","t2"])"));
  // An entry at or below latest is not caught up even when pending.
  pendOk(*s, "t5", R"({"updates":{"a":[["l",0,0,["t5"]]]}})");
  ctx.committed = {{"t5", 9}};
  st = state(*s, "a", ctx);
  CHECK(st.latest == TrxRev{"t4", 9});
  CHECK(st.pendings == std::vector<TrxId>{"t5"});
  // A transform that cannot apply here leaves that block unread and reported
  // (exit 3), unchanged; the other blocks asked for are read as usual.
  pendOk(*s, "t7", R"({"updates":{"b":[["missing",0,0,[1]]]}})");
  ctx.committed = {{"t7", 10}};
  auto both = s->get({"b", "a"}, ctx);
  REQUIRE(both.isOk());
  CHECK(both->anyMissing());
  const auto& bs = both->blocks[0].second;
  CHECK_FALSE(bs.block);
  REQUIRE(bs.notFound);
  CHECK(bs.notFound->find("cannot catch up with t7 at revision 10") != std::string::npos);
  CHECK(bs.latest == TrxRev{"t2", 4});
  CHECK(bs.pendings == std::vector<TrxId>{"t7"});
  CHECK_FALSE(both->blocks[1].second.notFound);
  CHECK(both->blocks[1].second.latest == TrxRev{"t4", 9});
  CHECK(read(*s, "b") == B("b", R"("l":["t2"])"));
  // A pended block that was never committed catches up too (all entries count).
  pendOk(*s, "t6", R"({"inserts":{"n":)" + B("n", R"("v":1)") + "}}");
  ctx.committed = {{"t6", 2}};
  st = state(*s, "n", ctx);
  CHECK(st.latest == TrxRev{"t6", 2});
  REQUIRE(st.block);
  CHECK(toJson(*st.block) == B("n", R"("v":1)"));
}

TEST_CASE("get with context.trxId overlays that pending transform", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[1])") + "}}", 1);
  pendOk(*s, "t2", R"({"updates":{"a":[["l",1,0,[2]]]}})");
  pendOk(*s, "t3", R"({"updates":{"a":[["l",0,1,[]]]}})");
  GetContext ctx;
  ctx.trxId = "t2";
  CHECK(getJson(*s, {"a"}, ctx) == R"({"a":{"block":)" + B("a", R"("l":[1,2])") +
                                        R"(,"state":{"latest":{"trxId":"t1","rev":1},"pendings":["t2"]}}})");
  // Nothing changed underneath.
  CHECK(read(*s, "a") == B("a", R"("l":[1])"));
  CHECK(state(*s, "a").pendings == std::vector<TrxId>{"t2", "t3"});
  // Over a historical revision.
  apply(*s, "t4", R"({"updates":{"a":[["l",0,0,[0]]]}})", 5);
  ctx.rev = 3;
  auto st = state(*s, "a", ctx);
  REQUIRE(st.block);
  CHECK(toJson(*st.block) == B("a", R"("l":[1,2])"));
  ctx.rev.reset();
  st = state(*s, "a", ctx);
  REQUIRE(st.block);
  CHECK(toJson(*st.block) == B("a", R"("l":[0,2,1])"));
  // Not pending: not found.
  ctx.trxId = "t9";
  auto r = s->get({"a"}, ctx);
  REQUIRE(r.isOk());
  CHECK(r->anyMissing());
  CHECK(r->blocks[0].second.notFound);
  CHECK_FALSE(r->blocks[0].second.block);  // never the committed block dressed as the overlay
  CHECK(r->blocks[0].second.pendings == std::vector<TrxId>{"t9"});
  // Committed is not pending either.
  ctx.trxId = "t4";
  r = s->get({"a"}, ctx);
  REQUIRE(r.isOk());
  CHECK(r->anyMissing());
  // A pending insert on a block never committed.
  pendOk(*s, "t5", R"({"inserts":{"n":)" + B("n", R"("v":1)") + "}}");
  ctx.trxId = "t5";
  st = state(*s, "n", ctx);
  REQUIRE(st.block);
  CHECK(toJson(*st.block) == B("n", R"("v":1)"));
  CHECK_FALSE(st.latest);
  CHECK_FALSE(st.notFound);
}

TEST_CASE("reads at historical and sparse revisions, deleted and never-written blocks", "[repo]") {
  BACKEND();
  apply(*s, "r1", R"({"inserts":{"x":)" + B("x", R"("v":1)") + "}}", 1);
  apply(*s, "r7", R"({"updates":{"x":[["v",0,0,7]]}})", 7);
  apply(*s, "r4012", R"({"updates":{"x":[["v",0,0,4012]]}})", 4012);
  CHECK(read(*s, "x", 0) == "<absent>");
  for (Rev r : {1, 2, 6}) CHECK(read(*s, "x", r) == B("x", R"("v":1)"));
  for (Rev r : {7, 8, 100, 4011}) CHECK(read(*s, "x", r) == B("x", R"("v":7)"));
  for (Rev r : {4012, 4013, 1000000}) CHECK(read(*s, "x", r) == B("x", R"("v":4012)"));
  CHECK(read(*s, "x") == B("x", R"("v":4012)"));
  GetContext ctx;
  ctx.rev = 3;
  CHECK(state(*s, "x", ctx).latest == TrxRev{"r4012", 4012});  // latest is the block's, whatever the target

  apply(*s, "d5000", R"({"deletes":["x"]})", 5000);
  CHECK(read(*s, "x") == "<absent>");
  CHECK(read(*s, "x", 5000) == "<absent>");
  CHECK(read(*s, "x", 4999) == B("x", R"("v":4012)"));
  auto st = state(*s, "x");
  CHECK(st.latest == TrxRev{"d5000", 5000});
  CHECK_FALSE(st.block);
  CHECK(s->get({"x"}).value().anyMissing());
  // Re-inserted.
  apply(*s, "i6000", R"({"inserts":{"x":)" + B("x", R"("v":"again")") + "}}", 6000);
  CHECK(read(*s, "x") == B("x", R"("v":"again")"));
  CHECK(read(*s, "x", 5999) == "<absent>");
  CHECK(read(*s, "x", 7) == B("x", R"("v":7)"));

  // Never written: absent, no latest, no error.
  CHECK(read(*s, "nothing") == "<absent>");
  CHECK(read(*s, "nothing", 5) == "<absent>");
  CHECK(s->get({"nothing"}).value().anyMissing());
  // A block with only a pending insert reads absent too.
  pendOk(*s, "p1", R"({"inserts":{"y":)" + B("y", R"("v":1)") + "}}");
  CHECK(read(*s, "y") == "<absent>");
  CHECK(state(*s, "y").pendings == std::vector<TrxId>{"p1"});
}

TEST_CASE("a commit that cannot apply fails whole with nothing written", "[repo]") {
  BACKEND();
  apply(*s, "t1",
        R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"strb":)" + B("strb", R"("s":"str")") + R"(,"deld":)" +
            B("deld", R"("l":[])") + "}}",
        1);
  apply(*s, "t2", R"({"deletes":["deld"]})", 2);

  // A bad splice on b.
  pendOk(*s, "bad1", R"({"updates":{"a":[["l",0,0,[1]]],"strb":[["s",0,0,["x"]]]}})");
  auto before = s.tree();
  auto c = s->commit("bad1", {"a", "strb"}, 3);
  CHECK(c.status().code() == Code::InvalidInput);
  CHECK(c.status().message().find("strb") != std::string::npos);
  CHECK(s.tree() == before);
  // Listing the bad block first changes nothing.
  c = s->commit("bad1", {"strb", "a"}, 3);
  CHECK(c.status().code() == Code::InvalidInput);
  CHECK(s.tree() == before);
  // A splice on a missing member.
  pendOk(*s, "bad2", R"({"updates":{"a":[["l",0,0,[1]],["nope",0,0,[1]]]}})");
  before = s.tree();
  CHECK(s->commit("bad2", {"a"}, 3).status().code() == Code::InvalidInput);
  CHECK(s.tree() == before);

  // Updates to a block deleted at its latest revision (deld), and to a block
  // never written (ghost; pend accepts them: it is decided at commit).
  for (const auto& [trx, bad] : std::vector<std::pair<std::string, std::string>>{{"bad3", "deld"}, {"bad4", "ghost"}}) {
    INFO(trx << " updates " << bad);
    pendOk(*s, trx, R"({"updates":{"a":[["l",0,0,[1]]],")" + bad + R"(":[["l",0,0,[1]]]}})");
    before = s.tree();
    c = s->commit(trx, {"a", bad}, 3);
    CHECK(c.status().code() == Code::InvalidInput);
    CHECK(c.status().message().find(bad) != std::string::npos);
    CHECK(s.tree() == before);
  }

  CHECK(read(*s, "a") == B("a", R"("l":[])"));
  CHECK(state(*s, "a").latest == TrxRev{"t1", 1});
  CHECK(state(*s, "a").pendings == std::vector<TrxId>{"bad1", "bad2", "bad3", "bad4"});
  // The failed ones can be cancelled; a good one then commits.
  for (const char* t : {"bad1", "bad2", "bad3", "bad4"}) REQUIRE(s->cancel(t, {"a", "strb", "deld", "ghost"}).isOk());
  apply(*s, "good", R"({"inserts":{"deld":)" + B("deld", R"("l":[])") + R"(},"updates":{"deld":[["l",0,0,[1]]]}})", 3);
  CHECK(read(*s, "deld") == B("deld", R"("l":[1])"));
}

TEST_CASE("pend validates shape before writing", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + "}}", 1);
  auto before = s.tree();
  auto tryPend = [&](const TrxId& trx, Transforms t) {
    PendRequest req;
    req.trxId = trx;
    req.transforms = std::move(t);
    return req;
  };
  // A trxId already committed on one of its blocks: a committed transform is never replaced.
  auto r = s->pend(tryPend("t1", T(R"({"updates":{"a":[["l",0,0,[1]]]}})")));
  CHECK(r.status().code() == Code::InvalidInput);
  CHECK(s.tree() == before);
  r = s->pend(tryPend("t1", T(R"({"updates":{"z":[["l",0,0,[1]]],"a":[["l",0,0,[1]]]}})")));
  CHECK(r.status().code() == Code::InvalidInput);
  CHECK(s.tree() == before);
  // Transforms built in code are checked as the decoder checks them.
  Transforms badHeader;
  badHeader.inserts.emplace_back("n", parse(B("other", R"("v":1)")));
  CHECK(s->pend(tryPend("t2", badHeader)).status().code() == Code::InvalidInput);
  Transforms badOp;
  badOp.updates.emplace_back("a", parse(R"([["l",1.5,0,[]]])"));
  CHECK(s->pend(tryPend("t2", badOp)).status().code() == Code::InvalidInput);
  Transforms badId;
  badId.deletes.push_back("../a");
  CHECK(s->pend(tryPend("t2", badId)).status().code() == Code::InvalidInput);
  CHECK(s->pend(tryPend("bad trx", T(R"({"deletes":["a"]})"))).status().code() == Code::InvalidInput);
  CHECK(s.tree() == before);

  // Re-pending replaces the transform.
  pendOk(*s, "t3", R"({"updates":{"a":[["l",0,0,["first"]]]}})");
  pendOk(*s, "t3", R"({"updates":{"a":[["l",0,0,["second"]]]}})");
  auto p = s->raw().getPending("a", "t3");
  REQUIRE(p.isOk());
  REQUIRE(p->has_value());
  CHECK(toJson(encodeTransform(**p)) == R"({"updates":[["l",0,0,["second"]]]})");
  CHECK(state(*s, "a").pendings == std::vector<TrxId>{"t3"});
  commitOk(*s, "t3", {"a"}, 2);
  CHECK(read(*s, "a") == B("a", R"("l":["second"])"));
  // Now committed: refused.
  CHECK(s->pend(tryPend("t3", T(R"({"updates":{"a":[["l",0,0,[1]]]}})"))).status().code() == Code::InvalidInput);
}

TEST_CASE("pendings are sorted bytewise by decoded TrxId", "[repo]") {
  BACKEND();
  apply(*s, "t0", R"({"inserts":{"a":)" + B("a", R"("l":[])") + "}}", 1);
  // In file names tx:b is tx%3Ab.json, which would sort before tx-a.json.
  for (const char* t : {"tx:b", "tx-a", "b", "B", "_", "stamp:z", "a9", "A", "tx:a"})
    pendOk(*s, t, R"({"updates":{"a":[["l",0,0,[1]]]}})");
  const std::vector<TrxId> expected{"A", "B", "_", "a9", "b", "stamp:z", "tx-a", "tx:a", "tx:b"};
  CHECK(state(*s, "a").pendings == expected);
  auto p = pend(*s, "zz", R"({"updates":{"a":[["l",0,0,[1]]]}})", std::nullopt, Policy::Fail);
  REQUIRE(p.pending.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(p.pending[i].trxId == expected[i]);
  // The ':' is %3A on disk.
  CHECK(s.at("a/pend/tx%3Ab.json", "p.tx:b.a"));
  GetContext ctx;
  ctx.trxId = "tx:b";
  CHECK(state(*s, "a", ctx).block);
  commitOk(*s, "tx:b", {"a"}, 2);
  CHECK(s.at("a/trx/tx%3Ab.json", "t.tx:b.a"));
  CHECK(s.at("a/revs/2.json", "b.a#r.0000000000000002").value_or("") == "tx:b");
}

TEST_CASE("cancel", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"b":)" + B("b", R"("l":[])") + "}}", 1);
  pendOk(*s, "c1", R"({"updates":{"a":[["l",0,0,[1]]],"b":[["l",0,0,[1]]]}})");
  auto r = s->cancel("c1", {"a", "b", "z"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"success":true,"cancelled":["a","b"],"committed":[]})");
  CHECK(state(*s, "a").pendings.empty());
  // Again: nothing to cancel, still fine.
  r = s->cancel("c1", {"a"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"success":true,"cancelled":[],"committed":[]})");
  // Committed ones are reported, not touched.
  r = s->cancel("t1", {"b", "a"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"success":true,"cancelled":[],"committed":["b","a"]})");
  CHECK(read(*s, "a") == B("a", R"("l":[])"));
  // Committed on one block, pending on the other.
  pendOk(*s, "c2", R"({"updates":{"a":[["l",0,0,[2]]],"b":[["l",0,0,[2]]]}})");
  commitOk(*s, "c2", {"a"}, 2);
  r = s->cancel("c2", {"a", "b"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"success":true,"cancelled":["b"],"committed":["a"]})");
  CHECK(read(*s, "a") == B("a", R"("l":[2])"));
  CHECK(read(*s, "b") == B("b", R"("l":[])"));
  // A block created by pend keeps meta.json (and its directory) after cancel.
  pendOk(*s, "c3", R"({"inserts":{"n":)" + B("n", R"("v":1)") + "}}");
  CHECK(s.at("n/meta.json", "b.n#meta").value_or("") == R"({"ranges":[[0]]})");
  r = s->cancel("c3", {"n"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"success":true,"cancelled":["n"],"committed":[]})");
  CHECK(s.at("n/meta.json", "b.n#meta").value_or("") == R"({"ranges":[[0]]})");
  auto blocks = s->raw().listBlocks();
  REQUIRE(blocks.isOk());
  CHECK(*blocks == std::vector<BlockId>{"a", "b", "n"});
  auto st = state(*s, "n");
  CHECK_FALSE(st.block);
  CHECK(st.pendings.empty());
  // An interrupted commit (its intent recorded) cannot be cancelled.
  pendOk(*s, "c4", R"({"updates":{"a":[["l",0,0,[4]]]}})");
  REQUIRE(s->raw().saveIntent({"c4", 3, {"a"}}).isOk());
  auto before = s.tree();
  CHECK(s->cancel("c4", {"a"}).status().code() == Code::Integrity);
  CHECK(s.tree() == before);
  // The next commit locking a finishes it; then cancel reports it committed.
  pendOk(*s, "c5", R"({"updates":{"a":[["l",0,0,[5]]]}})");
  commitOk(*s, "c5", {"a"}, 4);
  CHECK(state(*s, "a").latest == TrxRev{"c5", 4});
  CHECK(read(*s, "a", 3) == B("a", R"("l":[4,2])"));
  CHECK(read(*s, "a") == B("a", R"("l":[5,4,2])"));
  CHECK(s->raw().listIntents().value().empty());
  r = s->cancel("c4", {"a"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"success":true,"cancelled":[],"committed":["a"]})");
}

TEST_CASE("finishing an interrupted commit never trusts a materialization left by an earlier attempt", "[repo]") {
  BACKEND();
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + R"(,"b":)" + B("b", R"("l":[])") + "}}", 1);
  // c1 once reached its materialization on a and stopped short of its revision
  // file: it never happened, and the block has changed since.
  pendOk(*s, "c1", R"({"updates":{"a":[["l",0,0,[1]]],"b":[["l",0,0,[1]]]}})");
  REQUIRE(s->raw().saveMaterialized("a", "c1", Json::parse(B("a", R"("l":["stale"])"))).isOk());
  apply(*s, "t2", R"({"updates":{"a":[["l",0,0,[2]]]}})", 2);
  // Now c1's commit on both blocks stops right after its intent.
  REQUIRE(s->raw().saveIntent({"c1", 3, {"a", "b"}}).isOk());
  auto done = s->recoverIntents();
  REQUIRE(done.isOk());
  CHECK(*done == std::vector<TrxId>{"c1"});
  CHECK(read(*s, "a") == B("a", R"("l":[1,2])"));
  CHECK(read(*s, "b") == B("b", R"("l":[1])"));
  // A deleted block keeps no materialization, whatever an earlier attempt left.
  pendOk(*s, "c2", R"({"deletes":["b"]})");
  REQUIRE(s->raw().saveMaterialized("b", "c2", Json::parse(B("b", R"("l":["stale"])"))).isOk());
  commitOk(*s, "c2", {"b"}, 4);
  CHECK(read(*s, "b") == "<absent>");
  CHECK_FALSE(s->raw().getMaterialized("b", "c2").value());
}

TEST_CASE("retention: bounded replay, every revision equal to a replay from scratch", "[repo]") {
  BACKEND();
  const Rev step = GENERATE(Rev{1}, Rev{7});
  INFO("revision step " << step);
  std::vector<std::pair<Rev, Transform>> history;
  auto commit = [&](const std::string& trx, const std::string& transforms, Rev rev) {
    apply(*s, trx, transforms, rev);
    history.emplace_back(rev, T(transforms).forBlock("r"));
  };
  Rev rev = step;
  commit("i0", R"({"inserts":{"r":)" + B("r", R"("l":[],"n":0)") + "}}", rev);
  for (int i = 1; i <= 100; ++i) {
    rev += step;
    std::string trx = "u" + std::to_string(i);
    if (i == 50) {
      commit(trx, R"({"deletes":["r"]})", rev);
    } else if (i == 51) {
      commit(trx, R"({"inserts":{"r":)" + B("r", R"("l":["re"],"n":51)") + "}}", rev);
    } else {
      commit(trx, R"({"updates":{"r":[["l",-1,0,[)" + std::to_string(i) + R"(]],["n",0,0,)" + std::to_string(i) +
                      R"(],["l",0,)" + std::to_string(i % 3 == 0 ? 1 : 0) + ",[]]]}}",
             rev);
    }
  }
  const Rev latest = rev;
  auto bs = s->blockStorage("r");
  std::size_t maxReplay = 0;
  for (Rev target = 0; target <= latest + step; ++target) {
    // The expected block: every transform from scratch.
    std::optional<Json> expected;
    for (const auto& [r, t] : history) {
      if (r > target) break;
      auto next = applyTransform(expected, t);
      REQUIRE(next.isOk());
      expected = *next;
    }
    auto got = bs.getBlock(target);
    INFO("rev " << target << ": " << got.status().message());
    REQUIRE(got.isOk());
    CHECK((*got ? toJson(**got) : "<absent>") == (expected ? toJson(*expected) : "<absent>"));
    CHECK(bs.lastReplayCount() < 33);
    CHECK(bs.lastReplayCount() < kCheckpointInterval);
    maxReplay = std::max(maxReplay, bs.lastReplayCount());
  }
  INFO("longest replay " << maxReplay);
  CHECK(maxReplay > 0);  // some reads do replay: not every revision is materialized
  // The tip is materialized; not every revision is.
  auto listing = s->raw().listBlock("r");
  REQUIRE(listing.isOk());
  const auto mats = listing->materialized;
  CHECK(mats.count("u100"));
  CHECK(mats.size() < history.size());
  // Through get too.
  CHECK(read(*s, "r", latest - step) != read(*s, "r", latest));
  // Every transform is kept.
  for (const auto& [r, t] : history) {
    auto trx = s->raw().getRevision("r", r);
    REQUIRE(trx.isOk());
    REQUIRE(trx->has_value());
    auto committed = s->raw().getCommitted("r", **trx);
    REQUIRE(committed.isOk());
    CHECK(committed->has_value());
  }
  // Materializations gone (another process pruning, a restored tree): reads
  // fall back to older ones and replay, with the same results.
  for (const auto& [trx, item] : mats)
    if (trx != "u32") REQUIRE(s->raw().deleteMaterialized("r", trx).isOk());
  for (Rev target = 0; target <= latest + step; target += 1) {
    std::optional<Json> expected;
    for (const auto& [r, t] : history) {
      if (r > target) break;
      expected = applyTransform(expected, t).value();
    }
    auto got = bs.getBlock(target);
    INFO("rev " << target << " without materializations: " << got.status().message());
    REQUIRE(got.isOk());
    CHECK((*got ? toJson(**got) : "<absent>") == (expected ? toJson(*expected) : "<absent>"));
  }
}

TEST_CASE("finishing interrupted commits follows the writers' lock protocol: never beside a repair", "[repo]") {
  TempDir dir("recover-lock");
  auto s = openStore(dir.path(), StoreOptions{false, 0.2, Dialect::Trx, {}});
  apply(*s, "t1", R"({"inserts":{"a":)" + B("a", R"("l":[])") + "}}", 1);
  pendOk(*s, "c1", R"({"updates":{"a":[["l",0,0,[1]]]}})");
  REQUIRE(s->raw().saveIntent({"c1", 2, {"a"}}).isOk());
  // A repair (or check) holds the store lock exclusively.
  auto repair = s->raw().lockStore(LockMode::Exclusive, 1.0);
  REQUIRE(repair.isOk());
  auto done = s->recoverIntents();
  CHECK(done.status().code() == Code::LockTimeout);
  CHECK(s->raw().listIntents().value().size() == 1);  // nothing finished behind its back
  repair->reset();
  done = s->recoverIntents();
  REQUIRE(done.isOk());
  CHECK(*done == std::vector<TrxId>{"c1"});
}
