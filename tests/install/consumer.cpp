// Commits a block into the store named by argv[1] and prints what get reads.
#include <cstdio>

#include "optdb/codec.hpp"
#include "optdb/storage_repo.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto repo = optdb::openStore(argv[1]);
  optdb::PendRequest p;
  p.trxId = "c1";
  auto t = optdb::decodeTransforms(
      optdb::Json::parse(R"({"inserts":{"k":{"header":{"id":"k","type":"t","collectionId":"c"},"n":42}}})"), "t");
  if (!t) return 1;
  p.transforms = *t;
  if (!repo->pend(p) || !repo->commit("c1", {"k"}, 1)) return 1;
  auto got = repo->get({"k"});
  if (!got) return 1;
  std::puts(optdb::toJson(got->toJson()).c_str());
  return 0;
}
