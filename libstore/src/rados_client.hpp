// A pool (and namespace) of a Ceph cluster, reached through librados's C API,
// which is loaded with dlopen on the first `rados:` store a process opens: a
// directory store never loads librados or its thirty libraries. Only what
// RadosRawStorage needs, as one-round-trip operations and batches of them
// sent in parallel. Errors are Status values naming the object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "optdb/status.hpp"

namespace optdb::rados {

struct Connection;  // a cluster handle, shared by every pool of a process on one conf

// One compound operation on one object: applied whole or not at all.
struct WriteOp {
  std::optional<std::string> data;  // the object's bytes, replaced whole
  std::map<std::string, std::string> omapSet;
  std::set<std::string> omapRemove;
  bool remove = false;  // the object removed (nothing else is written)
  // Refused (-ECANCELED or -EBUSY) unless this client holds that exclusive
  // lock on the object with that cookie: a holder whose lease ran out writes nothing.
  std::optional<std::pair<std::string, std::string>> assertLocked;  // lock name, cookie
};

class Pool {
 public:
  // `conf`: a ceph.conf path; `client`: the id without "client.".
  static Result<std::shared_ptr<Pool>> open(const std::string& conf, const std::string& client,
                                            const std::string& pool, const std::string& nspace);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // The same pool and namespace on the same connection (another handle: its
  // own I/O context, as another thread needs).
  Result<std::shared_ptr<Pool>> another() const;

  const std::string& describe() const { return describe_; }  // rados:POOL[/NS]

  // nullopt: no such object.
  Result<std::optional<std::string>> read(const std::string& oid);
  // Several objects read in parallel (one round trip in all).
  Result<std::vector<std::optional<std::string>>> readMany(const std::vector<std::string>& oids);
  // The values of these omap keys (absent keys, or a missing object: not in the map).
  Result<std::map<std::string, std::string>> omapGet(const std::string& oid, const std::set<std::string>& keys);
  // One omap key's value on each of several objects, read in parallel.
  Result<std::vector<std::optional<std::string>>> omapGetMany(const std::vector<std::string>& oids,
                                                             const std::string& key);
  // Every omap entry whose key starts with `prefix` (all of them for ""), in key order.
  Result<std::map<std::string, std::string>> omapList(const std::string& oid, const std::string& prefix);
  Result<bool> exists(const std::string& oid);
  // An omap key's value on `indexOid` and the object `oid`, read together (one round trip).
  Result<std::pair<std::optional<std::string>, std::optional<std::string>>> readKeyAndObject(
      const std::string& indexOid, const std::string& key, const std::string& oid);

  Status write(const std::string& oid, const WriteOp& op);
  // Operations on distinct objects, sent together; the first failure is
  // returned after all have finished. Removing a missing object is no failure.
  Status writeMany(const std::vector<std::pair<std::string, WriteOp>>& ops);

  // Every object of the namespace, in no order.
  Result<std::vector<std::string>> list();

  // cls_lock advisory locks; 0 or a negative errno (-EBUSY: held by another).
  // `leaseSeconds` > 0: the lock expires that long after it was taken or
  // renewed. `renew`: only a lock still held is renewed (-ENOENT once its
  // lease ran out): a holder that stalled never takes back a lock silently.
  int lockExclusive(const std::string& oid, const std::string& name, const std::string& cookie, double leaseSeconds,
                    bool renew);
  int lockShared(const std::string& oid, const std::string& name, const std::string& cookie, const std::string& tag,
                 double leaseSeconds, bool renew);
  // An unlock, and writes, sent and not waited for (what nothing reads any
  // more: it overlaps with what follows); waitSent() waits for all sent so
  // far, whose errors are dropped (a removal that failed leaves a leftover
  // integrity reports).
  void unlockLater(const std::string& oid, const std::string& name, const std::string& cookie);
  void sendLater(const std::vector<std::pair<std::string, WriteOp>>& ops);
  void waitSent();

  // Round trips waited for so far: a batch sent together counts once.
  struct Counts {
    std::uint64_t reads = 0, writes = 0;
    std::uint64_t overlapped = 0;  // batches sent and not waited for (unlocks, removals)
  };
  Counts counts() const { return counts_; }

  // A unique client-instance-wide cookie prefix (this process's connection).
  std::string cookiePrefix() const;

  // A Status for error `err` (negative errno) of an operation on `oid`.
  Status failure(int err, const std::string& oid, const char* what) const;

 private:
  Pool(std::shared_ptr<Connection> conn, std::string pool, std::string nspace);
  Status openContext();
  // What a first read of `oid` that returned `r` (the object's size, the
  // bytes it got) comes to: nullopt when there is no such object; the rest
  // read in a second round trip when the object is larger.
  Result<std::optional<std::string>> readOutcome(int r, std::uint64_t size, std::string head, const std::string& oid);

  std::shared_ptr<Connection> conn_;
  std::string pool_, nspace_, describe_;
  void* io_ = nullptr;  // rados_ioctx_t
  Counts counts_;
  struct InFlight;
  std::vector<std::shared_ptr<InFlight>> sent_;  // sent, not waited for
};

}  // namespace optdb::rados
