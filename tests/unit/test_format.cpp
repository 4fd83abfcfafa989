// The on-disk format of SPEC §2, byte for byte, and a store written by hand in
// the reference (TypeScript) layout read and written through openStore().
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "layout.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
namespace fs = std::filesystem;
using namespace optdb::test_support;

namespace {

// Calls f(entry) for everything under root but .optdb and what is in it.
template <class F>
void forEachOutsideOptdb(const std::string& root, F f) {
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == ".optdb") {
      it.disable_recursion_pending();
      continue;
    }
    f(*it);
  }
}

// The data files of a store on disk: every *.json not under .optdb, by relative path.
std::map<std::string, std::string> dataFiles(const std::string& root) {
  std::map<std::string, std::string> out;
  forEachOutsideOptdb(root, [&](const fs::directory_entry& e) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file()) return;
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0) return;
    out[fs::relative(e.path(), root).string()] = *slurp(e.path());
  });
  return out;
}

// Files whose name starts with '.' (temporaries) outside .optdb.
std::vector<std::string> hiddenFiles(const std::string& root) {
  std::vector<std::string> out;
  forEachOutsideOptdb(root, [&](const fs::directory_entry& e) {
    if (e.path().filename().string()[0] == '.') out.push_back(fs::relative(e.path(), root).string());
  });
  return out;
}

std::string read(StorageRepo& repo, const BlockId& id, std::optional<Rev> rev = {}) {
  GetContext ctx;
  ctx.rev = rev;
  auto r = repo.get({id}, ctx);
  INFO("get " << id << ": " << r.status().message());
  REQUIRE(r.isOk());
  const auto& st = r->blocks.at(0).second;
  INFO(st.notFound.value_or(""));
  CHECK_FALSE(st.notFound);
  return st.block ? toJson(*st.block) : "<absent>";
}

const std::string kB1 = R"({"header":{"id":"b1","type":"note","collectionId":"c1"},"text":"hi","n":1,"k":{"2":1,"1":2}})";

}  // namespace

TEST_CASE("files written are byte-exact", "[format]") {
  TempDir dir("format");
  auto repo = openStore(dir.path(), StoreOptions{true, 30.0, Dialect::Trx, {}});  // with fsync, as a user runs it
  // The input spells 1 as 1.0 and has integer-like keys out of JS order.
  pendOk(*repo, "t1",
         R"({"inserts":{"b1":{"header":{"id":"b1","type":"note","collectionId":"c1"},"text":"hi","n":1.0,"k":{"2":1,"1":2}}}})");
  auto files = dataFiles(dir.path());
  CHECK(files == std::map<std::string, std::string>{
                     {"b1/meta.json", R"({"ranges":[[0]]})"},
                     {"b1/pend/t1.json", R"({"insert":)" + kB1 + "}"},
                 });

  commitOk(*repo, "t1", {"b1"}, 1);
  files = dataFiles(dir.path());
  CHECK(files == std::map<std::string, std::string>{
                     {"b1/meta.json", R"({"ranges":[[0]],"latest":{"trxId":"t1","rev":1}})"},
                     {"b1/revs/1.json", "t1"},
                     {"b1/trx/t1.json", R"({"insert":)" + kB1 + "}"},
                     {"b1/blocks/t1.json", kB1},
                 });

  // ':' is %3A in file names; the revision file holds the raw TrxId.
  pendOk(*repo, "tx:a1", R"({"updates":{"b1":[["text",0,0,"bye"],["k",0,0,{"x":[]}]]}})");
  CHECK(*slurp(dir.path() + "/b1/pend/tx%3Aa1.json") == R"({"updates":[["text",0,0,"bye"],["k",0,0,{"x":[]}]]})");
  commitOk(*repo, "tx:a1", {"b1"}, 5);
  const std::string v5 = R"({"header":{"id":"b1","type":"note","collectionId":"c1"},"text":"bye","n":1,"k":{"x":[]}})";
  files = dataFiles(dir.path());
  CHECK(files["b1/meta.json"] == R"({"ranges":[[0]],"latest":{"trxId":"tx:a1","rev":5}})");
  CHECK(files["b1/revs/5.json"] == "tx:a1");
  CHECK(files["b1/trx/tx%3Aa1.json"] == R"({"updates":[["text",0,0,"bye"],["k",0,0,{"x":[]}]]})");
  CHECK(files["b1/blocks/tx%3Aa1.json"] == v5);
  CHECK(files.count("b1/pend/tx%3Aa1.json") == 0);
  CHECK(files.count("b1/revs/1.json") == 1);
  CHECK(files.count("b1/trx/t1.json") == 1);
  CHECK(files.count("b1/blocks/t1.json") == 1);  // the first revision of the range is kept

  // A transform that inserts, updates and deletes: members in SPEC order.
  pendOk(*repo, "stamp:z-9",
         R"({"deletes":["b1"],"updates":{"b1":[["n",0,0,2]]},"inserts":{"b1":)" + kB1 + "}}", 6);
  CHECK(*slurp(dir.path() + "/b1/pend/stamp%3Az-9.json") ==
        R"({"insert":)" + kB1 + R"(,"updates":[["n",0,0,2]],"delete":true})");
  commitOk(*repo, "stamp:z-9", {"b1"}, 6);
  files = dataFiles(dir.path());
  CHECK(files["b1/meta.json"] == R"({"ranges":[[0]],"latest":{"trxId":"stamp:z-9","rev":6}})");
  CHECK(files["b1/revs/6.json"] == "stamp:z-9");
  CHECK(files.count("b1/blocks/stamp%3Az-9.json") == 0);  // deleted: no materialization
  CHECK(read(*repo, "b1") == "<absent>");
  CHECK(read(*repo, "b1", 5) == v5);
  CHECK(read(*repo, "b1", 4) == kB1);

  // A multi-block commit leaves no intent, and no temporary file anywhere.
  pendOk(*repo, "t7", R"({"inserts":{"b2":{"header":{"id":"b2","type":"t","collectionId":"c"}}},"deletes":["b1"]})");
  commitOk(*repo, "t7", {"b2", "b1"}, 7);
  CHECK(*slurp(dir.path() + "/b2/meta.json") == R"({"ranges":[[0]],"latest":{"trxId":"t7","rev":7}})");
  CHECK(*slurp(dir.path() + "/b2/trx/t7.json") == R"({"insert":{"header":{"id":"b2","type":"t","collectionId":"c"}}})");
  CHECK(*slurp(dir.path() + "/b1/trx/t7.json") == R"({"delete":true})");
  CHECK(hiddenFiles(dir.path()).empty());
  auto intents = repo->raw().listIntents();
  REQUIRE(intents.isOk());
  CHECK(intents->empty());
  // .optdb holds only optdb's own files, never a block.
  auto blocks = repo->raw().listBlocks();
  REQUIRE(blocks.isOk());
  CHECK(*blocks == std::vector<BlockId>{"b1", "b2"});
}

TEST_CASE("ranges in meta.json: a commit outside them adds [R], merged", "[format]") {
  auto env = std::make_shared<MemEnv>();
  auto raw = std::make_shared<FileRawStorage>(env, true, Dialect::Trx);
  StorageRepo repo(raw);
  // Blocks restored with history [3,5) only.
  for (const char* id : {"r", "q"}) REQUIRE(raw->saveMeta(id, BlockMeta{{Range{3, 5}}, std::nullopt}).isOk());
  CHECK(env->readFile("r/meta.json").value() == R"({"ranges":[[3,5]]})");
  pendOk(repo, "t5", R"({"inserts":{"r":{"header":{"id":"r","type":"t","collectionId":"c"}}}})");
  commitOk(repo, "t5", {"r"}, 5);  // touches [3,5): merged
  CHECK(env->readFile("r/meta.json").value() == R"({"ranges":[[3]],"latest":{"trxId":"t5","rev":5}})");
  pendOk(repo, "t7", R"({"inserts":{"q":{"header":{"id":"q","type":"t","collectionId":"c"}}}})");
  commitOk(repo, "t7", {"q"}, 7);  // a hole stays a hole
  CHECK(env->readFile("q/meta.json").value() == R"({"ranges":[[3,5],[7]],"latest":{"trxId":"t7","rev":7}})");
  pendOk(repo, "t8", R"({"updates":{"q":[["x",0,0,1]]}})");
  commitOk(repo, "t8", {"q"}, 8);  // already held: unchanged
  CHECK(env->readFile("q/meta.json").value() == R"({"ranges":[[3,5],[7]],"latest":{"trxId":"t8","rev":8}})");
  // A revision in the hole is not held here.
  GetContext ctx;
  ctx.rev = 6;
  auto r = repo.get({"q"}, ctx);
  REQUIRE(r.isOk());
  CHECK(r->blocks[0].second.notFound);
  CHECK(read(repo, "q", 7) == R"({"header":{"id":"q","type":"t","collectionId":"c"}})");
  CHECK(read(repo, "q", 8) == R"({"header":{"id":"q","type":"t","collectionId":"c"},"x":1})");
}

TEST_CASE("file names: %3A, raw ':' accepted, temporaries and non-json ignored", "[format]") {
  CHECK(layout::encodeTrxFileName("tx:abc") == "tx%3Aabc.json");
  CHECK(layout::encodeTrxFileName("stamp:a-b_c") == "stamp%3Aa-b_c.json");
  CHECK(layout::encodeTrxFileName("plain") == "plain.json");
  CHECK(layout::decodeTrxFileName("tx%3Aabc.json") == std::optional<TrxId>("tx:abc"));
  CHECK(layout::decodeTrxFileName("tx:abc.json") == std::optional<TrxId>("tx:abc"));
  CHECK(layout::decodeTrxFileName("plain.json") == std::optional<TrxId>("plain"));
  CHECK_FALSE(layout::decodeTrxFileName("plain.txt"));
  CHECK_FALSE(layout::decodeTrxFileName(".json"));
  CHECK_FALSE(layout::decodeTrxFileName(".plain.json.tmp.1.2"));
  CHECK_FALSE(layout::decodeTrxFileName("bad id.json"));
  CHECK_FALSE(layout::decodeTrxFileName("x%3Ay.json"));  // ':' only in the prefix

  auto env = std::make_shared<MemEnv>();
  auto raw = std::make_shared<FileRawStorage>(env, true, Dialect::Trx);
  StorageRepo repo(raw);
  pendOk(repo, "t1", R"({"inserts":{"a":{"header":{"id":"a","type":"t","collectionId":"c"}}}})");
  // Debris that is not data.
  for (const char* p : {"a/pend/.t9.json.tmp.1.1", "a/pend/notes.txt", "a/pend/t8.json.bak"}) {
    auto f = env->newWritableFile(p);
    REQUIRE(f.isOk());
    REQUIRE((*f)->append("{}").isOk());
    REQUIRE((*f)->close().isOk());
  }
  auto r = repo.get({"a"});
  REQUIRE(r.isOk());
  CHECK(r->blocks[0].second.pendings == std::vector<TrxId>{"t1"});
}

TEST_CASE("a store written in the reference layout reads and writes through openStore", "[format]") {
  const fs::path source = fs::path(OPTDB_TESTDATA) / "reference-store";
  REQUIRE(fs::is_directory(source));
  const auto pristine = dataFiles(source.string());
  REQUIRE(pristine.size() > 10);
  TempDir dir("format");
  fs::copy(source, dir.path(), fs::copy_options::recursive);
  auto repo = openStore(dir.path(), StoreOptions{false, 30.0, Dialect::Trx, {}});

  const std::string H = R"("header":{"id":"notes","type":"list","collectionId":"c1"})";
  const std::string v1 = R"({"2":"two",)" + H + R"(,"items":["a"],"title":"Notes"})";
  const std::string v4 = R"({"2":"two",)" + H + R"(,"items":["a","b","c"],"title":"My notes"})";
  const std::string v7 = R"({"2":"two",)" + H + R"(,"items":["b","c"],"title":"My notes"})";

  auto blocks = repo->raw().listBlocks();
  REQUIRE(blocks.isOk());
  CHECK(*blocks == std::vector<BlockId>{"gone", "notes", "tasks"});  // stray has no meta.json

  // actionId read as trxId; raw ':' names; the missing tip replayed from rev 4.
  auto r = repo->get({"notes", "tasks", "gone"});
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) ==
        R"({"notes":{"block":)" + v7 + R"(,"state":{"latest":{"trxId":"tx:abc","rev":7},"pendings":["tx:def"]}},)" +
            R"("tasks":{"block":{"header":{"id":"tasks","type":"list","collectionId":"c1"},"done":true},"state":{"latest":{"trxId":"t4","rev":4},"pendings":[]}},)" +
            R"("gone":{"state":{"latest":{"trxId":"t4","rev":4},"pendings":[]}}})");
  CHECK(read(*repo, "notes", 0) == "<absent>");
  for (Rev rev : {1, 2, 3}) CHECK(read(*repo, "notes", rev) == v1);
  for (Rev rev : {4, 5, 6}) CHECK(read(*repo, "notes", rev) == v4);
  for (Rev rev : {7, 8, 100}) CHECK(read(*repo, "notes", rev) == v7);
  CHECK(read(*repo, "tasks", 3) == R"({"header":{"id":"tasks","type":"list","collectionId":"c1"},"done":false})");
  CHECK(read(*repo, "gone", 3) == R"({"header":{"id":"gone","type":"list","collectionId":"c1"},"n":1})");
  CHECK(read(*repo, "gone", 4) == "<absent>");
  // The pending transform, under its raw ':' name, overlays.
  GetContext ctx;
  ctx.trxId = "tx:def";
  r = repo->get({"notes"}, ctx);
  REQUIRE(r.isOk());
  REQUIRE(r->blocks[0].second.block);
  CHECK(toJson(*r->blocks[0].second.block) == R"({"2":"two",)" + H + R"(,"items":["b","z","c"],"title":"My notes"})");
  // Committed transforms found in actions/ count for stale checks and missing lists.
  PendRequest req;
  req.trxId = "late";
  req.transforms = T(R"({"updates":{"notes":[["title",0,0,"x"]],"tasks":[["done",0,0,false]]}})");
  req.rev = 4;
  auto p = repo->pend(req);
  REQUIRE(p.isOk());
  CHECK(toJson(p->toJson()) ==
        R"({"success":false,"missing":[)"
        R"({"trxId":"t4","rev":4,"transforms":{"inserts":{},"updates":{"notes":[["items",1,0,["b","c"]],["title",0,0,"My notes"]],"tasks":[["done",0,0,true]]},"deletes":[]}},)"
        R"({"trxId":"tx:abc","rev":7,"transforms":{"inserts":{},"updates":{"notes":[["items",0,1,[]]]},"deletes":[]}}]})");
  // Reading wrote nothing.
  CHECK(dataFiles(dir.path()) == pristine);

  // Committing the upstream pending: in the block's own dialect, actions (SPEC §2), never beside it.
  commitOk(*repo, "tx:def", {"notes"}, 8);
  const std::string v8 = R"({"2":"two",)" + H + R"(,"items":["b","z","c"],"title":"My notes"})";
  auto files = dataFiles(dir.path());
  CHECK(files["notes/meta.json"] == R"({"ranges":[[0]],"latest":{"actionId":"tx:def","rev":8}})");
  CHECK(files["notes/revs/8.json"] == "tx:def");
  CHECK(files["notes/actions/tx%3Adef.json"] == R"({"updates":[["items",-1,0,["z"]]]})");
  CHECK(files.count("notes/trx/tx%3Adef.json") == 0);
  CHECK(files["notes/blocks/tx%3Adef.json"] == v8);
  CHECK(files.count("notes/pend/tx:def.json") == 0);
  CHECK(files.count("notes/pend/tx%3Adef.json") == 0);
  CHECK(files["notes/revs/1.json"] == "\"t1\"");             // old files untouched
  CHECK(files["notes/actions/tx:abc.json"] == pristine.at("notes/actions/tx:abc.json"));
  r = repo->get({"notes"});
  REQUIRE(r.isOk());
  CHECK(r->blocks[0].second.pendings.empty());
  CHECK(read(*repo, "notes") == v8);
  for (Rev rev : {1, 3}) CHECK(read(*repo, "notes", rev) == v1);
  CHECK(read(*repo, "notes", 4) == v4);
  CHECK(read(*repo, "notes", 7) == v7);
  // A TrxId committed under actions/ cannot be pended again.
  req.trxId = "t4";
  req.rev.reset();
  CHECK(repo->pend(req).status().code() == Code::InvalidInput);
  // The deleted block can be re-inserted; tasks updated at a later rev.
  pendOk(*repo, "t9",
         R"({"inserts":{"gone":{"header":{"id":"gone","type":"list","collectionId":"c1"},"n":2}},"updates":{"tasks":[["done",0,0,"again"]]}})",
         9);
  commitOk(*repo, "t9", {"gone", "tasks"}, 9);
  CHECK(read(*repo, "gone") == R"({"header":{"id":"gone","type":"list","collectionId":"c1"},"n":2})");
  CHECK(read(*repo, "tasks") == R"({"header":{"id":"tasks","type":"list","collectionId":"c1"},"done":"again"})");
  CHECK(read(*repo, "tasks", 8) == R"({"header":{"id":"tasks","type":"list","collectionId":"c1"},"done":true})");
  CHECK(*slurp(dir.path() + "/gone/meta.json") == R"({"ranges":[[0]],"latest":{"actionId":"t9","rev":9}})");
  CHECK(!fs::exists(dir.path() + "/gone/trx"));

  // The source tree was not touched.
  CHECK(dataFiles(source.string()) == pristine);
}
