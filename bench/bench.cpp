// Benchmarks of issue 6: workloads W1–W6 through libstore, next to floors
// measured in the same run (a read floor, a durable-write floor, and `cat`
// for whole processes), so every figure is a ratio on this machine.
//
//   optdb_bench [--n 3000] [--dir /tmp] [--sync both|on|off]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "child_process.hpp"
#include "counting_env.hpp"
#include "timing.hpp"
#include "optdb/codec.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/storage_repo.hpp"

namespace fs = std::filesystem;
using namespace optdb;
using optdb::bench::CountingEnv;
using optdb::bench::Clock;
using optdb::bench::median;
using optdb::bench::seconds;

namespace {

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r) {
    fmt::print(stderr, "{}: {}\n", what, r.status().message());
    std::exit(1);
  }
  return std::move(r).value();
}

struct Store {
  std::shared_ptr<CountingEnv> env;
  std::shared_ptr<StorageRepo> repo;
};

Store openBench(const std::string& dir, bool sync) {
  Store s;
  s.env = std::make_shared<CountingEnv>(newPosixEnv(dir));
  // The trx dialect, as the figures of issue 6 were measured (W6 counts trx/ bytes).
  auto raw = std::make_shared<FileRawStorage>(s.env, sync, Dialect::Trx);
  StoreOptions o;
  o.sync = sync;
  o.layout = Dialect::Trx;
  s.repo = std::make_shared<StorageRepo>(raw, o);
  return s;
}

Json blockJson(const std::string& id, int fields) {
  Json b = Json::object();
  b["header"] = Json::object({{"id", id}, {"type", "bench"}, {"collectionId", "c"}});
  b["entries"] = Json::array();
  for (int i = 0; i < fields; ++i) b["entries"].push_back(fmt::format("entry-{:04d}-padding-padding", i));
  return b;
}

void pendCommit(StorageRepo& repo, const std::string& trx, Transforms t, Rev rev) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = std::move(t);
  auto p = must(repo.pend(req), "pend");
  if (p.outcome != PendResult::Outcome::Pended) {
    fmt::print(stderr, "pend {} not pended\n", trx);
    std::exit(1);
  }
  auto ids = req.transforms.blockIds();
  auto c = must(repo.commit(trx, ids, rev), "commit");
  if (!c.success) {
    fmt::print(stderr, "commit {} stale\n", trx);
    std::exit(1);
  }
}

// The read floor: open, read and close two small files, for each pair in turn.
double readFloor(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<double> t;
  char buf[65536];
  for (const auto& [a, b] : pairs) {
    auto s = Clock::now();
    for (const auto* p : {&a, &b}) {
      int fd = ::open(p->c_str(), O_RDONLY);
      while (::read(fd, buf, sizeof buf) > 0) {
      }
      ::close(fd);
    }
    t.push_back(seconds(Clock::now() - s));
  }
  return median(t);
}

// The plain-write floor: create a file, write 1 KB, close, rename; no fsync.
// `replace`: always to the same name, so each write also frees the inode it
// replaces, as meta.json's does; ext4 then scans past recently freed inodes
// on every allocation, which makes a steady stream of writes dearer.
double createFloor(const std::string& dir, int n, bool replace = false) {
  std::string data(1024, 'x');
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    std::string tmp = dir + "/.create.tmp", fin = dir + (replace ? std::string("/replace.json") : fmt::format("/create-{}.json", i));
    auto s = Clock::now();
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (::write(fd, data.data(), data.size()) < 0) std::exit(1);
    ::close(fd);
    ::rename(tmp.c_str(), fin.c_str());
    t.push_back(seconds(Clock::now() - s));
  }
  for (int i = 0; i < n; ++i) ::unlink((dir + fmt::format("/create-{}.json", i)).c_str());
  ::unlink((dir + "/replace.json").c_str());
  return median(t);
}

// The durable-write floor: write 1 KB, fsync, rename, fsync the directory.
double writeFloor(const std::string& dir, int n) {
  std::string data(1024, 'x');
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    std::string tmp = dir + "/.floor.tmp", fin = dir + "/floor.json";
    auto s = Clock::now();
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (::write(fd, data.data(), data.size()) < 0) std::exit(1);
    ::fdatasync(fd);
    ::close(fd);
    ::rename(tmp.c_str(), fin.c_str());
    int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    ::fsync(d);
    ::close(d);
    t.push_back(seconds(Clock::now() - s));
  }
  return median(t);
}

// Median wall time of a whole process, run `n` times.
double processTime(const std::vector<std::string>& argv, int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) t.push_back(optdb::bench::runChild(argv, {}).seconds);
  return median(t);
}

std::uint64_t treeBytes(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// Peak RSS (KiB) of `optdb_bench --rss WHAT DIR N` run as a fresh process
// (a forked child would count the parent's pages too).
long childPeakRss(const std::string& what, const std::string& dir, int n) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string nArg = std::to_string(n);
    const char* args[] = {"/proc/self/exe", "--rss", what.c_str(), dir.c_str(), nArg.c_str(), nullptr};
    ::execv(args[0], const_cast<char* const*>(args));
    _exit(127);
  }
  int st;
  struct rusage ru;
  ::wait4(pid, &st, 0, &ru);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ru.ru_maxrss : -1;
}

// The reads whose memory childPeakRss measures: 200 historical reads of W1's
// block spread over its history, or 200 gets spread over W2's blocks; "open"
// only opens the store, for reference.
int rssWorkload(const std::string& what, const std::string& dir, int n) {
  auto st = openBench(dir, false);
  if (what == "w4")
    for (int i = 0; i < 200; ++i)
      if (!st.repo->blockStorage("w1").getBlock(static_cast<Rev>(1 + i * n / 200))) return 1;
  if (what == "w3")
    for (int i = 0; i < 200; ++i)
      if (!st.repo->get({fmt::format("w2-{:06d}", i * n / 200)})) return 1;
  return 0;
}

struct Row {
  std::string name, figure, target, verdict;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--rss") return rssWorkload(argv[2], argv[3], std::stoi(argv[4]));
  int n = 3000;
  std::string base = "/tmp";
  std::string syncMode = "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--n") n = std::stoi(argv[i + 1]);
    else if (a == "--dir") base = argv[i + 1];
    else if (a == "--sync") syncMode = argv[i + 1];
  }
  std::string root = base + fmt::format("/optdb-bench-{}", ::getpid());
  fs::create_directories(root);
  std::mt19937_64 rng(42);
  std::vector<Row> rows;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0; };

  std::vector<bool> modes;
  if (syncMode != "off") modes.push_back(true);
  if (syncMode != "on") modes.push_back(false);

  double wfloor = writeFloor(root, 200);
  rows.push_back({"floor: durable write (1 KB+fsync+rename+dir fsync)", fmt::format("{:.1f} us", wfloor * 1e6), "", ""});

  for (bool sync : modes) {
    std::string tag = sync ? "fsync" : "no-sync";
    std::string dir = root + "/" + tag;
    fs::create_directories(dir);
    auto st = openBench(dir, sync);
    auto& repo = *st.repo;

    // W1: one block, n sequential update transactions.
    pendCommit(repo, "w1-0", [&] {
      Transforms t;
      t.inserts.emplace_back("w1", blockJson("w1", 200));
      return t;
    }(), 1);
    double cfloorBefore = sync ? 0 : createFloor(dir, 200);
    std::uint64_t created0 = st.env->filesCreated + st.env->filesAppended, renames0 = st.env->renames, fsync0 = st.env->fileSyncs + st.env->dirSyncs;
    // Each pend+commit is timed; the figure is the median, as for the floors, and the
    // mean (which carries the file system's occasional journal stalls) is shown beside it.
    std::vector<double> t1;
    auto s1 = Clock::now();
    for (int i = 1; i <= n; ++i) {
      Transforms t;
      t.updates.emplace_back("w1", Json::array({Json::array({"entries", i % 200, 1, Json::array({fmt::format("update-{:06d}-pad", i)})})}));
      auto s = Clock::now();
      pendCommit(repo, fmt::format("w1-{}", i), t, static_cast<Rev>(i + 1));
      t1.push_back(seconds(Clock::now() - s));
    }
    double w1mean = seconds(Clock::now() - s1) / n;
    double w1 = median(t1);
    // Disk latency drifts over minutes: take the write floor again around W1 and use the mean.
    // Without fsync the floor is a plain write: create, write 1 KB, close, rename.
    double w1floor = sync ? (wfloor + writeFloor(root, 200)) / 2 : (cfloorBefore + createFloor(dir, 200)) / 2;
    double replaceFloor = sync ? 0 : createFloor(dir, 1000, /*replace=*/true);
    double filesPer = double(st.env->filesCreated + st.env->filesAppended - created0) / n;
    double renamesPer = double(st.env->renames - renames0) / n;
    double fsyncsPer = double(st.env->fileSyncs + st.env->dirSyncs - fsync0) / n;
    // Files a pend+commit writes: each file created or appended to, plus the pend→trx rename
    // (every other rename installs a temp file already counted).
    double filesWritten = filesPer + 1;
    (void)renamesPer;

    // W6: bytes on disk per revision after W1, against the transform size.
    std::uint64_t bytes = treeBytes(fs::path(dir) / "w1");
    std::uint64_t trxBytes = 0;
    for (const auto& e : fs::directory_iterator(fs::path(dir) / "w1" / "trx")) trxBytes += e.file_size();
    double perRev = double(bytes) / (n + 1), perTransform = double(trxBytes) / (n + 1);

    // W2: n blocks, each inserted by its own transaction.
    auto s2 = Clock::now();
    for (int i = 0; i < n; ++i) {
      std::string id = fmt::format("w2-{:06d}", i);
      Transforms t;
      t.inserts.emplace_back(id, blockJson(id, 8));
      pendCommit(repo, fmt::format("w2t-{}", i), t, static_cast<Rev>(n + 2 + i));
    }
    double w2 = seconds(Clock::now() - s2) / n;

    // W3 reads random blocks; its read floor reads the same two files (meta.json
    // and the materialized tip) of the same blocks in the same order. The floor
    // on one pair read over and over (every lookup cached) is reported beside it.
    std::vector<int> picks(n);
    std::uniform_int_distribution<int> pick(0, n - 1);
    for (auto& k : picks) k = pick(rng);
    auto filesOf = [&](int k) {
      std::string b = dir + fmt::format("/w2-{:06d}", k);
      return std::make_pair(b + "/meta.json", b + fmt::format("/blocks/w2t-{}.json", k));
    };
    std::vector<std::pair<std::string, std::string>> pickedFiles, hotFiles(2000, filesOf(0));
    for (int k : picks) pickedFiles.push_back(filesOf(k));
    double rfloor = readFloor(pickedFiles);
    double hotFloor = readFloor(hotFiles);
    std::string b0 = dir + "/w2-000000";

    // W3: get latest of random blocks, in process.
    std::vector<double> t3;
    for (int k : picks) {
      std::string id = fmt::format("w2-{:06d}", k);
      auto s = Clock::now();
      auto r = must(repo.get({id}), "get");
      t3.push_back(seconds(Clock::now() - s));
      if (!r.blocks[0].second.block) std::exit(1);
    }
    double w3 = median(t3);

    // W3 as whole processes, against cat of the same two files.
    int procRuns = 200;
    double w3proc = processTime({OPTDB_BINARY, "--store", dir, "get", "w2-000000"}, procRuns);
    double catProc = processTime({"/bin/cat", b0 + "/meta.json", b0 + "/blocks/w2t-0.json"}, procRuns);

    // W4: historical reads at random revisions of W1's block.
    std::vector<double> t4;
    std::size_t maxReplay = 0;
    std::uniform_int_distribution<Rev> pickRev(1, static_cast<Rev>(n + 1));
    for (int i = 0; i < 1000; ++i) {
      Rev r = pickRev(rng);
      auto bs = repo.blockStorage("w1");
      auto s = Clock::now();
      auto b = must(bs.getBlock(r), "historical get");
      t4.push_back(seconds(Clock::now() - s));
      maxReplay = std::max(maxReplay, bs.lastReplayCount());
      if (!b) std::exit(1);
    }
    double w4 = median(t4);

    // W5: a sparse block with revisions 1 and 100,000 (written directly in the layout).
    {
      Transforms t;
      t.inserts.emplace_back("w5", blockJson("w5", 200));
      PendRequest req{"w5-a", t, std::nullopt, Policy::Continue, 0};
      must(repo.pend(req), "pend");
      must(repo.commit("w5-a", {"w5"}, 1), "commit");
      Transforms u;
      u.updates.emplace_back("w5", Json::array({Json::array({"entries", 0, 1, Json::array({"x"})})}));
      must(repo.pend({"w5-b", u, std::nullopt, Policy::Continue, 0}), "pend");
      must(repo.commit("w5-b", {"w5"}, 100000), "commit");
    }
    auto timeAt = [&](Rev r) {
      std::vector<double> t;
      for (int i = 0; i < 500; ++i) {
        auto bs = repo.blockStorage("w5");
        auto s = Clock::now();
        auto b = must(bs.getBlock(r), "sparse get");
        t.push_back(seconds(Clock::now() - s));
      }
      return median(t);
    };
    double w5far = timeAt(99999), w5near = timeAt(2);

    // Memory: peak RSS of W3 and W4 style reads in a fresh process, against one that only opens the store.
    long rssW4 = childPeakRss("w4", dir, n), rssW3 = childPeakRss("w3", dir, n), rssOpen = childPeakRss("open", dir, n);

    auto verdict = [](bool ok) { return ok ? std::string("met") : std::string("NOT met"); };
    rows.push_back({fmt::format("[{}] floor: read two small files", tag),
                    fmt::format("{:.1f} us (W3's blocks); {:.1f} us (one pair, hot)", rfloor * 1e6, hotFloor * 1e6), "", ""});
    if (!sync) {
      rows.push_back({fmt::format("[{}] floor: plain write (create+1 KB+rename)", tag),
                      fmt::format("{:.1f} us = {:.1f}x read floor", w1floor * 1e6, ratio(w1floor, rfloor)), "", ""});
      rows.push_back({fmt::format("[{}] floor: the same, replacing one file 1000x", tag),
                      fmt::format("{:.1f} us = {:.1f}x read floor", replaceFloor * 1e6, ratio(replaceFloor, rfloor)), "", ""});
    }
    rows.push_back({fmt::format("[{}] floor: cat two files (process)", tag), fmt::format("{:.0f} us", catProc * 1e6), "", ""});
    if (sync)
      rows.push_back({fmt::format("[{}] W1 pend+commit", tag),
                      fmt::format("{:.0f} us (mean {:.0f}) = {:.2f}x ({:.1f} files x durable-write floor {:.0f} us); {:.1f} fsyncs",
                                  w1 * 1e6, w1mean * 1e6, ratio(w1, filesWritten * w1floor), filesWritten, w1floor * 1e6,
                                  fsyncsPer),
                      "<= 1.5x files x write floor", verdict(ratio(w1, filesWritten * w1floor) <= 1.5)});
    else
      rows.push_back({fmt::format("[{}] W1 pend+commit", tag),
                      fmt::format("{:.0f} us (mean {:.0f}) = {:.1f}x read floor; {:.1f} files x plain write: {:.2f}x, "
                                  "x replacing write: {:.2f}x",
                                  w1 * 1e6, w1mean * 1e6, ratio(w1, rfloor), filesWritten, ratio(w1, filesWritten * w1floor),
                                  ratio(w1, filesWritten * replaceFloor)),
                      "<= 10x read floor", verdict(ratio(w1, rfloor) <= 10)});
    rows.push_back({fmt::format("[{}] W2 insert one block", tag), fmt::format("{:.0f} us", w2 * 1e6), "", ""});
    rows.push_back({fmt::format("[{}] W3 get latest (in process)", tag),
                    fmt::format("{:.1f} us = {:.2f}x read floor", w3 * 1e6, ratio(w3, rfloor)), "<= 3x", verdict(ratio(w3, rfloor) <= 3)});
    rows.push_back({fmt::format("[{}] W3 optdb get (process)", tag),
                    fmt::format("{:.0f} us = {:.2f}x cat", w3proc * 1e6, ratio(w3proc, catProc)), "<= 3x",
                    verdict(ratio(w3proc, catProc) <= 3)});
    rows.push_back({fmt::format("[{}] W4 historical get", tag),
                    fmt::format("{:.1f} us = {:.2f}x W3; max replay {}", w4 * 1e6, ratio(w4, w3), maxReplay),
                    "<= 8x W3, replay <= 32", verdict(ratio(w4, w3) <= 8 && maxReplay <= 32)});
    rows.push_back({fmt::format("[{}] W5 sparse: rev 99999 vs 2", tag),
                    fmt::format("{:.1f} us vs {:.1f} us = {:.2f}x", w5far * 1e6, w5near * 1e6, ratio(w5far, w5near)),
                    "<= 1.5x", verdict(ratio(w5far, w5near) <= 1.5)});
    rows.push_back({fmt::format("[{}] W6 bytes per revision", tag),
                    fmt::format("{:.0f} B = {:.2f}x transform ({:.0f} B)", perRev, ratio(perRev, perTransform), perTransform),
                    "<= 10x", verdict(ratio(perRev, perTransform) <= 10)});
    rows.push_back({fmt::format("[{}] peak RSS: 200 historical reads / 200 gets / open only", tag),
                    fmt::format("{} KiB / {} KiB / {} KiB", rssW4, rssW3, rssOpen), "flat in n", ""});
  }

  fmt::print("{:<52} | {:<70} | {:<28} | {}\n", "workload (n = " + std::to_string(n) + ")", "figure", "target", "");
  fmt::print("{}\n", std::string(170, '-'));
  for (const auto& r : rows) fmt::print("{:<52} | {:<70} | {:<28} | {}\n", r.name, r.figure, r.target, r.verdict);
  fs::remove_all(root);
  return 0;
}
