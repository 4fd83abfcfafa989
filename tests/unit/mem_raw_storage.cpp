// MemRawStorage: the RawStorage contract kept in maps, no file names anywhere.
#include "mem_raw_storage.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "optdb/codec.hpp"

namespace optdb::test_support {

namespace {

class VectorRevisionList : public RevisionList {
 public:
  explicit VectorRevisionList(std::vector<Rev> revs) : revs_(std::move(revs)) {}
  std::size_t size() const override { return revs_.size(); }
  Result<Rev> at(std::size_t i) override {
    if (i >= revs_.size()) return Status::integrity(fmt::format("no revision record {}", i));
    return revs_[i];
  }

 private:
  std::vector<Rev> revs_;
};

std::string committedKind(Dialect d) { return std::string("committed.") + namesOf(d).name; }

std::string transformText(const Transform& t) { return toJson(encodeTransform(t)); }

std::string intentText(const CommitIntent& in) { return toJson(encodeIntent(in)); }

Problem tempProblem(const std::string& where) {
  return makeProblem(where, problem::kTempFile, "a leftover of an interrupted write");
}

}  // namespace

// ---- locks ----

class MemRawStorage::MemLock : public FileLock {
 public:
  enum class What { StoreShared, StoreExclusive, Block };
  MemLock(std::shared_ptr<LockTable> table, What what, BlockId id)
      : table_(std::move(table)), what_(what), id_(std::move(id)) {}
  ~MemLock() override {
    {
      std::lock_guard<std::mutex> l(table_->m);
      if (what_ == What::StoreShared) --table_->storeShared;
      else if (what_ == What::StoreExclusive) table_->storeExclusive = false;
      else table_->blocks.erase(id_);
    }
    table_->cv.notify_all();
  }

 private:
  std::shared_ptr<LockTable> table_;
  What what_;
  BlockId id_;
};

namespace {

// Waits for `free` up to timeoutSeconds (0: looks once) without spinning.
template <typename Pred>
bool waitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& l, double timeoutSeconds, Pred free) {
  if (free()) return true;
  if (!(timeoutSeconds > 0)) return false;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(timeoutSeconds));
  return cv.wait_until(l, deadline, free);
}

}  // namespace

MemRawStorage::MemRawStorage(Dialect storeDialect)
    : storeDialect_(storeDialect), locks_(std::make_shared<LockTable>()) {}

MemRawStorage::~MemRawStorage() = default;

Result<std::unique_ptr<FileLock>> MemRawStorage::lockStore(LockMode mode, double timeoutSeconds) {
  auto& t = *locks_;
  std::unique_lock<std::mutex> l(t.m);
  if (mode == LockMode::Shared) {
    if (!waitFor(t.cv, l, timeoutSeconds, [&] { return !t.storeExclusive; }))
      return Status::lockTimeout(fmt::format("the store lock is held exclusively (waited {}s)", timeoutSeconds));
    ++t.storeShared;
    return std::unique_ptr<FileLock>(new MemLock(locks_, MemLock::What::StoreShared, ""));
  }
  if (!waitFor(t.cv, l, timeoutSeconds, [&] { return !t.storeExclusive && t.storeShared == 0; }))
    return Status::lockTimeout(fmt::format("the store lock is held (waited {}s)", timeoutSeconds));
  t.storeExclusive = true;
  return std::unique_ptr<FileLock>(new MemLock(locks_, MemLock::What::StoreExclusive, ""));
}

Result<std::unique_ptr<FileLock>> MemRawStorage::lockBlock(const BlockId& id, double timeoutSeconds) {
  auto& t = *locks_;
  std::unique_lock<std::mutex> l(t.m);
  if (!waitFor(t.cv, l, timeoutSeconds, [&] { return t.blocks.count(id) == 0; }))
    return Status::lockTimeout(fmt::format("block {} is locked (waited {}s)", id, timeoutSeconds));
  t.blocks.insert(id);
  return std::unique_ptr<FileLock>(new MemLock(locks_, MemLock::What::Block, id));
}

Result<std::unique_ptr<FileLock>> MemRawStorage::lockStoreIfKept(LockMode mode, double timeoutSeconds) {
  return lockStore(mode, timeoutSeconds);  // memory always has somewhere to keep it
}

std::size_t MemRawStorage::locksHeld() const {
  std::lock_guard<std::mutex> l(locks_->m);
  return locks_->storeShared + (locks_->storeExclusive ? 1 : 0) + locks_->blocks.size();
}

// ---- blocks ----

MemRawStorage::Block* MemRawStorage::find(const BlockId& id) {
  auto it = blocks_.find(id);
  return it == blocks_.end() ? nullptr : &it->second;
}

const MemRawStorage::Block* MemRawStorage::find(const BlockId& id) const {
  auto it = blocks_.find(id);
  return it == blocks_.end() ? nullptr : &it->second;
}

Dialect MemRawStorage::collectionDialectOr(const Block* b, Dialect fallback) const {
  if (!b) return fallback;
  for (Dialect d : {Dialect::Actions, Dialect::Trx}) {  // actions first, as for a directory store
    auto it = b->committed.find(d);
    if (it != b->committed.end() && !it->second.empty()) return d;
  }
  return fallback;
}

Result<std::optional<BlockMeta>> MemRawStorage::metaLocked(const BlockId& id) {
  const Block* b = find(id);
  if (!b || !b->held()) return std::optional<BlockMeta>();
  BlockMeta m;
  if (b->metaText) {
    const std::string where = id + "#meta";
    auto j = parseJson(*b->metaText, where);
    if (!j) return Status::integrity(j.status().message());
    auto decoded = decodeMeta(*j, "meta");
    if (!decoded) return Status::integrity(fmt::format("{}: {}", where, decoded.status().message()));
    m = std::move(decoded).value();
  } else {
    m = *b->meta;
  }
  // No latest to tell: the committed collections, else the store's.
  if (!m.latest) m.dialect = collectionDialectOr(b, storeDialect_);
  return std::optional<BlockMeta>(std::move(m));
}

Result<std::optional<BlockMeta>> MemRawStorage::getMeta(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  return metaLocked(id);
}

Status MemRawStorage::saveMeta(const BlockId& id, const BlockMeta& meta) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block& b = blocks_[id];
  b.meta = meta;
  b.metaText.reset();
  return Status::ok();
}

Result<std::optional<TrxId>> MemRawStorage::getRevision(const BlockId& id, Rev rev) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  const Block* b = find(id);
  if (!b) return std::optional<TrxId>();
  auto it = b->revisions.find(rev);
  if (it == b->revisions.end()) return std::optional<TrxId>();
  return std::optional<TrxId>(it->second);
}

Status MemRawStorage::saveRevision(const BlockId& id, Rev rev, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  blocks_[id].revisions[rev] = trxId;
  return Status::ok();
}

Status MemRawStorage::removeRevisions(const BlockId& id, const BlockMeta& meta, const std::vector<TrxRev>& revisions) {
  (void)meta;  // no index to keep
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  if (!b) return Status::ok();
  for (const auto& r : revisions) {
    b->materialized.erase(r.trxId);
    for (auto& [d, committed] : b->committed) committed.erase(r.trxId);
    b->revisions.erase(r.rev);
  }
  return Status::ok();
}

Result<std::vector<Rev>> MemRawStorage::listRevisions(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::vector<Rev> out;
  if (const Block* b = find(id))
    for (const auto& [r, t] : b->revisions) out.push_back(r);
  return out;
}

Result<std::unique_ptr<RevisionList>> MemRawStorage::revisions(const BlockId& id, const BlockMeta& meta) {
  (void)meta;  // no index to be stale: the records are the truth
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  return std::unique_ptr<RevisionList>(new VectorRevisionList(std::move(revs)));
}

Status MemRawStorage::indexRevision(const BlockId& id, const BlockMeta& before, const BlockMeta& after, Rev rev) {
  (void)id, (void)before, (void)after, (void)rev;  // no index kept
  return Status::ok();
}

Result<std::optional<Transform>> MemRawStorage::getPending(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  const Block* b = find(id);
  if (!b) return std::optional<Transform>();
  auto it = b->pending.find(trxId);
  if (it == b->pending.end()) return std::optional<Transform>();
  return std::optional<Transform>(it->second);
}

Status MemRawStorage::savePending(const BlockId& id, const TrxId& trxId, const Transform& t) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  blocks_[id].pending[trxId] = t;
  blocks_[id].pendedAt[trxId] = std::chrono::system_clock::now();
  return Status::ok();
}

Status MemRawStorage::deletePending(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  if (Block* b = find(id)) {
    b->pending.erase(trxId);
    b->pendedAt.erase(trxId);
  }
  return Status::ok();
}

Result<std::vector<TrxId>> MemRawStorage::listPendings(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::vector<TrxId> out;
  if (const Block* b = find(id))
    for (const auto& [t, tr] : b->pending) out.push_back(t);
  return out;
}

Result<std::optional<Transform>> MemRawStorage::getCommitted(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  const Block* b = find(id);
  if (!b) return std::optional<Transform>();
  for (Dialect d : kDialects) {  // trx, then actions, whatever the block's dialect
    auto c = b->committed.find(d);
    if (c == b->committed.end()) continue;
    auto it = c->second.find(trxId);
    if (it != c->second.end()) return std::optional<Transform>(it->second);
  }
  return std::optional<Transform>();
}

Status MemRawStorage::saveCommitted(const BlockId& id, const TrxId& trxId, const Transform& t) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  blocks_[id].committed[d][trxId] = t;
  return Status::ok();
}

Status MemRawStorage::promotePending(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  auto it = b ? b->pending.find(trxId) : std::map<TrxId, Transform>::iterator();
  if (!b || it == b->pending.end())
    return Status::notFound(fmt::format("{}: transaction {} is not pending", id, trxId));
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  b->committed[d][trxId] = std::move(it->second);
  b->pending.erase(it);
  b->pendedAt.erase(trxId);
  return Status::ok();
}

Result<std::optional<Json>> MemRawStorage::getMaterialized(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  const Block* b = find(id);
  if (!b) return std::optional<Json>();
  auto it = b->materialized.find(trxId);
  if (it == b->materialized.end()) return std::optional<Json>();
  if (Status s = validateBlock(it->second, id, "block"); !s)
    return Status::integrity(fmt::format("{}#materialized/{}: {}", id, trxId, s.message()));
  return std::optional<Json>(it->second);
}

Status MemRawStorage::saveMaterialized(const BlockId& id, const TrxId& trxId, const Json& block) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  blocks_[id].materialized[trxId] = block;
  return Status::ok();
}

Status MemRawStorage::deleteMaterialized(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  if (Block* b = find(id)) b->materialized.erase(trxId);
  return Status::ok();
}

Status MemRawStorage::discardMaterialized(const BlockId& id, const TrxId& trxId) {
  return deleteMaterialized(id, trxId);  // memory is as durable as it gets
}

Result<std::vector<BlockId>> MemRawStorage::listBlocks() {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::vector<BlockId> out;
  for (const auto& [id, b] : blocks_)
    if (b.held()) out.push_back(id);
  return out;
}

// ---- intents ----

Status MemRawStorage::saveIntent(const CommitIntent& intent) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  intents_[intent.trxId] = intent;
  return Status::ok();
}

Status MemRawStorage::deleteIntent(const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  intents_.erase(trxId);
  return Status::ok();
}

Result<std::vector<CommitIntent>> MemRawStorage::listIntents() {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::vector<CommitIntent> out;
  for (const auto& [t, in] : intents_) out.push_back(in);
  return out;
}

// ---- dialects ----

Result<Dialect> MemRawStorage::dialect(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  OPTDB_ASSIGN(auto meta, metaLocked(id));
  return meta ? meta->dialect : storeDialect_;
}

Status MemRawStorage::setStoreDialect(Dialect d) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  storeDialect_ = d;
  return Status::ok();
}

Result<Dialect> MemRawStorage::dialectGiven(const BlockId& id, std::optional<Dialect> fromMeta) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  if (fromMeta) return *fromMeta;
  return collectionDialectOr(find(id), storeDialect_);
}

Status MemRawStorage::checkConvertible(const BlockId& id, Dialect to) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  OPTDB_ASSIGN(auto meta, metaLocked(id));
  if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id));
  Block& b = blocks_[id];
  auto& from = b.committed[otherDialect(to)];
  auto& into = b.committed[to];
  // Refused before anything changes: one transaction held differently in both.
  for (const auto& [trx, t] : from) {
    auto there = into.find(trx);
    if (there != into.end() && transformText(there->second) != transformText(t))
      return Status::integrity(fmt::format("{}: {} and {} hold different transforms", id,
                                           whereItem(id, ItemKind::Committed, trx, otherDialect(to)),
                                           whereItem(id, ItemKind::Committed, trx, to)));
  }
  return Status::ok();
}

Result<bool> MemRawStorage::convertBlock(const BlockId& id, Dialect to) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  OPTDB_TRY(checkConvertible(id, to));
  OPTDB_ASSIGN(auto meta, metaLocked(id));
  Block& b = blocks_[id];
  auto& from = b.committed[otherDialect(to)];
  auto& into = b.committed[to];
  const bool moved = !from.empty();
  for (auto& [trx, t] : from) into.emplace(trx, std::move(t));
  from.clear();
  const BlockMeta converted = metaInDialect(
      *meta, to, b.revisions.empty() ? std::nullopt : std::optional<Rev>(b.revisions.begin()->first));
  const bool metaChanged = (meta->latest && meta->dialect != to) || converted.ranges != meta->ranges;
  if (metaChanged || !b.metaText) {
    b.meta = converted;
    b.metaText.reset();
  }
  return moved || metaChanged;
}

// ---- for integrity ----

Result<bool> MemRawStorage::exists() { return true; }

Status MemRawStorage::visitBlocks(const std::vector<BlockId>& named, std::vector<BlockId>* notFound,
                                  const ProblemSink& onProblem, const std::function<Status(const BlockId&)>& onBlock) {
  (void)onProblem;  // no item of the store's own can be wrong here
  std::vector<BlockId> visit;
  {
    std::lock_guard<std::recursive_mutex> l(mu_);
    if (named.empty()) {
      for (const auto& [id, b] : blocks_)
        if (b.held()) visit.push_back(id);
    } else {
      std::set<BlockId> seen;
      for (const auto& id : named) {
        if (!seen.insert(id).second) continue;
        const Block* b = find(id);
        if (b && b->held()) visit.push_back(id);
        else notFound->push_back(id);
      }
    }
  }
  for (const auto& id : visit) OPTDB_TRY(onBlock(id));  // unlocked: onBlock writes (repair)
  return Status::ok();
}

Result<BlockListing> MemRawStorage::listBlock(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  BlockListing out;
  out.id = id;
  out.metaWhere = id + "#meta";
  const Block* b = find(id);
  if (!b) return out;
  if (b->held()) {
    out.hasMeta = true;
    out.bytes += b->metaText ? b->metaText->size() : toJson(encodeMeta(*b->meta)).size();
  }
  for (const auto& [rev, trx] : b->revisions) {
    out.revisions[rev] = StoredItem{whereRevision(id, rev), trx.size()};
    out.bytes += trx.size();
  }
  for (const auto& [trx, t] : b->pending) {
    const auto n = transformText(t).size();
    out.pending[trx] = StoredItem{whereItem(id, ItemKind::Pending, trx, Dialect::Trx), n};
    if (auto at = b->pendedAt.find(trx); at != b->pendedAt.end()) out.pending[trx].modified = at->second;
    out.bytes += n;
  }
  for (Dialect d : kDialects) {  // trx first: where both hold one, readers take trx's
    auto c = b->committed.find(d);
    if (c == b->committed.end() || c->second.empty()) continue;
    out.committedDialects.insert(d);
    for (const auto& [trx, t] : c->second) {
      const auto n = transformText(t).size();
      out.committed.emplace(trx, StoredItem{whereItem(id, ItemKind::Committed, trx, d), n});
      out.bytes += n;
    }
  }
  for (const auto& [trx, j] : b->materialized) {
    const auto n = toJson(j).size();
    out.materialized[trx] = StoredItem{whereItem(id, ItemKind::Materialized, trx, Dialect::Trx), n};
    out.bytes += n;
  }
  for (const auto& [where, content] : b->temps) {
    out.temps.push_back(where);
    out.problems.push_back(tempProblem(where));
    out.bytes += content.size();
  }
  return out;
}

Result<IntentListing> MemRawStorage::listIntentItems() {
  std::lock_guard<std::recursive_mutex> l(mu_);
  IntentListing out;
  for (const auto& [trx, in] : intents_) out.intents.push_back({whereIntents() + "/" + trx, in});
  for (const auto& [where, content] : intentTemps_) {
    out.temps.push_back(where);
    out.problems.push_back(tempProblem(where));
  }
  return out;
}

std::optional<MemRawStorage::Where> MemRawStorage::parseWhere(const std::string& where) {
  const auto hash = where.rfind('#');
  if (hash == std::string::npos) return std::nullopt;
  Where w;
  w.id = where.substr(0, hash);
  std::string rest = where.substr(hash + 1);
  const auto slash = rest.find('/');
  w.kind = rest.substr(0, slash);
  if (slash != std::string::npos) w.name = rest.substr(slash + 1);
  return w;
}

Result<std::optional<std::string>> MemRawStorage::readItem(const std::string& where) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  using Text = std::optional<std::string>;
  auto w = parseWhere(where);
  if (!w) return Status::invalid(fmt::format("{}: names no item of this storage", where));
  if (w->id.empty()) {
    if (w->kind == "intents") {
      auto it = intents_.find(w->name);
      return it == intents_.end() ? Text() : Text(intentText(it->second));
    }
    if (w->kind == "intents.temp") {
      auto it = intentTemps_.find(where);
      return it == intentTemps_.end() ? Text() : Text(it->second);
    }
    return Status::invalid(fmt::format("{}: names no item of this storage", where));
  }
  const Block* b = find(w->id);
  if (!b) return Text();
  if (w->kind == "meta") {
    if (b->metaText) return Text(*b->metaText);
    return b->meta ? Text(toJson(encodeMeta(*b->meta))) : Text();
  }
  if (w->kind == "rev") {
    auto rev = parseRev(w->name, where);
    if (!rev) return rev.status();
    auto it = b->revisions.find(*rev);
    return it == b->revisions.end() ? Text() : Text(it->second);
  }
  if (w->kind == "pending") {
    auto it = b->pending.find(w->name);
    return it == b->pending.end() ? Text() : Text(transformText(it->second));
  }
  for (Dialect d : kDialects) {
    if (w->kind != committedKind(d)) continue;
    auto c = b->committed.find(d);
    if (c == b->committed.end()) return Text();
    auto it = c->second.find(w->name);
    return it == c->second.end() ? Text() : Text(transformText(it->second));
  }
  if (w->kind == "materialized") {
    auto it = b->materialized.find(w->name);
    return it == b->materialized.end() ? Text() : Text(toJson(it->second));
  }
  if (w->kind == "temp") {
    auto it = b->temps.find(where);
    return it == b->temps.end() ? Text() : Text(it->second);
  }
  return Status::invalid(fmt::format("{}: names no item of this storage", where));
}

std::string MemRawStorage::whereRevision(const BlockId& id, Rev rev) { return fmt::format("{}#rev/{}", id, rev); }

std::string MemRawStorage::whereIntents() { return "#intents"; }

std::string MemRawStorage::whereItem(const BlockId& id, ItemKind kind, const TrxId& trxId, Dialect dialect) {
  const std::string k = kind == ItemKind::Pending     ? std::string("pending")
                        : kind == ItemKind::Committed ? committedKind(dialect)
                                                      : std::string("materialized");
  return id + "#" + k + "/" + trxId;
}

Status MemRawStorage::removeStray(const std::string& where) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  auto w = parseWhere(where);
  if (!w || (w->kind != "temp" && w->kind != "intents.temp") || (w->kind == "temp") == w->id.empty())
    return Status::invalid(fmt::format("{}: not a leftover of an interrupted write; refusing to remove it", where));
  if (w->id.empty()) intentTemps_.erase(where);
  else if (Block* b = find(w->id)) b->temps.erase(where);
  return Status::ok();  // gone already: nothing to do
}

Status MemRawStorage::syncStore() { return Status::ok(); }

// ---- test helpers ----

bool MemRawStorage::dropRevision(const BlockId& id, Rev rev) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  return b && b->revisions.erase(rev) > 0;
}

bool MemRawStorage::dropMaterialized(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  return b && b->materialized.erase(trxId) > 0;
}

bool MemRawStorage::interruptCommit(const BlockId& id, const TrxId& trxId, Rev rev) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  if (!b || !b->pending.count(trxId)) return false;
  b->revisions[rev] = trxId;
  return true;
}

void MemRawStorage::putIntent(const CommitIntent& intent) { (void)saveIntent(intent); }

void MemRawStorage::setMetaText(const BlockId& id, std::optional<std::string> text) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  blocks_[id].metaText = std::move(text);
}

bool MemRawStorage::setLatest(const BlockId& id, std::optional<TrxRev> latest) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  if (!b || !b->meta) return false;
  b->meta->latest = std::move(latest);
  return true;
}

bool MemRawStorage::moveCommitted(const BlockId& id, const TrxId& trxId, Dialect to) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  Block* b = find(id);
  if (!b) return false;
  auto& from = b->committed[otherDialect(to)];
  auto it = from.find(trxId);
  if (it == from.end()) return b->committed[to].count(trxId) > 0;
  b->committed[to][trxId] = std::move(it->second);
  from.erase(it);
  return true;
}

void MemRawStorage::putCommitted(const BlockId& id, Dialect d, const TrxId& trxId, const Transform& t) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  blocks_[id].committed[d][trxId] = t;
}

std::string MemRawStorage::addTemp(const BlockId& id, const std::string& name, const std::string& content) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::string where = id + "#temp/" + name;
  blocks_[id].temps[where] = content;
  return where;
}

std::string MemRawStorage::addIntentTemp(const std::string& name, const std::string& content) {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::string where = "#intents.temp/" + name;
  intentTemps_[where] = content;
  return where;
}

std::string MemRawStorage::dump() const {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::string out = fmt::format("store dialect {}\n", namesOf(storeDialect_).name);
  for (const auto& [id, b] : blocks_) {
    if (b.metaText) out += fmt::format("{}#meta text {}\n", id, *b.metaText);
    else if (b.meta) out += fmt::format("{}#meta {} {}\n", id, namesOf(b.meta->dialect).name, toJson(encodeMeta(*b.meta)));
    for (const auto& [r, t] : b.revisions) out += fmt::format("{}#rev/{} {}\n", id, r, t);
    for (const auto& [t, tr] : b.pending) out += fmt::format("{}#pending/{} {}\n", id, t, transformText(tr));
    for (const auto& [d, c] : b.committed)
      for (const auto& [t, tr] : c) out += fmt::format("{}#{}/{} {}\n", id, committedKind(d), t, transformText(tr));
    for (const auto& [t, j] : b.materialized) out += fmt::format("{}#materialized/{} {}\n", id, t, toJson(j));
    for (const auto& [w, c] : b.temps) out += fmt::format("{} {}\n", w, c);
  }
  for (const auto& [t, in] : intents_) out += fmt::format("#intents/{} {}\n", t, intentText(in));
  for (const auto& [w, c] : intentTemps_) out += fmt::format("{} {}\n", w, c);
  return out;
}

std::set<Dialect> MemRawStorage::committedDialectsOf(const BlockId& id) const {
  std::lock_guard<std::recursive_mutex> l(mu_);
  std::set<Dialect> out;
  if (const Block* b = find(id))
    for (const auto& [d, c] : b->committed)
      if (!c.empty()) out.insert(d);
  return out;
}

bool MemRawStorage::hasMaterialized(const BlockId& id, const TrxId& trxId) const {
  std::lock_guard<std::recursive_mutex> l(mu_);
  const Block* b = find(id);
  return b && b->materialized.count(trxId) > 0;
}

std::size_t MemRawStorage::materializedCount(const BlockId& id) const {
  std::lock_guard<std::recursive_mutex> l(mu_);
  const Block* b = find(id);
  return b ? b->materialized.size() : 0;
}

}  // namespace optdb::test_support
