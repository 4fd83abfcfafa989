// applyOperation / applyTransform with JavaScript's Array.prototype.splice
// semantics (SPEC §1). Each expected value was worked out by hand from
//   start = index < 0 ? max(len + index, 0) : min(index, len)
//   count = min(max(deleteCount, 0), len - start)
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "optdb/json.hpp"
#include "optdb/transform.hpp"

using namespace optdb;

namespace {

Json parse(const std::string& text) {
  auto j = parseJson(text, "test");
  INFO(text);
  REQUIRE(j.isOk());
  return *j;
}

const char* kHeader = R"("header":{"id":"b","type":"t","collectionId":"c"})";

std::string block(const std::string& members) { return std::string("{") + kHeader + "," + members + "}"; }

}  // namespace

TEST_CASE("applyOperation follows Array.prototype.splice", "[splice]") {
  struct Case {
    const char* name;
    std::string before;  // members after the header
    const char* op;
    const char* after;  // nullptr: the operation must fail
  };
  const std::string base = R"("s":"str","a":[1,2,3,4,5],"e":[],"o":{"k":1})";
  const Case cases[] = {
      {"delete in the middle, insert one", base, R"(["a",1,2,["x"]])", R"("s":"str","a":[1,"x",4,5],"e":[],"o":{"k":1})"},
      {"insert at the front", base, R"(["a",0,0,["x","y"]])", R"("s":"str","a":["x","y",1,2,3,4,5],"e":[],"o":{"k":1})"},
      {"insert at len appends", base, R"(["a",5,0,["x"]])", R"("s":"str","a":[1,2,3,4,5,"x"],"e":[],"o":{"k":1})"},
      {"index past the end appends, deletes nothing", base, R"(["a",99,3,["x"]])",
       R"("s":"str","a":[1,2,3,4,5,"x"],"e":[],"o":{"k":1})"},
      {"negative index -1 removes the last", base, R"(["a",-1,1,[]])", R"("s":"str","a":[1,2,3,4],"e":[],"o":{"k":1})"},
      {"negative index -2 inserts before the last two", base, R"(["a",-2,0,["x"]])",
       R"("s":"str","a":[1,2,3,"x",4,5],"e":[],"o":{"k":1})"},
      {"negative index beyond -len clamps to 0", base, R"(["a",-99,2,["x"]])", R"("s":"str","a":["x",3,4,5],"e":[],"o":{"k":1})"},
      {"index -len is 0", base, R"(["a",-5,1,[[9]]])", R"("s":"str","a":[[9],2,3,4,5],"e":[],"o":{"k":1})"},
      {"negative deleteCount deletes nothing", base, R"(["a",2,-1,["x"]])",
       R"("s":"str","a":[1,2,"x",3,4,5],"e":[],"o":{"k":1})"},
      {"deleteCount too large deletes to the end", base, R"(["a",2,99,[]])", R"("s":"str","a":[1,2],"e":[],"o":{"k":1})"},
      {"delete everything", base, R"(["a",0,5,[]])", R"("s":"str","a":[],"e":[],"o":{"k":1})"},
      {"empty inserted and zero count change nothing", base, R"(["a",1,0,[]])",
       R"("s":"str","a":[1,2,3,4,5],"e":[],"o":{"k":1})"},
      {"inserted objects and null", base, R"(["a",3,1,[{"k":1},null]])",
       R"("s":"str","a":[1,2,3,{"k":1},null,5],"e":[],"o":{"k":1})"},
      {"replace the last with negative index", base, R"(["a",-1,5,["z"]])", R"("s":"str","a":[1,2,3,4,"z"],"e":[],"o":{"k":1})"},
      {"empty array: insert", base, R"(["e",0,0,["x"]])", R"("s":"str","a":[1,2,3,4,5],"e":["x"],"o":{"k":1})"},
      {"empty array: negative index and count", base, R"(["e",-1,1,["x"]])",
       R"("s":"str","a":[1,2,3,4,5],"e":["x"],"o":{"k":1})"},
      {"empty array: index past end, nothing inserted", base, R"(["e",3,2,[]])",
       R"("s":"str","a":[1,2,3,4,5],"e":[],"o":{"k":1})"},
      {"int64 max index appends", base, R"(["a",9223372036854775807,1,["x"]])",
       R"("s":"str","a":[1,2,3,4,5,"x"],"e":[],"o":{"k":1})"},
      {"int64 min index is 0", base, R"(["a",-9223372036854775808,1,[]])", R"("s":"str","a":[2,3,4,5],"e":[],"o":{"k":1})"},
      {"uint64 max deleteCount deletes to the end", base, R"(["a",1,18446744073709551615,[]])",
       R"("s":"str","a":[1],"e":[],"o":{"k":1})"},
      {"int64 min deleteCount deletes nothing", base, R"(["a",1,-9223372036854775808,[0]])",
       R"("s":"str","a":[1,0,2,3,4,5],"e":[],"o":{"k":1})"},
      {"assign a new member: goes last", base, R"(["n",0,0,"v"])", R"("s":"str","a":[1,2,3,4,5],"e":[],"o":{"k":1},"n":"v")"},
      {"assign an existing member: keeps its place", base, R"(["s",7,3,{"z":1}])",
       R"("s":{"z":1},"a":[1,2,3,4,5],"e":[],"o":{"k":1})"},
      {"assign a number over an array", base, R"(["a",0,0,5])", R"("s":"str","a":5,"e":[],"o":{"k":1})"},
      {"assign null", base, R"(["o",0,0,null])", R"("s":"str","a":[1,2,3,4,5],"e":[],"o":null)"},
      {"assign a new member named like an integer goes last", base, R"(["2",0,0,true])",
       R"("s":"str","a":[1,2,3,4,5],"e":[],"o":{"k":1},"2":true)"},
      {"splice on a missing member fails", base, R"(["missing",0,0,["x"]])", nullptr},
      {"splice on a string member fails", base, R"(["s",0,0,["x"]])", nullptr},
      {"splice on an object member fails", base, R"(["o",0,0,[]])", nullptr},
      {"non-integer index fails", base, R"(["a",1.5,0,[]])", nullptr},
      {"index written 1.0 fails", base, R"(["a",1.0,0,[]])", nullptr},
      {"non-integer deleteCount fails", base, R"(["a",1,0.5,[]])", nullptr},
      {"string index fails", base, R"(["a","1",0,[]])", nullptr},
      {"three elements fail", base, R"(["a",1,0])", nullptr},
      {"non-string entity fails", base, R"([1,1,0,[]])", nullptr},
      {"not an array fails", base, R"({"entity":"a"})", nullptr},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name << ": " << c.op);
    Json b = parse(block(c.before));
    const std::string unchanged = toJson(b);
    Status s = applyOperation(b, parse(c.op));
    if (c.after) {
      INFO(s.message());
      REQUIRE(s.isOk());
      CHECK(toJson(b) == toJson(parse(block(c.after))));
      CHECK(toJson(b) == block(c.after));  // members in the order shown
    } else {
      CHECK(s.code() == Code::InvalidInput);
      CHECK_FALSE(s.message().empty());
      CHECK(toJson(b) == unchanged);
    }
    ++n;
  }
  CHECK(n >= 20);
}

TEST_CASE("operations apply in order", "[splice]") {
  Json b = parse(block(R"("a":[1,2,3])"));
  REQUIRE(applyOperation(b, parse(R"(["a",0,1,[]])")).isOk());
  REQUIRE(applyOperation(b, parse(R"(["a",0,1,[]])")).isOk());
  CHECK(toJson(b) == block(R"("a":[3])"));
  REQUIRE(applyOperation(b, parse(R"(["a",-1,0,["x","y"]])")).isOk());  // before the last
  CHECK(toJson(b) == block(R"("a":["x","y",3])"));
  REQUIRE(applyOperation(b, parse(R"(["a",1,1,[]])")).isOk());
  CHECK(toJson(b) == block(R"("a":["x",3])"));
}

namespace {

Transform transform(const char* insert, const char* updates, bool del) {
  Transform t;
  if (insert) t.insert = parse(insert);
  if (updates) t.updates = parse(updates);
  t.del = del;
  return t;
}

std::string show(const std::optional<Json>& b) { return b ? toJson(*b) : "<absent>"; }

}  // namespace

TEST_CASE("applyTransform: insert, then updates, then delete", "[splice]") {
  const std::string v1 = block(R"("a":[1],"n":0)");
  const std::string ins = block(R"("a":["i"])");
  struct Case {
    const char* name;
    std::optional<std::string> before;
    Transform t;
    std::optional<std::string> after;
    bool fails = false;
  };
  const Case cases[] = {
      {"insert on absent", std::nullopt, transform(ins.c_str(), nullptr, false), ins},
      {"insert replaces a present block", v1, transform(ins.c_str(), nullptr, false), ins},
      {"insert then updates", std::nullopt, transform(ins.c_str(), R"([["a",1,0,[2]],["b",0,0,"x"]])", false),
       block(R"("a":["i",2],"b":"x")")},
      {"insert then updates then delete", v1, transform(ins.c_str(), R"([["a",0,0,[0]]])", true), std::nullopt},
      {"updates on a present block", v1, transform(nullptr, R"([["a",-1,0,[0]],["n",0,0,1],["a",0,1,[]]])", false),
       block(R"("a":[1],"n":1)")},
      {"updates on an absent block leave it absent", std::nullopt, transform(nullptr, R"([["a",0,0,[1]]])", false),
       std::nullopt},
      {"a bad splice on an absent block is not applied", std::nullopt, transform(nullptr, R"([["zz",0,0,[1]]])", false),
       std::nullopt},
      {"delete a present block", v1, transform(nullptr, nullptr, true), std::nullopt},
      {"delete an absent block", std::nullopt, transform(nullptr, nullptr, true), std::nullopt},
      {"updates then delete", v1, transform(nullptr, R"([["a",0,1,[]]])", true), std::nullopt},
      {"empty transform", v1, transform(nullptr, nullptr, false), v1},
      {"empty updates", v1, transform(nullptr, "[]", false), v1},
      {"a bad splice fails", v1, transform(nullptr, R"([["n",0,0,[1]]])", false), std::nullopt, true},
      {"a bad splice after good updates fails", v1, transform(nullptr, R"([["a",0,0,[0]],["zz",0,0,[1]]])", false),
       std::nullopt, true},
      {"a bad splice after an insert fails", std::nullopt, transform(ins.c_str(), R"([["n",0,0,[1]]])", false),
       std::nullopt, true},
      {"a bad splice fails even before a delete", v1, transform(nullptr, R"([["n",0,0,[1]]])", true), std::nullopt,
       true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::optional<Json> before;
    if (c.before) before = parse(*c.before);
    auto r = applyTransform(before, c.t);
    if (c.fails) {
      REQUIRE_FALSE(r.isOk());
      CHECK(r.status().code() == Code::InvalidInput);
      continue;
    }
    INFO(r.status().message());
    REQUIRE(r.isOk());
    CHECK(show(*r) == (c.after ? *c.after : std::string("<absent>")));
  }
  // The failing operation is named.
  auto r = applyTransform(parse(v1), transform(nullptr, R"([["a",0,0,[0]],["zz",0,0,[1]]])", false));
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message().find("updates[1]") != std::string::npos);
  CHECK(r.status().message().find("zz") != std::string::npos);
}
