// Archives (SPEC §4): the BlockArchive codec and reading a stream of them
// (NDJSON, objects, arrays) one archive at a time.
#include "optdb/archive.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "optdb/transform.hpp"
#include "optdb/zstd.hpp"

namespace optdb {

using codec::expected;
using codec::member;
using codec::onlyMembers;

namespace {

// ---- messages ----

// Prefixes a codec message that does not already name its place.
Status within(const Status& s, std::string_view where) {
  if (s || s.message().rfind(where, 0) == 0) return s;
  return Status(s.code(), fmt::format("{}: {}", where, s.message()));
}

std::string rangeText(const Range& r) {
  return r.end ? fmt::format("[{},{}]", r.start, *r.end) : fmt::format("[{}]", r.start);
}

// ---- decoding pieces ----

Result<Range> decodeOneRange(const Json& j, const std::string& where) {
  // The ranges codec reads a list; an archive holds one range.
  auto r = decodeRanges(Json::array({j}), where);
  if (!r) {
    std::string msg = r.status().message();
    std::string prefix = where + "[0]";
    if (msg.rfind(prefix, 0) == 0) msg = where + msg.substr(prefix.size());
    return Status::invalid(msg);
  }
  return r->front();
}

Result<Rev> decodeRevKey(const std::string& key, const std::string& where) {
  bool digits = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (key.size() > 1 && key[0] == '0'))
    return Status::invalid(fmt::format("{}: revision key must be a decimal integer, got \"{}\"", where, key));
  OPTDB_ASSIGN(Rev rev, parseRev(key, where));
  if (rev < 1) return Status::invalid(fmt::format("{}: a committed revision is at least 1", where));
  return rev;
}

Result<ArchiveRevision> decodeArchiveRevision(const Json& j, const BlockId& blockId, Rev key,
                                              const std::string& where, Dialect* seen) {
  const DialectNames& trx = namesOf(Dialect::Trx);
  const DialectNames& actions = namesOf(Dialect::Actions);
  if (!j.is_object()) return expected(where, fmt::format("an object {{\"{}\",\"block\"}}", trx.revisionEntry), j);
  OPTDB_TRY(onlyMembers(j, where, {trx.revisionEntry, actions.revisionEntry, "block"}));
  const char* trxKey = j.contains(trx.revisionEntry) ? trx.revisionEntry : actions.revisionEntry;
  auto t = j.find(trxKey);
  if (t == j.end()) return Status::invalid(fmt::format("{}: {} is missing", where, trx.revisionEntry));
  std::string tw = member(where, trxKey);
  if (!t->is_object())
    return expected(tw, fmt::format("an object {{\"{}\",\"rev\",\"transform\"}}", trx.idMember), *t);
  OPTDB_TRY(onlyMembers(*t, tw, {trx.idMember, actions.idMember, "rev", "transform"}));
  ArchiveRevision out;
  OPTDB_ASSIGN(out.trx, decodeTrxRev(*t, tw, seen, key));
  if (out.trx.rev != key)
    return Status::invalid(fmt::format("{}: rev {} differs from its revision key {}", tw, out.trx.rev, key));
  auto tf = t->find("transform");
  if (tf == t->end()) return Status::invalid(fmt::format("{}: transform is missing", tw));
  std::string fw = member(tw, "transform");
  auto transform = decodeTransform(*tf, blockId, fw);
  if (!transform) return within(transform.status(), fw);
  out.transform = std::move(transform).value();
  if (auto b = j.find("block"); b != j.end() && !b->is_null()) {
    OPTDB_TRY(validateBlock(*b, blockId, member(where, "block")));
    out.block = *b;
  }
  return out;
}

}  // namespace

// ---- the codec ----

Result<BlockArchive> decodeArchive(const Json& j, std::string_view whereView) {
  std::string where(whereView);
  if (!j.is_object()) return expected(where, "an archive object {\"blockId\",\"revisions\",\"range\"}", j);
  OPTDB_TRY(onlyMembers(j, where, {"blockId", "revisions", "range", "pending"}));
  BlockArchive a;
  auto id = j.find("blockId");
  if (id == j.end()) return Status::invalid(fmt::format("{}: blockId is missing", where));
  if (!id->is_string()) return expected(member(where, "blockId"), "a block id string", *id);
  a.blockId = id->get<std::string>();
  OPTDB_TRY(validateBlockId(a.blockId, member(where, "blockId")));
  std::string aw = fmt::format("{} (block \"{}\")", where, a.blockId);

  auto range = j.find("range");
  if (range == j.end()) return Status::invalid(fmt::format("{}: range is missing", aw));
  OPTDB_ASSIGN(a.range, decodeOneRange(*range, member(aw, "range")));

  auto revs = j.find("revisions");
  if (revs == j.end()) return Status::invalid(fmt::format("{}: revisions is missing", aw));
  std::string rw = member(aw, "revisions");
  if (!revs->is_object()) return expected(rw, "an object of revisions by number", *revs);
  std::set<TrxId> trxIds;
  for (const auto& [key, value] : revs->items()) {
    std::string w = member(rw, key);
    OPTDB_ASSIGN(Rev rev, decodeRevKey(key, w));
    if (!rangesContain({a.range}, rev))
      return Status::invalid(fmt::format("{}: revision {} lies outside the archive's range {}", w, rev,
                                         rangeText(a.range)));
    Dialect seen = Dialect::Trx;
    OPTDB_ASSIGN(auto r, decodeArchiveRevision(value, a.blockId, rev, w, &seen));
    if (a.revisions.empty()) a.dialect = seen;
    if (!trxIds.insert(r.trx.trxId).second)
      return Status::invalid(fmt::format("{}: transaction {} appears at two revisions", w, r.trx.trxId));
    a.revisions.push_back(std::move(r));
  }
  std::sort(a.revisions.begin(), a.revisions.end(),
            [](const ArchiveRevision& x, const ArchiveRevision& y) { return x.trx.rev < y.trx.rev; });
  for (size_t i = 1; i < a.revisions.size(); ++i)
    if (a.revisions[i].trx.rev == a.revisions[i - 1].trx.rev)
      return Status::invalid(fmt::format("{}: revision {} appears twice", rw, a.revisions[i].trx.rev));

  if (auto p = j.find("pending"); p != j.end() && !p->is_null()) {
    std::string pw = member(aw, "pending");
    if (!p->is_object()) return expected(pw, "an object of pending transactions by id", *p);
    if (a.range.end && !p->empty())
      return Status::invalid(fmt::format("{}: only an archive with an open-ended range may carry pending transactions", pw));
    for (const auto& [key, value] : p->items()) {
      std::string w = member(pw, key);
      OPTDB_TRY(validateTrxId(key, w));
      const char* trxKey = namesOf(Dialect::Trx).idMember;
      const char* actionKey = namesOf(Dialect::Actions).idMember;
      if (!value.is_object())
        return expected(w, fmt::format("an object {{\"{}\",\"transforms\"}}", trxKey), value);
      OPTDB_TRY(onlyMembers(value, w, {trxKey, actionKey, "rev", "transforms"}));
      const char* idKey = value.contains(trxKey) ? trxKey : actionKey;
      auto tid = value.find(idKey);
      if (tid == value.end() || !tid->is_string())
        return Status::invalid(fmt::format("{}: {} must be a string", w, trxKey));
      if (tid->get<std::string>() != key)
        return Status::invalid(fmt::format("{}: {} \"{}\" differs from its key", w, idKey, tid->get<std::string>()));
      // The revision a v0.24 pending entry may name is the one it was pended
      // for; a store does not keep it, so it is checked and dropped.
      if (auto pr = value.find("rev"); pr != value.end()) OPTDB_TRY(decodeRev(*pr, member(w, "rev")).status());
      auto tf = value.find("transforms");
      if (tf == value.end()) return Status::invalid(fmt::format("{}: transforms is missing", w));
      std::string tw = member(w, "transforms");
      auto transforms = decodeTransforms(*tf, tw);
      if (!transforms) return within(transforms.status(), tw);
      Transform mine = transforms->forBlock(a.blockId);
      if (mine.empty()) continue;  // nothing for this block
      a.pending.push_back({key, std::move(mine)});
    }
    std::sort(a.pending.begin(), a.pending.end(),
              [](const ArchivePending& x, const ArchivePending& y) { return x.trxId < y.trxId; });
  }
  return a;
}

Json encodeArchive(const BlockArchive& a) {
  Json j = Json::object();
  j["blockId"] = a.blockId;
  // Built whole, not member by member: an object's lookup is linear, and an
  // archive may hold a block's whole history.
  std::vector<JsonMember> revs;
  revs.reserve(a.revisions.size());
  const DialectNames& names = namesOf(a.dialect);
  for (const auto& r : a.revisions) {
    Json trx = encodeTrxRev(r.trx, a.dialect);
    trx["transform"] = encodeTransform(r.transform);
    Json entry = Json::object();
    entry[names.revisionEntry] = std::move(trx);
    if (r.block) entry["block"] = *r.block;
    revs.emplace_back(std::to_string(r.trx.rev), std::move(entry));
  }
  j["revisions"] = jsonObject(revs);
  j["range"] = encodeRanges({a.range}).front();
  if (!a.range.end && !a.pending.empty()) {
    std::vector<JsonMember> pending;
    pending.reserve(a.pending.size());
    for (const auto& p : a.pending) {
      Transforms t;
      t.add(a.blockId, p.transform);
      Json entry = Json::object();
      entry[names.idMember] = p.trxId;
      entry["transforms"] = encodeTransforms(t);
      pending.emplace_back(p.trxId, std::move(entry));
    }
    j["pending"] = jsonObject(pending);
  }
  return j;
}

void appendArchiveLine(std::string& out, const BlockArchive& a) {
  appendJson(out, encodeArchive(a));
  out.push_back('\n');
}

Result<std::vector<std::optional<Json>>> archiveMaterializations(const BlockArchive& a, std::string_view where,
                                                                 Dialect dialect) {
  std::vector<std::optional<Json>> out(a.revisions.size());
  bool known = false;  // whether `state` is the block's state, from the archive alone
  std::optional<Json> state;
  for (size_t i = 0; i < a.revisions.size(); ++i) {
    const auto& r = a.revisions[i];
    if (known || r.transform.insert || r.transform.del) {  // insert and delete need nothing older
      auto next = applyTransform(known ? std::move(state) : std::optional<Json>(), r.transform);
      if (!next)
        return Status::invalid(fmt::format("{} (block \"{}\"): revision {}: the transform cannot apply: {}", where,
                                           a.blockId, r.trx.rev, next.status().message()));
      state = std::move(next).value();
      known = true;
    }
    if (r.block) {
      state = *r.block;
      known = true;
      out[i] = *r.block;
    } else if (known && state &&
               retainsMaterialization(dialect, r.trx.rev, i, a.revisions.front().trx.rev, a.revisions.back().trx.rev)) {
      out[i] = state;
    }
  }
  return out;
}

// ---- reading a stream ----

namespace {
constexpr std::size_t kReadSize = 256 * 1024;
}  // namespace

ArchiveReader::ArchiveReader(std::string_view text, std::string name)
    : text_(text), name_(std::move(name)), ended_(true) {}

ArchiveReader::ArchiveReader(ReadFn read, std::string name) : name_(std::move(name)), read_(std::move(read)) {}

Status ArchiveReader::fail(std::size_t line, const std::string& message) const {
  return Status::invalid(fmt::format("{}: line {}: {}", name_, line, message));
}

Result<bool> ArchiveReader::fill() {
  if (ended_) return false;
  // Only appends: positions into buf_ stay valid while a value is scanned.
  const std::size_t old = buf_.size();
  buf_.resize(old + kReadSize);
  auto n = read_(buf_.data() + old, kReadSize);
  if (!n) {
    buf_.resize(old);
    text_ = buf_;
    return n.status();
  }
  buf_.resize(old + *n);
  text_ = buf_;
  if (*n == 0) ended_ = true;
  return *n > 0;
}

Status ArchiveReader::detectZstd() {
  while (text_.size() < 4) {
    OPTDB_ASSIGN(bool more, fill());
    if (!more) break;
  }
  if (!startsWithZstdMagic(text_)) return Status::ok();
  // From here on the reader reads decompressed bytes: what was read so far
  // (the whole text, for a text) is the start of the compressed stream.
  ReadFn source;
  std::string prefix;
  if (read_) {
    prefix = std::move(buf_);
    source = std::move(read_);
  } else {
    source = [rest = text_](char* buf, std::size_t size) mutable -> Result<std::size_t> {
      const std::size_t n = std::min(size, rest.size());
      std::memcpy(buf, rest.data(), n);
      rest.remove_prefix(n);
      return n;
    };
  }
  read_ = zstdDecompressor(std::move(prefix), std::move(source), name_, maxDecompressed_, limitName_);
  buf_.clear();
  text_ = buf_;
  pos_ = 0;
  ended_ = false;
  return Status::ok();
}

Result<std::optional<BlockArchive>> ArchiveReader::next() {
  if (!started_) {
    started_ = true;
    OPTDB_TRY(detectZstd());
    while (text_.size() < 3) {
      OPTDB_ASSIGN(bool more, fill());
      if (!more) break;
    }
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 byte order mark
  }
  for (;;) {
    if (array_) {
      if (arrayIndex_ < array_->size()) {
        std::size_t i = arrayIndex_++;
        where_ = fmt::format("{}: line {}: [{}]", name_, arrayLine_, i);
        OPTDB_ASSIGN(auto a, decodeArchive((*array_)[i], where_));
        return std::optional<BlockArchive>(std::move(a));
      }
      array_.reset();
    }
    // Drop what was consumed (memory holds one value and a read's worth), by
    // runs of half a read at least so that moving the rest stays cheap.
    if (read_ && pos_ > 0 && (pos_ >= kReadSize / 2 || pos_ == buf_.size())) {
      buf_.erase(0, pos_);
      pos_ = 0;
      text_ = buf_;
    }
    for (;;) {
      if (pos_ >= text_.size()) {
        if (read_) {  // all whitespace so far
          buf_.clear();
          pos_ = 0;
          text_ = buf_;
        }
        OPTDB_ASSIGN(bool more, fill());
        if (!more) break;
        continue;
      }
      char c = text_[pos_];
      if (c == '\n') ++line_;
      else if (c != ' ' && c != '\t' && c != '\r') break;
      ++pos_;
    }
    if (pos_ >= text_.size()) return std::optional<BlockArchive>();
    const std::size_t start = pos_, startLine = line_;
    char open = text_[pos_];
    if (open != '{' && open != '[') return fail(startLine, "expected an archive (a JSON object) or an array of archives");
    // Find where this value ends: balance brackets outside strings.
    int depth = 0;
    bool inString = false, escaped = false;
    std::size_t end = std::string_view::npos;
    for (std::size_t i = pos_;; ++i) {
      if (i >= text_.size()) {
        OPTDB_ASSIGN(bool more, fill());
        if (!more) break;
      }
      char c = text_[i];
      if (c == '\n') ++line_;
      if (inString) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') inString = false;
        continue;
      }
      if (c == '"') inString = true;
      else if (c == '{' || c == '[') ++depth;
      else if ((c == '}' || c == ']') && --depth == 0) {
        end = i + 1;
        break;
      }
    }
    if (end == std::string_view::npos) return fail(startLine, "truncated JSON: the value that starts here does not end");
    pos_ = end;
    OPTDB_ASSIGN(auto j, parseJson(text_.substr(start, end - start), fmt::format("{}: line {}", name_, startLine),
                                   open == '[' ? kArchiveEnvelope + 1 : kArchiveEnvelope));  // [archive, …]: one more
    if (j.is_array()) {
      array_ = std::move(j);
      arrayIndex_ = 0;
      arrayLine_ = startLine;
      continue;
    }
    where_ = fmt::format("{}: line {}", name_, startLine);
    OPTDB_ASSIGN(auto a, decodeArchive(j, where_));
    return std::optional<BlockArchive>(std::move(a));
  }
}

Result<std::vector<BlockArchive>> readArchives(std::string_view text, const std::string& name) {
  ArchiveReader reader(text, name);
  std::vector<BlockArchive> out;
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) break;
    OPTDB_TRY(archiveMaterializations(*a, reader.where()));
    out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace optdb
