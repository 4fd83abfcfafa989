// JSON output must be byte-identical to JavaScript's JSON.stringify (SPEC §1).
// Every expected string below is what node prints for the same value.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "optdb/codec.hpp"
#include "optdb/json.hpp"

using optdb::Code;
using optdb::Json;
using optdb::parseJson;
using optdb::toJson;

namespace {

// Parses `text` (which must be valid) and writes it back compactly.
std::string roundTrip(const std::string& text) {
  auto j = parseJson(text, "test");
  INFO(text << " -> " << j.status().message());
  REQUIRE(j.isOk());
  return toJson(*j);
}

Code parseError(const std::string& text) {
  auto j = parseJson(text, "input.json");
  if (j.isOk()) return Code::Ok;
  // The message names the input.
  CHECK(j.status().message().find("input.json") != std::string::npos);
  return j.status().code();
}

}  // namespace

TEST_CASE("numbers print as Number.prototype.toString", "[json]") {
  struct Case {
    const char* in;
    const char* out;
  };
  // Parsed literals, written back.
  const Case cases[] = {
      {"100", "100"},
      {"100.0", "100"},
      {"1e2", "100"},
      {"1E2", "100"},
      {"1e-7", "1e-7"},
      {"0.0000001", "1e-7"},
      {"-1e-7", "-1e-7"},
      {"1.5e21", "1.5e+21"},
      {"0.000001", "0.000001"},
      {"1e-6", "0.000001"},
      {"-0.0000015", "-0.0000015"},
      {"-1.5e-6", "-0.0000015"},
      {"0.00000123", "0.00000123"},
      {"1.23e-7", "1.23e-7"},
      {"-0", "0"},
      {"-0.0", "0"},
      {"0", "0"},
      {"0.0", "0"},
      {"0.1", "0.1"},
      {"0.5", "0.5"},
      {"123.456", "123.456"},
      {"-123.456", "-123.456"},
      {"1e21", "1e+21"},
      {"1e20", "100000000000000000000"},
      {"123456789012345678901", "123456789012345680000"},
      {"1.2345e20", "123450000000000000000"},
      {"9007199254740993.0", "9007199254740992"},
      {"2.5e-8", "2.5e-8"},
      {"5e-324", "5e-324"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"0.30000000000000004", "0.30000000000000004"},
      {"1.0000000000000002", "1.0000000000000002"},
      {"100.5", "100.5"},
      {"1.5e300", "1.5e+300"},
      {"-1e21", "-1e+21"},
      {"12e20", "1.2e+21"},
      {"18446744073709551616", "18446744073709552000"},
      // Integer literals stay exact within 64 bits.
      {"9223372036854775807", "9223372036854775807"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"18446744073709551615", "18446744073709551615"},
      {"9007199254740993", "9007199254740993"},
      {"-42", "-42"},
  };
  for (const auto& c : cases) {
    INFO("literal " << c.in);
    CHECK(roundTrip(c.in) == c.out);
    CHECK(roundTrip(std::string("[") + c.in + "]") == std::string("[") + c.out + "]");
  }

  // Values built in C++.
  CHECK(toJson(Json(100)) == "100");
  CHECK(toJson(Json(100.0)) == "100");
  CHECK(toJson(Json(-0.0)) == "0");
  CHECK(toJson(Json(0.1 + 0.2)) == "0.30000000000000004");
  CHECK(toJson(Json(1e21)) == "1e+21");
  CHECK(toJson(Json(1e20)) == "100000000000000000000");
  CHECK(toJson(Json(std::pow(2.0, 53))) == "9007199254740992");
  CHECK(toJson(Json(std::numeric_limits<std::int64_t>::max())) == "9223372036854775807");
  CHECK(toJson(Json(std::numeric_limits<std::int64_t>::min())) == "-9223372036854775808");
  CHECK(toJson(Json(std::numeric_limits<std::uint64_t>::max())) == "18446744073709551615");
  CHECK(optdb::formatNumber(1.5e21) == "1.5e+21");
  CHECK(optdb::formatNumber(-1.5e-7) == "-1.5e-7");
  CHECK(optdb::formatNumber(123e-20) == "1.23e-18");
  CHECK(optdb::formatNumber(1.0 / 3) == "0.3333333333333333");
  CHECK(optdb::formatNumber(2.0 / 3) == "0.6666666666666666");
  CHECK(optdb::formatNumber(4.35) == "4.35");
  CHECK(optdb::formatNumber(1e-6) == "0.000001");
  CHECK(optdb::formatNumber(9.999999999999997e-7) == "9.999999999999997e-7");
  CHECK(optdb::formatNumber(999999999999999900000.0) == "999999999999999900000");
  // Non-finite values are null in JSON.stringify.
  CHECK(toJson(Json(std::numeric_limits<double>::infinity())) == "null");
  CHECK(toJson(Json(std::nan(""))) == "null");
}

TEST_CASE("integer literals keep their integer type", "[json]") {
  auto big = parseJson("9223372036854775807", "t");
  REQUIRE(big.isOk());
  CHECK(big->is_number_integer());
  CHECK(big->get<std::int64_t>() == std::numeric_limits<std::int64_t>::max());
  auto small = parseJson("-9223372036854775808", "t");
  REQUIRE(small.isOk());
  CHECK(small->is_number_integer());
  CHECK(small->get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  auto f = parseJson("7.0", "t");
  REQUIRE(f.isOk());
  CHECK(f->is_number_float());
}

TEST_CASE("string escapes match JSON.stringify", "[json]") {
  CHECK(toJson(Json("plain")) == "\"plain\"");
  CHECK(toJson(Json("q\"b\\s")) == "\"q\\\"b\\\\s\"");
  CHECK(toJson(Json("\n\t\r\b\f")) == "\"\\n\\t\\r\\b\\f\"");
  CHECK(toJson(Json(std::string("\0", 1))) == "\"\\u0000\"");
  CHECK(toJson(Json("\x01\x02\x1b\x1f")) == "\"\\u0001\\u0002\\u001b\\u001f\"");
  CHECK(toJson(Json("\x0b")) == "\"\\u000b\"");
  // '/', DEL and non-ASCII characters are not escaped.
  CHECK(toJson(Json("a/b")) == "\"a/b\"");
  CHECK(toJson(Json("\x7f")) == "\"\x7f\"");
  CHECK(toJson(Json("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80")) == "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(toJson(Json("\xe2\x80\xa8\xe2\x80\xa9")) == "\"\xe2\x80\xa8\xe2\x80\xa9\"");  // U+2028, U+2029
  // Escapes in the input are decoded, then written the JavaScript way.
  CHECK(roundTrip(R"("\u0041\/\u00e9\ud83d\ude00\u001F\u007f")") == "\"A/\xc3\xa9\xf0\x9f\x98\x80\\u001f\x7f\"");
  // Keys are escaped too.
  CHECK(roundTrip(R"({"a\nb":1,"\u0001":2})") == R"({"a\nb":1,"\u0001":2})");
}

TEST_CASE("object members keep their order", "[json]") {
  CHECK(roundTrip(R"({"b":1,"a":2,"c":3})") == R"({"b":1,"a":2,"c":3})");
  // JavaScript would move "2" and "10" to the front; optdb keeps them in place.
  CHECK(roundTrip(R"({"z":1,"2":2,"a":3,"10":4,"1":5})") == R"({"z":1,"2":2,"a":3,"10":4,"1":5})");
  CHECK(roundTrip(R"({"x":{"d":1,"c":{"f":2,"e":3}},"w":[{"k":1,"j":2}]})") ==
        R"({"x":{"d":1,"c":{"f":2,"e":3}},"w":[{"k":1,"j":2}]})");
  // A repeated key: the last value, in the first one's place (as JSON.parse does).
  CHECK(roundTrip(R"({"a":1,"b":2,"a":3})") == R"({"a":3,"b":2})");
  // Whitespace in the input is dropped; a new member goes last; an existing one keeps its place.
  auto j = parseJson(" {\n \"b\" : 1 ,\t\"a\" : [ 1 , 2 ] }\n", "t");
  REQUIRE(j.isOk());
  (*j)["c"] = true;
  (*j)["b"] = nullptr;
  CHECK(toJson(*j) == R"({"b":null,"a":[1,2],"c":true})");
}

TEST_CASE("compact output of every type", "[json]") {
  CHECK(roundTrip("null") == "null");
  CHECK(roundTrip("true") == "true");
  CHECK(roundTrip("false") == "false");
  CHECK(roundTrip("{}") == "{}");
  CHECK(roundTrip("[]") == "[]");
  CHECK(roundTrip("[ ]") == "[]");
  CHECK(roundTrip("{ }") == "{}");
  CHECK(roundTrip(R"([1,"two",null,true,{"a":[]},[[]]])") == R"([1,"two",null,true,{"a":[]},[[]]])");
  CHECK(roundTrip(R"({"a":1.50,"b":[1e0,2.0E+1]})") == R"({"a":1.5,"b":[1,20]})");
}

TEST_CASE("pretty output matches JSON.stringify(v, null, 2)", "[json]") {
  auto j = parseJson(R"({"a":[1,{"b":2}],"c":{},"d":[],"e":"x","f":{"g":null}})", "t");
  REQUIRE(j.isOk());
  const std::string expected =
      "{\n"
      "  \"a\": [\n"
      "    1,\n"
      "    {\n"
      "      \"b\": 2\n"
      "    }\n"
      "  ],\n"
      "  \"c\": {},\n"
      "  \"d\": [],\n"
      "  \"e\": \"x\",\n"
      "  \"f\": {\n"
      "    \"g\": null\n"
      "  }\n"
      "}";
  CHECK(toJson(*j, true) == expected);
  CHECK(toJson(Json::object(), true) == "{}");
  CHECK(toJson(Json::array(), true) == "[]");
  CHECK(toJson(Json(5), true) == "5");
  CHECK(toJson(Json("s"), true) == "\"s\"");
  CHECK(toJson(Json::array({Json::array(), Json::object()}), true) == "[\n  [],\n  {}\n]");
  CHECK(toJson(Json::array({1.5, -0.0, 1e21}), true) == "[\n  1.5,\n  0,\n  1e+21\n]");
  // appendJson appends.
  std::string out = "x=";
  optdb::appendJson(out, Json::array({1, 2}));
  CHECK(out == "x=[1,2]");
}

TEST_CASE("parse errors are invalid input", "[json]") {
  // Truncated.
  CHECK(parseError(R"({"a":[1,2)") == Code::InvalidInput);
  CHECK(parseError(R"({"a":)") == Code::InvalidInput);
  CHECK(parseError(R"("abc)") == Code::InvalidInput);
  CHECK(parseError("") == Code::InvalidInput);
  CHECK(parseError("   ") == Code::InvalidInput);
  CHECK(parseError("tru") == Code::InvalidInput);
  // Not JSON.
  CHECK(parseError("{'a':1}") == Code::InvalidInput);
  CHECK(parseError("[1,]") == Code::InvalidInput);
  CHECK(parseError("{\"a\":1,}") == Code::InvalidInput);
  CHECK(parseError("01") == Code::InvalidInput);
  CHECK(parseError("NaN") == Code::InvalidInput);
  CHECK(parseError("[1] [2]") == Code::InvalidInput);
  CHECK(parseError("1e400") == Code::InvalidInput);
  // A NUL byte ends nothing (nlohmann stops reading at one; JSON.parse, and we, refuse it).
  CHECK(parseError(std::string("1\0", 2)) == Code::InvalidInput);
  CHECK(parseError(std::string("[1]\0garbage", 11)) == Code::InvalidInput);
  CHECK(parseError("\"a\tb\"") == Code::InvalidInput);  // raw control character in a string
  // Invalid UTF-8.
  CHECK(parseError("\"\xff\"") == Code::InvalidInput);
  CHECK(parseError("\"\xc3\"") == Code::InvalidInput);           // truncated sequence
  CHECK(parseError("\"\xc0\xaf\"") == Code::InvalidInput);       // overlong '/'
  CHECK(parseError("\"\xed\xa0\x80\"") == Code::InvalidInput);   // encoded surrogate U+D800
  CHECK(parseError("{\"\xfe\":1}") == Code::InvalidInput);       // in a key
  // Lone surrogates.
  CHECK(parseError(R"("\ud800")") == Code::InvalidInput);
  CHECK(parseError(R"("\udc00")") == Code::InvalidInput);
  CHECK(parseError(R"("\ud800x")") == Code::InvalidInput);
  CHECK(parseError(R"("\ud800\u0041")") == Code::InvalidInput);
  CHECK(parseError(R"({"\udfff":1})") == Code::InvalidInput);
  // A proper pair is fine.
  CHECK(parseError(R"("\ud800\udc00")") == Code::Ok);
}

TEST_CASE("deep nesting: what JavaScript can write round-trips, far deeper is refused, never a crash", "[json]") {
  const std::string arrays = std::string(4500, '[') + std::string(4500, ']');
  auto j = parseJson(arrays, "t");
  REQUIRE(j.isOk());
  CHECK(toJson(*j) == arrays);
  Json copy = *j;
  CHECK(copy == *j);
  std::string objects;
  for (int i = 0; i < 4500; ++i) objects += "{\"a\":";
  objects += "1" + std::string(4500, '}');
  CHECK(roundTrip(objects) == objects);
  // A million levels: refused, not a stack overflow.
  CHECK(parseError(std::string(1000000, '[') + std::string(1000000, ']')) == Code::InvalidInput);
  CHECK(parseError(std::string(1000000, '{')) == Code::InvalidInput);
  // Brackets inside strings are not nesting, escaped quotes included.
  const std::string inString = "[\"\\\"" + std::string(100000, '[') + "\"]";
  CHECK(roundTrip(inString) == inString);
}

namespace {

// Random JSON text: nested values, every escape, multi-byte UTF-8, numbers in
// every form, and whitespace between tokens.
struct TextGen {
  std::mt19937_64 rng;
  explicit TextGen(std::uint64_t seed) : rng(seed) {}
  int pick(int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); }
  std::string space() {
    static const char* ws[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return ws[pick(7)];
  }
  std::string number() {
    static const char* forms[] = {"0", "-0", "7", "-12", "1.5", "-0.25", "1e3", "2E-4", "6.02e+23", "18446744073709551615",
                                  "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
                                  "123456789012345678901234567890", "1e-400", "0.1", "4.35", "1e308", "5e-324"};
    return forms[pick(19)];
  }
  std::string string() {
    static const char* parts[] = {"a", "key", "\\\"", "\\\\", "\\/", "\\b\\f\\n\\r\\t", "\\u0041", "\\u00e9", "\\ud83d\\ude00",
                                  "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "[{", "}]", " ", "\\u0000"};
    std::string s = "\"";
    for (int i = pick(5); i > 0; --i) s += parts[pick(16)];
    return s + "\"";
  }
  std::string value(int depth) {
    switch (depth > 4 ? pick(4) : pick(7)) {
      case 0: return number();
      case 1: return string();
      case 2: return std::vector<std::string>{"true", "false", "null"}[pick(3)];
      case 3: return std::to_string(pick(1000));
      case 4:
      case 5: {
        std::string s = "[" + space();
        for (int i = pick(4); i > 0; --i) s += value(depth + 1) + space() + (i > 1 ? "," + space() : "");
        return s + "]";
      }
      default: {
        std::string s = "{" + space();
        for (int i = pick(4); i > 0; --i)
          s += string() + space() + ":" + space() + value(depth + 1) + (i > 1 ? "," + space() : "");
        return s + "}";
      }
    }
  }
  // Damage: drop, duplicate or replace one byte.
  std::string mutate(std::string t) {
    if (t.empty()) return t;
    static const char bytes[] = {'"', '\\', ',', ':', '[', ']', '{', '}', '0', '-', '.', 'e', ' ', '\x01', '\xc3', '\xff', 'u', 'x'};
    const std::size_t at = static_cast<std::size_t>(pick(static_cast<int>(t.size())));
    switch (pick(3)) {
      case 0: t.erase(at, 1); break;
      case 1: t.insert(at, 1, t[at]); break;
      default: t[at] = bytes[pick(static_cast<int>(sizeof bytes))]; break;
    }
    return t;
  }
};

}  // namespace

TEST_CASE("the parser accepts, refuses and builds exactly what nlohmann's does, on 40,000 random texts", "[json]") {
  TextGen gen(20261125);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 40000; ++i) {
    std::string text = gen.space() + gen.value(0) + gen.space();
    if (i % 2) text = gen.mutate(text);
    INFO("text: " << text);
    std::optional<Json> reference;
    try {
      reference = Json::parse(text);
    } catch (const Json::exception&) {
    }
    auto ours = parseJson(text, "t");
    REQUIRE(ours.isOk() == reference.has_value());
    if (!reference) {
      CHECK(ours.status().code() == Code::InvalidInput);
      ++refused;
      continue;
    }
    ++accepted;
    // Same values, same number types, same member order.
    CHECK(*ours == *reference);
    CHECK(ours->dump() == reference->dump());
    // And what we write reads back as the same value.
    auto again = parseJson(toJson(*ours), "t");
    REQUIRE(again.isOk());
    CHECK(*again == *ours);
  }
  CHECK(accepted > 10000);
  CHECK(refused > 5000);
}

// ---- cost: linear in the input (SPEC §7) ----

namespace {

// The fastest of `runs` calls of `f`, in seconds: the one least disturbed by
// whatever else the machine runs.
template <class F>
double fastest(int runs, F&& f) {
  double best = 1e9;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// An object of members "k<from>" … "k<to - 1>" (keys of one width, values
// their number).
std::string objectText(int from, int to) {
  std::string s = "{";
  char key[16];
  for (int i = from; i < to; ++i) {
    std::snprintf(key, sizeof key, "\"k%07d\":", i);
    s += (i > from ? "," : "") + std::string(key) + std::to_string(i);
  }
  return s + "}";
}

// A Transforms inserting, updating and deleting blocks b<from> … b<to - 1>.
std::string transformsText(int from, int to) {
  std::string ins, upd, del;
  char id[16];
  for (int i = from; i < to; ++i) {
    std::snprintf(id, sizeof id, "b%07d", i);
    const std::string sep = i > from ? "," : "";
    ins += sep + "\"" + id + R"(":{"header":{"id":")" + id + R"(","type":"t","collectionId":"c"},"n":1})";
    upd += sep + "\"" + id + R"(":[["n",0,0,2]])";
    del += sep + "\"" + id + "\"";
  }
  return R"({"inserts":{)" + ins + R"(},"updates":{)" + upd + R"(},"deletes":[)" + del + "]}";
}

}  // namespace

// One object of N members must cost what ten of N/10 cost (same members, same
// bytes): with a linear search per member (ordered_json's operator[]) it cost
// ten times as much, 23 s against 2 s for N = 100,000. A ratio in one run, not
// a timed assert: generous for a busy machine, far below quadratic.
TEST_CASE("defect 7: parsing is linear in the number of object members", "[json]") {
  constexpr int kMembers = 100000;
  std::string tens = "[", one = "[" + objectText(0, kMembers) + "]";
  for (int i = 0; i < 10; ++i) tens += (i ? "," : "") + objectText(i * kMembers / 10, (i + 1) * kMembers / 10);
  tens += "]";
  std::size_t members = 0;
  const double tTens = fastest(5, [&] { members = parseJson(tens, "t")->at(9).size(); });
  CHECK(members == kMembers / 10);
  const double tOne = fastest(5, [&] { members = parseJson(one, "t")->at(0).size(); });
  CHECK(members == kMembers);
  INFO("ten objects of 10,000 members: " << tTens * 1e3 << " ms; one of 100,000: " << tOne * 1e3 << " ms");
  CHECK(tOne < 3 * tTens);
}

TEST_CASE("defect 7: a Transforms is parsed, decoded, split by block and encoded in linear time", "[json]") {
  constexpr int kBlocks = 50000;
  bool ok = true;
  auto run = [&](const std::string& text) {
    auto j = parseJson(text, "t");
    auto t = optdb::decodeTransforms(j.value(), "transforms");
    std::size_t whole = 0;
    for (const auto& [id, part] : t.value().byBlock()) whole += part.insert && part.updates && part.del;
    ok = ok && whole == t->blockIds().size() && optdb::encodeTransforms(*t) == *j;
  };
  std::vector<std::string> tens;
  for (int i = 0; i < 10; ++i) tens.push_back(transformsText(i * kBlocks / 10, (i + 1) * kBlocks / 10));
  const std::string one = transformsText(0, kBlocks);
  const double tTens = fastest(2, [&] {
    for (const auto& text : tens) run(text);
  });
  const double tOne = fastest(2, [&] { run(one); });
  CHECK(ok);
  INFO("ten of 5,000 blocks: " << tTens * 1e3 << " ms; one of 50,000: " << tOne * 1e3 << " ms");
  CHECK(tOne < 3 * tTens);
}

TEST_CASE("repeated keys keep their first place and their last value in objects of any size, as nlohmann's parser", "[json]") {
  std::mt19937 rng(11);
  for (int members : {2, 5, 16, 17, 100, 3000}) {
    std::string text = "{";
    for (int i = 0; i < members; ++i) {
      const std::string key = "\"k" + std::to_string(rng() % (members / 2 + 1)) + "\":";
      text += (i ? "," : "") + key + (i % 7 ? std::to_string(i) : R"({"a":1,"a":[)" + std::to_string(i) + "]}");
    }
    text += "}";
    INFO(text.substr(0, 200));
    auto ours = parseJson(text, "t");
    REQUIRE(ours.isOk());
    CHECK(ours->dump() == Json::parse(text).dump());
  }
}

TEST_CASE("deep values: the deepest any reader accepts is written, copied and compared, deeper ones die without recursion", "[json]") {
  // The deepest text accepted: an array of archives, one level past the archive's envelope.
  const int envelope = optdb::kArchiveEnvelope + 1, deepest = optdb::kMaxJsonDepth + envelope;
  const std::string text = std::string(deepest, '[') + std::string(deepest, ']');
  auto j = parseJson(text, "t", envelope);
  REQUIRE(j.isOk());
  CHECK(toJson(*j) == text);
  const Json copy = *j;
  CHECK(copy == *j);
  CHECK(optdb::nestsDeeperThan(*j, deepest - 1));
  CHECK_FALSE(optdb::nestsDeeperThan(*j, deepest));
  CHECK(parseJson("[" + text + "]", "t", envelope).status().code() == Code::InvalidInput);
  CHECK(parseJson(text, "t").status().code() == Code::InvalidInput);
  // nlohmann's destructor moves children out to a heap stack: a million levels
  // built in code (arrays and objects) go without a stack overflow.
  Json v = nullptr;
  for (int i = 0; i < 1000000; ++i) {
    Json outer = i % 2 ? Json::array() : Json::object();
    if (i % 2) outer.push_back(std::move(v));
    else outer["a"] = std::move(v);
    v = std::move(outer);
  }
  CHECK(optdb::nestsDeeperThan(v, 999999));
  CHECK_FALSE(optdb::nestsDeeperThan(v, 1000000));
}
