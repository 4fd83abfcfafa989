// Writing a store's history as archives (SPEC §4 windows), one archive in
// memory at a time.
#include "optdb/archive.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "optdb/transform.hpp"

namespace optdb {

// ---- archive ----

namespace {

std::optional<Range> pieceOf(const Ranges& held, Rev rev) {
  for (const auto& r : held)
    if (rangesContain({r}, rev)) return r;
  return std::nullopt;
}

class BlockArchiver {
 public:
  BlockArchiver(RawStorage& raw, const BlockId& id, std::size_t chunk, const ArchiveSink& sink)
      : raw_(raw), id_(id), chunk_(chunk), sink_(sink), block_(id, raw) {}

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
      OPTDB_ASSIGN(auto g, block_.greatestCommitted(*revs_, piece->start, *req.rev));
      lo = g.value_or(*req.rev);
      if (*req.rev < kMaxRev) hi = *req.rev + 1;
    } else {
      if (req.from) {
        lo = *req.from;
        // Start at the greatest committed revision ≤ from, to carry the state at `from`.
        if (auto piece = pieceOf(held, lo)) {
          OPTDB_ASSIGN(auto g, block_.greatestCommitted(*revs_, piece->start, lo));
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
      OPTDB_ASSIGN(auto c, block_.committedAt(rev));
      if (!c) continue;
      if (!haveState) {
        // At rev itself, even above latest: a commit finished but for meta.json
        // is a revision (SPEC §2), and its state is what the archive must carry.
        OPTDB_ASSIGN(state, block_.getBlockAt(rev));
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
  BlockStorage block_;  // no restore source: a reader of this store only
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

}  // namespace optdb
