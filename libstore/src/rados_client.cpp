// librados's C API loaded at run time (see rados_client.hpp): the function
// table, the process's connections, and each operation as one round trip.
#include "rados_client.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#if __has_include(<rados/librados.h>)
#include <rados/librados.h>
#define OPTDB_HAVE_RADOS 1
#else
#define OPTDB_HAVE_RADOS 0
#endif

namespace optdb::rados {

#if OPTDB_HAVE_RADOS

namespace {

#define OPTDB_RADOS_FUNCTIONS(X)                                                                              \
  X(rados_create2) X(rados_conf_read_file) X(rados_conf_set) X(rados_connect) X(rados_shutdown)              \
  X(rados_ioctx_create) X(rados_ioctx_destroy) X(rados_ioctx_set_namespace) X(rados_get_instance_id)         \
  X(rados_create_write_op) X(rados_release_write_op) X(rados_write_op_write_full) X(rados_write_op_remove)   \
  X(rados_write_op_omap_set2) X(rados_write_op_omap_rm_keys2) X(rados_write_op_exec)                          \
  X(rados_write_op_operate) X(rados_aio_write_op_operate)                                                      \
  X(rados_create_read_op) X(rados_release_read_op) X(rados_read_op_stat) X(rados_read_op_read)               \
  X(rados_read_op_omap_get_vals2) X(rados_read_op_omap_get_vals_by_keys2) X(rados_read_op_operate)           \
  X(rados_aio_read_op_operate) X(rados_omap_get_next2) X(rados_omap_get_end)                                  \
  X(rados_aio_create_completion2) X(rados_aio_wait_for_complete) X(rados_aio_get_return_value)               \
  X(rados_aio_release) X(rados_lock_exclusive) X(rados_lock_shared) X(rados_aio_unlock) X(rados_stat)            \
  X(rados_nobjects_list_open) X(rados_nobjects_list_next2) X(rados_nobjects_list_close)

struct Api {
#define OPTDB_DECLARE(f) decltype(&::f) f = nullptr;
  OPTDB_RADOS_FUNCTIONS(OPTDB_DECLARE)
#undef OPTDB_DECLARE
};

// Loaded once; nullptr (and why) when librados is not installed.
const Api* api(std::string* why) {
  static std::once_flag once;
  static Api table;
  static const Api* loaded = nullptr;
  static std::string error;
  std::call_once(once, [] {
    void* lib = ::dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      error = fmt::format("cannot load librados.so.2 (apt-get install librados2): {}", ::dlerror());
      return;
    }
#define OPTDB_LOAD(f)                                                                      \
  table.f = reinterpret_cast<decltype(&::f)>(::dlsym(lib, #f));                            \
  if (!table.f) {                                                                          \
    error = fmt::format("librados.so.2 has no {} (librados too old)", #f);                 \
    return;                                                                                \
  }
    OPTDB_RADOS_FUNCTIONS(OPTDB_LOAD)
#undef OPTDB_LOAD
    loaded = &table;
  });
  if (!loaded && why) *why = error;
  return loaded;
}

// Seconds any call may wait for the cluster before failing (librados waits
// forever by default): $OPTDB_RADOS_TIMEOUT, else 30.
std::string timeoutSetting() {
  const char* t = std::getenv("OPTDB_RADOS_TIMEOUT");
  if (t && *t && std::strtod(t, nullptr) > 0) return t;
  return "30";
}

std::string errorText(int err) {
  if (err == -ETIMEDOUT) return "the cluster did not answer in time (Connection timed out)";
  return std::strerror(-err);
}

timeval leaseOf(double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  return tv;
}

// cls_lock's assert_locked input (its ceph encoding): a versioned struct of
// the lock's name, type (1: exclusive), cookie and tag.
std::string assertLockedInput(const std::string& name, const std::string& cookie) {
  std::string body;
  auto putU32 = [](std::string& s, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto putString = [&](std::string& s, const std::string& v) {
    putU32(s, static_cast<std::uint32_t>(v.size()));
    s += v;
  };
  putString(body, name);
  body.push_back(1);  // exclusive
  putString(body, cookie);
  putString(body, "");  // tag
  std::string out;
  out.push_back(1);  // struct version
  out.push_back(1);  // compatible with version
  putU32(out, static_cast<std::uint32_t>(body.size()));
  return out + body;
}

// A write operation built from a WriteOp; its strings stay in `op`.
struct BuiltWrite {
  rados_write_op_t handle = nullptr;
  std::string lockInput;
  std::vector<const char*> keys, vals;
  std::vector<std::size_t> keyLens, valLens;
  std::vector<const char*> rmKeys;
  std::vector<std::size_t> rmLens;
  int lockResult = 0;

  BuiltWrite(const Api& a, const WriteOp& op) {
    handle = a.rados_create_write_op();
    if (op.assertLocked) {
      lockInput = assertLockedInput(op.assertLocked->first, op.assertLocked->second);
      a.rados_write_op_exec(handle, "lock", "assert_locked", lockInput.data(), lockInput.size(), &lockResult);
    }
    if (op.remove) {
      a.rados_write_op_remove(handle);
      return;
    }
    if (op.data) a.rados_write_op_write_full(handle, op.data->data(), op.data->size());
    for (const auto& [k, v] : op.omapSet) {
      keys.push_back(k.data());
      keyLens.push_back(k.size());
      vals.push_back(v.data());
      valLens.push_back(v.size());
    }
    if (!keys.empty())
      a.rados_write_op_omap_set2(handle, keys.data(), vals.data(), keyLens.data(), valLens.data(), keys.size());
    for (const auto& k : op.omapRemove) {
      rmKeys.push_back(k.data());
      rmLens.push_back(k.size());
    }
    if (!rmKeys.empty()) a.rados_write_op_omap_rm_keys2(handle, rmKeys.data(), rmLens.data(), rmKeys.size());
  }
  ~BuiltWrite() { api(nullptr)->rados_release_write_op(handle); }
  BuiltWrite(const BuiltWrite&) = delete;
  BuiltWrite& operator=(const BuiltWrite&) = delete;
};

// The first read of an object asks for this much; a larger one takes a second round trip.
constexpr std::size_t kFirstRead = 64 * 1024;

// One object's read as a read operation: its size and its first bytes.
struct BuiltRead {
  rados_read_op_t handle = nullptr;
  std::uint64_t size = 0;
  int statResult = 0, readResult = 0;
  std::size_t got = 0;
  std::string buffer;

  BuiltRead(const Api& a, std::size_t len) : buffer(len, '\0') {
    handle = a.rados_create_read_op();
    a.rados_read_op_stat(handle, &size, nullptr, &statResult);
    a.rados_read_op_read(handle, 0, len, buffer.data(), &got, &readResult);
  }
  ~BuiltRead() { api(nullptr)->rados_release_read_op(handle); }
  BuiltRead(const BuiltRead&) = delete;
  BuiltRead& operator=(const BuiltRead&) = delete;
};

struct Completion {
  rados_completion_t c = nullptr;
  explicit Completion(const Api& a) { a.rados_aio_create_completion2(nullptr, nullptr, &c); }
  ~Completion() { api(nullptr)->rados_aio_release(c); }
  int wait(const Api& a) {
    a.rados_aio_wait_for_complete(c);
    return a.rados_aio_get_return_value(c);
  }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
};

// Entries of an omap iterator, which it releases.
void drain(const Api& a, rados_omap_iter_t it, std::map<std::string, std::string>* out, std::string* last) {
  for (;;) {
    char *k = nullptr, *v = nullptr;
    std::size_t kl = 0, vl = 0;
    if (a.rados_omap_get_next2(it, &k, &v, &kl, &vl) < 0 || !k) break;
    std::string key(k, kl);
    if (last) *last = key;
    (*out)[std::move(key)] = v ? std::string(v, vl) : std::string();
  }
  a.rados_omap_get_end(it);
}

// At most this many operations in flight at once.
constexpr std::size_t kInFlight = 64;

}  // namespace

struct Connection {
  rados_t cluster = nullptr;
  std::string conf;
  ~Connection() {
    if (cluster) api(nullptr)->rados_shutdown(cluster);
  }
};

namespace {

Result<std::shared_ptr<Connection>> connect(const std::string& conf, const std::string& client) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<Connection>> open;
  std::string why;
  const Api* a = api(&why);
  if (!a) return Status::io(fmt::format("rados: {}", why));
  std::lock_guard<std::mutex> l(mu);
  const std::string key = conf + '\0' + client;
  if (auto c = open[key].lock()) return c;
  auto c = std::make_shared<Connection>();
  c->conf = conf;
  int r = a->rados_create2(&c->cluster, "ceph", ("client." + client).c_str(), 0);
  if (r < 0) {
    c->cluster = nullptr;
    return Status::io(fmt::format("rados: cannot create client.{}: {}", client, errorText(r)));
  }
  r = a->rados_conf_read_file(c->cluster, conf.c_str());
  if (r < 0) return Status::io(fmt::format("rados: cannot read the Ceph configuration {}: {}", conf, errorText(r)));
  const std::string timeout = timeoutSetting();
  for (const char* opt : {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"})
    a->rados_conf_set(c->cluster, opt, timeout.c_str());
  // Errors are optdb's one line on stderr; librados's own logging goes to its log file.
  a->rados_conf_set(c->cluster, "log_to_stderr", "false");
  a->rados_conf_set(c->cluster, "err_to_stderr", "false");
  r = a->rados_connect(c->cluster);
  if (r < 0) return Status::io(fmt::format("rados: cannot connect to the cluster of {}: {}", conf, errorText(r)));
  open[key] = c;
  return c;
}

}  // namespace

Pool::Pool(std::shared_ptr<Connection> conn, std::string pool, std::string nspace)
    : conn_(std::move(conn)), pool_(std::move(pool)), nspace_(std::move(nspace)) {
  describe_ = "rados:" + pool_ + (nspace_.empty() ? "" : "/" + nspace_);
}

Pool::~Pool() {
  waitSent();
  if (io_) api(nullptr)->rados_ioctx_destroy(static_cast<rados_ioctx_t>(io_));
}

Status Pool::openContext() {
  const Api& a = *api(nullptr);
  rados_ioctx_t io = nullptr;
  int r = a.rados_ioctx_create(conn_->cluster, pool_.c_str(), &io);
  if (r == -ENOENT) return Status::notFound(fmt::format("{}: the cluster has no pool {}", describe_, pool_));
  if (r < 0) return Status::io(fmt::format("{}: cannot open pool {}: {}", describe_, pool_, errorText(r)));
  a.rados_ioctx_set_namespace(io, nspace_.c_str());
  io_ = io;
  return Status::ok();
}

Result<std::shared_ptr<Pool>> Pool::open(const std::string& conf, const std::string& client, const std::string& pool,
                                         const std::string& nspace) {
  OPTDB_ASSIGN(auto conn, connect(conf, client));
  std::shared_ptr<Pool> p(new Pool(std::move(conn), pool, nspace));
  OPTDB_TRY(p->openContext());
  return p;
}

Result<std::shared_ptr<Pool>> Pool::another() const {
  std::shared_ptr<Pool> p(new Pool(conn_, pool_, nspace_));
  OPTDB_TRY(p->openContext());
  return p;
}

std::string Pool::cookiePrefix() const {
  return fmt::format("{}.{}", api(nullptr)->rados_get_instance_id(conn_->cluster), ::getpid());
}

Status Pool::failure(int err, const std::string& oid, const char* what) const {
  return Status::io(fmt::format("{}: {} {}: {}", describe_, what, oid, errorText(err)));
}

Result<std::optional<std::string>> Pool::read(const std::string& oid) {
  OPTDB_ASSIGN(auto v, readMany({oid}));
  return std::move(v.front());
}

Result<std::optional<std::string>> Pool::readOutcome(int r, std::uint64_t size, std::string head,
                                                     const std::string& oid) {
  if (r == -ENOENT) return std::optional<std::string>();
  if (r < 0) return failure(r, oid, "reading");
  if (size <= head.size()) return std::optional<std::string>(std::move(head));
  // Larger than the first read: the whole of it in a second round trip.
  const Api& a = *api(nullptr);
  BuiltRead whole(a, size);
  ++counts_.reads;
  r = a.rados_read_op_operate(whole.handle, static_cast<rados_ioctx_t>(io_), oid.c_str(), 0);
  whole.buffer.resize(whole.got);
  return readOutcome(r, 0, std::move(whole.buffer), oid);
}

Result<std::vector<std::optional<std::string>>> Pool::readMany(const std::vector<std::string>& oids) {
  const Api& a = *api(nullptr);
  auto io = static_cast<rados_ioctx_t>(io_);
  std::vector<std::optional<std::string>> out(oids.size());
  for (std::size_t from = 0; from < oids.size(); from += kInFlight) {
    const std::size_t to = std::min(oids.size(), from + kInFlight);
    std::vector<std::unique_ptr<BuiltRead>> reads;
    std::vector<std::unique_ptr<Completion>> done;
    std::vector<int> sent;
    for (std::size_t i = from; i < to; ++i) {
      reads.push_back(std::make_unique<BuiltRead>(a, kFirstRead));
      done.push_back(std::make_unique<Completion>(a));
      sent.push_back(a.rados_aio_read_op_operate(reads.back()->handle, io, done.back()->c, oids[i].c_str(), 0));
    }
    ++counts_.reads;
    // Every read sent is waited for, even after a failure: its buffer is in use until then.
    Status first;
    for (std::size_t i = from; i < to; ++i) {
      BuiltRead& rd = *reads[i - from];
      const int r = sent[i - from] < 0 ? sent[i - from] : done[i - from]->wait(a);
      rd.buffer.resize(rd.got);
      auto got = readOutcome(r, rd.size, std::move(rd.buffer), oids[i]);
      if (got) out[i] = std::move(got).value();
      else if (first) first = got.status();
    }
    OPTDB_TRY(first);
  }
  return out;
}

Result<std::map<std::string, std::string>> Pool::omapGet(const std::string& oid, const std::set<std::string>& keys) {
  const Api& a = *api(nullptr);
  std::map<std::string, std::string> out;
  if (keys.empty()) return out;
  std::vector<const char*> ks;
  std::vector<std::size_t> lens;
  for (const auto& k : keys) {
    ks.push_back(k.data());
    lens.push_back(k.size());
  }
  rados_read_op_t op = a.rados_create_read_op();
  rados_omap_iter_t it = nullptr;
  int prval = 0;
  a.rados_read_op_omap_get_vals_by_keys2(op, ks.data(), ks.size(), lens.data(), &it, &prval);
  int r = a.rados_read_op_operate(op, static_cast<rados_ioctx_t>(io_), oid.c_str(), 0);
  ++counts_.reads;
  a.rados_release_read_op(op);
  if (r == -ENOENT) return out;
  if (r < 0) return failure(r, oid, "reading the keys of");
  if (it) drain(a, it, &out, nullptr);
  return out;
}

Result<std::vector<std::optional<std::string>>> Pool::omapGetMany(const std::vector<std::string>& oids,
                                                                 const std::string& key) {
  const Api& a = *api(nullptr);
  auto io = static_cast<rados_ioctx_t>(io_);
  const char* k = key.data();
  const std::size_t kl = key.size();
  std::vector<std::optional<std::string>> out(oids.size());
  for (std::size_t from = 0; from < oids.size(); from += kInFlight) {
    const std::size_t to = std::min(oids.size(), from + kInFlight);
    std::vector<rados_read_op_t> ops(to - from);
    std::vector<rados_omap_iter_t> its(to - from, nullptr);
    std::vector<int> prvals(to - from, 0);
    std::vector<std::unique_ptr<Completion>> done;
    std::vector<int> sent(to - from, 0);
    for (std::size_t i = from; i < to; ++i) {
      ops[i - from] = a.rados_create_read_op();
      a.rados_read_op_omap_get_vals_by_keys2(ops[i - from], &k, 1, &kl, &its[i - from], &prvals[i - from]);
      done.push_back(std::make_unique<Completion>(a));
      sent[i - from] = a.rados_aio_read_op_operate(ops[i - from], io, done.back()->c, oids[i].c_str(), 0);
    }
    ++counts_.reads;
    Status first;
    for (std::size_t i = from; i < to; ++i) {
      const std::size_t j = i - from;
      int r = sent[j] < 0 ? sent[j] : done[j]->wait(a);
      a.rados_release_read_op(ops[j]);
      if (r == -ENOENT) continue;
      if (r < 0) {
        if (first) first = failure(r, oids[i], "reading the keys of");
        continue;
      }
      std::map<std::string, std::string> got;
      if (its[j]) drain(a, its[j], &got, nullptr);
      if (auto g = got.find(key); g != got.end()) out[i] = std::move(g->second);
    }
    OPTDB_TRY(first);
  }
  return out;
}

Result<std::map<std::string, std::string>> Pool::omapList(const std::string& oid, const std::string& prefix) {
  const Api& a = *api(nullptr);
  std::map<std::string, std::string> out;
  std::string after;
  for (;;) {
    rados_read_op_t op = a.rados_create_read_op();
    rados_omap_iter_t it = nullptr;
    unsigned char more = 0;
    int prval = 0;
    a.rados_read_op_omap_get_vals2(op, after.c_str(), prefix.c_str(), 1024, &it, &more, &prval);
    int r = a.rados_read_op_operate(op, static_cast<rados_ioctx_t>(io_), oid.c_str(), 0);
    ++counts_.reads;
    a.rados_release_read_op(op);
    if (r == -ENOENT) return out;
    if (r < 0) return failure(r, oid, "listing the keys of");
    std::string last = after;
    if (it) drain(a, it, &out, &last);
    if (!more || last == after) return out;
    after = last;
  }
}

Result<bool> Pool::exists(const std::string& oid) {
  std::uint64_t size = 0;
  time_t mtime = 0;
  int r = api(nullptr)->rados_stat(static_cast<rados_ioctx_t>(io_), oid.c_str(), &size, &mtime);
  ++counts_.reads;
  if (r == -ENOENT) return false;
  if (r < 0) return failure(r, oid, "looking for");
  return true;
}

namespace {
Status writeFailure(const Pool& p, int r, const std::string& oid, const WriteOp& op) {
  if (op.assertLocked && (r == -EBUSY || r == -ECANCELED || r == -ENOENT))
    return Status::lockTimeout(fmt::format("{}: the lock on {} is no longer ours (its lease ran out); nothing written",
                                           p.describe(), oid));
  return p.failure(r, oid, op.remove ? "removing" : "writing");
}
}  // namespace

Status Pool::write(const std::string& oid, const WriteOp& op) { return writeMany({{oid, op}}); }

Status Pool::writeMany(const std::vector<std::pair<std::string, WriteOp>>& ops) {
  const Api& a = *api(nullptr);
  auto io = static_cast<rados_ioctx_t>(io_);
  Status first;
  for (std::size_t from = 0; from < ops.size(); from += kInFlight) {
    const std::size_t to = std::min(ops.size(), from + kInFlight);
    std::vector<std::unique_ptr<BuiltWrite>> writes;
    std::vector<std::unique_ptr<Completion>> done;
    for (std::size_t i = from; i < to; ++i) {
      writes.push_back(std::make_unique<BuiltWrite>(a, ops[i].second));
      done.push_back(std::make_unique<Completion>(a));
      int r = a.rados_aio_write_op_operate(writes.back()->handle, io, done.back()->c, ops[i].first.c_str(), nullptr, 0);
      if (r < 0 && first) first = writeFailure(*this, r, ops[i].first, ops[i].second);
    }
    ++counts_.writes;
    for (std::size_t i = from; i < to; ++i) {
      int r = done[i - from]->wait(a);
      if (r >= 0 || (r == -ENOENT && ops[i].second.remove && !ops[i].second.assertLocked)) continue;
      if (first) first = writeFailure(*this, r, ops[i].first, ops[i].second);
    }
    OPTDB_TRY(first);
  }
  return first;
}

Result<std::vector<std::string>> Pool::list() {
  const Api& a = *api(nullptr);
  rados_list_ctx_t ctx = nullptr;
  int r = a.rados_nobjects_list_open(static_cast<rados_ioctx_t>(io_), &ctx);
  if (r < 0) return failure(r, "", "listing the objects of the namespace");
  std::vector<std::string> out;
  for (;;) {
    const char *entry = nullptr, *key = nullptr, *ns = nullptr;
    std::size_t el = 0, kl = 0, nl = 0;
    r = a.rados_nobjects_list_next2(ctx, &entry, &key, &ns, &el, &kl, &nl);
    if (r == -ENOENT) break;
    if (r < 0) {
      a.rados_nobjects_list_close(ctx);
      return failure(r, "", "listing the objects of the namespace");
    }
    out.emplace_back(entry, el);
  }
  a.rados_nobjects_list_close(ctx);
  return out;
}

int Pool::lockExclusive(const std::string& oid, const std::string& name, const std::string& cookie,
                        double leaseSeconds, bool renew) {
  timeval tv = leaseOf(leaseSeconds);
  ++counts_.writes;
  return api(nullptr)->rados_lock_exclusive(static_cast<rados_ioctx_t>(io_), oid.c_str(), name.c_str(),
                                            cookie.c_str(), "optdb", leaseSeconds > 0 ? &tv : nullptr,
                                            renew ? LIBRADOS_LOCK_FLAG_MUST_RENEW : 0);
}

int Pool::lockShared(const std::string& oid, const std::string& name, const std::string& cookie,
                     const std::string& tag, double leaseSeconds, bool renew) {
  timeval tv = leaseOf(leaseSeconds);
  ++counts_.writes;
  return api(nullptr)->rados_lock_shared(static_cast<rados_ioctx_t>(io_), oid.c_str(), name.c_str(), cookie.c_str(),
                                         tag.c_str(), "optdb", leaseSeconds > 0 ? &tv : nullptr,
                                         renew ? LIBRADOS_LOCK_FLAG_MUST_RENEW : 0);
}


struct Pool::InFlight {
  std::unique_ptr<BuiltWrite> write;  // null for an unlock
  std::unique_ptr<Completion> done;
};

void Pool::unlockLater(const std::string& oid, const std::string& name, const std::string& cookie) {
  const Api& a = *api(nullptr);
  auto f = std::make_shared<InFlight>();
  f->done = std::make_unique<Completion>(a);
  if (a.rados_aio_unlock(static_cast<rados_ioctx_t>(io_), oid.c_str(), name.c_str(), cookie.c_str(), f->done->c) < 0)
    return;  // not sent: the lease frees it
  ++counts_.overlapped;
  sent_.push_back(std::move(f));
}

void Pool::sendLater(const std::vector<std::pair<std::string, WriteOp>>& ops) {
  const Api& a = *api(nullptr);
  if (!ops.empty()) ++counts_.overlapped;
  for (const auto& [oid, op] : ops) {
    auto f = std::make_shared<InFlight>();
    f->write = std::make_unique<BuiltWrite>(a, op);
    f->done = std::make_unique<Completion>(a);
    if (a.rados_aio_write_op_operate(f->write->handle, static_cast<rados_ioctx_t>(io_), f->done->c, oid.c_str(),
                                     nullptr, 0) < 0)
      continue;
    sent_.push_back(std::move(f));
  }
}

void Pool::waitSent() {
  const Api& a = *api(nullptr);
  for (auto& f : sent_) f->done->wait(a);
  sent_.clear();
}

Result<std::pair<std::optional<std::string>, std::optional<std::string>>> Pool::readKeyAndObject(
    const std::string& indexOid, const std::string& key, const std::string& oid) {
  const Api& a = *api(nullptr);
  auto io = static_cast<rados_ioctx_t>(io_);
  const char* k = key.data();
  const std::size_t kl = key.size();
  rados_read_op_t keyOp = a.rados_create_read_op();
  rados_omap_iter_t it = nullptr;
  int prval = 0;
  a.rados_read_op_omap_get_vals_by_keys2(keyOp, &k, 1, &kl, &it, &prval);
  Completion keyDone(a), objDone(a);
  BuiltRead obj(a, kFirstRead);
  int rk = a.rados_aio_read_op_operate(keyOp, io, keyDone.c, indexOid.c_str(), 0);
  int ro = a.rados_aio_read_op_operate(obj.handle, io, objDone.c, oid.c_str(), 0);
  ++counts_.reads;
  if (rk >= 0) rk = keyDone.wait(a);
  if (ro >= 0) ro = objDone.wait(a);
  a.rados_release_read_op(keyOp);
  std::pair<std::optional<std::string>, std::optional<std::string>> out;
  if (rk < 0 && rk != -ENOENT) return failure(rk, indexOid, "reading the keys of");
  if (rk >= 0 && it) {
    std::map<std::string, std::string> got;
    drain(a, it, &got, nullptr);
    if (auto g = got.find(key); g != got.end()) out.first = g->second;
  }
  obj.buffer.resize(obj.got);
  OPTDB_ASSIGN(out.second, readOutcome(ro, obj.size, std::move(obj.buffer), oid));
  return out;
}

#else  // built without librados.h: every rados: store is refused at open

struct Connection {};

Result<std::shared_ptr<Pool>> Pool::open(const std::string&, const std::string&, const std::string& pool,
                                         const std::string& nspace) {
  return Status::invalid(fmt::format("rados:{}{}: this optdb was built without RADOS support (librados-dev)", pool,
                                     nspace.empty() ? "" : "/" + nspace));
}
Pool::~Pool() = default;
Result<std::shared_ptr<Pool>> Pool::another() const { return Status::invalid("no RADOS support"); }
Result<std::optional<std::string>> Pool::read(const std::string&) { return Status::invalid("no RADOS support"); }
Result<std::optional<std::string>> Pool::readOutcome(int, std::uint64_t, std::string, const std::string&) {
  return Status::invalid("no RADOS support");
}
Result<std::vector<std::optional<std::string>>> Pool::readMany(const std::vector<std::string>&) {
  return Status::invalid("no RADOS support");
}
Result<std::map<std::string, std::string>> Pool::omapGet(const std::string&, const std::set<std::string>&) {
  return Status::invalid("no RADOS support");
}
Result<std::map<std::string, std::string>> Pool::omapList(const std::string&, const std::string&) {
  return Status::invalid("no RADOS support");
}
Result<std::vector<std::optional<std::string>>> Pool::omapGetMany(const std::vector<std::string>&, const std::string&) {
  return Status::invalid("no RADOS support");
}
Result<bool> Pool::exists(const std::string&) { return Status::invalid("no RADOS support"); }
Status Pool::write(const std::string&, const WriteOp&) { return Status::invalid("no RADOS support"); }
Status Pool::writeMany(const std::vector<std::pair<std::string, WriteOp>>&) { return Status::invalid("no RADOS support"); }
Result<std::vector<std::string>> Pool::list() { return Status::invalid("no RADOS support"); }
int Pool::lockExclusive(const std::string&, const std::string&, const std::string&, double, bool) { return -ENOSYS; }
int Pool::lockShared(const std::string&, const std::string&, const std::string&, const std::string&, double, bool) {
  return -ENOSYS;
}
struct Pool::InFlight {};
void Pool::unlockLater(const std::string&, const std::string&, const std::string&) {}
void Pool::sendLater(const std::vector<std::pair<std::string, WriteOp>>&) {}
void Pool::waitSent() {}
Result<std::pair<std::optional<std::string>, std::optional<std::string>>> Pool::readKeyAndObject(
    const std::string&, const std::string&, const std::string&) {
  return Status::invalid("no RADOS support");
}
std::string Pool::cookiePrefix() const { return ""; }
Status Pool::failure(int err, const std::string& oid, const char* what) const {
  return Status::io(fmt::format("{} {}: {}", what, oid, std::strerror(-err)));
}

#endif

}  // namespace optdb::rados
