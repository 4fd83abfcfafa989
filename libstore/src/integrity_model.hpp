// What integrity knows of a block (private to check, repair and summary):
// a BlockModel built from the storage's listing of the block (store_scan.hpp)
// and the records it reads through RawStorage, never from a file name; the
// judgements of check that repair also makes; the store's commit intents.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "optdb/integrity.hpp"

namespace optdb::integrity {

std::string describeRanges(const Ranges& r);
std::string joinIds(const std::vector<std::string>& ids);

enum class MetaState { Missing, Ok, BadJson, BadMeta, BadRanges };

struct BlockModel {
  BlockId id;
  std::string metaPath;
  MetaState metaState = MetaState::Missing;
  bool rangesMalformed = false;   // some range entries could not be decoded at all
  std::optional<BlockMeta> meta;  // Ok or BadRanges: what could be decoded
  std::map<Rev, std::string> revFiles;  // every revision record → where it is
  std::map<Rev, TrxId> revs;            // those naming a valid TrxId
  std::map<TrxId, StoredItem> pend, committed, mats;
  std::set<TrxId> deleting;  // transforms (pending or committed) that delete the block
  std::vector<std::string> temps;
  std::uint64_t bytes = 0, allocatedBytes = 0;
  std::vector<Problem> fileProblems;  // problems of single items, in listing order
  std::set<Dialect> dialectsShown;    // by meta.json's latest and by the committed collections
  Dialect dialect = Dialect::Trx;     // the block's (RawStorage::dialectGiven)

  bool metaUsable() const { return meta && (metaState == MetaState::Ok || metaState == MetaState::BadRanges); }
  // The revision that first names each transaction; a later one naming it
  // again is a duplicate, never a revision of its own.
  std::map<TrxId, Rev> firstNaming() const;
  // Complete: a revision naming a committed transaction (and the first to name it).
  bool complete(Rev rev, const TrxId& trx, const std::map<TrxId, Rev>& first) const {
    return committed.count(trx) && first.at(trx) == rev;
  }
  std::optional<std::pair<Rev, TrxId>> highestComplete() const;
  std::optional<Rev> lowestComplete() const;
  void dropFileProblems(const std::function<bool(const Problem&)>& pred);
};

// One block as the storage holds it. `deep`: every transform and
// materialization read and decoded (check, repair); otherwise only the
// metadata and revision records (summary).
Result<BlockModel> modelBlock(RawStorage& raw, const BlockId& id, bool deep);

// ---- the judgements of check ----

// Problems of the block as a whole, judged on the model.
std::vector<Problem> semanticProblems(RawStorage& raw, const BlockModel& m);
// Whether the block builds at its latest revision, as a reader would build it.
Result<std::optional<Problem>> tipProblem(RawStorage& raw, const BlockModel& m, const std::vector<Problem>& semantic);
// A revision committed below a later one whose stored state lacks it.
Result<std::optional<Problem>> forkProblem(RawStorage& raw, const BlockModel& m, const std::vector<Problem>& semantic);

// Every problem of the scope to `sink` (intents first, then the store's
// items and blocks); a block that cannot be examined is one problem and
// counts in `*unreadable`. `progress` after each block. The caller holds the store lock.
Status runCheck(RawStorage& raw, const std::vector<BlockId>& ids, std::vector<BlockId>* notFound,
                const ProblemSink& sink, std::size_t* unreadable, const BlockProgressFn& progress = {});

// Reports progress over the blocks the storage visits for `ids`: with a
// callback, they are counted first (a listing pass of its own) and each
// visit() passes on how many are done of how many. Nothing without one.
class BlockCounter {
 public:
  static Result<BlockCounter> start(RawStorage& raw, const std::vector<BlockId>& ids, const BlockProgressFn& progress);
  void visited(const BlockId& id);

 private:
  BlockCounter(BlockProgressFn progress, std::size_t total) : progress_(std::move(progress)), total_(total) {}
  BlockProgressFn progress_;
  std::size_t total_, done_ = 0;
};

// ---- commit intents ----

struct IntentScan {
  std::vector<Problem> problems;  // every problem among the intents in scope
  std::vector<IntentListing::Entry> intents;
  std::vector<std::string> temps;
};

// `scope` empty: everything; else only intents touching those blocks (and
// malformed ones, which stop every commit).
Result<IntentScan> scanIntents(RawStorage& raw, const std::set<BlockId>& scope);

Problem unreadableProblem(const std::string& path, const Status& s);
Problem overtakenProblem(const BlockId& b, const CommitIntent& in);
Problem leftoverProblem(const IntentListing::Entry& f);

// InvalidInput for a named id that is not a valid block id.
Status validateNamed(const std::vector<BlockId>& ids);

}  // namespace optdb::integrity
