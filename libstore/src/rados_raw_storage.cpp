// RawStorage in a RADOS pool: the layout of rados_layout.hpp, a unit's writes
// staged and sent at persist() (see rados_raw_storage.hpp), cls_lock leases.
#include "optdb/rados_raw_storage.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "rados_client.hpp"
#include "rados_layout.hpp"

namespace optdb {

using namespace rados_layout;

// ---- locations and options ----

bool isRadosLocation(const std::string& location) { return location.rfind("rados:", 0) == 0; }

Result<RadosLocation> parseRadosLocation(const std::string& location) {
  if (!isRadosLocation(location)) return Status::invalid(fmt::format("{}: not a rados: store", location));
  const std::string rest = location.substr(6);
  const auto slash = rest.find('/');
  RadosLocation l{rest.substr(0, slash), slash == std::string::npos ? std::string() : rest.substr(slash + 1)};
  if (l.pool.empty() || (slash != std::string::npos && l.nspace.empty()) || l.nspace.find('/') != std::string::npos)
    return Status::invalid(fmt::format("store {}: expected rados:POOL or rados:POOL/NAMESPACE", location));
  if (l.nspace.size() > 256) return Status::invalid(fmt::format("store {}: a namespace is at most 256 bytes", location));
  return l;
}

RadosOptions radosOptionsFromEnvironment(const std::string& cephConf, std::optional<Dialect> layout) {
  RadosOptions o;
  const char* env = std::getenv("CEPH_CONF");
  o.conf = !cephConf.empty() ? cephConf : (env && *env ? env : "/etc/ceph/ceph.conf");
  const char* id = std::getenv("CEPH_ID");
  if (id && *id) o.client = id;
  const char* lease = std::getenv("OPTDB_RADOS_LEASE");
  if (lease && std::strtod(lease, nullptr) > 0) o.leaseSeconds = std::strtod(lease, nullptr);
  o.layout = layout;
  return o;
}

namespace {

// An item's index value: its size, and for a pending one when it was
// written (the age inspect --prom reports). The others carry no time, so
// that writing one again as it stands (a retried commit) changes nothing.
std::string indexValue(char kind, const std::string& bytes) {
  if (kind != 'p') return std::to_string(bytes.size());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return fmt::format("{} {}", bytes.size(), ms);
}

StoredItem storedItem(const std::string& where, const std::string& value, bool withTime) {
  StoredItem s{where};
  const auto sp = value.find(' ');
  s.bytes = std::strtoull(value.c_str(), nullptr, 10);
  if (withTime && sp != std::string::npos)
    s.modified = std::chrono::system_clock::time_point(std::chrono::milliseconds(std::strtoll(value.c_str() + sp + 1, nullptr, 10)));
  return s;
}

std::optional<Rev> revOfKey(const std::string& key) {
  if (key.rfind(kRevPrefix, 0) != 0) return std::nullopt;
  auto r = parseRev(std::string_view(key).substr(2), key);
  if (!r) return std::nullopt;
  return *r;
}

Problem leftoverProblem(const std::string& where) {
  return makeProblem(where, problem::kTempFile, "a leftover of an interrupted write (no index names it)");
}

}  // namespace

// ---- leases ----

// Renews every lock this storage holds at a third of its lease, on a thread
// of its own, so that a live holder keeps its locks and a dead one loses them.
class RadosRawStorage::LeaseKeeper {
 public:
  struct Held {
    std::string oid, name, cookie;
    bool shared;
  };
  LeaseKeeper(std::shared_ptr<rados::Pool> pool, double lease) : pool_(std::move(pool)), lease_(lease) {
    thread_ = std::thread([this] { run(); });
  }
  ~LeaseKeeper() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void add(const Held& h) {
    std::lock_guard<std::mutex> l(mu_);
    held_[h.cookie] = h;
  }
  void remove(const std::string& cookie) {
    std::lock_guard<std::mutex> l(mu_);
    held_.erase(cookie);
  }

 private:
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    const auto every = std::chrono::duration<double>(lease_ / 3);
    while (!cv_.wait_for(l, every, [&] { return stop_; })) {
      auto now = held_;
      l.unlock();
      for (const auto& [cookie, h] : now) {
        // A lock lost meanwhile stays lost: its next guarded write fails.
        if (h.shared) pool_->lockShared(h.oid, h.name, cookie, kStoreLockTag, lease_, true);
        else pool_->lockExclusive(h.oid, h.name, cookie, lease_, true);
      }
      l.lock();
    }
  }

  std::shared_ptr<rados::Pool> pool_;
  double lease_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Held> held_;
  bool stop_ = false;
  std::thread thread_;
};

class RadosRawStorage::Lock : public FileLock {
 public:
  Lock(RadosRawStorage* owner, std::string oid, std::string name, std::string cookie, std::optional<BlockId> block)
      : owner_(owner), oid_(std::move(oid)), name_(std::move(name)), cookie_(std::move(cookie)), block_(std::move(block)) {}
  ~Lock() override { owner_->released(this); }

  RadosRawStorage* owner_;
  std::string oid_, name_, cookie_;
  std::optional<BlockId> block_;
};

RadosRawStorage::RadosRawStorage(const std::string& location, RadosOptions options) : options_(std::move(options)) {
  auto l = parseRadosLocation(location);
  if (l) location_ = std::move(l).value();
  else opened_ = true, openError_ = l.status();
}

RadosRawStorage::~RadosRawStorage() { leases_.reset(); }

Status RadosRawStorage::ready() {
  if (opened_) return openError_;
  opened_ = true;
  auto p = rados::Pool::open(options_.conf, options_.client, location_.pool, location_.nspace);
  if (!p) return openError_ = p.status();
  pool_ = std::move(p).value();
  auto renewer = pool_->another();
  if (!renewer) return openError_ = renewer.status();
  leases_ = std::make_unique<LeaseKeeper>(std::move(renewer).value(), options_.leaseSeconds);
  return Status::ok();
}

std::pair<std::uint64_t, std::uint64_t> RadosRawStorage::roundTripsByKind() const {
  if (!pool_) return {0, 0};
  auto c = pool_->counts();
  return {c.reads, c.writes};
}

// ---- locks ----

namespace {
std::atomic<std::uint64_t> cookieSerial{0};

// Tries `take` until it is not -EBUSY or the time is up (0: once).
template <typename Take>
int waitForLock(double timeoutSeconds, Take take) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    int r = take();
    if (r != -EBUSY || !(timeoutSeconds > 0) || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}
}  // namespace

Result<std::unique_ptr<FileLock>> RadosRawStorage::lockStore(LockMode mode, double timeoutSeconds) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  pool_->waitSent();
  const std::string cookie = fmt::format("{}.{}", pool_->cookiePrefix(), ++cookieSerial);
  const bool shared = mode == LockMode::Shared;
  int r = waitForLock(timeoutSeconds, [&] {
    return shared ? pool_->lockShared(kStoreObject, kStoreLock, cookie, kStoreLockTag, options_.leaseSeconds, false)
                  : pool_->lockExclusive(kStoreObject, kStoreLock, cookie, options_.leaseSeconds, false);
  });
  if (r == -EBUSY)
    return Status::lockTimeout(fmt::format("{}: the store lock is held{} (waited {}s)", pool_->describe(),
                                           shared ? " exclusively" : "", timeoutSeconds));
  if (r < 0) return pool_->failure(r, kStoreObject, "locking");
  leases_->add({kStoreObject, kStoreLock, cookie, shared});
  ++locksHeld_;
  return std::unique_ptr<FileLock>(new Lock(this, kStoreObject, kStoreLock, cookie, std::nullopt));
}

Result<std::unique_ptr<FileLock>> RadosRawStorage::lockBlock(const BlockId& id, double timeoutSeconds) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  pool_->waitSent();
  const std::string oid = blockObject(id);
  const std::string cookie = fmt::format("{}.{}", pool_->cookiePrefix(), ++cookieSerial);
  int r = waitForLock(timeoutSeconds,
                      [&] { return pool_->lockExclusive(oid, kBlockLock, cookie, options_.leaseSeconds, false); });
  if (r == -EBUSY)
    return Status::lockTimeout(fmt::format("{}: block {} is locked (waited {}s)", pool_->describe(), id, timeoutSeconds));
  if (r < 0) return pool_->failure(r, oid, "locking");
  leases_->add({oid, kBlockLock, cookie, false});
  blockCookies_[id] = cookie;
  ++locksHeld_;
  return std::unique_ptr<FileLock>(new Lock(this, oid, kBlockLock, cookie, id));
}

Result<std::unique_ptr<FileLock>> RadosRawStorage::lockStoreIfKept(LockMode mode, double timeoutSeconds) {
  OPTDB_ASSIGN(const bool there, exists());
  if (!there) return std::unique_ptr<FileLock>();
  return lockStore(mode, timeoutSeconds);
}

void RadosRawStorage::released(Lock* lock) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  if (locksHeld_ == 1 && (!staged_.empty() || !intentsDone_.empty())) {
    // A writer that returned without persist(): its unit is sent under the
    // lock it was staged under, never after another can take it.
    if (Status s = flush(); !s) std::fprintf(stderr, "optdb: error: %s\n", s.message().c_str());
  }
  leases_->remove(lock->cookie_);
  if (lock->block_) {
    blockCookies_.erase(*lock->block_);
    cache_.erase(*lock->block_);  // others may write it now
  }
  --locksHeld_;
  pool_->unlockLater(lock->oid_, lock->name_, lock->cookie_);
}

// ---- the unit ----

Status RadosRawStorage::afterWrite() { return locksHeld_ > 0 ? Status::ok() : flush(); }

Status RadosRawStorage::persist() {
  std::lock_guard<std::recursive_mutex> g(mu_);
  return flush();
}

Status RadosRawStorage::flush() {
  if (staged_.empty() && intentsDone_.empty()) return Status::ok();
  auto staged = std::move(staged_);
  auto intents = std::move(intentsDone_);
  staged_.clear();
  intentsDone_.clear();
  OPTDB_TRY(ready());
  pool_->waitSent();  // what an earlier unit removes lands before this one writes
  std::vector<std::pair<std::string, rados::WriteOp>> objects, blocks, removals;
  for (auto& [id, s] : staged) {
    for (auto& [oid, bytes] : s.objects) {
      rados::WriteOp op;
      if (bytes) op.data = *bytes;
      else op.remove = true;
      (bytes ? objects : removals).emplace_back(oid, std::move(op));
    }
    rados::WriteOp op;
    for (auto& [k, v] : s.keys) {
      if (v) op.omapSet[k] = *v;
      else op.omapRemove.insert(k);
    }
    if (op.omapSet.empty() && op.omapRemove.empty()) continue;
    if (auto c = blockCookies_.find(id); c != blockCookies_.end()) op.assertLocked = {{kBlockLock, c->second}};
    blocks.emplace_back(blockObject(id), std::move(op));
  }
  // 1. The item objects the blocks' indexes will name; 2. each block's index
  // and metadata in one operation guarded by its lock: the commit point.
  Status s = pool_->writeMany(objects);
  if (s) s = pool_->writeMany(blocks);
  if (!s) {
    for (const auto& [id, st] : staged) cache_.erase(id);  // what landed is not known
    return s;
  }
  for (auto& [id, st] : staged) remember(id, st);
  // 3. What no index names any more, and the intents the unit finished:
  // sent now, waited for by the next unit (a removal lost to a crash leaves
  // a leftover that repair removes; an intent, a finished commit finished again).
  if (!intents.empty()) {
    rados::WriteOp op;
    for (const auto& t : intents) op.omapRemove.insert(intentKey(t));
    removals.emplace_back(kStoreObject, std::move(op));
  }
  pool_->sendLater(removals);
  return Status::ok();
}

void RadosRawStorage::remember(const BlockId& id, const Staged& st) {
  Cached* c = cacheOf(id);
  if (!c) return;
  for (const auto& [k, v] : st.keys) {
    c->keys[k] = v;
    for (auto& [prefix, listing] : c->listings) {
      if (k.rfind(prefix, 0) != 0) continue;
      if (v) listing[k] = *v;
      else listing.erase(k);
    }
  }
  for (const auto& [oid, bytes] : st.objects) c->objects[oid] = bytes;
}

std::optional<std::optional<std::string>> RadosRawStorage::Cached::known(const std::string& k) const {
  if (auto v = keys.find(k); v != keys.end()) return v->second;
  for (const auto& [prefix, listing] : listings) {
    if (k.rfind(prefix, 0) != 0) continue;
    auto v = listing.find(k);
    return v == listing.end() ? std::optional<std::string>() : std::optional<std::string>(v->second);
  }
  return std::nullopt;
}

RadosRawStorage::Cached* RadosRawStorage::cacheOf(const BlockId& id) {
  return blockCookies_.count(id) ? &cache_[id] : nullptr;
}

// ---- reading through the unit ----

Result<std::optional<std::string>> RadosRawStorage::key(const BlockId& id, const std::string& k) {
  if (auto s = staged_.find(id); s != staged_.end())
    if (auto v = s->second.keys.find(k); v != s->second.keys.end()) return v->second;
  Cached* c = cacheOf(id);
  if (c)
    if (auto known = c->known(k)) return *known;
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(auto got, pool_->omapGet(blockObject(id), {k}));
  auto v = got.find(k);
  std::optional<std::string> out;
  if (v != got.end()) out = std::move(v->second);
  if (c) c->keys[k] = out;
  return out;
}

Result<std::map<std::string, std::string>> RadosRawStorage::keys(const BlockId& id, const std::string& prefix) {
  Cached* c = cacheOf(id);
  std::map<std::string, std::string> out;
  if (c && c->listings.count(prefix)) {
    out = c->listings[prefix];
  } else {
    OPTDB_TRY(ready());
    OPTDB_ASSIGN(out, pool_->omapList(blockObject(id), prefix));
    if (c && !prefix.empty()) c->listings[prefix] = out;  // not the whole omap: a long history
  }
  if (auto s = staged_.find(id); s != staged_.end()) {
    for (const auto& [k, v] : s->second.keys) {
      if (k.rfind(prefix, 0) != 0) continue;
      if (v) out[k] = *v;
      else out.erase(k);
    }
  }
  return out;
}

Result<std::optional<std::string>> RadosRawStorage::item(const BlockId& id, char kind, const TrxId& trx) {
  const std::string k = itemKey(kind, trx), oid = itemObject(kind, trx, id);
  if (auto s = staged_.find(id); s != staged_.end()) {
    if (auto v = s->second.keys.find(k); v != s->second.keys.end()) {
      if (!v->second) return std::optional<std::string>();
      if (auto o = s->second.objects.find(oid); o != s->second.objects.end()) return o->second;
      OPTDB_TRY(ready());
      return pool_->read(oid);
    }
  }
  Cached* c = cacheOf(id);
  std::pair<std::optional<std::string>, std::optional<std::string>> got;
  if (c && c->objects.count(oid)) {
    OPTDB_ASSIGN(got.first, key(id, k));
    got.second = c->objects[oid];
  } else {
    const auto known = c ? c->known(k) : std::nullopt;
    if (known && !*known) return std::optional<std::string>();  // the index says absent: nothing to read
    OPTDB_TRY(ready());
    if (known) {
      got.first = *known;
      OPTDB_ASSIGN(got.second, pool_->read(oid));
    } else {
      OPTDB_ASSIGN(got, pool_->readKeyAndObject(blockObject(id), k, oid));
    }
    if (c) {
      c->keys[k] = got.first;
      c->objects[oid] = got.second;
    }
  }
  if (!got.first) return std::optional<std::string>();  // not indexed: absent (a leftover at most)
  if (!got.second) {
    if (kind == 'm') return std::optional<std::string>();  // a cache: the object may be gone already
    return Status::integrity(fmt::format("{}: its block's index names it, but it is missing", oid));
  }
  return got.second;
}

void RadosRawStorage::stageItem(const BlockId& id, char kind, const TrxId& trx, std::optional<std::string> bytes) {
  Staged& s = staged_[id];
  s.keys[itemKey(kind, trx)] = bytes ? std::optional<std::string>(indexValue(kind, *bytes)) : std::nullopt;
  s.objects[itemObject(kind, trx, id)] = std::move(bytes);
}

Result<std::optional<Transform>> RadosRawStorage::transformItem(const BlockId& id, char kind, const TrxId& trx) {
  OPTDB_ASSIGN(auto text, item(id, kind, trx));
  if (!text) return std::optional<Transform>();
  const std::string where = itemObject(kind, trx, id);
  auto j = parseJson(*text, where);
  if (!j) return Status::integrity(j.status().message());
  auto t = decodeTransform(*j, id, where);
  if (!t) return Status::integrity(fmt::format("{}: {}", where, t.status().message()));
  return std::optional<Transform>(std::move(t).value());
}

// ---- metadata and revisions ----

Result<std::optional<BlockMeta>> RadosRawStorage::getMeta(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto text, key(id, kMetaKey));
  if (!text) return std::optional<BlockMeta>();
  const std::string where = whereKey(blockObject(id), kMetaKey);
  auto j = parseJson(*text, where);
  if (!j) return Status::integrity(j.status().message());
  auto m = decodeMeta(*j, "meta");
  if (!m) return Status::integrity(fmt::format("{}: {}", where, m.status().message()));
  if (!m->latest) {
    OPTDB_ASSIGN(m->dialect, dialectGiven(id, std::nullopt));
  }
  return std::optional<BlockMeta>(std::move(m).value());
}

Status RadosRawStorage::saveMeta(const BlockId& id, const BlockMeta& meta) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  if (!layoutRecorded_) {
    // The store's dialect recorded with its first block, as settings.json is.
    OPTDB_ASSIGN(auto recorded, pool_->omapGet(kStoreObject, {kLayoutKey}));
    if (recorded.empty()) {
      OPTDB_ASSIGN(const Dialect d, storeDialect());
      OPTDB_TRY(setStoreDialect(d));
    }
    layoutRecorded_ = true;
  }
  staged_[id].keys[kMetaKey] = toJson(encodeMeta(meta));
  return afterWrite();
}

Result<std::optional<TrxId>> RadosRawStorage::getRevision(const BlockId& id, Rev rev) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  return key(id, revKey(rev));
}

Status RadosRawStorage::saveRevision(const BlockId& id, Rev rev, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  staged_[id].keys[revKey(rev)] = trxId;
  return afterWrite();
}

Result<std::vector<Rev>> RadosRawStorage::listRevisions(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto all, keys(id, kRevPrefix));
  std::vector<Rev> out;
  for (const auto& [k, v] : all)
    if (auto r = revOfKey(k)) out.push_back(*r);
  return out;  // keys of 16 digits sort as the numbers do
}

Result<std::unique_ptr<RevisionList>> RadosRawStorage::revisions(const BlockId& id, const BlockMeta& meta) {
  (void)meta;  // the omap is the index, never stale
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  return std::unique_ptr<RevisionList>(new VectorRevisionList(std::move(revs)));
}

Status RadosRawStorage::indexRevision(const BlockId& id, const BlockMeta& before, const BlockMeta& after, Rev rev) {
  (void)id, (void)before, (void)after, (void)rev;  // saveRevision's key is the index
  return Status::ok();
}

Status RadosRawStorage::removeRevisions(const BlockId& id, const BlockMeta& meta, const std::vector<TrxRev>& revisions) {
  (void)meta;
  std::lock_guard<std::recursive_mutex> g(mu_);
  for (const auto& r : revisions) {
    for (char kind : {'m', 't', 'a'}) stageItem(id, kind, r.trxId, std::nullopt);
    staged_[id].keys[revKey(r.rev)] = std::nullopt;
  }
  return afterWrite();
}

// ---- pending, committed, materialized ----

Result<std::optional<Transform>> RadosRawStorage::getPending(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  return transformItem(id, 'p', trxId);
}

Status RadosRawStorage::savePending(const BlockId& id, const TrxId& trxId, const Transform& t) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  stageItem(id, 'p', trxId, toJson(encodeTransform(t)));
  return afterWrite();
}

Status RadosRawStorage::deletePending(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  stageItem(id, 'p', trxId, std::nullopt);
  return afterWrite();
}

Result<std::vector<TrxId>> RadosRawStorage::listPendings(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  const std::string prefix = itemPrefix('p');
  OPTDB_ASSIGN(auto all, keys(id, prefix));
  std::vector<TrxId> out;
  for (const auto& [k, v] : all) out.push_back(k.substr(prefix.size()));
  return out;
}

Result<std::optional<Transform>> RadosRawStorage::getCommitted(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  for (Dialect d : kDialects) {  // trx, then actions, whatever the block's dialect
    OPTDB_ASSIGN(auto t, transformItem(id, kindLetter(ItemKind::Committed, d), trxId));
    if (t) return t;
  }
  return std::optional<Transform>();
}

Status RadosRawStorage::saveCommitted(const BlockId& id, const TrxId& trxId, const Transform& t) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  stageItem(id, kindLetter(ItemKind::Committed, d), trxId, toJson(encodeTransform(t)));
  return afterWrite();
}

Status RadosRawStorage::promotePending(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto text, item(id, 'p', trxId));
  if (!text) return Status::notFound(fmt::format("{}: transaction {} is not pending", id, trxId));
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  stageItem(id, kindLetter(ItemKind::Committed, d), trxId, std::move(*text));
  stageItem(id, 'p', trxId, std::nullopt);
  return afterWrite();
}

Result<std::optional<Json>> RadosRawStorage::getMaterialized(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto text, item(id, 'm', trxId));
  if (!text) return std::optional<Json>();
  const std::string where = itemObject('m', trxId, id);
  auto j = parseJson(*text, where);
  if (!j) return Status::integrity(j.status().message());
  if (Status s = validateBlock(*j, id, "block"); !s) return Status::integrity(fmt::format("{}: {}", where, s.message()));
  return std::optional<Json>(std::move(j).value());
}

Status RadosRawStorage::saveMaterialized(const BlockId& id, const TrxId& trxId, const Json& block) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  stageItem(id, 'm', trxId, toJson(block));
  return afterWrite();
}

Status RadosRawStorage::deleteMaterialized(const BlockId& id, const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  stageItem(id, 'm', trxId, std::nullopt);
  return afterWrite();
}

Status RadosRawStorage::discardMaterialized(const BlockId& id, const TrxId& trxId) {
  return deleteMaterialized(id, trxId);  // every unit sent is durable on the cluster
}

// ---- blocks ----

Result<std::map<BlockId, std::vector<std::string>>> RadosRawStorage::objectsByBlock(std::vector<std::string>* foreign) {
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(auto names, pool_->list());
  std::sort(names.begin(), names.end());
  std::map<BlockId, std::vector<std::string>> out;
  for (auto& n : names) {
    // As a directory ignores a plain file at its top: an object whose name
    // is none of the layout's is not optdb's; one that takes a block's or an
    // item's shape with an invalid id is reported.
    if (n == kStoreObject) continue;
    const bool block = n.rfind(kBlockPrefix, 0) == 0;
    auto item = block ? std::nullopt : parseItemObject(n);
    const bool valid = block ? validateBlockId(std::string_view(n).substr(2), "").isOk()
                             : item && validateBlockId(item->id, "").isOk() && validateTrxId(item->trx, "").isOk();
    if (valid && block) out[n.substr(2)];
    else if (valid) out[item->id].push_back(std::move(n));
    else if (foreign && (block || item)) foreign->push_back(std::move(n));
  }
  return out;
}

Result<std::vector<BlockId>> RadosRawStorage::listBlocks() {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto objects, objectsByBlock(nullptr));
  std::vector<BlockId> ids;
  for (const auto& [id, items] : objects) ids.push_back(id);
  OPTDB_ASSIGN(auto held, holdingMeta(ids));
  std::vector<BlockId> out;
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (held[i]) out.push_back(ids[i]);
  for (const auto& [id, s] : staged_) {  // new in this unit
    auto m = s.keys.find(kMetaKey);
    if (m != s.keys.end() && m->second && !objects.count(id)) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<bool>> RadosRawStorage::holdingMeta(const std::vector<BlockId>& ids) {
  // What this process knows (its unit, its locks' caches) first; the rest read together.
  std::vector<bool> out(ids.size(), false);
  std::vector<std::size_t> ask;
  std::vector<std::string> oids;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::optional<std::optional<std::string>> known;
    if (auto s = staged_.find(ids[i]); s != staged_.end())
      if (auto v = s->second.keys.find(kMetaKey); v != s->second.keys.end()) known = v->second;
    if (!known)
      if (Cached* c = cacheOf(ids[i])) known = c->known(kMetaKey);
    if (known) {
      out[i] = known->has_value();
    } else {
      ask.push_back(i);
      oids.push_back(blockObject(ids[i]));
    }
  }
  if (ask.empty()) return out;
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(auto got, pool_->omapGetMany(oids, kMetaKey));
  for (std::size_t j = 0; j < ask.size(); ++j) out[ask[j]] = got[j].has_value();
  return out;
}

// ---- intents ----

Status RadosRawStorage::saveIntent(const CommitIntent& intent) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  // Written at once: it must be on the cluster before any block of the unit changes.
  intentsDone_.erase(intent.trxId);
  rados::WriteOp op;
  op.omapSet[intentKey(intent.trxId)] = toJson(encodeIntent(intent));
  return pool_->write(kStoreObject, op);
}

Status RadosRawStorage::deleteIntent(const TrxId& trxId) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  intentsDone_.insert(trxId);  // after the unit's blocks
  return afterWrite();
}

Result<std::vector<CommitIntent>> RadosRawStorage::listIntents() {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(auto all, pool_->omapList(kStoreObject, kIntentPrefix));
  std::vector<CommitIntent> out;
  for (const auto& [k, v] : all) {
    if (intentsDone_.count(k.substr(std::string(kIntentPrefix).size()))) continue;
    OPTDB_ASSIGN(auto in, decodeIntent(v, whereKey(kStoreObject, k)));
    out.push_back(std::move(in));
  }
  return out;
}

// ---- dialects ----

Result<Dialect> RadosRawStorage::storeDialect() {
  if (options_.layout) return *options_.layout;
  if (storeDialect_) return *storeDialect_;
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(auto got, pool_->omapGet(kStoreObject, {kLayoutKey}));
  Dialect d = Dialect::Actions;  // a new store's, as on a directory
  if (auto l = got.find(kLayoutKey); l != got.end()) {
    auto parsed = parseDialect(l->second);
    if (!parsed)
      return Status::integrity(fmt::format("{}: layout must be \"trx\" or \"actions\"", whereKey(kStoreObject, kLayoutKey)));
    d = *parsed;
  }
  storeDialect_ = d;
  return d;
}

Status RadosRawStorage::setStoreDialect(Dialect d) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  rados::WriteOp op;
  op.omapSet[kLayoutKey] = namesOf(d).name;
  OPTDB_TRY(pool_->write(kStoreObject, op));
  storeDialect_ = d;
  layoutRecorded_ = true;
  return Status::ok();
}

Result<std::optional<Dialect>> RadosRawStorage::committedDialect(const BlockId& id) {
  for (Dialect d : {Dialect::Actions, Dialect::Trx}) {  // actions first, as on a directory
    OPTDB_ASSIGN(auto any, keys(id, itemPrefix(kindLetter(ItemKind::Committed, d))));
    if (!any.empty()) return std::optional<Dialect>(d);
  }
  return std::optional<Dialect>();
}

Result<Dialect> RadosRawStorage::dialect(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto meta, getMeta(id));
  if (meta) return meta->dialect;
  return storeDialect();
}

Result<Dialect> RadosRawStorage::dialectGiven(const BlockId& id, std::optional<Dialect> fromMeta) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  if (fromMeta) return *fromMeta;
  OPTDB_ASSIGN(auto committed, committedDialect(id));
  if (committed) return *committed;
  return storeDialect();
}

Status RadosRawStorage::checkConvertible(const BlockId& id, Dialect to) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_ASSIGN(auto meta, getMeta(id));
  if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id));
  const char from = kindLetter(ItemKind::Committed, otherDialect(to)), into = kindLetter(ItemKind::Committed, to);
  OPTDB_ASSIGN(auto old, keys(id, itemPrefix(from)));
  for (const auto& [k, v] : old) {
    const TrxId trx = k.substr(2);
    OPTDB_ASSIGN(auto there, item(id, into, trx));
    if (!there) continue;
    OPTDB_ASSIGN(auto text, item(id, from, trx));
    if (text && *text != *there)
      return Status::integrity(fmt::format("{}: {} and {} hold different transforms", id, itemObject(from, trx, id),
                                           itemObject(into, trx, id)));
  }
  return Status::ok();
}

Result<bool> RadosRawStorage::convertBlock(const BlockId& id, Dialect to) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(checkConvertible(id, to));
  OPTDB_ASSIGN(auto meta, getMeta(id));
  const char from = kindLetter(ItemKind::Committed, otherDialect(to)), into = kindLetter(ItemKind::Committed, to);
  OPTDB_ASSIGN(auto old, keys(id, itemPrefix(from)));
  // One unit: the transforms under the target's kind, meta in the target's
  // names, the old kind's gone, all at the block's one commit point.
  for (const auto& [k, v] : old) {
    const TrxId trx = k.substr(2);
    OPTDB_ASSIGN(auto text, item(id, from, trx));
    OPTDB_ASSIGN(auto there, item(id, into, trx));
    if (text && !there) stageItem(id, into, trx, std::move(*text));
    stageItem(id, from, trx, std::nullopt);
  }
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  const BlockMeta converted = metaInDialect(*meta, to, revs.empty() ? std::nullopt : std::optional<Rev>(revs.front()));
  const bool metaChanged = (meta->latest && meta->dialect != to) || converted.ranges != meta->ranges;
  if (metaChanged) staged_[id].keys[kMetaKey] = toJson(encodeMeta(converted));
  OPTDB_TRY(afterWrite());
  return !old.empty() || metaChanged;
}

// ---- for integrity ----

Result<bool> RadosRawStorage::exists() {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(const bool store, pool_->exists(kStoreObject));
  if (store) return true;
  OPTDB_ASSIGN(auto names, pool_->list());
  return !names.empty();
}

Status RadosRawStorage::visitBlocks(const std::vector<BlockId>& named, std::vector<BlockId>* notFound,
                                    const ProblemSink& onProblem, const std::function<Status(const BlockId&)>& onBlock) {
  std::vector<std::string> foreign;
  std::map<BlockId, std::vector<std::string>> objects;
  {
    std::lock_guard<std::recursive_mutex> g(mu_);
    OPTDB_ASSIGN(objects, objectsByBlock(&foreign));
    visiting_ = objects;
  }
  struct Done {
    RadosRawStorage* s;
    ~Done() { s->visiting_.reset(); }
  } done{this};
  if (named.empty())
    for (const auto& f : foreign)
      onProblem(makeProblem(f, problem::kBadName, "an object named as a block or an item, but its id is invalid"));
  std::vector<BlockId> visit;
  if (named.empty()) {
    for (const auto& [id, items] : objects) visit.push_back(id);
  } else {
    std::set<BlockId> seen;
    for (const auto& id : named)
      if (seen.insert(id).second) visit.push_back(id);
  }
  std::vector<bool> held;
  {
    std::lock_guard<std::recursive_mutex> g(mu_);
    OPTDB_ASSIGN(held, holdingMeta(visit));
  }
  for (std::size_t i = 0; i < visit.size(); ++i) {
    if (held[i]) OPTDB_TRY(onBlock(visit[i]));
    else if (!named.empty()) notFound->push_back(visit[i]);
  }
  return Status::ok();
}

Result<BlockListing> RadosRawStorage::listBlock(const BlockId& id) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  BlockListing out;
  out.id = id;
  const std::string oid = blockObject(id);
  out.metaWhere = whereKey(oid, kMetaKey);
  OPTDB_ASSIGN(auto all, keys(id, ""));
  std::set<std::string> indexed;
  for (const auto& [k, v] : all) {
    if (k == kMetaKey) {
      out.hasMeta = true;
      out.bytes += v.size();
    } else if (auto rev = revOfKey(k)) {
      out.revisions[*rev] = StoredItem{whereKey(oid, k), v.size()};
      out.bytes += v.size();
    } else if (k.size() > 2 && k[1] == '.' && std::string("ptam").find(k[0]) != std::string::npos) {
      const TrxId trx = k.substr(2);
      const std::string where = itemObject(k[0], trx, id);
      indexed.insert(where);
      StoredItem item = storedItem(where, v, k[0] == 'p');
      out.bytes += item.bytes;
      if (k[0] == 'p') out.pending[trx] = item;
      else if (k[0] == 'm') out.materialized[trx] = item;
      else {
        const Dialect d = k[0] == 't' ? Dialect::Trx : Dialect::Actions;
        out.committedDialects.insert(d);
        // Where both hold one, readers take trx's (listed first in kDialects).
        if (d == Dialect::Trx || !out.committed.count(trx)) out.committed[trx] = item;
      }
    } else {
      out.problems.push_back(makeProblem(whereKey(oid, k), problem::kBadName, "a key optdb did not write"));
    }
  }
  // Item objects no index names: leftovers of a unit cut short.
  std::vector<std::string> objects;
  if (visiting_) {
    if (auto it = visiting_->find(id); it != visiting_->end()) objects = it->second;
  } else {
    OPTDB_ASSIGN(auto byBlock, objectsByBlock(nullptr));
    objects = byBlock[id];
  }
  for (const auto& o : objects) {
    if (indexed.count(o)) continue;
    if (auto s = staged_.find(id); s != staged_.end() && s->second.objects.count(o)) continue;
    out.temps.push_back(o);
    out.problems.push_back(leftoverProblem(o));
  }
  return out;
}

Result<IntentListing> RadosRawStorage::listIntentItems() {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  IntentListing out;
  OPTDB_ASSIGN(auto all, pool_->omapList(kStoreObject, kIntentPrefix));
  for (const auto& [k, v] : all) {
    const std::string where = whereKey(kStoreObject, k);
    auto in = decodeIntent(v, where);
    if (!in) out.problems.push_back(makeProblem(where, problem::kBadJson, in.status().message()));
    else out.intents.push_back({where, std::move(in).value()});
  }
  return out;
}

Result<std::optional<std::string>> RadosRawStorage::readItem(const std::string& where) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  const auto hash = where.find('#');
  if (hash == std::string::npos) {
    if (!parseItemObject(where)) return Status::invalid(fmt::format("{}: names no item of this storage", where));
    return pool_->read(where);
  }
  const std::string object = where.substr(0, hash), k = where.substr(hash + 1);
  OPTDB_ASSIGN(auto got, pool_->omapGet(object, {k}));
  auto v = got.find(k);
  if (v == got.end()) return std::optional<std::string>();
  return std::optional<std::string>(v->second);
}

std::string RadosRawStorage::whereRevision(const BlockId& id, Rev rev) { return whereKey(blockObject(id), revKey(rev)); }

std::string RadosRawStorage::whereIntents() { return whereKey(kStoreObject, kIntentPrefix); }

std::string RadosRawStorage::whereItem(const BlockId& id, ItemKind kind, const TrxId& trxId, Dialect dialect) {
  return itemObject(kindLetter(kind, dialect), trxId, id);
}

Status RadosRawStorage::removeStray(const std::string& where) {
  std::lock_guard<std::recursive_mutex> g(mu_);
  OPTDB_TRY(ready());
  auto item = parseItemObject(where);
  if (!item) return Status::invalid(fmt::format("{}: not a leftover of an interrupted write; refusing to remove it", where));
  OPTDB_ASSIGN(auto indexed, key(item->id, itemKey(item->kind, item->trx)));
  if (indexed)
    return Status::invalid(fmt::format("{}: its block's index names it; refusing to remove it", where));
  rados::WriteOp op;
  op.remove = true;
  return pool_->write(where, op);
}

Status RadosRawStorage::syncStore() {
  std::lock_guard<std::recursive_mutex> g(mu_);
  return flush();  // what the cluster acknowledged is durable there
}

}  // namespace optdb
