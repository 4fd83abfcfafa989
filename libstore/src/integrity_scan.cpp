// Integrity's reading of a store: a block's listing and records become a
// BlockModel; the commit intents an IntentScan. Everything through RawStorage.
#include <algorithm>

#include <fmt/format.h>

#include "integrity_model.hpp"
#include "optdb/codec.hpp"
#include "optdb/text.hpp"
#include "optdb/transform.hpp"

namespace optdb {

Problem makeProblem(const std::string& path, const char* kind, const std::string& message) {
  return Problem{printable(path), kind, printable(message)};
}

Json Problem::toJson() const {
  Json j = Json::object();
  j["path"] = path;
  j["kind"] = kind;
  j["message"] = message;
  return j;
}

namespace integrity {

namespace {

// A reader's message usually starts with the path; the problem line names it already.
std::string withoutPath(std::string message, const std::string& path) {
  if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);
  return message;
}

// "<name> is not valid JSON (<the parser's words>)", from parseJson's status.
std::string notJson(const std::string& name, const Status& s) {
  std::string detail = withoutPath(s.message(), name);
  if (detail.rfind("invalid JSON: ", 0) == 0) detail.erase(0, 14);
  return fmt::format("{} is not valid JSON ({})", name, detail);
}

std::string baseName(const std::string& where) {
  const auto slash = where.rfind('/');
  return slash == std::string::npos ? where : where.substr(slash + 1);
}

Status readMeta(RawStorage& raw, BlockModel& m) {
  OPTDB_ASSIGN(auto text, raw.readItem(m.metaPath));
  if (!text) return Status::ok();  // gone meanwhile
  auto bad = [&](MetaState state, const char* kind, const std::string& why) {
    m.metaState = state;
    m.fileProblems.push_back(makeProblem(m.metaPath, kind, why));
    return Status::ok();
  };
  auto j = parseJson(*text, "meta.json");
  if (!j) return bad(MetaState::BadJson, problem::kBadJson, notJson("meta.json", j.status()));
  MetaReading reading = decodeMetaLeniently(*j);
  if (!reading.meta) return bad(MetaState::BadMeta, problem::kBadMeta, reading.why);
  const BlockMeta& meta = *reading.meta;
  if (meta.latest) m.dialectsShown.insert(meta.dialect);
  m.meta = meta;
  m.metaState = MetaState::Ok;
  if (!reading.malformedRanges.empty()) {
    m.rangesMalformed = true;
    std::vector<std::string> shown;
    for (const auto& e : reading.malformedRanges) shown.push_back(toJson(e));
    return bad(MetaState::BadRanges, problem::kBadRanges,
               fmt::format("meta.json: malformed range{} {} (a range is [start] or [start, end] with start < end)",
                           shown.size() == 1 ? "" : "s", joinIds(shown)));
  }
  if (normalizeRanges(meta.ranges) != meta.ranges)
    return bad(MetaState::BadRanges, problem::kBadRanges,
               fmt::format("meta.json: ranges {} are not sorted and merged (should be {})", describeRanges(meta.ranges),
                           describeRanges(normalizeRanges(meta.ranges))));
  if (meta.latest && !rangesContain(meta.ranges, meta.latest->rev))
    return bad(MetaState::BadRanges, problem::kBadRanges,
               fmt::format("meta.json: latest revision {} lies outside the ranges {}", meta.latest->rev,
                           describeRanges(meta.ranges)));
  return Status::ok();
}

Status readRevisions(RawStorage& raw, const BlockListing& listing, BlockModel& m) {
  for (const auto& [rev, item] : listing.revisions) {
    auto trx = raw.getRevision(m.id, rev);
    if (!trx) {
      if (trx.status().code() == Code::IoError) return trx.status();
      m.revFiles[rev] = item.where;
      m.fileProblems.push_back(makeProblem(
          item.where, problem::kBadJson,
          "revision file does not hold a transaction id: " + withoutPath(trx.status().message(), item.where)));
    } else if (*trx) {  // else gone meanwhile
      m.revFiles[rev] = item.where;
      m.revs[rev] = **trx;
    }
  }
  return Status::ok();
}

// Each transform and materialization decodes as what it is (one problem per item).
Status decodeItems(RawStorage& raw, BlockModel& m, const std::map<TrxId, StoredItem>& items, bool materialized,
                   std::vector<Problem>& out) {
  for (const auto& [trx, item] : items) {
    OPTDB_ASSIGN(auto text, raw.readItem(item.where));
    if (!text) continue;
    const std::string name = baseName(item.where);
    auto j = parseJson(*text, name, kTransformEnvelope);  // a Transform or a Block; their codecs check the data
    if (!j) {
      out.push_back(makeProblem(item.where, problem::kBadJson, notJson(name, j.status())));
    } else if (materialized) {
      if (Status s = validateBlock(*j, m.id, "block"); !s)
        out.push_back(makeProblem(item.where, problem::kBadJson, "not a valid materialized block: " + s.message()));
    } else {
      auto t = decodeTransform(*j, m.id, "transform");
      if (!t) out.push_back(makeProblem(item.where, problem::kBadJson, "not a valid transform: " + t.status().message()));
      else if (t->del) m.deleting.insert(trx);
    }
  }
  return Status::ok();
}

}  // namespace

std::string describeRanges(const Ranges& r) { return toJson(encodeRanges(r)); }

std::string joinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

std::map<TrxId, Rev> BlockModel::firstNaming() const {
  std::map<TrxId, Rev> first;
  for (const auto& [r, t] : revs) first.emplace(t, r);
  return first;
}

std::optional<std::pair<Rev, TrxId>> BlockModel::highestComplete() const {
  auto first = firstNaming();
  for (auto it = revs.rbegin(); it != revs.rend(); ++it)
    if (complete(it->first, it->second, first)) return std::make_pair(it->first, it->second);
  return std::nullopt;
}

std::optional<Rev> BlockModel::lowestComplete() const {
  auto first = firstNaming();
  for (const auto& [r, t] : revs)
    if (complete(r, t, first)) return r;
  return std::nullopt;
}

void BlockModel::dropFileProblems(const std::function<bool(const Problem&)>& pred) {
  fileProblems.erase(std::remove_if(fileProblems.begin(), fileProblems.end(), pred), fileProblems.end());
}

Result<BlockModel> modelBlock(RawStorage& raw, const BlockId& id, bool deep) {
  OPTDB_ASSIGN(BlockListing listing, raw.listBlock(id));
  BlockModel m;
  m.id = id;
  m.metaPath = listing.metaWhere;
  m.fileProblems = std::move(listing.problems);
  m.temps = std::move(listing.temps);
  m.bytes = listing.bytes;
  m.allocatedBytes = listing.allocatedBytes;
  m.dialectsShown = listing.committedDialects;
  m.pend = listing.pending;
  m.committed = listing.committed;
  m.mats = listing.materialized;
  if (listing.hasMeta) OPTDB_TRY(readMeta(raw, m));
  OPTDB_TRY(readRevisions(raw, listing, m));
  if (deep) {
    OPTDB_TRY(decodeItems(raw, m, listing.pending, false, m.fileProblems));
    OPTDB_TRY(decodeItems(raw, m, listing.committed, false, m.fileProblems));
    OPTDB_TRY(decodeItems(raw, m, listing.materialized, true, m.fileProblems));
  }
  // In the order of the items, as a walk of the block lists them (a path's
  // components compared in turn); an item's own problems in the order found.
  std::stable_sort(m.fileProblems.begin(), m.fileProblems.end(), [](const Problem& a, const Problem& b) {
    return std::lexicographical_compare(a.path.begin(), a.path.end(), b.path.begin(), b.path.end(),
                                        [](char x, char y) {
                                          if (x == '/' || y == '/') return x == '/' && y != '/';
                                          return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
                                        });
  });
  std::optional<Dialect> metaDialect;
  if (m.meta && m.meta->latest) metaDialect = m.meta->dialect;
  OPTDB_ASSIGN(m.dialect, raw.dialectGiven(id, metaDialect));
  if (m.meta) m.meta->dialect = m.dialect;
  return m;
}

Result<BlockCounter> BlockCounter::start(RawStorage& raw, const std::vector<BlockId>& ids,
                                         const BlockProgressFn& progress) {
  std::size_t total = 0;
  if (progress) {
    std::vector<BlockId> notFound;
    OPTDB_TRY(raw.visitBlocks(ids, &notFound, [](const Problem&) {}, [&](const BlockId&) {
      ++total;
      return Status::ok();
    }));
  }
  return BlockCounter(progress, total);
}

void BlockCounter::visited(const BlockId& id) {
  ++done_;
  // A block created since the count (a store held for reading) is one more.
  if (progress_) progress_(done_, std::max(total_, done_), id);
}

Problem unreadableProblem(const std::string& path, const Status& s) {
  return makeProblem(path, problem::kUnexamined, fmt::format("could not be examined or repaired: {}", s.message()));
}

Problem overtakenProblem(const BlockId& b, const CommitIntent& in) {
  return makeProblem(b, problem::kOvertakenCommit,
                     fmt::format("the interrupted commit of {} at revision {} never reached this block, which has a "
                                 "later revision committed without it; finishing it here would fork the block's history",
                                 in.trxId, in.rev));
}

Problem leftoverProblem(const IntentListing::Entry& f) {
  return makeProblem(f.where, problem::kLeftoverIntent,
                     fmt::format("the commit of {} at revision {} on {} did not finish", f.intent.trxId, f.intent.rev,
                                 joinIds(f.intent.blockIds)));
}

Result<IntentScan> scanIntents(RawStorage& raw, const std::set<BlockId>& scope) {
  OPTDB_ASSIGN(IntentListing listing, raw.listIntentItems());
  IntentScan out;
  // Scoped to some blocks, only what stops their commits: malformed intents.
  for (auto& p : listing.problems)
    if (scope.empty() || p.kind == problem::kBadJson) out.problems.push_back(std::move(p));
  if (scope.empty()) out.temps = std::move(listing.temps);
  for (auto& f : listing.intents) {
    const auto& ids = f.intent.blockIds;
    if (!scope.empty() && std::none_of(ids.begin(), ids.end(), [&](const BlockId& b) { return scope.count(b) > 0; }))
      continue;
    out.problems.push_back(leftoverProblem(f));
    out.intents.push_back(std::move(f));
  }
  return out;
}

Status validateNamed(const std::vector<BlockId>& ids) {
  for (const auto& id : ids) OPTDB_TRY(validateBlockId(id, fmt::format("block id \"{}\"", printable(id))));
  return Status::ok();
}

}  // namespace integrity
}  // namespace optdb
