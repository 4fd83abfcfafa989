// parseJson: a validating recursive-descent parser straight into Json values.
// nlohmann's own parser reads a character at a time through its lexer and
// builds every string by push_back; this one copies runs of plain bytes at
// once, which makes reading a materialized block three to four times faster,
// and builds each object once at its end (jsonObject), which keeps it linear
// where inserting member by member is quadratic.
// It accepts and refuses exactly what the tests in test_json pin down: RFC 8259
// JSON in UTF-8 (a leading byte-order mark is skipped, as nlohmann did),
// integers kept exact as nlohmann keeps them, a duplicate key's last value
// kept at its first position (as JSON.parse), lone surrogates, ill-formed
// UTF-8 and numbers beyond a double refused. One difference, on purpose:
// nlohmann stops reading at a NUL byte and accepts "1\0garbage"; this parser,
// like JSON.parse, refuses it. Each level of nesting takes about 250 bytes of
// stack, so the 5,000 levels of data and the few of an envelope need about
// 1.3 MB of the default 8 MB.
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "optdb/json.hpp"

namespace optdb {

namespace {

// Writing, copying and comparing values recurse, so nesting past
// kMaxJsonDepth (and the envelope) is refused at parse time rather than
// overflowing the stack later. JavaScript's own JSON.stringify gives up at
// about 4,000 levels, so nothing the reference writes is refused.
class Parser {
 public:
  Parser(std::string_view text, int envelopeDepth)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), envelope_(envelopeDepth) {}

  bool document(Json& out) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;
    if (!value(out)) return false;
    skipSpace();
    return p_ == end_ || fail("unexpected text after the value");
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(std::string_view what) {
    std::size_t line = 1;
    const char* lineStart = begin_;
    for (const char* c = begin_; c < p_; ++c)
      if (*c == '\n') {
        ++line;
        lineStart = c + 1;
      }
    const auto column = p_ - lineStart + 1;
    error_ = fmt::format("{} at line {}, column {}{}", what, line, column, p_ >= end_ ? ", the end of the input" : "");
    return false;
  }

  void skipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
      return fail("invalid literal");
    p_ += word.size();
    return true;
  }

  bool value(Json& out) {
    skipSpace();
    if (p_ == end_) return fail("unexpected end of input");
    switch (*p_) {
      case '{': return object(out);
      case '[': return array(out);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't': out = true; return literal("true");
      case 'f': out = false; return literal("false");
      case 'n': out = nullptr; return literal("null");
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number(out);
        return fail("unexpected character");
    }
  }

  // After a member or element: ',' (more follow) or the closing bracket.
  bool separator(char close, bool& more) {
    skipSpace();
    more = p_ < end_ && *p_ == ',';
    if (more || (p_ < end_ && *p_ == close)) {
      ++p_;
      if (!more) --depth_;
      return true;
    }
    return fail(close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
  }

  bool enter() {
    if (++depth_ <= kMaxJsonDepth + envelope_) return true;
    return fail(fmt::format("nested deeper than {} levels{}", kMaxJsonDepth,
                            envelope_ ? fmt::format(" (beyond the {} of its envelope)", envelope_) : ""));
  }

  bool object(Json& out) {
    if (!enter()) return false;
    ++p_;
    skipSpace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      --depth_;
      out = Json::object();
      return true;
    }
    // The members wait on one stack shared by every level (no allocation per
    // object) and become the object at its end.
    const std::size_t base = members_.size();
    for (;;) {
      skipSpace();
      if (p_ == end_ || *p_ != '"') return fail("expected a string key");
      std::string key;
      if (!string(key)) return false;
      skipSpace();
      if (p_ == end_ || *p_ != ':') return fail("expected ':'");
      ++p_;
      Json v;
      if (!value(v)) return false;
      members_.emplace_back(std::move(key), std::move(v));
      bool more;
      if (!separator('}', more)) return false;
      if (!more) break;
    }
    out = jsonObject(std::span(members_).subspan(base));
    members_.erase(members_.begin() + static_cast<std::ptrdiff_t>(base), members_.end());
    return true;
  }

  bool array(Json& out) {
    if (!enter()) return false;
    ++p_;
    out = Json::array();
    auto& items = out.get_ref<Json::array_t&>();
    skipSpace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      --depth_;
      return true;
    }
    for (;;) {
      items.emplace_back();
      if (!value(items.back())) return false;
      bool more;
      if (!separator(']', more)) return false;
      if (!more) return true;
    }
  }

  static int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // The four hex digits after "\u", at p_.
  bool hex4(unsigned& cp) {
    if (end_ - p_ < 4) return fail("truncated \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      int d = hexDigit(p_[i]);
      if (d < 0) return fail("bad \\u escape");
      cp = cp * 16 + static_cast<unsigned>(d);
    }
    p_ += 4;
    return true;
  }

  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // One well-formed UTF-8 sequence of two to four bytes (RFC 3629), at p_.
  bool utf8Sequence(std::string& out) {
    const auto* s = reinterpret_cast<const unsigned char*>(p_);
    const std::size_t left = static_cast<std::size_t>(end_ - p_);
    auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
      return i < left && s[i] >= lo && s[i] <= hi;
    };
    std::size_t n = 0;
    const unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) n = cont(1) ? 2 : 0;
    else if (c == 0xE0) n = cont(1, 0xA0) && cont(2) ? 3 : 0;
    else if (c == 0xED) n = cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no encoded surrogates
    else if (c >= 0xE1 && c <= 0xEF) n = cont(1) && cont(2) ? 3 : 0;
    else if (c == 0xF0) n = cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    else if (c >= 0xF1 && c <= 0xF3) n = cont(1) && cont(2) && cont(3) ? 4 : 0;
    else if (c == 0xF4) n = cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    if (n == 0) return fail("ill-formed UTF-8 in a string");
    out.append(p_, n);
    p_ += n;
    return true;
  }

  bool string(std::string& out) {
    ++p_;  // the opening quote
    for (;;) {
      const char* run = p_;
      while (p_ < end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
      }
      out.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ == end_) return fail("unterminated string");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return fail("control character in a string (it must be escaped)");
      if (c >= 0x80) {
        if (!utf8Sequence(out)) return false;
        continue;
      }
      if (++p_ == end_) return fail("unterminated string");
      switch (*p_++) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate in a \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return fail("high surrogate without its low surrogate");
            p_ += 2;
            if (!hex4(low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return fail("high surrogate without its low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          appendUtf8(out, cp);
          break;
        }
        default: --p_; return fail("bad escape in a string");
      }
    }
  }

  // Integers stay exact where they fit (unsigned when not negative, as
  // nlohmann keeps them); everything else is a double, which must be finite.
  bool number(Json& out) {
    const char* start = p_;
    auto digits = [&] {
      const char* d = p_;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      return p_ > d;
    };
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ < end_ && *p_ == '0') ++p_;
    else if (!digits()) return fail("bad number");
    bool integral = true;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      integral = false;
      if (!digits()) return fail("bad number: digits must follow '.'");
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      integral = false;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return fail("bad number: digits must follow the exponent");
    }
    if (integral) {
      if (negative) {
        std::int64_t v;
        if (std::from_chars(start, p_, v).ec == std::errc()) {
          out = v;
          return true;
        }
      } else {
        std::uint64_t v;
        if (std::from_chars(start, p_, v).ec == std::errc()) {
          out = v;
          return true;
        }
      }
    }
    double d;
    auto r = std::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      // from_chars reports underflow and overflow alike; strtod tells them apart.
      d = std::strtod(std::string(start, p_).c_str(), nullptr);
    } else if (r.ec != std::errc()) {
      return fail("bad number");
    }
    if (!std::isfinite(d)) {
      p_ = start;
      return fail("number too large for a double");
    }
    out = d;
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const int envelope_;
  int depth_ = 0;
  std::vector<JsonMember> members_;  // of the objects being read, innermost last
  std::string error_;
};

}  // namespace

Json jsonObject(std::span<JsonMember> members) {
  Json out = Json::object();
  auto& object = out.get_ref<Json::object_t&>();
  // A few members are scanned; past them, a hash table of first places.
  constexpr std::size_t kScanned = 16;
  if (members.size() <= kScanned) {
    object.reserve(members.size());
    for (auto& [key, value] : members) {
      auto it = std::find_if(object.begin(), object.end(), [&](const auto& m) { return m.first == key; });
      if (it == object.end()) object.emplace_back(std::move(key), std::move(value));
      else it->second = std::move(value);
    }
    return out;
  }
  // place[i]: where members[i] goes. Open addressing over member indexes.
  constexpr std::size_t kFree = SIZE_MAX;
  const std::size_t mask = std::bit_ceil(2 * members.size()) - 1;
  std::vector<std::size_t> table(mask + 1, kFree), place(members.size());
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::string& key = members[i].first;
    std::size_t h = std::hash<std::string>{}(key) & mask;
    while (table[h] != kFree && members[table[h]].first != key) h = (h + 1) & mask;
    if (table[h] == kFree) {
      table[h] = i;
      place[i] = distinct++;
    } else {
      place[i] = place[table[h]];
    }
  }
  object.reserve(distinct);
  for (std::size_t i = 0; i < members.size(); ++i) {
    auto& [key, value] = members[i];
    if (place[i] == object.size()) object.emplace_back(std::move(key), std::move(value));
    else object.begin()[static_cast<std::ptrdiff_t>(place[i])].second = std::move(value);
  }
  return out;
}

bool nestsDeeperThan(const Json& value, int levels) {
  if (!value.is_structured()) return levels < 0;
  std::vector<std::pair<const Json*, int>> todo{{&value, 1}};  // containers, with their depth
  while (!todo.empty()) {
    const auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    if (depth > levels) return true;
    if (v->is_array()) {
      for (const auto& e : v->get_ref<const Json::array_t&>())
        if (e.is_structured()) todo.emplace_back(&e, depth + 1);
    } else {
      for (const auto& [_, e] : v->get_ref<const Json::object_t&>())
        if (e.is_structured()) todo.emplace_back(&e, depth + 1);
    }
  }
  return false;
}

Result<Json> parseJson(std::string_view text, std::string_view what, int envelopeDepth) {
  Parser parser(text, envelopeDepth);
  Json out;
  if (!parser.document(out)) return Status::invalid(fmt::format("{}: invalid JSON: {}", what, parser.error()));
  return out;
}

}  // namespace optdb
