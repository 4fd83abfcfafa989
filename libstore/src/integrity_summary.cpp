// The inspect summary (SPEC §6): each block described from the model of it,
// as a reader: no lock taken, nothing written, only metadata and revisions read.
#include "integrity_model.hpp"
#include "optdb/codec.hpp"
#include "optdb/text.hpp"

namespace optdb {

Json RevisionSummary::toJson() const {
  Json j = Json::object();
  j["rev"] = rev;
  j["trxId"] = trxId;
  j["materialized"] = materialized;
  j["transformBytes"] = transformBytes;
  return j;
}

Json BlockSummary::toJson() const {
  Json j = Json::object();
  j["blockId"] = printable(blockId);
  j["dialect"] = namesOf(dialect).name;
  j["ranges"] = ranges ? encodeRanges(*ranges) : Json();
  if (latest) j["latest"] = encodeTrxRev(*latest);
  j["revisionCount"] = revisionCount;
  if (firstRev && lastRev) j["revisionSpan"] = Json::array({*firstRev, *lastRev});
  j["pendings"] = pendings;
  j["materialized"] = materialized;
  j["bytes"] = bytes;
  j["allocatedBytes"] = allocatedBytes;
  if (revisions) {
    j["revisions"] = Json::array();
    for (const auto& r : *revisions) j["revisions"].push_back(r.toJson());
  }
  return j;
}

Json StoreSummary::toJson() const {
  Json j = Json::object();
  j["blocks"] = blocks;
  j["revisions"] = revisions;
  j["pendings"] = pendings;
  j["bytes"] = bytes;
  j["allocatedBytes"] = allocatedBytes;
  j["problems"] = problems;
  return j;
}

namespace {

// `oldest` moved back to `t` when that is known and older.
void keepOldest(std::optional<std::chrono::system_clock::time_point>& oldest,
                const std::optional<std::chrono::system_clock::time_point>& t) {
  if (t && (!oldest || *t < *oldest)) oldest = t;
}

}  // namespace

Result<SummaryResult> summarizeStore(RawStorage& raw, const SummaryOptions& options,
                                     const std::function<void(const BlockSummary&)>& onBlock,
                                     const ProblemSink& onProblem) {
  OPTDB_TRY(integrity::validateNamed(options.blockIds));
  SummaryResult result;
  OPTDB_ASSIGN(const bool exists, raw.exists());
  if (!exists) {
    result.notFound = options.blockIds;
    return result;
  }
  auto ignore = [](const Problem&) {};
  OPTDB_TRY(raw.visitBlocks(options.blockIds, &result.notFound, ignore, [&](const BlockId& id) -> Status {
    OPTDB_ASSIGN(auto m, integrity::modelBlock(raw, id, false));
    for (const auto& p : m.fileProblems) {
      if (p.kind != problem::kBadJson && p.kind != problem::kBadMeta) continue;
      ++result.store.problems;
      onProblem(p);
    }
    BlockSummary s;
    s.blockId = id;
    s.dialect = m.dialect;
    if (m.metaUsable()) {
      s.ranges = m.meta->ranges;
      s.latest = m.meta->latest;
    }
    if (options.revisions) s.revisions.emplace();
    const auto first = m.firstNaming();
    for (const auto& [rev, trx] : m.revs) {
      auto c = m.committed.find(trx);
      if (c == m.committed.end() || first.at(trx) != rev) continue;
      ++s.revisionCount;
      if (!s.firstRev) s.firstRev = rev;
      s.lastRev = rev;
      if (s.revisions) s.revisions->push_back({rev, trx, m.mats.count(trx) > 0, c->second.bytes});
    }
    for (const auto& [trx, ref] : m.pend) {
      s.pendings.push_back(trx);
      keepOldest(s.oldestPending, ref.modified);
    }
    s.materialized = m.mats.size();
    s.bytes = m.bytes;
    s.allocatedBytes = m.allocatedBytes;
    ++result.store.blocks;
    result.store.revisions += s.revisionCount;
    result.store.pendings += s.pendings.size();
    result.store.bytes += s.bytes;
    result.store.allocatedBytes += s.allocatedBytes;
    keepOldest(result.store.oldestPending, s.oldestPending);
    onBlock(s);
    return Status::ok();
  }));
  return result;
}

}  // namespace optdb
