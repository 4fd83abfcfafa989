// The in-memory Env of the tests: durability only through fsync, crash
// points, power cuts, special files, denied access and a full disk.
#include "optdb/mem_env.hpp"

#include <fmt/format.h>

namespace optdb {

struct MemEnv::Node {
  FileType type = FileType::File;
  std::string data, durableData;
  std::chrono::system_clock::time_point modified = std::chrono::system_clock::now();  // of data (not modelled durably)
  std::map<std::string, std::shared_ptr<Node>> entries, durableEntries;
};

namespace {

std::pair<std::string, std::string> splitPath(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Makes the durable state and the visible one agree: the visible one becomes
// durable (a sync of everything), or the durable one is all that is left (a power cut).
void settle(const std::shared_ptr<MemEnv::Node>& n, bool keepVisible) {
  if (n->type == FileType::Dir) {
    if (keepVisible) n->durableEntries = n->entries;
    else n->entries = n->durableEntries;
    for (auto& [_, child] : n->entries) settle(child, keepVisible);
  } else if (keepVisible) {
    n->durableData = n->data;
  } else {
    n->data = n->durableData;
  }
}

}  // namespace

class MemEnv::File : public WritableFile {
 public:
  File(MemEnv* env, std::shared_ptr<Node> node, std::string path)
      : env_(env), node_(std::move(node)), path_(std::move(path)) {}
  Status append(std::string_view data) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    OPTDB_TRY(env_->needSpace("write", path_));
    node_->data.append(data);
    node_->modified = std::chrono::system_clock::now();
    return Status::ok();
  }
  Status sync() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    OPTDB_TRY(env_->mutate("fsync", path_));
    node_->durableData = node_->data;
    return Status::ok();
  }
  Status close() override { return Status::ok(); }

 private:
  MemEnv* env_;
  std::shared_ptr<Node> node_;
  std::string path_;
};

MemEnv::MemEnv() : root_(std::make_shared<Node>()) { root_->type = FileType::Dir; }
MemEnv::~MemEnv() = default;

Status MemEnv::needSpace(const char* what, const std::string& path) {
  if (diskFull_) return Status::io(fmt::format("{} {}: No space left on device", what, path));
  return mutate(what, path);
}

Status MemEnv::access(const std::string& path) const {
  for (const auto& d : denied_)
    if (d.empty() || path == d || path.rfind(d + "/", 0) == 0)
      return Status::io(fmt::format("open {}: Permission denied", path.empty() ? "." : path));
  return Status::ok();
}

Status MemEnv::mutate(const char* what, const std::string& path) {
  if (crashAt_ && mutations_ >= *crashAt_) return Status::io(fmt::format("{} {}: injected crash", what, path));
  ++mutations_;
  return Status::ok();
}

std::shared_ptr<MemEnv::Node> MemEnv::find(const std::string& path) {
  auto n = root_;
  size_t pos = 0;
  while (n && pos < path.size()) {
    if (n->type != FileType::Dir) return nullptr;
    auto slash = path.find('/', pos);
    std::string part = path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    auto it = n->entries.find(part);
    if (it == n->entries.end()) return nullptr;
    n = it->second;
    if (n->type == FileType::Symlink && slash != std::string::npos) return nullptr;  // never followed
    pos = slash == std::string::npos ? path.size() : slash + 1;
  }
  return n;
}

Result<std::string> MemEnv::readFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  OPTDB_TRY(access(path));
  auto n = find(path);
  if (!n) return Status::notFound(path + ": no such file");
  if (n->type == FileType::Symlink) return Status::integrity(path + ": refusing to follow a symbolic link");
  if (n->type == FileType::Dir) return Status::integrity(path + ": is a directory where a regular file belongs");
  if (n->type != FileType::File) return Status::integrity(path + ": is a FIFO where a regular file belongs; optdb never reads it");
  return n->data;
}

Result<std::unique_ptr<WritableFile>> MemEnv::newWritableFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto [dir, name] = splitPath(path);
  auto d = find(dir);
  OPTDB_TRY(access(path));
  if (!d || d->type != FileType::Dir) return Status::notFound(path + ": no such directory");
  OPTDB_TRY(needSpace("create", path));
  auto& slot = d->entries[name];
  if (!slot || slot->type != FileType::File) slot = std::make_shared<Node>();
  slot->data.clear();
  slot->modified = std::chrono::system_clock::now();
  return std::unique_ptr<WritableFile>(new File(this, slot, path));
}

Result<std::unique_ptr<WritableFile>> MemEnv::newAppendableFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  OPTDB_TRY(access(path));
  auto n = find(path);
  if (!n) return Status::notFound(path + ": no such file");
  if (n->type != FileType::File) return Status::integrity(path + ": is not a regular file; optdb never writes into it");
  OPTDB_TRY(mutate("open for append", path));
  return std::unique_ptr<WritableFile>(new File(this, n, path));
}

Status MemEnv::rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  auto [fd, fname] = splitPath(from);
  auto [td, tname] = splitPath(to);
  auto a = find(fd), b = find(td);
  OPTDB_TRY(access(from));
  OPTDB_TRY(access(to));
  if (!a || !b || !a->entries.count(fname)) return Status::notFound(from + ": no such file");
  // As rename(2): both parents are directories; a directory is replaced only by a directory, and only when empty.
  if (a->type != FileType::Dir || b->type != FileType::Dir) return Status::io("rename " + to + ": not a directory");
  if (auto there = b->entries.find(tname); there != b->entries.end() && there->second->type == FileType::Dir &&
                                           (a->entries[fname]->type != FileType::Dir || !there->second->entries.empty()))
    return Status::io("rename " + to + ": is a directory that cannot be replaced");
  OPTDB_TRY(mutate("rename", from));
  auto node = a->entries[fname];
  a->entries.erase(fname);
  b->entries[tname] = node;
  return Status::ok();
}

Status MemEnv::removeFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto [dir, name] = splitPath(path);
  auto d = find(dir);
  OPTDB_TRY(access(path));
  if (!d || !d->entries.count(name)) return Status::notFound(path + ": no such file");
  if (d->entries[name]->type == FileType::Dir) return Status::io("remove " + path + ": is a directory");  // as unlink(2)
  OPTDB_TRY(mutate("remove", path));
  d->entries.erase(name);
  return Status::ok();
}

Status MemEnv::removeDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto [dir, name] = splitPath(path);
  auto d = find(dir);
  OPTDB_TRY(access(path));
  if (!d || !d->entries.count(name)) return Status::notFound(path + ": no such directory");
  auto it = d->entries.find(name);
  if (it->second->type != FileType::Dir) return Status::io(path + ": not a directory");
  if (!it->second->entries.empty()) return Status::io(path + ": directory not empty");
  OPTDB_TRY(mutate("rmdir", path));
  d->entries.erase(it);
  return Status::ok();
}

Status MemEnv::createDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (path.empty()) return Status::ok();
  auto [dir, name] = splitPath(path);
  auto d = find(dir);
  if (!d || d->type != FileType::Dir) return Status::notFound(path + ": no such directory");
  auto it = d->entries.find(name);
  if (it != d->entries.end())
    return it->second->type == FileType::Dir ? Status::ok() : Status::integrity(path + ": exists and is not a directory");
  OPTDB_TRY(access(path));
  OPTDB_TRY(needSpace("mkdir", path));
  auto n = std::make_shared<Node>();
  n->type = FileType::Dir;
  d->entries[name] = n;
  return Status::ok();
}

Status MemEnv::syncDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto d = find(path);
  if (!d || d->type != FileType::Dir) return Status::notFound(path + ": no such directory");
  OPTDB_TRY(mutate("fsync dir", path));
  d->durableEntries = d->entries;
  return Status::ok();
}

Result<std::vector<DirEntry>> MemEnv::listDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  OPTDB_TRY(access(path));
  auto d = find(path);
  if (!d) return Status::notFound(path + ": no such directory");
  if (d->type != FileType::Dir) return Status::integrity(path + ": expected a directory");
  std::vector<DirEntry> out;
  for (const auto& [name, n] : d->entries) out.push_back({name, n->type});
  return out;
}

Result<FileType> MemEnv::fileType(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  // Telling what `path` is needs its parent to be searchable, not itself.
  auto slash = path.rfind('/');
  if (!path.empty()) OPTDB_TRY(access(slash == std::string::npos ? std::string() : path.substr(0, slash)));
  if (path.empty()) OPTDB_TRY(access(path));
  auto n = find(path);
  return n ? n->type : FileType::None;
}

Result<std::uint64_t> MemEnv::fileSize(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto n = find(path);
  if (!n) return Status::notFound(path + ": no such file");
  return static_cast<std::uint64_t>(n->data.size());
}

Result<std::optional<std::chrono::system_clock::time_point>> MemEnv::modifiedTime(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto n = find(path);
  if (!n) return Status::notFound(path + ": no such file");
  return std::optional<std::chrono::system_clock::time_point>(n->modified);
}

Result<std::unique_ptr<FileLock>> MemEnv::lockFile(const std::string& path, LockMode, double) {
  // Tests drive a MemEnv from one thread; in-process exclusion is not
  // modelled. A lock file needs its directory, as on a disk.
  std::lock_guard<std::mutex> l(mu_);
  auto d = find(splitPath(path).first);
  if (!d || d->type != FileType::Dir) return Status::notFound(path + ": no such directory");
  return std::make_unique<FileLock>();
}

std::uint64_t MemEnv::mutations() const {
  std::lock_guard<std::mutex> l(mu_);
  return mutations_;
}

void MemEnv::crashAfter(std::optional<std::uint64_t> n) {
  std::lock_guard<std::mutex> l(mu_);
  crashAt_ = n ? std::optional<std::uint64_t>(mutations_ + *n) : std::nullopt;
}

Status MemEnv::syncAll() {
  std::lock_guard<std::mutex> l(mu_);
  OPTDB_TRY(mutate("syncfs", ""));
  settle(root_, /*keepVisible=*/true);
  return Status::ok();
}

void MemEnv::powerCut() {
  std::lock_guard<std::mutex> l(mu_);
  settle(root_, /*keepVisible=*/false);
  crashAt_.reset();
  ++boots_;
}

std::string MemEnv::bootId() {
  std::lock_guard<std::mutex> l(mu_);
  return "mem-boot-" + std::to_string(boots_);
}

void MemEnv::addSpecialFile(const std::string& path) { addDurableNode(path, FileType::Other); }

void MemEnv::denyAccess(const std::string& path, bool denied) {
  std::lock_guard<std::mutex> l(mu_);
  std::erase(denied_, path);
  if (denied) denied_.push_back(path);
}

void MemEnv::setDiskFull(bool full) {
  std::lock_guard<std::mutex> l(mu_);
  diskFull_ = full;
}

void MemEnv::addSymlink(const std::string& path) { addDurableNode(path, FileType::Symlink); }

void MemEnv::addDurableNode(const std::string& path, FileType type) {
  std::lock_guard<std::mutex> l(mu_);
  auto [dir, name] = splitPath(path);
  if (auto d = find(dir); d && d->type == FileType::Dir) {
    auto n = std::make_shared<Node>();
    n->type = type;
    d->entries[name] = n;
    d->durableEntries[name] = n;
  }
}

}  // namespace optdb
