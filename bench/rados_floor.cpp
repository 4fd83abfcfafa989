// The librados floor for issue 17: what single RADOS round trips cost on the
// cluster at hand, measured with the C++ API alone (no optdb code), so the
// RADOS backend's get and commit can be compared with it in the same run.
//
//   g++ -O2 bench/rados_floor.cpp -lrados -o /tmp/rados_floor
//   /tmp/rados_floor CEPH_CONF POOL [N [NAMESPACE]]
//
// N (default 500) timed repetitions of each operation, after 20 untimed ones;
// every operation is synchronous, one after the other, on objects named
// floor.<pid>.* in POOL (and NAMESPACE, default none), removed at the end.
// Prints median, 90th percentile and minimum in microseconds. The client is
// $CEPH_ID (default admin). Exit 0, or 1 with a message on any error.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <rados/librados.hpp>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what, int r) {
  std::fprintf(stderr, "rados_floor: %s: %s (%d)\n", what.c_str(), std::strerror(-r), r);
  std::exit(1);
}

void check(const std::string& what, int r) {
  if (r < 0) die(what, r);
}

struct Row {
  std::string name;
  double median, p90, min;
};

// Runs f(i) for i in [0, warm) untimed and [warm, warm + n) timed.
Row measure(const std::string& name, int n, const std::function<void(int)>& f) {
  const int warm = 20;
  for (int i = 0; i < warm; ++i) f(i);
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f(warm + i);
    auto t1 = Clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {name, us[us.size() / 2], us[(us.size() * 9) / 10], us.front()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: %s CEPH_CONF POOL [N [NAMESPACE]]\n", argv[0]);
    return 2;
  }
  const char* conf = argv[1];
  const char* pool = argv[2];
  const int n = argc > 3 ? std::atoi(argv[3]) : 500;
  const std::string nspace = argc > 4 ? argv[4] : "";
  if (n < 1) {
    std::fprintf(stderr, "rados_floor: N must be at least 1\n");
    return 2;
  }

  librados::Rados cluster;
  const char* id = std::getenv("CEPH_ID");
  check("init", cluster.init(id && *id ? id : "admin"));
  check(std::string("conf_read_file ") + conf, cluster.conf_read_file(conf));
  // A stuck cluster fails the run instead of hanging it.
  check("conf_set", cluster.conf_set("rados_osd_op_timeout", "30"));
  check("conf_set", cluster.conf_set("client_mount_timeout", "30"));
  check("connect", cluster.connect());
  librados::IoCtx io;
  check(std::string("ioctx_create ") + pool, cluster.ioctx_create(pool, io));
  io.set_namespace(nspace);

  const std::string prefix = "floor." + std::to_string(getpid()) + ".";
  const std::string obj = prefix + "o";
  std::vector<std::string> created;  // removed at the end
  created.push_back(obj);

  librados::bufferlist kib;
  kib.append(std::string(1024, 'x'));

  std::vector<Row> rows;

  // 1. write_full of a 1 KiB object (IoCtx::write_full takes the buffer's
  // contents, so each call gets a copy).
  rows.push_back(measure("write_full 1 KiB", n, [&](int) {
    librados::bufferlist bl = kib;
    check("write_full", io.write_full(obj, bl));
  }));

  // 2. read it back.
  rows.push_back(measure("read 1 KiB", n, [&](int) {
    librados::bufferlist bl;
    int r = io.read(obj, bl, 1024, 0);
    check("read", r);
    if (r != 1024) die("read returned a short object", -EIO);
  }));

  // 3. omap_get_vals_by_keys of one key (present).
  {
    std::map<std::string, librados::bufferlist> kv;
    kv["rev.00000001"].append(std::string(64, 'r'));
    check("omap_set", io.omap_set(obj, kv));
  }
  const std::set<std::string> one_key{"rev.00000001"};
  rows.push_back(measure("omap_get_vals_by_keys 1 key", n, [&](int) {
    std::map<std::string, librados::bufferlist> vals;
    check("omap_get_vals_by_keys", io.omap_get_vals_by_keys(obj, one_key, &vals));
    if (vals.size() != 1) die("omap_get_vals_by_keys lost the key", -EIO);
  }));

  // 4. a guarded compound write on one object: cmpxattr(ver == i) guard,
  // write_full 1 KiB, setxattr(ver = i + 1), omap_set of one new key: a
  // compare-and-swap that also appends to the revision index.
  const std::string cas = prefix + "cas";
  created.push_back(cas);
  {
    librados::bufferlist v;
    v.append("0");
    librados::bufferlist body = kib;
    check("write_full", io.write_full(cas, body));
    check("setxattr", io.setxattr(cas, "ver", v));
  }
  rows.push_back(measure("cmpxattr+write_full+setxattr+omap_set", n, [&](int i) {
    librados::ObjectWriteOperation op;
    op.cmpxattr("ver", LIBRADOS_CMPXATTR_OP_EQ, static_cast<uint64_t>(i));
    op.write_full(kib);
    librados::bufferlist next;
    next.append(std::to_string(i + 1));
    op.setxattr("ver", next);
    std::map<std::string, librados::bufferlist> kv;
    char key[32];
    std::snprintf(key, sizeof key, "rev.%08d", i + 1);
    kv[key].append(std::string(64, 'r'));
    op.omap_set(kv);
    check("compound write", io.operate(cas, &op));
  }));
  {  // the guard must refuse a stale version, and change nothing
    librados::ObjectWriteOperation op;
    op.cmpxattr("ver", LIBRADOS_CMPXATTR_OP_EQ, static_cast<uint64_t>(0));
    op.write_full(kib);
    int r = io.operate(cas, &op);
    if (r != -ECANCELED) die("a failed cmpxattr guard did not return -ECANCELED", r < 0 ? r : -EIO);
  }

  // 5. exclusive create of a new object each time.
  const int total = 20 + n;
  rows.push_back(measure("create(exclusive) new object", n, [&](int i) {
    std::string o = prefix + "c." + std::to_string(i);
    librados::ObjectWriteOperation op;
    op.create(true);
    check("create", io.operate(o, &op));
  }));
  for (int i = 0; i < total; ++i) created.push_back(prefix + "c." + std::to_string(i));
  {  // a second exclusive create must fail with -EEXIST
    librados::ObjectWriteOperation op;
    op.create(true);
    int r = io.operate(prefix + "c.0", &op);
    if (r != -EEXIST) die("a second exclusive create did not return -EEXIST", r < 0 ? r : -EIO);
  }

  // Extra: one compound read, as a get would do it: getxattr + one omap key
  // + the data, in one round trip.
  rows.push_back(measure("read op: getxattr+omap key+read", n, [&](int) {
    librados::ObjectReadOperation op;
    librados::bufferlist ver, data;
    std::map<std::string, librados::bufferlist> vals;
    int r1 = 0, r2 = 0, r3 = 0;
    op.getxattr("ver", &ver, &r1);
    op.omap_get_vals_by_keys(one_key, &vals, &r2);
    op.read(0, 1024, &data, &r3);
    check("read op", io.operate(cas, &op, nullptr));
    check("read op getxattr", r1);
    check("read op omap", r2);
    check("read op read", r3);
  }));

  for (const auto& o : created) {
    int r = io.remove(o);
    if (r < 0 && r != -ENOENT) check("remove " + o, r);
  }

  int major = 0, minor = 0, extra = 0;
  librados::Rados::version(&major, &minor, &extra);
  std::printf("librados %d.%d.%d, pool %s%s%s, N=%d (after 20 warm-up)\n", major, minor, extra,
              pool, nspace.empty() ? "" : "/", nspace.c_str(), n);
  std::printf("%-40s %10s %10s %10s\n", "operation", "median_us", "p90_us", "min_us");
  for (const auto& r : rows)
    std::printf("%-40s %10.1f %10.1f %10.1f\n", r.name.c_str(), r.median, r.p90, r.min);
  io.close();
  cluster.shutdown();
  return 0;
}
