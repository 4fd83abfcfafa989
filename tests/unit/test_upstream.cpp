// The actions dialect against upstream Optimystic v0.24.2's own trees
// (testdata/upstream-v0.24, written by upstream's code; its README says how):
// optdb reads every revision as upstream does, continues them writing exactly
// the files upstream writes, writes the same tree from scratch for the same
// requests, and finds nothing wrong in any of them.
#include <filesystem>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;
namespace fs = std::filesystem;

namespace {

const fs::path kFixture = fs::path(OPTDB_TESTDATA) / "upstream-v0.24";

Json fixtureJson(const std::string& name) { return parse(fileBytes(kFixture / name)); }

// Every regular file beneath `dir` (path → bytes), optdb's own .optdb/ left out.
std::map<std::string, std::string> filesUnder(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    const std::string rel = fs::relative(it->path(), dir).string();
    if (rel == ".optdb") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) out[rel] = fileBytes(it->path());
  }
  return out;
}

// The two trees hold the same files with the same bytes; each difference named.
void sameFiles(const fs::path& got, const fs::path& want) {
  const auto a = filesUnder(got), b = filesUnder(want);
  for (const auto& [path, bytes] : b) {
    INFO("file " << path);
    auto it = a.find(path);
    CHECK(it != a.end());
    if (it != a.end()) CHECK(it->second == bytes);
  }
  for (const auto& [path, bytes] : a) {
    INFO("file optdb wrote that upstream does not: " << path << " = " << bytes);
    CHECK(b.count(path) == 1);
  }
}

StoreOptions options() {
  StoreOptions o;
  o.sync = false;  // no byte differs; the trees are small
  return o;       // no layout: the store's own, as a user runs it
}

// Upstream's StorageRepo requests, as its driver made them, through optdb's.
void replay(StorageRepo& repo, const Json& requests) {
  for (const auto& q : requests) {
    const std::string op = q["op"].get<std::string>();
    const TrxId id = q["actionId"].get<std::string>();
    INFO(op << " " << id);
    if (op == "pend") {
      PendRequest r;
      r.trxId = id;
      auto t = decodeTransforms(q["transforms"], "transforms");
      REQUIRE(t.isOk());
      r.transforms = *t;
      if (q.contains("rev")) r.rev = q["rev"].get<Rev>();
      REQUIRE(q["policy"] == "c");
      auto res = repo.pend(r);
      REQUIRE(res.isOk());
      REQUIRE(res->outcome == PendResult::Outcome::Pended);
    } else if (op == "commit") {
      auto res = repo.commit(id, q["blockIds"].get<std::vector<BlockId>>(), q["rev"].get<Rev>());
      INFO((res.isOk() ? std::string() : res.status().message()));
      REQUIRE(res.isOk());
      REQUIRE(res->success);
    } else {
      REQUIRE(op == "cancel");
      auto res = repo.cancel(id, q["blockIds"].get<std::vector<BlockId>>());
      REQUIRE(res.isOk());
    }
  }
}

// optdb's answer to one read is upstream's: the same block (or none), the
// same latest and pendings where upstream gives them.
void sameRead(StorageRepo& repo, const BlockId& id, const GetContext& ctx, const Json& want) {
  auto got = repo.get({id}, ctx);
  REQUIRE(got.isOk());
  const BlockState& s = got->blocks.at(0).second;
  if (want.contains("block")) {
    REQUIRE(s.block);
    CHECK(toJson(*s.block) == toJson(want["block"]));
  } else {
    CHECK(!s.block);
  }
  const Json& state = want["state"];
  if (state.contains("latest")) {
    REQUIRE(s.latest);
    CHECK(s.latest->trxId == state["latest"]["actionId"].get<std::string>());
    CHECK(s.latest->rev == state["latest"]["rev"].get<Rev>());
  }
  if (state.contains("pendings")) {
    auto pendings = state["pendings"].get<std::vector<TrxId>>();
    std::sort(pendings.begin(), pendings.end());
    CHECK(s.pendings == pendings);
  }
}

void sameReads(const fs::path& dir, const std::string& expectedFile) {
  const Json expected = fixtureJson(expectedFile);
  auto repo = openStore(dir.string(), options());
  for (const auto& [id, e] : expected.items()) {
    if (id[0] == '_') continue;
    INFO("block " << id << " default");
    sameRead(*repo, id, {}, e["default"]);
    for (const auto& [rev, want] : e["byRev"].items()) {
      INFO("block " << id << " at " << rev);
      GetContext ctx;
      ctx.rev = std::stoull(rev);
      sameRead(*repo, id, ctx, want);
    }
  }
  for (const auto& [key, want] : expected["_pendingOverlay"].items()) {
    INFO("overlay " << key);
    const auto plus = key.find('+');
    const BlockId id = key.substr(0, plus);
    GetContext ctx;
    ctx.trxId = key.substr(plus + 1);
    // The driver read each overlay at the block's latest (0 without one).
    ctx.rev = want["state"].contains("latest") ? want["state"]["latest"]["rev"].get<Rev>() : 0;
    sameRead(*repo, id, ctx, want);
  }
  auto blocks = repo->raw().listBlocks();
  REQUIRE(blocks.isOk());
  CHECK(*blocks == expected["_listBlockIds"].get<std::vector<BlockId>>());
}

// inspect --check finds nothing.
void clean(const fs::path& dir) {
  auto repo = openStore(dir.string(), options());
  std::vector<Problem> problems;
  auto r = checkStore(dynamic_cast<FileRawStorage&>(repo->raw()), CheckOptions{},
                      [&](const Problem& p) { problems.push_back(p); });
  REQUIRE(r.isOk());
  INFO(describe(problems));
  CHECK(problems.empty());
}

// A copy of a fixture tree in a scratch directory.
fs::path copyOf(const ScratchDir& scratch, const std::string& tree) {
  const fs::path to = scratch.path / tree;
  fs::copy(kFixture / tree, to, fs::copy_options::recursive);
  return to;
}

}  // namespace

TEST_CASE("optdb reads every revision of upstream v0.24's trees as upstream does") {
  ScratchDir scratch("upstream-read");
  for (const char* tree : {"store", "continued"}) {
    INFO(tree);
    const fs::path dir = copyOf(scratch, tree);
    sameReads(dir, std::string("expected-") + tree + ".json");
    clean(dir);
    sameFiles(dir, kFixture / tree);  // reading wrote nothing
  }
}

TEST_CASE("optdb continues an upstream v0.24 tree writing exactly what upstream writes") {
  ScratchDir scratch("upstream-continue");
  const fs::path dir = copyOf(scratch, "store");
  {
    auto repo = openStore(dir.string(), options());
    replay(*repo, fixtureJson("requests.json")["phase2"]);
  }
  sameFiles(dir, kFixture / "continued");
  CHECK(fileBytes(dir / ".optdb/settings.json") == R"({"layout":"actions"})");
  clean(dir);
  sameReads(dir, "expected-continued.json");
}

TEST_CASE("from scratch, optdb writes upstream v0.24's tree for the same requests, file for file") {
  ScratchDir scratch("upstream-scratch");
  const fs::path dir = scratch.path / "s";
  const Json requests = fixtureJson("requests.json");
  {
    auto repo = openStore(dir.string(), options());
    replay(*repo, requests["phase1"]);
  }
  sameFiles(dir, kFixture / "store");
  clean(dir);
  {
    auto repo = openStore(dir.string(), options());
    replay(*repo, requests["phase2"]);
  }
  sameFiles(dir, kFixture / "continued");
  clean(dir);
}
