// BlockStorage on its own: each dialect's retention of materializations over
// a long history, and every revision read back equal to a replay from scratch
// whatever was pruned.
#include "optdb/block_storage.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/transform.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

TEST_CASE("retention per dialect over 70 revisions, and every revision read as replayed", "[block]") {
  for (Dialect d : kDialects) {
    INFO(namesOf(d).name);
    auto env = std::make_shared<MemEnv>();
    auto raw = std::make_shared<FileRawStorage>(env, false, d);
    StoreOptions o;
    o.sync = false;
    o.layout = d;
    StorageRepo repo(raw, o);
    std::vector<std::string> states;  // states[r]: the block after revision r
    pendOk(repo, "l1", R"({"inserts":{"la":)" + B("la", R"("n":[])") + "}}", 1);
    commitOk(repo, "l1", {"la"}, 1);
    std::optional<Json> state = parse(B("la", R"("n":[])"));
    states.resize(2);
    states[1] = toJson(*state);
    for (Rev r = 2; r <= 70; ++r) {
      const std::string ops = R"([["n",1000,0,[)" + std::to_string(r) + "]]]";
      pendOk(repo, "l" + std::to_string(r), R"({"updates":{"la":)" + ops + "}}", r);
      commitOk(repo, "l" + std::to_string(r), {"la"}, r);
      Transform t;
      t.updates = parse(ops);
      state = *applyTransform(std::move(state), t);
      states.push_back(toJson(*state));
    }
    std::set<std::string> kept;
    for (const auto& e : env->listDir("la/blocks").value()) kept.insert(e.name);
    // trx: the floor and every 16th revision of the range, counted; actions:
    // upstream's, by revision number (its own tree of this history, la, agrees).
    const std::set<std::string> want =
        d == Dialect::Trx
            ? std::set<std::string>{"l1.json", "l17.json", "l33.json", "l49.json", "l65.json", "l70.json"}
            : std::set<std::string>{"l1.json", "l32.json", "l64.json", "l70.json"};
    CHECK(kept == want);
    BlockStorage bs("la", *raw);
    for (Rev r = 1; r <= 70; ++r) {
      INFO("revision " << r);
      auto got = bs.getBlock(r);
      REQUIRE(got.isOk());
      REQUIRE(got->has_value());
      CHECK(toJson(**got) == states[r]);
      CHECK(bs.lastReplayCount() < (d == Dialect::Trx ? 16u : 32u));  // a checkpoint found, not a walk from 1
    }
  }
}
