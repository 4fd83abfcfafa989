// Simulated power loss: no acknowledged commit is ever lost.
//
// MemEnv models durability (file data durable once fsynced, a directory
// entry once its directory is fsynced). For each commit of a scripted
// history (on several blocks, and on one, which records no intent), a crash is placed at every mutation step of that commit
// in turn (crashAfter(k)), power is cut (powerCut() drops all that was not
// durable), the store is reopened as a fresh process would open it, repaired,
// and then: every commit that had returned success is intact at its
// revision, the interrupted commit is all-or-nothing, the store checks clean,
// and it keeps working.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "optdb/transform.hpp"
#include "support.hpp"

using namespace optdb;
using optdb::test_support::describe;

namespace {

Json block(const std::string& id, const std::string& tag) {
  return Json::parse(R"({"header":{"id":")" + id + R"(","type":"note","collectionId":"c"},"log":[")" + tag + R"("]})");
}
Json append(const std::string& tag) { return Json::parse(R"([["log",1000000,0,[")" + tag + R"("]],["last",0,0,")" + tag + R"("]])"); }

struct Step {
  TrxId trx;
  Rev rev;
  Transforms transforms;
};

// A history touching several blocks per commit: inserts, updates, a delete,
// a re-insert, a block created by a later commit, sparse revisions.
std::vector<Step> history() {
  std::vector<Step> h;
  auto add = [&](TrxId trx, Rev rev, std::function<void(Transforms&)> f) {
    Step s{std::move(trx), rev, {}};
    f(s.transforms);
    h.push_back(std::move(s));
  };
  add("t0", 1, [](Transforms& t) {
    t.inserts = {{"b0", block("b0", "t0")}, {"b1", block("b1", "t0")}, {"b2", block("b2", "t0")}};
  });
  add("t1", 3, [](Transforms& t) { t.updates = {{"b0", append("t1")}, {"b1", append("t1")}}; });
  add("t2", 4, [](Transforms& t) {
    t.inserts = {{"b3", block("b3", "t2")}};
    t.updates = {{"b1", append("t2")}, {"b2", append("t2")}};
  });
  add("tx:3", 7, [](Transforms& t) {
    t.updates = {{"b2", append("t3")}};
    t.deletes = {"b0"};
  });
  add("t4", 9, [](Transforms& t) {
    t.inserts = {{"b0", block("b0", "t4")}};
    t.updates = {{"b3", append("t4")}, {"b1", append("t4")}};
  });
  add("t5", 12, [](Transforms& t) {
    t.updates = {{"b0", append("t5")}, {"b1", append("t5")}, {"b2", append("t5")}, {"b3", append("t5")}};
  });
  // Single-block commits, which record no intent: an update, an insert, a delete.
  add("t6", 14, [](Transforms& t) { t.updates = {{"b3", append("t6")}}; });
  add("t7", 15, [](Transforms& t) { t.inserts = {{"b4", block("b4", "t7")}}; });
  add("t8", 17, [](Transforms& t) { t.deletes = {"b2"}; });
  return h;
}

const std::vector<BlockId> kBlocks = {"b0", "b1", "b2", "b3", "b4"};

// What each block must read at each revision once commits [0, n) are in.
struct Expected {
  std::map<BlockId, std::map<Rev, std::optional<Json>>> states;  // block → rev → state after that rev
  void apply(const Step& s) {
    for (const auto& id : s.transforms.blockIds()) {
      std::optional<Json> before;
      auto& revs = states[id];
      if (!revs.empty()) before = revs.rbegin()->second;
      auto after = applyTransform(before, s.transforms.forBlock(id));
      REQUIRE(after.isOk());
      revs[s.rev] = *after;
    }
  }
};

struct Sim {
  std::shared_ptr<MemEnv> env = std::make_shared<MemEnv>();
  std::shared_ptr<FileRawStorage> raw;
  std::unique_ptr<StorageRepo> repo;
  bool journal = true;  // through the write-ahead journal, or an fsync per file
  explicit Sim(bool withJournal = true) : journal(withJournal) { reopen(); }
  // A fresh process on the same disk.
  void reopen() {
    raw = std::make_shared<FileRawStorage>(env, true, Dialect::Trx, journal);
    repo = std::make_unique<StorageRepo>(raw, StoreOptions{true, 30.0, Dialect::Trx, {}});
  }
  bool pend(const Step& s) {
    PendRequest req;
    req.trxId = s.trx;
    req.transforms = s.transforms;
    req.rev = s.rev;  // built on everything below its revision
    auto r = repo->pend(req);
    return r.isOk() && r->outcome == PendResult::Outcome::Pended;
  }
  bool commit(const Step& s) {
    auto r = repo->commit(s.trx, s.transforms.blockIds(), s.rev);
    return r.isOk() && r->success;
  }
  std::optional<Json> read(const BlockId& id, std::optional<Rev> rev) {
    GetContext ctx;
    ctx.rev = rev;
    auto r = repo->get({id}, ctx);
    REQUIRE(r.isOk());
    return r->blocks.at(0).second.block;
  }
  std::optional<TrxRev> latest(const BlockId& id) {
    auto m = raw->getMeta(id);
    REQUIRE(m.isOk());
    return *m ? (*m)->latest : std::nullopt;
  }
  RepairReport repair() {
    auto r = repairStore(*raw, RepairOptions{});
    REQUIRE(r.isOk());
    return std::move(r).value();
  }
  std::vector<Problem> check() {
    std::vector<Problem> problems;
    auto r = checkStore(*raw, CheckOptions{}, [&](const Problem& p) { problems.push_back(p); });
    REQUIRE(r.isOk());
    return problems;
  }
};

// Every acknowledged commit reads back exactly, at its revision and at the
// latest; `latestOf` is the last commit each block must show as latest.
void verify(Sim& sim, const Expected& exp) {
  for (const auto& [id, revs] : exp.states) {
    for (const auto& [rev, state] : revs) {
      INFO("block " << id << " at revision " << rev);
      auto got = sim.read(id, rev);
      REQUIRE(got.has_value() == state.has_value());
      if (state) REQUIRE(toJson(*got) == toJson(*state));
    }
    auto latest = sim.latest(id);
    REQUIRE(latest);
    REQUIRE(latest->rev == revs.rbegin()->first);
    auto now = sim.read(id, std::nullopt);
    REQUIRE(now.has_value() == revs.rbegin()->second.has_value());
    if (now) REQUIRE(toJson(*now) == toJson(*revs.rbegin()->second));
  }
}

// Whether commit `s` is in on every one of its blocks (true), on none (false);
// anything else fails the test.
bool allOrNothing(Sim& sim, const Step& s) {
  int in = 0;
  for (const auto& id : s.transforms.blockIds()) {
    auto trx = sim.raw->getRevision(id, s.rev);
    REQUIRE(trx.isOk());
    auto committed = sim.raw->getCommitted(id, s.trx);
    REQUIRE(committed.isOk());
    bool here = *trx && **trx == s.trx && committed->has_value();
    if (here) {
      auto latest = sim.latest(id);
      REQUIRE(latest);
      REQUIRE(latest->rev == s.rev);
    }
    in += here ? 1 : 0;
  }
  INFO("commit " << s.trx << " is in on " << in << " of " << s.transforms.blockIds().size() << " blocks");
  REQUIRE((in == 0 || in == static_cast<int>(s.transforms.blockIds().size())));
  return in > 0;
}

// Pends and commits step `s`, both of which must succeed, and expects it.
void commitStep(Sim& sim, Expected& exp, const Step& s) {
  REQUIRE(sim.pend(s));
  REQUIRE(sim.commit(s));
  exp.apply(s);
}

// commitStep for each of the first n steps.
void commitSteps(Sim& sim, Expected& exp, const std::vector<Step>& steps, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) commitStep(sim, exp, steps[j]);
}

}  // namespace

TEST_CASE("power cut at every mutation step of every commit: no acknowledged commit is lost", "[powercut]") {
  const auto steps = history();
  std::size_t cases = 0, finishedByRepair = 0, rolledBack = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    for (std::uint64_t k = 0;; ++k) {
      Sim sim;
      Expected exp;
      commitSteps(sim, exp, steps, i);
      REQUIRE(sim.pend(steps[i]));
      sim.env->crashAfter(k);
      const bool acknowledged = sim.commit(steps[i]);
      sim.env->powerCut();
      sim.reopen();
      ++cases;
      INFO("commit " << steps[i].trx << ", power cut after " << k << " mutations, acknowledged: " << acknowledged);

      auto report = sim.repair();
      INFO("remaining after repair:\n" << describe(report.remaining));
      REQUIRE(report.remaining.empty());
      auto problems = sim.check();
      INFO("check after repair:\n" << describe(problems));
      REQUIRE(problems.empty());

      const bool in = allOrNothing(sim, steps[i]);
      if (acknowledged) REQUIRE(in);
      if (!acknowledged) (in ? finishedByRepair : rolledBack)++;
      if (in) exp.apply(steps[i]);
      verify(sim, exp);  // everything acknowledged before is intact, and the interrupted commit if finished

      // The store goes on: the interrupted commit can be retried (or was finished),
      // and the next commit lands on top of it.
      if (!in) {
        REQUIRE(sim.commit(steps[i]));
        exp.apply(steps[i]);
        verify(sim, exp);
      }
      if (i + 1 < steps.size()) {
        commitStep(sim, exp, steps[i + 1]);
        verify(sim, exp);
      }
      REQUIRE(sim.check().empty());
      if (acknowledged) break;  // k passed the commit's last mutation
    }
  }
  WARN("power-cut cases: " << cases << " (interrupted commits finished by repair: " << finishedByRepair
                           << ", rolled back: " << rolledBack << ")");
  REQUIRE(cases >= 100);
}

TEST_CASE("a killed process, later work, then a power cut: acknowledged commits survive", "[powercut]") {
  // The process dies at each mutation of a pend + commit (its writes stay in
  // the page cache, not yet durable); a new process repairs and goes on;
  // only then does the power go. What the new process acknowledged must survive.
  const auto steps = history();
  std::size_t cases = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    for (std::uint64_t k = 0;; ++k) {
      Sim sim;
      Expected exp;
      commitSteps(sim, exp, steps, i);
      sim.env->crashAfter(k);
      bool pended = sim.pend(steps[i]);
      bool acknowledged = pended && sim.commit(steps[i]);
      sim.env->crashAfter(std::nullopt);  // the process is gone; the kernel keeps what it wrote
      sim.reopen();
      ++cases;
      // Half the time the new process runs repair first; otherwise its retry
      // of the commit finishes the interrupted one (SPEC §3: the next commit
      // that locks one of its blocks completes it).
      const bool useRepair = k % 2 == 0;
      INFO("transaction " << steps[i].trx << ", killed after " << k << " mutations, acknowledged: " << acknowledged
                          << ", repair first: " << useRepair);
      if (useRepair) {
        auto report = sim.repair();
        INFO("remaining after repair:\n" << describe(report.remaining));
        REQUIRE(report.remaining.empty());
        if (!allOrNothing(sim, steps[i])) {
          REQUIRE(sim.pend(steps[i]));
          REQUIRE(sim.commit(steps[i]));
        }
      } else if (!acknowledged) {
        if (!pended) REQUIRE(sim.pend(steps[i]));
        REQUIRE(sim.commit(steps[i]));
        REQUIRE(allOrNothing(sim, steps[i]));
      }
      exp.apply(steps[i]);
      if (i + 1 < steps.size()) {
        commitStep(sim, exp, steps[i + 1]);
      }
      sim.env->powerCut();
      sim.reopen();
      auto after = sim.repair();
      INFO("remaining after the power cut and repair:\n" << describe(after.remaining));
      REQUIRE(after.remaining.empty());
      verify(sim, exp);
      REQUIRE(sim.check().empty());
      if (acknowledged) break;
    }
  }
  WARN("kill-then-power-cut cases: " << cases);
  REQUIRE(cases >= 100);
}

TEST_CASE("a power cut during repair itself: the next repair finishes the job", "[powercut]") {
  const auto steps = history();
  std::size_t cases = 0;
  // Interrupt a commit once it can no longer be rolled back, so that repair has
  // the whole of it to finish: the last multi-block commit (t5) right after its
  // intent is durable, the single-block update (t6) after its revision file is.
  std::size_t multi = 0;
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (steps[i].transforms.blockIds().size() > 1) multi = i;
  const std::size_t single = multi + 1;
  REQUIRE(steps.at(single).transforms.blockIds().size() == 1);
  // Per file, the mutations after which each is durable are known; through
  // the journal, the commit is durable from its flush on, found here.
  const bool journal = GENERATE(false, true);
  INFO((journal ? "through the journal" : "an fsync per file"));
  std::vector<std::pair<std::size_t, std::uint64_t>> cuts{{multi, 8}, {multi, 14}, {multi, 20}, {single, 17}, {single, 20}};
  if (journal) {
    cuts.clear();
    for (std::size_t at : {multi, single}) {
      for (std::uint64_t c = 0;; ++c) {
        Sim sim;
        Expected exp;
        commitSteps(sim, exp, steps, at);
        REQUIRE(sim.pend(steps[at]));
        sim.env->crashAfter(c);
        const bool acknowledged = sim.commit(steps[at]);
        sim.env->powerCut();
        sim.reopen();
        REQUIRE_FALSE(acknowledged);  // durable before it is acknowledged
        if (allOrNothing(sim, steps[at])) {
          for (std::uint64_t more : {0, 2, 5}) cuts.push_back({at, c + more});
          break;
        }
      }
    }
  }
  for (const auto& [at, commitCut] : cuts) {
    for (std::uint64_t k = 0;; ++k) {
      Sim sim(journal);
      Expected exp;
      commitSteps(sim, exp, steps, at);
      const Step& last = steps[at];
      REQUIRE(sim.pend(last));
      sim.env->crashAfter(commitCut);
      REQUIRE_FALSE(sim.commit(last));
      sim.env->powerCut();
      sim.reopen();
      sim.env->crashAfter(k);
      auto first = repairStore(*sim.raw, RepairOptions{});
      const bool repairDone = first.isOk();
      sim.env->powerCut();
      sim.reopen();
      ++cases;
      INFO("commit cut after " << commitCut << ", repair cut after " << k);
      auto report = sim.repair();
      INFO("remaining:\n" << describe(report.remaining));
      REQUIRE(report.remaining.empty());
      REQUIRE(allOrNothing(sim, last));  // finished, whatever the power cut took from the first repair
      exp.apply(last);
      verify(sim, exp);
      REQUIRE(sim.check().empty());
      if (repairDone) break;
    }
  }
  WARN("power cuts during repair: " << cases);
}
