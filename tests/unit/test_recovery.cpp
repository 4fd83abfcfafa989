// Interrupted commits meeting the other writers: restore, get's catch-up,
// cancel and a later commit, with and without a power cut. Each case is a
// scenario a review of the intent-less single-block commit found; each
// failed before its fix.
#include <catch2/catch.hpp>

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

// Without the journal: these cases stop a commit between two of its files,
// a state only the fsync-per-file protocol leaves (through the journal, the
// next writer rolls such a unit forward whole: test_journal).
std::unique_ptr<StorageRepo> open(const std::shared_ptr<MemEnv>& env) {
  return std::make_unique<StorageRepo>(std::make_shared<FileRawStorage>(env, true, Dialect::Trx, /*journal=*/false));
}


std::vector<Problem> check(StorageRepo& repo) {
  std::vector<Problem> ps;
  REQUIRE(checkStore(dynamic_cast<FileRawStorage&>(repo.raw()), CheckOptions{}, [&](const Problem& p) {
            if (p.kind != problem::kTempFile) ps.push_back(p);  // a crashed write's temporary file is repair's
          }).isOk());
  return ps;
}

// Commits trxId on `ids` at rev, crashing after 0, 1, 2 … mutations (each
// attempt starting from what the last one left) until `done` holds.
template <typename Done>
void crashUntil(const std::shared_ptr<MemEnv>& env, const TrxId& trxId, const std::vector<BlockId>& ids, Rev rev, Done done) {
  for (std::uint64_t n = 0; n < 1000; ++n) {
    env->crashAfter(n);
    auto repo = open(env);
    auto r = repo->commit(trxId, ids, rev);
    env->crashAfter(std::nullopt);
    REQUIRE_FALSE((r.isOk() && r->success));
    if (done(*repo)) return;
  }
  FAIL("the crash point was never reached");
}

// An archive of b1 from a store with the given history (trx, rev, update of "l").
std::string archiveOf(const std::vector<std::pair<TrxId, Rev>>& history) {
  auto env = std::make_shared<MemEnv>();
  auto s = open(env);
  pendOk(*s, "t1", R"({"inserts":{"b1":)" + B("b1", R"("l":[1])") + "}}");
  commitOk(*s, "t1", {"b1"}, 1);
  for (const auto& [trx, rev] : history) {
    pendOk(*s, trx, R"({"updates":{"b1":[["l",0,0,[")" + trx + R"("]]]}})");
    commitOk(*s, trx, {"b1"}, rev);
  }
  std::string out;
  ArchiveRequest req;
  req.blockIds = {"b1"};
  REQUIRE(writeArchives(s->raw(), req, [&](const BlockArchive& a) {
            appendArchiveLine(out, a);
            return Status::ok();
          }).isOk());
  return out;
}

// b1 inserted at 1 ("l":[1]), and `trx` pending on it, updating "l".
std::shared_ptr<MemEnv> withPending(const TrxId& trx, const std::string& update = "") {
  auto env = std::make_shared<MemEnv>();
  auto repo = open(env);
  pendOk(*repo, "t1", R"({"inserts":{"b1":)" + B("b1", R"("l":[1])") + "}}");
  commitOk(*repo, "t1", {"b1"}, 1);
  pendOk(*repo, trx, update.empty() ? R"({"updates":{"b1":[["l",0,0,[")" + trx + R"("]]]}})" : update);
  return env;
}

}  // namespace

TEST_CASE("restore finishes an interrupted single-block commit before it moves latest past it", "[recovery]") {
  const std::string archive = archiveOf({{"B", 11}});
  auto env = withPending("A");
  crashUntil(env, "A", {"b1"}, 10, [](StorageRepo& r) { return r.raw().getRevision("b1", 10).value().has_value(); });
  auto repo = open(env);
  REQUIRE(repo->blockStorage("b1").interruptedCommits().value() == std::vector<TrxRev>{{"A", 10}});

  auto rs = restoreArchives(repo->raw(), {ArchiveInput{"a", archive}}, 1);
  REQUIRE(rs.isOk());
  CHECK(rs->rejected.empty());
  // A was finished at 10, not hidden below the restored latest.
  CHECK(repo->raw().getRevision("b1", 10).value() == std::optional<TrxId>("A"));
  CHECK(repo->raw().getCommitted("b1", "A").value().has_value());
  CHECK(repo->blockStorage("b1").interruptedCommits().value().empty());
  CHECK(readBlock(*repo, "b1", 10) == B("b1", R"("l":["A",1])"));
  // So it can be neither cancelled nor committed a second time.
  auto c = repo->cancel("A", {"b1"});
  REQUIRE(c.isOk());
  CHECK(c->cancelled.empty());
  CHECK(c->committed == std::vector<BlockId>{"b1"});
  auto again = repo->commit("A", {"b1"}, 12);
  CHECK_FALSE((again.isOk() && again->success));
  CHECK_FALSE(repo->raw().getRevision("b1", 12).value());
  // The archive's revision 11 was built without A (its store never had A):
  // history forked, and --check says so (issue 11, defect 1's class).
  auto ps = check(*repo);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].kind == problem::kForkedHistory);
  CHECK(ps[0].path == "b1/blocks/B.json");
}

TEST_CASE("restore never keeps a materialization an unfinished attempt left", "[recovery]") {
  const std::string archive = archiveOf({{"B", 3}, {"A", 9}});
  auto env = withPending("A");
  // A@5 stops after its materialization (computed on [1]) and before its revision file.
  crashUntil(env, "A", {"b1"}, 5, [](StorageRepo& r) { return r.raw().getMaterialized("b1", "A").value().has_value(); });
  auto repo = open(env);
  REQUIRE_FALSE(repo->raw().getRevision("b1", 5).value());
  auto rs = restoreArchives(repo->raw(), {ArchiveInput{"a", archive}}, 1);
  REQUIRE(rs.isOk());
  CHECK(rs->rejected.empty());
  CHECK(readBlock(*repo, "b1") == B("b1", R"("l":["A","B",1])"));
  CHECK(readBlock(*repo, "b1", 3) == B("b1", R"("l":["B",1])"));
  CHECK(check(*repo).empty());
}

TEST_CASE("get's catch-up builds nothing on a block an interrupted multi-block commit holds", "[recovery]") {
  auto env = std::make_shared<MemEnv>();
  {
    auto repo = open(env);
    pendOk(*repo, "t1", R"({"inserts":{"b1":)" + B("b1", R"("l":[1])") + R"(,"b2":)" + B("b2", R"("l":[1])") + "}}");
    commitOk(*repo, "t1", {"b1", "b2"}, 1);
    pendOk(*repo, "M", R"({"updates":{"b1":[["l",0,0,["M"]]],"b2":[["l",0,0,["M"]]]}})");
    pendOk(*repo, "X", R"({"updates":{"b2":[["l",0,0,["X"]]]}})");
  }
  // M stops as soon as its intent is durable: it must be finished on both blocks.
  crashUntil(env, "M", {"b1", "b2"}, 5, [](StorageRepo& r) { return !r.raw().listIntents().value().empty(); });
  auto repo = open(env);
  GetContext ctx;
  ctx.committed = {{"X", 7}};
  auto g = repo->get({"b2"}, ctx);
  REQUIRE(g.isOk());
  CHECK(repo->raw().getMeta("b2").value()->latest == TrxRev{"t1", 1});  // nothing caught up yet
  CHECK(repo->raw().getPending("b2", "X").value().has_value());
  auto rep = repairStore(dynamic_cast<FileRawStorage&>(repo->raw()), RepairOptions{});
  REQUIRE(rep.isOk());
  CHECK(rep->remaining.empty());
  // Now the catch-up lands on top of M.
  REQUIRE(repo->get({"b2"}, ctx).isOk());
  CHECK(readBlock(*repo, "b2") == B("b2", R"("l":["X","M",1])"));
  CHECK(readBlock(*repo, "b1") == B("b1", R"("l":["M",1])"));
  CHECK(check(*repo).empty());
}

TEST_CASE("a commit that deletes the block removes a leftover materialization durably", "[recovery]") {
  auto env = withPending("A", R"({"updates":{"b1":[]}})");
  // A@5 stops once its index record is written: its materialization ([1]) is durable.
  crashUntil(env, "A", {"b1"}, 5, [&](StorageRepo&) {
    auto idx = env->readFile("b1/revs/optdb-index");
    return idx && idx->find("0000000000000005\n") != std::string::npos;
  });
  auto repo = open(env);
  REQUIRE(repo->raw().getMaterialized("b1", "A").value().has_value());
  pendOk(*repo, "D", R"({"deletes":["b1"]})");
  commitOk(*repo, "D", {"b1"}, 6);
  commitOk(*repo, "A", {"b1"}, 7);  // an empty update of a deleted block: still absent
  CHECK(readBlock(*repo, "b1") == "<absent>");
  env->powerCut();
  repo = open(env);
  CHECK(repo->raw().getMeta("b1").value()->latest == TrxRev{"A", 7});
  CHECK(readBlock(*repo, "b1") == "<absent>");
}

TEST_CASE("an index record left by an unfinished attempt does not outlive the next commit", "[recovery]") {
  auto env = std::make_shared<MemEnv>();
  {
    auto repo = open(env);
    pendOk(*repo, "A", R"({"inserts":{"b1":)" + B("b1", R"("l":["A"])") + "}}");
    pendOk(*repo, "X", R"({"inserts":{"b1":)" + B("b1", R"("l":["X"])") + "}}");
    pendOk(*repo, "Y", R"({"updates":{"b1":[["l",0,0,["Y"]]]}})");
  }
  // A@10 on a new block stops right after its index record.
  crashUntil(env, "A", {"b1"}, 10, [&](StorageRepo&) { return *env->fileType("b1/revs/optdb-index") == FileType::File; });
  auto repo = open(env);
  GetContext ctx;
  ctx.committed = {{"X", 11}};
  REQUIRE(repo->get({"b1"}, ctx).isOk());  // catch-up commits X at 11
  CHECK(env->readFile("b1/revs/optdb-index").value().find("0000000000000010\n") == std::string::npos);
  commitOk(*repo, "Y", {"b1"}, 12);
  // X is the first revision of the block's range: its materialization is retained.
  CHECK(repo->raw().getMaterialized("b1", "X").value().has_value());
  CHECK(readBlock(*repo, "b1") == B("b1", R"("l":["Y","X"])"));
}

TEST_CASE("cancel removes what an unfinished commit attempt left", "[recovery]") {
  auto env = withPending("A");
  crashUntil(env, "A", {"b1"}, 5, [](StorageRepo& r) { return r.raw().getMaterialized("b1", "A").value().has_value(); });
  auto repo = open(env);
  REQUIRE_FALSE(repo->raw().getRevision("b1", 5).value());
  auto c = repo->cancel("A", {"b1"});
  REQUIRE(c.isOk());
  CHECK(c->cancelled == std::vector<BlockId>{"b1"});
  CHECK_FALSE(repo->raw().getMaterialized("b1", "A").value().has_value());
  CHECK(readBlock(*repo, "b1") == B("b1", R"("l":[1])"));
}

TEST_CASE("an archive carries a commit finished but for meta.json, and not one still pending", "[recovery]") {
  const bool promoted = GENERATE(true, false);
  INFO((promoted ? "A's transform committed, meta.json not yet written" : "A's revision file written, A still pending"));
  auto env = withPending("A");
  crashUntil(env, "A", {"b1"}, 10, [&](StorageRepo& r) {
    return promoted ? r.raw().getCommitted("b1", "A").value().has_value() : r.raw().getRevision("b1", 10).value().has_value();
  });
  auto repo = open(env);
  REQUIRE(repo->raw().getMeta("b1").value()->latest == TrxRev{"t1", 1});
  auto archived = [&](ArchiveRequest req) {
    std::vector<BlockArchive> out;
    req.blockIds = {"b1"};
    REQUIRE(writeArchives(repo->raw(), req, [&](const BlockArchive& a) {
              out.push_back(a);
              return Status::ok();
            }).isOk());
    REQUIRE(out.size() == 1);
    return out.front();
  };
  auto all = archived({});
  ArchiveRequest at10;
  at10.rev = 10;
  auto one = archived(at10);
  REQUIRE(one.revisions.size() == 1);
  if (promoted) {
    // A revision by SPEC §2 (its revs/ file names a committed transform): archived, with its state.
    REQUIRE(all.revisions.size() == 2);
    CHECK(all.revisions[1].trx == TrxRev{"A", 10});
    CHECK(one.revisions[0].trx == TrxRev{"A", 10});
    CHECK(toJson(*one.revisions[0].block) == B("b1", R"("l":["A",1])"));
  } else {
    // Not a revision yet: the block at 10 is what revision 1 made it, and A is pending.
    REQUIRE(all.revisions.size() == 1);
    CHECK(one.revisions[0].trx == TrxRev{"t1", 1});
    CHECK(toJson(*one.revisions[0].block) == B("b1", R"("l":[1])"));
    REQUIRE(all.pending.size() == 1);
    CHECK(all.pending[0].trxId == "A");
  }
  // A copy restored from the full archive reads as the source once the source finishes A.
  auto copyEnv = std::make_shared<MemEnv>();
  auto copy = open(copyEnv);
  std::string text;
  appendArchiveLine(text, all);
  auto rs = restoreArchives(copy->raw(), {ArchiveInput{"a", text}}, 1);
  REQUIRE(rs.isOk());
  CHECK(rs->rejected.empty());
  pendOk(*repo, "Z", R"({"updates":{"b1":[["l",0,0,["Z"]]]}})");
  commitOk(*repo, "Z", {"b1"}, 11);  // finishes A first
  if (!promoted) commitOk(*copy, "A", {"b1"}, 10);
  pendOk(*copy, "Z", R"({"updates":{"b1":[["l",0,0,["Z"]]]}})");
  commitOk(*copy, "Z", {"b1"}, 11);
  CHECK(readBlock(*copy, "b1") == readBlock(*repo, "b1"));
  CHECK(readBlock(*repo, "b1") == B("b1", R"("l":["Z","A",1])"));
}

TEST_CASE("a leftover materialization is removed under every name readers accept", "[recovery]") {
  auto env = withPending("tx:1", R"({"deletes":["b1"]})");
  // Another writer's unfinished attempt, under the raw ':' name SPEC §2 lets readers accept.
  REQUIRE(env->createDir("b1/blocks").isOk());
  {
    auto f = env->newWritableFile("b1/blocks/tx:1.json");
    REQUIRE(f.isOk());
    REQUIRE((*f)->append(B("b1", R"("l":["stale"])")).isOk());
    REQUIRE((*f)->sync().isOk());
    REQUIRE((*f)->close().isOk());
    REQUIRE(env->syncDir("b1/blocks").isOk());
    REQUIRE(env->syncDir("b1").isOk());
  }
  auto repo = open(env);
  REQUIRE(repo->raw().getMaterialized("b1", "tx:1").value().has_value());
  commitOk(*repo, "tx:1", {"b1"}, 2);
  CHECK(readBlock(*repo, "b1") == "<absent>");
  CHECK_FALSE(repo->raw().getMaterialized("b1", "tx:1").value().has_value());
  env->powerCut();
  repo = open(env);
  CHECK(readBlock(*repo, "b1") == "<absent>");
}
