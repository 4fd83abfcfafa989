// FileRawStorage's side of integrity (SPEC §6): the tree listed through the
// Env, one block directory at a time, its names classified by layout.hpp.
// What only a directory tree can get wrong is reported here (a symbolic
// link, a FIFO or device, a directory where a file belongs, a hard link, a
// stray temporary file, a file under two spellings of one name); what the
// items mean together is judged above RawStorage.
#include <algorithm>

#include <fmt/format.h>

#include "layout.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/codec.hpp"

namespace optdb {

using namespace layout;

namespace {

bool endsWithJson(const std::string& n) { return n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0; }

Result<std::optional<std::vector<DirEntry>>> listSorted(Env& env, const std::string& dir) {
  auto entries = env.listDir(dir);
  if (!entries) {
    if (entries.status().code() == Code::NotFound) return std::optional<std::vector<DirEntry>>();
    return entries.status();
  }
  auto v = std::move(entries).value();
  std::sort(v.begin(), v.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return std::optional<std::vector<DirEntry>>(std::move(v));
}

std::uint64_t sizeOf(Env& env, const std::string& path) {
  auto s = env.fileSize(path);
  return s ? *s : 0;
}

std::uint64_t allocatedOf(Env& env, const std::string& path) {
  auto s = env.allocatedSize(path);
  return s ? *s : 0;
}

std::optional<std::chrono::system_clock::time_point> modifiedOf(Env& env, const std::string& path) {
  auto t = env.modifiedTime(path);
  return t ? *t : std::nullopt;
}

Problem symlinkProblem(const std::string& path) {
  return makeProblem(path, problem::kSymlink, "a symbolic link inside the store; optdb never follows it");
}

Problem tempProblem(const std::string& path) {
  return makeProblem(path, problem::kTempFile, "a stray temporary file left by an interrupted write");
}

// Reports every symbolic link under `dir` (which is not one), never following any.
Status walkForSymlinks(Env& env, const std::string& dir, std::vector<Problem>& out, int depth = 0) {
  if (depth > 64) return Status::ok();
  OPTDB_ASSIGN(auto entries, listSorted(env, dir));
  if (!entries) return Status::ok();
  for (const auto& e : *entries) {
    std::string path = join(dir, e.name);
    if (e.type == FileType::Symlink) out.push_back(symlinkProblem(path));
    else if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env, path, out, depth + 1));
  }
  return Status::ok();
}

// The dialect whose committed-transform directory is named `n`, if any.
std::optional<Dialect> committedDialect(const std::string& n) {
  for (Dialect d : kDialects)
    if (n == namesOf(d).committedSubdir) return d;
  return std::nullopt;
}

bool isDataDir(const std::string& n) {
  return n == kRevsSubdir || n == kPendSubdir || committedDialect(n) || n == kBlocksSubdir;
}

// One block directory, listed.
class BlockLister {
 public:
  BlockLister(Env& env, BlockListing& out) : env_(env), out_(out) {}

  Status list() {
    const BlockId& id = out_.id;
    OPTDB_ASSIGN(auto entries, listSorted(env_, id));
    if (!entries) return Status::ok();
    out_.allocatedBytes += allocatedOf(env_, id);  // du counts directories too
    for (const auto& e : *entries) {
      std::string path = join(id, e.name);
      if (e.type == FileType::Symlink) {
        out_.problems.push_back(symlinkProblem(path));
      } else if (e.type == FileType::File && isTempName(e.name)) {
        addTemp(path);
      } else if (e.name[0] == '.') {
        if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, out_.problems));
      } else if (e.name == kMetaFile) {
        if (e.type == FileType::File) {
          count(path);
          OPTDB_TRY(checkLinks(path));
          out_.hasMeta = true;
        } else {
          out_.problems.push_back(makeProblem(path, problem::kBadType, "meta.json is not a regular file"));
          if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, out_.problems));
        }
      } else if (isDataDir(e.name)) {
        if (e.type == FileType::Dir) {
          if (auto d = committedDialect(e.name)) out_.committedDialects.insert(*d);
          OPTDB_TRY(listDataDir(e.name));
        } else {
          out_.problems.push_back(makeProblem(path, problem::kBadType, fmt::format("{} is not a directory", e.name)));
          if (e.type == FileType::File) count(path);
        }
      } else if (e.type == FileType::File) {
        count(path);
      } else if (e.type == FileType::Dir) {
        OPTDB_TRY(walkForSymlinks(env_, path, out_.problems));
      }
    }
    return Status::ok();
  }

 private:
  // A regular file of the block: its apparent and its allocated bytes.
  std::uint64_t count(const std::string& path) {
    const std::uint64_t size = sizeOf(env_, path);
    out_.bytes += size;
    out_.allocatedBytes += allocatedOf(env_, path);
    return size;
  }

  void addTemp(const std::string& path) {
    out_.temps.push_back(path);
    count(path);
    out_.problems.push_back(tempProblem(path));
  }

  // A stored file with another name elsewhere: appending to it (or any
  // writer that does not rename) would change that other file too.
  Status checkLinks(const std::string& path) {
    auto links = env_.linkCount(path);
    if (!links) return links.status().code() == Code::NotFound ? Status::ok() : links.status();
    if (*links > 1)
      out_.problems.push_back(makeProblem(path, problem::kHardLink,
                                          fmt::format("has {} hard links; a stored file must have one name", *links)));
    return Status::ok();
  }

  Status listDataDir(const std::string& sub) {
    const std::string dir = join(out_.id, sub);
    OPTDB_ASSIGN(auto entries, listSorted(env_, dir));
    if (!entries) return Status::ok();
    out_.allocatedBytes += allocatedOf(env_, dir);
    std::map<TrxId, std::string> names;  // the file name each transaction was first seen under
    for (const auto& e : *entries) {
      std::string path = join(dir, e.name);
      if (e.type == FileType::Symlink) {
        out_.problems.push_back(symlinkProblem(path));
        continue;
      }
      if (e.type == FileType::File && isTempName(e.name)) {
        addTemp(path);
        continue;
      }
      if (e.name[0] == '.') {
        if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, out_.problems));
        continue;
      }
      if (e.type != FileType::File) {
        // A FIFO or device under any name: a reader of it would hang or flood (revs/optdb-index, say).
        if (endsWithJson(e.name) || e.type == FileType::Other)
          out_.problems.push_back(makeProblem(path, problem::kBadType,
                                              e.type == FileType::Dir ? "a directory, where a data file belongs"
                                                                      : "not a regular file (a FIFO, device or socket)"));
        if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, out_.problems));
        continue;
      }
      const std::uint64_t size = count(path);
      OPTDB_TRY(checkLinks(path));
      if (!endsWithJson(e.name)) continue;  // never data (optdb's own index, for one)
      StoredItem item{path, size};
      if (sub == kRevsSubdir) {
        if (auto rev = decodeRevFileName(e.name)) out_.revisions[*rev] = item;
        else out_.problems.push_back(
            makeProblem(path, problem::kBadName, "not a revision file name (expected <revision>.json)"));
        continue;
      }
      auto trx = decodeTrxFileName(e.name);
      if (!trx) {
        out_.problems.push_back(
            makeProblem(path, problem::kBadName, "not a transaction file name (expected <transaction id>.json)"));
        continue;
      }
      // "<id>.json" under both spellings of a ':' (readers accept either): one of them is never read.
      auto& seen = names[*trx];
      if (!seen.empty())
        out_.problems.push_back(makeProblem(
            path, problem::kDuplicateName,
            fmt::format("{} and {} are one transaction's file under two names", seen, e.name)));
      else seen = e.name;
      if (sub == kPendSubdir) {
        item.modified = modifiedOf(env_, path);
        out_.pending.emplace(*trx, item);
      }
      else if (auto d = committedDialect(sub); d == Dialect::Trx) out_.committed[*trx] = item;  // trx/ wins, as for readers
      else if (d) out_.committed.emplace(*trx, item);
      else out_.materialized.emplace(*trx, item);
    }
    return Status::ok();
  }

  Env& env_;
  BlockListing& out_;
};

}  // namespace

Result<bool> FileRawStorage::exists() {
  OPTDB_ASSIGN(const FileType root, env_->fileType(""));
  return root == FileType::Dir;
}

Result<BlockListing> FileRawStorage::listBlock(const BlockId& id) {
  BlockListing out;
  out.id = id;
  out.metaWhere = metaPath(id);
  OPTDB_TRY(BlockLister(*env_, out).list());
  return out;
}

Status FileRawStorage::visitBlocks(const std::vector<BlockId>& named, std::vector<BlockId>* notFound,
                                   const ProblemSink& onProblem, const std::function<Status(const BlockId&)>& onBlock) {
  if (!named.empty()) {
    std::set<BlockId> seen;
    for (const auto& id : named) {
      if (!seen.insert(id).second) continue;
      OPTDB_ASSIGN(const FileType t, env_->fileType(id));
      auto metaType = t == FileType::Dir ? env_->fileType(metaPath(id)) : Result<FileType>(FileType::None);
      const FileType meta = metaType ? *metaType : FileType::Other;  // unsearchable: visited, reported
      if (t == FileType::Symlink) {
        onProblem(makeProblem(id, problem::kSymlink,
                              "a symbolic link where a block directory belongs; optdb never follows it"));
        notFound->push_back(id);
      } else if (t == FileType::Dir && meta != FileType::None) {
        OPTDB_TRY(onBlock(id));
      } else {
        notFound->push_back(id);
      }
    }
    return Status::ok();
  }
  OPTDB_ASSIGN(auto entries, listSorted(*env_, ""));
  if (!entries) return Status::ok();
  for (const auto& e : *entries) {
    std::vector<Problem> found;
    FileType meta = FileType::None;
    if (e.type == FileType::Dir && e.name[0] != '.') {
      // A directory that cannot be searched may well be a block: visited, it
      // is reported as one that could not be examined, never skipped.
      auto t = env_->fileType(metaPath(e.name));
      meta = t ? *t : FileType::Other;
    }
    if (e.type == FileType::Symlink) {
      found.push_back(symlinkProblem(e.name));
    } else if (e.type != FileType::Dir) {
      // a plain file at the top level is no block, and not optdb's
    } else if (e.name == kOwnDir) {
      OPTDB_ASSIGN(auto own, listSorted(*env_, e.name));
      for (const auto& o : own.value_or(std::vector<DirEntry>())) {
        std::string path = join(e.name, o.name);
        if (o.type == FileType::Symlink) found.push_back(symlinkProblem(path));
        else if (o.type == FileType::Dir && path != kIntentsPath)  // intents are listed on their own
          OPTDB_TRY(walkForSymlinks(*env_, path, found));
      }
    } else if (e.name[0] == '.') {
      OPTDB_TRY(walkForSymlinks(*env_, e.name, found));
    } else if (meta == FileType::None) {
      OPTDB_TRY(walkForSymlinks(*env_, e.name, found));  // not a block
    } else if (!validateBlockId(e.name, "")) {
      found.push_back(
          makeProblem(e.name, problem::kBadName, "a directory holding meta.json whose name is not a valid block id"));
      OPTDB_TRY(walkForSymlinks(*env_, e.name, found));
    } else {
      OPTDB_TRY(onBlock(e.name));
    }
    for (const auto& p : found) onProblem(p);
  }
  return Status::ok();
}

Result<IntentListing> FileRawStorage::listIntentItems() {
  IntentListing out;
  OPTDB_ASSIGN(auto entries, listSorted(*env_, kIntentsPath));
  if (!entries) return out;
  for (const auto& e : *entries) {
    std::string path = join(kIntentsPath, e.name);
    if (e.type == FileType::Symlink) {
      out.problems.push_back(symlinkProblem(path));
      continue;
    }
    if (e.name[0] == '.') {
      if (e.type == FileType::File && isTempName(e.name)) {
        out.temps.push_back(path);
        out.problems.push_back(tempProblem(path));
      }
      continue;
    }
    if (e.type != FileType::File) {
      if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(*env_, path, out.problems));
      continue;
    }
    if (!decodeTrxFileName(e.name)) {
      if (endsWithJson(e.name))
        out.problems.push_back(makeProblem(path, problem::kBadName, "not a commit intent file name (<transaction id>.json)"));
      continue;
    }
    OPTDB_ASSIGN(auto text, readIfExists(path));
    if (!text) continue;  // finished meanwhile
    auto intent = decodeIntent(*text, path);
    if (!intent) {
      std::string why = intent.status().message();
      if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
      if (why.rfind("invalid JSON: ", 0) == 0) why = fmt::format("{} is not valid JSON ({})", e.name, why.substr(14));
      out.problems.push_back(makeProblem(path, problem::kBadJson, why));
      continue;
    }
    out.intents.push_back({path, std::move(intent).value()});
  }
  return out;
}

Result<std::optional<std::string>> FileRawStorage::readItem(const std::string& where) { return readIfExists(where); }

std::string FileRawStorage::whereRevision(const BlockId& id, Rev rev) { return revPath(id, rev); }

std::string FileRawStorage::whereIntents() { return kIntentsPath; }

std::string FileRawStorage::whereItem(const BlockId& id, ItemKind kind, const TrxId& trxId, Dialect dialect) {
  const std::string dir = kind == ItemKind::Pending     ? subdirPath(id, kPendSubdir)
                          : kind == ItemKind::Committed ? committedDir(id, dialect)
                                                        : subdirPath(id, kBlocksSubdir);
  return join(dir, encodeTrxFileName(trxId));
}

Status FileRawStorage::removeStray(const std::string& where) {
  const auto slash = where.rfind('/');
  if (!isTempName(slash == std::string::npos ? where : where.substr(slash + 1)))
    return Status::invalid(fmt::format("{}: not a temporary file; refusing to remove it", where));
  Status s = env_->removeFile(where);
  return s.code() == Code::NotFound ? Status::ok() : s;
}

Result<std::unique_ptr<FileLock>> FileRawStorage::lockStoreIfKept(LockMode mode, double timeoutSeconds) {
  OPTDB_ASSIGN(const FileType own, env_->fileType(kOwnDir));
  if (own != FileType::Dir) return std::unique_ptr<FileLock>();
  return lockStore(mode, timeoutSeconds);
}

Status FileRawStorage::syncStore() { return sync_ ? env_->syncAll() : Status::ok(); }

}  // namespace optdb
