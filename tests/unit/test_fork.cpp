// Several processes (fork) pend and commit to the same blocks of one real
// store at once, retrying on stale and on pending conflicts. Afterwards: no
// torn file, no lost commit, one transaction per revision, and every update
// applied exactly once in revision order.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/storage_repo.hpp"
#include "support.hpp"

using namespace optdb;
namespace fs = std::filesystem;
using optdb::test_support::fileBytes;
using optdb::test_support::TempDir;

namespace {

const std::vector<BlockId> kBlocks{"f1", "f2", "f3"};
constexpr int kChildren = 3;
constexpr int kCommitsEach = 15;

std::string B(const std::string& id) {
  return R"({"header":{"id":")" + id + R"(","type":"t","collectionId":"c"},"log":[]})";
}

// Exit codes of a child that went wrong.
enum ChildError { kOpen = 10, kGet = 11, kPend = 12, kCommit = 13, kTooManyTries = 14, kWrite = 15, kTornRead = 16 };

// Blocks until the parent has forked everyone, so that the writers overlap.
void awaitStart(int startFd) {
  char c;
  if (::read(startFd, &c, 1) != 1) ::_exit(kOpen);
  ::close(startFd);
}

// A reader meanwhile: every read succeeds and shows a whole block whose log
// only grows, one transaction per revision.
[[noreturn]] void reader(const std::string& store, int startFd) {
  awaitStart(startFd);
  auto repo = openStore(store, StoreOptions{false, 30.0, Dialect::Trx, {}});
  std::map<BlockId, std::size_t> seen;
  for (int i = 0; i < 300; ++i) {
    auto g = repo->get(kBlocks);
    if (!g) ::_exit(kGet);
    for (const auto& [id, st] : g->blocks) {
      if (st.notFound || !st.block || !st.latest || !st.block->contains("log")) ::_exit(kTornRead);
      const auto n = (*st.block)["log"].size();
      if (n < seen[id] || n + 1 != st.latest->rev) ::_exit(kTornRead);
      seen[id] = n;
    }
  }
  ::_exit(0);
}

// One writer process: kCommitsEach transactions, each appending its id to every block's log.
[[noreturn]] void child(const std::string& store, int k, int fd, int startFd) {
  awaitStart(startFd);
  auto repo = openStore(store, StoreOptions{false, 30.0, Dialect::Trx, {}});
  if (!repo) ::_exit(kOpen);
  const Policy policy = k % 3 == 0 ? Policy::Continue : k % 3 == 1 ? Policy::Fail : Policy::Wait;
  for (int i = 0; i < kCommitsEach; ++i) {
    const TrxId trx = "c" + std::to_string(k) + "-" + std::to_string(i);
    PendRequest req;
    req.trxId = trx;
    for (const auto& id : kBlocks) {
      Json op = Json::array({"log", 1000000000, 0, Json::array({trx})});  // append
      req.transforms.updates.emplace_back(id, Json::array({op}));
    }
    req.policy = policy;
    req.timeoutSeconds = 0.05;
    // The blocks in another order per child: locks are taken sorted anyway.
    std::vector<BlockId> order = kBlocks;
    std::rotate(order.begin(), order.begin() + (k % kBlocks.size()), order.end());
    bool done = false;
    for (int attempt = 0; !done; ++attempt) {
      if (attempt > 20000) ::_exit(kTooManyTries);
      auto g = repo->get(kBlocks);
      if (!g) ::_exit(kGet);
      Rev latest = 0;
      for (const auto& [id, st] : g->blocks)
        if (st.latest) latest = std::max(latest, st.latest->rev);
      req.rev = latest + 1;
      auto p = repo->pend(req);
      if (!p) ::_exit(kPend);
      if (p->outcome != PendResult::Outcome::Pended) {
        std::this_thread::sleep_for(std::chrono::microseconds(200 * (1 + attempt % 7)));
        continue;  // stale or pending conflict: read again and retry
      }
      auto c = repo->commit(trx, order, latest + 1);
      if (!c) ::_exit(kCommit);
      if (!c->success) continue;  // stale: another got this revision
      std::string line = trx + " " + std::to_string(latest + 1) + " " + std::to_string(attempt) + "\n";
      if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(kWrite);
      done = true;
    }
  }
  ::close(fd);
  ::_exit(0);
}

}  // namespace

TEST_CASE("concurrent writers in several processes", "[fork]") {
  TempDir dir("fork");
  {
    auto repo = openStore(dir.path(), StoreOptions{false, 30.0, Dialect::Trx, {}});
    PendRequest req;
    req.trxId = "init";
    for (const auto& id : kBlocks) req.transforms.inserts.emplace_back(id, parseJson(B(id), "b").value());
    auto p = repo->pend(req);
    REQUIRE(p.isOk());
    REQUIRE(p->outcome == PendResult::Outcome::Pended);
    auto c = repo->commit("init", kBlocks, 1);
    REQUIRE(c.isOk());
    REQUIRE(c->success);
  }

  std::vector<pid_t> pids;
  std::vector<int> fds;
  int start[2];
  REQUIRE(::pipe(start) == 0);
  for (int k = 0; k < kChildren; ++k) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(p[0]);
      ::close(start[1]);
      for (int fd : fds) ::close(fd);
      child(dir.path(), k, p[1], start[0]);
    }
    ::close(p[1]);
    pids.push_back(pid);
    fds.push_back(p[0]);
  }
  pid_t readerPid = ::fork();
  REQUIRE(readerPid >= 0);
  if (readerPid == 0) {
    ::close(start[1]);
    for (int fd : fds) ::close(fd);
    reader(dir.path(), start[0]);
  }
  ::close(start[0]);
  const std::string go(kChildren + 1, 'g');
  REQUIRE(::write(start[1], go.data(), go.size()) == static_cast<ssize_t>(go.size()));
  ::close(start[1]);
  // Reported successes: trx -> rev.
  std::map<TrxId, Rev> reported;
  int retries = 0;
  for (size_t k = 0; k < pids.size(); ++k) {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fds[k], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[k]);
    int status = 0;
    REQUIRE(::waitpid(pids[k], &status, 0) == pids[k]);
    INFO("child " << k << " status " << status);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::istringstream lines(out);
    std::string trx;
    Rev rev;
    int attempts;
    while (lines >> trx >> rev >> attempts) {
      retries += attempts;
      INFO(trx << " reported twice");
      CHECK(reported.emplace(trx, rev).second);
    }
  }
  CHECK(reported.size() == static_cast<size_t>(kChildren * kCommitsEach));
  {
    int status = 0;
    REQUIRE(::waitpid(readerPid, &status, 0) == readerPid);
    INFO("reader status " << status);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  std::cout << "test_fork: " << reported.size() << " commits by " << kChildren << " processes, " << retries
            << " retries after stale or pending conflicts\n";

  // No torn file: every file parses (revision files hold a bare TrxId); no temporaries left.
  std::size_t files = 0;
  for (auto it = fs::recursive_directory_iterator(dir.path()); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    const std::string rel = fs::relative(it->path(), dir.path()).string();
    INFO(rel);
    if (it->is_directory()) {
      if (name == "locks") it.disable_recursion_pending();
      continue;
    }
    CHECK(name[0] != '.');
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    const std::string text = fileBytes(it->path());
    if (it->path().parent_path().filename() == "revs") {
      CHECK(validateTrxId(text, rel).isOk());
    } else {
      CHECK(parseJson(text, rel).isOk());
    }
    ++files;
  }
  CHECK(files > static_cast<size_t>(kChildren * kCommitsEach));

  auto repo = openStore(dir.path(), StoreOptions{false, 30.0, Dialect::Trx, {}});
  auto intents = repo->raw().listIntents();
  REQUIRE(intents.isOk());
  CHECK(intents->empty());
  // One transaction per revision, the same on every block; each transaction at one revision.
  std::map<Rev, TrxId> byRev;
  for (const auto& id : kBlocks) {
    INFO("block " << id);
    auto revs = repo->raw().listRevisions(id);
    REQUIRE(revs.isOk());
    CHECK(revs->size() == reported.size() + 1);
    std::set<TrxId> seen;
    for (Rev r : *revs) {
      auto trx = repo->raw().getRevision(id, r);
      REQUIRE(trx.isOk());
      REQUIRE(trx->has_value());
      CHECK(seen.insert(**trx).second);
      auto [it, fresh] = byRev.emplace(r, **trx);
      if (!fresh) CHECK(it->second == **trx);
      auto t = repo->raw().getCommitted(id, **trx);
      REQUIRE(t.isOk());
      CHECK(t->has_value());
    }
    auto pendings = repo->raw().listPendings(id);
    REQUIRE(pendings.isOk());
    CHECK(pendings->empty());
  }
  // No lost commit: every reported one is at its revision.
  for (const auto& [trx, rev] : reported) {
    INFO(trx << "@" << rev);
    auto it = byRev.find(rev);
    REQUIRE(it != byRev.end());
    CHECK(it->second == trx);
  }
  // Every update applied exactly once, in revision order, on every block.
  Json expected = Json::array();
  for (const auto& [rev, trx] : byRev)
    if (rev > 1) expected.push_back(trx);
  auto g = repo->get(kBlocks);
  REQUIRE(g.isOk());
  for (const auto& [id, st] : g->blocks) {
    INFO("block " << id);
    REQUIRE(st.block);
    CHECK(toJson((*st.block)["log"]) == toJson(expected));
    REQUIRE(st.latest);
    CHECK(st.latest->rev == byRev.rbegin()->first);
    // Every revision reads back as a prefix of the log.
    for (const auto& [rev, trx] : byRev) {
      GetContext ctx;
      ctx.rev = rev;
      auto h = repo->get({id}, ctx);
      REQUIRE(h.isOk());
      REQUIRE(h->blocks[0].second.block);
      const Json& log = (*h->blocks[0].second.block)["log"];
      CHECK(log.size() == static_cast<std::size_t>(std::distance(byRev.begin(), byRev.find(rev))));
      if (!log.empty()) CHECK(log.back() == trx);
    }
  }
}
