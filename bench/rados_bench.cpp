// Issue 17: the rados: backend's get, pend and durable commit of one block,
// against the librados floor measured in the same run on the same connection
// (a 1 KiB write round trip, a read round trip), with the round trips each
// operation waited for, as RadosRawStorage counts them.
//   CEPH_CONF=… optdb_rados_bench [N [POOL]]
// N (default 300) timed repetitions of each operation after 20 untimed ones;
// POOL defaults to optdb. Everything happens in a fresh namespace bench-<pid>
// of POOL, emptied at the end. Exit 0; 1 with a message on an error; 77 when
// $CEPH_CONF is unset (no cluster to measure).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "optdb/json.hpp"
#include "optdb/rados_raw_storage.hpp"
#include "optdb/store.hpp"
#include "rados_client.hpp"
#include "timing.hpp"

using namespace optdb;
using optdb::bench::Clock;

namespace {

constexpr int kWarmUp = 20;

// Errors unwind to main, which empties the namespace before exiting 1.
[[noreturn]] void fail(const std::string& what, const Status& s) {
  throw std::runtime_error(what + ": " + s.message());
}
template <typename T>
T need(Result<T> r, const std::string& what) {
  if (!r) fail(what, r.status());
  return std::move(r.value());
}
void need(const Status& s, const std::string& what) {
  if (!s) fail(what, s);
}

// Times one repetition and the round trips it waited for.
struct Sample {
  double us;
  std::uint64_t reads, writes;
};

struct Row {
  std::string name;
  std::vector<Sample> samples;
  double floorUs = 0;  // the floor it is compared with
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * (v.size() - 1) + 0.5)];
}

// "2" when every repetition made the same number, else "min-max".
std::string countRange(const std::vector<Sample>& s, std::uint64_t Sample::*field) {
  auto [lo, hi] = std::minmax_element(s.begin(), s.end(), [&](const Sample& a, const Sample& b) {
    return a.*field < b.*field;
  });
  return (*lo).*field == (*hi).*field ? std::to_string((*lo).*field)
                                      : fmt::format("{}-{}", (*lo).*field, (*hi).*field);
}

std::vector<double> times(const Row& r) {
  std::vector<double> us;
  for (const auto& s : r.samples) us.push_back(s.us);
  return us;
}

// The round trips so far as {reads, writes}: the floor's pool's or the store's.
using Counter = std::function<std::pair<std::uint64_t, std::uint64_t>()>;

Sample timed(const Counter& counts, const std::function<void()>& op) {
  const auto before = counts();
  const auto t0 = Clock::now();
  op();
  const auto t1 = Clock::now();
  const auto after = counts();
  return {std::chrono::duration<double, std::micro>(t1 - t0).count(), after.first - before.first,
          after.second - before.second};
}

// `op` kWarmUp times untimed (connections, caches, the OSD's own warm-up), then n times timed.
std::vector<Sample> measure(int n, const Counter& counts, const std::function<void()>& op) {
  for (int i = 0; i < kWarmUp; ++i) op();
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) out.push_back(timed(counts, op));
  return out;
}

Transforms transforms(const std::string& text) {
  return need(decodeTransforms(need(parseJson(text, "transforms"), "transforms"), "transforms"), "transforms");
}

void pendOrFail(Store& store, const TrxId& trx, const std::string& text, Rev rev) {
  PendRequest req;
  req.trxId = trx;
  req.transforms = transforms(text);
  req.rev = rev;  // the revision it is to commit at, as the CLI's --rev: the stale check runs too
  auto r = need(store.pend(req), "pend " + trx);
  if (r.outcome != PendResult::Outcome::Pended)
    throw std::runtime_error("pend " + trx + ": not pended: " + r.toJson().dump());
}

void commitOrFail(Store& store, const TrxId& trx, Rev rev) {
  if (!need(store.commit(trx, {"b"}, rev), "commit " + trx).success)
    throw std::runtime_error("commit " + trx + ": stale");
}

struct Rows {
  Row writeFloor, readFloor, get, pend, commit;
};

Rows run(const std::string& location, int n, rados::Pool& floor) {
  Rows rows;
  const Counter floorCounts = [&] {
    auto c = floor.counts();
    return std::pair{c.reads, c.writes};
  };

  // 1. The floor: one write round trip and one read round trip of 1 KiB.
  rados::WriteOp kib;
  kib.data = std::string(1024, 'x');
  rows.writeFloor = {"librados write 1 KiB",
                    measure(n, floorCounts, [&] { need(floor.write("floor", kib), "floor write"); })};
  rows.readFloor = {"librados read 1 KiB", measure(n, floorCounts, [&] {
                      if (!need(floor.read("floor"), "floor read")) throw std::runtime_error("floor read: no object");
                    })};
  const double writeFloor = percentile(times(rows.writeFloor), 0.5);
  const double readFloor = percentile(times(rows.readFloor), 0.5);
  rows.writeFloor.floorUs = writeFloor;
  rows.readFloor.floorUs = readFloor;

  // The store, in the same namespace (its objects have names of their own),
  // durable, as the CLI opens it.
  auto store = Store::open(location, StoreOptions{true, 30, Dialect::Trx, ""});
  auto* raw = dynamic_cast<RadosRawStorage*>(&store->raw());
  if (!raw) throw std::runtime_error("the store is not a RadosRawStorage");
  const Counter storeCounts = [raw] { return raw->roundTripsByKind(); };

  // Block b with one committed revision; its list of 20 entries keeps its size
  // (each update replaces the first), so every repetition does the same work.
  std::string entries;
  for (int i = 0; i < 20; ++i) entries += fmt::format("{}\"entry-{:02d}-{}\"", i ? "," : "", i, std::string(30, 'x'));
  pendOrFail(*store, "t0",
             R"({"inserts":{"b":{"header":{"id":"b","type":"note","collectionId":"c"},"l":[)" + entries + "]}}}", 1);
  commitOrFail(*store, "t0", 1);

  // 2. get of the block.
  rows.get = {"get 1 block", measure(n, storeCounts, [&] {
                auto r = need(store->get({"b"}), "get");
                if (r.anyMissing()) throw std::runtime_error("get: block b missing");
              }), readFloor};

  // 3. pend then commit of one update a repetition at the next revision,
  // timed apart; the first kWarmUp pairs are not kept.
  std::vector<Sample> pends, commits;
  const Rev last = 1 + kWarmUp + static_cast<Rev>(n);
  for (Rev rev = 2; rev <= last; ++rev) {
    const TrxId trx = fmt::format("u{}", rev);
    const std::string update = fmt::format(R"({{"updates":{{"b":[["l",0,1,["{}"]]]}}}})", trx);
    auto pend = timed(storeCounts, [&] { pendOrFail(*store, trx, update, rev); });
    auto commit = timed(storeCounts, [&] { commitOrFail(*store, trx, rev); });
    if (rev > 1 + kWarmUp) {
      pends.push_back(pend);
      commits.push_back(commit);
    }
  }

  rows.pend = {"pend 1 block", std::move(pends), writeFloor};
  rows.commit = {"commit 1 block (durable)", std::move(commits), writeFloor};
  return rows;
}

void print(const Rows& rows, const std::string& where, int n) {
  std::printf("rados bench (issue 17): %s, N=%d after %d warm-ups; times in us, round trips per operation\n",
              where.c_str(), n, kWarmUp);
  std::printf("%-26s %10s %10s %9s %10s %7s\n", "operation", "median_us", "p90_us", "x_floor", "reads", "writes");
  for (const Row* row : {&rows.writeFloor, &rows.readFloor, &rows.get, &rows.pend, &rows.commit}) {
    const Row& r = *row;
    const auto us = times(r);
    const double med = percentile(us, 0.5);
    std::printf("%-26s %10.1f %10.1f %9.2f %10s %7s\n", r.name.c_str(), med, percentile(us, 0.9), med / r.floorUs,
                countRange(r.samples, &Sample::reads).c_str(), countRange(r.samples, &Sample::writes).c_str());
  }
  std::printf("x_floor: against the write floor for pend and commit, the read floor for get\n");

  // The targets of issue 17, checked on the worst repetition.
  auto most = [](const Row& r, std::uint64_t Sample::*f) {
    std::uint64_t m = 0;
    for (const auto& s : r.samples) m = std::max(m, s.*f);
    return m;
  };
  const Row& get = rows.get;
  const Row& commit = rows.commit;
  const auto getTrips = most(get, &Sample::reads) + most(get, &Sample::writes);
  const auto commitWrites = most(commit, &Sample::writes);
  std::printf("target: a get at most 3 round trips: %llu (%s)\n", static_cast<unsigned long long>(getTrips),
              getTrips <= 3 ? "met" : "NOT met");
  std::printf("target: a single-block commit at most 4 write round trips plus its reads: %llu writes + %llu reads (%s)\n",
              static_cast<unsigned long long>(commitWrites), static_cast<unsigned long long>(most(commit, &Sample::reads)),
              commitWrites <= 4 ? "met" : "NOT met");
}

// Removes every object of the namespace; a leftover is reported, not fatal.
bool empty(rados::Pool& pool) {
  auto names = pool.list();
  if (!names) {
    std::fprintf(stderr, "rados_bench: cleanup: %s\n", names.status().message().c_str());
    return false;
  }
  bool ok = true;
  rados::WriteOp remove;
  remove.remove = true;
  for (const auto& oid : names.value()) {
    if (Status s = pool.write(oid, remove); !s) {
      std::fprintf(stderr, "rados_bench: cleanup: %s\n", s.message().c_str());
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const char* confEnv = std::getenv("CEPH_CONF");
  if (!confEnv || !*confEnv) {
    std::fprintf(stderr, "rados_bench: $CEPH_CONF is not set: no cluster to measure (skipped)\n");
    return 77;
  }
  const int n = argc > 1 ? std::atoi(argv[1]) : 300;
  const std::string poolName = argc > 2 ? argv[2] : "optdb";
  if (n < 1 || argc > 3) {
    std::fprintf(stderr, "usage: %s [N>=1 [POOL]]\n", argv[0]);
    return 1;
  }
  // The client the store will use ($CEPH_ID or admin), so both share one connection.
  const RadosOptions o = radosOptionsFromEnvironment("", std::nullopt);
  const std::string nspace = fmt::format("bench-{}", ::getpid());

  auto floor = rados::Pool::open(o.conf, o.client, poolName, nspace);
  if (!floor) {
    std::fprintf(stderr, "rados_bench: %s\n", floor.status().message().c_str());
    return 1;
  }
  int rc = 0;
  try {
    const std::string location = fmt::format("rados:{}/{}", poolName, nspace);
    print(run(location, n, *floor.value()), location, n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rados_bench: %s\n", e.what());
    rc = 1;
  }
  // After the store is gone (its locks released), so nothing is left behind.
  if (!empty(*floor.value()) && rc == 0) rc = 1;
  return rc;
}
