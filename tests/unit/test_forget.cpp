// forget --before N (SPEC §8): history below the floor leaves the store for an
// archive file, and after a crash or power cut at any instant every revision
// is still in the store or in the archive, and running it again finishes.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mem_raw_storage.hpp"
#include "optdb/archive.hpp"
#include "optdb/archive_file.hpp"
#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"
#include "optdb/mem_env.hpp"
#include "optdb/storage_repo.hpp"
#include "optdb/zstd.hpp"

using namespace optdb;
using optdb::test_support::MemRawStorage;

namespace {

const char* kArchive = "hist/old.ndjson";

Json blockWith(const BlockId& id, Rev n) {
  return Json::parse(R"({"header":{"id":")" + id + R"(","type":"t","collectionId":"c"},"n":)" + std::to_string(n) + "}");
}

// b1: revisions 1..40; b2: every third revision up to 30, so F falls between
// revisions; b3: revisions from 35 on only (nothing below the floor);
// b4: deleted at 20 and inserted again at 33.
struct History {
  std::map<BlockId, std::map<Rev, std::optional<Json>>> states;  // the state after each revision
};

bool commitOne(StorageRepo& repo, const TrxId& trx, Rev rev, const Transforms& t) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = t;
  req.rev = rev;
  auto p = repo.pend(req);
  if (!p || p->outcome != PendResult::Outcome::Pended) return false;
  auto c = repo.commit(trx, t.blockIds(), rev);
  return c && c->success;
}

History writeHistory(StorageRepo& repo) {
  History h;
  for (Rev rev = 1; rev <= 40; ++rev) {
    Transforms t;
    auto put = [&](const BlockId& id) {
      auto& states = h.states[id];
      if (states.empty() || !states.rbegin()->second) t.inserts.emplace_back(id, blockWith(id, rev));
      else t.updates.emplace_back(id, Json::parse("[[\"n\",0,1," + std::to_string(rev) + "]]"));
      states[rev] = blockWith(id, rev);
    };
    put("b1");
    if (rev % 3 == 0 && rev <= 30) put("b2");
    if (rev >= 35) put("b3");
    if (rev == 20) {
      t.deletes.push_back("b4");
      h.states["b4"][rev] = std::nullopt;
    } else if (rev < 20 || rev >= 33) {
      put("b4");
    }
    REQUIRE(commitOne(repo, "t" + std::to_string(rev), rev, t));
  }
  return h;
}

// The state a read at `rev` must see: that after the greatest revision ≤ rev.
std::optional<Json> expectedAt(const std::map<Rev, std::optional<Json>>& states, Rev rev) {
  auto it = states.upper_bound(rev);
  if (it == states.begin()) return std::nullopt;
  return std::prev(it)->second;
}

// nullopt: not held (not found); else what the store reads.
std::optional<std::optional<Json>> readAt(StorageRepo& repo, const BlockId& id, Rev rev) {
  GetContext ctx;
  ctx.rev = rev;
  auto r = repo.get({id}, ctx);
  REQUIRE(r.isOk());
  const auto& st = r->blocks.at(0).second;
  if (st.notFound) return std::nullopt;
  return std::optional<std::optional<Json>>(st.block);
}

// The revisions each block has in the archives of `text`.
std::map<BlockId, std::set<Rev>> archivedRevisions(const std::string& text) {
  std::map<BlockId, std::set<Rev>> out;
  auto archives = readArchives(text, kArchive);
  REQUIRE(archives.isOk());
  for (const auto& a : *archives)
    for (const auto& r : a.revisions) out[a.blockId].insert(r.trx.rev);
  return out;
}

struct Sim {
  std::shared_ptr<MemEnv> env = std::make_shared<MemEnv>();
  std::shared_ptr<FileRawStorage> raw;
  std::unique_ptr<StorageRepo> repo;
  Sim() {
    REQUIRE(env->createDir("hist"));
    REQUIRE(env->syncDir(""));
    reopen();
  }
  void reopen() {
    raw = std::make_shared<FileRawStorage>(env, true, Dialect::Trx);
    repo = std::make_unique<StorageRepo>(raw, StoreOptions{true, 5.0, Dialect::Trx, {}});
  }
  Result<ForgetResult> forget(Rev before, bool toArchive = true) {
    ForgetRequest req;
    req.before = before;
    req.all = true;
    std::unique_ptr<ArchiveFile> archive;
    if (toArchive) {
      OPTDB_ASSIGN(archive, ArchiveFile::open(env, kArchive, true, 5.0));
    }
    return repo->forget(req, archive.get());
  }
  std::string archiveText() {
    auto t = env->readFile(kArchive);
    return t ? *t : std::string();
  }
  std::vector<Problem> check() {
    std::vector<Problem> problems;
    auto r = checkStore(*raw, CheckOptions{}, [&](const Problem& p) { problems.push_back(p); });
    REQUIRE(r.isOk());
    return problems;
  }
};

// Every revision of the history reads exactly in the store, or is missing
// from it and archived; `floor` each block's lowest revision that must be held.
void verifyNothingLost(Sim& sim, const History& h, const std::map<BlockId, Rev>& floor) {
  auto archived = archivedRevisions(sim.archiveText());
  for (const auto& [id, states] : h.states) {
    for (Rev rev = 1; rev <= 40; ++rev) {
      if (states.begin()->first > rev) continue;
      INFO("block " << id << " at revision " << rev);
      auto got = readAt(*sim.repo, id, rev);
      if (!got) {
        REQUIRE(rev < floor.at(id));
        // Not held: the revision that carries the state at rev is archived.
        auto at = std::prev(states.upper_bound(rev))->first;
        REQUIRE(archived[id].count(at) == 1);
        continue;
      }
      auto want = expectedAt(states, rev);
      REQUIRE(got->has_value() == want.has_value());
      if (want) REQUIRE(toJson(**got) == toJson(*want));
    }
  }
}

const std::map<BlockId, Rev> kFloors = {{"b1", 30}, {"b2", 30}, {"b3", 35}, {"b4", 20}};

// After forget --before 30: each block's ranges start at its F, nothing is
// below it, it checks clean, and the archive restores every revision.
void verifyFinished(Sim& sim, const History& h) {
  for (const auto& [id, f] : kFloors) {
    auto meta = sim.raw->getMeta(id);
    REQUIRE(meta.isOk());
    REQUIRE(*meta);
    INFO("block " << id);
    REQUIRE((*meta)->ranges.front().start == (id == "b3" ? 0 : f));  // b3 had nothing below 30
    auto revs = sim.raw->listRevisions(id);
    REQUIRE(revs.isOk());
    REQUIRE(revs->front() == (id == "b3" ? 35 : f));
  }
  // A killed writer's temporary file is all a crash may leave (repair's to remove).
  for (const auto& p : sim.check())
    if (p.kind != problem::kTempFile) FAIL_CHECK(p.path << ": " << p.message);
  verifyNothingLost(sim, h, kFloors);
  auto restored = restoreArchives(*sim.raw, {{kArchive, sim.archiveText()}}, 5);
  REQUIRE(restored.isOk());
  REQUIRE(restored->rejected.empty());
  verifyNothingLost(sim, h, {{"b1", 1}, {"b2", 1}, {"b3", 1}, {"b4", 1}});
  REQUIRE(repairStore(*sim.raw, RepairOptions{}).isOk());
  REQUIRE(sim.check().empty());
}

}  // namespace

TEST_CASE("forget moves history below the floor into the archive, and restore brings it back", "[forget]") {
  Sim sim;
  auto h = writeHistory(*sim.repo);
  auto r = sim.forget(30);
  REQUIRE(r.isOk());
  REQUIRE(toJson(r->toJson()).find(R"({"blockId":"b1","from":30,"revisions":29,)") != std::string::npos);
  // b2: F is 30 itself; b3 had nothing below; b4: F is the delete at 20, after which nothing reads.
  std::vector<std::string> got;
  for (const auto& f : r->forgotten) got.push_back(f.blockId + "@" + std::to_string(f.from) + "-" + std::to_string(f.revisions));
  REQUIRE(got == std::vector<std::string>{"b1@30-29", "b2@30-9", "b4@20-19"});
  for (const auto& f : r->forgotten) REQUIRE(f.bytes > 0);
  // Reads at and above the floor are as before; below it, not held.
  REQUIRE(!readAt(*sim.repo, "b1", 29));
  REQUIRE(readAt(*sim.repo, "b4", 25).value() == std::nullopt);  // deleted, and held
  verifyFinished(sim, h);
}

TEST_CASE("forget again changes nothing, and a later forget appends to the archive", "[forget]") {
  Sim sim;
  auto h = writeHistory(*sim.repo);
  REQUIRE(sim.forget(10).isOk());
  const std::string first = sim.archiveText();
  auto again = sim.forget(10);
  REQUIRE(again.isOk());
  REQUIRE(again->forgotten.empty());
  REQUIRE(sim.archiveText() == first);
  REQUIRE(sim.forget(30).isOk());
  const std::string both = sim.archiveText();
  REQUIRE(both.substr(0, first.size()) == first);  // appended after what was there
  REQUIRE(both.size() > first.size());
  verifyFinished(sim, h);
}

TEST_CASE("forget --discard keeps no archive, and blocks without history below are unchanged", "[forget]") {
  Sim sim;
  writeHistory(*sim.repo);
  auto r = sim.forget(30, false);
  REQUIRE(r.isOk());
  REQUIRE(r->forgotten.size() == 3);
  REQUIRE(sim.env->fileType(kArchive).value() == FileType::None);
  REQUIRE(!readAt(*sim.repo, "b1", 5));
  REQUIRE(readAt(*sim.repo, "b3", 36).has_value());
  REQUIRE(sim.check().empty());
}

TEST_CASE("forget refuses an existing file that is not an archive, writing nothing", "[forget]") {
  Sim sim;
  writeHistory(*sim.repo);
  auto f = sim.env->newWritableFile(kArchive);
  REQUIRE(f.isOk());
  REQUIRE((*f)->append("not json\n"));
  REQUIRE((*f)->close());
  auto r = sim.forget(30);
  REQUIRE(r.status().code() == Code::InvalidInput);
  REQUIRE(sim.archiveText() == "not json\n");
  REQUIRE(readAt(*sim.repo, "b1", 5).has_value());
}

TEST_CASE("a zstd archive file gets a new frame after its old ones, and reads whole", "[forget]") {
  auto env = std::make_shared<MemEnv>();
  BlockArchive a{"x", {}, Range{0, Rev{5}}, {}, Dialect::Trx};
  for (int round = 0; round < 2; ++round) {
    auto file = ArchiveFile::open(env, "old.ndjson.zst", true, 1);
    REQUIRE(file.isOk());
    REQUIRE((*file)->add(a));
    REQUIRE((*file)->commit());
  }
  auto text = env->readFile("old.ndjson.zst");
  REQUIRE(text.isOk());
  REQUIRE(startsWithZstdMagic(*text));
  std::size_t pos = 0;
  ArchiveReader reader([&](char* buf, std::size_t n) -> Result<std::size_t> {
    n = std::min(n, text->size() - pos);
    std::copy(text->data() + pos, text->data() + pos + n, buf);
    pos += n;
    return n;
  }, "old.ndjson.zst");
  int count = 0;
  for (;;) {
    auto next = reader.next();
    REQUIRE(next.isOk());
    if (!*next) break;
    ++count;
  }
  REQUIRE(count == 2);
}

TEST_CASE("forget on a storage that is not a directory", "[forget]") {
  auto raw = std::make_shared<MemRawStorage>(Dialect::Trx);
  StorageRepo repo(raw, StoreOptions{true, 5.0, Dialect::Trx, {}});
  auto h = writeHistory(repo);
  ForgetRequest req;
  req.before = 30;
  req.blockIds = {"b1", "b2"};
  auto r = repo.forget(req, nullptr);
  REQUIRE(r.isOk());
  REQUIRE(r->forgotten.size() == 2);
  REQUIRE(!readAt(repo, "b1", 29));
  REQUIRE(toJson(**readAt(repo, "b1", 30)) == toJson(*expectedAt(h.states["b1"], 30)));
  REQUIRE(toJson(**readAt(repo, "b2", 31)) == toJson(*expectedAt(h.states["b2"], 31)));
  REQUIRE(readAt(repo, "b4", 5).has_value());  // not named: untouched
}

TEST_CASE("forget survives a crash or a power cut at every mutation, and running it again finishes", "[forget][crash]") {
  // How many mutations a whole forget makes.
  std::uint64_t total = 0;
  {
    Sim sim;
    writeHistory(*sim.repo);
    const auto before = sim.env->mutations();
    REQUIRE(sim.forget(30).isOk());
    total = sim.env->mutations() - before;
  }
  REQUIRE(total > 20);
  for (bool powerCut : {false, true}) {
    for (std::uint64_t k = 0; k < total; ++k) {
      INFO((powerCut ? "power cut" : "crash") << " after mutation " << k << " of " << total);
      Sim sim;
      auto h = writeHistory(*sim.repo);
      sim.env->crashAfter(k);
      auto r = sim.forget(30);
      // The process died; or the crash was in the journal's trim that closes
      // forget, after its work was durable, which it reports done.
      const bool done = r.isOk();
      if (powerCut) sim.env->powerCut();
      sim.env->crashAfter(std::nullopt);
      sim.reopen();  // a fresh process
      verifyNothingLost(sim, h, kFloors);
      if (done) verifyFinished(sim, h);
      auto again = sim.forget(30);
      REQUIRE(again.isOk());
      verifyFinished(sim, h);
    }
  }
}
