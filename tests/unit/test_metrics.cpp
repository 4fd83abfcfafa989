// inspect --prom's metrics (optdb/metrics.hpp): the text exposition codec,
// the metrics collected from a store with known numbers on both backends
// (FileRawStorage over a MemEnv, and the MemRawStorage fixture), and the
// progress callbacks of check and repair, once per block.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "mem_raw_storage.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/metrics.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;
using Clock = std::chrono::system_clock;

namespace {

struct Backend {
  std::shared_ptr<RawStorage> raw;
  std::unique_ptr<StorageRepo> repo;
  const char* name;

  explicit Backend(bool memory) : name(memory ? "memory" : "directory") {
    if (memory) {
      raw = std::make_shared<MemRawStorage>(Dialect::Trx);
    } else {
      raw = std::make_shared<FileRawStorage>(std::make_shared<MemEnv>(), true, Dialect::Trx);
    }
    repo = std::make_unique<StorageRepo>(raw, StoreOptions{true, 30.0, Dialect::Trx, {}});
  }
};

// b1, b2, b3 inserted at revisions 1 to 3; t7 pending on b1 and b2, and its
// commit's intent recorded (begun, not finished).
void knownStore(Backend& b) {
  for (int i = 1; i <= 3; ++i) {
    const std::string id = "b" + std::to_string(i);
    pendOk(*b.repo, "t-" + id, "{\"inserts\":{\"" + id + "\":" + B(id, "\"n\":[]") + "}}");
    commitOk(*b.repo, "t-" + id, {id}, static_cast<Rev>(i));
  }
  pendOk(*b.repo, "t7", R"({"updates":{"b1":[["n",0,0,[7]]],"b2":[["n",0,0,[7]]]}})", 4);
  REQUIRE(b.raw->saveIntent(CommitIntent{"t7", 4, {"b1", "b2"}}).isOk());
}

SummaryResult summaryOf(Backend& b, const std::vector<BlockId>& ids) {
  SummaryOptions o;
  o.blockIds = ids;
  auto r = summarizeStore(*b.raw, o, [](const BlockSummary&) {}, [](const Problem&) {});
  INFO(r.status().message());
  REQUIRE(r.isOk());
  return std::move(r).value();
}

using Calls = std::vector<std::tuple<std::size_t, std::size_t, BlockId>>;

BlockProgressFn recorder(Calls& calls) {
  return [&calls](std::size_t done, std::size_t total, const BlockId& id) { calls.emplace_back(done, total, id); };
}

}  // namespace

TEST_CASE("metrics: toPrometheus writes every gauge with its HELP and TYPE, labels escaped", "[metrics]") {
  StoreMetrics m;
  m.blocks = 3;
  m.revisions = 12;
  m.pendingTransactions = 2;
  m.oldestPendingAgeSeconds = 61.5;
  m.apparentBytes = 673;
  m.allocatedBytes = 131072;
  m.interruptedCommits = 1;
  const std::string head =
      "# HELP optdb_blocks Blocks inspected (every block of the store, or those inspect names).\n"
      "# TYPE optdb_blocks gauge\n"
      "optdb_blocks 3\n"
      "# HELP optdb_revisions Complete revisions the blocks hold.\n"
      "# TYPE optdb_revisions gauge\n"
      "optdb_revisions 12\n"
      "# HELP optdb_pending_transactions Pending transactions, counted once per block each is pending on.\n"
      "# TYPE optdb_pending_transactions gauge\n"
      "optdb_pending_transactions 2\n"
      "# HELP optdb_oldest_pending_age_seconds Seconds since the oldest pending transaction's file was written; 0 "
      "when none is pending.\n"
      "# TYPE optdb_oldest_pending_age_seconds gauge\n"
      "optdb_oldest_pending_age_seconds 61.5\n"
      "# HELP optdb_bytes Bytes of the blocks' files: their apparent sizes, and what the file system allocated (as du "
      "counts).\n"
      "# TYPE optdb_bytes gauge\n"
      "optdb_bytes{kind=\"apparent\"} 673\n"
      "optdb_bytes{kind=\"allocated\"} 131072\n"
      "# HELP optdb_interrupted_commits Commit intents present: commits on several blocks begun and not finished "
      "(optdb repair finishes them).\n"
      "# TYPE optdb_interrupted_commits gauge\n"
      "optdb_interrupted_commits 1\n";
  CHECK(m.toPrometheus() == head);

  m.problems.emplace();
  (*m.problems)["bad-json"] = 2;
  (*m.problems)["odd \"kind\" \\ with\nnewline"] = 1;
  CHECK(m.toPrometheus() == head +
                                "# HELP optdb_problems Integrity problems inspect --check found, by kind.\n"
                                "# TYPE optdb_problems gauge\n"
                                "optdb_problems{kind=\"bad-json\"} 2\n"
                                "optdb_problems{kind=\"odd \\\"kind\\\" \\\\ with\\nnewline\"} 1\n");

  m = StoreMetrics();
  const std::string zero = m.toPrometheus();
  CHECK(zero.find("optdb_oldest_pending_age_seconds 0\n") != std::string::npos);
  CHECK(zero.back() == '\n');
}

TEST_CASE("metrics: problem::kKinds lists every kind problem.hpp declares, once", "[metrics]") {
  std::ifstream in(std::string(OPTDB_TESTDATA) + "/../libstore/include/optdb/problem.hpp");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string header = text.str();
  std::set<std::string> declared;
  const std::regex decl(R"re(inline constexpr const char\* k\w+ = "([^"]+)")re");
  for (auto it = std::sregex_iterator(header.begin(), header.end(), decl); it != std::sregex_iterator(); ++it)
    declared.insert((*it)[1]);
  std::set<std::string> listed(std::begin(problem::kKinds), std::end(problem::kKinds));
  CHECK(listed.size() == std::size(problem::kKinds));
  CHECK(listed == declared);
  CHECK(declared.size() >= 20);
}

TEST_CASE("metrics: collected from a store with known numbers, on both backends", "[metrics]") {
  const bool memory = GENERATE(true, false);
  Backend b(memory);
  INFO(b.name);
  const auto before = Clock::now();
  knownStore(b);
  const auto after = Clock::now();

  const auto summary = summaryOf(b, {});
  const auto later = after + std::chrono::seconds(100);
  auto m = collectMetrics(*b.raw, {}, summary, nullptr, later);
  INFO(m.status().message());
  REQUIRE(m.isOk());
  CHECK(m->blocks == 3);
  CHECK(m->revisions == 3);
  CHECK(m->pendingTransactions == 2);
  CHECK(m->interruptedCommits == 1);
  CHECK(m->apparentBytes == summary.store.bytes);
  CHECK(m->allocatedBytes == summary.store.allocatedBytes);
  CHECK(m->apparentBytes > 0);
  // The pendings were written between `before` and `after`; the age is taken 100 s after.
  CHECK(m->oldestPendingAgeSeconds >= 99.999);
  CHECK(m->oldestPendingAgeSeconds <= std::chrono::duration<double>(later - before).count() + 0.001);
  CHECK_FALSE(m->problems);

  // Ages are never negative (a clock set back).
  m = collectMetrics(*b.raw, {}, summary, nullptr, before - std::chrono::seconds(50));
  REQUIRE(m.isOk());
  CHECK(m->oldestPendingAgeSeconds == 0);

  // With the check: every kind, 0 where none was found.
  auto check = checkStore(*b.raw, CheckOptions{}, [](const Problem&) {});
  REQUIRE(check.isOk());
  m = collectMetrics(*b.raw, {}, summary, &*check, later);
  REQUIRE(m.isOk());
  REQUIRE(m->problems);
  CHECK(m->problems->size() == std::size(problem::kKinds));
  for (const char* kind : problem::kKinds) CHECK(m->problems->at(kind) == (std::string(kind) == "leftover-intent"));

  // The blocks named: b3 holds no pending and no intent touches it.
  const auto b3 = summaryOf(b, {"b3"});
  m = collectMetrics(*b.raw, {"b3"}, b3, nullptr, later);
  REQUIRE(m.isOk());
  CHECK(m->blocks == 1);
  CHECK(m->revisions == 1);
  CHECK(m->pendingTransactions == 0);
  CHECK(m->oldestPendingAgeSeconds == 0);
  CHECK(m->interruptedCommits == 0);
  m = collectMetrics(*b.raw, {"b2"}, summaryOf(b, {"b2"}), nullptr, later);
  REQUIRE(m.isOk());
  CHECK(m->pendingTransactions == 1);
  CHECK(m->interruptedCommits == 1);

  // Finished by repair: no intent, no pending.
  auto repaired = repairStore(*b.raw, RepairOptions{});
  REQUIRE(repaired.isOk());
  REQUIRE(b.repo->cancel("t7", {"b1", "b2"}).isOk());
  m = collectMetrics(*b.raw, {}, summaryOf(b, {}), nullptr, later);
  REQUIRE(m.isOk());
  CHECK(m->interruptedCommits == 0);
  CHECK(m->pendingTransactions == 0);
  CHECK(m->revisions == 5);
  CHECK(m->oldestPendingAgeSeconds == 0);
}

TEST_CASE("check and repair call their progress once per block: done, in all, the block", "[metrics]") {
  const bool memory = GENERATE(true, false);
  Backend b(memory);
  INFO(b.name);
  knownStore(b);
  const Calls all = {{1, 3, "b1"}, {2, 3, "b2"}, {3, 3, "b3"}};

  Calls calls;
  CheckOptions co;
  co.progress = recorder(calls);
  REQUIRE(checkStore(*b.raw, co, [](const Problem&) {}).isOk());
  CHECK(calls == all);

  calls.clear();
  co.blockIds = {"b3", "nosuch", "b2"};
  REQUIRE(checkStore(*b.raw, co, [](const Problem&) {}).isOk());
  CHECK(calls == Calls{{1, 2, "b3"}, {2, 2, "b2"}});

  for (bool dryRun : {true, false}) {
    calls.clear();
    RepairOptions ro;
    ro.dryRun = dryRun;
    ro.progress = recorder(calls);
    auto r = repairStore(*b.raw, ro);
    REQUIRE(r.isOk());
    CHECK(calls == all);
  }
}
