// Crash safety through the Env seam (SPEC §2, §3 commit step 4): a 3-block
// commit is stopped after every possible number of file-system mutations,
// optionally followed by a power cut (everything not fsynced is lost), and the
// store must read consistently, recover to all-or-nothing, and never lose a
// committed transform.
#include <catch2/catch.hpp>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "journal_env.hpp"
#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

namespace {

const std::vector<BlockId> kIds{"b1", "b2", "b3"};
const char* kAbsent = "<absent>";

// The commit under test, t3 at rev 3: updates b1, deletes b2, inserts b3 (a block it creates).
const std::map<BlockId, std::string> kOld{{"b1", B("b1", R"("l":[2,1])")}, {"b2", B("b2", R"("l":[2,1])")}, {"b3", kAbsent}};
const std::map<BlockId, std::string> kNew{{"b1", B("b1", R"("l":[3,2,1])")}, {"b2", kAbsent}, {"b3", B("b3", R"("l":[3])")}};
const std::string kT3 = R"({"updates":{"b1":[["l",0,0,[3]]]},"deletes":["b2"],"inserts":{"b3":)" + B("b3", R"("l":[3])") + "}}";

std::unique_ptr<StorageRepo> open(const std::shared_ptr<MemEnv>& env) {
  return std::make_unique<StorageRepo>(std::make_shared<FileRawStorage>(env, true, Dialect::Trx));
}

// History t1@1, t2@2 on b1 and b2; t3 and "other" (b1) pending.
std::shared_ptr<MemEnv> setup() {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  pendOk(*repo, "t1", R"({"inserts":{"b1":)" + B("b1", R"("l":[1])") + R"(,"b2":)" + B("b2", R"("l":[1])") + "}}");
  commitOk(*repo, "t1", {"b1", "b2"}, 1);
  pendOk(*repo, "t2", R"({"updates":{"b1":[["l",0,0,[2]]],"b2":[["l",0,0,[2]]]}})");
  commitOk(*repo, "t2", {"b2", "b1"}, 2);
  pendOk(*repo, "other", R"({"updates":{"b1":[["l",0,0,["o"]]]}})");
  pendOk(*repo, "t3", kT3);
  return env;
}

// Every directory and file of the store, lock files included.
std::map<std::string, std::string> tree(Env& env) { return envTree(env, /*skipLocks=*/false); }

// Every block at its latest revision (or at rev); never an error, never a block that cannot be read.
std::map<BlockId, std::string> readAll(StorageRepo& repo, std::optional<Rev> rev = std::nullopt) {
  GetContext ctx;
  ctx.rev = rev;
  auto r = repo.get(kIds, ctx);
  INFO("get: " << r.status().message());
  REQUIRE(r.isOk());
  std::map<BlockId, std::string> out;
  for (const auto& [id, st] : r->blocks) {
    INFO(id << ": " << st.notFound.value_or(""));
    REQUIRE_FALSE(st.notFound);
    out[id] = st.block ? toJson(*st.block) : kAbsent;
  }
  return out;
}

// How many blocks show the new state; each shows the old or the new one.
int countNew(const std::map<BlockId, std::string>& got) {
  int n = 0;
  for (const auto& id : kIds) {
    INFO(id << " reads " << got.at(id));
    if (got.at(id) == kNew.at(id)) {
      ++n;
    } else {
      CHECK(got.at(id) == kOld.at(id));
    }
  }
  return n;
}

std::string readAt(StorageRepo& repo, const BlockId& id, Rev rev) {
  GetContext ctx;
  ctx.rev = rev;
  auto r = repo.get({id}, ctx);
  REQUIRE(r.isOk());
  const auto& st = r->blocks.at(0).second;
  REQUIRE_FALSE(st.notFound);
  return st.block ? toJson(*st.block) : kAbsent;
}

struct Committed {
  BlockId id;
  Rev rev;
  TrxId trx;
};

// Every committed transaction still has its revision file and its transform,
// and the history before t3 reads back unchanged.
void checkNothingLost(StorageRepo& repo, const std::vector<Committed>& committed) {
  for (const auto& c : committed) {
    INFO(c.id << "@" << c.rev << " " << c.trx);
    auto named = repo.raw().getRevision(c.id, c.rev);
    REQUIRE(named.isOk());
    CHECK(*named == std::optional<TrxId>(c.trx));
    auto t = repo.raw().getCommitted(c.id, c.trx);
    REQUIRE(t.isOk());
    CHECK(t->has_value());
  }
  CHECK(readAt(repo, "b1", 1) == B("b1", R"("l":[1])"));
  CHECK(readAt(repo, "b2", 1) == B("b2", R"("l":[1])"));
  CHECK(readAt(repo, "b1", 2) == B("b1", R"("l":[2,1])"));
  CHECK(readAt(repo, "b2", 2) == B("b2", R"("l":[2,1])"));
}

const std::vector<Committed> kHistory{{"b1", 1, "t1"}, {"b2", 1, "t1"}, {"b1", 2, "t2"}, {"b2", 2, "t2"}};
const std::vector<Committed> kWithT3{{"b1", 1, "t1"}, {"b2", 1, "t1"}, {"b1", 2, "t2"}, {"b2", 2, "t2"},
                                     {"b1", 3, "t3"}, {"b2", 3, "t3"}, {"b3", 3, "t3"}};

// Mutations made by the whole commit of t3.
std::uint64_t commitMutations() {
  auto env = setup();
  auto repo = open(env);
  auto before = env->mutations();
  commitOk(*repo, "t3", kIds, 3);
  return env->mutations() - before;
}

// Runs the commit with a crash after n mutations; true when it failed.
bool crashedCommit(const std::shared_ptr<MemEnv>& env, std::uint64_t n) {
  auto repo = open(env);
  env->crashAfter(n);
  auto r = repo->commit("t3", kIds, 3);
  env->crashAfter(std::nullopt);
  return !(r.isOk() && r->success);
}

enum class Mode { Crash, CrashPowerCut, CrashRecoverPowerCut, CrashNextCommit, CrashCatchUp, DoubleCrash, DoubleCrashNoCut };

const char* modeName(Mode m) {
  switch (m) {
    case Mode::Crash: return "crash";
    case Mode::CrashPowerCut: return "crash + power cut";
    case Mode::CrashRecoverPowerCut: return "crash, recover, power cut";
    case Mode::CrashNextCommit: return "crash, recovered by the next commit";
    case Mode::CrashCatchUp: return "crash, get catches b3 up, then recovery";
    case Mode::DoubleCrash: return "crash + power cut, recovery crashes + power cut";
    case Mode::DoubleCrashNoCut: return "crash, recovery crashes + power cut";
  }
  return "?";
}

// One crash point; returns whether t3 was visible after recovery (for
// CrashCatchUp: whether the interrupted commit's intent was there to recover).
bool runCrashPoint(Mode mode, std::uint64_t n, std::uint64_t total, std::uint64_t recoveryCrash = 0) {
  auto env = setup();
  bool failed = crashedCommit(env, n);
  CHECK(failed == (n < total));
  if (mode == Mode::CrashPowerCut || mode == Mode::DoubleCrash) env->powerCut();

  // A fresh process reads: each block old or new, never torn; reading writes
  // nothing but the replay of the journal the first open after a power cut
  // makes (SPEC §3 step 4).
  auto repo = open(env);
  REQUIRE(repo->raw().exists().isOk());
  auto snapshot = tree(*env);
  countNew(readAll(*repo));
  checkNothingLost(*repo, kHistory);
  CHECK(tree(*env) == snapshot);

  // Recovery.
  Rev nextRev = 4;
  std::optional<Rev> at;  // where t3's effect is read
  bool intentBefore = false;
  if (mode == Mode::CrashCatchUp) {
    // A reader that knows t3 committed at 3 asks for b3 only. It must not
    // clobber the interrupted commit of the other blocks (get never completes one).
    auto in = repo->raw().listIntents();
    REQUIRE(in.isOk());
    intentBefore = !in->empty();
    // Through the journal, a unit whose record is whole is as good as an intent: the next holder of a lock finishes it.
    auto dead = dynamic_cast<FileRawStorage&>(repo->raw()).journal().deadUnits();
    REQUIRE(dead.isOk());
    intentBefore = intentBefore || !dead->empty();
    const int preNew = countNew(readAll(*repo));
    intentBefore = intentBefore || preNew == 3;  // done before the crash: as good as recovered
    GetContext ctx;
    ctx.committed = {{"t3", 3}};
    auto g = repo->get({"b3"}, ctx);
    INFO("catch-up get: " << g.status().message());
    REQUIRE(g.isOk());
    REQUIRE_FALSE(g->blocks.at(0).second.notFound);
    countNew(readAll(*repo));
    auto rec = repo->recoverIntents();
    INFO("recover: " << rec.status().message());
    REQUIRE(rec.isOk());
    if (!intentBefore) {
      // No interrupted commit: the catch-up committed t3 on b3 alone, as asked.
      auto now = readAll(*repo);
      CHECK(now.at("b1") == kOld.at("b1"));
      CHECK(now.at("b2") == kOld.at("b2"));
      CHECK(now.at("b3") == kNew.at("b3"));
      commitOk(*repo, "t3", {"b1", "b2"}, 3);
    }
  } else if (mode == Mode::CrashNextCommit) {
    commitOk(*repo, "other", {"b1"}, 4);
    nextRev = 5;
    at = 3;  // "other" changed b1 at 4
  } else {
    if (mode == Mode::DoubleCrash || mode == Mode::DoubleCrashNoCut) {
      env->crashAfter(recoveryCrash);
      (void)repo->recoverIntents();
      env->crashAfter(std::nullopt);
      env->powerCut();
      repo = open(env);
      countNew(readAll(*repo));
    }
    auto rec = repo->recoverIntents();
    INFO("recover: " << rec.status().message());
    REQUIRE(rec.isOk());
    if (mode == Mode::CrashRecoverPowerCut) {
      int before = countNew(readAll(*repo));
      env->powerCut();
      repo = open(env);
      CHECK(countNew(readAll(*repo)) == before);  // what recovery did is durable
      if (before == 3) checkNothingLost(*repo, kWithT3);
      // The intent's removal may be lost with the power; finishing it again is harmless.
      REQUIRE(repo->recoverIntents().isOk());
      CHECK(countNew(readAll(*repo)) == before);
    }
  }
  auto intents = repo->raw().listIntents();
  REQUIRE(intents.isOk());
  CHECK(intents->empty());

  // All or nothing.
  int visible = countNew(readAll(*repo, at));
  CHECK((visible == 0 || visible == 3));
  if (visible == 3) {
    checkNothingLost(*repo, kWithT3);
    for (const auto& id : kIds) {
      auto p = repo->raw().getPending(id, "t3");
      REQUIRE(p.isOk());
      CHECK_FALSE(p->has_value());
    }
    auto c = repo->commit("t3", kIds, 3);  // a retry now: success, nothing to do
    REQUIRE(c.isOk());
    CHECK(c->success);
  } else {
    // Absent: still pending everywhere, and it can be committed now.
    for (const auto& id : kIds) {
      auto p = repo->raw().getPending(id, "t3");
      REQUIRE(p.isOk());
      CHECK(p->has_value());
    }
    const Rev r = mode == Mode::CrashNextCommit ? 5 : 3;
    commitOk(*repo, "t3", kIds, r);
    if (r == 3) {
      CHECK(countNew(readAll(*repo)) == 3);
      checkNothingLost(*repo, kWithT3);
    }
  }
  if (mode != Mode::CrashNextCommit) commitOk(*repo, "other", {"b1"}, nextRev);

  // Everything committed survives a power cut now.
  env->powerCut();
  repo = open(env);
  auto final = readAll(*repo);
  CHECK(final.at("b1") == B("b1", mode == Mode::CrashNextCommit && visible == 0 ? R"("l":[3,"o",2,1])" : R"("l":["o",3,2,1])"));
  CHECK(final.at("b2") == kAbsent);
  CHECK(final.at("b3") == kNew.at("b3"));
  const Rev t3Rev = mode == Mode::CrashNextCommit && visible == 0 ? 5 : 3;
  const Rev otherRev = mode == Mode::CrashNextCommit ? 4 : nextRev;
  checkNothingLost(*repo, {{"b1", 1, "t1"}, {"b2", 1, "t1"}, {"b1", 2, "t2"}, {"b2", 2, "t2"}, {"b1", t3Rev, "t3"},
                           {"b2", t3Rev, "t3"}, {"b3", t3Rev, "t3"}, {"b1", otherRev, "other"}});
  auto rec = repo->recoverIntents();  // an intent whose removal was lost is harmless
  REQUIRE(rec.isOk());
  CHECK(readAll(*repo) == final);
  return mode == Mode::CrashCatchUp ? intentBefore : visible == 3;
}

}  // namespace

TEST_CASE("a 3-block commit survives a crash at every mutation", "[crash]") {
  const std::uint64_t total = commitMutations();
  REQUIRE(total > 10);
  const Mode mode =
      GENERATE(Mode::Crash, Mode::CrashPowerCut, Mode::CrashRecoverPowerCut, Mode::CrashNextCommit, Mode::CrashCatchUp);
  CAPTURE(modeName(mode));
  INFO("mode: " << modeName(mode) << "; the commit makes " << total << " mutations");
  std::optional<std::uint64_t> firstVisible;
  std::uint64_t points = 0;
  for (std::uint64_t n = 0; n <= total; ++n) {
    INFO("crash after " << n << " mutations");
    bool visible = runCrashPoint(mode, n, total);
    // Visible from the point the intent is durable on, never before, never again absent.
    if (visible && !firstVisible) firstVisible = n;
    if (firstVisible) CHECK(visible);
    ++points;
  }
  REQUIRE(firstVisible);
  CHECK(*firstVisible > 0);
  INFO("crash points covered: " << points << "; the commit is durable from mutation " << *firstVisible);
  CHECK(points == total + 1);
  std::cout << "test_crash: " << modeName(mode) << ": " << points << " crash points, commit durable after "
            << *firstVisible << " of " << total << " mutations\n";
}

TEST_CASE("a crash during recovery, after a crash during the commit", "[crash]") {
  const std::uint64_t total = commitMutations();
  const Mode mode = GENERATE(Mode::DoubleCrash, Mode::DoubleCrashNoCut);
  CAPTURE(modeName(mode));
  std::uint64_t points = 0;
  // Crash points inside the commit where recovery has work to do, each with
  // crashes at every step of the recovery.
  for (std::uint64_t n = 0; n <= total; n += 8) {
    std::uint64_t recoveryMutations = 0;
    {
      auto env = setup();
      crashedCommit(env, n);
      if (mode == Mode::DoubleCrash) env->powerCut();
      auto repo = open(env);
      auto before = env->mutations();
      REQUIRE(repo->recoverIntents().isOk());
      recoveryMutations = env->mutations() - before;
    }
    for (std::uint64_t k = 0; k <= recoveryMutations; ++k) {
      INFO("commit crash after " << n << ", recovery crash after " << k);
      runCrashPoint(mode, n, total, k);
      ++points;
    }
  }
  INFO("double crash points covered: " << points);
  CHECK(points > total);
  std::cout << "test_crash: " << modeName(mode) << ": " << points << " crash points\n";
}

// ---- A commit on one block records no intent: its revision index is what finds it again. ----

namespace {

const std::string kS3 = R"({"updates":{"b1":[["l",0,0,[3]]]}})";

std::shared_ptr<MemEnv> setupSingle() {
  auto env = setup();
  auto repo = open(env);
  pendOk(*repo, "s3", kS3);
  return env;
}

std::string readB1(StorageRepo& repo, std::optional<Rev> rev = std::nullopt) {
  auto all = readAll(repo, rev);
  return all.at("b1");
}

enum class SingleMode { NextCommit, Retry, Cancel, Repair };

const char* singleModeName(SingleMode m) {
  switch (m) {
    case SingleMode::NextCommit: return "the next commit on the block finishes it";
    case SingleMode::Retry: return "the same commit retried";
    case SingleMode::Cancel: return "cancel (refused while it can be finished)";
    case SingleMode::Repair: return "repair";
  }
  return "?";
}

}  // namespace

TEST_CASE("a single-block commit survives a crash at every mutation, without an intent", "[crash]") {
  std::uint64_t total = 0;
  {
    auto env = setupSingle();
    auto repo = open(env);
    auto before = env->mutations();
    commitOk(*repo, "s3", {"b1"}, 3);
    total = env->mutations() - before;
  }
  const SingleMode mode = GENERATE(SingleMode::NextCommit, SingleMode::Retry, SingleMode::Cancel, SingleMode::Repair);
  const bool cut = GENERATE(false, true);
  INFO("mode: " << singleModeName(mode) << (cut ? ", after a power cut" : "") << "; the commit makes " << total
                << " mutations");
  const std::string oldB1 = kOld.at("b1"), newB1 = kNew.at("b1");
  std::optional<std::uint64_t> firstVisible;
  for (std::uint64_t n = 0; n <= total; ++n) {
    INFO("crash after " << n << " mutations");
    auto env = setupSingle();
    {
      auto repo = open(env);
      env->crashAfter(n);
      auto r = repo->commit("s3", {"b1"}, 3);
      env->crashAfter(std::nullopt);
      CHECK((r.isOk() && r->success) == (n >= total));
    }
    if (cut) env->powerCut();
    auto repo = open(env);
    // Readers see the old block or the new one, and reading writes nothing
    // (once the first open has replayed the journal after a power cut).
    REQUIRE(repo->raw().exists().isOk());
    auto snapshot = tree(*env);
    const std::string seen = readB1(*repo);
    CHECK((seen == oldB1 || seen == newB1));
    CHECK(tree(*env) == snapshot);
    // No intent is ever written for it (a finished one of t2 may come back with a power cut).
    auto intents = repo->raw().listIntents();
    REQUIRE(intents.isOk());
    for (const auto& i : *intents) CHECK(i.trxId != "s3");
    checkNothingLost(*repo, kHistory);
    auto interrupted = repo->blockStorage("b1").interruptedCommits();
    REQUIRE(interrupted.isOk());
    if (!interrupted->empty()) CHECK(*interrupted == std::vector<TrxRev>{{"s3", 3}});
    // A unit whose record is whole in the journal is finished by the next holder of the block's lock too.
    auto dead = dynamic_cast<FileRawStorage&>(repo->raw()).journal().deadUnits();
    REQUIRE(dead.isOk());
    const bool finishable = !interrupted->empty() || !dead->empty();

    bool in = false;              // s3 at 3 after recovery
    bool committedLater = false;  // s3 committed at 5 instead
    switch (mode) {
      case SingleMode::NextCommit: {
        commitOk(*repo, "other", {"b1"}, 4);
        in = readB1(*repo, 3) == newB1;
        CHECK(in == (finishable || seen == newB1));
        CHECK(readB1(*repo) == B("b1", in ? R"("l":["o",3,2,1])" : R"("l":["o",2,1])"));
        if (!in) {  // never happened: still pending, and it can be committed now
          CHECK(repo->raw().getPending("b1", "s3").value().has_value());
          commitOk(*repo, "s3", {"b1"}, 5);
          CHECK(readB1(*repo) == B("b1", R"("l":[3,"o",2,1])"));
          committedLater = true;
        }
        break;
      }
      case SingleMode::Retry:
        commitOk(*repo, "s3", {"b1"}, 3);
        in = true;
        break;
      case SingleMode::Cancel: {
        auto before = tree(*env);
        auto c = repo->cancel("s3", {"b1"});
        if (!dead->empty()) {
          // Its lock taken, the unit is finished first: cancel finds it committed.
          REQUIRE(c.isOk());
          CHECK(c->committed == std::vector<BlockId>{"b1"});
          CHECK(c->cancelled.empty());
          commitOk(*repo, "other", {"b1"}, 4);
          in = true;
        } else if (finishable) {
          CHECK(c.status().code() == Code::Integrity);
          CHECK(tree(*env) == before);
          commitOk(*repo, "other", {"b1"}, 4);  // finishes it first
          in = true;
        } else {
          REQUIRE(c.isOk());
          in = seen == newB1;  // complete before the crash: cancel reports it committed
          CHECK(c->committed == std::vector<BlockId>(in ? 1 : 0, "b1"));
          CHECK(c->cancelled == std::vector<BlockId>(in ? 0 : 1, "b1"));
          commitOk(*repo, "other", {"b1"}, 4);
        }
        break;
      }
      case SingleMode::Repair: {
        auto report = repairStore(dynamic_cast<FileRawStorage&>(repo->raw()), RepairOptions{});
        REQUIRE(report.isOk());
        CHECK(report->remaining.empty());
        in = readB1(*repo) == newB1;
        CHECK(in == (finishable || seen == newB1));
        break;
      }
    }
    // All or nothing, and nothing left over.
    CHECK((readB1(*repo, 3) == newB1) == in);
    const bool committed = in || committedLater;
    CHECK(repo->raw().getPending("b1", "s3").value().has_value() == (!committed && mode != SingleMode::Cancel));
    CHECK(repo->raw().getCommitted("b1", "s3").value().has_value() == committed);
    CHECK(repo->blockStorage("b1").interruptedCommits().value().empty());
    std::vector<Problem> problems;
    REQUIRE(checkStore(dynamic_cast<FileRawStorage&>(repo->raw()), CheckOptions{},
                       [&](const Problem& p) {
                         // A crashed write's temporary file is repair's to remove.
                         if (mode == SingleMode::Repair || p.kind != problem::kTempFile) problems.push_back(p);
                       })
                .isOk());
    INFO("check: " << describe(problems));
    CHECK(problems.empty());
    // What recovery did survives a power cut, even where repair had nothing to
    // do (killed between renaming meta.json and fsyncing its directory, the
    // commit looks complete): repair ends by making the whole store durable.
    const std::string final = readB1(*repo);
    env->powerCut();
    repo = open(env);
    CHECK(readB1(*repo) == final);
    checkNothingLost(*repo, kHistory);
    if (in && !firstVisible) firstVisible = n;
    if (firstVisible && mode != SingleMode::Retry) CHECK(in);  // durable from one point on, never lost again
  }
  if (mode != SingleMode::Retry) {
    REQUIRE(firstVisible);
    std::cout << "test_crash: single block, " << singleModeName(mode) << (cut ? ", power cut" : "") << ": "
              << total + 1 << " crash points, commit durable after " << *firstVisible << " of " << total
              << " mutations\n";
  }
}
