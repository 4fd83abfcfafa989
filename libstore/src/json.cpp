// Writing JSON byte for byte as JavaScript's JSON.stringify, and nesting checks.
#include "optdb/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace optdb {

std::string formatNumber(double value) {
  if (value == 0) return "0";  // also -0
  if (!std::isfinite(value)) return "null";
  // Shortest round-trip digits, then JavaScript's placement rules (ECMA-262 Number::toString).
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, res.ptr - buf);
  std::string out;
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  auto e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits.push_back(c);
  int exp10 = std::stoi(std::string(sci.substr(e + 1)));
  int k = static_cast<int>(digits.size());
  int n = exp10 + 1;  // value = 0.digits × 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n);
    out += '.';
    out += digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(-n, '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += (n - 1 >= 0) ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

namespace {

void appendString(std::string& out, const std::string& s) {
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied; most need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", c);
        out += esc;
      }
    }
  }
  out.append(s, run, s.size() - run);
  out.push_back('"');
}

void newline(std::string& out, bool pretty, int depth) {
  if (!pretty) return;
  out.push_back('\n');
  out.append(static_cast<size_t>(depth) * 2, ' ');
}

void append(std::string& out, const Json& v, bool pretty, int depth) {
  switch (v.type()) {
    case Json::value_t::null: out += "null"; break;
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case Json::value_t::number_integer: out += std::to_string(v.get<std::int64_t>()); break;
    case Json::value_t::number_unsigned: out += std::to_string(v.get<std::uint64_t>()); break;
    case Json::value_t::number_float: out += formatNumber(v.get<double>()); break;
    case Json::value_t::string: appendString(out, v.get_ref<const std::string&>()); break;
    case Json::value_t::array: {
      if (v.empty()) {
        out += "[]";
        break;
      }
      out.push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out.push_back(',');
        first = false;
        newline(out, pretty, depth + 1);
        append(out, e, pretty, depth + 1);
      }
      newline(out, pretty, depth);
      out.push_back(']');
      break;
    }
    case Json::value_t::object: {
      if (v.empty()) {
        out += "{}";
        break;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [key, e] : v.get_ref<const Json::object_t&>()) {
        if (!first) out.push_back(',');
        first = false;
        newline(out, pretty, depth + 1);
        appendString(out, key);
        out += pretty ? ": " : ":";
        append(out, e, pretty, depth + 1);
      }
      newline(out, pretty, depth);
      out.push_back('}');
      break;
    }
    default: out += "null"; break;  // binary and discarded never come from parsing
  }
}

}  // namespace

void appendJson(std::string& out, const Json& value, bool pretty) { append(out, value, pretty, 0); }

std::string toJson(const Json& value, bool pretty) {
  std::string out;
  appendJson(out, value, pretty);
  return out;
}

}  // namespace optdb
