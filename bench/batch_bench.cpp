// Benchmark of issue 14: optdb batch against one process per request and
// against the same calls through libstore, all in one run (ratios only: the
// machine is shared), and the peak memory of batches of growing length.
//
//   optdb_batch_bench [--n 20000] [--procs 300] [--long 1000000] [--dir /tmp]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "child_process.hpp"
#include "optdb/storage_repo.hpp"

namespace fs = std::filesystem;
using namespace optdb;
using Clock = std::chrono::steady_clock;
using optdb::bench::Child;
using optdb::bench::runChild;

namespace {

constexpr int kBlocks = 100;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string blockId(int i) { return fmt::format("g{:03d}", i); }

std::string blockJson(const std::string& id) {
  return fmt::format(R"({{"header":{{"id":"{}","type":"bench","collectionId":"c"}},"v":[]}})", id);
}

void writeAll(int fd, const std::string& s) {
  for (std::size_t at = 0; at < s.size();) {
    ssize_t n = ::write(fd, s.data() + at, s.size() - at);
    if (n <= 0) std::exit(1);
    at += static_cast<std::size_t>(n);
  }
}

std::string getLine(int i) { return R"({"op":"get","blockIds":[")" + blockId(i % kBlocks) + "\"]}\n"; }

// pend + commit of the k-th update of block "w", at revision k + 1.
std::string pendLine(int k) {
  return fmt::format(R"({{"op":"pend","trxId":"u{}","transforms":{{"updates":{{"w":[["v",0,0,[{}]]]}}}}}})", k, k) + "\n";
}
std::string commitLine(int k) {
  return fmt::format(R"({{"op":"commit","trxId":"u{}","blockIds":["w"],"rev":{}}})", k, k + 1) + "\n";
}

// A store with kBlocks committed blocks and block "w" inserted at revision 1.
void seed(const std::string& dir) {
  StoreOptions o;
  o.sync = false;
  auto repo = openStore(dir, o);
  for (int i = 0; i <= kBlocks; ++i) {
    const std::string id = i < kBlocks ? blockId(i) : "w";
    PendRequest p;
    p.trxId = "seed-" + id;
    auto t = decodeTransforms(Json::parse(R"({"inserts":{")" + id + "\":" + blockJson(id) + "}}"), "seed");
    if (!t) std::exit(1);
    p.transforms = *t;
    if (!repo->pend(p) || !repo->commit(p.trxId, {id}, 1)) std::exit(1);
  }
}

std::string arg(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == std::string(argv[i])) return argv[i + 1];
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = std::stoi(arg(argc, argv, "--n", "20000"));
  const int procs = std::stoi(arg(argc, argv, "--procs", "300"));
  const long longRun = std::stol(arg(argc, argv, "--long", "1000000"));
  const fs::path base = fs::path(arg(argc, argv, "--dir", fs::temp_directory_path().string())) /
                        fmt::format("optdb-batch-bench-{}", ::getpid());
  fs::create_directories(base);
  const std::string bin = OPTDB_BINARY;

  // ---- get ----
  const std::string readStore = (base / "read").string();
  seed(readStore);
  StoreOptions o;
  o.sync = false;
  auto repo = openStore(readStore, o);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i)
    if (!repo->get({blockId(i % kBlocks)})) std::exit(1);
  const double libGet = since(t0) / n;
  std::string gets;
  for (int i = 0; i < n; ++i) gets += getLine(i);
  Child batchGets = runChild({bin, "--store", readStore, "batch"}, [&](int fd) { writeAll(fd, gets); });
  const double batchGet = batchGets.seconds / n;
  t0 = Clock::now();
  for (int i = 0; i < procs; ++i)
    if (runChild({bin, "--store", readStore, "get", blockId(i % kBlocks)}, {}).status != 0) std::exit(1);
  const double procGet = since(t0) / procs;

  // ---- --no-sync pend + commit on one block ----
  const std::string libStore = (base / "write-lib").string(), batchStore = (base / "write-batch").string(),
                    procStore = (base / "write-proc").string();
  for (const auto& s : {libStore, batchStore, procStore}) seed(s);
  auto wrepo = openStore(libStore, o);
  t0 = Clock::now();
  for (int k = 1; k <= n / 4; ++k) {
    PendRequest p;
    p.trxId = fmt::format("u{}", k);
    p.transforms.updates.emplace_back("w", Json::parse(fmt::format(R"([["v",0,0,[{}]]])", k)));
    if (!wrepo->pend(p) || !wrepo->commit(p.trxId, {"w"}, k + 1)) std::exit(1);
  }
  const double libWrite = since(t0) / (n / 4);
  std::string writes;
  for (int k = 1; k <= n / 4; ++k) writes += pendLine(k) + commitLine(k);
  Child batchWrites = runChild({bin, "--no-sync", "--store", batchStore, "batch"}, [&](int fd) { writeAll(fd, writes); });
  const double batchWrite = batchWrites.seconds / (n / 4);
  const int procWrites = procs / 2;
  t0 = Clock::now();
  for (int k = 1; k <= procWrites; ++k) {
    const std::string body = fmt::format(R"({{"updates":{{"w":[["v",0,0,[{}]]]}}}})", k);
    if (runChild({bin, "--no-sync", "--store", procStore, "pend", "--trx", fmt::format("u{}", k)},
                 [&](int fd) { writeAll(fd, body); })
            .status != 0)
      std::exit(1);
    if (runChild({bin, "--no-sync", "--store", procStore, "commit", "--trx", fmt::format("u{}", k), "--rev",
                  std::to_string(k + 1), "w"},
                 {})
            .status != 0)
      std::exit(1);
  }
  const double procWrite = since(t0) / procWrites;

  // ---- memory: batches of gets growing 100-fold, streamed through a pipe ----
  auto streamGets = [&](long count) {
    return runChild({bin, "--store", readStore, "batch"}, [&](int fd) {
      std::string chunk;
      for (long i = 0; i < count; ++i) {
        chunk += getLine(static_cast<int>(i));
        if (chunk.size() > 65536) {
          writeAll(fd, chunk);
          chunk.clear();
        }
      }
      writeAll(fd, chunk);
    });
  };
  Child shortRun = streamGets(longRun / 100), longBatch = streamGets(longRun);

  auto verdict = [](bool ok) { return ok ? "met" : "NOT MET"; };
  fmt::print("optdb batch (issue 14), {} requests a batch, {} processes; one run on this machine\n\n", n, procs);
  fmt::print("{:<38} {:>12} {:>12} {:>12}  {}\n", "", "libstore", "batch", "1 process", "ratios");
  fmt::print("{:<38} {:>9.1f} us {:>9.1f} us {:>9.1f} us  batch {:.1f}x processes' rate (target >= 20x: {}); "
             "{:.2f}x libstore (target <= 1.5x: {})\n",
             "get (one block of 100)", libGet * 1e6, batchGet * 1e6, procGet * 1e6, procGet / batchGet,
             verdict(procGet / batchGet >= 20), batchGet / libGet, verdict(batchGet / libGet <= 1.5));
  fmt::print("{:<38} {:>9.1f} us {:>9.1f} us {:>9.1f} us  batch {:.1f}x processes' rate (target >= 3x: {}); "
             "{:.2f}x libstore (target <= 1.5x: {})\n",
             "--no-sync pend+commit (one block)", libWrite * 1e6, batchWrite * 1e6, procWrite * 1e6,
             procWrite / batchWrite, verdict(procWrite / batchWrite >= 3), batchWrite / libWrite,
             verdict(batchWrite / libWrite <= 1.5));
  fmt::print("{:<38} {} gets: {} KiB peak, {:.1f} s; {} gets: {} KiB peak, {:.1f} s (flat: {})\n", "batch memory",
             longRun / 100, shortRun.peakKiB, shortRun.seconds, longRun, longBatch.peakKiB, longBatch.seconds,
             verdict(longBatch.status == 0 && longBatch.peakKiB <= shortRun.peakKiB * 1.1 + 1024));
  std::error_code ec;
  fs::remove_all(base, ec);
  return 0;
}
