// Archives (SPEC §4): the BlockArchive codec, the NDJSON reader, writing a
// store's history as archives, applying them in restore, and restore sources.
#include "optdb/archive.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "optdb/block_storage.hpp"
#include "write_locks.hpp"
#include "optdb/codec.hpp"
#include "deadline.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/transform.hpp"

extern char** environ;

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

Result<std::vector<std::optional<Json>>> archiveMaterializations(const BlockArchive& a, std::string_view where) {
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
    } else if (known && state && (i % kCheckpointInterval == 0 || i + 1 == a.revisions.size())) {
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

Result<std::optional<BlockArchive>> ArchiveReader::next() {
  if (!started_) {
    started_ = true;
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

// ---- archive ----

namespace {

// The committed revision at `rev`: its revs/ file names a TrxId whose committed transform exists.
Result<std::optional<CommittedRevision>> committedAt(RawStorage& raw, const BlockId& id, Rev rev) {
  OPTDB_ASSIGN(auto trxId, raw.getRevision(id, rev));
  if (!trxId) return std::optional<CommittedRevision>();
  OPTDB_ASSIGN(auto t, raw.getCommitted(id, *trxId));
  if (!t) return std::optional<CommittedRevision>();
  return std::optional<CommittedRevision>(CommittedRevision{{*trxId, rev}, std::move(*t)});
}

// The greatest committed revision in [floor, n].
Result<std::optional<Rev>> greatestCommitted(RawStorage& raw, const BlockId& id, RevisionList& revs, Rev floor, Rev n) {
  OPTDB_ASSIGN(std::size_t i, revs.upperBound(n));
  while (i > 0) {
    OPTDB_ASSIGN(const Rev r, revs.at(--i));
    if (r < floor) break;
    OPTDB_ASSIGN(auto c, committedAt(raw, id, r));
    if (c) return std::optional<Rev>(r);
  }
  return std::optional<Rev>();
}

std::optional<Range> pieceOf(const Ranges& held, Rev rev) {
  for (const auto& r : held)
    if (rangesContain({r}, rev)) return r;
  return std::nullopt;
}

class BlockArchiver {
 public:
  BlockArchiver(RawStorage& raw, const BlockId& id, std::size_t chunk, const ArchiveSink& sink)
      : raw_(raw), id_(id), chunk_(chunk), sink_(sink) {}

  Status run(const ArchiveRequest& req) {
    OPTDB_ASSIGN(auto meta, raw_.getMeta(id_));
    if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id_));
    dialect_ = req.layout.value_or(meta->dialect);
    Ranges held = normalizeRanges(meta->ranges);
    // The revision index, read a record at a time: never the whole history in memory.
    OPTDB_ASSIGN(revs_, raw_.revisions(id_, *meta));
    Rev lo = 0;
    std::optional<Rev> hi;
    if (req.rev) {
      auto piece = pieceOf(held, *req.rev);
      if (!piece) return Status::notFound(fmt::format("block {}: revision {} is not held by this store", id_, *req.rev));
      OPTDB_ASSIGN(auto g, greatestCommitted(raw_, id_, *revs_, piece->start, *req.rev));
      lo = g.value_or(*req.rev);
      if (*req.rev < kMaxRev) hi = *req.rev + 1;
    } else {
      if (req.from) {
        lo = *req.from;
        // Start at the greatest committed revision ≤ from, to carry the state at `from`.
        if (auto piece = pieceOf(held, lo)) {
          OPTDB_ASSIGN(auto g, greatestCommitted(raw_, id_, *revs_, piece->start, lo));
          if (g) lo = *g;
        }
      }
      hi = req.to;
    }
    // A block holding no range (an actions block with pendings only): its
    // pendings travel in one archive of no revisions.
    if (held.empty() && !req.rev && !req.to) return archivePiece(lo, std::nullopt);
    for (const auto& piece : held) {
      Rev s = std::max(piece.start, lo);
      std::optional<Rev> e = piece.end;
      if (hi) e = e ? std::min(*e, *hi) : *hi;
      if (e && *e <= s) continue;
      OPTDB_TRY(archivePiece(s, e));
    }
    return Status::ok();
  }

 private:
  // One held piece [s, e) of the window: one archive, or consecutive chunks.
  Status archivePiece(Rev s, std::optional<Rev> e) {
    BlockArchive cur{id_, {}, Range{s, std::nullopt}, {}, dialect_};
    std::optional<Json> state;
    bool haveState = false;
    OPTDB_ASSIGN(std::size_t i, revs_->lowerBound(s));
    for (; i < revs_->size(); ++i) {
      OPTDB_ASSIGN(const Rev rev, revs_->at(i));
      if (e && rev >= *e) break;
      OPTDB_ASSIGN(auto c, committedAt(raw_, id_, rev));
      if (!c) continue;
      if (!haveState) {
        BlockStorage bs(id_, raw_);  // no restore source: a reader of this store only
        // At rev itself, even above latest: a commit finished but for meta.json
        // is a revision (SPEC §2), and its state is what the archive must carry.
        OPTDB_ASSIGN(state, bs.getBlockAt(rev));
        haveState = true;
      } else {
        auto next = applyTransform(std::move(state), c->transform);
        if (!next)
          return Status::integrity(fmt::format("block {}: revision {}: replay failed: {}", id_, rev, next.status().message()));
        state = std::move(next).value();
      }
      if (chunk_ && cur.revisions.size() == chunk_) {
        cur.range.end = rev;  // a chunk runs to the next chunk's first revision
        OPTDB_TRY(sink_(cur));
        cur = BlockArchive{id_, {}, Range{rev, std::nullopt}, {}, dialect_};
      }
      cur.revisions.push_back({c->trxRev, std::move(c->transform), cur.revisions.empty() ? state : std::nullopt});
    }
    cur.range.end = e;
    if (!e) {
      OPTDB_ASSIGN(auto pendings, raw_.listPendings(id_));
      for (const auto& p : pendings) {
        OPTDB_ASSIGN(auto t, raw_.getPending(id_, p));
        if (!t || t->empty()) continue;  // committed or cancelled meanwhile
        OPTDB_ASSIGN(auto committed, raw_.getCommitted(id_, p));
        if (committed) continue;  // a leftover of a commit: it is committed
        cur.pending.push_back({p, std::move(*t)});
      }
    }
    return sink_(cur);
  }

  RawStorage& raw_;
  const BlockId& id_;
  std::size_t chunk_;
  const ArchiveSink& sink_;
  std::unique_ptr<RevisionList> revs_;
  Dialect dialect_ = Dialect::Trx;
};

}  // namespace

Status writeArchives(RawStorage& raw, const ArchiveRequest& req, const ArchiveSink& sink,
                     const ArchiveProgress& progress) {
  if (req.all && !req.blockIds.empty()) return Status::invalid("give block ids or --all, not both");
  if (!req.all && req.blockIds.empty()) return Status::invalid("no block ids given (or use --all)");
  if (req.rev && (req.from || req.to)) return Status::invalid("--rev cannot be combined with --from or --to");
  if (req.from && req.to && *req.to <= *req.from)
    return Status::invalid(fmt::format("--to {} must be above --from {}", *req.to, *req.from));
  for (auto r : {req.from, req.to, req.rev})
    if (r && *r > kMaxRev) return Status::invalid(fmt::format("revision {} is above {}", *r, kMaxRev));
  std::vector<BlockId> ids;
  if (req.all) {
    OPTDB_ASSIGN(ids, raw.listBlocks());
  } else {
    std::set<BlockId> seen;
    for (const auto& id : req.blockIds) {
      OPTDB_TRY(validateBlockId(id, fmt::format("block id \"{}\"", id)));
      if (seen.insert(id).second) ids.push_back(id);
    }
    // Check every named block first, so that nothing is written when one is missing.
    for (const auto& id : ids) {
      OPTDB_ASSIGN(auto meta, raw.getMeta(id));
      if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id));
      if (req.rev && !rangesContain(meta->ranges, *req.rev))
        return Status::notFound(fmt::format("block {}: revision {} is not held by this store", id, *req.rev));
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& id = ids[i];
    if (req.all) {
      OPTDB_ASSIGN(auto meta, raw.getMeta(id));
      bool skip = !meta || (req.rev && !rangesContain(meta->ranges, *req.rev));
      if (skip) {
        if (progress) progress(i + 1, ids.size(), id);
        continue;
      }
    }
    BlockArchiver archiver(raw, id, req.chunk, sink);
    OPTDB_TRY(archiver.run(req));
    if (progress) progress(i + 1, ids.size(), id);
  }
  return Status::ok();
}

// ---- restore ----

Json RestoreSummary::toJson() const {
  Json j = Json::object();
  j["restored"] = restored;
  Json rej = Json::array();
  for (const auto& [id, reason] : rejected) {
    Json e = Json::object();
    e["blockId"] = id;
    e["reason"] = reason;
    rej.push_back(std::move(e));
  }
  j["rejected"] = std::move(rej);
  return j;
}

namespace {

// The revision of the block whose file names trxId, if any: a scan of the
// history, for the rare transform found committed with no revision of its own.
Result<std::optional<Rev>> revisionNaming(RawStorage& raw, const BlockId& id, const TrxId& trxId) {
  OPTDB_ASSIGN(auto revs, raw.listRevisions(id));
  for (Rev r : revs) {
    OPTDB_ASSIGN(auto named, raw.getRevision(id, r));
    if (named && *named == trxId) return std::optional<Rev>(r);
  }
  return std::optional<Rev>();
}

}  // namespace

Result<std::optional<std::string>> applyArchive(RawStorage& raw, const BlockArchive& a) {
  using Conflict = std::optional<std::string>;
  const BlockId& id = a.blockId;
  OPTDB_ASSIGN(auto meta, raw.getMeta(id));
  // Find any conflict before writing anything.
  struct Step {
    bool haveRevision = false;
    bool haveTransform = false;
  };
  std::vector<Step> steps;
  steps.reserve(a.revisions.size());
  for (const auto& r : a.revisions) {
    OPTDB_ASSIGN(auto local, raw.getRevision(id, r.trx.rev));
    if (local && *local != r.trx.trxId)
      return Conflict(fmt::format("revision {} is held here by transaction {}; the archive has {}", r.trx.rev, *local,
                                  r.trx.trxId));
    OPTDB_ASSIGN(auto localT, raw.getCommitted(id, r.trx.trxId));
    if (localT && !local) {
      // A transform no revision file names (a restore interrupted before its
      // revision file, or a lost revision file) is what the archive vouches
      // for; another revision naming the transaction is a conflict.
      OPTDB_ASSIGN(auto elsewhere, revisionNaming(raw, id, r.trx.trxId));
      if (elsewhere)
        return Conflict(fmt::format("transaction {} is committed here at revision {}, not {}", r.trx.trxId, *elsewhere,
                                    r.trx.rev));
    }
    if (localT && toJson(encodeTransform(*localT)) != toJson(encodeTransform(r.transform)))
      return Conflict(fmt::format("revision {}: transaction {} is held here with a different transform", r.trx.rev,
                                  r.trx.trxId));
    steps.push_back({local.has_value(), localT.has_value()});
  }
  OPTDB_ASSIGN(auto mats, archiveMaterializations(a, "archive"));
  OPTDB_ASSIGN(auto pendingList, raw.listPendings(id));
  std::set<TrxId> localPendings(pendingList.begin(), pendingList.end());
  OPTDB_ASSIGN(const Dialect dialect, raw.dialect(id));
  BlockMeta m = meta ? *meta : newBlockMeta(dialect);
  if (!meta) m.ranges.clear();  // a restored block holds only what its archives claim
  // An actions block holds revisions from its first commit (upstream v0.24):
  // an archive of pendings alone adds none.
  if (!a.revisions.empty() || m.dialect == Dialect::Trx) {
    m.ranges.push_back(a.range);
    m.ranges = normalizeRanges(std::move(m.ranges));
  }
  if (!a.revisions.empty()) {
    const TrxRev& top = a.revisions.back().trx;
    if (!m.latest || top.rev > m.latest->rev) m.latest = top;
  }
  const bool metaChanged = !meta || toJson(encodeMeta(m)) != toJson(encodeMeta(*meta));
  // Per revision: the revision file, the materialization, then the committed
  // transform, which is what makes it a revision (SPEC §2). Interrupted at any
  // point, this leaves what readers ignore (a revision file naming no
  // committed transform) or what the same restore finishes when run again.
  bool newRevision = false;
  std::vector<Rev> added;
  for (size_t i = 0; i < a.revisions.size(); ++i) {
    const auto& r = a.revisions[i];
    if (!steps[i].haveRevision) {
      OPTDB_TRY(raw.saveRevision(id, r.trx.rev, r.trx.trxId));
      added.push_back(r.trx.rev);
      newRevision = true;
    }
    // A materialization is trusted only for a transaction committed here: one of
    // a transaction only pending here may be left by an attempt that never
    // reached its revision file, computed on another block state.
    if (mats[i]) {
      std::optional<Json> existing;
      if (steps[i].haveTransform) {
        OPTDB_ASSIGN(existing, raw.getMaterialized(id, r.trx.trxId));
      }
      if (!existing) OPTDB_TRY(raw.saveMaterialized(id, r.trx.trxId, *mats[i]));
    } else if (!steps[i].haveTransform) {
      OPTDB_TRY(raw.discardMaterialized(id, r.trx.trxId));
    }
    if (!steps[i].haveTransform) OPTDB_TRY(raw.saveCommitted(id, r.trx.trxId, r.transform));
  }
  // Revisions written below the tip too: the index is rebuilt for the new meta.json.
  if (newRevision || metaChanged) OPTDB_TRY(raw.addToRevisionIndex(id, meta, m, added));
  // A pending transaction the archive shows committed is committed now.
  std::set<TrxId> committedHere;
  for (const auto& r : a.revisions) {
    committedHere.insert(r.trx.trxId);
    if (localPendings.count(r.trx.trxId)) {
      OPTDB_TRY(raw.deletePending(id, r.trx.trxId));
      localPendings.erase(r.trx.trxId);
    }
  }
  if (!a.range.end) {
    for (const auto& p : a.pending) {
      if (committedHere.count(p.trxId) || localPendings.count(p.trxId)) continue;
      OPTDB_ASSIGN(auto committed, raw.getCommitted(id, p.trxId));
      if (committed) continue;
      OPTDB_TRY(raw.savePending(id, p.trxId, p.transform));
    }
  }
  if (metaChanged) OPTDB_TRY(raw.saveMeta(id, m));
  return Conflict();
}

namespace {

// Restore's first pass over one input: every archive parsed and checked,
// nothing written. Returns how many there are.
Result<std::size_t> validateArchives(ArchiveReader& reader) {
  std::size_t count = 0;
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) return count;
    OPTDB_TRY(archiveMaterializations(*a, reader.where()));
    ++count;
  }
}

// Restore's second pass over one input: each archive applied under its
// block's lock, its outcome added to `summary`. Returns how many were read.
Result<std::size_t> applyArchives(RawStorage& raw, ArchiveReader& reader, double lockTimeout, RestoreSummary& summary,
                                  std::set<BlockId>& restored) {
  std::size_t applied = 0;
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) return applied;
    ++applied;
    OPTDB_ASSIGN(auto locks, lockRecovered(raw, {a->blockId}, nullptr, lockTimeout));
    OPTDB_ASSIGN(auto conflict, applyArchive(raw, *a));
    if (conflict) summary.rejected.emplace_back(a->blockId, *conflict);
    else if (restored.insert(a->blockId).second) summary.restored.push_back(a->blockId);
  }
}

}  // namespace

Result<RestoreSummary> restoreArchives(RawStorage& raw, const std::vector<ArchiveInput>& inputs, double lockTimeout) {
  // Everything is validated before anything is written.
  std::size_t count = 0;
  for (const auto& in : inputs) {
    ArchiveReader reader(in.text, in.name);
    OPTDB_ASSIGN(const std::size_t n, validateArchives(reader));
    count += n;
  }
  RestoreSummary summary;
  if (count == 0) return summary;  // nothing to write: not even the store directory
  std::set<BlockId> restored;
  OPTDB_ASSIGN(auto storeLock, raw.lockStore(LockMode::Shared, lockTimeout));
  for (const auto& in : inputs) {
    ArchiveReader reader(in.text, in.name);
    OPTDB_TRY(applyArchives(raw, reader, lockTimeout, summary, restored).status());
  }
  return summary;
}

namespace {

// An unnamed temporary file in `dir` ($TMPDIR, else /tmp, when empty), read
// and write, gone when closed: where input that cannot be read twice or must
// not be held in memory is spooled. `what` names the input in messages.
Result<int> openSpool(const std::string& dir, const std::string& what) {
  std::string d = !dir.empty() ? dir : std::getenv("TMPDIR") && *std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  int fd = -1;
#ifdef O_TMPFILE
  fd = ::open(d.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
  if (fd < 0) {
    std::string path = d + "/optdb-restore.XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  if (fd < 0)
    return Status::io(
        fmt::format("{}: cannot make a temporary file in {} to hold the input: {}", what, d, std::strerror(errno)));
  return fd;
}

// One restore input over its two passes.
class StreamInput {
 public:
  explicit StreamInput(const ArchiveStream& in) : in_(in) {}
  StreamInput(const StreamInput&) = delete;
  StreamInput& operator=(const StreamInput&) = delete;
  StreamInput(StreamInput&& o) noexcept
      : in_(o.in_), seekable_(o.seekable_), offset_(o.offset_), st_(o.st_), spool_(o.spool_) {
    o.spool_ = -1;
  }
  ~StreamInput() {
    if (spool_ >= 0) ::close(spool_);
  }

  // Before the first pass: where the input starts, or a spool for it.
  Status open(const std::string& spoolDir) {
    if (in_.fd < 0) return Status::ok();
    if (::fstat(in_.fd, &st_) != 0) return Status::io(fmt::format("{}: {}", in_.name, std::strerror(errno)));
    if (S_ISDIR(st_.st_mode)) return Status::invalid(fmt::format("{}: is a directory", in_.name));
    if (S_ISREG(st_.st_mode)) {
      offset_ = ::lseek(in_.fd, 0, SEEK_CUR);
      seekable_ = offset_ >= 0;
    }
    if (seekable_) return Status::ok();
    // Cannot be read twice: copy it while validating, into a file with no name.
    OPTDB_ASSIGN(spool_, openSpool(spoolDir, in_.name));
    return Status::ok();
  }

  // The first pass reads the input (copying it into the spool); the second,
  // the spool or the input again from where it started.
  ArchiveReader reader(bool second) {
    if (in_.fd < 0) return ArchiveReader(std::string_view(), in_.name);
    int fd = second && spool_ >= 0 ? spool_ : in_.fd;
    int tee = !second ? spool_ : -1;
    std::string name = in_.name;
    return ArchiveReader(
        [fd, tee, name](char* buf, std::size_t size) -> Result<std::size_t> {
          for (;;) {
            ssize_t n = ::read(fd, buf, size);
            if (n < 0) {
              if (errno == EINTR) continue;
              return Status::io(fmt::format("reading {}: {}", name, std::strerror(errno)));
            }
            for (ssize_t done = 0; tee >= 0 && done < n;) {
              ssize_t w = ::write(tee, buf + done, static_cast<std::size_t>(n - done));
              if (w < 0) {
                if (errno == EINTR) continue;
                return Status::io(fmt::format("{}: writing its temporary copy: {}", name, std::strerror(errno)));
              }
              done += w;
            }
            return static_cast<std::size_t>(n);
          }
        },
        in_.name);
  }

  // Between the passes: back to the start, the input unchanged.
  Status rewind() {
    if (in_.fd < 0) return Status::ok();
    if (spool_ >= 0) {
      if (::lseek(spool_, 0, SEEK_SET) != 0)
        return Status::io(fmt::format("{}: rewinding its temporary copy: {}", in_.name, std::strerror(errno)));
      return Status::ok();
    }
    struct stat now;
    if (::fstat(in_.fd, &now) != 0) return Status::io(fmt::format("{}: {}", in_.name, std::strerror(errno)));
    if (now.st_size != st_.st_size || now.st_mtim.tv_sec != st_.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != st_.st_mtim.tv_nsec)
      return Status::io(fmt::format("{}: the file changed while it was being validated; nothing was written", in_.name));
    if (::lseek(in_.fd, offset_, SEEK_SET) != offset_)
      return Status::io(fmt::format("{}: cannot read it again: {}", in_.name, std::strerror(errno)));
    return Status::ok();
  }

 private:
  ArchiveStream in_;
  bool seekable_ = false;
  off_t offset_ = 0;
  struct stat st_ {};
  int spool_ = -1;
};

}  // namespace

Result<RestoreSummary> restoreArchiveStreams(RawStorage& raw, const std::vector<ArchiveStream>& inputs,
                                             double lockTimeout, const std::string& spoolDir) {
  std::vector<StreamInput> streams;
  streams.reserve(inputs.size());
  for (const auto& in : inputs) {
    streams.emplace_back(in);
    OPTDB_TRY(streams.back().open(spoolDir));
  }
  // First pass: everything is validated before anything is written.
  std::size_t count = 0;
  for (auto& in : streams) {
    ArchiveReader reader = in.reader(false);
    OPTDB_ASSIGN(const std::size_t n, validateArchives(reader));
    count += n;
  }
  RestoreSummary summary;
  if (count == 0) return summary;  // nothing to write: not even the store directory
  for (auto& in : streams) OPTDB_TRY(in.rewind());
  // Second pass: the same archives again, applied one at a time.
  std::set<BlockId> restored;
  std::size_t applied = 0;
  OPTDB_ASSIGN(auto storeLock, raw.lockStore(LockMode::Shared, lockTimeout));
  for (auto& in : streams) {
    ArchiveReader reader = in.reader(true);
    OPTDB_ASSIGN(const std::size_t n, applyArchives(raw, reader, lockTimeout, summary, restored));
    applied += n;
  }
  if (applied != count)
    return Status::io(fmt::format("the input changed while it was being restored: {} archives validated, {} read again",
                                  count, applied));
  return summary;
}

// ---- restore sources ----

Result<std::vector<RestoreSource>> parseRestoreSources(const std::vector<std::string>& specs) {
  std::vector<RestoreSource> out;
  for (const auto& spec : specs) {
    RestoreSource src;
    src.spec = spec;
    if (spec.rfind("cmd:", 0) == 0) {
      src.kind = RestoreSource::Kind::Command;
      src.location = spec.substr(4);
      if (src.location.find_first_not_of(" \t") == std::string::npos)
        return Status::invalid(fmt::format("--restore-from '{}': no command after cmd:", spec));
    } else {
      if (spec.empty()) return Status::invalid("--restore-from: an empty source");
      struct stat st;
      src.kind = ::stat(spec.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? RestoreSource::Kind::Store
                                                                          : RestoreSource::Kind::File;
      src.location = spec;
    }
    out.push_back(std::move(src));
  }
  return out;
}

namespace {

// The process groups of the restore-source commands running now, for the
// signal handler below: a fixed table of atomics, as a handler may only
// read lock-free memory. 0 is a free slot.
constexpr std::size_t kMaxChildren = 64;
std::atomic<pid_t> gChildGroups[kMaxChildren];

// Registers a command's process group for its lifetime (SIGINT and SIGTERM
// kill it with optdb: SPEC §7).
class ChildGroup {
 public:
  explicit ChildGroup(pid_t pgid) {
    for (auto& slot : gChildGroups) {
      pid_t expected = 0;
      if (slot.compare_exchange_strong(expected, pgid)) {
        slot_ = &slot;
        return;
      }
    }
  }
  ~ChildGroup() {
    if (slot_) slot_->store(0);
  }
  ChildGroup(const ChildGroup&) = delete;
  ChildGroup& operator=(const ChildGroup&) = delete;

 private:
  std::atomic<pid_t>* slot_ = nullptr;
};

constexpr int kTerminatingSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void killChildrenAndDie(int sig) {
  for (auto& slot : gChildGroups) {
    pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
  // SA_RESETHAND restored the default action; the signal, blocked while this
  // handler runs, is delivered again when it returns, and ends optdb.
  ::raise(sig);
}

// An open descriptor, closed at the end of its scope.
struct OwnedFd {
  int fd = -1;
  OwnedFd() = default;
  explicit OwnedFd(int f) : fd(f) {}
  OwnedFd(OwnedFd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd >= 0) ::close(fd);
  }
};

// Runs `/bin/sh -c COMMAND optdb-restore ID REV` with stdin from /dev/null and
// stdout spooled into an unnamed temporary file (never held in memory: SPEC
// §7), returned at its start; its stderr passes through. It runs in a process
// group of its own, so that a timeout, an output above maxBytes or a signal
// to optdb kills whatever it started too.
Result<OwnedFd> runCommand(const std::string& command, const BlockId& id, std::optional<Rev> rev,
                           double timeoutSeconds, std::uint64_t maxBytes) {
  OPTDB_ASSIGN(const int spoolFd, openSpool(std::string(), "its output"));
  OwnedFd spool(spoolFd);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::io(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  std::string sh = "/bin/sh", dashC = "-c", cmd = command, name = "optdb-restore", blockArg = id;
  std::string revArg = rev ? std::to_string(*rev) : std::string();
  char* argv[] = {sh.data(), dashC.data(), cmd.data(), name.data(), blockArg.data(), revArg.data(), nullptr};
  // The terminating signals are held from before the spawn until the group is
  // registered, so that none can end optdb with the command left unregistered;
  // the command starts with optdb's own mask, and SIGPIPE at its default (optdb
  // ignores it, and an ignored signal would be inherited).
  sigset_t terminating, old;
  sigemptyset(&terminating);
  for (int s : kTerminatingSignals) sigaddset(&terminating, s);
  pthread_sigmask(SIG_BLOCK, &terminating, &old);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &old);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  std::optional<ChildGroup> group;
  if (rc == 0) group.emplace(pid);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status::io(fmt::format("cannot run /bin/sh: {}", std::strerror(rc)));
  }
  char buf[65536];
  int readErr = 0, spoolErr = 0;
  bool timedOut = false, tooBig = false;
  std::uint64_t total = 0;
  const Deadline deadline = timeoutSeconds > 0 ? Deadline::after(timeoutSeconds) : Deadline::never();
  for (;;) {
    // Checked at every read too: a command that never stops writing times out.
    struct pollfd p{fds[0], POLLIN, 0};
    int ready = deadline.expired() ? 0 : ::poll(&p, 1, deadline.pollMs());
    if (ready == 0) {
      timedOut = true;
      break;
    }
    ssize_t n = ready < 0 ? -1 : ::read(fds[0], buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      readErr = errno;
      break;
    }
    if (n == 0) break;
    if (total + static_cast<std::uint64_t>(n) > maxBytes) {
      tooBig = true;
      break;
    }
    total += static_cast<std::uint64_t>(n);
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(spool.fd, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        spoolErr = errno;
        break;
      }
      done += w;
    }
    if (spoolErr) break;
  }
  ::close(fds[0]);
  // Stopped before its end: the command, and whatever it started, is killed.
  if (timedOut || tooBig || readErr || spoolErr) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::io(fmt::format("waiting for the command: {}", std::strerror(errno)));
  }
  if (timedOut)
    return Status::io(fmt::format("the command did not finish within {} s (OPTDB_RESTORE_TIMEOUT); it was killed",
                                  formatNumber(timeoutSeconds)));
  if (tooBig)
    return Status::io(fmt::format("its output exceeds OPTDB_RESTORE_MAX_BYTES ({} bytes); the command was killed",
                                  maxBytes));
  if (readErr) return Status::io(fmt::format("reading the command's output: {}", std::strerror(readErr)));
  if (spoolErr) return Status::io(fmt::format("spooling the command's output: {}", std::strerror(spoolErr)));
  if (WIFSIGNALED(status)) return Status::io(fmt::format("the command was killed by signal {}", WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status::io(fmt::format("the command exited with status {}", WEXITSTATUS(status)));
  if (::lseek(spool.fd, 0, SEEK_SET) != 0)
    return Status::io(fmt::format("rewinding the command's spooled output: {}", std::strerror(errno)));
  return spool;
}

// Reads the archives of `fd` a line at a time (memory holds one archive, not
// the input), validated; those of block `id` are appended to `out`. Another
// block's archive is skipped, or with `othersFail` is that source's failure.
Status readSourceArchives(int fd, const std::string& name, const BlockId& id, bool othersFail,
                          std::vector<BlockArchive>& out) {
  ArchiveReader reader(
      [fd, &name](char* buf, std::size_t size) -> Result<std::size_t> {
        for (;;) {
          ssize_t n = ::read(fd, buf, size);
          if (n >= 0) return static_cast<std::size_t>(n);
          if (errno != EINTR) return Status::io(fmt::format("{}: {}", name, std::strerror(errno)));
        }
      },
      name);
  for (;;) {
    OPTDB_ASSIGN(auto a, reader.next());
    if (!a) return Status::ok();
    OPTDB_TRY(archiveMaterializations(*a, reader.where()));
    if (a->blockId == id) out.push_back(std::move(*a));
    else if (othersFail) return Status::invalid(fmt::format("it printed an archive of block {}, not {}", a->blockId, id));
  }
}

}  // namespace

void killRestoreSourcesOnSignals() {
  for (int sig : kTerminatingSignals) {
    struct sigaction old {};
    // A signal ignored by whoever started optdb stays ignored.
    if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = killChildrenAndDie;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &sa, nullptr);
  }
}

Result<std::vector<BlockArchive>> fetchFromSource(const RestoreSource& source, const BlockId& id,
                                                  std::optional<Rev> rev) {
  std::vector<BlockArchive> out;
  switch (source.kind) {
    case RestoreSource::Kind::File: {
      int fd = ::open(source.location.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::io(fmt::format("{}: {}", source.location, std::strerror(errno)));
      OwnedFd closer(fd);
      OPTDB_TRY(readSourceArchives(fd, source.location, id, false, out));
      break;
    }
    case RestoreSource::Kind::Store: {
      // Another store, read only: what `archive ID --rev REV` answers there.
      FileRawStorage other(std::shared_ptr<Env>(newPosixEnv(source.location)), false);
      ArchiveRequest req;
      req.blockIds = {id};
      req.rev = rev;
      OPTDB_TRY(writeArchives(other, req, [&](const BlockArchive& a) -> Status {
        OPTDB_TRY(archiveMaterializations(a, source.location));
        out.push_back(a);
        return Status::ok();
      }));
      break;
    }
    case RestoreSource::Kind::Command: {
      OPTDB_ASSIGN(auto spool, runCommand(source.location, id, rev, source.timeoutSeconds, source.maxBytes));
      OPTDB_TRY(readSourceArchives(spool.fd, "its output", id, true, out));
      break;
    }
  }
  return out;
}

Status restoreFromSources(const std::vector<RestoreSource>& sources, RawStorage& target, const BlockId& id,
                          std::optional<Rev> rev, double lockTimeout, const WarningSink& warn) {
  std::string what = rev ? fmt::format("block {} revision {}", id, *rev) : fmt::format("block {}", id);
  auto warning = [&](const RestoreSource& src, const std::string& message) {
    if (warn) warn(fmt::format("--restore-from {}: {}: {}", src.spec, what, message));
  };
  auto held = [&](const std::optional<BlockMeta>& meta) {
    return meta && (!rev || rangesContain(meta->ranges, *rev));
  };
  for (const auto& src : sources) {
    auto fetched = fetchFromSource(src, id, rev);
    if (!fetched) {
      warning(src, fetched.status().message());
      continue;
    }
    if (fetched->empty()) {
      warning(src, "it has no archive of this block");
      continue;
    }
    OPTDB_ASSIGN(auto meta, target.getMeta(id));
    Ranges merged = meta ? meta->ranges : Ranges{};
    for (const auto& a : *fetched) merged.push_back(a.range);
    if (rev && !rangesContain(normalizeRanges(merged), *rev)) {
      warning(src, "its archives do not cover that revision");
      continue;
    }
    {
      OPTDB_ASSIGN(auto locks, lockRecovered(target, {id}, nullptr, lockTimeout));
      for (const auto& a : *fetched) {
        OPTDB_ASSIGN(auto conflict, applyArchive(target, a));
        if (conflict) warning(src, fmt::format("an archive conflicts with this store and was skipped: {}", *conflict));
      }
    }
    OPTDB_ASSIGN(meta, target.getMeta(id));
    if (held(meta)) return Status::ok();
    warning(src, "what it supplied does not cover the target");
  }
  return Status::notFound(fmt::format("no restore source supplied {}", what));
}

RestoreCallback makeRestoreCallback(std::vector<RestoreSource> sources, std::function<RawStorage&()> target,
                                    double lockTimeout, WarningSink warn) {
  return [sources = std::move(sources), target = std::move(target), lockTimeout, warn = std::move(warn)](
             const BlockId& id, std::optional<Rev> rev) -> Status {
    return restoreFromSources(sources, target(), id, rev, lockTimeout, warn);
  };
}

}  // namespace optdb
