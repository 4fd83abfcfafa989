// Tests on a rados: store (tests/rados/with_cluster.sh runs them on a
// one-node cluster): which backends a test runs on, a fresh namespace per
// store, and a store's whole content for before/after comparisons.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "optdb/rados_raw_storage.hpp"
#include "rados_client.hpp"

namespace optdb::test_support {

// OPTDB_TEST_BACKEND=rados (with_cluster.sh): the backends are rados alone;
// otherwise `fallback`.
inline std::vector<std::string> testBackends(std::vector<std::string> fallback) {
  const char* b = std::getenv("OPTDB_TEST_BACKEND");
  if (b && std::string(b) == "rados") return {"rados"};
  return fallback;
}

// rados:POOL/NAMESPACE, a namespace no other test uses.
inline std::string freshRadosStore(const std::string& what) {
  static std::atomic<int> serial{0};
  const char* pool = std::getenv("OPTDB_TEST_RADOS_POOL");
  return fmt::format("rados:{}/{}-{}-{}", pool ? pool : "optdb", what, ::getpid(), ++serial);
}

inline RadosOptions testRadosOptions(std::optional<Dialect> layout) {
  RadosOptions o = radosOptionsFromEnvironment("", layout);
  o.leaseSeconds = 10;
  return o;
}

// Every object of the store's namespace with its bytes and omap entries; an
// object holding nothing (made by a lock alone) is no data. A pending item's
// index value carries its write time, left out as a file's mtime is.
inline std::map<std::string, std::string> radosTree(const std::string& location) {
  auto l = parseRadosLocation(location).value();
  auto conf = radosOptionsFromEnvironment("", std::nullopt);
  auto pool = rados::Pool::open(conf.conf, conf.client, l.pool, l.nspace).value();
  std::map<std::string, std::string> out;
  for (const auto& name : pool->list().value()) {
    auto data = pool->read(name).value();
    auto omap = pool->omapList(name, "").value();
    if ((!data || data->empty()) && omap.empty()) continue;
    if (data && !data->empty()) out[name] = *data;
    for (const auto& [k, v] : omap)
      out[name + "#" + k] = k.rfind("p.", 0) == 0 && name.rfind("b.", 0) == 0 ? v.substr(0, v.find(' ')) : v;
  }
  return out;
}

}  // namespace optdb::test_support
