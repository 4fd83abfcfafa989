// The write-ahead journal (SPEC §3 step 4, after SQLite's WAL and LevelDB's
// log), as an Env between FileRawStorage and the file system: while its
// process holds a store or block lock, every write is staged in memory
// (reads see it), and commit() makes the unit durable with one append and
// one flush of .optdb/journal, shared with the writers whose appends overlap
// (group commit), then applies it to the tree with no fsync. The tree is made
// durable later, in bulk (syncfs), after which the journal is trimmed.
//
// Crash safety:
// - A power cut: the first optdb command to open the store in the next boot
//   (a reader too) replays every whole record, in order, then syncs and trims.
// - A writer killed after its append: the lock files it held name its record
//   (a marker) until it has applied it; the next holder of any of them rolls
//   the record forward before it reads, so that no one builds on a state
//   that lacks a record the journal would replay later.
// - A writer killed before its append: nothing of the unit reached the tree.
//
// A flush window (batch --buffer, SPEC §8): between beginWindow() and
// flushWindow(), a unit under one block lock is appended but neither flushed
// nor applied. The lock file's marker lists the window's records, so another
// process taking the lock rolls them forward first (flushing them), as it
// would a dead writer's; this process sees them through the window's
// overlay. flushWindow() flushes the journal once and applies each lock's
// final state: a pend file that a commit of the same window removes never
// reaches the tree, and a block's meta.json is written once. A record of the
// window names the one before it (Record::after): a replay after a power cut
// never applies a unit without those it was built on.
//
// Without the journal (Durability::Fsync or ::None) writes go straight
// through, FileRawStorage fsyncs them itself; a journal left by others is
// still replayed, and trimmed before the first lock, so that no old record
// can later be replayed over a newer file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "journal_format.hpp"
#include "optdb/env.hpp"

namespace optdb {

enum class Durability {
  Journal,  // one journal flush per unit of work
  Fsync,    // an fsync per file, as FileRawStorage makes them
  None,     // no durability (--no-sync)
};

struct JournalPaths {
  std::string dir;        // .optdb
  std::string journal;    // the records; also locked while appending
  std::string phaseLock;  // writers shared from append to applied; trim and replay exclusive
  std::string syncFile;   // locked by the one flushing; holds how far the journal is durable
};

struct JournalStats {
  std::uint64_t units = 0;        // units committed through the journal
  std::uint64_t flushes = 0;      // journal flushes made here (others' may cover a unit)
  std::uint64_t rolledForward = 0;  // dead writers' records finished here
  std::uint64_t replayed = 0;     // records replayed after a restart
  std::uint64_t checkpoints = 0;  // trims
  std::uint64_t lateCommits = 0;  // units committed only when their lock was released
  std::uint64_t deferred = 0;     // units of a flush window, made durable by its flush
};

class JournalEnv : public Env, public std::enable_shared_from_this<JournalEnv> {
 public:
  // `checkpointBytes`: the journal is trimmed once it is larger.
  static std::shared_ptr<JournalEnv> create(std::shared_ptr<Env> base, JournalPaths paths, Durability mode,
                                            std::uint64_t checkpointBytes = kDefaultCheckpointBytes);
  static constexpr std::uint64_t kDefaultCheckpointBytes = 8u << 20;
  static constexpr std::uint64_t kWindowCheckpointFactor = 4;  // a window's units are trimmed at 32 MiB

  // Makes what was staged since the last commit durable as one unit, then
  // applies it to the tree. On failure before the append nothing of it is
  // kept; after it, the tree is finished by the next holder of its locks.
  Status commit();
  // Called when staged writes are dropped (commit failed before its append):
  // what the storage cached from them is stale.
  void onDiscard(std::function<void()> f) { onDiscard_ = std::move(f); }
  // Everything written so far durable and the journal trimmed (when no other
  // writer is in the middle of a unit; the tree is synced either way).
  Status checkpoint();
  // Every record a writer killed before the end of its apply left, finished
  // (the next holder of one of its locks would; repair does it for all).
  Status finishDead();
  // The records finishDead would finish, by the locks each names; nothing written.
  Result<std::vector<std::vector<std::string>>> deadUnits();
  // What `lock` guards: the files at or under each of `roots` change only
  // under it. In a flush window, what this process reads there while holding
  // the lock is kept, as long as its window's marker stands (no one else has
  // held the lock since), instead of being read again for each request.
  void guard(const std::string& lock, const std::vector<std::string>& roots);
  // A flush window (see above); false when one is open already.
  bool beginWindow() { return !std::exchange(windowOpen_, true); }
  // The window's units durable (one flush) and in the tree; the window stays
  // open. On failure each lock's units are left to its next holder.
  Status flushWindow();
  // flushWindow(), and the window closed.
  Status endWindow();
  const JournalStats& stats() const { return stats_; }
  Durability mode() const { return mode_; }

  Result<std::string> readFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> newRandomAccessFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> newWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> newAppendableFile(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status removeFile(const std::string& path) override;
  Status removeDir(const std::string& path) override;
  Status createDir(const std::string& path) override;
  Status syncDir(const std::string& path) override;
  Status syncAll() override;
  Result<std::vector<DirEntry>> listDir(const std::string& path) override;
  Result<FileType> fileType(const std::string& path) override;
  Result<std::uint64_t> fileSize(const std::string& path) override;
  Result<std::uint64_t> allocatedSize(const std::string& path) override;
  Result<std::optional<std::chrono::system_clock::time_point>> modifiedTime(const std::string& path) override;
  std::optional<std::string> hostPath(const std::string& path) override;
  Result<std::uint64_t> linkCount(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lockFile(const std::string& path, LockMode mode, double timeoutSeconds) override;
  std::string bootId() override { return base_->bootId(); }

  // For staged files and locks (journal_env.cpp).
  struct Entry;
  class StagedFile;
  class HeldLock;
  // `appended`: data goes after what the file holds (newAppendableFile).
  // `inTree`: what the tree holds at `path`, when the caller has looked.
  void stageFile(const std::string& path, std::string data, bool appended, std::optional<FileType> inTree);
  void released(HeldLock* lock);

 private:
  JournalEnv(std::shared_ptr<Env> base, JournalPaths paths, Durability mode, std::uint64_t checkpointBytes);

  // Replays the journal of an earlier boot, once, before anything else.
  Status ready();
  bool staging() const { return mode_ == Durability::Journal && !held_.empty(); }
  // Before a write that bypasses the journal: no record left that could be replayed over it.
  Status beforeDirectWrite();
  // A staged removal; `collapse`: a rename's source, which leaves no op when made in this unit.
  Status stageRemove(const std::string& path, bool collapse);

  // What this process sees of `path` above the tree: the unit staged now,
  // then the window (nullptr: nothing; the tree holds it).
  const Entry* visible(const std::string& path);
  // The window's entry for `path`, when its lock's marker still lists this
  // process's units (no one has rolled them forward since).
  const Entry* windowed(const std::string& path);
  // The bytes of `path` as this process sees it (staged, windowed or in the tree).
  Result<std::string> contents(const std::string& path);
  // An entry's bytes at `path`: an append's come after the first `base`
  // bytes of what lies below it (read with `below`).
  Result<std::string> entryBytes(const Entry& e, const std::string& path,
                                 Result<std::string> (JournalEnv::*below)(const std::string&));
  // The bytes of `path` below the unit staged now (windowed or in the tree).
  Result<std::string> lowerContents(const std::string& path);
  Result<FileType> lowerType(const std::string& path);

  // A unit's staged writes dropped, its commit having failed with `why`
  // before its append; returns `why`.
  Status discard(const Status& why);
  // A record of the journal's generation (the phase lock taken shared, into
  // `phase`), with a nonce of its own.
  Result<journal::Record> startRecord(std::unique_ptr<FileLock>& phase);
  // What the window keeps of the tree (see guard()): the lock guarding `path`
  // when this process holds it in a window, else nullptr.
  struct Clean {
    FileType type = FileType::None;
    std::optional<std::string> data;
    std::optional<std::vector<DirEntry>> listing;
    std::string lock;
  };
  const std::string* keeper(const std::string& path) const;
  const Clean* kept(const std::string& path) const;
  void keep(const std::string& path, FileType type, std::optional<std::string> data,
            std::optional<std::vector<DirEntry>> listing);
  // `path` changed in the tree: it and its directory's listing forgotten.
  void forgetKept(const std::string& path);
  void dropKept(const std::string& lock);
  // The tree's `path`, through what is kept of it.
  Result<std::string> treeRead(const std::string& path);
  Result<FileType> treeType(const std::string& path);
  Result<std::vector<DirEntry>> treeList(const std::string& path);

  // The unit's entry for `path`, made when there is none (`inTree`: what the
  // tree holds there, when the caller has looked).
  Entry& slotFor(const std::string& path, std::optional<FileType> inTree);
  // The window: a unit `rec` under its one lock appended, not flushed (the
  // phase lock held shared, in `phase`).
  Status appendDeferred(journal::Record rec, std::unique_ptr<FileLock> phase);
  // The unit staged now joins the window, under `lock`.
  Status mergeIntoWindow(const std::string& lock);
  // Whether `lock`'s window entries still stand, `text` being what its lock
  // file holds now (the marker this window wrote: no one has rolled its
  // units forward); when they do not, they are dropped (the tree has them).
  bool windowHolds(const std::string& lock, const std::string& text);
  void dropWindow(const std::string& lock);
  // Nothing held of the window any more (all of it is in the tree).
  void forgetWindow();
  // The final state of the window's entries, as ops, by lock.
  std::map<std::string, std::vector<journal::Op>> windowOps() const;
  bool holdsExclusively(const std::string& lock) const;
  Result<bool> exists(const std::string& path);
  void dropStaged();

  // Applying records to the tree, with no fsync; `again`: the tree may already
  // hold some or all of it (a roll-forward or a replay).
  Status apply(const std::vector<journal::Op>& ops, bool again);
  Status makeDirs(const std::string& dir);
  Status putFile(const std::string& path, const std::string& data);
  Status writeSmall(const std::string& path, const std::string& data);

  Result<std::optional<std::pair<journal::Header, std::size_t>>> readHeader();
  // A new, empty journal of `generation` for this boot, durably.
  Status resetJournal(std::uint64_t generation);
  // Under the phase lock, shared: the header to append under, resetting it
  // first (under the lock exclusively) for a new boot or a new store.
  Result<journal::Header> headerForAppend(std::unique_ptr<FileLock>& phase);
  // The journal reachable after a power cut (its directories fsynced), once.
  Status linkJournal();
  Status waitDurable(WritableFile& journal, std::uint64_t generation, std::uint64_t end);
  // A dead writer's record named by `lockPath`'s marker, finished.
  Status rollForward(const std::string& lockPath);
  // Under the phase lock exclusively: records whose markers are still set
  // (dead writers'), finished; then the tree synced and the journal trimmed.
  Status trimLocked();
  // The records of `found` some lock file still marks (dead writers' and
  // open windows'), in order, and those locks.
  struct Marked {
    std::vector<const journal::Found*> records;
    std::vector<std::string> locks;
  };
  Result<Marked> marked(const std::vector<journal::Found>& found, std::uint64_t generation);
  // Whether every lock of `f` (at `offset` of the journal of `generation`)
  // still marks it. Markers are all written before the append and cleared
  // only once the unit is applied whole: a unit over several locks that one
  // of them no longer marks was applied, and its other blocks may have moved
  // on since, under locks released; it must never be applied again.
  Result<bool> markedEverywhere(const journal::Found& f, std::uint64_t generation, std::uint64_t offset);
  // The marked records of the journal `bytes` (records from `from`) applied, then their markers cleared.
  Status finishMarked(std::uint64_t generation, std::string_view bytes, std::size_t from);
  Status syncJournal();

  Result<bool> journalHasRecords();

  std::shared_ptr<Env> base_;
  JournalPaths paths_;
  Durability mode_;
  std::uint64_t checkpointBytes_;
  bool ready_ = false;
  Status readyStatus_;
  double lockTimeout_ = 30.0;

  std::map<std::string, std::unique_ptr<Entry>> overlay_;
  std::vector<journal::Op> ops_;
  std::vector<HeldLock*> held_;
  std::set<std::string> knownDirs_;
  std::uint64_t nonceBase_ = 0;
  std::uint64_t nonceCounter_ = 0;
  bool trimmedForDirect_ = false;
  bool journalLinked_ = false;
  std::function<void()> onDiscard_;
  JournalStats stats_;

  bool windowOpen_ = false;
  std::map<std::string, std::unique_ptr<Entry>> window_;
  std::map<std::string, std::set<std::string>> windowByLock_;  // lock → its paths in window_
  std::map<std::string, std::string> windowMarks_;  // lock → the marker this process wrote there
  std::optional<std::pair<std::uint64_t, std::uint64_t>> lastDeferred_;  // generation, nonce
  std::map<std::string, std::string> guardRoots_;  // root → the lock guarding it
  std::map<std::string, Clean> clean_;
  std::map<std::string, std::set<std::string>> keptByLock_;  // lock → its paths in clean_
};

}  // namespace optdb
