// Block archives (SPEC §4): the BlockArchive type and its codec, reading a
// stream of archives, writing a store's history as archives, restoring
// archives into a store, and the restore sources `get --restore-from` asks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "optdb/block_storage.hpp"
#include "optdb/json.hpp"
#include "optdb/model.hpp"
#include "optdb/raw_storage.hpp"

namespace optdb {

// ---- the type and its codec ----

struct ArchiveRevision {
  TrxRev trx;                 // trx.rev is the revision
  Transform transform;        // this block's part of the transaction
  std::optional<Json> block;  // the block after this revision, when the archive carries it
};

struct ArchivePending {
  TrxId trxId;
  Transform transform;  // this block's part of the pending transaction
};

struct BlockArchive {
  BlockId blockId;
  std::vector<ArchiveRevision> revisions;  // ascending by revision, each inside `range`
  Range range;
  std::vector<ArchivePending> pending;  // only with an open-ended range; sorted by TrxId
  Dialect dialect = Dialect::Trx;       // the names it is written with (SPEC §2)
};

// Validates completely: ids, the range, every revision key (canonical decimal,
// ≥ 1, inside the range, equal to its trx.rev), every transform and block
// (header.id equal to blockId), each TrxId committed once, pending only with
// an open-ended range. Reads both dialects (`action`/`actionId` for
// `trx`/`trxId`; `dialect` is the one its first revision uses), a revision's
// rev left out (its key; upstream v0.24's sync archives), a pending entry's
// optional rev, and `[start,null]` for `[start]`. A pending transaction with
// no part for this block is dropped.
Result<BlockArchive> decodeArchive(const Json& j, std::string_view where);
// {"blockId","revisions","range","pending"?} in the archive's dialect,
// revisions ascending; `pending` only when the range is open-ended and there is one.
Json encodeArchive(const BlockArchive& a);
// The archive as one NDJSON line (compact JSON and "\n") appended to `out`.
void appendArchiveLine(std::string& out, const BlockArchive& a);

// The materializations restoring `a` into a block of `dialect` saves, one
// entry per revision (nullopt: none): every `block` the archive carries, and,
// where the state can be rebuilt from the archive alone, those the block's
// retention rule keeps (retainsMaterialization, the archive's revisions
// counted from its first, its highest as the tip). InvalidInput when a
// transform cannot apply.
Result<std::vector<std::optional<Json>>> archiveMaterializations(const BlockArchive& a, std::string_view where,
                                                                 Dialect dialect = Dialect::Trx);

// Reads archives one at a time from NDJSON (one archive a line), a single
// JSON object, a JSON array of archives, or any sequence of these. Errors
// name the input and the line: "backup.ndjson: line 3: range: …".
//
// Over a stream (the ReadFn constructor) the reader holds one top-level value
// at a time: memory is bounded by the largest NDJSON line or object, not by
// the input. A top-level JSON array is parsed whole (its archives are then
// handed out one at a time): an input that is one big array is held in memory.
//
// An input that starts with the zstd magic bytes (28 B5 2F FD) is a zstd
// stream, decompressed as it is read (optdb/zstd.hpp): every reader of
// archives accepts zstd input, the bytes read beneath staying compressed. A
// corrupt or truncated stream is InvalidInput, like truncated JSON.
class ArchiveReader {
 public:
  // Fills `buf` with up to `size` bytes; 0 at the end of the input.
  using ReadFn = std::function<Result<std::size_t>(char* buf, std::size_t size)>;

  ArchiveReader(std::string_view text, std::string name);
  ArchiveReader(ReadFn read, std::string name);
  // The next archive; nullopt at the end of the input.
  Result<std::optional<BlockArchive>> next();
  // Where the archive last returned was read: "backup.ndjson: line 3".
  const std::string& where() const { return where_; }
  // A zstd input that decompresses to more than `maxBytes` (0: no limit)
  // fails, naming `limitName` (a restore source's OPTDB_RESTORE_MAX_BYTES).
  void limitDecompressed(std::uint64_t maxBytes, std::string limitName) {
    maxDecompressed_ = maxBytes;
    limitName_ = std::move(limitName);
  }

 private:
  Status fail(std::size_t line, const std::string& message) const;
  // Appends the next bytes of a stream to buf_; false at its end (or for a text).
  Result<bool> fill();
  // At the start: reads on through a zstd decompressor when the input is zstd.
  Status detectZstd();

  std::string_view text_;  // the text, or buf_ over a stream
  std::string name_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  ReadFn read_;      // empty for a text
  std::string buf_;  // over a stream: the bytes read and not yet consumed, from pos_
  bool ended_ = false;
  bool started_ = false;
  // The elements of a top-level array being read.
  std::optional<Json> array_;
  std::size_t arrayIndex_ = 0;
  std::size_t arrayLine_ = 0;
  std::string where_;
  std::uint64_t maxDecompressed_ = 0;
  std::string limitName_;
};

// Every archive of a text, validated (including archiveMaterializations).
Result<std::vector<BlockArchive>> readArchives(std::string_view text, const std::string& name);

// ---- archive ----

struct ArchiveRequest {
  std::vector<BlockId> blockIds;  // the blocks, or
  bool all = false;               // every block of the store, in sorted id order
  std::optional<Rev> from;        // window [from, to)
  std::optional<Rev> to;
  std::optional<Rev> rev;  // what restoring this revision needs; not with from/to
  std::size_t chunk = 0;   // at most this many revisions an archive; 0: no limit
  std::optional<Dialect> layout;  // the archives' dialect; nullopt: each block's own
};

using ArchiveSink = std::function<Status(const BlockArchive&)>;
// Called after each block: blocks done, blocks in all, the block just done.
using ArchiveProgress = BlockProgressFn;

// Writes each block's archives (SPEC §4 window rules) to `sink`, one archive
// at a time: memory holds one archive (at most `chunk` revisions), never a
// block's whole history. Named blocks are checked first (NotFound when one is
// missing or, with `rev`, does not hold it) so that nothing is written then.
// With `all` and `rev`, blocks that do not hold `rev` are skipped. A reader:
// takes no lock, writes nothing.
Status writeArchives(RawStorage& raw, const ArchiveRequest& request, const ArchiveSink& sink,
                     const ArchiveProgress& progress = {});

// ---- restore ----

struct ArchiveInput {
  std::string name;  // "stdin" or the file name, for messages
  std::string_view text;
};

struct RestoreSummary {
  std::vector<BlockId> restored;  // blocks with at least one archive applied, once each, in input order
  std::vector<std::pair<BlockId, std::string>> rejected;  // conflicting archives, with the reason
  // {"restored":[…],"rejected":[{"blockId","reason"}…]}
  Json toJson() const;
  Code exitCode() const { return rejected.empty() ? Code::Ok : Code::Integrity; }
};

// Validates every input completely first (InvalidInput, nothing written),
// then applies the archives in input order, each under its block's lock
// (the store lock held shared throughout). An archive that conflicts with
// the store is skipped whole and listed in `rejected`. Idempotent.
Result<RestoreSummary> restoreArchives(RawStorage& raw, const std::vector<ArchiveInput>& inputs,
                                       double lockTimeout);

// A restore input read as a stream, from its descriptor's current offset.
struct ArchiveStream {
  std::string name;  // "stdin" or the file name, for messages
  int fd = -1;       // not closed here; -1: an empty input
};

// restoreArchives in bounded memory (the largest archive; a JSON array input
// is held whole): a first pass reads and validates every input completely
// (InvalidInput, nothing written), a second pass reads them again and applies
// them archive by archive. An input that cannot be read twice (not a regular
// file: a pipe, a terminal) is copied during the first pass into an unnamed
// temporary file in `spoolDir` (where it can: else $TMPDIR, else /tmp) and read back from it. A regular file that
// changes between the passes is an error before anything is written.
// `progress` hears of each archive applied: archives done, archives in all.
// With `threads.jobs` > 1, the second pass applies blocks in parallel, each
// thread on a storage `threads.open` gives (one per thread, on the same
// store), a block's archives in input order on one of them; the summary is
// the same, in input order.
struct RestoreThreads {
  unsigned jobs = 1;
  std::function<Result<std::shared_ptr<RawStorage>>()> open;
};
Result<RestoreSummary> restoreArchiveStreams(RawStorage& raw, const std::vector<ArchiveStream>& inputs,
                                             double lockTimeout, const std::string& spoolDir,
                                             const BlockProgressFn& progress = {}, const RestoreThreads& threads = {});

// restore --dry-run: what restoreArchiveStreams would do, writing nothing.
struct RestorePlanEntry {
  BlockId blockId;
  std::string where;  // "backup.ndjson: line 3"
  Range range;
  std::optional<std::string> refuse;  // the conflict: the archive would be skipped whole
  std::size_t writeRevisions = 0;     // revisions it would add (or complete)
  std::size_t skipRevisions = 0;      // revisions already held, identical
  std::size_t writePendings = 0;      // pending transactions it would add
  std::size_t skipPendings = 0;       // its pendings held already, or committed here
  std::size_t removePendings = 0;     // local pendings it shows committed
  bool writeMeta = false;             // whether meta.json would change (ranges, latest)
};

struct RestorePlan {
  RestoreSummary summary;  // exactly what the restore would print
  std::vector<RestorePlanEntry> archives;  // one per archive, in input order
  // {"dryRun":true,"restored":[…],"rejected":[…],"archives":[{"blockId","input","range",
  //   "write":{"revisions","pending","meta"},"skip":{"revisions","pending"},"removePending"}
  //   or {"blockId","input","range","refuse"}…]}
  Json toJson() const;
  Code exitCode() const { return summary.exitCode(); }
};

// restore's first pass (every archive parsed and validated: InvalidInput on
// the first bad one) with the conflict checks against the store, in one pass
// over each input (nothing is spooled). Writes nothing at all: not a lock
// file, a temporary file or the store directory; it holds the store lock
// shared only where the store keeps one. Later archives of a block are
// judged as if the earlier ones had been applied (memory: a few dozen bytes
// per revision it would write). A commit interrupted on a block is not
// finished first, as a real restore would: run repair for an exact answer.
Result<RestorePlan> planRestoreStreams(RawStorage& raw, const std::vector<ArchiveStream>& inputs, double lockTimeout);

// One validated archive is applied by BlockStorage::restoreArchive
// (block_storage.hpp), the block's own writer.

// ---- restore sources for get ----

struct RestoreSource {
  enum class Kind { File, Store, Command };
  Kind kind = Kind::File;
  std::string location;  // the file, the store directory, or the command
  std::string spec;      // as given, for messages
  // A command that has not finished by then is killed (with everything it
  // started) and counts as a failing source; 0: no limit.
  double timeoutSeconds = 60;
  // A command's output is spooled to an unnamed temporary file ($TMPDIR, else
  // /tmp), never held in memory; one that writes more than this is killed and
  // counts as a failing source (OPTDB_RESTORE_MAX_BYTES; default 1 GiB).
  std::uint64_t maxBytes = std::uint64_t(1) << 30;
};

// "cmd:COMMAND" is a command; an existing directory is another store; anything
// else is an archive file (read when asked; a missing file is that source's failure).
Result<std::vector<RestoreSource>> parseRestoreSources(const std::vector<std::string>& specs);

using WarningSink = std::function<void(const std::string& message)>;

// The archives `source` offers for (id, rev), validated, all of block `id`.
// A file offers its archives of that block; a store answers as `archive id
// --rev rev` (the whole block without rev); a command is run as
// `/bin/sh -c COMMAND optdb-restore ID REV` and its stdout read.
Result<std::vector<BlockArchive>> fetchFromSource(const RestoreSource& source, const BlockId& id,
                                                  std::optional<Rev> rev);

// Tries each source in order; the first whose archives bring the target
// inside the block's ranges is saved into `target` exactly as restore saves
// it (under the store lock shared and the block's lock). A source that fails
// or lies is reported through `warn` and the next tried. NotFound when none
// supplies the target.
Status restoreFromSources(const std::vector<RestoreSource>& sources, RawStorage& target, const BlockId& id,
                          std::optional<Rev> rev, double lockTimeout, const WarningSink& warn);

// A RestoreCallback over `sources` saving into the storage `target` returns
// when the callback runs: the RawStorage of the StorageRepo the callback is
// given to (so that the repo sees what is saved, even into a store that did
// not exist when it was opened).
RestoreCallback makeRestoreCallback(std::vector<RestoreSource> sources, std::function<RawStorage&()> target,
                                    double lockTimeout, WarningSink warn);

// Makes SIGINT, SIGTERM and SIGHUP end the restore-source commands running at
// that moment (SIGKILL to each one's process group) before optdb dies of the
// signal, as it would have without this (SPEC §7). A signal that optdb was
// started with ignored stays ignored. For main(), once, at the start.
void killRestoreSourcesOnSignals();

}  // namespace optdb
