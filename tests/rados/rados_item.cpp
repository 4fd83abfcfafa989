// optdb_rados_item: what the CLI tests need to look inside a rados: store
// (the counterpart of cat, printf > and find on a directory store).
//
//   optdb_rados_item dump STORE        every item, sorted: "NAME sha256-less digest", one a line
//   optdb_rados_item get STORE ITEM    the item's bytes on stdout; exit 1 when absent
//   optdb_rados_item put STORE ITEM    stdin becomes the item
//   optdb_rados_item hold STORE BLOCK  takes the block's lock (lease: $OPTDB_RADOS_LEASE),
//                                      prints "locked", waits for a line on stdin, then
//                                      writes the block's metadata as a writer would and
//                                      prints the outcome: a holder that stalled past its
//                                      lease must write nothing
//
// STORE is rados:POOL[/NAMESPACE] on the cluster of $CEPH_CONF; ITEM is an
// object's name, or OBJECT#KEY for an omap entry.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "rados_client.hpp"
#include "rados_support.hpp"

using namespace optdb;

namespace {

// FNV-1a, 64 bits: enough to tell two states of a small test store apart.
std::string digest(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x} {}", h, s.size());
}

int fail(const std::string& why) {
  std::fprintf(stderr, "optdb_rados_item: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: dump STORE | get STORE ITEM | put STORE ITEM");
  const std::string cmd = argv[1], store = argv[2];
  if (cmd == "dump") {
    for (const auto& [name, bytes] : test_support::radosTree(store)) std::printf("%s %s\n", name.c_str(), digest(bytes).c_str());
    return 0;
  }
  if (argc < 4) return fail("get and put take an ITEM");
  if (cmd == "hold") {
    RadosRawStorage raw(store, radosOptionsFromEnvironment("", Dialect::Trx));
    auto lock = raw.lockBlock(argv[3], 30);
    if (!lock) return fail(lock.status().message());
    std::printf("locked\n");
    std::fflush(stdout);
    std::string line;
    std::getline(std::cin, line);
    Status s = raw.saveMeta(argv[3], BlockMeta{});
    if (s) s = raw.persist();
    std::printf("%s\n", s ? "written" : s.message().c_str());
    return s ? 0 : static_cast<int>(s.code());
  }
  auto l = parseRadosLocation(store);
  if (!l) return fail(l.status().message());
  auto o = radosOptionsFromEnvironment("", std::nullopt);
  auto pool = rados::Pool::open(o.conf, o.client, l->pool, l->nspace);
  if (!pool) return fail(pool.status().message());
  const std::string item = argv[3];
  const auto hash = item.find('#');
  const std::string object = item.substr(0, hash);
  if (cmd == "get") {
    std::optional<std::string> got;
    if (hash == std::string::npos) {
      auto r = (*pool)->read(object);
      if (!r) return fail(r.status().message());
      got = *r;
    } else {
      const std::string key = item.substr(hash + 1);
      auto r = (*pool)->omapGet(object, {key});
      if (!r) return fail(r.status().message());
      if (r->count(key)) got = r->at(key);
    }
    if (!got) return 1;
    std::fwrite(got->data(), 1, got->size(), stdout);
    return 0;
  }
  if (cmd == "put") {
    std::string bytes((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    rados::WriteOp op;
    if (hash == std::string::npos) op.data = bytes;
    else op.omapSet[item.substr(hash + 1)] = bytes;
    Status s = (*pool)->write(object, op);
    return s ? 0 : fail(s.message());
  }
  return fail("unknown command " + cmd);
}
