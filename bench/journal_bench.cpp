// Issue 15: durable writes through the journal against an fsync per file,
// next to the floors measured in the same run: a durable write (1 KB, fsync,
// rename, directory fsync) and the journal's own (append 1 KB, fdatasync).
// Per workload: the median time, in floors, and the fsync-family calls made.
// Then `optdb batch --buffer` of --batch pend+commit pairs on one block,
// durable at its end, against one durable process per request.
//   optdb_journal_bench [--dir D] [--n N] [--writers W] [--batch B] [--procs P]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/storage_repo.hpp"
#include "child_process.hpp"
#include "counting_env.hpp"
#include "timing.hpp"

using namespace optdb;
using optdb::bench::CountingEnv;
namespace fs = std::filesystem;
using optdb::bench::Clock;
using optdb::bench::median;
using optdb::bench::seconds;

namespace {

struct Bench {
  std::shared_ptr<CountingEnv> env;
  std::shared_ptr<FileRawStorage> raw;
  std::unique_ptr<StorageRepo> repo;
};

Bench open(const std::string& dir, bool journal) {
  Bench b;
  b.env = std::make_shared<CountingEnv>(newPosixEnv(dir));
  b.raw = std::make_shared<FileRawStorage>(b.env, true, Dialect::Trx, journal);
  b.repo = std::make_unique<StorageRepo>(b.raw, StoreOptions{true, 60.0, Dialect::Trx, {}});
  return b;
}

Json blockJson(const std::string& id) {
  Json j = Json::parse(R"({"header":{"id":"","type":"note","collectionId":"c"},"entries":[]})");
  j["header"]["id"] = id;
  for (int i = 0; i < 20; ++i) j["entries"].push_back(fmt::format("entry-{:04d}-{}", i, std::string(30, 'x')));
  return j;
}

void die(const Status& s) {
  std::cerr << "journal_bench: " << s.message() << "\n";
  std::exit(1);
}

void pend(StorageRepo& repo, const TrxId& trx, const Transforms& t, std::optional<Rev> rev) {
  PendRequest q;
  q.trxId = trx;
  q.transforms = t;
  q.rev = rev;
  auto r = repo.pend(q);
  if (!r) die(r.status());
}

void commit(StorageRepo& repo, const TrxId& trx, const std::vector<BlockId>& ids, Rev rev) {
  auto r = repo.commit(trx, ids, rev);
  if (!r) die(r.status());
  if (!r->success) die(Status::io("stale"));
}

Transforms update(const std::vector<BlockId>& ids, int i) {
  Transforms t;
  for (const auto& id : ids)
    t.updates.emplace_back(id, Json::array({Json::array({"entries", i % 20, 1, Json::array({fmt::format("u-{:06d}", i)})})}));
  return t;
}

Transforms insert(const std::vector<BlockId>& ids) {
  Transforms t;
  for (const auto& id : ids) t.inserts.emplace_back(id, blockJson(id));
  return t;
}

// The durable-write floor: 1 KB written, fsynced, renamed, the directory fsynced.
double writeFloor(const std::string& dir, int n) {
  std::vector<double> t;
  std::string data(1024, 'x');
  int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < n; ++i) {
    auto s = Clock::now();
    std::string tmp = dir + "/.floor.tmp", fin = dir + "/floor.json";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (::write(fd, data.data(), data.size()) < 0) std::exit(1);
    ::fsync(fd);
    ::close(fd);
    ::rename(tmp.c_str(), fin.c_str());
    ::fsync(d);
    t.push_back(seconds(Clock::now() - s));
  }
  ::close(d);
  return median(t);
}

// The journal's floor: 1 KB appended to one file, fdatasync.
double appendFloor(const std::string& dir, int n) {
  std::vector<double> t;
  std::string data(1024, 'x');
  int fd = ::open((dir + "/floor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
  for (int i = 0; i < n; ++i) {
    auto s = Clock::now();
    if (::write(fd, data.data(), data.size()) < 0) std::exit(1);
    ::fdatasync(fd);
    t.push_back(seconds(Clock::now() - s));
  }
  ::close(fd);
  return median(t);
}

struct Figure {
  double median = 0;
  double syncsPer = 0;
};

// W1: n pend+commit pairs on one block; W4b: n commits of 4 blocks (pends untimed).
Figure oneBlock(const std::string& dir, bool journal, int n) {
  auto b = open(dir, journal);
  pend(*b.repo, "i", insert({"w1"}), std::nullopt);
  commit(*b.repo, "i", {"w1"}, 1);
  std::vector<double> t;
  const auto s0 = b.env->syncs();
  for (int i = 1; i <= n; ++i) {
    auto s = Clock::now();
    pend(*b.repo, fmt::format("t{}", i), update({"w1"}, i), Rev(i + 1));
    commit(*b.repo, fmt::format("t{}", i), {"w1"}, Rev(i + 1));
    t.push_back(seconds(Clock::now() - s));
  }
  return {median(t), double(b.env->syncs() - s0) / n};
}

Figure fourBlocks(const std::string& dir, bool journal, int n) {
  auto b = open(dir, journal);
  const std::vector<BlockId> ids{"q1", "q2", "q3", "q4"};
  pend(*b.repo, "i", insert(ids), std::nullopt);
  commit(*b.repo, "i", ids, 1);
  std::vector<double> t;
  std::uint64_t syncs = 0;
  for (int i = 1; i <= n; ++i) {
    pend(*b.repo, fmt::format("t{}", i), update(ids, i), Rev(i + 1));
    const auto s0 = b.env->syncs();
    auto s = Clock::now();
    commit(*b.repo, fmt::format("t{}", i), ids, Rev(i + 1));
    t.push_back(seconds(Clock::now() - s));
    syncs += b.env->syncs() - s0;
  }
  return {median(t), double(syncs) / n};
}

// `writers` processes, each committing n pend+commits on a block of its own;
// commits per second of all of them together.
double concurrent(const std::string& dir, bool journal, int writers, int n) {
  {
    auto b = open(dir, journal);
    std::vector<BlockId> ids;
    for (int w = 0; w < writers; ++w) ids.push_back(fmt::format("c{}", w));
    for (const auto& id : ids) {
      pend(*b.repo, "i-" + id, insert({id}), std::nullopt);
      commit(*b.repo, "i-" + id, {id}, 1);
    }
  }
  int ready[2];
  if (::pipe(ready) != 0) std::exit(1);
  std::vector<pid_t> kids;
  for (int w = 0; w < writers; ++w) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(ready[1]);
      auto b = open(dir, journal);
      char c;
      if (::read(ready[0], &c, 1) < 0) std::_Exit(1);  // start together
      const BlockId id = fmt::format("c{}", w);
      for (int i = 1; i <= n; ++i) {
        pend(*b.repo, fmt::format("t{}-{}", w, i), update({id}, i), Rev(i + 1));
        commit(*b.repo, fmt::format("t{}-{}", w, i), {id}, Rev(i + 1));
      }
      std::_Exit(0);
    }
    kids.push_back(pid);
  }
  ::close(ready[0]);
  ::usleep(200000);
  auto s = Clock::now();
  ::close(ready[1]);  // every child's read returns
  for (pid_t p : kids) {
    int st = 0;
    ::waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) std::exit(1);
  }
  return double(writers) * n / seconds(Clock::now() - s);
}

// Gets of the latest block (reads take no lock and write nothing either way).
double reads(const std::string& dir, bool journal, int n) {
  auto b = open(dir, journal);
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    auto s = Clock::now();
    auto r = b.repo->get({"w1"}, GetContext{});
    if (!r) die(r.status());
    t.push_back(seconds(Clock::now() - s));
  }
  return median(t);
}

void writeAll(int fd, const std::string& s) {
  for (std::size_t at = 0; at < s.size();) {
    const ssize_t k = ::write(fd, s.data() + at, s.size() - at);
    if (k <= 0) std::exit(1);
    at += std::size_t(k);
  }
}

std::string updateBody(int k) { return fmt::format(R"({{"updates":{{"w1":[["entries",0,0,["u{}"]]]}}}})", k); }

// A store holding block w1 at revision 1, durably.
void seedOne(const std::string& dir) {
  auto b = open(dir, true);
  pend(*b.repo, "seed", insert({"w1"}), std::nullopt);
  commit(*b.repo, "seed", {"w1"}, 1);
}

struct BatchFigures {
  double batchTx = 0;  // transactions a second through one batch --buffer
  double procTx = 0;   // through a process per request
};

// `pairs` pend+commit pairs in one durable `batch --buffer`, against `procs`
// pairs made by a durable process each.
BatchFigures batchRun(const std::string& dir, int pairs, int procs) {
  const std::string bin = OPTDB_BINARY;
  BatchFigures f;
  const std::string batchStore = dir + "/batch", procStore = dir + "/procs";
  seedOne(batchStore);
  seedOne(procStore);
  std::string lines;
  for (int k = 1; k <= pairs; ++k) {
    lines += fmt::format(R"({{"op":"pend","trxId":"u{}","transforms":{}}})", k, updateBody(k)) + "\n";
    lines += fmt::format(R"({{"op":"commit","trxId":"u{}","blockIds":["w1"],"rev":{}}})", k, k + 1) + "\n";
  }
  auto c = optdb::bench::runChild({bin, "--store", batchStore, "batch", "--buffer"}, [&](int fd) { writeAll(fd, lines); });
  if (c.status != 0) std::exit(1);
  f.batchTx = pairs / c.seconds;
  auto start = Clock::now();
  for (int k = 1; k <= procs; ++k) {
    const std::string trx = fmt::format("u{}", k);
    if (optdb::bench::runChild({bin, "--store", procStore, "pend", "--trx", trx},
                               [&](int fd) { writeAll(fd, updateBody(k)); })
            .status != 0 ||
        optdb::bench::runChild({bin, "--store", procStore, "commit", "--trx", trx, "--rev", std::to_string(k + 1), "w1"},
                               {})
                .status != 0)
      std::exit(1);
  }
  f.procTx = procs / seconds(Clock::now() - start);
  // Both stores hold every commit.
  auto check = open(batchStore, true);
  auto r = check.repo->get({"w1"}, GetContext{});
  if (!r || !r->blocks.at(0).second.latest || r->blocks.at(0).second.latest->rev != Rev(pairs + 1)) {
    std::cerr << "journal_bench: the batch's store does not hold its commits\n";
    std::exit(1);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/tmp";
  int n = 300, writers = 8, batchPairs = 3000, procs = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") base = argv[i + 1];
    else if (a == "--n") n = std::stoi(argv[i + 1]);
    else if (a == "--writers") writers = std::stoi(argv[i + 1]);
    else if (a == "--batch") batchPairs = std::stoi(argv[i + 1]);
    else if (a == "--procs") procs = std::stoi(argv[i + 1]);
  }
  const std::string root = fmt::format("{}/optdb-journal-bench-{}", base, ::getpid());
  fs::create_directories(root);
  const double floorBefore = writeFloor(root, 200), append = appendFloor(root, 200);
  struct Mode {
    const char* name;
    bool journal;
  };
  fmt::print("dir {} (n {}, writers {})\n", base, n, writers);
  fmt::print("floor: durable write (1 KB+fsync+rename+dir fsync) {:.1f} us; journal append (1 KB+fdatasync) {:.1f} us\n",
             floorBefore * 1e6, append * 1e6);
  Figure one[2], four[2];
  double conc[2], single[2], read[2];
  for (int m = 0; m < 2; ++m) {
    const bool journal = m == 1;
    const std::string d = root + (journal ? "/journal" : "/fsync");
    fs::create_directories(d);
    one[m] = oneBlock(d, journal, n);
    four[m] = fourBlocks(d, journal, n);
    read[m] = reads(d, journal, n);
    single[m] = concurrent(d + "-1w", journal, 1, n);
    conc[m] = concurrent(d + "-Nw", journal, writers, n);
  }
  const double floor = (floorBefore + writeFloor(root, 200)) / 2;
  for (int m = 0; m < 2; ++m) {
    const char* tag = m ? "journal" : "fsync per file";
    fmt::print("[{}] 1-block pend+commit: {:.0f} us = {:.2f} durable-write floors; {:.1f} fsync-family calls\n", tag,
               one[m].median * 1e6, one[m].median / floor, one[m].syncsPer);
    fmt::print("[{}] 4-block commit: {:.0f} us = {:.2f} floors; {:.1f} fsync-family calls\n", tag, four[m].median * 1e6,
               four[m].median / floor, four[m].syncsPer);
    fmt::print("[{}] {} writers on {} blocks: {:.0f} commits/s = {:.2f}x one writer ({:.0f}/s)\n", tag, writers, writers,
               conc[m], conc[m] / single[m], single[m]);
    fmt::print("[{}] get latest: {:.1f} us\n", tag, read[m] * 1e6);
  }
  fmt::print("journal/fsync: 1-block {:.2f}x faster, 4-block {:.2f}x, {} writers {:.2f}x; reads {:.2f}\n",
             one[0].median / one[1].median, four[0].median / four[1].median, writers, conc[1] / conc[0],
             read[1] / read[0]);
  const BatchFigures bf = batchRun(root, batchPairs, procs);
  fmt::print("batch --buffer, {} pend+commit pairs on one block, durable at its end: {:.0f} tx/s (target >= 10000: {}); "
             "one durable process per request {:.0f} tx/s; {:.1f}x (target >= 40x: {})\n",
             batchPairs, bf.batchTx, bf.batchTx >= 10000 ? "met" : "NOT MET", bf.procTx, bf.batchTx / bf.procTx,
             bf.batchTx / bf.procTx >= 40 ? "met" : "NOT MET");
  fs::remove_all(root);
  return 0;
}
