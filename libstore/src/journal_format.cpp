// The journal's codec (journal_format.hpp): little-endian lengths, a CRC-32C
// over each record's body, and text for the small files beside it.
#include "journal_format.hpp"

#include <array>
#include <charconv>
#include <algorithm>
#include <cstring>
#include <set>

namespace optdb::journal {
namespace {

constexpr std::string_view kHeaderTag = "optdb-journal 1 ";
constexpr std::string_view kRecordMagic = "\x7fOJR";

void putU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
void putU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
void putBytes(std::string& out, std::string_view s) {
  putU32(out, std::uint32_t(s.size()));
  out.append(s);
}

// Reads what putU32 and the rest wrote; any read past the end fails the record.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u32(std::uint32_t& v) {
    if (b_.size() - pos_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(std::uint8_t(b_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (b_.size() - pos_ < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(std::uint8_t(b_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  bool u8(std::uint8_t& v) {
    if (pos_ >= b_.size()) return false;
    v = std::uint8_t(b_[pos_++]);
    return true;
  }
  bool bytes(std::string& s) {
    std::uint32_t n = 0;
    if (!u32(n) || b_.size() - pos_ < n) return false;
    s.assign(b_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

std::uint32_t readU32(std::string_view b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(std::uint8_t(b[at + i])) << (8 * i);
  return v;
}

std::optional<Record> decodeBody(std::string_view body) {
  Reader in(body);
  Record r;
  std::uint32_t n = 0;
  if (!in.u64(r.generation) || !in.u64(r.nonce) || !in.u32(n)) return std::nullopt;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string lock;
    if (!in.bytes(lock)) return std::nullopt;
    r.locks.push_back(std::move(lock));
  }
  if (!in.u32(n)) return std::nullopt;
  for (std::uint32_t i = 0; i < n; ++i) {
    Op op;
    std::uint8_t kind = 0;
    if (!in.u8(kind) || kind < 1 || kind > 5 || !in.bytes(op.path)) return std::nullopt;
    op.kind = Op::Kind(kind);
    if (op.kind == Op::Kind::Put && !in.bytes(op.data)) return std::nullopt;
    if (op.kind == Op::Kind::Append && (!in.u64(op.offset) || !in.bytes(op.data))) return std::nullopt;
    r.ops.push_back(std::move(op));
  }
  // `after` came later than the rest: a record without it has none.
  if (!in.done() && !in.u64(r.after)) return std::nullopt;
  if (!in.done()) return std::nullopt;
  return r;
}

// The whole record starting at `at`, and its size.
std::optional<std::pair<Record, std::size_t>> recordStartingAt(std::string_view bytes, std::size_t at,
                                                               std::uint64_t generation) {
  if (bytes.size() - at < kRecordPrefix || bytes.substr(at, 4) != kRecordMagic) return std::nullopt;
  const std::uint32_t len = readU32(bytes, at + 4), crc = readU32(bytes, at + 8);
  if (bytes.size() - at - kRecordPrefix < len) return std::nullopt;
  std::string_view body = bytes.substr(at + kRecordPrefix, len);
  if (crc32c(body) != crc) return std::nullopt;
  auto r = decodeBody(body);
  if (!r || r->generation != generation) return std::nullopt;
  return std::make_pair(std::move(*r), kRecordPrefix + len);
}

// Decimal fields separated by single spaces, then a newline.
bool parseU64s(std::string_view text, std::uint64_t* out, std::size_t n, std::string_view* rest = nullptr) {
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto [q, ec] = std::from_chars(p, end, out[i]);
    if (ec != std::errc() || q == p) return false;
    p = q;
    if (i + 1 < n) {
      if (p == end || *p != ' ') return false;
      ++p;
    }
  }
  if (rest) {
    *rest = std::string_view(p, std::size_t(end - p));
    return true;
  }
  return p + 1 == end && *p == '\n';
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : bytes) c = table[(c ^ ch) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string encodeHeader(const Header& h) {
  return std::string(kHeaderTag) + std::to_string(h.generation) + " " + h.bootId + "\n";
}

std::optional<std::pair<Header, std::size_t>> decodeHeader(std::string_view bytes) {
  if (bytes.substr(0, kHeaderTag.size()) != kHeaderTag) return std::nullopt;
  auto nl = bytes.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  std::string_view line = bytes.substr(kHeaderTag.size(), nl - kHeaderTag.size());
  Header h;
  std::string_view rest;
  if (!parseU64s(line, &h.generation, 1, &rest) || rest.empty() || rest[0] != ' ') return std::nullopt;
  h.bootId = std::string(rest.substr(1));
  if (h.bootId.empty() || h.bootId.find(' ') != std::string::npos) return std::nullopt;
  return std::make_pair(std::move(h), nl + 1);
}

std::string encodeRecord(const Record& r) {
  std::string body;
  putU64(body, r.generation);
  putU64(body, r.nonce);
  putU32(body, std::uint32_t(r.locks.size()));
  for (const auto& l : r.locks) putBytes(body, l);
  putU32(body, std::uint32_t(r.ops.size()));
  for (const auto& op : r.ops) {
    body.push_back(char(op.kind));
    putBytes(body, op.path);
    if (op.kind == Op::Kind::Put) putBytes(body, op.data);
    if (op.kind == Op::Kind::Append) {
      putU64(body, op.offset);
      putBytes(body, op.data);
    }
  }
  if (r.after != 0) putU64(body, r.after);
  std::string out(kRecordMagic);
  putU32(out, std::uint32_t(body.size()));
  putU32(out, crc32c(body));
  out += body;
  return out;
}

std::vector<Found> scanRecords(std::string_view bytes, std::size_t from, std::uint64_t generation) {
  std::vector<Found> out;
  std::size_t at = from;
  while (at < bytes.size()) {
    if (auto r = recordStartingAt(bytes, at, generation)) {
      out.push_back({at, r->second, std::move(r->first)});
      at += r->second;
      continue;
    }
    auto next = bytes.find(kRecordMagic, at + 1);
    if (next == std::string_view::npos) break;
    at = next;
  }
  return out;
}

std::vector<Found> replayable(std::vector<Found> found) {
  std::set<std::uint64_t> kept;
  std::vector<Found> out;
  for (auto& f : found) {
    if (f.record.after != 0 && !kept.count(f.record.after)) continue;  // and so its own followers
    kept.insert(f.record.nonce);
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<std::size_t> recordSize(std::string_view prefix) {
  if (prefix.size() < kRecordPrefix || prefix.substr(0, 4) != kRecordMagic) return std::nullopt;
  return kRecordPrefix + std::size_t(readU32(prefix, 4));
}

std::optional<Record> recordAt(std::string_view bytes, std::uint64_t offset, std::uint64_t generation) {
  if (offset >= bytes.size()) return std::nullopt;
  auto r = recordStartingAt(bytes, std::size_t(offset), generation);
  if (!r) return std::nullopt;
  return std::move(r->first);
}

std::string encodeMarker(const Marker& m) {
  return std::to_string(m.generation) + " " + std::to_string(m.offset) + " " + std::to_string(m.nonce) + "\n";
}

std::optional<Marker> decodeMarker(std::string_view bytes) {
  std::uint64_t v[3];
  if (!parseU64s(bytes, v, 3)) return std::nullopt;
  return Marker{v[0], v[1], v[2]};
}

std::vector<const Found*> markedRecords(const std::vector<Found>& found, const std::string& lock, const Marker& m) {
  std::vector<const Found*> out;
  std::set<std::uint64_t> window;  // the named record and those built on it, on any lock
  for (const auto& f : found) {
    const bool named = f.offset == m.offset && f.record.nonce == m.nonce;
    if (!named && !(f.record.after != 0 && window.count(f.record.after))) continue;
    window.insert(f.record.nonce);
    if (std::find(f.record.locks.begin(), f.record.locks.end(), lock) != f.record.locks.end()) out.push_back(&f);
  }
  // The named record first: without it (torn: its writer died in that append), nothing.
  if (!out.empty() && (out.front()->offset != m.offset || out.front()->record.nonce != m.nonce)) out.clear();
  return out;
}

std::string encodeDurable(std::uint64_t generation, std::uint64_t end) {
  return std::to_string(generation) + " " + std::to_string(end) + "\n";
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> decodeDurable(std::string_view bytes) {
  std::uint64_t v[2];
  if (!parseU64s(bytes, v, 2)) return std::nullopt;
  return std::make_pair(v[0], v[1]);
}

}  // namespace optdb::journal
