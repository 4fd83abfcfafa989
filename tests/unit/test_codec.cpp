// The codecs of model types and the model's rules, one module at a time:
// meta.json in both dialects, TrxRev, ranges, Transforms, and "set latest".
#include "optdb/codec.hpp"
#include "support.hpp"

using namespace optdb;
using namespace optdb::test_support;

// The value of a temporary Result is a value, never a reference into it
// (which a range-for over f().value() would use after the Result died).
static_assert(std::is_same_v<decltype(std::declval<Result<std::vector<int>>>().value()), std::vector<int>>);

namespace {

BlockMeta meta(const std::string& text) {
  auto m = decodeMeta(parse(text), "meta");
  INFO(text << ": " << m.status().message());
  REQUIRE(m.isOk());
  return *m;
}

std::string text(const BlockMeta& m) { return toJson(encodeMeta(m)); }

}  // namespace

TEST_CASE("meta.json: each dialect decoded and written back byte for byte", "[codec]") {
  for (const char* t : {R"({"ranges":[[0]],"latest":{"trxId":"a","rev":2}})",
                        R"({"ranges":[[1]],"latest":{"actionId":"tx:a","rev":2}})", R"({"ranges":[]})",
                        R"({"ranges":[[0,4],[6]]})"}) {
    INFO(t);
    CHECK(text(meta(t)) == t);
  }
  CHECK(meta(R"({"ranges":[[1]],"latest":{"actionId":"a","rev":2}})").dialect == Dialect::Actions);
  CHECK(meta(R"({"ranges":[[1]],"latest":{"trxId":"a","rev":2}})").dialect == Dialect::Trx);
  // What readers also accept: [s,null] for [s]; written the upstream way.
  CHECK(text(meta(R"({"ranges":[[2,null]],"latest":{"actionId":"a","rev":2}})")) ==
        R"({"ranges":[[2]],"latest":{"actionId":"a","rev":2}})");
  for (const char* bad : {R"({"latest":{"trxId":"a","rev":1}})", R"({"ranges":[[3,2]]})", R"({"ranges":[[-1]]})",
                          R"({"ranges":[],"latest":{"rev":1}})", R"({"ranges":[],"latest":{"trxId":"a"}})"}) {
    INFO(bad);
    CHECK(decodeMeta(parse(bad), "meta").status().code() == Code::InvalidInput);
  }
}

TEST_CASE("TrxRev: either id member, a missing rev only where a key gives it", "[codec]") {
  Dialect seen = Dialect::Trx;
  auto a = decodeTrxRev(parse(R"({"actionId":"x","transform":{}})"), "e", &seen, Rev{7});
  REQUIRE(a.isOk());
  CHECK(a->rev == 7);
  CHECK(seen == Dialect::Actions);
  CHECK(decodeTrxRev(parse(R"({"actionId":"x"})"), "e").status().code() == Code::InvalidInput);
  CHECK(toJson(encodeTrxRev({"x", 3}, Dialect::Actions)) == R"({"actionId":"x","rev":3})");
  CHECK(toJson(encodeTrxRev({"x", 3})) == R"({"trxId":"x","rev":3})");
}

TEST_CASE("Transforms: upstream's empty deletes {} read, [] written, a Transform's member order", "[codec]") {
  auto t = decodeTransforms(parse(R"({"updates":{"b":[["v",0,0,[1]]]},"deletes":{}})"), "t");
  REQUIRE(t.isOk());
  CHECK(toJson(encodeTransforms(*t)) == R"({"inserts":{},"updates":{"b":[["v",0,0,[1]]]},"deletes":[]})");
  auto one = decodeTransform(parse(R"({"delete":true,"updates":[["v",0,0,2]]})"), "b", "t");
  REQUIRE(one.isOk());
  CHECK(toJson(encodeTransform(*one)) == R"({"updates":[["v",0,0,2]],"delete":true})");
}

TEST_CASE("set latest: the trx rule and upstream's actions rule", "[codec][model]") {
  // A first commit at 4: trx holds from 0 already; actions anchors at 4.
  CHECK(text(withLatest(newBlockMeta(Dialect::Trx), {"a", 4})) == R"({"ranges":[[0]],"latest":{"trxId":"a","rev":4}})");
  CHECK(text(withLatest(newBlockMeta(Dialect::Actions), {"a", 4})) ==
        R"({"ranges":[[4]],"latest":{"actionId":"a","rev":4}})");
  // A restored window [1,5) with latest 4, then a commit at 10: trx adds [10];
  // actions anchors an open range at the previous latest, which merges.
  BlockMeta trx = meta(R"({"ranges":[[1,5]],"latest":{"trxId":"a","rev":4}})");
  CHECK(text(withLatest(trx, {"b", 10})) == R"({"ranges":[[1,5],[10]],"latest":{"trxId":"b","rev":10}})");
  BlockMeta actions = meta(R"({"ranges":[[1,5]],"latest":{"actionId":"a","rev":4}})");
  CHECK(text(withLatest(actions, {"b", 10})) == R"({"ranges":[[1]],"latest":{"actionId":"b","rev":10}})");
  // An open range already holding the revision is left as it is.
  CHECK(text(withLatest(meta(R"({"ranges":[[1]],"latest":{"actionId":"a","rev":4}})"), {"b", 5})) ==
        R"({"ranges":[[1]],"latest":{"actionId":"b","rev":5}})");
}
