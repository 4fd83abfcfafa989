// Ids and revisions validated, Transforms split by block, ranges merged,
// and the rule that sets a block's latest revision in each dialect.
#include "optdb/model.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "optdb/text.hpp"

namespace optdb {

Status validateBlockId(std::string_view id, std::string_view where) {
  auto bad = [&](std::string_view why) {
    return Status::invalid(fmt::format("{}: invalid block id: {}", where, why));
  };
  if (id.empty()) return bad("empty");
  if (id.size() > 255) return bad(fmt::format("{} bytes (at most 255)", id.size()));
  if (id.front() == '.') return bad("must not start with '.'");
  for (unsigned char c : id) {
    if (c == '/' || c == '\\') return bad("contains a slash or backslash");
    if (c < 0x20 || c == 0x7F) return bad("contains a control character");
  }
  if (invalidUtf8At(id) != std::string_view::npos) return bad("not valid UTF-8");
  return Status::ok();
}

Status validateTrxId(std::string_view id, std::string_view where) {
  auto bad = [&](std::string_view why) {
    return Status::invalid(fmt::format("{}: invalid transaction id: {}", where, why));
  };
  if (id.empty()) return bad("empty");
  if (id.size() > 128) return bad(fmt::format("{} characters (at most 128)", id.size()));
  std::string_view body = id;
  if (body.rfind("tx:", 0) == 0) body.remove_prefix(3);
  else if (body.rfind("stamp:", 0) == 0) body.remove_prefix(6);
  if (body.empty()) return bad("nothing after the prefix");
  for (unsigned char c : body)
    if (!(std::isalnum(c) && c < 0x80) && c != '_' && c != '-')
      return bad("only A-Z a-z 0-9 _ - are allowed (after an optional tx: or stamp: prefix)");
  return Status::ok();
}

Result<Rev> parseRev(std::string_view text, std::string_view where) {
  if (text.empty() || text.size() > 16 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Status::invalid(fmt::format("{}: revision must be an integer from 0 to {}, got '{}'", where, kMaxRev, text));
  Rev r = 0;
  std::from_chars(text.data(), text.data() + text.size(), r);
  if (r > kMaxRev)
    return Status::invalid(fmt::format("{}: revision must be an integer from 0 to {}, got '{}'", where, kMaxRev, text));
  return r;
}

std::vector<BlockId> Transforms::blockIds() const {
  std::vector<BlockId> ids;
  std::unordered_set<std::string_view> seen;  // views of this object's ids
  auto note = [&](const BlockId& id) {
    if (seen.insert(id).second) ids.push_back(id);
  };
  for (const auto& [id, _] : inserts) note(id);
  for (const auto& [id, _] : updates) note(id);
  for (const auto& id : deletes) note(id);
  return ids;
}

Transform Transforms::forBlock(const BlockId& id) const {
  Transform t;
  for (const auto& [k, v] : inserts)
    if (k == id) t.insert = v;
  for (const auto& [k, v] : updates)
    if (k == id) t.updates = v;
  t.del = std::find(deletes.begin(), deletes.end(), id) != deletes.end();
  return t;
}

std::vector<std::pair<BlockId, Transform>> Transforms::byBlock() const {
  std::vector<std::pair<BlockId, Transform>> out;
  std::unordered_map<std::string_view, std::size_t> at;  // id (a view of this object's) -> its place in out
  at.reserve(inserts.size() + updates.size() + deletes.size());
  auto part = [&](const BlockId& id) -> Transform& {
    auto [it, fresh] = at.try_emplace(id, out.size());
    if (fresh) out.emplace_back(id, Transform());
    return out[it->second].second;
  };
  for (const auto& [id, b] : inserts) part(id).insert = b;
  for (const auto& [id, u] : updates) part(id).updates = u;
  for (const auto& id : deletes) part(id).del = true;
  return out;
}

void Transforms::add(const BlockId& id, const Transform& t) {
  if (t.insert) inserts.emplace_back(id, *t.insert);
  if (t.updates) updates.emplace_back(id, *t.updates);
  if (t.del) deletes.push_back(id);
}

bool rangesContain(const Ranges& ranges, Rev rev) {
  for (const auto& r : ranges)
    if (rev >= r.start && (!r.end || rev < *r.end)) return true;
  return false;
}

Ranges rangesFrom(const Ranges& ranges, Rev floor) {
  Ranges out;
  for (auto r : ranges) {
    if (r.end && *r.end <= floor) continue;
    r.start = std::max(r.start, floor);
    out.push_back(r);
  }
  return out;
}

Ranges normalizeRanges(Ranges ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  Ranges out;
  for (const auto& r : ranges) {
    if (r.end && *r.end <= r.start) continue;  // empty
    if (!out.empty() && (!out.back().end || r.start <= *out.back().end)) {
      auto& last = out.back();
      if (last.end) last.end = r.end ? std::optional<Rev>(std::max(*last.end, *r.end)) : std::nullopt;
      continue;
    }
    out.push_back(r);
  }
  return out;
}

BlockMeta newBlockMeta(Dialect dialect) {
  BlockMeta m;
  m.dialect = dialect;
  if (dialect == Dialect::Actions) m.ranges.clear();
  return m;
}

BlockMeta withLatest(BlockMeta meta, const TrxRev& latest) {
  if (meta.dialect == Dialect::Actions) {
    // Upstream anchors an open range at the prior latest (or, first, at this
    // revision) and merges; a merge of one range leaves it alone.
    const Rev anchor = meta.latest ? meta.latest->rev : latest.rev;
    meta.ranges.insert(meta.ranges.begin(), Range{anchor, std::nullopt});
    if (meta.ranges.size() > 1) meta.ranges = normalizeRanges(std::move(meta.ranges));
  } else if (!rangesContain(meta.ranges, latest.rev)) {
    meta.ranges.push_back({latest.rev, std::nullopt});
    meta.ranges = normalizeRanges(std::move(meta.ranges));
  }
  meta.latest = latest;
  return meta;
}

BlockMeta metaInDialect(BlockMeta meta, Dialect to, std::optional<Rev> lowestRevision) {
  meta.dialect = to;
  if (to == Dialect::Actions && !meta.ranges.empty() && meta.ranges.front().start == 0) {
    Range& first = meta.ranges.front();
    if (lowestRevision && (!first.end || *lowestRevision < *first.end)) first.start = *lowestRevision;
    else meta.ranges.erase(meta.ranges.begin());
  }
  return meta;
}

}  // namespace optdb
