// inspect --check (SPEC §6): the judgements of a block as a whole, on the
// model integrity_scan.cpp builds, and the walk of the store that reports them.
#include <algorithm>

#include <fmt/format.h>

#include "integrity_model.hpp"
#include "optdb/block_storage.hpp"
#include "optdb/transform.hpp"
#include "write_locks.hpp"

namespace optdb {
namespace integrity {

// Problems of the block as a whole, judged on the model.
std::vector<Problem> semanticProblems(RawStorage& raw, const BlockModel& m) {
  std::vector<Problem> out;
  if (m.dialectsShown.size() > 1)
    out.push_back(makeProblem(m.id, problem::kMixedDialect,
                            fmt::format("files of both layout generations (trx/ or trxId, actions/ or actionId); upstream "
                                        "v0.24 reads only its own; the block's dialect (meta.json's) is {}",
                                        namesOf(m.dialect).name)));
  const bool metaUsable = m.metaUsable();
  const std::optional<TrxRev> latest = metaUsable ? m.meta->latest : std::nullopt;
  std::map<TrxId, Rev> named;
  for (const auto& [rev, trx] : m.revs) {
    const std::string& path = m.revFiles.at(rev);
    auto [it, fresh] = named.emplace(trx, rev);
    if (!fresh) {
      out.push_back(makeProblem(path, problem::kDuplicateRevision,
                              fmt::format("revision {} names transaction {}, which revision {} already names", rev,
                                          trx, it->second)));
      continue;
    }
    if (m.committed.count(trx)) {
      if (metaUsable && (!latest || rev > latest->rev))
        out.push_back(makeProblem(
            path, problem::kAboveLatest,
            latest ? fmt::format("revision {} ({}) is complete but lies above latest, revision {}", rev, trx, latest->rev)
                   : fmt::format("revision {} ({}) is complete but meta.json has no latest", rev, trx)));
    } else if (m.pend.count(trx)) {
      out.push_back(makeProblem(path, problem::kInterruptedCommit,
                              fmt::format("revision {} names transaction {}, which is only pending: an interrupted commit",
                                          rev, trx)));
    } else {
      out.push_back(makeProblem(path, problem::kMissingTransform,
                              fmt::format("revision {} names transaction {}, whose committed transform is missing", rev,
                                          trx)));
    }
  }
  if (latest) {
    std::string revName = raw.whereRevision(m.id, latest->rev);  // named within the block
    if (revName.rfind(m.id + "/", 0) == 0) revName.erase(0, m.id.size() + 1);
    auto file = m.revFiles.find(latest->rev);
    auto rev = m.revs.find(latest->rev);
    if (file == m.revFiles.end()) {
      out.push_back(makeProblem(m.metaPath, problem::kLatestMissing,
                              fmt::format("latest names revision {} ({}), but {} is missing", latest->rev,
                                          latest->trxId, revName)));
    } else if (rev != m.revs.end() && rev->second != latest->trxId) {
      out.push_back(makeProblem(m.metaPath, problem::kLatestMissing,
                              fmt::format("latest names revision {} ({}), but {} names {}", latest->rev, latest->trxId,
                                          revName, rev->second)));
    } else if (rev != m.revs.end() && !m.committed.count(latest->trxId)) {
      out.push_back(makeProblem(m.metaPath, problem::kLatestMissing,
                              fmt::format("latest names revision {} ({}), whose committed transform is missing",
                                          latest->rev, latest->trxId)));
    }
  }
  for (const auto& [trx, ref] : m.committed)
    if (!named.count(trx))
      out.push_back(makeProblem(ref.where, problem::kLostRevision,
                              fmt::format("committed transaction {} is named by no revision file (a lost revision file)",
                                          trx)));
  for (const auto& [trx, ref] : m.pend)
    if (m.committed.count(trx))
      out.push_back(makeProblem(ref.where, problem::kPendingCommitted,
                              fmt::format("transaction {} is both pending and committed on this block", trx)));
  return out;
}

// Whether the block builds at its latest revision, as a reader would build it.
Result<std::optional<Problem>> tipProblem(RawStorage& raw, const BlockModel& m, const std::vector<Problem>& semantic) {
  if (!m.metaUsable() || !m.meta->latest) return std::optional<Problem>();
  for (const auto& p : semantic)
    if (p.kind == problem::kLatestMissing) return std::optional<Problem>();
  if (!raw.getMeta(m.id)) return std::optional<Problem>();  // meta.json unreadable to readers: reported already
  BlockStorage bs(m.id, raw);
  auto block = bs.getBlock(std::nullopt);
  if (block) return std::optional<Problem>();
  if (block.status().code() == Code::IoError) return block.status();
  return std::optional<Problem>(makeProblem(
      m.id, problem::kUnmaterializableTip,
      fmt::format("the block cannot be built at its latest revision {}: {}", m.meta->latest->rev,
                  block.status().message())));
}

namespace {

// Equal JSON values, members in any order: a JavaScript writer (upstream's
// materializations) moves integer-like keys to the front.
bool sameValue(const Json& a, const Json& b) {
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    // Sorted by key, not looked up one by one: an object's lookup is linear.
    auto sorted = [](const Json& o) {
      std::vector<std::pair<const std::string*, const Json*>> v;
      v.reserve(o.size());
      for (auto it = o.begin(); it != o.end(); ++it) v.emplace_back(&it.key(), &*it);
      std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return *x.first < *y.first; });
      return v;
    };
    auto x = sorted(a), y = sorted(b);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (*x[i].first != *y[i].first || !sameValue(*x[i].second, *y[i].second)) return false;
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

}  // namespace

// A revision committed below a later one whose stored state lacks it (an
// interrupted commit finished out of order, SPEC §6): every materialization
// of a committed revision must equal the replay of the revisions below it.
// The replay starts where the history is known: the block's creation, a
// materialization, or a transform that needs nothing older.
Result<std::optional<Problem>> forkProblem(RawStorage& raw, const BlockModel& m, const std::vector<Problem>& semantic) {
  if (!m.metaUsable() || m.mats.empty()) return std::optional<Problem>();
  // With a revision file lost or a transform missing, the replay itself is
  // incomplete: those are reported as what they are.
  for (const auto& p : semantic)
    if (p.kind == problem::kLostRevision || p.kind == problem::kMissingTransform ||
        p.kind == problem::kDuplicateRevision || p.kind == problem::kLatestMissing)
      return std::optional<Problem>();
  const auto first = m.firstNaming();
  std::optional<Json> state;
  bool known = false;
  std::optional<Rev> rangeEnd;  // where the range holding the current revision ends
  for (const auto& [rev, trx] : m.revs) {
    if (!m.complete(rev, trx, first)) continue;
    if (!rangesContain(m.meta->ranges, rev)) continue;  // outside what is held: no claim on it
    if (!known || (rangeEnd && rev >= *rangeEnd)) {  // a new range: what came before is not here
      known = false;
      for (const auto& r : m.meta->ranges)
        if (rangesContain({r}, rev)) {
          known = r.start == 0;
          rangeEnd = r.end;
          state.reset();
        }
    }
    auto t = raw.getCommitted(m.id, trx);
    if (!t || !*t) return std::optional<Problem>();  // unreadable: reported as such elsewhere
    if ((*t)->insert || (*t)->del) known = true;
    auto next = applyTransform(std::move(state), **t);
    if (!next) return std::optional<Problem>();  // reported as an unmaterializable tip
    state = std::move(next).value();
    if (!m.mats.count(trx)) continue;
    auto stored = raw.getMaterialized(m.id, trx);
    if (!stored || !*stored) continue;
    if (known && !(state && sameValue(*state, **stored))) {
      return std::optional<Problem>(makeProblem(
          m.mats.at(trx).where, problem::kForkedHistory,
          fmt::format("the stored state at revision {} ({}) differs from a replay of the revisions up to it: a revision "
                      "below {} was committed after it (an interrupted commit finished out of order), and the states "
                      "from {} on lack it",
                      rev, trx, rev, rev)));
    }
    state = std::move(*stored);
    known = true;
  }
  return std::optional<Problem>();
}

namespace {

// Every problem of the scope, to `sink`; the caller holds the store lock.
Status checkBlock(RawStorage& raw, const BlockId& id, const ProblemSink& sink);

// A block that could not be examined is reported as one problem naming the
// error, and the walk goes on (`*unreadable` counts them); only a store that
// cannot be listed at all stops it.
}  // namespace

Status runCheck(RawStorage& raw, const std::vector<BlockId>& ids, std::vector<BlockId>* notFound,
                const ProblemSink& sink, std::size_t* unreadable, const BlockProgressFn& progress) {
  OPTDB_ASSIGN(const bool exists, raw.exists());
  if (!exists) {
    *notFound = ids;
    return Status::ok();
  }
  std::set<BlockId> scope(ids.begin(), ids.end());
  OPTDB_ASSIGN(auto intents, scanIntents(raw, scope));
  for (const auto& p : intents.problems) sink(p);
  for (const auto& f : intents.intents) {
    for (const auto& b : f.intent.blockIds) {
      OPTDB_ASSIGN(const bool overtaken, BlockStorage(b, raw).overtakes(f.intent.trxId, f.intent.rev));
      if (overtaken) sink(overtakenProblem(b, f.intent));
    }
  }
  OPTDB_ASSIGN(auto counter, BlockCounter::start(raw, ids, progress));
  return raw.visitBlocks(ids, notFound, sink, [&](const BlockId& id) -> Status {
    Status s = checkBlock(raw, id, sink);
    if (!s) {
      sink(unreadableProblem(id, s));
      ++*unreadable;
    }
    counter.visited(id);
    return Status::ok();
  });
}

namespace {

Status checkBlock(RawStorage& raw, const BlockId& id, const ProblemSink& sink) {
  OPTDB_ASSIGN(auto m, modelBlock(raw, id, true));
  for (const auto& p : m.fileProblems) sink(p);
  auto semantic = semanticProblems(raw, m);
  for (const auto& p : semantic) sink(p);
  OPTDB_ASSIGN(auto tip, tipProblem(raw, m, semantic));
  if (tip) sink(*tip);
  OPTDB_ASSIGN(auto fork, forkProblem(raw, m, semantic));
  if (fork) sink(*fork);
  return Status::ok();
}

}  // namespace

}  // namespace integrity

Result<CheckResult> checkStore(RawStorage& raw, const CheckOptions& options, const ProblemSink& sink) {
  OPTDB_TRY(integrity::validateNamed(options.blockIds));
  CheckResult result;
  std::unique_ptr<FileLock> lock;
  // Exclusively, so that what is examined is at rest; a tree optdb never
  // wrote to has nowhere to keep the lock, and check writes nothing.
  OPTDB_ASSIGN(lock, lockWholeStore(raw, LockMode::Exclusive, options.lockTimeout, true));
  std::size_t unreadable = 0;
  OPTDB_TRY(integrity::runCheck(
      raw, options.blockIds, &result.notFound,
      [&](const Problem& p) {
        ++result.problems;
        ++result.kinds[p.kind];
        sink(p);
      },
      &unreadable, options.progress));
  // Unreadable is never clean: the problems name each block, the exit is 1.
  if (unreadable)
    return Status::io(fmt::format("{} block{} could not be examined (see the problems reported)", unreadable,
                                  unreadable == 1 ? "" : "s"));
  return result;
}

}  // namespace optdb
