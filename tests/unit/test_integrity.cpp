// inspect --check, repair and the inspect summary (SPEC §6): each kind of
// corruption is detected under its own kind and repaired where SPEC allows,
// on a MemEnv and on a real directory with real symbolic links.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
using optdb::test_support::describe;
using optdb::test_support::TempDir;

namespace {

Json block(const std::string& id) {
  return Json::parse(R"({"header":{"id":")" + id + R"(","type":"note","collectionId":"c"},"log":[],"last":""})");
}
Json appendOps(const std::string& tag) {
  return Json::parse(R"([["log",1000000,0,[")" + tag + R"("]],["last",0,0,")" + tag + R"("]])");
}

using KindPath = std::pair<std::string, std::string>;  // (kind, path)

struct Fixture {
  std::shared_ptr<Env> env;
  std::shared_ptr<FileRawStorage> raw;
  std::unique_ptr<StorageRepo> repo;

  explicit Fixture(std::shared_ptr<Env> e = std::make_shared<MemEnv>()) : env(std::move(e)) { reopen(); }
  void reopen() {
    raw = std::make_shared<FileRawStorage>(env, true, Dialect::Trx);
    repo = std::make_unique<StorageRepo>(raw, StoreOptions{true, 30.0, Dialect::Trx, {}});
  }

  void pend(const TrxId& trx, const Transforms& t, Rev rev) {
    PendRequest req;
    req.trxId = trx;
    req.transforms = t;
    req.rev = rev;
    auto r = repo->pend(req);
    REQUIRE(r.isOk());
    REQUIRE(r->outcome == PendResult::Outcome::Pended);
  }
  void commit(const TrxId& trx, const std::vector<BlockId>& ids, Rev rev) {
    auto r = repo->commit(trx, ids, rev);
    INFO((r.isOk() ? std::string() : r.status().message()));
    REQUIRE(r.isOk());
    REQUIRE(r->success);
  }
  void update(const TrxId& trx, const std::vector<BlockId>& ids, Rev rev) {
    Transforms t;
    for (const auto& id : ids) t.updates.push_back({id, appendOps(trx)});
    pend(trx, t, rev);
    commit(trx, ids, rev);
  }

  // b1, b2: t1 inserts both at 1, t2 updates both at 3, t3 updates b1 at 5; t4 pending on b1.
  void standard() {
    Transforms t;
    t.inserts = {{"b1", block("b1")}, {"b2", block("b2")}};
    pend("t1", t, 1);
    commit("t1", {"b1", "b2"}, 1);
    update("t2", {"b1", "b2"}, 3);
    update("t3", {"b1"}, 5);
    Transforms p;
    p.updates = {{"b1", appendOps("t4")}};
    pend("t4", p, 6);
  }

  void write(const std::string& path, const std::string& text) {
    auto f = env->newWritableFile(path);
    REQUIRE(f.isOk());
    REQUIRE((*f)->append(text).isOk());
    REQUIRE((*f)->sync().isOk());
    REQUIRE((*f)->close().isOk());
  }
  std::string read(const std::string& path) {
    auto r = env->readFile(path);
    REQUIRE(r.isOk());
    return *r;
  }
  void remove(const std::string& path) { REQUIRE(env->removeFile(path).isOk()); }
  bool exists(const std::string& path) { return *env->fileType(path) != FileType::None; }

  std::vector<Problem> check(std::vector<BlockId> ids = {}) {
    std::vector<Problem> out;
    CheckOptions o;
    o.blockIds = std::move(ids);
    auto r = checkStore(*raw, o, [&](const Problem& p) { out.push_back(p); });
    REQUIRE(r.isOk());
    REQUIRE(r->problems == out.size());
    return out;
  }
  RepairReport repair(bool dryRun = false, std::vector<BlockId> ids = {}) {
    RepairOptions o;
    o.dryRun = dryRun;
    o.blockIds = std::move(ids);
    auto r = repairStore(*raw, o);
    INFO((r.isOk() ? std::string() : r.status().message()));
    REQUIRE(r.isOk());
    return std::move(r).value();
  }
  std::optional<Json> get(const BlockId& id, std::optional<Rev> rev = std::nullopt) {
    GetContext ctx;
    ctx.rev = rev;
    auto r = repo->get({id}, ctx);
    INFO((r.isOk() ? std::string() : r.status().message()));
    REQUIRE(r.isOk());
    return r->blocks.at(0).second.block;
  }
  BlockMeta meta(const BlockId& id) {
    auto m = raw->getMeta(id);
    REQUIRE(m.isOk());
    REQUIRE(m->has_value());
    return **m;
  }
  // Every file and its contents, to prove a dry run changes nothing.
  std::map<std::string, std::string> snapshot(const std::string& dir = "") {
    std::map<std::string, std::string> out;
    auto entries = env->listDir(dir);
    if (!entries) return out;
    for (const auto& e : *entries) {
      std::string path = dir.empty() ? e.name : dir + "/" + e.name;
      if (e.type == FileType::Dir) {
        out[path + "/"] = "";
        for (auto& kv : snapshot(path)) out.insert(kv);
      } else if (e.type == FileType::File) {
        out[path] = read(path);
      } else {
        out[path] = "<link>";
      }
    }
    return out;
  }
};

std::set<KindPath> kinds(const std::vector<Problem>& ps) {
  std::set<KindPath> out;
  for (const auto& p : ps) out.insert({p.kind, p.path});
  return out;
}

std::vector<std::string> actionsOf(const RepairReport& r) {
  std::vector<std::string> out;
  for (const auto& a : r.actions) out.push_back(a.action + " " + a.path);
  return out;
}

std::string json(const std::optional<Json>& j) { return j ? toJson(*j) : "<absent>"; }

// Repairs, then requires that the store checks clean.
void repairToClean(Fixture& f, const std::vector<std::string>& expectActions) {
  auto dry = f.repair(true);
  auto r = f.repair();
  INFO("remaining:\n" << describe(r.remaining));
  REQUIRE(r.remaining.empty());
  REQUIRE(actionsOf(r) == expectActions);
  REQUIRE(actionsOf(dry) == expectActions);  // the dry run foresaw exactly this
  REQUIRE(dry.remaining.empty());
  auto after = f.check();
  INFO("after repair:\n" << describe(after));
  REQUIRE(after.empty());
  REQUIRE(f.repair().actions.empty());  // idempotent
}

// The problems found are exactly `expected`, and repair does nothing about them.
void requireLeftByRepair(Fixture& f, const std::vector<Problem>& problems, const std::set<KindPath>& expected) {
  INFO(describe(problems));
  REQUIRE(kinds(problems) == expected);
  auto r = f.repair();
  REQUIRE(r.actions.empty());
  REQUIRE(kinds(r.remaining) == kinds(problems));
}

}  // namespace

TEST_CASE("a store written by optdb checks clean, and repair has nothing to do", "[integrity]") {
  Fixture f;
  f.standard();
  REQUIRE(f.check().empty());
  auto r = f.repair();
  REQUIRE(r.actions.empty());
  REQUIRE(r.remaining.empty());
  // An empty or missing store is clean too.
  Fixture empty;
  REQUIRE(empty.check().empty());
  REQUIRE(empty.repair().actions.empty());
}

TEST_CASE("a tip that is merely not materialized is no problem, repair writes it", "[integrity]") {
  Fixture f;
  f.standard();
  auto before = f.get("b1");
  f.remove("b1/blocks/t3.json");
  REQUIRE(f.check().empty());
  repairToClean(f, {"write-tip b1/blocks/t3.json"});
  REQUIRE(f.exists("b1/blocks/t3.json"));
  REQUIRE(json(f.get("b1")) == json(before));
  REQUIRE(f.read("b1/blocks/t3.json") == toJson(*before));
}

TEST_CASE("truncated meta.json: bad-json, rebuilt from the block's files", "[integrity]") {
  Fixture f;
  f.standard();
  auto before = f.get("b1");
  std::string text = f.read("b1/meta.json");
  f.write("b1/meta.json", text.substr(0, text.size() / 2));
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"bad-json", "b1/meta.json"}});
  repairToClean(f, {"rebuild-meta b1/meta.json"});
  auto m = f.meta("b1");
  REQUIRE(m.latest == TrxRev{"t3", 5});
  REQUIRE(m.ranges == Ranges{Range{1, std::nullopt}});  // [[lowest revision held]]: a safe under-claim
  REQUIRE(json(f.get("b1")) == json(before));
  REQUIRE(json(f.get("b1", 3)) != "<absent>");
}

TEST_CASE("meta.json that parses but is not metadata: bad-meta, rebuilt", "[integrity]") {
  Fixture f;
  f.standard();
  for (const char* bad : {"[1,2]", R"({"latest":{"trxId":"t3","rev":5}})", R"({"ranges":[[0]],"latest":{"rev":"x"}})"}) {
    INFO(bad);
    f.write("b2/meta.json", bad);
    REQUIRE(kinds(f.check()) == std::set<KindPath>{{"bad-meta", "b2/meta.json"}});
    repairToClean(f, {"rebuild-meta b2/meta.json"});
    REQUIRE(f.meta("b2").latest == TrxRev{"t2", 3});
  }
  // A block with no complete revision at all is rebuilt as [[0]] without latest.
  Transforms t;
  t.inserts = {{"b9", block("b9")}};
  f.pend("t9", t, 1);
  f.write("b9/meta.json", "{");
  repairToClean(f, {"rebuild-meta b9/meta.json"});
  auto m = f.meta("b9");
  REQUIRE_FALSE(m.latest);
  REQUIRE(m.ranges == Ranges{Range{0, std::nullopt}});
}

TEST_CASE("malformed, unsorted or unmerged ranges: bad-ranges, normalized", "[integrity]") {
  Fixture f;
  f.standard();
  const std::string latest = R"("latest":{"trxId":"t3","rev":5})";
  struct Case {
    std::string ranges;
    Ranges fixed;
  };
  for (const Case& c : std::vector<Case>{
           {R"([[5],[0,3]])", {Range{0, 3}, Range{5, std::nullopt}}},       // unsorted
           {R"([[0,3],[3]])", {Range{0, std::nullopt}}},                    // touching, unmerged
           {R"([["x"],[0],[4,2],[1,2,3]])", {Range{0, std::nullopt}}},      // malformed entries dropped
           {R"([[0,2]])", {Range{0, 2}, Range{5, std::nullopt}}},           // latest outside the ranges
       }) {
    INFO(c.ranges);
    f.write("b1/meta.json", R"({"ranges":)" + c.ranges + "," + latest + "}");
    REQUIRE(kinds(f.check()) == std::set<KindPath>{{"bad-ranges", "b1/meta.json"}});
    repairToClean(f, {"fix-ranges b1/meta.json"});
    REQUIRE(f.meta("b1").ranges == c.fixed);
    REQUIRE(f.meta("b1").latest == TrxRev{"t3", 5});
  }
}

TEST_CASE("garbage in a trx/ file: bad-json, reported and never deleted", "[integrity]") {
  Fixture f;
  f.standard();
  f.write("b2/trx/t1.json", "\x01garbage");
  auto problems = f.check();
  REQUIRE(kinds(problems) == std::set<KindPath>{{"bad-json", "b2/trx/t1.json"}});
  // A transform that parses but has the wrong shape is as bad.
  f.write("b1/pend/t4.json", R"({"updates":"no"})");
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"bad-json", "b2/trx/t1.json"}, {"bad-json", "b1/pend/t4.json"}});
  auto r = f.repair();
  REQUIRE(r.actions.empty());
  REQUIRE(kinds(r.remaining) == std::set<KindPath>{{"bad-json", "b2/trx/t1.json"}, {"bad-json", "b1/pend/t4.json"}});
  REQUIRE(f.read("b2/trx/t1.json") == "\x01garbage");
}

TEST_CASE("a tip that cannot be materialized: unmaterializable-tip, left for a person", "[integrity]") {
  Fixture f;
  f.standard();
  // t3's transform, rewritten so that it parses but cannot apply; its materialization lost.
  f.write("b1/trx/t3.json", R"({"updates":[["last",0,0,["x"]]]})");
  f.remove("b1/blocks/t3.json");
  auto problems = f.check();
  INFO(describe(problems));
  REQUIRE(kinds(problems) == std::set<KindPath>{{"unmaterializable-tip", "b1"}});
  auto r = f.repair();
  REQUIRE(r.actions.empty());
  REQUIRE(kinds(r.remaining) == std::set<KindPath>{{"unmaterializable-tip", "b1"}});
}

TEST_CASE("a missing revs/ file", "[integrity]") {
  Fixture f;
  f.standard();
  SECTION("of a multi-block transaction: rebuilt from the sibling block") {
    auto at3 = f.get("b1", 3);
    f.remove("b1/revs/3.json");
    REQUIRE(kinds(f.check()) == std::set<KindPath>{{"lost-revision", "b1/trx/t2.json"}});
    repairToClean(f, {"rebuild-revision b1/revs/3.json"});
    REQUIRE(f.read("b1/revs/3.json") == "t2");
    REQUIRE(json(f.get("b1", 3)) == json(at3));
    REQUIRE(json(f.get("b1", 4)) == json(at3));
  }
  SECTION("of the latest revision: rebuilt from meta.json's latest") {
    auto now = f.get("b1");
    f.remove("b1/revs/5.json");
    REQUIRE(kinds(f.check()) ==
            std::set<KindPath>{{"latest-missing", "b1/meta.json"}, {"lost-revision", "b1/trx/t3.json"}});
    repairToClean(f, {"rebuild-revision b1/revs/5.json"});
    REQUIRE(json(f.get("b1")) == json(now));
    REQUIRE(f.meta("b1").latest == TrxRev{"t3", 5});
  }
  SECTION("with no certain evidence: reported, never guessed") {
    f.update("t5", {"b1"}, 7);
    f.remove("b1/revs/5.json");  // t3 touched b1 alone, and latest is t5 now
    REQUIRE(kinds(f.check()) == std::set<KindPath>{{"lost-revision", "b1/trx/t3.json"}});
    auto r = f.repair();
    REQUIRE(r.actions.empty());
    REQUIRE(kinds(r.remaining) == std::set<KindPath>{{"lost-revision", "b1/trx/t3.json"}});
    REQUIRE(f.exists("b1/trx/t3.json"));  // a committed transform is never deleted
    REQUIRE(f.meta("b1").latest == TrxRev{"t5", 7});
  }
  SECTION("and latest naming a transaction whose transform is gone: latest moves to the highest complete revision") {
    f.write("b1/revs/5.json", "t77");  // names a transaction with no file at all
    auto problems = f.check();
    REQUIRE(kinds(problems) == std::set<KindPath>{{"missing-transform", "b1/revs/5.json"},
                                                  {"latest-missing", "b1/meta.json"},
                                                  {"lost-revision", "b1/trx/t3.json"}});
    auto r = f.repair();
    // t2's materialization was pruned when t3 committed: the new tip gets one.
    REQUIRE(actionsOf(r) == std::vector<std::string>{"set-latest b1/meta.json", "write-tip b1/blocks/t2.json"});
    REQUIRE(f.meta("b1").latest == TrxRev{"t2", 3});
    REQUIRE(f.read("b1/revs/5.json") == "t77");  // a revision file is never deleted
    REQUIRE(kinds(r.remaining) ==
            std::set<KindPath>{{"missing-transform", "b1/revs/5.json"}, {"lost-revision", "b1/trx/t3.json"}});
  }
}

TEST_CASE("a committed revision above latest: above-latest, latest reconciled", "[integrity]") {
  Fixture f;
  f.standard();
  auto now = f.get("b1");
  // As if the commit of t3 stopped just before its last step, meta.json.
  f.write("b1/meta.json", R"({"ranges":[[0]],"latest":{"trxId":"t2","rev":3}})");
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"above-latest", "b1/revs/5.json"}});
  repairToClean(f, {"set-latest b1/meta.json"});
  REQUIRE(f.meta("b1").latest == TrxRev{"t3", 5});
  REQUIRE(json(f.get("b1")) == json(now));
}

TEST_CASE("an interrupted commit with a leftover intent: finished on every block", "[integrity]") {
  Fixture f;
  f.standard();
  Transforms t;
  t.updates = {{"b1", appendOps("t9")}, {"b2", appendOps("t9")}};
  f.pend("t9", t, 8);
  // The commit's intent and its first step on b1, then the process died.
  REQUIRE(f.raw->saveIntent({"t9", 8, {"b1", "b2"}}).isOk());
  REQUIRE(f.raw->saveRevision("b1", 8, "t9").isOk());
  REQUIRE(kinds(f.check()) ==
          std::set<KindPath>{{"leftover-intent", ".optdb/intents/t9.json"}, {"interrupted-commit", "b1/revs/8.json"}});
  // Neither cancel nor a new pend of it may run before it is finished.
  auto c = f.repo->cancel("t9", {"b1", "b2"});
  REQUIRE(c.status().code() == Code::Integrity);
  PendRequest again;
  again.trxId = "t9";
  again.transforms = t;
  REQUIRE(f.repo->pend(again).status().code() == Code::Integrity);

  auto snap = f.snapshot();
  auto dry = f.repair(true);
  REQUIRE(f.snapshot() == snap);
  REQUIRE(actionsOf(dry) == std::vector<std::string>{"finish-commit b1", "finish-commit b2",
                                                     "remove-intent .optdb/intents/t9.json"});
  REQUIRE(dry.remaining.empty());
  auto r = f.repair();
  REQUIRE(actionsOf(r) == actionsOf(dry));
  REQUIRE(r.remaining.empty());
  REQUIRE(f.check().empty());
  for (const char* id : {"b1", "b2"}) {
    INFO(id);
    REQUIRE(f.meta(id).latest == TrxRev{"t9", 8});
    REQUIRE(f.get(id)->at("last") == "t9");
  }
  REQUIRE_FALSE(f.exists(".optdb/intents/t9.json"));
}

TEST_CASE("an interrupted commit without an intent is finished from its revision file", "[integrity]") {
  Fixture f;
  f.standard();
  REQUIRE(f.raw->saveRevision("b1", 6, "t4").isOk());  // t4 is pending on b1
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"interrupted-commit", "b1/revs/6.json"}});
  repairToClean(f, {"finish-commit b1/revs/6.json"});
  REQUIRE(f.meta("b1").latest == TrxRev{"t4", 6});
  REQUIRE(f.get("b1")->at("last") == "t4");
  REQUIRE_FALSE(f.exists("b1/pend/t4.json"));
}

TEST_CASE("one transaction both pending and committed: the pending file goes", "[integrity]") {
  Fixture f;
  f.standard();
  f.write("b1/pend/t3.json", f.read("b1/trx/t3.json"));
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"pending-committed", "b1/pend/t3.json"}});
  repairToClean(f, {"remove-pending b1/pend/t3.json"});
  REQUIRE(f.exists("b1/trx/t3.json"));
}

TEST_CASE("stray temporary files are reported and removed", "[integrity]") {
  Fixture f;
  f.standard();
  REQUIRE(f.env->createDir(".optdb/intents").isOk());
  for (const char* p : {"b1/blocks/.t3.json.tmp.99.1", "b1/.meta.json.tmp.99.2", ".optdb/intents/.t9.json.tmp.99.3"})
    f.write(p, "half");
  // Any writer's: a dot-name (SPEC §2), and upstream v0.24's <final>.<pid>.<n>.tmp.
  f.write("b1/pend/.junk.json.123.tmp", "x");
  f.write("b1/blocks/t3.json.4242.7.tmp", "half");
  f.write("b1/meta.json.4242.0.tmp", "half");
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"temp-file", ".optdb/intents/.t9.json.tmp.99.3"},
                                                 {"temp-file", "b1/.meta.json.tmp.99.2"},
                                                 {"temp-file", "b1/blocks/.t3.json.tmp.99.1"},
                                                 {"temp-file", "b1/pend/.junk.json.123.tmp"},
                                                 {"temp-file", "b1/blocks/t3.json.4242.7.tmp"},
                                                 {"temp-file", "b1/meta.json.4242.0.tmp"}});
  repairToClean(f, {"remove-temp .optdb/intents/.t9.json.tmp.99.3", "remove-temp b1/.meta.json.tmp.99.2",
                    "remove-temp b1/blocks/.t3.json.tmp.99.1", "remove-temp b1/blocks/t3.json.4242.7.tmp",
                    "remove-temp b1/meta.json.4242.0.tmp", "remove-temp b1/pend/.junk.json.123.tmp"});
  REQUIRE(!f.exists("b1/pend/.junk.json.123.tmp"));
  REQUIRE(f.exists("b1/blocks/t3.json"));
}

TEST_CASE("names that only look like upstream's temporary files are data or strangers, never removed", "[integrity]") {
  Fixture f;
  f.standard();
  for (const char* p : {"b1/blocks/x.tmp", "b1/blocks/a.1.tmp", "b1/blocks/.1.2.tmp.json", "b1/notes.1.2.tmpx"})
    f.write(p, "keep");
  auto found = kinds(f.check());
  CHECK(found.count({"temp-file", "b1/blocks/x.tmp"}) == 0);
  CHECK(found.count({"temp-file", "b1/blocks/a.1.tmp"}) == 0);
  CHECK(found.count({"temp-file", "b1/notes.1.2.tmpx"}) == 0);
  CHECK(found.count({"temp-file", "b1/blocks/.1.2.tmp.json"}) == 1);  // a dot-name
}

TEST_CASE("names that are not valid ids, and directories where files belong", "[integrity]") {
  Fixture f;
  f.standard();
  f.write("b1/pend/bad id!.json", "{}");
  f.write("b1/revs/abc.json", "t1");
  f.write("b1/revs/007.json", "t1");
  f.write("b1/trx/notes.txt", "not data: never a problem");
  REQUIRE(f.env->createDir("b2/blocks/t9.json").isOk());
  REQUIRE(f.env->createDir("bad\x01id").isOk());
  f.write("bad\x01id/meta.json", R"({"ranges":[[0]]})");
  auto problems = f.check();
  REQUIRE(kinds(problems) == std::set<KindPath>{{"bad-name", "b1/pend/bad id!.json"},
                                                {"bad-name", "b1/revs/007.json"},
                                                {"bad-name", "b1/revs/abc.json"},
                                                {"bad-type", "b2/blocks/t9.json"},
                                                {"bad-name", "bad\\x01id"}});
  for (const auto& p : problems) REQUIRE(toJson(p.toJson()).find('\x01') == std::string::npos);
  auto r = f.repair();
  REQUIRE(r.actions.empty());
  REQUIRE(kinds(r.remaining) == kinds(problems));
}

TEST_CASE("a revision file naming a transaction twice: duplicate-revision, never made latest", "[integrity]") {
  Fixture f;
  f.standard();
  f.write("b1/revs/9.json", "t2");
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"duplicate-revision", "b1/revs/9.json"}});
  auto r = f.repair();
  REQUIRE(r.actions.empty());
  REQUIRE(f.meta("b1").latest == TrxRev{"t3", 5});
}

TEST_CASE("a malformed commit intent: bad-json, kept", "[integrity]") {
  Fixture f;
  f.standard();
  REQUIRE(f.env->createDir(".optdb/intents").isOk());
  f.write(".optdb/intents/t8.json", R"({"trxId":"t8"})");
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"bad-json", ".optdb/intents/t8.json"}});
  auto r = f.repair();
  REQUIRE(kinds(r.remaining) == std::set<KindPath>{{"bad-json", ".optdb/intents/t8.json"}});
  REQUIRE(f.exists(".optdb/intents/t8.json"));
}

TEST_CASE("symbolic links in a MemEnv store: reported where they stand, never followed or removed", "[integrity]") {
  Fixture f;
  f.standard();
  auto mem = std::static_pointer_cast<MemEnv>(f.env);
  mem->addSymlink("outside");
  mem->addSymlink("b1/trx/evil.json");
  mem->addSymlink("b2/pend");  // a whole data directory
  mem->addSymlink(".optdb/escape");
  requireLeftByRepair(f, f.check(), {{"symlink", "outside"},
                                      {"symlink", "b1/trx/evil.json"},
                                      {"symlink", "b2/pend"},
                                      {"symlink", ".optdb/escape"}});
  for (const char* p : {"outside", "b1/trx/evil.json", "b2/pend", ".optdb/escape"})
    REQUIRE(*f.env->fileType(p) == FileType::Symlink);
  // Named, a symlink where a block belongs is reported and not found.
  std::vector<Problem> named;
  CheckOptions o;
  o.blockIds = {"outside"};
  auto c = checkStore(*f.raw, o, [&](const Problem& p) { named.push_back(p); });
  REQUIRE(c.isOk());
  REQUIRE(c->notFound == std::vector<BlockId>{"outside"});
  REQUIRE(kinds(named) == std::set<KindPath>{{"symlink", "outside"}});
}

TEST_CASE("symbolic links escaping a real store are never followed", "[integrity]") {
  TempDir dir("integrity"), outside("integrity");
  std::string store = dir.path() + "/store";
  Fixture f(std::shared_ptr<Env>(newPosixEnv(store)));
  f.standard();
  // Outside the store: a tree full of things that would be problems if followed.
  std::filesystem::create_directories(outside.path() + "/b9/trx");
  std::ofstream(outside.path() + "/b9/meta.json") << "{broken";
  std::ofstream(outside.path() + "/b9/trx/t1.json") << "garbage";
  std::ofstream(outside.path() + "/.x.json.tmp.1.1") << "temp";
  REQUIRE(::symlink(outside.path().c_str(), (store + "/outside").c_str()) == 0);         // ln -s DIR outside
  REQUIRE(::symlink((outside.path() + "/b9").c_str(), (store + "/b9").c_str()) == 0);    // a "block"
  REQUIRE(::symlink("/etc/passwd", (store + "/b1/revs/99.json").c_str()) == 0);
  REQUIRE(::symlink((outside.path() + "/b9/trx").c_str(), (store + "/b2/trx2").c_str()) == 0);
  REQUIRE(::symlink("/tmp", (store + "/b2/blocks/t9.json").c_str()) == 0);
  requireLeftByRepair(f, f.check(), {{"symlink", "outside"},
                                      {"symlink", "b9"},
                                      {"symlink", "b1/revs/99.json"},
                                      {"symlink", "b2/trx2"},
                                      {"symlink", "b2/blocks/t9.json"}});
  for (const char* p : {"/outside", "/b9", "/b1/revs/99.json", "/b2/trx2", "/b2/blocks/t9.json"})
    REQUIRE(std::filesystem::is_symlink(store + p));
  REQUIRE(std::filesystem::exists(outside.path() + "/.x.json.tmp.1.1"));  // nothing outside was touched
  // Reads still work around them.
  REQUIRE(f.get("b1")->at("last") == "t3");
  // Summary and named check do not follow them either.
  std::vector<Problem> onProblem;
  SummaryOptions so;
  auto s = summarizeStore(*f.raw, so, [](const BlockSummary&) {}, [&](const Problem& p) { onProblem.push_back(p); });
  REQUIRE(s.isOk());
  REQUIRE(s->store.blocks == 2);
  REQUIRE(s->store.problems == 0);
}

TEST_CASE("repair on a real directory: a crash's leftovers, fixed", "[integrity]") {
  TempDir dir("integrity");
  std::string store = dir.path() + "/store";
  Fixture f(std::shared_ptr<Env>(newPosixEnv(store)));
  f.standard();
  auto now = f.get("b1");
  std::ofstream(store + "/b1/meta.json") << R"({"ranges":[[0]],"lat)";
  std::ofstream(store + "/b1/revs/.5.json.tmp.42.7") << "t3";
  std::filesystem::remove(store + "/b1/blocks/t3.json");
  REQUIRE(kinds(f.check()) ==
          std::set<KindPath>{{"bad-json", "b1/meta.json"}, {"temp-file", "b1/revs/.5.json.tmp.42.7"}});
  repairToClean(f, {"remove-temp b1/revs/.5.json.tmp.42.7", "rebuild-meta b1/meta.json", "write-tip b1/blocks/t3.json"});
  REQUIRE(json(f.get("b1")) == json(now));
}

TEST_CASE("a dry run changes nothing and foresees the real run", "[integrity]") {
  Fixture f;
  f.standard();
  f.write("b1/meta.json", R"({"ranges":[[3],[0,1]],"latest":{"trxId":"t2","rev":3}})");  // unsorted, and t3 above it
  f.write("b2/pend/t1.json", f.read("b2/trx/t1.json"));
  f.write("b2/blocks/.x.json.tmp.1.1", "");
  f.remove("b2/revs/1.json");  // lost; b1 records t1 at 1
  f.write("b2/trx/t7.json", "nope");
  auto snap = f.snapshot();
  auto dry = f.repair(true);
  REQUIRE(f.snapshot() == snap);
  auto real = f.repair();
  REQUIRE(actionsOf(dry) == actionsOf(real));
  REQUIRE(kinds(dry.remaining) == kinds(real.remaining));
  REQUIRE(kinds(real.remaining) == std::set<KindPath>{{"bad-json", "b2/trx/t7.json"}, {"lost-revision", "b2/trx/t7.json"}});
  REQUIRE(f.meta("b1").latest == TrxRev{"t3", 5});
  REQUIRE(f.read("b2/revs/1.json") == "t1");
}

TEST_CASE("check and repair limited to named blocks", "[integrity]") {
  Fixture f;
  f.standard();
  f.write("b1/meta.json", "{");
  f.write("b2/blocks/.y.json.tmp.1.1", "");
  REQUIRE(kinds(f.check({"b2"})) == std::set<KindPath>{{"temp-file", "b2/blocks/.y.json.tmp.1.1"}});
  CheckOptions o;
  o.blockIds = {"b2", "nope"};
  auto c = checkStore(*f.raw, o, [](const Problem&) {});
  REQUIRE(c.isOk());
  REQUIRE(c->notFound == std::vector<BlockId>{"nope"});
  auto r = f.repair(false, {"b2"});
  REQUIRE(actionsOf(r) == std::vector<std::string>{"remove-temp b2/blocks/.y.json.tmp.1.1"});
  REQUIRE(r.remaining.empty());
  REQUIRE(kinds(f.check()) == std::set<KindPath>{{"bad-json", "b1/meta.json"}});
  o.blockIds = {"../b1"};
  REQUIRE(checkStore(*f.raw, o, [](const Problem&) {}).status().code() == Code::InvalidInput);
}

TEST_CASE("inspect summary: per block and for the store, without parsing transforms", "[integrity]") {
  Fixture f;
  f.standard();
  std::vector<BlockSummary> seen;
  SummaryOptions o;
  o.revisions = true;
  auto r = summarizeStore(*f.raw, o, [&](const BlockSummary& s) { seen.push_back(s); }, [](const Problem&) {});
  REQUIRE(r.isOk());
  REQUIRE(seen.size() == 2);
  const auto& b1 = seen[0];
  REQUIRE(b1.blockId == "b1");
  REQUIRE(b1.latest == TrxRev{"t3", 5});
  REQUIRE(b1.revisionCount == 3);
  REQUIRE(b1.firstRev == Rev{1});
  REQUIRE(b1.lastRev == Rev{5});
  REQUIRE(b1.pendings == std::vector<TrxId>{"t4"});
  REQUIRE(b1.revisions->size() == 3);
  REQUIRE(b1.revisions->at(2).trxId == "t3");
  REQUIRE(b1.revisions->at(2).materialized);
  REQUIRE(b1.revisions->at(2).transformBytes == f.read("b1/trx/t3.json").size());
  REQUIRE(b1.bytes > 0);
  REQUIRE(r->store.blocks == 2);
  REQUIRE(r->store.revisions == 5);
  REQUIRE(r->store.pendings == 1);
  REQUIRE(r->store.bytes == seen[0].bytes + seen[1].bytes);
  REQUIRE(r->store.problems == 0);
  REQUIRE(toJson(b1.toJson()).rfind(R"({"blockId":"b1","dialect":"trx","ranges":[[0]],"latest":{"trxId":"t3","rev":5},"revisionCount":3,"revisionSpan":[1,5],"pendings":["t4"],)", 0) == 0);
  // A meta.json that does not parse is a problem of the summary too; the block is still listed.
  f.write("b2/meta.json", "nope");
  f.write("b1/trx/t2.json", "nope");  // transforms are not parsed by the summary
  std::vector<Problem> problems;
  seen.clear();
  r = summarizeStore(*f.raw, SummaryOptions{}, [&](const BlockSummary& s) { seen.push_back(s); },
                     [&](const Problem& p) { problems.push_back(p); });
  REQUIRE(r.isOk());
  REQUIRE(kinds(problems) == std::set<KindPath>{{"bad-json", "b2/meta.json"}});
  REQUIRE(seen.size() == 2);
  REQUIRE_FALSE(seen[1].ranges);
}

TEST_CASE("many blocks are checked one at a time", "[integrity]") {
  // Not a memory measurement, but the whole path at some scale: 600 blocks,
  // each with history, a few broken; problems arrive in block order.
  Fixture f;
  const int n = 600;
  for (int i = 0; i < n; i += 3) {
    Transforms t;
    std::vector<BlockId> ids;
    for (int k = i; k < i + 3; ++k) {
      std::string id = fmt::format("blk{:04d}", k);
      t.inserts.push_back({id, block(id)});
      ids.push_back(id);
    }
    f.pend(fmt::format("t{}", i), t, 1);
    f.commit(fmt::format("t{}", i), ids, 1);
  }
  f.write("blk0100/meta.json", "{");
  f.write("blk0500/blocks/.z.json.tmp.1.1", "");
  std::vector<std::string> order;
  CheckOptions o;
  auto r = checkStore(*f.raw, o, [&](const Problem& p) { order.push_back(p.path); });
  REQUIRE(r.isOk());
  REQUIRE(order == std::vector<std::string>{"blk0100/meta.json", "blk0500/blocks/.z.json.tmp.1.1"});
  auto rep = f.repair();
  REQUIRE(rep.remaining.empty());
  REQUIRE(rep.actions.size() == 2);
}
