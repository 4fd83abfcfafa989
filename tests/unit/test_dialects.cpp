// The two layout generations (SPEC §2): how a block's and a store's dialect
// are chosen, that nothing optdb does mixes them within a block, migrate at
// every mutation under a kill and a power cut, mixed-dialect check and
// repair, and archives in either dialect.
#include "optdb/archive.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

namespace {

struct Store {
  std::shared_ptr<MemEnv> env = std::make_shared<MemEnv>();
  std::shared_ptr<FileRawStorage> raw;
  std::unique_ptr<StorageRepo> repo;
  explicit Store(std::optional<Dialect> layout = std::nullopt) { reopen(layout); }
  // A fresh process on the same disk.
  void reopen(std::optional<Dialect> layout = std::nullopt) {
    raw = std::make_shared<FileRawStorage>(env, true, layout);
    StoreOptions o;
    o.layout = layout;
    repo = std::make_unique<StorageRepo>(raw, o);
  }
  std::vector<Problem> check() {
    std::vector<Problem> problems;
    auto r = checkStore(*raw, CheckOptions{}, [&](const Problem& p) { problems.push_back(p); });
    REQUIRE(r.isOk());
    return problems;
  }
  bool has(const std::string& path) {
    auto t = env->fileType(path);
    REQUIRE(t.isOk());
    return *t != FileType::None;
  }
  std::string read(const std::string& path) {
    auto d = env->readFile(path);
    REQUIRE(d.isOk());
    return *d;
  }
};

const std::vector<BlockId> kBlocks = {"a", "b", "c"};

// Six commits over three blocks (one on several blocks, a delete, a
// re-insert), then a pending left on `a`.
void history(StorageRepo& repo) {
  pendOk(repo, "t1", R"({"inserts":{"a":)" + B("a", R"("v":[1])") + R"(,"b":)" + B("b", R"("v":[2])") + "}}", 1);
  commitOk(repo, "t1", {"a", "b"}, 1);
  pendOk(repo, "t2", R"({"updates":{"a":[["v",1,0,[3]]],"b":[["v",0,1,[]]]}})", 2);
  commitOk(repo, "t2", {"a", "b"}, 2);
  pendOk(repo, "tx:3", R"({"inserts":{"c":)" + B("c", R"("v":[])") + R"(},"deletes":["b"]})", 3);
  commitOk(repo, "tx:3", {"c", "b"}, 3);
  pendOk(repo, "t4", R"({"updates":{"c":[["v",0,0,["x"]]]}})", 5);
  commitOk(repo, "t4", {"c"}, 5);
  pendOk(repo, "t5", R"({"inserts":{"b":)" + B("b", R"("again":true)") + "}}", 6);
  commitOk(repo, "t5", {"b"}, 6);
  pendOk(repo, "t6", R"({"updates":{"a":[["w",0,0,"x"]]}})", 7);
  commitOk(repo, "t6", {"a"}, 7);
  pendOk(repo, "p1", R"({"updates":{"a":[["v",0,0,[0]]]}})");
}

// Every block at every revision 0 … 8, its latest and its pendings.
std::string reads(StorageRepo& repo) {
  std::string out;
  for (const auto& id : kBlocks) {
    for (Rev r = 0; r <= 8; ++r) {
      std::string b = readBlock(repo, id, r);
      // Below a block's first commit there is none: absent where the trx
      // dialect holds revisions from 0, not held where migrate to actions
      // narrowed the range to the first commit, as upstream writes it.
      if (b == "<absent>" || b == "<not found>") b = "<no block>";
      out += id + "@" + std::to_string(r) + " " + b + "\n";
    }
    auto g = repo.get({id});
    REQUIRE(g.isOk());
    out += toJson(g->toJson()) + "\n";
  }
  return out;
}

// The dialects a block's files show: meta.json's latest and its trx/, actions/.
std::set<Dialect> shown(Store& s, const BlockId& id) {
  std::set<Dialect> out;
  const std::string meta = s.read(id + "/meta.json");
  if (meta.find("\"trxId\"") != std::string::npos) out.insert(Dialect::Trx);
  if (meta.find("\"actionId\"") != std::string::npos) out.insert(Dialect::Actions);
  if (s.has(id + "/trx")) out.insert(Dialect::Trx);
  if (s.has(id + "/actions")) out.insert(Dialect::Actions);
  return out;
}

// The archives `req` writes, as NDJSON.
std::string archivesOf(FileRawStorage& raw, const ArchiveRequest& req) {
  std::string out;
  REQUIRE(writeArchives(raw, req, [&](const BlockArchive& a) {
            appendArchiveLine(out, a);
            return Status::ok();
          }).isOk());
  return out;
}

std::string problemKinds(const std::vector<Problem>& ps) {
  std::string out;
  for (const auto& p : ps) out += p.kind + " " + p.path + "\n";
  return out;
}

}  // namespace

TEST_CASE("a new store takes the actions dialect and records it, --layout, settings and existing blocks choose otherwise",
          "[dialect]") {
  {
    Store s;
    pendOk(*s.repo, "t1", R"({"inserts":{"a":)" + B("a", R"("v":1)") + "}}");
    CHECK(s.read("a/meta.json") == R"({"ranges":[]})");
    CHECK(s.read(".optdb/settings.json") == R"({"layout":"actions"})");
    commitOk(*s.repo, "t1", {"a"}, 3);
    CHECK(s.read("a/meta.json") == R"({"ranges":[[3]],"latest":{"actionId":"t1","rev":3}})");
    CHECK(s.has("a/actions/t1.json"));
    CHECK(!s.has("a/trx"));
    CHECK(!s.has("a/revs/optdb-index"));  // upstream's files, no more
    CHECK(s.has(".optdb/index/a"));       // the revision index is optdb's own
  }
  {
    Store s(Dialect::Trx);
    pendOk(*s.repo, "t1", R"({"inserts":{"a":)" + B("a", R"("v":1)") + "}}");
    CHECK(s.read("a/meta.json") == R"({"ranges":[[0]]})");
    CHECK(s.read(".optdb/settings.json") == R"({"layout":"trx"})");
    commitOk(*s.repo, "t1", {"a"}, 3);
    CHECK(s.read("a/meta.json") == R"({"ranges":[[0]],"latest":{"trxId":"t1","rev":3}})");
    CHECK(s.has("a/trx/t1.json"));
    // settings.json, not the default, decides for a later process.
    s.reopen();
    pendOk(*s.repo, "t2", R"({"inserts":{"n":)" + B("n", R"("v":1)") + "}}");
    CHECK(s.read("n/meta.json") == R"({"ranges":[[0]]})");
    // A --layout that contradicts a block converts nothing: a keeps trx, a new block takes actions.
    s.reopen(Dialect::Actions);
    pendOk(*s.repo, "t3", R"({"updates":{"a":[["v",0,0,2]]},"inserts":{"m":)" + B("m", R"("v":1)") + "}}", 4);
    commitOk(*s.repo, "t3", {"a", "m"}, 4);
    CHECK(shown(s, "a") == std::set<Dialect>{Dialect::Trx});
    CHECK(shown(s, "m") == std::set<Dialect>{Dialect::Actions});
    CHECK(s.check().empty());
  }
  {
    // A store written before settings.json: its blocks' dialect, when they agree.
    Store s(Dialect::Trx);
    pendOk(*s.repo, "t1", R"({"inserts":{"a":)" + B("a", R"("v":1)") + "}}");
    commitOk(*s.repo, "t1", {"a"}, 1);
    REQUIRE(s.env->removeFile(".optdb/settings.json").isOk());
    s.reopen();
    pendOk(*s.repo, "t2", R"({"inserts":{"n":)" + B("n", R"("v":1)") + "}}");
    CHECK(s.read("n/meta.json") == R"({"ranges":[[0]]})");
    CHECK(s.read(".optdb/settings.json") == R"({"layout":"trx"})");
  }
}

TEST_CASE("every writer keeps each block in its own dialect", "[dialect]") {
  for (Dialect d : kDialects) {
    INFO(namesOf(d).name);
    Store s(d);
    history(*s.repo);
    REQUIRE(s.repo->cancel("p1", {"a"}).isOk());
    pendOk(*s.repo, "p2", R"({"updates":{"a":[["v",0,0,[9]]]}})");
    // Restore into another store of the other dialect: archives carry the source's names.
    ArchiveRequest all;
    all.all = true;
    const std::string archives = archivesOf(*s.raw, all);
    CHECK(archives.find(std::string("\"") + namesOf(d).revisionEntry + "\":{\"" + namesOf(d).idMember + "\"") !=
          std::string::npos);
    CHECK(archives.find(std::string("\"") + namesOf(otherDialect(d)).idMember + "\"") == std::string::npos);
    Store t(otherDialect(d));
    auto restored = restoreArchives(*t.raw, {{"all", archives}}, 5);
    REQUIRE(restored.isOk());
    CHECK(restored->rejected.empty());
    for (const auto& id : kBlocks) {
      INFO(id);
      CHECK(shown(s, id) == std::set<Dialect>{d});
      CHECK(shown(t, id) == std::set<Dialect>{otherDialect(d)});
    }
    CHECK(reads(*t.repo) == reads(*s.repo));
    CHECK(s.check().empty());
    CHECK(t.check().empty());
    // --layout picks the archives' dialect.
    all.layout = otherDialect(d);
    const std::string other = archivesOf(*s.raw, all);
    CHECK(other.find(std::string("\"") + namesOf(d).idMember + "\"") == std::string::npos);
  }
}

TEST_CASE("migrate: a kill or a power cut at every mutation leaves every block reading as before, a rerun finishes",
          "[dialect][powercut]") {
  std::size_t cases = 0;
  for (Dialect from : kDialects) {
    const Dialect to = otherDialect(from);
    for (bool powerCut : {false, true}) {
      for (std::uint64_t k = 0;; ++k) {
        Store s(from);
        history(*s.repo);
        REQUIRE(s.env->syncAll().isOk());  // the history is durable; what a power cut may undo is migrate's
        const std::string before = reads(*s.repo);
        s.reopen();
        s.env->crashAfter(k);
        auto done = s.repo->migrate({}, true, to);
        if (powerCut) s.env->powerCut();
        s.env->crashAfter(std::nullopt);
        s.reopen();
        ++cases;
        INFO("to " << namesOf(to).name << ", " << (powerCut ? "power cut" : "killed") << " after " << k
                   << " mutations, acknowledged: " << done.isOk());
        CHECK(reads(*s.repo) == before);
        for (const auto& id : kBlocks) {
          auto d = shown(s, id);
          if (done.isOk()) CHECK(d == std::set<Dialect>{to});
        }
        // Only a block caught halfway is reported, and as mixed-dialect (or a stray temporary file).
        for (const auto& p : s.check()) {
          INFO(p.kind << " " << p.path << ": " << p.message);
          CHECK((p.kind == problem::kMixedDialect || p.kind == problem::kTempFile));
        }
        if (k % 2 == 0) {
          auto again = s.repo->migrate({}, true, to);
          REQUIRE(again.isOk());
          auto report = repairStore(*s.raw, RepairOptions{});  // the temporary files a kill left
          REQUIRE(report.isOk());
        } else {
          // Repair alone finishes it, in whichever dialect each block's meta.json names; migrate then converts the rest.
          auto report = repairStore(*s.raw, RepairOptions{});
          REQUIRE(report.isOk());
          INFO(describe(report->remaining));
          CHECK(report->remaining.empty());
          CHECK(reads(*s.repo) == before);
          REQUIRE(s.repo->migrate({}, true, to).isOk());
        }
        INFO(problemKinds(s.check()));
        CHECK(s.check().empty());
        for (const auto& id : kBlocks) CHECK(shown(s, id) == std::set<Dialect>{to});
        CHECK(s.read(".optdb/settings.json") == std::string(R"({"layout":")") + namesOf(to).name + "\"}");
        CHECK(reads(*s.repo) == before);
        // Upstream's ranges: from the first commit, not from 0.
        if (to == Dialect::Actions) CHECK(s.read("a/meta.json") == R"({"ranges":[[1]],"latest":{"actionId":"t6","rev":7}})");
        // optdb's revision index: in revs/ for trx, under .optdb/ for actions (upstream's tree exactly).
        CHECK(s.has("a/revs/optdb-index") == (to == Dialect::Trx));
        CHECK(s.has(".optdb/index/a") == (to == Dialect::Actions));
        if (done.isOk()) break;  // k passed migrate's last mutation
      }
    }
  }
  WARN("migrate crash cases: " << cases);
  CHECK(cases > 40);
}

TEST_CASE("migrate: named blocks, unchanged blocks, a missing block, a stranger in the old directory", "[dialect]") {
  Store s(Dialect::Trx);
  history(*s.repo);
  auto r = s.repo->migrate({"a", "c"}, false, Dialect::Actions);
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"migrated":["a","c"],"unchanged":[]})");
  CHECK(shown(s, "b") == std::set<Dialect>{Dialect::Trx});
  r = s.repo->migrate({"a", "b"}, false, Dialect::Actions);
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"migrated":["b"],"unchanged":["a"]})");
  const std::string before = reads(*s.repo);
  CHECK(s.repo->migrate({"a", "zz"}, false, Dialect::Trx).status().code() == Code::NotFound);
  CHECK(shown(s, "a") == std::set<Dialect>{Dialect::Actions});  // nothing converted
  auto f = s.env->newWritableFile("c/actions/notes.txt");
  REQUIRE(f.isOk());
  REQUIRE((*f)->close().isOk());
  CHECK(s.repo->migrate({"c"}, false, Dialect::Trx).status().code() == Code::Integrity);
  CHECK(reads(*s.repo) == before);
  CHECK(!s.has("c/trx/t4.json"));  // refused before anything was written
}

TEST_CASE("a mixed-dialect block is reported, and repair converts it to its meta.json's dialect", "[dialect]") {
  Store s(Dialect::Trx);
  history(*s.repo);
  const std::string before = reads(*s.repo);
  // What a hand conversion half done leaves: c's transforms moved to actions/, meta.json still trx.
  for (const char* name : {"t4.json", "tx%3A3.json"}) {
    auto f = s.env->newWritableFile(std::string("c/actions/") + name);
    if (!f.isOk()) {
      REQUIRE(s.env->createDir("c/actions").isOk());
      f = s.env->newWritableFile(std::string("c/actions/") + name);
    }
    REQUIRE(f.isOk());
    REQUIRE((*f)->append(s.read(std::string("c/trx/") + name)).isOk());
    REQUIRE((*f)->close().isOk());
    REQUIRE(s.env->removeFile(std::string("c/trx/") + name).isOk());
  }
  s.reopen();
  CHECK(reads(*s.repo) == before);
  CHECK(problemKinds(s.check()) == "mixed-dialect c\n");
  auto report = repairStore(*s.raw, RepairOptions{});
  REQUIRE(report.isOk());
  REQUIRE(report->actions.size() == 1);
  CHECK(report->actions[0].action == action::kConvertDialect);
  CHECK(report->remaining.empty());
  CHECK(shown(s, "c") == std::set<Dialect>{Dialect::Trx});
  CHECK(s.has("c/trx/t4.json"));
  CHECK(reads(*s.repo) == before);
  CHECK(s.check().empty());
}

TEST_CASE("a block with only pendings travels through archive and restore in either dialect", "[dialect]") {
  Store s;  // actions: the block holds no range
  pendOk(*s.repo, "p1", R"({"inserts":{"p":)" + B("p", R"("v":1)") + "}}");
  REQUIRE(s.read("p/meta.json") == R"({"ranges":[]})");
  ArchiveRequest req;
  req.blockIds = {"p"};
  const std::string archives = archivesOf(*s.raw, req);
  CHECK(archives.find(R"("pending":{"p1":{"actionId":"p1","transforms":)") != std::string::npos);
  for (Dialect d : kDialects) {
    INFO(namesOf(d).name);
    Store t(d);
    REQUIRE(restoreArchives(*t.raw, {{"a", archives}}, 5).isOk());
    CHECK(t.read("p/meta.json") == (d == Dialect::Actions ? R"({"ranges":[]})" : R"({"ranges":[[0]]})"));
    CHECK(t.read("p/pend/p1.json") == s.read("p/pend/p1.json"));
    CHECK(t.check().empty());
  }
}

TEST_CASE("restore keeps the materializations the target block's own retention rule keeps", "[dialect]") {
  for (Dialect d : kDialects) {
    INFO(namesOf(d).name);
    Store s(d);
    pendOk(*s.repo, "l1", R"({"inserts":{"la":)" + B("la", R"("n":[])") + "}}", 1);
    commitOk(*s.repo, "l1", {"la"}, 1);
    for (Rev r = 2; r <= 40; ++r) {
      const std::string id = "l" + std::to_string(r);
      pendOk(*s.repo, id, R"({"updates":{"la":[["n",1000,0,[)" + std::to_string(r) + "]]]}}", r);
      commitOk(*s.repo, id, {"la"}, r);
    }
    ArchiveRequest req;
    req.blockIds = {"la"};
    const std::string archives = archivesOf(*s.raw, req);
    Store t(d);
    REQUIRE(restoreArchives(*t.raw, {{"a", archives}}, 5).isOk());
    auto names = [](Store& st) {
      std::set<std::string> out;
      for (const auto& e : st.env->listDir("la/blocks").value()) out.insert(e.name);
      return out;
    };
    // What commits kept is what restore keeps: trx 1, 17, 33, 40; actions 1, 32, 40.
    CHECK(names(t) == names(s));
    CHECK(names(s) == (d == Dialect::Trx ? std::set<std::string>{"l1.json", "l17.json", "l33.json", "l40.json"}
                                         : std::set<std::string>{"l1.json", "l32.json", "l40.json"}));
    for (Rev r : {1, 16, 17, 31, 32, 33, 40}) CHECK(readBlock(*t.repo, "la", r) == readBlock(*s.repo, "la", r));
    CHECK(t.check().empty());
  }
}

TEST_CASE("migrate on a full disk: an I/O error, every block as before, finished once there is room", "[dialect]") {
  Store s(Dialect::Trx);
  history(*s.repo);
  const std::string before = reads(*s.repo);
  s.env->setDiskFull(true);
  auto full = s.repo->migrate({}, true, Dialect::Actions);
  CHECK(full.status().code() == Code::IoError);
  s.env->setDiskFull(false);
  s.reopen();
  CHECK(reads(*s.repo) == before);
  for (const auto& p : s.check()) CHECK((p.kind == problem::kMixedDialect || p.kind == problem::kTempFile));
  REQUIRE(s.repo->migrate({}, true, Dialect::Actions).isOk());
  REQUIRE(repairStore(*s.raw, RepairOptions{}).isOk());  // temporary files the failed writes left
  CHECK(s.check().empty());
  for (const auto& id : kBlocks) CHECK(shown(s, id) == std::set<Dialect>{Dialect::Actions});
  CHECK(reads(*s.repo) == before);
}
