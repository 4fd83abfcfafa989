// repair (SPEC §6): each block's problems fixed on the model of it, through
// the storage's typed writes and the code that commits (completeCommit), so
// that a repaired block is one its writers could have left; a dry run plans
// the same actions on the model alone and judges the model it ends with.
#include <algorithm>

#include <fmt/format.h>

#include "integrity_model.hpp"
#include "optdb/block_storage.hpp"
#include "optdb/text.hpp"
#include "write_locks.hpp"

namespace optdb {
namespace integrity {
namespace {

class Repairer {
 public:
  Repairer(RawStorage& raw, bool dryRun, RepairReport& report) : raw_(raw), dry_(dryRun), report_(report) {}

  Status run(const std::vector<BlockId>& ids, const BlockProgressFn& progress) {
    std::set<BlockId> scope(ids.begin(), ids.end());
    (void)isolate(raw_.whereIntents(), persisted(repairIntents(scope)));
    std::vector<BlockId> deferred;
    OPTDB_ASSIGN(auto counter, BlockCounter::start(raw_, ids, progress));
    // One block that cannot be repaired (an I/O error, a permission repair
    // lacks) is reported and the others are repaired all the same.
    OPTDB_TRY(raw_.visitBlocks(
        ids, &report_.notFound,
        [&](const Problem& p) {
          if (dry_) report_.remaining.push_back(p);
        },
        [&](const BlockId& id) {
          Status s = isolate(id, persisted(repairBlock(id, nullptr, &deferred)));
          counter.visited(id);
          return s;
        }));
    if (!deferred.empty()) {
      // Lost revision files, rebuilt only from a sibling block of the same transaction.
      auto evidence = siblingEvidence(deferred);
      for (const auto& id : deferred)
        (void)isolate(id, evidence ? persisted(repairBlock(id, &*evidence, nullptr)) : evidence.status());
    }
    if (!dry_) {
      report_.remaining.clear();
      std::vector<BlockId> ignored;
      std::size_t unreadable = 0;
      OPTDB_TRY(runCheck(raw_, ids, &ignored, [&](const Problem& p) { report_.remaining.push_back(p); }, &unreadable));
    }
    for (const auto& p : failures_)
      if (std::find(report_.remaining.begin(), report_.remaining.end(), p) == report_.remaining.end())
        report_.remaining.push_back(p);
    return Status::ok();
  }

 private:
  // T → (rev → the sibling block recording T there).
  using Evidence = std::map<TrxId, std::map<Rev, BlockId>>;

  // What one block's repair wrote, made durable as one unit (nothing of it
  // kept when that fails: the block is reported as it stands).
  Status persisted(const Status& s) {
    if (dry_) return s;
    Status p = raw_.persist();
    return s ? p : s;
  }

  // A block's failure becomes a problem in `remaining`; repair goes on.
  Status isolate(const BlockId& id, const Status& s) {
    if (!s) failures_.push_back(unreadableProblem(id, s));
    return Status::ok();
  }

  void act(const std::string& path, const char* action, const std::string& message) {
    report_.actions.push_back({printable(path), action, printable(message)});
  }

  // An error that means "this cannot be done here" rather than "the disk failed".
  static bool isUnfixable(const Status& s) { return s.code() != Code::IoError && s.code() != Code::LockTimeout; }

  // What completeCommit(trx, rev) would do, on the model of a dry run (which
  // writes nothing to read back).
  void simulateComplete(BlockModel& m, const TrxId& trx, Rev rev) {
    if (!m.revFiles.count(rev)) m.revFiles[rev] = raw_.whereRevision(m.id, rev);
    m.revs[rev] = trx;
    if (!m.committed.count(trx))
      m.committed[trx] = StoredItem{raw_.whereItem(m.id, ItemKind::Committed, trx, m.dialect), 0};
    m.pend.erase(trx);
    if (!m.meta) {
      m.meta = newBlockMeta(m.dialect);
      m.metaState = MetaState::Ok;
    }
    if (!m.meta->latest || m.meta->latest->rev <= rev) {
      m.meta = withLatest(std::move(*m.meta), TrxRev{trx, rev});
      if (!m.deleting.count(trx)) m.mats[trx] = StoredItem{raw_.whereItem(m.id, ItemKind::Materialized, trx, m.dialect), 0};
    }
  }

  Status writeMeta(const BlockModel& m, const BlockMeta& meta) {
    if (dry_) return Status::ok();
    return raw_.saveMeta(m.id, meta);
  }

  // A revision record written below the tip, outside a commit: the
  // storage's revision index must learn of it.
  Status reindex(const BlockId& id) {
    OPTDB_ASSIGN(auto meta, raw_.getMeta(id));
    if (meta) OPTDB_TRY(raw_.rebuildRevisionIndex(id, *meta));
    return Status::ok();
  }

  Status writeRevision(const BlockModel& m, Rev rev, const TrxId& trx) {
    if (dry_) return Status::ok();
    OPTDB_TRY(raw_.saveRevision(m.id, rev, trx));
    return reindex(m.id);
  }

  // The ranges of a meta.json rebuilt from the block's files, as the
  // dialect's writers would have them: trx holds from 0 (or its lowest
  // revision) from the first write, actions nothing before its first commit.
  static Ranges heldRanges(const BlockModel& m) {
    auto low = m.lowestComplete();
    if (!low && m.dialect == Dialect::Actions) return {};
    return {Range{low.value_or(0), std::nullopt}};
  }

  // meta.json readable and well formed, rebuilt from the block's files if need be.
  Status fixMeta(BlockModel& m) {
    auto isMetaProblem = [&](const Problem& p) { return p.path == printable(m.metaPath); };
    if (m.metaState == MetaState::BadJson || m.metaState == MetaState::BadMeta) {
      BlockMeta meta = newBlockMeta(m.dialect);
      meta.ranges = heldRanges(m);
      if (auto high = m.highestComplete()) meta.latest = TrxRev{high->second, high->first};
      act(m.metaPath, action::kRebuildMeta,
          fmt::format("rebuilt meta.json from the block's files: ranges {}, {}", describeRanges(meta.ranges),
                      meta.latest ? fmt::format("latest revision {} ({})", meta.latest->rev, meta.latest->trxId)
                                  : std::string("no latest")));
      OPTDB_TRY(writeMeta(m, meta));
      m.meta = meta;
      m.metaState = MetaState::Ok;
      m.dropFileProblems(isMetaProblem);
    } else if (m.metaState == MetaState::BadRanges) {
      BlockMeta meta = *m.meta;
      Ranges before = meta.ranges;
      if (meta.latest && !rangesContain(meta.ranges, meta.latest->rev)) meta.ranges.push_back({meta.latest->rev, std::nullopt});
      meta.ranges = normalizeRanges(std::move(meta.ranges));
      if (meta.ranges.empty()) meta.ranges = heldRanges(m);
      act(m.metaPath, action::kFixRanges,
          fmt::format("normalized the ranges of meta.json to {}{}", describeRanges(meta.ranges),
                      m.rangesMalformed ? " (malformed entries dropped)" : ""));
      OPTDB_TRY(writeMeta(m, meta));
      m.meta = meta;
      m.metaState = MetaState::Ok;
      m.rangesMalformed = false;
      m.dropFileProblems(isMetaProblem);
    }
    return Status::ok();
  }

  // Finishes every commit recorded under .optdb/intents (in scope), on all its blocks.
  Status repairIntents(const std::set<BlockId>& scope) {
    OPTDB_ASSIGN(auto scan, scanIntents(raw_, scope));
    for (const auto& p : scan.problems)
      if (dry_ && p.kind != problem::kLeftoverIntent && p.kind != problem::kTempFile) report_.remaining.push_back(p);
    for (const auto& t : scan.temps) {
      act(t, action::kRemoveTemp, "removed a stray temporary file");
      if (!dry_) OPTDB_TRY(raw_.removeStray(t));
    }
    for (const auto& f : scan.intents) {
      const auto& in = f.intent;
      std::vector<std::string> unfinished;
      std::set<BlockId> seen;
      for (const auto& b : in.blockIds) {
        if (!seen.insert(b).second) continue;
        OPTDB_ASSIGN(auto m, modelBlock(raw_, b, true));
        Overlay& ov = overlay_[b];
        if (dry_ && ov.meta) {
          m.meta = ov.meta;
          m.metaState = MetaState::Ok;
        }
        if (m.metaState == MetaState::BadJson || m.metaState == MetaState::BadMeta || m.rangesMalformed) {
          OPTDB_TRY(fixMeta(m));  // completeCommit needs readable metadata
          if (dry_) ov.meta = m.meta;
        }
        if (dry_)
          for (const auto& [t, r] : ov.finished) simulateComplete(m, t, r);
        auto named = m.revFiles.find(in.rev);
        if (named != m.revFiles.end() && (!m.revs.count(in.rev) || m.revs[in.rev] != in.trxId)) {
          unfinished.push_back(fmt::format("{}: revision {} belongs to another transaction", b, in.rev));
          continue;
        }
        const bool pending = m.pend.count(in.trxId) > 0, committed = m.committed.count(in.trxId) > 0;
        if (named == m.revFiles.end() && m.meta && m.meta->latest && m.meta->latest->rev > in.rev) {
          // Committed over by a later revision (a writer that did not look under its locks): never finished below it.
          if (dry_) report_.remaining.push_back(overtakenProblem(b, in));
          unfinished.push_back(fmt::format("{}: a later revision was committed without it", b));
          continue;
        }
        if (!pending && !committed) {
          unfinished.push_back(fmt::format("{}: {} is neither pending nor committed there", b, in.trxId));
          continue;
        }
        const auto& latest = m.meta ? m.meta->latest : std::nullopt;
        bool done = named != m.revFiles.end() && committed && !pending && latest && latest->rev >= in.rev;
        if (done) continue;
        if (!dry_) {
          Status s = BlockStorage(b, raw_).completeCommit(in.trxId, in.rev);
          if (!s) {
            if (!isUnfixable(s)) (void)isolate(b, s);
            unfinished.push_back(fmt::format("{}: {}", b, s.message()));
            continue;
          }
        } else {
          ov.finished.push_back({in.trxId, in.rev});
        }
        act(b, action::kFinishCommit,
            fmt::format("finished the interrupted commit of {} at revision {} (from its intent)", in.trxId, in.rev));
      }
      if (unfinished.empty()) {
        act(f.where, action::kRemoveIntent,
            fmt::format("removed the intent of {}: its commit is complete on every block", in.trxId));
        if (!dry_) OPTDB_TRY(raw_.deleteIntent(in.trxId));
      } else if (dry_) {
        Problem p = leftoverProblem(f);
        p.message += printable("; repair cannot finish it: " + joinIds(unfinished));
        report_.remaining.push_back(p);
      }
    }
    return Status::ok();
  }

  // The lost revisions of `m` that only a sibling block can vouch for.
  static std::vector<TrxId> needSiblings(const BlockModel& m) {
    std::set<TrxId> named;
    for (const auto& [r, t] : m.revs) named.insert(t);
    std::vector<TrxId> out;
    for (const auto& [t, ref] : m.committed) {
      if (named.count(t)) continue;
      const auto& latest = m.metaUsable() ? m.meta->latest : std::nullopt;
      if (latest && latest->trxId == t && !m.revFiles.count(latest->rev)) continue;  // meta.json vouches
      out.push_back(t);
    }
    return out;
  }

  // Whether block `b` holds transaction `t`'s transform, committed or
  // pending (one it cannot decode counts: the file is there).
  Result<bool> holdsTransform(const BlockId& b, const TrxId& t) {
    for (bool committed : {true, false}) {
      auto got = committed ? raw_.getCommitted(b, t) : raw_.getPending(b, t);
      if (!got && got.status().code() == Code::IoError) return got.status();
      if (!got || *got) return true;
    }
    return false;
  }

  // For each transaction lost on a deferred block: where other blocks holding
  // it record it. Looks only at blocks that hold the transaction's file.
  Result<Evidence> siblingEvidence(const std::vector<BlockId>& deferred) {
    std::map<TrxId, std::set<BlockId>> lost;
    for (const auto& id : deferred) {
      OPTDB_ASSIGN(auto m, modelBlock(raw_, id, true));
      for (const auto& t : needSiblings(m)) lost[t].insert(id);
    }
    Evidence evidence;
    if (lost.empty()) return evidence;
    OPTDB_ASSIGN(auto blocks, raw_.listBlocks());
    for (const auto& b : blocks) {
      std::set<TrxId> wanted;
      for (const auto& [t, owners] : lost) {
        if (owners.count(b)) continue;
        OPTDB_ASSIGN(const bool holds, holdsTransform(b, t));
        if (holds) wanted.insert(t);
      }
      if (wanted.empty()) continue;
      OPTDB_ASSIGN(auto revs, raw_.listRevisions(b));
      for (Rev r : revs) {
        auto t = raw_.getRevision(b, r);
        if (!t || !*t || !wanted.count(**t)) continue;
        evidence[**t].emplace(r, b);
      }
    }
    return evidence;
  }

  // Every repair of one block; `evidence` nullptr on the first pass, where a
  // block needing a sibling's evidence is put off to `deferred`.
  Status repairBlock(const BlockId& id, const Evidence* evidence, std::vector<BlockId>* deferred) {
    OPTDB_ASSIGN(auto m, modelBlock(raw_, id, true));
    std::optional<Problem> tipBefore;
    if (dry_) {
      OPTDB_ASSIGN(tipBefore, tipProblem(raw_, m, semanticProblems(raw_, m)));
      if (auto ov = overlay_.find(id); ov != overlay_.end()) {
        if (ov->second.meta) {
          m.meta = ov->second.meta;
          m.metaState = MetaState::Ok;
          m.rangesMalformed = false;
          m.dropFileProblems([&](const Problem& p) { return p.path == printable(m.metaPath); });
        }
        for (const auto& [t, r] : ov->second.finished) simulateComplete(m, t, r);
      }
    }
    if (!evidence && !needSiblings(m).empty()) {
      deferred->push_back(id);
      return Status::ok();
    }

    // 1. Stray temporary files.
    for (const auto& t : m.temps) {
      if (!dry_) OPTDB_TRY(raw_.removeStray(t));
      act(t, action::kRemoveTemp, "removed a stray temporary file");
    }
    m.temps.clear();
    m.dropFileProblems([](const Problem& p) { return p.kind == problem::kTempFile; });

    // 2. meta.json.
    OPTDB_TRY(fixMeta(m));
    // 3. One dialect: the minority's files converted to the block's.
    if (m.metaUsable() && m.dialectsShown.size() > 1) {
      Status s = dry_ ? raw_.checkConvertible(m.id, m.dialect) : raw_.convertBlock(m.id, m.dialect).status();
      if (!s && !isUnfixable(s)) return s;
      if (s) {
        act(m.id, action::kConvertDialect,
            fmt::format("converted the block's files of the other layout generation to its own, {}",
                        namesOf(m.dialect).name));
        if (dry_) {
          m.dialectsShown = {m.dialect};
        } else {
          OPTDB_ASSIGN(m, modelBlock(raw_, id, true));
        }
      }
    }
    if (m.metaUsable()) {
      OPTDB_TRY(repairHistory(m, evidence));
    }
    if (dry_) {
      for (const auto& p : m.fileProblems) report_.remaining.push_back(p);
      for (const auto& p : semanticProblems(raw_, m)) report_.remaining.push_back(p);
      if (tipBefore) report_.remaining.push_back(*tipBefore);
    }
    return Status::ok();
  }

  // Steps 3–7: interrupted commits, lost revisions, latest, pendings, the tip.
  Status repairHistory(BlockModel& m, const Evidence* evidence) {
    // 3. Interrupted commits, finished from their revision file.
    const auto revs = m.revs;
    const auto first = m.firstNaming();
    bool finished = false;
    for (const auto& [rev, trx] : revs) {
      if (m.committed.count(trx) || !m.pend.count(trx) || first.at(trx) != rev) continue;
      if (!dry_) {
        const bool belowTip = m.meta->latest && m.meta->latest->rev > rev;
        Status s = BlockStorage(m.id, raw_).completeCommit(trx, rev);
        if (!s) {
          if (!isUnfixable(s)) return s;
          continue;  // stays an interrupted commit in `remaining`
        }
        if (belowTip) OPTDB_TRY(reindex(m.id));
      }
      act(m.revFiles.at(rev), action::kFinishCommit,
          fmt::format("finished the interrupted commit of {} at revision {} from its revision file", trx, rev));
      if (dry_) simulateComplete(m, trx, rev);
      else finished = true;
    }
    // What the commits wrote, read back: the model never guesses a real run's result.
    if (finished) {
      OPTDB_ASSIGN(m, modelBlock(raw_, m.id, true));
    }

    // 4. Lost revision files, from certain evidence only.
    std::set<TrxId> named;
    for (const auto& [r, t] : m.revs) named.insert(t);
    const auto committed = m.committed;
    for (const auto& [trx, ref] : committed) {
      if (named.count(trx)) continue;
      std::optional<Rev> rev;
      std::string source;
      const auto& latest = m.meta->latest;
      if (latest && latest->trxId == trx && !m.revFiles.count(latest->rev)) {
        rev = latest->rev;
        source = "meta.json, whose latest names it at that revision";
      } else if (evidence) {
        auto e = evidence->find(trx);
        if (e != evidence->end() && e->second.size() == 1 && !m.revFiles.count(e->second.begin()->first)) {
          rev = e->second.begin()->first;
          source = fmt::format("block {}, another block of the same transaction, which records it there",
                               e->second.begin()->second);
        }
      }
      if (!rev) continue;  // no certain evidence: stays a lost revision
      OPTDB_TRY(writeRevision(m, *rev, trx));
      act(raw_.whereRevision(m.id, *rev), action::kRebuildRevision,
          fmt::format("wrote the lost revision file of {} at revision {} again, from {}", trx, *rev, source));
      m.revs[*rev] = trx;
      m.revFiles[*rev] = raw_.whereRevision(m.id, *rev);
      named.insert(trx);
    }

    // 5. latest: the highest complete revision.
    {
      auto high = m.highestComplete();
      std::optional<TrxRev> want;
      if (high) want = TrxRev{high->second, high->first};
      const auto have = m.meta->latest;
      // A latest whose revision file exists but cannot be read stays: bad-json reports the file.
      const bool unreadable = have && m.revFiles.count(have->rev) && !m.revs.count(have->rev);
      if (want != have && !unreadable) {
        BlockMeta meta = *m.meta;
        meta.latest = want;
        if (want && !rangesContain(meta.ranges, want->rev)) {
          meta.ranges.push_back({want->rev, std::nullopt});
          meta.ranges = normalizeRanges(std::move(meta.ranges));
        }
        OPTDB_TRY(writeMeta(m, meta));
        std::string from = have ? fmt::format("revision {} ({})", have->rev, have->trxId) : std::string("none");
        act(m.metaPath, action::kSetLatest,
            want ? fmt::format("set latest to revision {} ({}), the highest complete revision; it was {}", want->rev,
                               want->trxId, from)
                 : fmt::format("removed latest ({}): the block holds no complete revision", from));
        m.meta = meta;
      }
    }

    // 6. Pending files of transactions committed here.
    const auto pend = m.pend;
    for (const auto& [trx, ref] : pend) {
      if (!m.committed.count(trx)) continue;
      if (!dry_) OPTDB_TRY(raw_.deletePending(m.id, trx));
      act(ref.where, action::kRemovePending,
          fmt::format("removed the pending file of {}, which is committed on this block", trx));
      m.pend.erase(trx);
    }

    // 7. The tip's materialization.
    if (const auto& latest = m.meta->latest; latest && !m.mats.count(latest->trxId) && m.committed.count(latest->trxId)) {
      bool wrote = false;
      if (dry_) {
        wrote = !m.deleting.count(latest->trxId);
      } else {
        BlockStorage bs(m.id, raw_);
        auto block = bs.getBlock(std::nullopt);
        if (!block && !isUnfixable(block.status())) return block.status();
        if (block && *block) {
          OPTDB_TRY(raw_.saveMaterialized(m.id, latest->trxId, **block));
          wrote = true;
        }
      }
      if (wrote) {
        const std::string path = raw_.whereItem(m.id, ItemKind::Materialized, latest->trxId, m.dialect);
        act(path, action::kWriteTip,
            fmt::format("wrote the materialization of the latest revision {} ({})", latest->rev, latest->trxId));
        m.mats[latest->trxId] = StoredItem{path, 0};
      }
    }
    return Status::ok();
  }

  struct Overlay {  // a dry run's record of what intents would have changed on a block
    std::optional<BlockMeta> meta;
    std::vector<std::pair<TrxId, Rev>> finished;
  };

  RawStorage& raw_;
  bool dry_;
  RepairReport& report_;
  std::map<BlockId, Overlay> overlay_;
  std::vector<Problem> failures_;  // blocks repair could not examine or change
};

}  // namespace
}  // namespace integrity

Json RepairAction::toJson() const {
  Json j = Json::object();
  j["path"] = path;
  j["action"] = action;
  j["message"] = message;
  return j;
}

Json RepairReport::toJson() const {
  Json j = Json::object();
  j["actions"] = Json::array();
  for (const auto& a : actions) j["actions"].push_back(a.toJson());
  j["remaining"] = Json::array();
  for (const auto& p : remaining) j["remaining"].push_back(p.toJson());
  return j;
}

Result<RepairReport> repairStore(RawStorage& raw, const RepairOptions& options) {
  OPTDB_TRY(integrity::validateNamed(options.blockIds));
  RepairReport report;
  OPTDB_ASSIGN(const bool exists, raw.exists());
  if (!exists) {
    report.notFound = options.blockIds;
    return report;
  }
  // Exclusively, so that the store is at rest; a dry run writes nothing,
  // not even a lock where the store keeps none yet.
  OPTDB_ASSIGN(auto lock, lockWholeStore(raw, LockMode::Exclusive, options.lockTimeout, options.dryRun));
  // Units of work killed writers left in the journal first: what repair
  // examines is the store as those writers' next holders would find it.
  if (!options.dryRun) OPTDB_TRY(raw.finishInterruptedUnits());
  integrity::Repairer repairer(raw, options.dryRun, report);
  if (Status s = repairer.run(options.blockIds, options.progress); !s) {
    report.remaining.push_back(integrity::unreadableProblem(".", s));
    report.examined = false;
    return report;
  }
  // A store at rest is a durable one: a commit whose last rename was visible
  // but not yet durable, which repair found complete, must not step back.
  if (!options.dryRun) OPTDB_TRY(raw.syncStore());
  return report;
}

}  // namespace optdb
