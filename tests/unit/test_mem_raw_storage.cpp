// The layers above RawStorage (BlockStorage, StorageRepo, integrity's check,
// repair and summary) on a second backend that has no file names at all
// (MemRawStorage, mem_raw_storage.hpp), against the directory backend
// (FileRawStorage over a MemEnv) doing the same: the same reads, the same
// problems (paths translated), the same repairs, the same summaries.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

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

// One store on either backend.
struct Side {
  std::shared_ptr<MemRawStorage> mem;  // the memory backend, or
  std::shared_ptr<MemEnv> env;         // the directory backend's files
  std::shared_ptr<FileRawStorage> file;
  std::shared_ptr<RawStorage> raw;
  std::unique_ptr<StorageRepo> repo;

  static std::unique_ptr<Side> memory(Dialect d = Dialect::Trx, double lockTimeout = 30.0) {
    auto s = std::make_unique<Side>();
    s->mem = std::make_shared<MemRawStorage>(d);
    s->raw = s->mem;
    // Over shared_ptr<MemRawStorage>, as StorageRepo takes any RawStorage.
    s->repo = std::make_unique<StorageRepo>(s->mem, StoreOptions{true, lockTimeout, d, {}});
    return s;
  }
  static std::unique_ptr<Side> directory(Dialect d = Dialect::Trx) {
    auto s = std::make_unique<Side>();
    s->env = std::make_shared<MemEnv>();
    // The store's dialect recorded, not a --layout that would override it.
    s->file = std::make_shared<FileRawStorage>(s->env, true, std::nullopt);
    REQUIRE(s->file->setStoreDialect(d).isOk());
    s->raw = s->file;
    s->repo = std::make_unique<StorageRepo>(s->file, StoreOptions{true, 30.0, d, {}});
    return s;
  }
  static std::unique_ptr<Side> make(bool memory, Dialect d = Dialect::Trx) {
    return memory ? Side::memory(d) : Side::directory(d);
  }
  const char* name() const { return mem ? "memory" : "directory"; }

  std::vector<Problem> check() {
    std::vector<Problem> out;
    auto r = checkStore(*raw, CheckOptions{}, [&](const Problem& p) { out.push_back(p); });
    INFO(name() << ": " << r.status().message());
    REQUIRE(r.isOk());
    REQUIRE(r->problems == out.size());
    return out;
  }
  RepairReport repair(bool dryRun) {
    RepairOptions o;
    o.dryRun = dryRun;
    auto r = repairStore(*raw, o);
    INFO(name() << ": " << r.status().message());
    REQUIRE(r.isOk());
    return std::move(r).value();
  }
  // What a dry run must leave unchanged: every item (memory) or file (directory).
  std::string state() {
    if (mem) return mem->dump();
    std::string out;
    for (const auto& [p, bytes] : envTree(*env, /*skipLocks=*/true)) out += p + " " + bytes + "\n";
    return out;
  }

  // Directory-backend damage.
  void write(const std::string& path, const std::string& text) {
    auto slash = path.rfind('/');
    if (slash != std::string::npos) REQUIRE(env->createDir(path.substr(0, slash)).isOk());
    auto f = env->newWritableFile(path);
    REQUIRE(f.isOk());
    REQUIRE((*f)->append(text).isOk());
    REQUIRE((*f)->close().isOk());
  }
  std::string read(const std::string& path) {
    auto r = env->readFile(path);
    REQUIRE(r.isOk());
    return *r;
  }
  void remove(const std::string& path) { REQUIRE(env->removeFile(path).isOk()); }
};

std::string outcome(const Status& s) { return fmt::format("error {}", static_cast<int>(s.code())); }
template <typename R>
std::string outcome(const Result<R>& r) {
  if (!r) return outcome(r.status());
  return fmt::format("{} exit {}", toJson(r->toJson()), static_cast<int>(r->exitCode()));
}

std::string block(const std::string& id) { return B(id, R"("log":[],"last":"")"); }
std::string appendOps(const std::string& tag) {
  return R"([["log",1000000,0,[")" + tag + R"("]],["last",0,0,")" + tag + R"("]])";
}
std::string updates(const std::vector<BlockId>& ids, const std::string& tag) {
  std::string s = R"({"updates":{)";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + ("\"" + ids[i] + "\":" + appendOps(tag));
  return s + "}}";
}

PendRequest request(const TrxId& trx, const std::string& transforms, std::optional<Rev> rev,
                    Policy policy = Policy::Continue) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = T(transforms);
  req.rev = rev;
  req.policy = policy;
  req.timeoutSeconds = 0.05;
  return req;
}

// b1, b2: t1 inserts both at 1, t2 updates both at 3, t3 updates b1 at 5; t4 pending on b1.
void standard(StorageRepo& repo) {
  pendOk(repo, "t1", R"({"inserts":{"b1":)" + block("b1") + R"(,"b2":)" + block("b2") + "}}", 1);
  commitOk(repo, "t1", {"b1", "b2"}, 1);
  pendOk(repo, "t2", updates({"b1", "b2"}, "t2"), 3);
  commitOk(repo, "t2", {"b1", "b2"}, 3);
  pendOk(repo, "t3", updates({"b1"}, "t3"), 5);
  commitOk(repo, "t3", {"b1"}, 5);
  pendOk(repo, "t4", updates({"b1"}, "t4"), 6);
}

// Every repository operation of SPEC §3 in turn, each outcome as text: the
// same on any backend. Errors are kept by code only (messages may name files).
std::vector<std::string> script(StorageRepo& repo) {
  std::vector<std::string> out;
  auto pend = [&](const TrxId& trx, const std::string& t, std::optional<Rev> rev, Policy p = Policy::Continue) {
    out.push_back("pend " + trx + ": " + outcome(repo.pend(request(trx, t, rev, p))));
  };
  auto commit = [&](const TrxId& trx, const std::vector<BlockId>& ids, Rev rev) {
    out.push_back(fmt::format("commit {}@{}: {}", trx, rev, outcome(repo.commit(trx, ids, rev))));
  };
  auto cancel = [&](const TrxId& trx, const std::vector<BlockId>& ids) {
    out.push_back("cancel " + trx + ": " + outcome(repo.cancel(trx, ids)));
  };
  auto get = [&](const std::vector<BlockId>& ids, const GetContext& ctx, const std::string& label) {
    out.push_back("get " + label + ": " + outcome(repo.get(ids, ctx)));
  };
  auto getAt = [&](std::optional<Rev> rev) {
    GetContext ctx;
    ctx.rev = rev;
    get({"b1", "b2", "b3", "nothing"}, ctx, rev ? std::to_string(*rev) : "latest");
  };

  pend("t1", R"({"inserts":{"b1":)" + block("b1") + R"(,"b2":)" + block("b2") + "}}", 1);
  commit("t1", {"b1", "b2"}, 1);
  pend("t2", updates({"b1", "b2"}, "t2"), 2);
  commit("t2", {"b1", "b2"}, 2);
  pend("t3", updates({"b1"}, "t3"), 3);
  pend("t4", updates({"b1"}, "t4"), 3, Policy::Fail);    // t3 pending: a conflict
  pend("t4", updates({"b1"}, "t4"), 3, Policy::Return);  // the same, with t3's transform
  pend("t4", updates({"b1"}, "t4"), 3, Policy::Wait);    // waits 50 ms for t3 in vain
  commit("t3", {"b1"}, 3);
  pend("t4", updates({"b1"}, "t4"), 3);  // stale: t3 is at 3 now
  pend("t4", updates({"b1"}, "t4"), 4);
  commit("t5", {"b1"}, 4);  // not pending anywhere
  commit("t4", {"b1"}, 2);  // stale
  cancel("t4", {"b1", "b2"});
  commit("t4", {"b1"}, 4);  // cancelled: not pending
  pend("t6", R"({"deletes":["b2"]})", 4);
  commit("t6", {"b2"}, 4);
  pend("t7", updates({"b2"}, "t7"), 5);
  commit("t7", {"b2"}, 5);  // updates to a deleted block: invalid
  cancel("t7", {"b2"});
  // A long history on b3 crosses both dialects' checkpoints (every 16th
  // revision of trx, multiples of 32 in actions) and their pruning.
  pend("t10", R"({"inserts":{"b3":)" + block("b3") + "}}", 10);
  commit("t10", {"b3"}, 10);
  for (Rev r = 11; r < 50; ++r) {
    const std::string trx = fmt::format("t{}", r);
    pend(trx, updates({"b3"}, trx), r);
    commit(trx, {"b3"}, r);
  }
  for (Rev r = 0; r <= 50; ++r) getAt(r);
  getAt(std::nullopt);
  // A pending transaction applied on read.
  pend("t50", updates({"b1", "b3"}, "t50"), 50);
  GetContext withTrx;
  withTrx.trxId = "t50";
  get({"b1", "b3"}, withTrx, "with t50");
  withTrx.trxId = "t51";
  get({"b1"}, withTrx, "with t51");
  // Committed on b3 alone: a reader who knows it brings b1 up to it.
  commit("t50", {"b3"}, 50);
  get({"b1"}, GetContext{}, "b1 before catching up");
  GetContext knows;
  knows.committed = {{"t50", 50}};
  get({"b1", "b3"}, knows, "knowing t50");
  getAt(std::nullopt);
  commit("t50", {"b1", "b3"}, 50);  // done everywhere: finished, nothing new
  getAt(std::nullopt);
  return out;
}

// A block's JSON as read (latest), for comparing reads across backends.
std::string reads(StorageRepo& repo) {
  std::string s;
  for (const char* id : {"b1", "b2"}) s += std::string(id) + "=" + readBlock(repo, id) + "\n";
  for (Rev r = 0; r <= 9; ++r) s += fmt::format("b1@{}={}\n", r, readBlock(repo, "b1", r));
  return s;
}

// A memory where as the directory backend names the same item; temporary
// items of either backend as "<temp>".
std::string asFilePath(const std::string& where) {
  const auto hash = where.rfind('#');
  if (hash == std::string::npos) return where.find(".tmp") != std::string::npos ? "<temp>" : where;
  const std::string id = where.substr(0, hash), rest = where.substr(hash + 1);
  const auto slash = rest.find('/');
  const std::string kind = rest.substr(0, slash), name = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (kind == "temp" || kind == "intents.temp") return "<temp>";
  if (id.empty()) return name.empty() ? ".optdb/intents" : ".optdb/intents/" + name + ".json";
  if (kind == "meta") return id + "/meta.json";
  if (kind == "rev") return id + "/revs/" + name + ".json";
  if (kind == "pending") return id + "/pend/" + name + ".json";
  if (kind == "committed.trx") return id + "/trx/" + name + ".json";
  if (kind == "committed.actions") return id + "/actions/" + name + ".json";
  if (kind == "materialized") return id + "/blocks/" + name + ".json";
  return "<unknown " + where + ">";
}

using KindPaths = std::multiset<std::pair<std::string, std::string>>;  // (kind, path as files name it)
KindPaths kindPaths(const std::vector<Problem>& ps) {
  KindPaths out;
  for (const auto& p : ps) out.insert({p.kind, asFilePath(p.path)});
  return out;
}
std::multiset<std::string> kindsOf(const std::vector<Problem>& ps) {
  std::multiset<std::string> out;
  for (const auto& p : ps) out.insert(p.kind);
  return out;
}
std::vector<std::string> actionsOf(const RepairReport& r) {
  std::vector<std::string> out;
  for (const auto& a : r.actions) out.push_back(a.action + " " + asFilePath(a.path));
  return out;
}
std::vector<std::string> actionNames(const RepairReport& r) {
  std::vector<std::string> out;
  for (const auto& a : r.actions) out.push_back(a.action);
  return out;
}

// Whether every path a memory store reported is one of its wheres, none a file's.
void requireMemoryNames(const std::vector<Problem>& ps, const RepairReport& r) {
  auto memName = [](const std::string& p) {
    return p.find('#') != std::string::npos || p == "b1" || p == "b2" || p == "b3";  // a block itself
  };
  for (const auto& p : ps) {
    INFO(p.path);
    CHECK(memName(p.path));
    CHECK(p.path.find(".json") == std::string::npos);
  }
  for (const auto& a : r.actions) {
    INFO(a.path);
    CHECK(memName(a.path));
    CHECK(a.path.find(".json") == std::string::npos);
  }
}

Json withoutBytes(Json j) {
  j.erase("bytes");
  j.erase("allocatedBytes");  // both the medium's own
  return j;
}

std::vector<std::string> summaries(Side& s, std::vector<Problem>* problems = nullptr) {
  std::vector<std::string> out;
  SummaryOptions o;
  o.revisions = true;
  std::vector<Problem> seen;
  auto r = summarizeStore(*s.raw, o, [&](const BlockSummary& b) { out.push_back(toJson(withoutBytes(b.toJson()))); },
                          [&](const Problem& p) { seen.push_back(p); });
  REQUIRE(r.isOk());
  REQUIRE(r->store.problems == seen.size());
  out.push_back(toJson(withoutBytes(r->store.toJson())));
  if (problems) *problems = seen;
  return out;
}

}  // namespace

TEST_CASE("memory storage: pend, commit, get and cancel through StorageRepo read as on a directory", "[mem-raw]") {
  const Dialect d = GENERATE(Dialect::Trx, Dialect::Actions);
  INFO(namesOf(d).name);
  auto m = Side::memory(d);
  auto f = Side::directory(d);
  const auto onMemory = script(*m->repo);
  const auto onFiles = script(*f->repo);
  REQUIRE(onMemory.size() == onFiles.size());
  for (std::size_t i = 0; i < onMemory.size(); ++i) {
    INFO("step " << i);
    REQUIRE(onMemory[i] == onFiles[i]);
  }
  // And what they agree on is what was asked for, not two equal failures.
  auto has = [&](const std::string& prefix, const std::string& part) {
    return std::any_of(onMemory.begin(), onMemory.end(), [&](const std::string& s) {
      return s.rfind(prefix, 0) == 0 && s.find(part) != std::string::npos;
    });
  };
  CHECK(has("pend t4: ", "exit 5"));                              // a pending conflict
  CHECK(has("pend t4: ", R"("transform":{"updates")"));          // policy r shows t3's transform
  CHECK(has("pend t4: ", R"("missing":[{"trxId":"t3","rev":3)"));  // stale
  CHECK(has("commit t5@4: ", "error 3"));                         // not pending
  CHECK(has("commit t4@2: ", R"("success":false)"));
  CHECK(has("cancel t4: ", R"("cancelled":["b1"])"));
  CHECK(has("commit t7@5: ", "error 2"));
  CHECK(has("get with t51: ", "exit 3"));
  CHECK(readBlock(*m->repo, "b2") == "<absent>");
  CHECK(readBlock(*m->repo, "b1", 2) == B("b1", R"("log":["t2"],"last":"t2")"));
  CHECK(readBlock(*m->repo, "b1", 3) == B("b1", R"("log":["t2","t3"],"last":"t3")"));
  CHECK(readBlock(*m->repo, "b1") == B("b1", R"("log":["t2","t3","t50"],"last":"t50")"));
  CHECK(readBlock(*m->repo, "b3", 12) == B("b3", R"("log":["t11","t12"],"last":"t12")"));
  // Both backends retain the same materializations (the dialect's rule).
  auto matFiles = f->env->listDir("b3/blocks");
  REQUIRE(matFiles.isOk());
  CHECK(m->mem->materializedCount("b3") == matFiles->size());
  CHECK(m->mem->materializedCount("b3") < 10);  // pruned, not all 41 kept
  CHECK(m->mem->locksHeld() == 0);
}

TEST_CASE("memory storage: migrate converts every block as on a directory", "[mem-raw]") {
  auto m = Side::memory(Dialect::Trx);
  auto f = Side::directory(Dialect::Trx);
  for (Side* s : {m.get(), f.get()}) standard(*s->repo);
  const std::string before = reads(*m->repo);
  REQUIRE(before == reads(*f->repo));
  auto mr = m->repo->migrate({}, true, Dialect::Actions);
  auto fr = f->repo->migrate({}, true, Dialect::Actions);
  REQUIRE(outcome(mr) == outcome(fr));
  CHECK(mr->migrated == std::vector<BlockId>{"b1", "b2"});
  // Actions holds revisions from the first commit: revision 0 is no longer held.
  CHECK(reads(*m->repo) == reads(*f->repo));
  CHECK(readBlock(*m->repo, "b1", 0) == "<not found>");
  CHECK(readBlock(*m->repo, "b1", 4) == B("b1", R"("log":["t2"],"last":"t2")"));
  CHECK(readBlock(*m->repo, "b1") == B("b1", R"("log":["t2","t3"],"last":"t3")"));
  CHECK(m->mem->committedDialectsOf("b1") == std::set<Dialect>{Dialect::Actions});
  CHECK(*m->raw->dialect("b1") == Dialect::Actions);
  CHECK(summaries(*m) == summaries(*f));
  CHECK(m->check().empty());
  CHECK(f->check().empty());
  // A new block is born in the store's dialect now.
  for (Side* s : {m.get(), f.get()}) pendOk(*s->repo, "n1", R"({"inserts":{"b9":)" + block("b9") + "}}", 9);
  CHECK(*m->raw->dialect("b9") == Dialect::Actions);
  CHECK(*m->raw->dialect("b9") == *f->raw->dialect("b9"));
}

TEST_CASE("memory storage: a clean store checks clean, repairs to nothing, and summarizes", "[mem-raw]") {
  auto m = Side::memory();
  REQUIRE(m->check().empty());  // empty
  standard(*m->repo);
  REQUIRE(m->check().empty());
  auto dry = m->repair(true);
  auto real = m->repair(false);
  CHECK(dry.actions.empty());
  CHECK(dry.remaining.empty());
  CHECK(real.actions.empty());
  CHECK(real.remaining.empty());
  CHECK(m->mem->locksHeld() == 0);
  // Named blocks: held ones checked, others not found.
  std::vector<Problem> ps;
  CheckOptions o;
  o.blockIds = {"b2", "b1", "b2", "zz"};
  auto r = checkStore(*m->raw, o, [&](const Problem& p) { ps.push_back(p); });
  REQUIRE(r.isOk());
  CHECK(ps.empty());
  CHECK(r->notFound == std::vector<BlockId>{"zz"});
  CHECK(r->exitCode() == Code::NotFound);
}

TEST_CASE("memory storage: items are named consistently, never as files, and read back", "[mem-raw]") {
  auto m = Side::memory();
  standard(*m->repo);
  auto& raw = *m->mem;
  auto listing = raw.listBlock("b1");
  REQUIRE(listing.isOk());
  CHECK(listing->metaWhere == "b1#meta");
  CHECK(listing->hasMeta);
  REQUIRE(listing->revisions.size() == 3);
  CHECK(listing->revisions.at(5).where == raw.whereRevision("b1", 5));
  CHECK(listing->revisions.at(5).where == "b1#rev/5");
  CHECK(listing->pending.at("t4").where == raw.whereItem("b1", ItemKind::Pending, "t4", Dialect::Trx));
  CHECK(listing->committed.at("t3").where == "b1#committed.trx/t3");
  CHECK(listing->committedDialects == std::set<Dialect>{Dialect::Trx});
  CHECK(listing->materialized.count("t3") == 1);
  CHECK(listing->materialized.count("t2") == 0);  // pruned by the trx rule (ordinal 2 of 0…)
  CHECK(listing->temps.empty());
  CHECK(listing->problems.empty());
  // Each item read back: what the codecs write, its size as listed.
  auto meta = raw.readItem(listing->metaWhere);
  REQUIRE(meta.isOk());
  REQUIRE(meta->has_value());
  CHECK(**meta == R"({"ranges":[[0]],"latest":{"trxId":"t3","rev":5}})");
  auto t3 = raw.readItem(listing->committed.at("t3").where);
  REQUIRE(t3.isOk());
  REQUIRE(t3->has_value());
  CHECK(**t3 == toJson(encodeTransform(**raw.getCommitted("b1", "t3"))));
  CHECK((*t3)->size() == listing->committed.at("t3").bytes);
  auto rev5 = raw.readItem("b1#rev/5");
  REQUIRE(rev5.isOk());
  CHECK(*rev5 == std::optional<std::string>("t3"));
  auto tip = raw.readItem(listing->materialized.at("t3").where);
  REQUIRE(tip.isOk());
  CHECK(*tip == std::optional<std::string>(readBlock(*m->repo, "b1")));
  auto gone = raw.readItem("b1#committed.actions/t3");
  REQUIRE(gone.isOk());
  CHECK_FALSE(gone->has_value());
  CHECK(raw.readItem("b1/meta.json").status().code() == Code::InvalidInput);  // a path names nothing here
  // The raw text of damaged metadata is what is read.
  raw.setMetaText("b2", std::string("{"));
  CHECK(*raw.readItem("b2#meta") == std::optional<std::string>("{"));
  CHECK(raw.getMeta("b2").status().code() == Code::Integrity);
  // removeStray removes leftovers only.
  const std::string temp = raw.addTemp("b1", "half-written", "ha");
  CHECK(raw.removeStray("b1#committed.trx/t3").code() == Code::InvalidInput);
  CHECK(raw.getCommitted("b1", "t3")->has_value());
  CHECK(raw.removeStray(temp).isOk());
  CHECK(raw.listBlock("b1")->temps.empty());
  // Block ids holding '#' are named unambiguously.
  pendOk(*m->repo, "x1", R"({"inserts":{"a#b":)" + block("a#b") + "}}", 1);
  commitOk(*m->repo, "x1", {"a#b"}, 1);
  CHECK(*raw.readItem("a#b#rev/1") == std::optional<std::string>("x1"));
  CHECK(raw.readItem("a#b#committed.trx/x1")->has_value());
  auto blocks = raw.listBlocks();
  REQUIRE(blocks.isOk());
  CHECK(*blocks == std::vector<BlockId>{"a#b", "b1", "b2"});
}

TEST_CASE("memory storage: locks exclude and time out", "[mem-raw]") {
  auto m = Side::memory(Dialect::Trx, 0.1);
  standard(*m->repo);
  auto& raw = *m->mem;
  {
    auto exclusive = raw.lockStore(LockMode::Exclusive, 0);
    REQUIRE(exclusive.isOk());
    auto t0 = std::chrono::steady_clock::now();
    auto shared = raw.lockStore(LockMode::Shared, 0.1);
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(shared.status().code() == Code::LockTimeout);
    CHECK(waited >= 0.09);
    // A writer waits for it too, and reports the timeout.
    CHECK(m->repo->commit("t4", {"b1"}, 6).status().code() == Code::LockTimeout);
    CHECK(m->repo->pend(request("t8", updates({"b2"}, "t8"), std::nullopt)).status().code() == Code::LockTimeout);
    CHECK(raw.getPending("b1", "t4")->has_value());
  }
  {
    auto shared1 = raw.lockStore(LockMode::Shared, 0);
    auto shared2 = raw.lockStore(LockMode::Shared, 0);
    REQUIRE(shared1.isOk());
    REQUIRE(shared2.isOk());
    CHECK(raw.lockStore(LockMode::Exclusive, 0).status().code() == Code::LockTimeout);
    auto b1 = raw.lockBlock("b1", 0);
    REQUIRE(b1.isOk());
    CHECK(raw.lockBlock("b1", 0).status().code() == Code::LockTimeout);
    CHECK(raw.lockBlock("b2", 0).isOk());
    CHECK(raw.locksHeld() == 3);
  }
  CHECK(raw.locksHeld() == 0);
  // A waiter gets the lock once its holder lets go, before its timeout.
  auto held = std::make_shared<Result<std::unique_ptr<FileLock>>>(raw.lockBlock("b1", 0));
  REQUIRE(held->isOk());
  std::thread releaser([held] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held->value().reset();
  });
  auto waited = raw.lockBlock("b1", 5.0);
  releaser.join();
  CHECK(waited.isOk());
  waited = Status::ok();  // released
  // Check holds the store lock exclusively: a shared holder makes it time out.
  {
    auto shared = raw.lockStore(LockMode::Shared, 0);
    REQUIRE(shared.isOk());
    CheckOptions o;
    o.lockTimeout = 0.05;
    CHECK(checkStore(raw, o, [](const Problem&) {}).status().code() == Code::LockTimeout);
  }
  commitOk(*m->repo, "t4", {"b1"}, 6);
  CHECK(raw.locksHeld() == 0);
}

namespace {

struct Damage {
  std::string name;
  std::function<void(Side&)> apply;
  std::multiset<std::string> kinds;   // what check reports
  std::vector<std::string> actions;   // what repair does, in order
  std::multiset<std::string> remaining;  // what it leaves
};

void blockTransformMoved(Side& s, const std::string& trx) {
  if (s.mem) {
    REQUIRE(s.mem->moveCommitted("b1", trx, Dialect::Actions));
  } else {
    s.write("b1/actions/" + trx + ".json", s.read("b1/trx/" + trx + ".json"));
    s.remove("b1/trx/" + trx + ".json");
  }
}

std::vector<Damage> damages() {
  std::vector<Damage> out;
  out.push_back({"an interrupted commit, without an intent",
                 [](Side& s) {
                   if (s.mem) REQUIRE(s.mem->interruptCommit("b1", "t4", 6));
                   else REQUIRE(s.raw->saveRevision("b1", 6, "t4").isOk());
                 },
                 {"interrupted-commit"},
                 {"finish-commit b1/revs/6.json"},
                 {}});
  out.push_back({"an interrupted commit with its intent",
                 [](Side& s) {
                   pendOk(*s.repo, "t9", updates({"b1", "b2"}, "t9"), 8);
                   if (s.mem) {
                     s.mem->putIntent({"t9", 8, {"b1", "b2"}});
                     REQUIRE(s.mem->interruptCommit("b1", "t9", 8));
                   } else {
                     REQUIRE(s.raw->saveIntent({"t9", 8, {"b1", "b2"}}).isOk());
                     REQUIRE(s.raw->saveRevision("b1", 8, "t9").isOk());
                   }
                 },
                 {"leftover-intent", "interrupted-commit"},
                 {"finish-commit b1", "finish-commit b2", "remove-intent .optdb/intents/t9.json"},
                 {}});
  out.push_back({"an intent overtaken on one of its blocks",
                 [](Side& s) {
                   PendRequest req = request("t9", updates({"b1", "b2"}, "t9"), std::nullopt);
                   auto r = s.repo->pend(req);
                   REQUIRE(r.isOk());
                   REQUIRE(s.raw->saveIntent({"t9", 4, {"b1", "b2"}}).isOk());
                 },
                 {"leftover-intent", "overtaken-commit"},
                 {"finish-commit b2"},
                 {"leftover-intent", "overtaken-commit"}});
  out.push_back({"the latest revision record lost",
                 [](Side& s) {
                   if (s.mem) REQUIRE(s.mem->dropRevision("b1", 5));
                   else s.remove("b1/revs/5.json");
                 },
                 {"latest-missing", "lost-revision"},
                 {"rebuild-revision b1/revs/5.json"},
                 {}});
  out.push_back({"a revision record of a two-block transaction lost",
                 [](Side& s) {
                   if (s.mem) REQUIRE(s.mem->dropRevision("b1", 3));
                   else s.remove("b1/revs/3.json");
                 },
                 {"lost-revision"},
                 {"rebuild-revision b1/revs/3.json"},
                 {}});
  out.push_back({"a revision record lost with no evidence left",
                 [](Side& s) {
                   pendOk(*s.repo, "t5", updates({"b1"}, "t5"), 7);
                   commitOk(*s.repo, "t5", {"b1"}, 7);
                   if (s.mem) REQUIRE(s.mem->dropRevision("b1", 5));
                   else s.remove("b1/revs/5.json");
                 },
                 {"lost-revision"},
                 {},
                 {"lost-revision"}});
  out.push_back({"metadata that is not JSON",
                 [](Side& s) {
                   if (s.mem) s.mem->setMetaText("b1", std::string("{"));
                   else s.write("b1/meta.json", "{");
                 },
                 {"bad-json"},
                 {"rebuild-meta b1/meta.json"},
                 {}});
  out.push_back({"metadata that is JSON but no metadata",
                 [](Side& s) {
                   if (s.mem) s.mem->setMetaText("b2", std::string("[1,2]"));
                   else s.write("b2/meta.json", "[1,2]");
                 },
                 {"bad-meta"},
                 {"rebuild-meta b2/meta.json"},
                 {}});
  out.push_back({"leftovers of interrupted writes",
                 [](Side& s) {
                   if (s.mem) {
                     s.mem->addIntentTemp("t9-half", "half");
                     s.mem->addTemp("b1", "t3-half", "half");
                   } else {
                     s.write(".optdb/intents/.t9.json.tmp.99.3", "half");
                     s.write("b1/blocks/.t3.json.tmp.99.1", "half");
                   }
                 },
                 {"temp-file", "temp-file"},
                 {"remove-temp <temp>", "remove-temp <temp>"},
                 {}});
  out.push_back({"the tip's materialization lost",
                 [](Side& s) {
                   if (s.mem) REQUIRE(s.mem->dropMaterialized("b1", "t3"));
                   else s.remove("b1/blocks/t3.json");
                 },
                 {},
                 {"write-tip b1/blocks/t3.json"},
                 {}});
  out.push_back({"a complete revision above latest",
                 [](Side& s) {
                   if (s.mem) {
                     REQUIRE(s.mem->setLatest("b1", TrxRev{"t2", 3}));
                   } else {
                     auto meta = s.raw->getMeta("b1");
                     REQUIRE(meta.isOk());
                     BlockMeta m = **meta;
                     m.latest = TrxRev{"t2", 3};
                     REQUIRE(s.raw->saveMeta("b1", m).isOk());
                   }
                 },
                 {"above-latest"},
                 {"set-latest b1/meta.json"},
                 {}});
  out.push_back({"a transaction both pending and committed",
                 [](Side& s) {
                   auto t = s.raw->getCommitted("b1", "t3");
                   REQUIRE(t.isOk());
                   REQUIRE(t->has_value());
                   REQUIRE(s.raw->savePending("b1", "t3", **t).isOk());
                 },
                 {"pending-committed"},
                 {"remove-pending b1/pend/t3.json"},
                 {}});
  out.push_back({"a revision naming a transaction twice",
                 [](Side& s) { REQUIRE(s.raw->saveRevision("b1", 9, "t2").isOk()); },
                 {"duplicate-revision"},
                 {},
                 {"duplicate-revision"}});
  out.push_back({"latest naming a transaction with no transform",
                 [](Side& s) { REQUIRE(s.raw->saveRevision("b1", 5, "t77").isOk()); },
                 {"missing-transform", "latest-missing", "lost-revision"},
                 {"set-latest b1/meta.json", "write-tip b1/blocks/t2.json"},
                 {"missing-transform", "lost-revision"}});
  out.push_back({"committed transforms of both dialects in one block",
                 [](Side& s) {
                   blockTransformMoved(s, "t3");
                   blockTransformMoved(s, "t1");
                 },
                 {"mixed-dialect"},
                 {"convert-dialect b1"},
                 {}});
  out.push_back({"one transaction's transform differing between the dialects",
                 [](Side& s) {
                   Transform other;
                   other.updates = Json::parse(appendOps("other"));
                   if (s.mem) s.mem->putCommitted("b1", Dialect::Actions, "t3", other);
                   else s.write("b1/actions/t3.json", toJson(encodeTransform(other)));
                 },
                 {"mixed-dialect"},
                 {},
                 {"mixed-dialect"}});
  return out;
}

}  // namespace

TEST_CASE("memory storage: each damage is found, repaired (or left) and foreseen as on a directory", "[mem-raw]") {
  for (const auto& damage : damages()) {
    INFO(damage.name);
    std::map<bool, KindPaths> found, left;
    std::map<bool, std::vector<std::string>> did;
    std::map<bool, std::string> readsAfter;
    for (bool memory : {true, false}) {
      auto s = Side::make(memory);
      INFO(s->name());
      standard(*s->repo);
      REQUIRE(s->check().empty());
      damage.apply(*s);
      const auto problems = s->check();
      INFO("found:\n" << describe(problems));
      CHECK(kindsOf(problems) == damage.kinds);
      found[memory] = kindPaths(problems);

      const std::string before = s->state();
      const auto dry = s->repair(true);
      CHECK(s->state() == before);  // a dry run changes nothing
      const auto real = s->repair(false);
      INFO("remaining:\n" << describe(real.remaining));
      CHECK(actionNames(real).size() == damage.actions.size());
      CHECK(actionsOf(real) == damage.actions);
      CHECK(actionsOf(dry) == actionsOf(real));                  // the dry run foresaw what was done
      CHECK(kindPaths(dry.remaining) == kindPaths(real.remaining));  // and what is left
      CHECK(kindsOf(real.remaining) == damage.remaining);
      did[memory] = actionsOf(real);
      left[memory] = kindPaths(real.remaining);
      if (memory) requireMemoryNames(problems, real);

      const auto after = s->check();
      CHECK(kindPaths(after) == kindPaths(real.remaining));
      CHECK(s->repair(false).actions.empty());  // nothing more to do
      readsAfter[memory] = reads(*s->repo);
      if (memory) CHECK(s->mem->locksHeld() == 0);
    }
    // The same problems at the same items, the same repairs, the same store after.
    CHECK(found[true] == found[false]);
    CHECK(did[true] == did[false]);
    CHECK(left[true] == left[false]);
    CHECK(readsAfter[true] == readsAfter[false]);
  }
}

TEST_CASE("memory storage: repairs leave the intended state", "[mem-raw]") {
  auto m = Side::memory();
  standard(*m->repo);
  const std::string before = reads(*m->repo);
  auto& raw = *m->mem;

  SECTION("lost latest record rebuilt from metadata") {
    REQUIRE(raw.dropRevision("b1", 5));
    m->repair(false);
    CHECK(*raw.getRevision("b1", 5) == std::optional<TrxId>("t3"));
    CHECK(reads(*m->repo) == before);
  }
  SECTION("bad metadata rebuilt from the block's items") {
    raw.setMetaText("b1", std::string("{"));
    m->repair(false);
    auto meta = raw.getMeta("b1");
    REQUIRE(meta.isOk());
    REQUIRE(meta->has_value());
    CHECK((*meta)->latest == TrxRev{"t3", 5});
    CHECK((*meta)->ranges == Ranges{Range{1, std::nullopt}});
    CHECK(readBlock(*m->repo, "b1") == B("b1", R"("log":["t2","t3"],"last":"t3")"));
  }
  SECTION("interrupted commit finished") {
    REQUIRE(raw.interruptCommit("b1", "t4", 6));
    m->repair(false);
    CHECK((*raw.getMeta("b1"))->latest == TrxRev{"t4", 6});
    CHECK_FALSE(raw.getPending("b1", "t4")->has_value());
    CHECK(readBlock(*m->repo, "b1") == B("b1", R"("log":["t2","t3","t4"],"last":"t4")"));
  }
  SECTION("tip written again") {
    REQUIRE(raw.dropMaterialized("b1", "t3"));
    CHECK(reads(*m->repo) == before);  // replayed meanwhile
    m->repair(false);
    CHECK(raw.hasMaterialized("b1", "t3"));
  }
  SECTION("mixed dialect converted; a conflicting one refused by convertBlock") {
    REQUIRE(raw.moveCommitted("b1", "t3", Dialect::Actions));
    CHECK(raw.committedDialectsOf("b1") == std::set<Dialect>{Dialect::Trx, Dialect::Actions});
    CHECK(reads(*m->repo) == before);  // readers take either collection
    m->repair(false);
    CHECK(raw.committedDialectsOf("b1") == std::set<Dialect>{Dialect::Trx});
    CHECK(reads(*m->repo) == before);
    Transform other;
    other.del = true;
    raw.putCommitted("b1", Dialect::Actions, "t2", other);
    const std::string state = raw.dump();
    CHECK(raw.convertBlock("b1", Dialect::Trx).status().code() == Code::Integrity);
    CHECK(raw.dump() == state);  // nothing converted
    CHECK(raw.convertBlock("zz", Dialect::Trx).status().code() == Code::NotFound);
    return;  // left mixed on purpose
  }
  SECTION("leftovers removed") {
    raw.addTemp("b2", "x", "1");
    raw.addIntentTemp("y", "2");
    m->repair(false);
    CHECK(raw.listBlock("b2")->temps.empty());
    CHECK(raw.listIntentItems()->temps.empty());
  }
  CHECK(m->check().empty());
}

TEST_CASE("memory storage: summaries equal the directory backend's, bytes aside", "[mem-raw]") {
  const Dialect d = GENERATE(Dialect::Trx, Dialect::Actions);
  INFO(namesOf(d).name);
  auto m = Side::memory(d);
  auto f = Side::directory(d);
  REQUIRE(summaries(*m) == summaries(*f));  // empty
  for (Side* s : {m.get(), f.get()}) (void)script(*s->repo);
  const auto onMemory = summaries(*m);
  REQUIRE(onMemory == summaries(*f));
  REQUIRE(onMemory.size() == 4);  // b1, b2, b3 and the store
  CHECK(onMemory[2].find(R"("blockId":"b3")") != std::string::npos);
  CHECK(onMemory[2].find(R"("revisionCount":41,"revisionSpan":[10,50])") != std::string::npos);
  CHECK(onMemory[3] == R"({"blocks":3,"revisions":48,"pendings":0,"problems":0})");
  // Bytes are the memory's own, but there.
  SummaryOptions o;
  std::uint64_t bytes = 0;
  REQUIRE(summarizeStore(*m->raw, o, [&](const BlockSummary& b) { bytes += b.bytes; }, [](const Problem&) {}).isOk());
  CHECK(bytes > 0);
  // Damaged metadata: the same problem, the block still described.
  if (m->mem) m->mem->setMetaText("b2", std::string("nope"));
  f->write("b2/meta.json", "nope");
  std::vector<Problem> pm, pf;
  const auto damagedMemory = summaries(*m, &pm);
  CHECK(damagedMemory == summaries(*f, &pf));
  CHECK(kindPaths(pm) == kindPaths(pf));
  CHECK(kindPaths(pm) == KindPaths{{"bad-json", "b2/meta.json"}});
  CHECK(damagedMemory[1].find(R"("ranges":null)") != std::string::npos);
}
