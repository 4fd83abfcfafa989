// The write-ahead journal (journal_env.hpp): the overlay of staged writes,
// the append and group flush, applying records, and the recovery of dead
// writers' records, replays and trims.
#include "journal_env.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include <fmt/format.h>

#include "layout.hpp"

namespace optdb {

using journal::Op;

struct JournalEnv::Entry {
  enum class State { File, Gone, NoDir };
  State state = State::File;
  std::string data;
  // File: an append to the tree's file, whose first `base` bytes come before `data`.
  std::optional<std::uint64_t> base;
  std::optional<std::size_t> op;  // the live op in ops_ that leaves the path so
  std::string lock;               // a window entry's: the lock its unit was under
  // The tree may hold the path (false: made in this window or unit), so that
  // a removal has something to remove there.
  bool inTree = true;
};

namespace {

std::string parentOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string baseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status gone(const std::string& path) { return Status::notFound(fmt::format("{}: No such file or directory", path)); }

// Reads a staged file's bytes, the tree's prefix first for an append.
class OverlayFile : public RandomAccessFile {
 public:
  OverlayFile(std::unique_ptr<RandomAccessFile> prefix, std::uint64_t prefixSize, std::string tail)
      : prefix_(std::move(prefix)), prefixSize_(prefixSize), tail_(std::move(tail)) {}
  std::uint64_t size() const override { return prefixSize_ + tail_.size(); }
  Result<std::string> read(std::uint64_t offset, std::size_t n) override {
    std::string out;
    if (offset < prefixSize_ && prefix_) {
      const std::size_t m = std::size_t(std::min<std::uint64_t>(n, prefixSize_ - offset));
      OPTDB_ASSIGN(out, prefix_->read(offset, m));
      if (out.size() < m) out.resize(m, '\0');
      offset += m;
      n -= m;
    }
    if (n > 0 && offset >= prefixSize_ && offset - prefixSize_ < tail_.size())
      out += tail_.substr(std::size_t(offset - prefixSize_), n);
    return out;
  }

 private:
  std::unique_ptr<RandomAccessFile> prefix_;
  std::uint64_t prefixSize_;
  std::string tail_;
};

}  // namespace

// A file being written while a unit is staged: its bytes join the overlay at close.
class JournalEnv::StagedFile : public WritableFile {
 public:
  // `inTree`: what the tree holds at `path`, when the caller knows.
  StagedFile(std::shared_ptr<JournalEnv> env, std::string path, bool append, std::optional<FileType> inTree)
      : env_(std::move(env)), path_(std::move(path)), append_(append), inTree_(inTree) {}
  ~StagedFile() override { (void)close(); }
  Status append(std::string_view data) override {
    data_.append(data);
    return Status::ok();
  }
  Status sync() override { return Status::ok(); }  // the journal's flush makes it durable
  Status close() override {
    if (closed_) return Status::ok();
    closed_ = true;
    env_->stageFile(path_, std::move(data_), append_, inTree_);
    return Status::ok();
  }

 private:
  std::shared_ptr<JournalEnv> env_;
  std::string path_;
  bool append_;
  std::optional<FileType> inTree_;
  std::string data_;
  bool closed_ = false;
};

// A store or block lock taken through the journal: while any is held, writes
// are staged; a unit still staged when one is released is committed first,
// under it.
class JournalEnv::HeldLock : public FileLock {
 public:
  HeldLock(std::shared_ptr<JournalEnv> env, std::string path, LockMode mode, std::unique_ptr<FileLock> inner)
      : env_(std::move(env)), path_(std::move(path)), mode_(mode), inner_(std::move(inner)) {}
  ~HeldLock() override { env_->released(this); }
  const std::string& path() const { return path_; }
  LockMode mode() const { return mode_; }

 private:
  std::shared_ptr<JournalEnv> env_;
  std::string path_;
  LockMode mode_;
  std::unique_ptr<FileLock> inner_;
};

std::shared_ptr<JournalEnv> JournalEnv::create(std::shared_ptr<Env> base, JournalPaths paths, Durability mode,
                                               std::uint64_t checkpointBytes) {
  return std::shared_ptr<JournalEnv>(new JournalEnv(std::move(base), std::move(paths), mode, checkpointBytes));
}

JournalEnv::JournalEnv(std::shared_ptr<Env> base, JournalPaths paths, Durability mode, std::uint64_t checkpointBytes)
    : base_(std::move(base)), paths_(std::move(paths)), mode_(mode), checkpointBytes_(checkpointBytes) {
  std::random_device rd;
  nonceBase_ = (std::uint64_t(rd()) << 32) ^ std::uint64_t(rd()) ^ (std::uint64_t(::getpid()) << 20) ^
               std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
}

// ---- the overlay ----

const JournalEnv::Entry* JournalEnv::visible(const std::string& path) {
  if (!overlay_.empty()) {
    auto it = overlay_.find(path);
    if (it != overlay_.end()) return it->second.get();
  }
  return windowed(path);
}

const JournalEnv::Entry* JournalEnv::windowed(const std::string& path) {
  if (window_.empty()) return nullptr;
  auto it = window_.find(path);
  if (it == window_.end()) return nullptr;
  const std::string lock = it->second->lock;
  if (holdsExclusively(lock)) return it->second.get();
  auto text = base_->readFile(lock);
  if (!windowHolds(lock, text ? *text : std::string())) return nullptr;
  return it->second.get();
}

bool JournalEnv::holdsExclusively(const std::string& lock) const {
  return std::any_of(held_.begin(), held_.end(),
                     [&](const HeldLock* l) { return l->mode() == LockMode::Exclusive && l->path() == lock; });
}

void JournalEnv::dropStaged() {
  overlay_.clear();
  ops_.clear();
}

Result<std::string> JournalEnv::entryBytes(const Entry& e, const std::string& path,
                                           Result<std::string> (JournalEnv::*below)(const std::string&)) {
  if (e.state != Entry::State::File) return gone(path);
  if (!e.base) return e.data;
  OPTDB_ASSIGN(std::string prefix, (this->*below)(path));
  prefix.resize(std::size_t(*e.base), '\0');
  return prefix + e.data;
}

Result<std::string> JournalEnv::lowerContents(const std::string& path) {
  if (const Entry* w = windowed(path)) return entryBytes(*w, path, &JournalEnv::treeRead);
  return treeRead(path);
}

Result<FileType> JournalEnv::lowerType(const std::string& path) {
  if (const Entry* w = windowed(path)) return w->state == Entry::State::File ? FileType::File : FileType::None;
  return treeType(path);
}

Result<std::string> JournalEnv::contents(const std::string& path) {
  if (auto it = overlay_.find(path); it != overlay_.end()) return entryBytes(*it->second, path, &JournalEnv::lowerContents);
  return lowerContents(path);
}

Result<bool> JournalEnv::exists(const std::string& path) {
  if (const Entry* e = visible(path)) return e->state == Entry::State::File;
  OPTDB_ASSIGN(const FileType t, treeType(path));
  return t != FileType::None;
}

JournalEnv::Entry& JournalEnv::slotFor(const std::string& path, std::optional<FileType> inTree) {
  auto& slot = overlay_[path];
  if (!slot) {
    slot = std::make_unique<Entry>();
    if (auto w = window_.find(path); w != window_.end()) {
      slot->inTree = w->second->inTree;
    } else if (inTree) {
      slot->inTree = *inTree != FileType::None;
    } else {
      auto t = treeType(path);
      slot->inTree = !t || *t != FileType::None;
    }
  }
  return *slot;
}

void JournalEnv::stageFile(const std::string& path, std::string data, bool appended, std::optional<FileType> inTree) {
  Entry& e = slotFor(path, appended ? std::optional(FileType::File) : inTree);
  if (appended) {
    if (e.state == Entry::State::File && e.op && (ops_[*e.op].kind == Op::Kind::Put || ops_[*e.op].kind == Op::Kind::Append)) {
      // Appended again in this unit: one op holds it all.
      e.data += data;
      ops_[*e.op].data += data;
      return;
    }
    if (e.state != Entry::State::File || !e.op) {
      // The first append in this unit: the file's size below it is where the op starts.
      std::uint64_t below = 0;
      if (const Entry* w = windowed(path); w && w->state == Entry::State::File) {
        below = w->base.value_or(0) + w->data.size();
      } else if (!w) {
        auto size = base_->fileSize(path);
        below = size ? *size : 0;
      }
      e.state = Entry::State::File;
      e.base = below;
      e.data = data;
      ops_.push_back(Op{Op::Kind::Append, path, std::move(data), *e.base});
      e.op = ops_.size() - 1;
      return;
    }
  }
  if (e.op) ops_[*e.op].kind = Op::Kind{};  // superseded: only the file's final state is kept
  e.state = Entry::State::File;
  e.base.reset();
  e.data = data;
  ops_.push_back(Op{Op::Kind::Put, path, std::move(data), 0});
  e.op = ops_.size() - 1;
}

// ---- what a window keeps of the tree it reads ----

void JournalEnv::guard(const std::string& lock, const std::vector<std::string>& roots) {
  for (const auto& r : roots) guardRoots_.emplace(r, lock);
}

const std::string* JournalEnv::keeper(const std::string& path) const {
  if (!windowOpen_ || mode_ != Durability::Journal || guardRoots_.empty()) return nullptr;
  for (std::string p = path; !p.empty(); p = parentOf(p)) {
    auto it = guardRoots_.find(p);
    if (it != guardRoots_.end()) return holdsExclusively(it->second) ? &it->second : nullptr;
  }
  return nullptr;
}

const JournalEnv::Clean* JournalEnv::kept(const std::string& path) const {
  if (clean_.empty()) return nullptr;
  const std::string* lock = keeper(path);
  if (!lock) return nullptr;
  auto it = clean_.find(path);
  return it != clean_.end() && it->second.lock == *lock ? &it->second : nullptr;
}

void JournalEnv::keep(const std::string& path, FileType type, std::optional<std::string> data,
                      std::optional<std::vector<DirEntry>> listing) {
  const std::string* lock = keeper(path);
  if (!lock) return;
  Clean& c = clean_[path];
  if (c.lock != *lock) {
    if (!c.lock.empty()) keptByLock_[c.lock].erase(path);
    keptByLock_[*lock].insert(path);
    c = Clean{};
  } else if (c.type != type) {
    c = Clean{};
  }
  c.lock = *lock;
  c.type = type;
  if (data) c.data = std::move(data);
  if (listing) c.listing = std::move(listing);
}

void JournalEnv::forgetKept(const std::string& path) {
  if (clean_.empty()) return;
  for (const std::string& p : {path, parentOf(path)}) {
    auto it = clean_.find(p);
    if (it == clean_.end()) continue;
    keptByLock_[it->second.lock].erase(p);
    clean_.erase(it);
  }
}

void JournalEnv::dropKept(const std::string& lock) {
  auto paths = keptByLock_.find(lock);
  if (paths == keptByLock_.end()) return;
  for (const auto& p : paths->second) clean_.erase(p);
  keptByLock_.erase(paths);
}

Result<std::string> JournalEnv::treeRead(const std::string& path) {
  if (const Clean* c = kept(path)) {
    if (c->type == FileType::None) return gone(path);
    if (c->data) return *c->data;
  }
  auto r = base_->readFile(path);
  if (r) keep(path, FileType::File, *r, std::nullopt);
  else if (r.status().code() == Code::NotFound) keep(path, FileType::None, std::nullopt, std::nullopt);
  return r;
}

Result<FileType> JournalEnv::treeType(const std::string& path) {
  if (const Clean* c = kept(path)) return c->type;
  auto t = base_->fileType(path);
  if (t) keep(path, *t, std::nullopt, std::nullopt);
  return t;
}

Result<std::vector<DirEntry>> JournalEnv::treeList(const std::string& path) {
  if (const Clean* c = kept(path)) {
    if (c->type == FileType::None) return gone(path);
    if (c->listing) return *c->listing;
  }
  auto r = base_->listDir(path);
  if (r) keep(path, FileType::Dir, std::nullopt, *r);
  else if (r.status().code() == Code::NotFound) keep(path, FileType::None, std::nullopt, std::nullopt);
  return r;
}

// ---- Env: reads see the overlay ----

Result<std::string> JournalEnv::readFile(const std::string& path) {
  OPTDB_TRY(ready());
  return contents(path);
}

Result<std::unique_ptr<RandomAccessFile>> JournalEnv::newRandomAccessFile(const std::string& path) {
  OPTDB_TRY(ready());
  if (const Entry* e = visible(path)) {
    if (e->state != Entry::State::File) return gone(path);
    std::unique_ptr<RandomAccessFile> prefix;
    if (e->base && *e->base > 0) {
      if ((e != windowed(path) && windowed(path)) || keeper(path)) {
        // Appended to in this unit and in the window before it, or on a tree
        // file the window keeps: read whole.
        OPTDB_ASSIGN(std::string all, contents(path));
        return std::unique_ptr<RandomAccessFile>(std::make_unique<OverlayFile>(nullptr, 0, std::move(all)));
      }
      OPTDB_ASSIGN(prefix, base_->newRandomAccessFile(path));
    }
    return std::unique_ptr<RandomAccessFile>(
        std::make_unique<OverlayFile>(std::move(prefix), e->base.value_or(0), e->data));
  }
  if (keeper(path)) {
    // Kept whole, as the window keeps what it writes.
    OPTDB_ASSIGN(std::string all, treeRead(path));
    return std::unique_ptr<RandomAccessFile>(std::make_unique<OverlayFile>(nullptr, 0, std::move(all)));
  }
  return base_->newRandomAccessFile(path);
}

Result<std::vector<DirEntry>> JournalEnv::listDir(const std::string& path) {
  OPTDB_TRY(ready());
  if (overlay_.empty() && window_.empty()) return treeList(path);
  if (const Entry* e = visible(path); e && e->state == Entry::State::NoDir) return gone(path);
  auto listed = treeList(path);
  if (!listed && listed.status().code() != Code::NotFound) return listed.status();
  std::vector<DirEntry> out = listed ? std::move(*listed) : std::vector<DirEntry>();
  const std::string prefix = path.empty() ? std::string() : path + "/";
  bool any = listed.isOk();
  // The window's entries over the tree's, then the unit's over both.
  std::vector<std::string> names;
  for (auto* layer : {&window_, &overlay_})
    for (auto it = layer->lower_bound(prefix); it != layer->end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it)
      if (it->first.find('/', prefix.size()) == std::string::npos) names.push_back(it->first);
  for (const auto& full : names) {
    const Entry* e = visible(full);
    if (!e) continue;  // a window entry another process has since rolled forward
    const std::string name = full.substr(prefix.size());
    auto at = std::find_if(out.begin(), out.end(), [&](const DirEntry& d) { return d.name == name; });
    if (e->state == Entry::State::File) {
      any = true;
      if (at == out.end()) out.push_back({name, FileType::File});
    } else if (at != out.end()) {
      out.erase(at);
    }
  }
  if (!any) return listed.status();
  return out;
}

Result<FileType> JournalEnv::fileType(const std::string& path) {
  OPTDB_TRY(ready());
  if (const Entry* e = visible(path)) return e->state == Entry::State::File ? FileType::File : FileType::None;
  return treeType(path);
}

Result<std::uint64_t> JournalEnv::fileSize(const std::string& path) {
  OPTDB_TRY(ready());
  if (const Entry* e = visible(path)) {
    if (e->state != Entry::State::File) return gone(path);
    return e->base.value_or(0) + e->data.size();
  }
  if (const Clean* c = kept(path)) {
    if (c->type == FileType::None) return gone(path);
    if (c->data) return std::uint64_t(c->data->size());
  }
  return base_->fileSize(path);
}

Result<std::uint64_t> JournalEnv::allocatedSize(const std::string& path) {
  OPTDB_TRY(ready());
  if (visible(path)) return fileSize(path);
  return base_->allocatedSize(path);
}

Result<std::optional<std::chrono::system_clock::time_point>> JournalEnv::modifiedTime(const std::string& path) {
  OPTDB_TRY(ready());
  if (const Entry* e = visible(path)) {
    if (e->state != Entry::State::File) return gone(path);
    return std::optional<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
  }
  return base_->modifiedTime(path);
}

std::optional<std::string> JournalEnv::hostPath(const std::string& path) { return base_->hostPath(path); }

Result<std::uint64_t> JournalEnv::linkCount(const std::string& path) {
  OPTDB_TRY(ready());
  if (visible(path)) return std::uint64_t{1};
  return base_->linkCount(path);
}

// ---- Env: writes are staged while a lock is held ----

Result<std::unique_ptr<WritableFile>> JournalEnv::newWritableFile(const std::string& path) {
  OPTDB_TRY(ready());
  if (!staging()) {
    OPTDB_TRY(beforeDirectWrite());
    forgetKept(path);
    return base_->newWritableFile(path);
  }
  // What the tree refuses to replace (a FIFO, a directory) is refused here too.
  std::optional<FileType> inTree;
  if (!visible(path)) {
    OPTDB_ASSIGN(inTree, treeType(path));
    if (*inTree != FileType::None && *inTree != FileType::File)
      return Status::integrity(fmt::format("{}: not a regular file", path));
  }
  return std::unique_ptr<WritableFile>(std::make_unique<StagedFile>(shared_from_this(), path, false, inTree));
}

Result<std::unique_ptr<WritableFile>> JournalEnv::newAppendableFile(const std::string& path) {
  OPTDB_TRY(ready());
  if (!staging()) {
    OPTDB_TRY(beforeDirectWrite());
    forgetKept(path);
    return base_->newAppendableFile(path);
  }
  if (const Entry* e = visible(path)) {
    if (e->state != Entry::State::File) return gone(path);
  } else {
    OPTDB_ASSIGN(const FileType t, treeType(path));
    if (t == FileType::None) return gone(path);
    if (t != FileType::File) return Status::integrity(fmt::format("{}: not a regular file", path));
    OPTDB_ASSIGN(const std::uint64_t links, base_->linkCount(path));
    if (links != 1) return Status::integrity(fmt::format("{}: has {} links; not appended to", path, links));
  }
  return std::unique_ptr<WritableFile>(std::make_unique<StagedFile>(shared_from_this(), path, true, FileType::File));
}

Status JournalEnv::rename(const std::string& from, const std::string& to) {
  OPTDB_TRY(ready());
  if (!staging()) {
    OPTDB_TRY(beforeDirectWrite());
    forgetKept(from);
    forgetKept(to);
    return base_->rename(from, to);
  }
  // The new name first, then the old one gone, as a rename leaves them.
  OPTDB_ASSIGN(std::string data, contents(from));
  stageFile(to, std::move(data), false, std::nullopt);
  return stageRemove(from, /*collapse=*/true);
}

Status JournalEnv::removeFile(const std::string& path) {
  OPTDB_TRY(ready());
  if (!staging()) {
    OPTDB_TRY(beforeDirectWrite());
    forgetKept(path);
    return base_->removeFile(path);
  }
  return stageRemove(path, false);
}

Status JournalEnv::stageRemove(const std::string& path, bool collapse) {
  auto found = overlay_.find(path);
  const Entry* e = found != overlay_.end() ? found->second.get() : nullptr;
  if (e && e->state != Entry::State::File) return gone(path);
  // Below the unit: the window's entry, or the tree.
  OPTDB_ASSIGN(const FileType inTree, lowerType(path));
  if (!e && inTree == FileType::None) return gone(path);
  if (!e && inTree == FileType::Dir) return Status::io(fmt::format("{}: Is a directory", path));
  auto* slot = &slotFor(path, inTree);
  // A temporary file renamed never reaches the tree. Any other file made in
  // this unit does, and goes again, as the writer ordered it: an intent is
  // what a writer killed between its blocks leaves for the next one.
  if (slot->op && collapse) ops_[*slot->op].kind = Op::Kind{};
  const bool made = slot->op.has_value() && !collapse;
  slot->state = Entry::State::Gone;
  slot->data.clear();
  slot->base.reset();
  slot->op.reset();
  if (inTree != FileType::None || made) {
    ops_.push_back(Op{Op::Kind::Remove, path, {}, 0});
    slot->op = ops_.size() - 1;
  }
  return Status::ok();
}

Status JournalEnv::removeDir(const std::string& path) {
  OPTDB_TRY(ready());
  if (!staging()) {
    OPTDB_TRY(beforeDirectWrite());
    forgetKept(path);
    return base_->removeDir(path);
  }
  OPTDB_ASSIGN(auto entries, listDir(path));
  if (!entries.empty()) return Status::io(fmt::format("{}: Directory not empty", path));
  auto& slot = overlay_[path];
  if (!slot) slot = std::make_unique<Entry>();
  slot->state = Entry::State::NoDir;
  ops_.push_back(Op{Op::Kind::RemoveDir, path, {}, 0});
  slot->op = ops_.size() - 1;
  return Status::ok();
}

Status JournalEnv::createDir(const std::string& path) {
  OPTDB_TRY(ready());
  // Directories are made at once: an empty one is nothing to any reader, and
  // a replay makes the parents of every file it writes.
  forgetKept(path);
  OPTDB_TRY(base_->createDir(path));
  knownDirs_.insert(path);
  bool removed = false;  // by the unit staged now, or by the window
  for (auto* layer : {&overlay_, &window_})
    if (auto it = layer->find(path); it != layer->end() && it->second->state == Entry::State::NoDir) {
      if (layer == &window_) windowByLock_[it->second->lock].erase(path);
      layer->erase(it);
      removed = true;
    }
  if (removed) ops_.push_back(Op{Op::Kind::MakeDir, path, {}, 0});
  return Status::ok();
}

Status JournalEnv::syncDir(const std::string& path) {
  OPTDB_TRY(ready());
  if (staging()) return Status::ok();  // the journal's flush stands for it
  return base_->syncDir(path);
}

Status JournalEnv::syncAll() {
  OPTDB_TRY(ready());
  if (mode_ != Durability::Journal) return base_->syncAll();
  OPTDB_TRY(commit());
  return checkpoint();
}

// ---- locks ----

Result<std::unique_ptr<FileLock>> JournalEnv::lockFile(const std::string& path, LockMode mode, double timeoutSeconds) {
  OPTDB_TRY(ready());
  if (timeoutSeconds > 0) lockTimeout_ = timeoutSeconds;
  if (mode_ == Durability::Fsync) OPTDB_TRY(beforeDirectWrite());
  OPTDB_ASSIGN(auto inner, base_->lockFile(path, mode, timeoutSeconds));
  // A marker: the last holder died between its append and the end of its apply.
  auto marker = base_->readFile(path);
  if (marker) {
    // This process's own window units, still listed, are seen through the window.
    const bool ours = windowMarks_.count(path) && windowHolds(path, *marker);
    if (!ours && !marker->empty()) OPTDB_TRY(rollForward(path));
  }
  auto held = std::make_unique<HeldLock>(shared_from_this(), path, mode, std::move(inner));
  held_.push_back(held.get());
  return std::unique_ptr<FileLock>(std::move(held));
}

void JournalEnv::released(HeldLock* lock) {
  if (staging()) {
    bool any = std::any_of(ops_.begin(), ops_.end(), [](const Op& o) { return o.kind != Op::Kind{}; });
    if (any) {
      // A writer that returned without commit(): its unit is made durable
      // under the lock it was staged under, never after another can take it.
      ++stats_.lateCommits;
      if (Status s = commit(); !s) std::fprintf(stderr, "optdb: error: %s\n", s.message().c_str());
    }
  }
  // What it kept of the tree stands only while its window's marker does.
  if (lock->mode() == LockMode::Exclusive && !windowMarks_.count(lock->path())) dropKept(lock->path());
  std::erase(held_, lock);
  if (held_.empty()) dropStaged();
}

// ---- commit ----

Status JournalEnv::commit() {
  OPTDB_TRY(ready());
  // In a flush window, a unit under one exclusive lock is deferred; one over
  // several locks (or none) is not, and the window goes first.
  std::optional<std::string> deferUnder;
  if (windowOpen_ && mode_ == Durability::Journal) {
    std::vector<const HeldLock*> exclusive;
    for (const HeldLock* l : held_)
      if (l->mode() == LockMode::Exclusive) exclusive.push_back(l);
    if (exclusive.size() == 1) deferUnder = exclusive.front()->path();
    else if (!windowMarks_.empty()) OPTDB_TRY(flushWindow());
  }
  std::vector<Op> ops;
  for (auto& o : ops_) {
    if (o.kind == Op::Kind{}) continue;
    // A file written again as it stands (a retried commit, a recovery's
    // rewrite) changes nothing: what the tree holds here is durable already,
    // or in an earlier record. (In a window, the tree is not what this
    // process sees.)
    if (o.kind == Op::Kind::Put && !deferUnder) {
      auto size = base_->fileSize(o.path);
      if (size && *size == o.data.size()) {
        auto now = base_->readFile(o.path);
        if (now && *now == o.data) continue;
      }
    }
    ops.push_back(std::move(o));
  }
  if (ops.empty()) {
    dropStaged();
    return Status::ok();
  }
  std::unique_ptr<FileLock> phase;
  auto started = startRecord(phase);
  if (!started) return discard(started.status());
  journal::Record rec = std::move(*started);
  if (deferUnder) {
    rec.locks = {*deferUnder};
    rec.ops = std::move(ops);
    return appendDeferred(std::move(rec), std::move(phase));
  }
  for (const HeldLock* l : held_)
    if (l->mode() == LockMode::Exclusive) rec.locks.push_back(l->path());
  rec.ops = std::move(ops);
  const std::string bytes = journal::encodeRecord(rec);

  std::uint64_t offset = 0;
  std::unique_ptr<WritableFile> file;
  {
    auto appending = base_->lockFile(paths_.journal, LockMode::Exclusive, lockTimeout_);
    if (!appending) return discard(appending.status());
    auto size = base_->fileSize(paths_.journal);
    if (!size) return discard(size.status());
    offset = *size;
    // The markers first: once the record is in the journal, the next holder
    // of any of these locks must know to finish it.
    const std::string marker = journal::encodeMarker({rec.generation, offset, rec.nonce});
    Status s;
    for (const auto& l : rec.locks)
      if (s) s = writeSmall(l, marker);
    if (s) {
      auto f = base_->newAppendableFile(paths_.journal);
      if (f) {
        file = std::move(*f);
        s = file->append(bytes);
      } else {
        s = f.status();
      }
    }
    if (!s) {
      for (const auto& l : rec.locks) (void)writeSmall(l, "");
      return discard(s);
    }
  }
  Status s = linkJournal();
  if (s) s = waitDurable(*file, rec.generation, offset + bytes.size());
  Status c = file->close();
  if (s) s = c;
  // Flushed or not, the record may be whole in the journal now: the markers
  // stay until it is applied, by this writer or the next holder.
  if (s) s = apply(rec.ops, false);
  if (!s) {
    dropStaged();
    return Status(s.code(), fmt::format("{} (the unit is in the journal; the next writer finishes it)", s.message()));
  }
  for (const auto& l : rec.locks) {
    // Left, a marker only makes the next holder apply the unit again: the
    // unit is done, but not acknowledged.
    if (Status m = writeSmall(l, ""); !m) {
      dropStaged();
      return m;
    }
  }
  phase.reset();
  dropStaged();
  ++stats_.units;
  if (offset + bytes.size() > checkpointBytes_) {
    auto x = base_->lockFile(paths_.phaseLock, LockMode::Exclusive, 0);
    if (x) (void)trimLocked();  // the unit is durable already; a failed trim is tried again later
  }
  return Status::ok();
}

Status JournalEnv::discard(const Status& why) {
  dropStaged();
  if (onDiscard_) onDiscard_();
  return why;
}

Result<journal::Record> JournalEnv::startRecord(std::unique_ptr<FileLock>& phase) {
  OPTDB_ASSIGN(auto header, headerForAppend(phase));
  journal::Record rec;
  rec.generation = header.generation;
  rec.nonce = nonceBase_ + ++nonceCounter_;
  return rec;
}

// ---- the flush window ----

Status JournalEnv::appendDeferred(journal::Record rec, std::unique_ptr<FileLock> phase) {
  const std::string lock = rec.locks.at(0);
  // Built on this window's previous unit, unless a trim has applied it since.
  if (lastDeferred_ && lastDeferred_->first == rec.generation) rec.after = lastDeferred_->second;
  {
    auto appending = base_->lockFile(paths_.journal, LockMode::Exclusive, lockTimeout_);
    if (!appending) return discard(appending.status());
    auto size = base_->fileSize(paths_.journal);
    if (!size) return discard(size.status());
    const std::uint64_t offset = *size;
    // The lock's marker names the window's first unit under it, once: the
    // units after it there follow it (Record::after).
    auto before = base_->readFile(lock);
    if (!before && before.status().code() != Code::NotFound) return discard(before.status());
    auto mine = windowMarks_.find(lock);
    std::string text = mine != windowMarks_.end() ? mine->second : std::string();
    auto head = journal::decodeMarker(text);
    const bool marked = before && *before == text && head && head->generation == rec.generation;
    Status st;
    if (!marked) {
      text = journal::encodeMarker({rec.generation, offset, rec.nonce});
      st = writeSmall(lock, text);
    }
    std::unique_ptr<WritableFile> file;
    if (st) {
      auto f = base_->newAppendableFile(paths_.journal);
      if (f) file = std::move(*f);
      st = f ? file->append(journal::encodeRecord(rec)) : f.status();
      if (file) {
        Status c = file->close();
        if (st) st = c;
      }
    }
    if (!st) {
      if (!marked) (void)writeSmall(lock, "");
      return discard(st);
    }
    windowMarks_[lock] = text;
    lastDeferred_ = std::make_pair(rec.generation, rec.nonce);
    if (Status m = mergeIntoWindow(lock); !m) {
      // The unit is in the journal and marked: its lock's next holder applies it.
      dropWindow(lock);
      dropStaged();
      return m;
    }
    ++stats_.units;
    ++stats_.deferred;
    // A window trims later than a unit does (fewer flushes for a restore),
    // and then holds nothing more: the trim applied all of it, durably.
    if (offset <= checkpointBytes_ * kWindowCheckpointFactor) return Status::ok();
  }
  phase.reset();
  auto x = base_->lockFile(paths_.phaseLock, LockMode::Exclusive, 0);
  if (x && trimLocked()) forgetWindow();  // tried again at the next unit when it fails
  return Status::ok();
}

void JournalEnv::forgetWindow() {
  window_.clear();
  windowByLock_.clear();
  windowMarks_.clear();
  clean_.clear();
  keptByLock_.clear();
  lastDeferred_.reset();
}

Status JournalEnv::mergeIntoWindow(const std::string& lock) {
  Status s;
  for (auto& [path, e] : overlay_) {
    e->op.reset();
    auto& w = window_[path];
    if (w && w->lock != lock) windowByLock_[w->lock].erase(path);
    if (e->state == Entry::State::File && e->base && w && w->state == Entry::State::File) {
      // Appended to what the window holds of it.
      const std::uint64_t from = *e->base;
      if (!w->base || from >= *w->base) {
        w->data.resize(std::size_t(from - w->base.value_or(0)), '\0');
        w->data += e->data;
      } else {
        auto tree = base_->readFile(path);
        if (!tree) {
          if (s) s = tree.status();
          continue;
        }
        tree->resize(std::size_t(from), '\0');
        w->data = *tree + e->data;
        w->base.reset();
      }
    } else {
      w = std::move(e);
    }
    if (w->state == Entry::State::Gone && !w->inTree) {
      windowByLock_[lock].erase(path);
      window_.erase(path);  // made and removed within the window: the tree has nothing to hide
      continue;
    }
    w->lock = lock;
    windowByLock_[lock].insert(path);
  }
  dropStaged();
  return s;
}

bool JournalEnv::windowHolds(const std::string& lock, const std::string& text) {
  auto it = windowMarks_.find(lock);
  if (it == windowMarks_.end()) return false;
  if (it->second == text) return true;
  dropWindow(lock);
  return false;
}

void JournalEnv::dropWindow(const std::string& lock) {
  // By the index: the window may hold thousands of locks (a restore's), and
  // each may be dropped in turn (another process rolled them all forward).
  if (auto paths = windowByLock_.find(lock); paths != windowByLock_.end()) {
    for (const auto& p : paths->second) window_.erase(p);
    windowByLock_.erase(paths);
  }
  windowMarks_.erase(lock);
  dropKept(lock);
}

std::map<std::string, std::vector<Op>> JournalEnv::windowOps() const {
  // One pass over the window (not one per lock: a restore's window holds
  // thousands of blocks).
  std::map<std::string, std::vector<Op>> ops, dirs;
  for (const auto& [path, w] : window_) {
    switch (w->state) {
      case Entry::State::File:
        if (w->base)
          ops[w->lock].push_back(Op{Op::Kind::Append, path, w->data, *w->base});
        else
          ops[w->lock].push_back(Op{Op::Kind::Put, path, w->data, 0});
        break;
      case Entry::State::Gone:
        ops[w->lock].push_back(Op{Op::Kind::Remove, path, {}, 0});
        break;
      case Entry::State::NoDir:
        dirs[w->lock].push_back(Op{Op::Kind::RemoveDir, path, {}, 0});
        break;
    }
  }
  // Directories last, the deepest first.
  for (auto& [lock, ds] : dirs) {
    auto& to = ops[lock];
    to.insert(to.end(), std::make_move_iterator(ds.rbegin()), std::make_move_iterator(ds.rend()));
  }
  return ops;
}

Status JournalEnv::endWindow() {
  Status s = flushWindow();
  windowOpen_ = false;
  return s;
}

Status JournalEnv::flushWindow() {
  OPTDB_TRY(ready());
  if (windowMarks_.empty()) {
    forgetWindow();
    return Status::ok();
  }
  Status s = linkJournal();
  if (s) s = syncJournal();
  if (s) ++stats_.flushes;
  const auto marks = windowMarks_;
  auto byLock = windowOps();
  for (const auto& [lock, text] : marks) {
    if (!s) break;  // not known durable: each lock's next holder flushes and applies its units
    std::unique_ptr<FileLock> taken;
    if (!holdsExclusively(lock)) {
      // Held by another: it found this window's units under the lock and
      // rolled them forward as it took it. Never waited for here: this
      // process may hold other locks.
      auto t = base_->lockFile(lock, LockMode::Exclusive, 0);
      if (!t) continue;
      taken = std::move(*t);
    }
    auto phase = base_->lockFile(paths_.phaseLock, LockMode::Shared, lockTimeout_);
    if (!phase) {
      s = phase.status();
      break;
    }
    auto now = base_->readFile(lock);
    if (!now && now.status().code() != Code::NotFound) {
      s = now.status();
      break;
    }
    if (!windowHolds(lock, now ? *now : std::string())) continue;
    s = apply(byLock[lock], true);
    if (s) s = writeSmall(lock, "");
  }
  forgetWindow();
  return s;
}

Result<journal::Header> JournalEnv::headerForAppend(std::unique_ptr<FileLock>& phase) {
  const std::string boot = bootId();
  for (int attempt = 0; attempt < 3; ++attempt) {
    OPTDB_ASSIGN(phase, base_->lockFile(paths_.phaseLock, LockMode::Shared, lockTimeout_));
    OPTDB_ASSIGN(auto h, readHeader());
    if (h && h->first.bootId == boot) return h->first;
    phase.reset();
    OPTDB_ASSIGN(auto x, base_->lockFile(paths_.phaseLock, LockMode::Exclusive, lockTimeout_));
    OPTDB_ASSIGN(h, readHeader());
    if (!h) {
      OPTDB_TRY(resetJournal(1));
    } else if (h->first.bootId != boot) {
      OPTDB_TRY(trimLocked());  // only a journal left empty by an earlier boot gets here
    }
  }
  return Status::io(fmt::format("{}: the journal changed under every attempt to append to it", paths_.journal));
}

Status JournalEnv::waitDurable(WritableFile& journal, std::uint64_t generation, std::uint64_t end) {
  OPTDB_ASSIGN(auto flushing, base_->lockFile(paths_.syncFile, LockMode::Exclusive, lockTimeout_));
  auto note = base_->readFile(paths_.syncFile);
  if (note) {
    auto d = journal::decodeDurable(*note);
    if (d && d->first == generation && d->second >= end) return Status::ok();  // a flush that began after our append
  }
  OPTDB_ASSIGN(const std::uint64_t size, base_->fileSize(paths_.journal));
  OPTDB_TRY(journal.sync());
  ++stats_.flushes;
  return writeSmall(paths_.syncFile, journal::encodeDurable(generation, size));
}

// ---- applying records ----

Status JournalEnv::writeSmall(const std::string& path, const std::string& data) {
  OPTDB_ASSIGN(auto f, base_->newWritableFile(path));
  Status s = f->append(data);
  Status c = f->close();
  return s ? c : s;
}

Status JournalEnv::makeDirs(const std::string& dir) {
  if (dir.empty() || knownDirs_.count(dir)) return Status::ok();
  OPTDB_ASSIGN(const FileType t, base_->fileType(dir));
  if (t != FileType::Dir) {
    OPTDB_TRY(makeDirs(parentOf(dir)));
    forgetKept(dir);
    OPTDB_TRY(base_->createDir(dir));
  }
  knownDirs_.insert(dir);
  return Status::ok();
}

Status JournalEnv::putFile(const std::string& path, const std::string& data) {
  const std::string dir = parentOf(path);
  OPTDB_TRY(makeDirs(dir));
  // A leading '.': what every reader skips and repair removes when left.
  std::string tmp = layout::journalTempName(baseName(path));
  if (!dir.empty()) tmp = dir + "/" + tmp;
  Status s = writeSmall(tmp, data);
  if (s) s = base_->rename(tmp, path);
  if (!s) (void)base_->removeFile(tmp);
  return s;
}

Status JournalEnv::apply(const std::vector<Op>& ops, bool again) {
  for (const auto& op : ops) {
    forgetKept(op.path);
    switch (op.kind) {
      case Op::Kind::Put:
        OPTDB_TRY(putFile(op.path, op.data));
        break;
      case Op::Kind::Remove: {
        Status s = base_->removeFile(op.path);
        if (!s && s.code() != Code::NotFound) return s;
        break;
      }
      case Op::Kind::Append: {
        if (!again) {
          auto size = base_->fileSize(op.path);
          if (size && *size == op.offset) {
            OPTDB_ASSIGN(auto f, base_->newAppendableFile(op.path));
            Status s = f->append(op.data);
            Status c = f->close();
            OPTDB_TRY(s ? c : s);
            break;
          }
        }
        // The tree may hold some of it already, or less than came before it.
        auto now = base_->readFile(op.path);
        if (!now && now.status().code() != Code::NotFound) return now.status();
        std::string data = now ? std::move(*now) : std::string();
        data.resize(std::size_t(op.offset), '\0');
        data += op.data;
        OPTDB_TRY(putFile(op.path, data));
        break;
      }
      case Op::Kind::MakeDir:
        OPTDB_TRY(makeDirs(op.path));
        break;
      case Op::Kind::RemoveDir: {
        Status s = base_->removeDir(op.path);
        knownDirs_.erase(op.path);
        if (!s && s.code() != Code::NotFound && !again) return s;
        break;
      }
    }
  }
  return Status::ok();
}

// ---- the journal file ----

Result<std::optional<std::pair<journal::Header, std::size_t>>> JournalEnv::readHeader() {
  using Out = std::optional<std::pair<journal::Header, std::size_t>>;
  auto f = base_->newRandomAccessFile(paths_.journal);
  if (!f && f.status().code() == Code::NotFound) return Out();
  if (!f) return f.status();
  OPTDB_ASSIGN(std::string head, (*f)->read(0, 256));
  if (head.empty()) return Out();  // created, never written: a journal of nothing
  auto h = journal::decodeHeader(head);
  if (!h) return Status::integrity(fmt::format("{}: not an optdb journal (its first line is damaged)", paths_.journal));
  return Out(std::move(*h));
}

Result<bool> JournalEnv::journalHasRecords() {
  OPTDB_ASSIGN(auto h, readHeader());
  if (!h) return false;
  OPTDB_ASSIGN(const std::uint64_t size, base_->fileSize(paths_.journal));
  return size > h->second;
}

Status JournalEnv::resetJournal(std::uint64_t generation) {
  OPTDB_TRY(makeDirs(paths_.dir));
  const std::string tmp = paths_.journal + ".tmp";
  OPTDB_ASSIGN(auto f, base_->newWritableFile(tmp));
  Status s = f->append(journal::encodeHeader({generation, bootId()}));
  if (s) s = f->sync();
  Status c = f->close();
  if (s) s = c;
  if (s) s = base_->rename(tmp, paths_.journal);
  if (!s) {
    (void)base_->removeFile(tmp);
    return s;
  }
  journalLinked_ = false;
  return linkJournal();
}

Status JournalEnv::linkJournal() {
  if (journalLinked_) return Status::ok();
  // The journal's name durable in its directory, and that directory in its
  // parent: either may be new, made by a process that died before its
  // directory fsync (or while a unit was staged, whose fsyncs the journal
  // stands for). Once per process.
  OPTDB_TRY(base_->syncDir(paths_.dir));
  for (std::string d = paths_.dir; !d.empty();) {
    d = parentOf(d);
    OPTDB_TRY(base_->syncDir(d));
  }
  journalLinked_ = true;
  return Status::ok();
}

// ---- recovery ----

Status JournalEnv::ready() {
  if (ready_) return readyStatus_;
  ready_ = true;
  readyStatus_ = [&]() -> Status {
    OPTDB_ASSIGN(auto h, readHeader());
    if (!h || h->first.bootId == bootId()) return Status::ok();
    OPTDB_ASSIGN(const bool records, journalHasRecords());
    if (!records) return Status::ok();  // the first writer of this boot starts it afresh
    // Written in an earlier boot: what the records hold may not all be in the
    // tree. Replayed before anything is read.
    OPTDB_ASSIGN(auto x, base_->lockFile(paths_.phaseLock, LockMode::Exclusive, lockTimeout_));
    OPTDB_ASSIGN(h, readHeader());
    if (!h || h->first.bootId == bootId()) return Status::ok();  // replayed meanwhile
    OPTDB_ASSIGN(std::string bytes, base_->readFile(paths_.journal));
    for (const auto& f : journal::replayable(journal::scanRecords(bytes, h->second, h->first.generation))) {
      OPTDB_TRY(apply(f.record.ops, true));
      ++stats_.replayed;
    }
    OPTDB_TRY(base_->syncAll());
    return resetJournal(h->first.generation + 1);
  }();
  if (!readyStatus_)
    readyStatus_ = Status(readyStatus_.code(),
                          fmt::format("the store's journal holds commits of an earlier boot that must be replayed "
                                      "before it is read, and replaying them failed: {}",
                                      readyStatus_.message()));
  return readyStatus_;
}

Status JournalEnv::beforeDirectWrite() {
  if (trimmedForDirect_) return Status::ok();
  OPTDB_ASSIGN(const bool records, journalHasRecords());
  if (records) {
    OPTDB_ASSIGN(auto x, base_->lockFile(paths_.phaseLock, LockMode::Exclusive, lockTimeout_));
    OPTDB_TRY(trimLocked());
  }
  trimmedForDirect_ = true;
  return Status::ok();
}

Status JournalEnv::rollForward(const std::string& lockPath) {
  OPTDB_ASSIGN(auto x, base_->lockFile(paths_.phaseLock, LockMode::Exclusive, lockTimeout_));
  OPTDB_ASSIGN(std::string text, base_->readFile(lockPath));
  if (text.empty()) return Status::ok();  // finished by another meanwhile
  auto marker = journal::decodeMarker(text);
  OPTDB_ASSIGN(auto h, readHeader());
  // A marker of an earlier generation: what it named was applied before that trim.
  if (!marker || !h || h->first.generation != marker->generation) return writeSmall(lockPath, "");
  // The record it names and what follows it (a window's units after it).
  OPTDB_ASSIGN(auto f, base_->newRandomAccessFile(paths_.journal));
  const std::uint64_t end = f->size();
  OPTDB_ASSIGN(std::string tail, f->read(marker->offset, std::size_t(end > marker->offset ? end - marker->offset : 0)));
  const auto found = journal::scanRecords(tail, 0, h->first.generation);
  // Empty when its writer died in that append: nothing of it was applied.
  auto records = journal::markedRecords(found, lockPath, {marker->generation, 0, marker->nonce});
  if (!records.empty()) {
    OPTDB_ASSIGN(const bool whole, markedEverywhere(*records.front(), marker->generation, marker->offset));
    if (!whole) records.clear();
  }
  if (!records.empty()) OPTDB_TRY(syncJournal());
  for (const journal::Found* f : records) {
    OPTDB_TRY(apply(f->record.ops, true));
    ++stats_.rolledForward;
  }
  // A unit over several locks: theirs name it too.
  if (!records.empty())
    for (const auto& l : records.front()->record.locks) {
      if (l == lockPath) continue;
      auto now = base_->readFile(l);
      if (now && *now == text) OPTDB_TRY(writeSmall(l, ""));
    }
  return writeSmall(lockPath, "");
}

Status JournalEnv::syncJournal() {
  // A dead writer's record may never have been flushed: durable before any
  // of it reaches the tree, as its writer would have made it.
  OPTDB_ASSIGN(auto appendable, base_->newAppendableFile(paths_.journal));
  Status s = appendable->sync();
  Status c = appendable->close();
  return s ? c : s;
}

Result<bool> JournalEnv::markedEverywhere(const journal::Found& f, std::uint64_t generation, std::uint64_t offset) {
  if (f.record.locks.size() < 2) return true;
  const std::string text = journal::encodeMarker({generation, offset, f.record.nonce});
  for (const auto& l : f.record.locks) {
    auto now = base_->readFile(l);
    if (!now && now.status().code() != Code::NotFound) return now.status();
    if (!now || *now != text) return false;
  }
  return true;
}

Result<JournalEnv::Marked> JournalEnv::marked(const std::vector<journal::Found>& found, std::uint64_t generation) {
  Marked out;
  std::set<std::string> locks;
  for (const auto& f : found) locks.insert(f.record.locks.begin(), f.record.locks.end());
  std::set<const journal::Found*> records;
  for (const auto& l : locks) {
    auto text = base_->readFile(l);
    if (!text || text->empty()) continue;
    auto m = journal::decodeMarker(*text);
    if (!m || m->generation != generation) continue;
    auto rs = journal::markedRecords(found, l, *m);
    if (rs.empty()) continue;
    OPTDB_ASSIGN(const bool whole, markedEverywhere(*rs.front(), generation, rs.front()->offset));
    if (whole) records.insert(rs.begin(), rs.end());
    out.locks.push_back(l);
  }
  for (const auto& f : found)
    if (records.count(&f)) out.records.push_back(&f);
  return out;
}

Result<std::vector<std::vector<std::string>>> JournalEnv::deadUnits() {
  OPTDB_TRY(ready());
  std::vector<std::vector<std::string>> out;
  OPTDB_ASSIGN(auto h, readHeader());
  if (!h) return out;
  OPTDB_ASSIGN(std::string bytes, base_->readFile(paths_.journal));
  const auto found = journal::replayable(journal::scanRecords(bytes, h->second, h->first.generation));
  OPTDB_ASSIGN(auto dead, marked(found, h->first.generation));
  for (const journal::Found* f : dead.records) out.push_back(f->record.locks);
  return out;
}

Status JournalEnv::finishMarked(std::uint64_t generation, std::string_view bytes, std::size_t from) {
  const auto found = journal::replayable(journal::scanRecords(bytes, from, generation));
  OPTDB_ASSIGN(auto dead, marked(found, generation));
  if (!dead.records.empty()) OPTDB_TRY(syncJournal());
  for (const journal::Found* f : dead.records) {
    OPTDB_TRY(apply(f->record.ops, true));
    ++stats_.rolledForward;
  }
  for (const auto& l : dead.locks) OPTDB_TRY(writeSmall(l, ""));
  return Status::ok();
}

Status JournalEnv::finishDead() {
  OPTDB_ASSIGN(const bool records, journalHasRecords());
  if (!records) return Status::ok();
  OPTDB_ASSIGN(auto x, base_->lockFile(paths_.phaseLock, LockMode::Exclusive, lockTimeout_));
  OPTDB_ASSIGN(auto h, readHeader());
  if (!h) return Status::ok();
  OPTDB_ASSIGN(std::string bytes, base_->readFile(paths_.journal));
  OPTDB_TRY(finishMarked(h->first.generation, bytes, h->second));
  return Status::ok();
}

Status JournalEnv::trimLocked() {
  OPTDB_ASSIGN(auto h, readHeader());
  if (!h) return base_->syncAll();
  OPTDB_ASSIGN(std::string bytes, base_->readFile(paths_.journal));
  OPTDB_TRY(finishMarked(h->first.generation, bytes, h->second));
  OPTDB_TRY(base_->syncAll());
  // The tree is durable now; a journal that cannot be started afresh (a full
  // disk) keeps records that only say again what the tree holds.
  if (resetJournal(h->first.generation + 1)) ++stats_.checkpoints;
  return Status::ok();
}

Status JournalEnv::checkpoint() {
  OPTDB_TRY(ready());
  OPTDB_ASSIGN(auto h, readHeader());
  if (!h) return base_->syncAll();
  auto x = base_->lockFile(paths_.phaseLock, LockMode::Exclusive, 0);
  if (!x) return base_->syncAll();  // another writer is in a unit: trimmed after it
  return trimLocked();
}

}  // namespace optdb
