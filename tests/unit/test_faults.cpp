// Issue 11: the defects a hostile test found under real faults, each as the
// scenario that showed it, on the Env seam (MemEnv's crashes, full disks,
// unreadable paths and FIFOs) where the real file system cannot be made to
// fail on cue. The CLI side is tests/cli/test_faults*.sh.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optdb/archive.hpp"
#include "optdb/block_storage.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

namespace {

// MemEnv with a hook that runs when a given lock file is asked for: what
// another process does while this one waits for that lock.
class HookEnv : public ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  std::string hookPath;
  std::function<void()> hook;

  Result<std::unique_ptr<FileLock>> lockFile(const std::string& p, LockMode m, double t) override {
    if (hook && p == hookPath) {
      auto h = std::move(hook);  // once
      hook = nullptr;
      h();
    }
    return ForwardingEnv::lockFile(p, m, t);
  }
};

std::unique_ptr<StorageRepo> open(const std::shared_ptr<Env>& env, bool journal = true) {
  return std::make_unique<StorageRepo>(std::make_shared<FileRawStorage>(env, true, Dialect::Trx, journal));
}

FileRawStorage& tree(StorageRepo& repo) { return dynamic_cast<FileRawStorage&>(repo.raw()); }


std::vector<Problem> check(StorageRepo& repo) {
  std::vector<Problem> ps;
  auto r = checkStore(tree(repo), CheckOptions{}, [&](const Problem& p) {
    if (p.kind != problem::kTempFile) ps.push_back(p);
  });
  INFO(r.status().message());
  REQUIRE(r.isOk());
  return ps;
}

bool hasKind(const std::vector<Problem>& ps, const std::string& kind) {
  return std::any_of(ps.begin(), ps.end(), [&](const Problem& p) { return p.kind == kind; });
}

// Two blocks a and b with a log each, committed at revision 1.
void seed(StorageRepo& repo) {
  pendOk(repo, "t1", R"({"inserts":{"a":)" + B("a", R"("log":[])") + R"(,"b":)" + B("b", R"("log":[])") + "}}");
  commitOk(repo, "t1", {"a", "b"}, 1);
}

std::string logAppend(const std::string& id, const std::string& entry) {
  return R"({"updates":{")" + id + R"(":[["log",1000,0,[")" + entry + R"("]]]}})";
}

}  // namespace

TEST_CASE("defect 1: a commit that waited for a lock finishes the commit that died meanwhile first", "[faults]") {
  auto mem = std::make_shared<MemEnv>();
  auto env = std::make_shared<HookEnv>(mem);
  auto repo = open(env);
  seed(*repo);
  pendOk(*repo, "t2", R"({"updates":{"a":[["log",1000,0,["t2"]]],"b":[["log",1000,0,["t2"]]]}})");
  pendOk(*repo, "t3", logAppend("a", "t3"));
  // While t3's commit waits for a's lock, t2's commit on {a, b} runs in
  // another process and is killed after its intent and block b, before a.
  env->hookPath = ".optdb/locks/a";
  env->hook = [&] {
    auto other = open(env);
    for (std::uint64_t n = 1;; ++n) {  // find the instant: intent and b written, a untouched
      mem->crashAfter(n);
      auto r = other->commit("t2", {"b", "a"}, 2);  // b is written first
      mem->crashAfter(std::nullopt);
      REQUIRE_FALSE(r.isOk());
      auto rb = tree(*other).getRevision("b", 2);
      if (rb.isOk() && *rb) break;
    }
    auto ra = tree(*other).getRevision("a", 2);
    REQUIRE(ra.isOk());
    REQUIRE_FALSE(ra->has_value());
  };
  commitOk(*repo, "t3", {"a"}, 3);
  // t2 was finished before t3 was built: a's history holds both, in order.
  CHECK(readBlock(*repo, "a") == B("a", R"("log":["t2","t3"])"));
  CHECK(readBlock(*repo, "b") == B("b", R"("log":["t2"])"));
  auto ps = check(*repo);
  INFO(describe(ps));
  CHECK(ps.empty());
}

TEST_CASE("defect 1: --check sees a revision finished below a later one whose state lacks it, repair leaves it", "[faults]") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  seed(*repo);
  pendOk(*repo, "t2", logAppend("a", "t2"));
  pendOk(*repo, "t3", logAppend("a", "t3"));
  commitOk(*repo, "t3", {"a"}, 3);
  // What an earlier optdb's repair did: t2's interrupted commit finished at 2, below 3.
  auto& raw = tree(*repo);
  SECTION("already finished out of order: forked history") {
    REQUIRE(raw.saveRevision("a", 2, "t2").isOk());
    REQUIRE(raw.promotePending("a", "t2").isOk());
    auto ps = check(*repo);
    INFO(describe(ps));
    CHECK(hasKind(ps, problem::kForkedHistory));
  }
  SECTION("its intent still there: overtaken, and repair does not fork it") {
    REQUIRE(raw.saveIntent({"t2", 2, {"a", "b"}}).isOk());
    auto ps = check(*repo);
    INFO(describe(ps));
    CHECK(hasKind(ps, problem::kOvertakenCommit));
    auto rep = repairStore(raw, RepairOptions{});
    REQUIRE(rep.isOk());
    CHECK(hasKind(rep->remaining, problem::kOvertakenCommit));
    auto r2 = raw.getRevision("a", 2);
    REQUIRE(r2.isOk());
    CHECK_FALSE(r2->has_value());  // never written below revision 3
    // and the next writer on a leaves it alone rather than forking it
    pendOk(*repo, "t4", logAppend("a", "t4"));
    commitOk(*repo, "t4", {"a"}, 4);
    CHECK(readBlock(*repo, "a") == B("a", R"("log":["t3","t4"])"));
  }
}

TEST_CASE("defect 2: a store or block the caller cannot read is an error, never empty", "[faults]") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  seed(*repo);
  auto& raw = tree(*repo);
  SECTION("the whole store") {
    env->denyAccess("");
    auto c = checkStore(raw, CheckOptions{}, [](const Problem&) {});
    CHECK(c.status().code() == Code::IoError);
    std::size_t archives = 0;
    ArchiveRequest req;
    req.all = true;
    auto a = writeArchives(raw, req, [&](const BlockArchive&) {
      ++archives;
      return Status::ok();
    });
    CHECK(a.code() == Code::IoError);
    CHECK(archives == 0);
    CHECK(raw.listBlocks().status().code() == Code::IoError);
  }
  SECTION("one block directory") {
    env->denyAccess("b");
    std::vector<Problem> ps;
    auto c = checkStore(raw, CheckOptions{}, [&](const Problem& p) { ps.push_back(p); });
    CHECK(c.status().code() == Code::IoError);
    CHECK(hasKind(ps, problem::kUnexamined));
    ArchiveRequest req;
    req.all = true;
    std::vector<BlockId> seen;
    auto a = writeArchives(raw, req, [&](const BlockArchive& x) {
      seen.push_back(x.blockId);
      return Status::ok();
    });
    CHECK(a.code() == Code::IoError);  // never a backup that silently leaves b out
  }
}

TEST_CASE("defect 4: a restore interrupted at any instant is completed by running it again", "[faults]") {
  auto source = std::make_shared<MemEnv>();
  auto src = open(source);
  seed(*src);
  for (int i = 2; i <= 6; ++i) {
    pendOk(*src, "t" + std::to_string(i), logAppend(i % 2 ? "a" : "b", "t" + std::to_string(i)));
    commitOk(*src, "t" + std::to_string(i), {i % 2 ? "a" : "b"}, i);
  }
  std::string text;
  ArchiveRequest req;
  req.all = true;
  REQUIRE(writeArchives(tree(*src), req, [&](const BlockArchive& a) {
            appendArchiveLine(text, a);
            return Status::ok();
          }).isOk());
  auto clean = std::make_shared<MemEnv>();
  auto cleanRepo = open(clean);
  REQUIRE(restoreArchives(tree(*cleanRepo), {{"archive", text}}, 1).isOk());
  const std::string wantA = readBlock(*cleanRepo, "a"), wantB = readBlock(*cleanRepo, "b");
  for (std::uint64_t n = 0;; ++n) {
    auto env = std::make_shared<MemEnv>();
    auto repo = open(env);
    env->crashAfter(n);
    auto first = restoreArchives(tree(*repo), {{"archive", text}}, 1);
    env->crashAfter(std::nullopt);
    if (first.isOk()) break;  // n passed the last write
    INFO("crash after " << n << " mutations");
    // Readable whatever the instant.
    (void)readBlock(*repo, "a");
    (void)readBlock(*repo, "b");
    auto again = restoreArchives(tree(*repo), {{"archive", text}}, 1);
    INFO(again.status().message());
    REQUIRE(again.isOk());
    CHECK(again->rejected.empty());
    CHECK(readBlock(*repo, "a") == wantA);
    CHECK(readBlock(*repo, "b") == wantB);
    CHECK(readBlock(*repo, "a", 3) == readBlock(*cleanRepo, "a", 3));
  }
}

TEST_CASE("defect 4: a transform left without its revision file by an earlier restore is no conflict", "[faults]") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  const std::string archive =
      R"({"blockId":"a","revisions":{"1":{"trx":{"trxId":"t1","rev":1,"transform":{"insert":)" + B("a", R"("log":[])") +
      R"(}},"block":)" + B("a", R"("log":[])") + R"(}},"range":[1]})";
  // What an earlier optdb's restore left when killed after the transform.
  Transform t;
  t.insert = parse(B("a", R"("log":[])"));
  REQUIRE(tree(*repo).saveCommitted("a", "t1", t).isOk());
  auto r = restoreArchives(tree(*repo), {{"archive", archive}}, 1);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(r->rejected.empty());
  CHECK(readBlock(*repo, "a") == B("a", R"("log":[])"));
}

TEST_CASE("defect 8 and 11: FIFOs and devices in the store neither hang nor flood, and are integrity problems", "[faults]") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  seed(*repo);
  SECTION("as meta.json") {
    REQUIRE(env->removeFile("a/meta.json").isOk());
    env->addSpecialFile("a/meta.json");
    auto g = repo->get({"a"});
    CHECK(g.status().code() == Code::Integrity);
    ArchiveRequest req;
    req.all = true;
    auto a = writeArchives(tree(*repo), req, [](const BlockArchive&) { return Status::ok(); });
    CHECK(a.code() == Code::Integrity);  // the block is never left out with success
    auto ps = check(*repo);
    CHECK(hasKind(ps, problem::kBadType));
  }
  SECTION("as revs/optdb-index") {
    REQUIRE(env->removeFile("a/revs/optdb-index").isOk());
    env->addSpecialFile("a/revs/optdb-index");
    auto ps = check(*repo);
    INFO(describe(ps));
    CHECK(hasKind(ps, problem::kBadType));
  }
}

TEST_CASE("defect 10: one block repair cannot touch does not stop repair of the others", "[faults]") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  seed(*repo);
  // Both blocks need repair: latest behind a complete revision.
  for (const char* id : {"a", "b"}) {
    pendOk(*repo, std::string("u") + id, logAppend(id, "x"));
    commitOk(*repo, std::string("u") + id, {id}, id[0] == 'a' ? 2 : 3);
    auto& raw = tree(*repo);
    auto meta = raw.getMeta(id);
    REQUIRE(meta.isOk());
    (*meta)->latest = TrxRev{"t1", 1};
    REQUIRE(raw.saveMeta(id, **meta).isOk());
  }
  env->denyAccess("a");
  auto rep = repairStore(tree(*repo), RepairOptions{});
  REQUIRE(rep.isOk());
  CHECK(rep->examined);
  CHECK(hasKind(rep->remaining, problem::kUnexamined));
  CHECK(std::any_of(rep->actions.begin(), rep->actions.end(),
                    [](const RepairAction& a) { return a.path == "b/meta.json" && a.action == action::kSetLatest; }));
  env->denyAccess("a", false);
  CHECK(readBlock(*repo, "b") == B("b", R"("log":["x"])"));
}

TEST_CASE("a full disk: the failing command says what finishes the job, and it does once space is freed", "[faults]") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  seed(*repo);
  pendOk(*repo, "t2", R"({"updates":{"a":[["log",1000,0,["t2"]]],"b":[["log",1000,0,["t2"]]]}})");
  SECTION("a multi-block commit, at every write") {
    // Full from the n-th mutation on: each instant of the commit in turn.
    for (std::uint64_t n = 0;; ++n) {
      auto e = std::make_shared<MemEnv>();
      auto r = open(e);
      seed(*r);
      pendOk(*r, "t2", R"({"updates":{"a":[["log",1000,0,["t2"]]],"b":[["log",1000,0,["t2"]]]}})");
      auto c = [&] {
        e->crashAfter(n);  // the n-th mutation on fails...
        auto out = r->commit("t2", {"a", "b"}, 2);
        e->crashAfter(std::nullopt);
        return out;
      }();
      if (c.isOk()) break;
      INFO("full after " << n << ": " << c.status().message());
      CHECK(c.status().code() == Code::IoError);
      CHECK(c.status().message().find("run the same commit again or optdb repair") != std::string::npos);
      commitOk(*r, "t2", {"a", "b"}, 2);  // space freed: the same commit finishes it
      CHECK(readBlock(*r, "a") == B("a", R"("log":["t2"])"));
      CHECK(readBlock(*r, "b") == B("b", R"("log":["t2"])"));
    }
  }
  SECTION("the seam's ENOSPC") {
    env->setDiskFull(true);
    auto c = repo->commit("t2", {"a", "b"}, 2);
    REQUIRE_FALSE(c.isOk());
    CHECK(c.status().code() == Code::IoError);
    CHECK(c.status().message().find("No space left on device") != std::string::npos);
    CHECK(c.status().message().find("optdb repair") != std::string::npos);
    auto rep = repairStore(tree(*repo), RepairOptions{});  // repair, still full: reports, loses nothing
    INFO(rep.status().message());
    REQUIRE(rep.isOk());
    env->setDiskFull(false);
    auto rep2 = repairStore(tree(*repo), RepairOptions{});
    REQUIRE(rep2.isOk());
    INFO(toJson(rep2->toJson()));
    // Not acknowledged: either finished by repair or still pending, never half-applied.
    const std::string a = readBlock(*repo, "a"), b = readBlock(*repo, "b");
    CHECK((a == B("a", R"("log":["t2"])")) == (b == B("b", R"("log":["t2"])")));
    if (a != B("a", R"("log":["t2"])")) commitOk(*repo, "t2", {"a", "b"}, 2);
    CHECK(readBlock(*repo, "a") == B("a", R"("log":["t2"])"));
  }
  SECTION("a pend says which blocks it left pending") {
    // Only an fsync per file can leave a pend on some of its blocks: through
    // the journal, a pend is one unit (the next section).
    repo = open(env, /*journal=*/false);
    pendOk(*repo, "p1", logAppend("a", "p1"));  // creates nothing new; now a pend over a and b
    bool told = false;
    for (std::uint64_t n = 0;; ++n) {
      env->crashAfter(n);
      PendRequest q;
      q.trxId = "p2";
      q.transforms = T(R"({"updates":{"a":[["log",1000,0,["p2"]]],"b":[["log",1000,0,["p2"]]]}})");
      auto r = repo->pend(q);
      env->crashAfter(std::nullopt);
      if (r.isOk()) break;
      if (r.status().message().find("left pending on block a only") == std::string::npos) continue;
      told = true;
      auto pa = tree(*repo).getPending("a", "p2");
      REQUIRE(pa.isOk());
      CHECK(pa->has_value());  // what it says is what it left
    }
    CHECK(told);
  }
  SECTION("through the journal, a pend that fails leaves nothing of itself") {
    pendOk(*repo, "p1", logAppend("a", "p1"));
    for (std::uint64_t n = 0;; ++n) {
      INFO("failing from mutation " << n);
      env->crashAfter(n);
      PendRequest q;
      q.trxId = "p2";
      q.transforms = T(R"({"updates":{"a":[["log",1000,0,["p2"]]],"b":[["log",1000,0,["p2"]]]}})");
      auto r = repo->pend(q);
      env->crashAfter(std::nullopt);
      // Another process: once it holds a block's lock, the unit is all there or not at all.
      auto reader = open(env);
      REQUIRE(tree(*reader).lockBlock("a", 1).isOk());
      const bool a = tree(*reader).getPending("a", "p2").value().has_value();
      const bool b = tree(*reader).getPending("b", "p2").value().has_value();
      CHECK(a == b);  // on both blocks or on none, whatever the instant
      if (r.isOk()) {
        CHECK(a);
        break;
      }
    }
  }
  SECTION("a restore, full at every write, then completed") {
    std::string text;
    ArchiveRequest req;
    req.all = true;
    REQUIRE(writeArchives(tree(*repo), req, [&](const BlockArchive& a) {
              appendArchiveLine(text, a);
              return Status::ok();
            }).isOk());
    auto e = std::make_shared<MemEnv>();
    auto r = open(e);
    e->setDiskFull(true);
    CHECK(restoreArchives(tree(*r), {{"archive", text}}, 1).status().code() == Code::IoError);
    e->setDiskFull(false);
    auto again = restoreArchives(tree(*r), {{"archive", text}}, 1);
    INFO(again.status().message());
    REQUIRE(again.isOk());
    CHECK(again->rejected.empty());
    CHECK(readBlock(*r, "a") == readBlock(*repo, "a"));
  }
}
