// Archives and restoration (SPEC §4): the codec, the stream reader, the
// window rules of archive, restore (round trip, any order, idempotence,
// conflicts, bad input), and the restore sources of get.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "optdb/archive.hpp"
#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
namespace fs = std::filesystem;
using optdb::test_support::fileBytes;

namespace {

// Scratch space: $TMPDIR when set, else a RAM file system when there is one (fast).
struct TempDir : test_support::ScratchDir {
  TempDir() : ScratchDir("archive-test") {}
};

StoreOptions fast() {
  StoreOptions o;
  o.layout = Dialect::Trx;  // these tests read the trx dialect's files
  o.sync = false;
  o.lockTimeout = 5;
  return o;
}

Json block(const std::string& id) {
  return Json::parse(R"({"header":{"id":")" + id + R"(","type":"t","collectionId":"c"},"items":[],"n":0})");
}

Json parse(const std::string& text) { return Json::parse(text); }

void pendAndCommit(StorageRepo& repo, const std::string& trx, Rev rev, const Transforms& t) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = t;
  auto p = repo.pend(req);
  REQUIRE(p.isOk());
  REQUIRE(p->outcome == PendResult::Outcome::Pended);
  auto c = repo.commit(trx, t.blockIds(), rev);
  INFO(c.status().message());
  REQUIRE(c.isOk());
  REQUIRE(c->success);
}

// A transform inserting block(id).
Transforms inserting(const std::string& id) {
  Transforms t;
  t.inserts.emplace_back(id, block(id));
  return t;
}

// A transform updating block id with the given operations.
Transforms updating(const std::string& id, const Json& ops) {
  Transforms t;
  t.updates.emplace_back(id, ops);
  return t;
}

// A store with several blocks and a few hundred sparse revisions: b0..b4
// written by random transactions, b3 deleted at 200, a pending transaction on
// b0 and b1, and b5 holding only a pending insert.
constexpr Rev kTopRev = 300;
void buildHistory(const std::string& dir) {
  auto repo = openStore(dir, fast());
  std::mt19937 rng(42);
  std::set<std::string> exists;
  for (Rev rev = 1; rev <= kTopRev; ++rev) {
    Transforms t;
    if (rev == 200) {
      t.deletes.push_back("b3");
      exists.erase("b3");
    } else {
      for (int b = 0; b < 5; ++b) {
        std::string id = "b" + std::to_string(b);
        if (b == 3 && rev > 200) continue;
        if (rng() % 3 != 0) continue;  // sparse: each block gets about a third of the revisions
        if (!exists.count(id)) {
          Json blk = block(id);
          blk["n"] = rev;
          t.inserts.emplace_back(id, blk);
          exists.insert(id);
        } else {
          Json ops = Json::array();
          ops.push_back(Json::array({"items", 0, 0, Json::array({rev})}));
          ops.push_back(Json::array({"n", 0, 0, rev}));
          if (rev % 5 == 0) ops.push_back(Json::array({"items", -1, 1, Json::array()}));
          t.updates.emplace_back(id, ops);
        }
      }
    }
    if (t.blockIds().empty()) continue;
    pendAndCommit(*repo, "tx:r" + std::to_string(rev), rev, t);
  }
  PendRequest p;
  p.trxId = "pending-1";
  p.transforms.updates.emplace_back("b0", parse(R"([["n",0,0,-1]])"));
  p.transforms.updates.emplace_back("b1", parse(R"([["items",0,0,["p"]]])"));
  REQUIRE(repo->pend(p).isOk());
  PendRequest q;
  q.trxId = "pending-2";
  q.transforms.inserts.emplace_back("b5", block("b5"));
  REQUIRE(repo->pend(q).isOk());
}

const std::vector<std::string> kBlocks = {"b0", "b1", "b2", "b3", "b4", "b5"};

// Every block at every revision, as get prints it.
std::string readEverything(const std::string& dir) {
  auto repo = openStore(dir, fast());
  std::string out;
  for (const auto& id : kBlocks) {
    for (Rev rev = 0; rev <= kTopRev + 1; ++rev) {
      GetContext ctx;
      ctx.rev = rev;
      auto r = repo->get({id}, ctx);
      REQUIRE(r.isOk());
      out += toJson(r->toJson());
      out += r->anyMissing() ? " missing\n" : "\n";
    }
  }
  return out;
}

// Every file of a tree with its content.
std::map<std::string, std::string> tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string rel = fs::relative(e.path(), dir).string();
    if (e.is_directory()) {
      out[rel + "/"] = "";
    } else {
      out[rel] = fileBytes(e.path());
    }
  }
  return out;
}

std::string metaOf(const std::string& dir, const std::string& id) { return fileBytes(dir + "/" + id + "/meta.json"); }

// The archives of a store as NDJSON lines.
std::vector<std::string> archiveLines(const std::string& dir, ArchiveRequest req) {
  auto repo = openStore(dir, fast());
  std::vector<std::string> lines;
  Status s = writeArchives(repo->raw(), req, [&](const BlockArchive& a) -> Status {
    std::string line;
    appendArchiveLine(line, a);
    lines.push_back(line);
    return Status::ok();
  });
  INFO(s.message());
  REQUIRE(s.isOk());
  return lines;
}

std::vector<BlockArchive> archivesOf(const std::string& dir, ArchiveRequest req) {
  std::string text;
  for (const auto& l : archiveLines(dir, req)) text += l;
  auto r = readArchives(text, "archives");
  INFO(r.status().message());
  REQUIRE(r.isOk());
  return *r;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l;
  return s;
}

Result<RestoreSummary> restoreText(const std::string& dir, const std::string& text) {
  auto repo = openStore(dir, fast());
  return restoreArchives(repo->raw(), {{"input", text}}, 5);
}

std::string rangesOf(const BlockArchive& a) { return toJson(encodeRanges({a.range})); }

// A built history, shared by the tests that only read it.
const std::string& history() {
  static TempDir dir;
  static bool built = false;
  if (!built) {
    buildHistory(dir / "a");
    built = true;
  }
  static std::string path = dir / "a";
  return path;
}

// The archive text of one block of the shared history.
std::string historyOf(const BlockId& id) {
  ArchiveRequest req;
  req.blockIds = {id};
  return join(archiveLines(history(), req));
}

const std::string& historyReads() {
  static std::string reads = readEverything(history());
  return reads;
}

const char* kGood =
    R"({"blockId":"b1","revisions":{"3":{"trx":{"trxId":"t3","rev":3,"transform":{"insert":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}}},"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}},"5":{"trx":{"trxId":"t5","rev":5,"transform":{"updates":[["v",0,0,2]]}}}},"range":[3],"pending":{"p1":{"trxId":"p1","transforms":{"updates":{"b1":[["v",0,0,9]],"b9":[["v",0,0,9]]}}}}})";

}  // namespace

// ---- codec ----

TEST_CASE("archive codec: decode then encode gives the same text") {
  auto a = decodeArchive(parse(kGood), "a");
  INFO(a.status().message());
  REQUIRE(a.isOk());
  CHECK(a->blockId == "b1");
  REQUIRE(a->revisions.size() == 2);
  CHECK(a->revisions[0].block.has_value());
  CHECK_FALSE(a->revisions[1].block.has_value());
  REQUIRE(a->pending.size() == 1);
  // Only this block's part of the pending transaction is kept.
  CHECK(toJson(encodeArchive(*a)) ==
        R"({"blockId":"b1","revisions":{"3":{"trx":{"trxId":"t3","rev":3,"transform":{"insert":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}}},"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}},"5":{"trx":{"trxId":"t5","rev":5,"transform":{"updates":[["v",0,0,2]]}}}},"range":[3],"pending":{"p1":{"trxId":"p1","transforms":{"inserts":{},"updates":{"b1":[["v",0,0,9]]},"deletes":[]}}}})");
  auto again = decodeArchive(encodeArchive(*a), "a");
  REQUIRE(again.isOk());
  CHECK(toJson(encodeArchive(*again)) == toJson(encodeArchive(*a)));
}

TEST_CASE("archive codec: accepts newer upstream spellings") {
  auto a = decodeArchive(
      parse(R"({"blockId":"b1","revisions":{"2":{"action":{"actionId":"t2","rev":2,"transform":{"delete":true}}}},"range":[1,null],"pending":{"p":{"trxId":"p","transforms":{"deletes":{} ,"inserts":{"b1":{"header":{"id":"b1","type":"t","collectionId":"c"}}}}}}})"),
      "a");
  INFO(a.status().message());
  REQUIRE(a.isOk());
  CHECK(a->revisions[0].trx == TrxRev{"t2", 2});
  CHECK(a->revisions[0].transform.del);
  CHECK_FALSE(a->range.end.has_value());
  CHECK(toJson(encodeRanges({a->range})) == "[[1]]");
  CHECK(a->pending.size() == 1);
}

TEST_CASE("archive codec: rejects what breaks the archive rules, naming the place") {
  auto bad = [](const std::string& text) {
    auto a = decodeArchive(parse(text), "line 1");
    REQUIRE_FALSE(a.isOk());
    CHECK(a.status().code() == Code::InvalidInput);
    return a.status().message();
  };
  const std::string hdr = R"({"header":{"id":"b1","type":"t","collectionId":"c"}})";
  // header.id differs from blockId (in a block, and in an insert)
  CHECK_THAT(bad(R"({"blockId":"b2","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{}},"block":)" + hdr + R"(}},"range":[0]})"),
             Catch::Contains("header.id") && Catch::Contains("revisions") && Catch::Contains("block"));
  CHECK_THAT(bad(R"({"blockId":"b2","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{"insert":)" + hdr + R"(}}}},"range":[0]})"),
             Catch::Contains("header.id"));
  // a revision key outside the range
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"9":{"trx":{"trxId":"t","rev":9,"transform":{}}}},"range":[0,9]})"),
             Catch::Contains("outside the archive's range"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"t","rev":2,"transform":{}}}},"range":[3]})"),
             Catch::Contains("outside"));
  // trx.rev differs from its key
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"t","rev":3,"transform":{}}}},"range":[0]})"),
             Catch::Contains("differs from its revision key"));
  // wrong types
  CHECK_THAT(bad(R"({"blockId":7,"revisions":{},"range":[0]})"), Catch::Contains("blockId"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":[],"range":[0]})"), Catch::Contains("revisions"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{},"range":"0"})"), Catch::Contains("range"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{},"range":[5,2]})"), Catch::Contains("range"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"t","rev":"2","transform":{}}}},"range":[0]})"),
             Catch::Contains("rev"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"t","rev":2.0,"transform":{}}}},"range":[0]})"),
             Catch::Contains("rev"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"t","rev":2,"transform":{"updates":[["a","x",0,1]]}}}},"range":[0]})"),
             Catch::Contains("index must be an integer"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"t","rev":2}}},"range":[0]})"), Catch::Contains("transform"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"2":{"trx":{"trxId":"bad id!","rev":2,"transform":{}}}},"range":[0]})"),
             Catch::Contains("transaction id"));
  CHECK_THAT(bad(R"({"blockId":"../x","revisions":{},"range":[0]})"), Catch::Contains("block id"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"02":{"trx":{"trxId":"t","rev":2,"transform":{}}}},"range":[0]})"),
             Catch::Contains("decimal"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"0":{"trx":{"trxId":"t","rev":0,"transform":{}}}},"range":[0]})"),
             Catch::Contains("at least 1"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{}}},"2":{"trx":{"trxId":"t","rev":2,"transform":{}}}},"range":[0]})"),
             Catch::Contains("two revisions"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{},"range":[0,5],"pending":{"p":{"trxId":"p","transforms":{"deletes":["b1"]}}}})"),
             Catch::Contains("open-ended"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{},"range":[0],"pending":{"p":{"trxId":"q","transforms":{}}}})"),
             Catch::Contains("differs from its key"));
  CHECK_THAT(bad(R"({"blockId":"b1","revisions":{},"range":[0],"extra":1})"), Catch::Contains("unknown member"));
  CHECK_THAT(bad(R"({"revisions":{},"range":[0]})"), Catch::Contains("blockId is missing"));
  CHECK_THAT(bad(R"([1])"), Catch::Contains("archive object"));
}

// ---- the stream reader ----

TEST_CASE("archive reader: NDJSON, a single object, an array, pretty printed") {
  std::string one = kGood;
  std::string pretty = toJson(parse(kGood), true);
  std::vector<std::pair<std::string, std::size_t>> cases = {
      {one + "\n" + one + "\n", 2},                                   // NDJSON
      {one, 1},                                                        // one object, no newline
      {"\n  " + pretty + "\n", 1},                                     // one pretty-printed object
      {"[" + one + ",\n" + one + "]\n", 2},                            // an array
      {pretty + "\n" + "[" + one + "]" + "\r\n" + one + "\n\n", 3},     // any sequence of these
  };
  for (const auto& [text, count] : cases) {
    auto r = readArchives(text, "in");
    INFO(text.substr(0, 60) << " … " << r.status().message());
    REQUIRE(r.isOk());
    CHECK(r->size() == count);
    for (const auto& a : *r) CHECK(a.blockId == "b1");
  }
  auto empty = readArchives(" \n\n", "in");
  REQUIRE(empty.isOk());
  CHECK(empty->empty());
}

TEST_CASE("archive reader: a truncated line, bad JSON and garbage are errors with their line") {
  std::string one = kGood;
  auto err = [](const std::string& text) {
    auto r = readArchives(text, "in");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == Code::InvalidInput);
    return r.status().message();
  };
  CHECK_THAT(err(one + "\n" + one.substr(0, one.size() / 2) + "\n"), Catch::StartsWith("in: line 2:") && Catch::Contains("truncated"));
  CHECK_THAT(err(one + "\n" + one.substr(0, 40) + "\n" + one + "\n"), Catch::StartsWith("in: line 2:"));
  CHECK_THAT(err(one + "\n{\"blockId\":\"b1\",}\n"), Catch::StartsWith("in: line 2:") && Catch::Contains("invalid JSON"));
  CHECK_THAT(err("hello\n"), Catch::StartsWith("in: line 1:"));
  CHECK_THAT(err(one + "}\n"), Catch::StartsWith("in: line 1:"));
  CHECK_THAT(err("[" + one + ",{}]"), Catch::StartsWith("in: line 1: [1]") && Catch::Contains("blockId is missing"));
  // A transform that cannot apply from the archive's own block is invalid too.
  CHECK_THAT(err(R"({"blockId":"b1","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{"updates":[["v",0,0,[1]]]}},"block":{"header":{"id":"b1","type":"t","collectionId":"c"}}},"2":{"trx":{"trxId":"u","rev":2,"transform":{"updates":[["v",0,0,[1]]]}}}},"range":[1]})"),
             Catch::Contains("cannot apply"));
}

// ---- archive: window rules ----

TEST_CASE("archive: default window, chunks, --from/--to and --rev") {
  TempDir d;
  auto repo = openStore(d / "s", fast());
  pendAndCommit(*repo, "t1", 1, inserting("b"));
  for (Rev r : {4, 7, 9, 12, 20})
    pendAndCommit(*repo, "t" + std::to_string(r), r, updating("b", Json::array({Json::array({"items", 0, 0, Json::array({r})})})));
  PendRequest pr;
  pr.trxId = "tp";
  pr.transforms = inserting("empty");
  REQUIRE(repo->pend(pr).isOk());
  REQUIRE(repo->cancel("tp", {"empty"}).isOk());  // meta.json [[0]], nothing else

  auto revsOf = [](const BlockArchive& a) {
    std::vector<Rev> v;
    for (const auto& r : a.revisions) v.push_back(r.trx.rev);
    return v;
  };
  ArchiveRequest req;
  req.blockIds = {"b"};
  auto all = archivesOf(d / "s", req);
  REQUIRE(all.size() == 1);
  CHECK(rangesOf(all[0]) == "[[0]]");
  CHECK(revsOf(all[0]) == std::vector<Rev>{1, 4, 7, 9, 12, 20});
  CHECK(all[0].revisions[0].block.has_value());
  CHECK_FALSE(all[0].revisions[1].block.has_value());

  SECTION("chunks run from their first revision to the next chunk's first") {
    req.chunk = 2;
    auto c = archivesOf(d / "s", req);
    REQUIRE(c.size() == 3);
    CHECK(rangesOf(c[0]) == "[[0,7]]");
    CHECK(rangesOf(c[1]) == "[[7,12]]");
    CHECK(rangesOf(c[2]) == "[[12]]");
    CHECK(revsOf(c[1]) == std::vector<Rev>{7, 9});
    for (const auto& a : c) REQUIRE(a.revisions.front().block.has_value());
    CHECK(toJson(*c[1].revisions[0].block) == R"({"header":{"id":"b","type":"t","collectionId":"c"},"items":[7,4],"n":0})");
  }
  SECTION("--from starts at the greatest committed revision at or below it; --to is exclusive") {
    req.from = 8;
    req.to = 12;
    auto w = archivesOf(d / "s", req);
    REQUIRE(w.size() == 1);
    CHECK(rangesOf(w[0]) == "[[7,12]]");
    CHECK(revsOf(w[0]) == std::vector<Rev>{7, 9});
  }
  SECTION("--rev N is [greatest committed <= N, N+1)") {
    req.rev = 10;
    auto w = archivesOf(d / "s", req);
    REQUIRE(w.size() == 1);
    CHECK(rangesOf(w[0]) == "[[9,11]]");
    CHECK(revsOf(w[0]) == std::vector<Rev>{9});
    CHECK(w[0].revisions[0].block.has_value());
  }
  SECTION("a block with nothing in the window still yields one archive") {
    req.from = 21;
    auto w = archivesOf(d / "s", req);
    REQUIRE(w.size() == 1);
    CHECK(rangesOf(w[0]) == "[[20]]");  // starts at the state at 21
    req.blockIds = {"empty"};
    w = archivesOf(d / "s", req);
    REQUIRE(w.size() == 1);
    CHECK(rangesOf(w[0]) == "[[21]]");
    CHECK(w[0].revisions.empty());
  }
  SECTION("a hole in the held ranges splits the output; nothing outside is claimed") {
    // Restore b's history into a store that then holds [0,8) and [12,…).
    TempDir h;
    ArchiveRequest lo;
    lo.blockIds = {"b"};
    lo.to = 8;
    ArchiveRequest hi;
    hi.blockIds = {"b"};
    hi.from = 12;
    REQUIRE(restoreText(h / "s", join(archiveLines(d / "s", hi)) + join(archiveLines(d / "s", lo))).isOk());
    CHECK(metaOf(h / "s", "b") == R"({"ranges":[[0,8],[12]],"latest":{"trxId":"t20","rev":20}})");
    ArchiveRequest whole;
    whole.blockIds = {"b"};
    auto w = archivesOf(h / "s", whole);
    REQUIRE(w.size() == 2);
    CHECK(rangesOf(w[0]) == "[[0,8]]");
    CHECK(rangesOf(w[1]) == "[[12]]");
    CHECK(revsOf(w[1]) == std::vector<Rev>{12, 20});
    whole.from = 5;
    whole.to = 15;
    w = archivesOf(h / "s", whole);
    REQUIRE(w.size() == 2);
    CHECK(rangesOf(w[0]) == "[[4,8]]");
    CHECK(rangesOf(w[1]) == "[[12,15]]");
    // --rev inside the hole is not held: not found, nothing written.
    ArchiveRequest r;
    r.blockIds = {"b"};
    r.rev = 9;
    int calls = 0;
    auto s = writeArchives(openStore(h / "s", fast())->raw(), r, [&](const BlockArchive&) {
      ++calls;
      return Status::ok();
    });
    CHECK(s.code() == Code::NotFound);
    CHECK(calls == 0);
  }
  SECTION("a missing block is not found before anything is written") {
    req.blockIds = {"b", "nope"};
    int calls = 0;
    auto s = writeArchives(repo->raw(), req, [&](const BlockArchive&) {
      ++calls;
      return Status::ok();
    });
    CHECK(s.code() == Code::NotFound);
    CHECK(calls == 0);
  }
}

TEST_CASE("archive: chunks stream one at a time, each with at most N revisions") {
  ArchiveRequest req;
  req.all = true;
  req.chunk = 10;
  std::size_t archives = 0, maxRevs = 0;
  std::string lastBlock;
  auto repo = openStore(history(), fast());
  Status s = writeArchives(repo->raw(), req, [&](const BlockArchive& a) {
    ++archives;
    maxRevs = std::max(maxRevs, a.revisions.size());
    CHECK(a.blockId >= lastBlock);  // --all: sorted id order
    lastBlock = a.blockId;
    return Status::ok();
  });
  REQUIRE(s.isOk());
  CHECK(maxRevs == 10);
  CHECK(archives > 20);
}

// ---- restore ----

TEST_CASE("restore: a whole store round-trips, every block at every revision") {
  TempDir d;
  ArchiveRequest req;
  req.all = true;
  auto text = join(archiveLines(history(), req));
  auto r = restoreText(d / "b", text);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(toJson(r->toJson()) == R"({"restored":["b0","b1","b2","b3","b4","b5"],"rejected":[]})");
  CHECK(readEverything(d / "b") == historyReads());
  for (const auto& id : kBlocks) CHECK(metaOf(d / "b", id) == metaOf(history(), id));
  // The deleted block reads as absent at its latest, present before.
  CHECK(historyReads().find(R"({"b3":{"state":{"latest":{"trxId":"tx:r200","rev":200})") != std::string::npos);
  // Pendings came along, only their own block's part.
  auto repo = openStore(d / "b", fast());
  auto p = repo->raw().getPending("b1", "pending-1");
  REQUIRE(p.isOk());
  REQUIRE(p->has_value());
  CHECK(toJson((*p)->updates.value()) == R"([["items",0,0,["p"]]])");

  SECTION("restoring twice changes nothing") {
    auto before = tree(d / "b");
    auto again = restoreText(d / "b", text);
    REQUIRE(again.isOk());
    CHECK(again->rejected.empty());
    CHECK(tree(d / "b") == before);
  }
  SECTION("reads replay fewer than a checkpoint interval") {
    auto bs = repo->blockStorage("b0");
    for (Rev rev = 1; rev <= kTopRev; rev += 7) {
      REQUIRE(bs.getBlock(rev).isOk());
      CHECK(bs.lastReplayCount() < kCheckpointInterval);
    }
  }
}

TEST_CASE("restore: chunked and partial archives in any order merge into the same ranges") {
  ArchiveRequest chunked;
  chunked.all = true;
  chunked.chunk = 7;
  auto lines = archiveLines(history(), chunked);
  ArchiveRequest lo, hi;
  lo.all = hi.all = true;
  lo.to = 150;
  hi.from = 150;
  auto halves = archiveLines(history(), hi);
  for (const auto& l : archiveLines(history(), lo)) halves.push_back(l);
  for (auto* set : {&lines, &halves}) {
    for (unsigned seed : {set == &lines ? 1u : 2u}) {
      TempDir d;
      std::shuffle(set->begin(), set->end(), std::mt19937(seed));
      auto r = restoreText(d / "c", join(*set));
      INFO(r.status().message());
      REQUIRE(r.isOk());
      CHECK(r->rejected.empty());
      for (const auto& id : kBlocks) CHECK(metaOf(d / "c", id) == metaOf(history(), id));
      CHECK(readEverything(d / "c") == historyReads());
      // Each piece restored one input at a time, again: nothing changes.
      auto before = tree(d / "c");
      for (const auto& l : *set) REQUIRE(restoreText(d / "c", l).isOk());
      CHECK(tree(d / "c") == before);
    }
  }
}

TEST_CASE("restore: a conflicting archive is skipped whole, the others are written") {
  TempDir d;
  auto good = historyOf("b1");
  REQUIRE(restoreText(d / "s", good).isOk());
  auto before = tree(d / "s");
  // The same history of b1, but one revision under another transaction.
  auto a = readArchives(good, "good");
  REQUIRE(a.isOk());
  auto& bad = (*a)[0];
  bad.revisions[3].trx.trxId = "intruder";
  std::string conflicting;
  appendArchiveLine(conflicting, bad);
  std::string other = R"({"blockId":"fresh","revisions":{},"range":[0]})";
  auto r = restoreText(d / "s", conflicting + other + "\n");
  REQUIRE(r.isOk());
  CHECK(r->restored == std::vector<BlockId>{"fresh"});
  REQUIRE(r->rejected.size() == 1);
  CHECK(r->rejected[0].first == "b1");
  CHECK_THAT(r->rejected[0].second, Catch::Contains("intruder"));
  auto after = tree(d / "s");
  for (const auto& [path, content] : before)
    if (path.rfind("b1", 0) == 0) CHECK(after[path] == content);
  CHECK_FALSE(fs::exists(d / "s/b1/trx/intruder.json"));
  CHECK(fs::exists(d / "s/fresh/meta.json"));
}

TEST_CASE("restore: an archive lacking a held revision is no conflict, committed pendings go") {
  TempDir d;
  auto repo = openStore(d / "s", fast());
  pendAndCommit(*repo, "t1", 1, inserting("b"));
  PendRequest p;
  p.trxId = "t2";
  p.transforms.updates.emplace_back("b", parse(R"([["n",0,0,2]])"));
  REQUIRE(repo->pend(p).isOk());
  // Elsewhere t2 was committed at 2 and t3 at 3; this archive lacks revision 1.
  std::string text =
      R"({"blockId":"b","revisions":{"2":{"trx":{"trxId":"t2","rev":2,"transform":{"updates":[["n",0,0,2]]}},"block":{"header":{"id":"b","type":"t","collectionId":"c"},"items":[],"n":2}},"3":{"trx":{"trxId":"t3","rev":3,"transform":{"updates":[["n",0,0,3]]}}}},"range":[2],"pending":{"t4":{"trxId":"t4","transforms":{"updates":{"b":[["n",0,0,4]]}}}}})";
  auto r = restoreText(d / "s", text);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(r->rejected.empty());
  CHECK(metaOf(d / "s", "b") == R"({"ranges":[[0]],"latest":{"trxId":"t3","rev":3}})");
  auto got = repo->get({"b"});
  REQUIRE(got.isOk());
  CHECK(toJson(got->toJson()) ==
        R"({"b":{"block":{"header":{"id":"b","type":"t","collectionId":"c"},"items":[],"n":3},"state":{"latest":{"trxId":"t3","rev":3},"pendings":["t4"]}}})");
  CHECK_FALSE(fs::exists(d / "s/b/pend/t2.json"));
}

TEST_CASE("restore: revisions below the tip are found by reads, commits go on after a restore") {
  TempDir d;
  auto repo = openStore(d / "s", fast());
  pendAndCommit(*repo, "t1", 1, inserting("b"));
  pendAndCommit(*repo, "t10", 10, updating("b", parse(R"([["n",0,0,10]])")));
  GetContext at7;
  at7.rev = 7;
  REQUIRE(repo->get({"b"}, at7).isOk());  // reads use (and keep) the revision index
  // Revision 5 arrives later; ranges ([[0]]) and latest (10) stay as they are.
  auto r = restoreText(d / "s",
                       R"({"blockId":"b","revisions":{"5":{"trx":{"trxId":"t5","rev":5,"transform":{"updates":[["items",0,0,[5]]]}}}},"range":[2,10]})");
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(metaOf(d / "s", "b") == R"({"ranges":[[0]],"latest":{"trxId":"t10","rev":10}})");
  auto got = openStore(d / "s", fast())->get({"b"}, at7);
  REQUIRE(got.isOk());
  CHECK(toJson(*got->blocks[0].second.block) == R"({"header":{"id":"b","type":"t","collectionId":"c"},"items":[5],"n":0})");

  // A whole history restored, then committed on: the index and the tip move on as usual.
  TempDir e;
  REQUIRE(restoreText(e / "s", historyOf("b1")).isOk());
  auto restored = openStore(e / "s", fast());
  pendAndCommit(*restored, "tx:next", kTopRev + 5, updating("b1", parse(R"([["n",0,0,"after"]])")));
  for (Rev rev : {Rev{1}, Rev{100}, kTopRev, kTopRev + 5}) {
    GetContext ctx;
    ctx.rev = rev;
    auto mine = restored->get({"b1"}, ctx);
    REQUIRE(mine.isOk());
    if (rev == kTopRev + 5) {
      CHECK(mine->blocks[0].second.block->at("n") == "after");
    } else {
      auto theirs = openStore(history(), fast())->get({"b1"}, ctx);
      CHECK(toJson(mine->blocks[0].second.block.value_or(Json())) == toJson(theirs->blocks[0].second.block.value_or(Json())));
    }
  }
}

TEST_CASE("restore: bad input is refused whole, nothing written") {
  TempDir d;
  auto good = historyOf("b2");
  REQUIRE(restoreText(d / "s", good).isOk());
  auto before = tree(d / "s");
  std::string fresh = R"({"blockId":"fresh","revisions":{},"range":[0]})"
                      "\n";
  const std::string hdr1 = R"({"header":{"id":"b1","type":"t","collectionId":"c"}})";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated line", fresh + good.substr(0, good.size() / 2)},
      {"bad JSON", fresh + "{\"blockId\":\"x\",\"revisions\":{},\"range\":[0],}\n"},
      {"wrong types", fresh + R"({"blockId":"x","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{"delete":"yes"}}}},"range":[0]})"},
      {"header.id differs", fresh + R"({"blockId":"x","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{}},"block":)" + hdr1 + "}},\"range\":[0]}"},
      {"key outside range", fresh + R"({"blockId":"x","revisions":{"1":{"trx":{"trxId":"t","rev":1,"transform":{}}}},"range":[2]})"},
      {"not an archive", fresh + "42\n"},
  };
  for (const auto& [what, text] : cases) {
    INFO(what);
    auto r = restoreText(d / "s", text);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == Code::InvalidInput);
    CHECK(tree(d / "s") == before);
    TempDir empty;
    REQUIRE_FALSE(restoreText(empty / "none", text).isOk());
    CHECK_FALSE(fs::exists(empty / "none"));
  }
}

// ---- nesting limits (SPEC §7: on the data, never on the envelope) ----

namespace {

// `levels` arrays nested around 0, built without recursion (any depth).
Json nestedArrays(int levels) {
  Json v = 0;
  for (int i = 0; i < levels; ++i) {
    Json a = Json::array();
    a.push_back(std::move(v));
    v = std::move(a);
  }
  return v;
}

// A block `levels` deep, itself the first level.
Json deepBlock(const std::string& id, int levels) {
  Json b = block(id);
  b["deep"] = nestedArrays(levels - 1);
  return b;
}

// [["o",0,0,{"x":…}]]: sets member "o" to an object `levels` deep.
Json settingDeep(int levels) {
  Json o = Json::object();
  o["x"] = nestedArrays(levels - 1);
  return Json::array({Json::array({"o", 0, 0, std::move(o)})});
}

}  // namespace

TEST_CASE("defect 9: a block as deep as the nesting limit archives and restores, deeper is refused, never a crash") {
  TempDir h;
  const std::string pendingTrx = "deep-pending";
  {
    auto repo = openStore(h / "s", fast());
    // The block of issue 11 (4,996 levels) and one at the limit (5,000), as inserts...
    Transforms t;
    t.inserts.emplace_back("d1", deepBlock("d1", 4996));
    t.inserts.emplace_back("d2", deepBlock("d2", 5000));
    pendAndCommit(*repo, "tx:deep1", 1, t);
    // ... one made 5,000 deep by an update, and a pending splice that makes another so.
    pendAndCommit(*repo, "tx:deep2", 2, updating("d1", settingDeep(4999)));
    PendRequest p;
    p.trxId = pendingTrx;
    p.transforms = updating("d2", Json::array({Json::array({"deep", 0, 0, nestedArrays(4999)})}));
    auto r = repo->pend(p);
    INFO(r.status().message());
    REQUIRE(r.isOk());
  }
  ArchiveRequest all;
  all.all = true;
  const auto lines = archiveLines(h / "s", all);
  std::string asArray = "[";
  for (const auto& l : lines) asArray += (asArray.size() > 1 ? "," : "") + l.substr(0, l.size() - 1);
  asArray += "]";
  const std::vector<std::pair<std::string, std::string>> inputs = {{"r", join(lines)}, {"r2", asArray}};
  for (const auto& [name, text] : inputs) {
    INFO(name);
    auto restored = restoreText(h / name, text);
    INFO(restored.status().message());
    REQUIRE(restored.isOk());
    // It reads as the original, at every revision and with the pending applied.
    auto mine = openStore(h / name, fast()), theirs = openStore(h / "s", fast());
    for (const std::string id : {"d1", "d2"}) {
      for (std::optional<Rev> rev : {std::optional<Rev>(1), std::optional<Rev>(2)}) {
        GetContext ctx;
        ctx.rev = rev;
        auto a = mine->get({id}, ctx), b = theirs->get({id}, ctx);
        REQUIRE(a.isOk());
        REQUIRE(b.isOk());
        CHECK(toJson(a->toJson()) == toJson(b->toJson()));
      }
    }
    GetContext withPending;
    withPending.trxId = pendingTrx;
    auto a = mine->get({"d2"}, withPending);
    REQUIRE(a.isOk());
    REQUIRE(a->blocks[0].second.block);
    CHECK(toJson(a->toJson()) == toJson(theirs->get({"d2"}, withPending)->toJson()));
  }

  // One level deeper than the limit, by an insert or an update (assignment or
  // splice): refused before anything is written.
  {
    auto repo = openStore(h / "s", fast());
    const auto before = tree(h / "s");
    auto pendCode = [&](Transforms t) {
      PendRequest q;
      q.trxId = "too-deep";
      q.transforms = std::move(t);
      auto r = repo->pend(q);
      INFO(r.status().message());
      return r.status().code();
    };
    Transforms ins;
    ins.inserts.emplace_back("d3", deepBlock("d3", 5001));
    CHECK(pendCode(ins) == Code::InvalidInput);
    CHECK(pendCode(updating("d1", settingDeep(5000))) == Code::InvalidInput);
    CHECK(pendCode(updating("d2", Json::array({Json::array({"deep", 0, 0, nestedArrays(5000)})}))) ==
          Code::InvalidInput);
    CHECK(tree(h / "s") == before);
  }
  // In an archive: the envelope reads, the block inside is refused as data;
  // and far deeper input is refused while reading, not a stack overflow.
  const std::string tooDeep = toJson(deepBlock("d4", 5001));
  const std::string archive = R"({"blockId":"d4","revisions":{"1":{"trx":{"trxId":"t1","rev":1,"transform":{"insert":)" +
                              tooDeep + "}},\"block\":" + tooDeep + "}},\"range\":[1]}";
  const std::string wayTooDeep =
      R"({"blockId":"d4","revisions":{},"range":[1],"x":)" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  for (const auto& text : {archive, "[" + archive + "]", wayTooDeep}) {
    auto r = restoreText(h / "r3", text);
    CHECK(r.status().code() == Code::InvalidInput);
    CHECK_FALSE(fs::exists(h / "r3/d4"));
  }
}

// ---- restore sources ----

TEST_CASE("restore sources: file, store and command, failing and lying ones are skipped") {
  TempDir d;
  ArchiveRequest req;
  req.all = true;
  const std::string backup = d / "backup.ndjson";
  {
    std::ofstream(backup) << join(archiveLines(history(), req));
  }
  const std::string b1at5 = d / "b1at5.ndjson";
  {
    ArchiveRequest r5;
    r5.blockIds = {"b1"};
    r5.rev = 5;
    std::ofstream(b1at5) << join(archiveLines(history(), r5));
  }
  auto expectAt = [&](const std::string& store, const std::string& id, Rev rev) {
    GetContext ctx;
    ctx.rev = rev;
    auto mine = openStore(store, fast())->get({id}, ctx);
    auto theirs = openStore(history(), fast())->get({id}, ctx);
    REQUIRE(mine.isOk());
    REQUIRE(theirs.isOk());
    CHECK(toJson(mine->blocks[0].second.block.value_or(Json())) == toJson(theirs->blocks[0].second.block.value_or(Json())));
  };
  std::vector<std::string> warnings;
  WarningSink warn = [&](const std::string& m) { warnings.push_back(m); };

  auto parsed = parseRestoreSources({backup, history(), "cmd:cat " + backup, d / "missing.ndjson"});
  REQUIRE(parsed.isOk());
  CHECK((*parsed)[0].kind == RestoreSource::Kind::File);
  CHECK((*parsed)[1].kind == RestoreSource::Kind::Store);
  CHECK((*parsed)[2].kind == RestoreSource::Kind::Command);
  CHECK((*parsed)[3].kind == RestoreSource::Kind::File);
  CHECK_FALSE(parseRestoreSources({"cmd:"}).isOk());
  CHECK_FALSE(parseRestoreSources({""}).isOk());

  for (int kind = 0; kind < 3; ++kind) {
    DYNAMIC_SECTION("source kind " << kind) {
      auto sources = *parseRestoreSources({
          "cmd:exit 3",                                       // fails
          "cmd:echo garbage",                                 // prints garbage
          "cmd:cat " + b1at5,                                 // lies: does not cover the target
          "cmd:printf '%s\\n' '{\"blockId\":\"zz\",\"revisions\":{},\"range\":[0]}'",  // wrong block
          d / "missing.ndjson",                               // cannot be read
          kind == 0 ? backup : kind == 1 ? history() : "cmd:grep -F \"\\\"blockId\\\":\\\"$1\\\"\" " + backup,
      });
      auto target = d / ("t" + std::to_string(kind));
      auto raw = openStore(target, fast());
      Status s = restoreFromSources(sources, raw->raw(), "b1", 120, 5, warn);
      INFO(s.message());
      std::string all;
      for (const auto& w : warnings) all += w + "\n";
      INFO(all);
      REQUIRE(s.isOk());
      CHECK(warnings.size() == 5);
      CHECK_THAT(warnings[0], Catch::Contains("cmd:exit 3") && Catch::Contains("status 3"));
      CHECK_THAT(warnings[1], Catch::Contains("garbage"));
      CHECK_THAT(warnings[2], Catch::Contains("do not cover"));
      CHECK_THAT(warnings[3], Catch::Contains("block zz"));
      CHECK_FALSE(fs::exists(target + "/zz"));
      expectAt(target, "b1", 120);
      // A store source answers as archive --rev would: only what revision 120 needs.
      if (kind == 1) CHECK_THAT(metaOf(target, "b1"), Catch::StartsWith(R"({"ranges":[[)") && !Catch::Contains("[[0]]"));
      else CHECK_THAT(metaOf(target, "b1"), Catch::StartsWith(R"({"ranges":[[0]])"));
    }
  }
  SECTION("no source supplies it: not found, nothing saved") {
    auto sources = *parseRestoreSources({"cmd:exit 1", "cmd:cat " + b1at5});
    auto target = d / "none";
    Status s = restoreFromSources(sources, openStore(target, fast())->raw(), "b1", 120, 5, warn);
    CHECK(s.code() == Code::NotFound);
    CHECK(warnings.size() == 2);
    CHECK_FALSE(fs::exists(target + "/b1"));
  }
  SECTION("the command gets the block id and the revision, empty when none") {
    auto sources = *parseRestoreSources({"cmd:echo \"[$1][$2]\" > " + d / "args" + "; exit 1"});
    (void)restoreFromSources(sources, openStore(d / "x", fast())->raw(), "b1", std::nullopt, 5, warn);
    std::ifstream in(d / "args");
    std::string line;
    std::getline(in, line);
    CHECK(line == "[b1][]");
  }
}

TEST_CASE("restore sources: get restores lazily into a store that does not exist yet") {
  TempDir d;
  const std::string target = d / "new/store";
  StorageRepo* repoPtr = nullptr;
  std::vector<std::string> warnings;
  auto sources = *parseRestoreSources({"cmd:exit 9", history()});
  auto cb = makeRestoreCallback(sources, [&]() -> RawStorage& { return repoPtr->raw(); }, 5,
                                [&](const std::string& m) { warnings.push_back(m); });
  auto repo = openStore(target, fast(), cb);
  repoPtr = repo.get();
  GetContext ctx;
  ctx.rev = 77;
  auto got = repo->get({"b2"}, ctx);
  REQUIRE(got.isOk());
  auto theirs = openStore(history(), fast())->get({"b2"}, ctx);
  REQUIRE(theirs.isOk());
  CHECK(toJson(got->blocks[0].second.block.value_or(Json())) == toJson(theirs->blocks[0].second.block.value_or(Json())));
  CHECK_FALSE(got->blocks[0].second.notFound.has_value());
  CHECK(warnings.size() == 1);
  // Without a revision, the whole block comes, pendings included.
  auto whole = repo->get({"b0"});
  REQUIRE(whole.isOk());
  auto theirsWhole = openStore(history(), fast())->get({"b0"});
  CHECK(toJson(whole->toJson()) == toJson(theirsWhole->toJson()));
}

TEST_CASE("optdb archive --all | optdb restore through a pipe") {
  TempDir d;
  std::string bin = OPTDB_BINARY;
  std::string cmd = "'" + bin + "' --store '" + history() + "' archive --all | '" + bin + "' --no-sync --store '" +
                    (d / "p") + "' restore > '" + (d / "out.json") + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(d / "out.json");
  std::string line;
  std::getline(in, line);
  CHECK(line == R"({"restored":["b0","b1","b2","b3","b4","b5"],"rejected":[]})");
  CHECK(readEverything(d / "p") == historyReads());
}
