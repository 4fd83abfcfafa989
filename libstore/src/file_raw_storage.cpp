// RawStorage on a directory tree (SPEC §2): atomic writes, the revision
// index, each block's dialect and the store's, settings.json, migrate's conversion.
#include "optdb/file_raw_storage.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "optdb/codec.hpp"
#include "journal_env.hpp"
#include "layout.hpp"

namespace optdb {

namespace {

using namespace layout;
std::string revsDir(const BlockId& id) { return subdirPath(id, kRevsSubdir); }
std::string pendDir(const BlockId& id) { return subdirPath(id, kPendSubdir); }
std::string blocksDir(const BlockId& id) { return subdirPath(id, kBlocksSubdir); }

// The revision index: a header (the hash of meta.json's ranges it was built
// for) and one zero-padded decimal record per revision, each 17 bytes.
constexpr std::size_t kRecordSize = 17;


std::string rangesStamp(const Ranges& ranges) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : toJson(encodeRanges(ranges))) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}\n", h);
}

std::string indexRecord(Rev rev) { return fmt::format("{:016d}\n", rev); }

// Reads the index a page of records at a time: a binary search and the
// replay after it touch a few pages, not one pread per record. At most
// kMaxPages are kept, so memory stays bounded whatever the history's length.
class IndexRevisionList : public RevisionList {
 public:
  IndexRevisionList(std::unique_ptr<RandomAccessFile> file, std::string path)
      : file_(std::move(file)), path_(std::move(path)), size_(file_->size() / kRecordSize - 1) {}
  std::size_t size() const override { return size_; }
  Result<Rev> at(std::size_t i) override {
    if (i >= size_) return Status::integrity(fmt::format("{}: no record {}", path_, i));
    OPTDB_ASSIGN(const std::string* page, pageOf(i / kPageRecords));
    const std::size_t off = (i % kPageRecords) * kRecordSize;
    if (page->size() < off + kRecordSize || (*page)[off + kRecordSize - 1] != '\n')
      return Status::integrity(fmt::format("{}: truncated record {}", path_, i));
    auto rev = parseRev(std::string_view(*page).substr(off, kRecordSize - 1), path_);
    if (!rev) return Status::integrity(fmt::format("{}: bad record {}", path_, i));
    return *rev;
  }

 private:
  static constexpr std::size_t kPageRecords = 240;  // 4,080 bytes
  static constexpr std::size_t kMaxPages = 16;

  Result<const std::string*> pageOf(std::size_t p) {
    for (const auto& [no, data] : pages_)
      if (no == p) return &data;
    if (pages_.size() >= kMaxPages) pages_.clear();
    const std::size_t first = p * kPageRecords;
    const std::size_t count = std::min(kPageRecords, size_ - first);
    OPTDB_ASSIGN(auto data, file_->read((first + 1) * kRecordSize, count * kRecordSize));
    pages_.emplace_back(p, std::move(data));
    return &pages_.back().second;
  }

  std::unique_ptr<RandomAccessFile> file_;
  std::string path_;
  std::size_t size_;
  std::vector<std::pair<std::size_t, std::string>> pages_;
};

Status asIntegrity(const Status& s, const std::string& path) {
  return Status::integrity(fmt::format("{}: {}", path, s.message()));
}

}  // namespace

Result<std::size_t> RevisionList::upperBound(Rev rev) {
  std::size_t lo = 0, hi = size();
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    OPTDB_ASSIGN(Rev v, at(mid));
    if (v <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

Result<std::size_t> RevisionList::lowerBound(Rev rev) {
  std::size_t lo = 0, hi = size();
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    OPTDB_ASSIGN(Rev v, at(mid));
    if (v < rev) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

FileRawStorage::FileRawStorage(std::shared_ptr<Env> env, bool sync, std::optional<Dialect> layout, bool journal)
    : sync_(sync), layout_(layout) {
  Durability mode = Durability::None;
  if (sync) mode = journal && !env->bootId().empty() ? Durability::Journal : Durability::Fsync;
  journal_ = JournalEnv::create(std::move(env), {kOwnDir, kJournalPath, kJournalLockPath, kJournalSyncPath},
                                mode);
  journal_->onDiscard([this] { forgetCaches(); });
  env_ = journal_;
}

FileRawStorage::~FileRawStorage() { journal_->onDiscard({}); }

Status FileRawStorage::persist() { return journal_->commit(); }

bool FileRawStorage::beginWindow() { return journal_->beginWindow(); }

Status FileRawStorage::flushWindow() { return journal_->flushWindow(); }

Status FileRawStorage::endWindow() { return journal_->endWindow(); }

Status FileRawStorage::finishInterruptedUnits() { return journal_->finishDead(); }

void FileRawStorage::forgetCaches() {
  storeDialect_.reset();
  settingsRecorded_ = false;
  dialects_.clear();
}

// ---- dialects ----

Result<std::optional<Dialect>> FileRawStorage::readSettings() {
  OPTDB_ASSIGN(auto j, readJson(kSettingsPath));
  if (!j) return std::optional<Dialect>();
  auto l = j->is_object() ? j->find("layout") : j->end();
  if (l == j->end()) return std::optional<Dialect>();
  auto d = l->is_string() ? parseDialect(l->get_ref<const std::string&>()) : std::nullopt;
  if (!d) return Status::integrity(fmt::format("{}: layout must be \"trx\" or \"actions\"", kSettingsPath));
  return d;
}

Result<std::optional<Dialect>> FileRawStorage::ownDialect(const BlockId& id) {
  OPTDB_ASSIGN(auto j, readJson(metaPath(id)));
  if (j && j->is_object()) {
    if (auto l = j->find("latest"); l != j->end() && l->is_object()) {
      for (Dialect d : kDialects)
        if (l->contains(namesOf(d).idMember)) return std::optional<Dialect>(d);
    }
  }
  return directoryDialect(id);
}

Result<std::optional<Dialect>> FileRawStorage::directoryDialect(const BlockId& id) {
  // Actions first: an upstream block converted by hand may keep an old trx/.
  for (Dialect d : {Dialect::Actions, Dialect::Trx}) {
    OPTDB_ASSIGN(const FileType t, env_->fileType(committedDir(id, d)));
    if (t == FileType::Dir) return std::optional<Dialect>(d);
  }
  return std::optional<Dialect>();
}

Result<Dialect> FileRawStorage::storeDialect() {
  if (layout_) return *layout_;
  if (storeDialect_) return *storeDialect_;
  OPTDB_ASSIGN(auto recorded, readSettings());
  if (!recorded) {
    // The existing blocks', when they agree (a store written before settings.json).
    OPTDB_ASSIGN(auto ids, listBlocks());
    std::set<Dialect> seen;
    for (const auto& id : ids) {
      auto d = ownDialect(id);
      if (d && *d) seen.insert(**d);  // an unreadable block has no say
    }
    recorded = seen.size() == 1 ? *seen.begin() : Dialect::Actions;
  }
  storeDialect_ = *recorded;
  return *recorded;
}

Status FileRawStorage::writeSettings(Dialect d) {
  Json j = Json::object();
  j["layout"] = namesOf(d).name;
  return writeAtomic(kOwnDir, kSettingsFile, toJson(j));
}

Status FileRawStorage::recordSettings() {
  if (settingsRecorded_) return Status::ok();
  OPTDB_ASSIGN(const FileType t, env_->fileType(kSettingsPath));
  if (t == FileType::None) {
    OPTDB_ASSIGN(const Dialect d, storeDialect());
    OPTDB_TRY(writeSettings(d));
  }
  settingsRecorded_ = true;
  return Status::ok();
}

Status FileRawStorage::setStoreDialect(Dialect d) {
  OPTDB_TRY(writeSettings(d));
  storeDialect_ = d;
  settingsRecorded_ = true;
  return Status::ok();
}

Result<Dialect> FileRawStorage::dialectGiven(const BlockId& id, std::optional<Dialect> fromMeta) {
  if (fromMeta) return *fromMeta;
  OPTDB_ASSIGN(auto own, directoryDialect(id));
  if (own) return *own;
  return storeDialect();
}

Result<Dialect> FileRawStorage::dialect(const BlockId& id) {
  if (auto it = dialects_.find(id); it != dialects_.end()) return it->second;
  OPTDB_ASSIGN(auto meta, getMeta(id));
  if (meta) return meta->dialect;
  return storeDialect();
}

Status FileRawStorage::checkConvertible(const BlockId& id, Dialect to) {
  OPTDB_ASSIGN(auto meta, getMeta(id));
  if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id));
  const std::string from = committedDir(id, otherDialect(to)), into = committedDir(id, to);
  auto listed = env_->listDir(from);
  if (!listed) return listed.status().code() == Code::NotFound ? Status::ok() : listed.status();
  // Nothing but transforms (and stray temporary files) in the old directory,
  // or it could not be removed; nor one transaction's transform held
  // differently under both names.
  for (const auto& e : *listed) {
    if (e.type == FileType::File && isTempName(e.name)) continue;
    auto trx = e.type == FileType::File ? decodeTrxFileName(e.name) : std::nullopt;
    if (!trx)
      return Status::integrity(fmt::format("{}: holds {}, which is no transform; move it away and run this again",
                                           from, e.name));
    OPTDB_ASSIGN(auto text, readIfExists(join(from, e.name)));
    OPTDB_ASSIGN(auto there, readIfExists(join(into, encodeTrxFileName(*trx))));
    if (text && there && *there != *text)
      return Status::integrity(fmt::format("{}: {} and {} hold different transforms", id, join(from, e.name),
                                           join(into, encodeTrxFileName(*trx))));
  }
  return Status::ok();
}

Result<bool> FileRawStorage::convertBlock(const BlockId& id, Dialect to) {
  // 0. Refused before anything is written.
  OPTDB_TRY(checkConvertible(id, to));
  OPTDB_ASSIGN(auto meta, getMeta(id));
  if (!meta) return Status::notFound(fmt::format("block {} is not in the store", id));
  const std::string from = committedDir(id, otherDialect(to)), into = committedDir(id, to);
  auto listed = env_->listDir(from);
  if (!listed && listed.status().code() != Code::NotFound) return listed.status();
  const bool fromExists = listed.isOk();
  std::vector<DirEntry> entries = fromExists ? std::move(listed).value() : std::vector<DirEntry>();
  // 1. Every transform under the target's name, the bytes unchanged: until
  // meta.json changes, readers find each one under either name.
  std::vector<std::string> moved;
  for (const auto& e : entries) {
    if (e.type != FileType::File || isTempName(e.name) || !decodeTrxFileName(e.name)) continue;
    OPTDB_ASSIGN(auto text, readIfExists(join(from, e.name)));
    if (!text) continue;
    const std::string name = encodeTrxFileName(*decodeTrxFileName(e.name));
    OPTDB_ASSIGN(const FileType there, env_->fileType(join(into, name)));
    if (there == FileType::None) OPTDB_TRY(writeAtomic(into, name, *text, to));
    moved.push_back(e.name);
  }
  // 2. meta.json in the target's names: the block is now in `to`, and what is
  // left of the other dialect is the minority repair would convert.
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  const BlockMeta converted = metaInDialect(*meta, to, revs.empty() ? std::nullopt : std::optional<Rev>(revs.front()));
  const bool metaChanged = (meta->latest && meta->dialect != to) || converted.ranges != meta->ranges;
  if (metaChanged) OPTDB_TRY(saveMeta(id, converted));
  dialects_[id] = to;
  // 3. The other dialect's files, then its directory, removed durably.
  for (const auto& e : entries) {
    if (e.type != FileType::File) continue;
    if (!isTempName(e.name) && std::find(moved.begin(), moved.end(), e.name) == moved.end()) continue;
    Status s = env_->removeFile(join(from, e.name));
    if (!s && s.code() != Code::NotFound) return s;
  }
  if (fromExists) {
    OPTDB_TRY(syncDirIfNeeded(from));
    OPTDB_ASSIGN(auto left, env_->listDir(from));
    if (!left.empty())
      return Status::integrity(fmt::format("{}: holds {}, which is no transform; move it away and run this again", from,
                                           left.front().name));
    Status s = env_->removeDir(from);
    if (!s && s.code() != Code::NotFound) return s;
    knownDirs_.erase(from);
    OPTDB_TRY(syncDirIfNeeded(id));
  }
  // 4. The revision index, moved to the dialect's place (also when a run
  // killed before this step left the rest done).
  OPTDB_TRY(rebuildRevisionIndex(id, converted));
  return fromExists || metaChanged;
}

Status FileRawStorage::syncDirIfNeeded(const std::string& dir) { return sync_ ? env_->syncDir(dir) : Status::ok(); }

Status FileRawStorage::ensureDir(const std::string& dir) {
  if (knownDirs_.count(dir)) return Status::ok();
  auto slash = dir.rfind('/');
  std::string parent = slash == std::string::npos ? "" : dir.substr(0, slash);
  OPTDB_ASSIGN(const FileType type, env_->fileType(dir));
  if (type == FileType::Dir) {
    // Found, not made here: a process may have died between its mkdir and
    // the fsync of its parent, leaving an entry a power cut would drop with
    // everything written beneath it since. Make the entry (and its parent's)
    // durable once before relying on it.
    if (!parent.empty()) OPTDB_TRY(ensureDir(parent));
    if (sync_ && !syncedDirs_.count(parent)) {
      OPTDB_TRY(env_->syncDir(parent));
      syncedDirs_.insert(parent);
    }
    knownDirs_.insert(dir);
    return Status::ok();
  }
  if (parent.empty()) {
    OPTDB_TRY(env_->createDir(""));
  } else {
    OPTDB_TRY(ensureDir(parent));
  }
  OPTDB_TRY(env_->createDir(dir));
  OPTDB_TRY(syncDirIfNeeded(parent));
  knownDirs_.insert(dir);
  return Status::ok();
}

Status FileRawStorage::writeAtomic(const std::string& dir, const std::string& name, const std::string& data,
                                   Dialect dialect) {
  OPTDB_TRY(ensureDir(dir));
  std::string tmp = join(dir, tempFileName(name, dialect));
  auto file = env_->newWritableFile(tmp);
  if (!file) return file.status();
  Status s = (*file)->append(data);
  if (s && sync_) s = (*file)->sync();
  Status c = (*file)->close();
  if (s) s = c;
  if (s) s = env_->rename(tmp, join(dir, name));
  if (!s) {
    (void)env_->removeFile(tmp);  // best effort; repair removes what is left
    return s;
  }
  return syncDirIfNeeded(dir);
}

Result<std::optional<std::string>> FileRawStorage::readIfExists(const std::string& path) {
  auto r = env_->readFile(path);
  if (!r) {
    if (r.status().code() == Code::NotFound) return std::optional<std::string>();
    return r.status();
  }
  return std::optional<std::string>(std::move(r).value());
}

Result<std::optional<Json>> FileRawStorage::readJson(const std::string& path) {
  OPTDB_ASSIGN(auto text, readIfExists(path));
  if (!text) return std::optional<Json>();
  auto j = parseJson(*text, path, kTransformEnvelope);  // the deepest file is a Transform; codecs check the data
  if (!j) return Status::integrity(j.status().message());
  return std::optional<Json>(std::move(j).value());
}

Result<std::optional<BlockMeta>> FileRawStorage::getMeta(const BlockId& id) {
  std::string path = metaPath(id);
  OPTDB_ASSIGN(auto j, readJson(path));
  if (!j) return std::optional<BlockMeta>();
  auto m = decodeMeta(*j, "meta");
  if (!m) return asIntegrity(m.status(), path);
  // No id in meta.json to tell: the block's directories, else the store's.
  if (!m->latest) {
    OPTDB_ASSIGN(m->dialect, dialectGiven(id, std::nullopt));
  }
  dialects_[id] = m->dialect;
  return std::optional<BlockMeta>(std::move(m).value());
}

Status FileRawStorage::saveMeta(const BlockId& id, const BlockMeta& meta) {
  OPTDB_TRY(recordSettings());
  OPTDB_TRY(writeAtomic(id, kMetaFile, toJson(encodeMeta(meta)), meta.dialect));
  dialects_[id] = meta.dialect;
  return Status::ok();
}

Result<std::optional<TrxId>> FileRawStorage::getRevision(const BlockId& id, Rev rev) {
  std::string path = revPath(id, rev);
  OPTDB_ASSIGN(auto text, readIfExists(path));
  if (!text) return std::optional<TrxId>();
  std::string trxId = *text;
  if (!trxId.empty() && trxId.front() == '"') {  // older trees wrote a JSON string
    auto j = parseJson(trxId, path);
    if (!j || !j->is_string()) return Status::integrity(fmt::format("{}: not a transaction id", path));
    trxId = j->get<std::string>();
  }
  if (Status s = validateTrxId(trxId, path); !s) return Status::integrity(s.message());
  return std::optional<TrxId>(trxId);
}

Status FileRawStorage::saveRevision(const BlockId& id, Rev rev, const TrxId& trxId) {
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  return writeAtomic(revsDir(id), encodeRevFileName(rev), trxId, d);
}

Result<std::vector<Rev>> FileRawStorage::listRevisions(const BlockId& id) {
  auto entries = env_->listDir(revsDir(id));
  if (!entries) {
    if (entries.status().code() == Code::NotFound) return std::vector<Rev>();
    return entries.status();
  }
  std::vector<Rev> revs;
  revs.reserve(entries->size());
  for (const auto& e : *entries) {
    const auto& n = e.name;
    if (e.type != FileType::File || n.size() <= 5 || n.compare(n.size() - 5, 5, ".json") != 0) continue;
    auto r = parseRev(std::string_view(n).substr(0, n.size() - 5), "");
    if (r && (n[0] != '0' || n.size() == 6)) revs.push_back(*r);
  }
  std::sort(revs.begin(), revs.end());
  return revs;
}

Result<std::unique_ptr<RevisionList>> FileRawStorage::openIndex(const BlockId& id, const BlockMeta& meta) {
  std::unique_ptr<RevisionList> none;
  const std::string path = indexPath(id, meta.dialect);
  auto file = env_->newRandomAccessFile(path);
  if (!file) return none;  // missing (or unreadable): the directory listing is the truth
  const auto size = (*file)->size();
  if (size < kRecordSize || size % kRecordSize != 0) return none;  // torn by a crash
  OPTDB_ASSIGN(auto header, (*file)->read(0, kRecordSize));
  if (header != rangesStamp(meta.ranges)) return none;  // built for other ranges
  auto list = std::make_unique<IndexRevisionList>(std::move(file).value(), path);
  if (meta.latest) {  // another writer may have added revisions the index lacks
    auto at = list->lowerBound(meta.latest->rev);
    if (!at || *at == list->size()) return none;
    auto rev = list->at(*at);
    if (!rev || *rev != meta.latest->rev) return none;
  }
  return std::unique_ptr<RevisionList>(std::move(list));
}

Result<std::unique_ptr<RevisionList>> FileRawStorage::revisions(const BlockId& id, const BlockMeta& meta) {
  OPTDB_ASSIGN(auto index, openIndex(id, meta));
  if (index) return index;
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  return std::unique_ptr<RevisionList>(new VectorRevisionList(std::move(revs)));
}

Status FileRawStorage::indexRevision(const BlockId& id, const BlockMeta& before, const BlockMeta& after, Rev rev) {
  OPTDB_ASSIGN(auto index, openIndex(id, before));
  if (index && before.dialect == after.dialect && rangesStamp(before.ranges) == rangesStamp(after.ranges)) {
    // Appended only after the old latest: a record above it is left by an
    // attempt that never reached its revision file and must not stay.
    bool above = index->size() == 0;
    if (!above) {
      OPTDB_ASSIGN(Rev last, index->at(index->size() - 1));
      above = last < rev && (before.latest ? last <= before.latest->rev : false);
    }
    auto file = above ? env_->newAppendableFile(indexPath(id, after.dialect)) : Status::notFound("");
    if (file) {
      Status s = (*file)->append(indexRecord(rev));
      if (s && sync_) s = (*file)->sync();
      Status c = (*file)->close();
      return s ? c : s;
    }
    // Hard-linked (or otherwise not ours to append to): replaced by a rebuild below.
    if (above && file.status().code() != Code::Integrity) return file.status();
  }
  // Stale, torn or missing: rebuild it from the directory, plus rev, whose file comes next.
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  if (std::find(revs.begin(), revs.end(), rev) == revs.end()) {
    revs.push_back(rev);
    std::sort(revs.begin(), revs.end());
  }
  return writeIndex(id, after, revs);
}

Status FileRawStorage::writeIndex(const BlockId& id, const BlockMeta& meta, const std::vector<Rev>& revs) {
  std::string data = rangesStamp(meta.ranges);
  data.reserve(kRecordSize * (revs.size() + 1));
  for (Rev r : revs) data += indexRecord(r);
  return writeAtomic(indexDir(id, meta.dialect), indexName(id, meta.dialect), data);
}

Status FileRawStorage::rebuildRevisionIndex(const BlockId& id, const BlockMeta& meta) {
  // An index the block's other dialect kept goes: in revs/, it would be a
  // file upstream v0.24 does not write.
  const Dialect other = otherDialect(meta.dialect);
  Status gone = env_->removeFile(indexPath(id, other));
  if (gone) OPTDB_TRY(syncDirIfNeeded(indexDir(id, other)));  // or a power cut brings it back
  else if (gone.code() != Code::NotFound) return gone;
  OPTDB_ASSIGN(auto revs, listRevisions(id));
  OPTDB_ASSIGN(const FileType indexType, env_->fileType(indexPath(id, meta.dialect)));
  if (revs.empty() && indexType == FileType::None) return Status::ok();
  return writeIndex(id, meta, revs);
}

Status FileRawStorage::addToRevisionIndex(const BlockId& id, const std::optional<BlockMeta>& before,
                                          const BlockMeta& after, const std::vector<Rev>& added) {
  std::unique_ptr<RevisionList> index;
  if (before && before->dialect == after.dialect) {
    OPTDB_ASSIGN(index, openIndex(id, *before));
  }
  if (!index) return rebuildRevisionIndex(id, after);
  // Current for `before`: merge its records (one sequential read) with what was added.
  OPTDB_ASSIGN(auto text, env_->readFile(indexPath(id, after.dialect)));
  std::vector<Rev> revs;
  revs.reserve(text.size() / kRecordSize + added.size());
  for (std::size_t off = kRecordSize; off + kRecordSize <= text.size(); off += kRecordSize) {
    auto r = parseRev(std::string_view(text).substr(off, kRecordSize - 1), "");
    if (!r) return rebuildRevisionIndex(id, after);
    revs.push_back(*r);
  }
  revs.insert(revs.end(), added.begin(), added.end());
  std::sort(revs.begin(), revs.end());
  revs.erase(std::unique(revs.begin(), revs.end()), revs.end());
  return writeIndex(id, after, revs);
}

Result<std::optional<Transform>> FileRawStorage::readTransform(const BlockId& id, const std::string& dir,
                                                               const TrxId& trxId) {
  // Read straight away (no stat first): the encoded name, then a raw ':' name.
  std::string path = join(dir, encodeTrxFileName(trxId));
  OPTDB_ASSIGN(auto j, readJson(path));
  if (auto raw = rawTrxFileName(trxId); !j && raw) {
    path = join(dir, *raw);
    OPTDB_ASSIGN(j, readJson(path));
  }
  if (!j) return std::optional<Transform>();
  auto t = decodeTransform(*j, id, "transform");
  if (!t) return asIntegrity(t.status(), path);
  return std::optional<Transform>(std::move(t).value());
}

Status FileRawStorage::removeRevisions(const BlockId& id, const BlockMeta& meta, const std::vector<TrxRev>& revisions) {
  for (const auto& r : revisions) {
    OPTDB_TRY(removeTrxFiles(blocksDir(id), r.trxId).status());
    for (Dialect d : kDialects) OPTDB_TRY(removeTrxFiles(committedDir(id, d), r.trxId).status());
    Status s = env_->removeFile(revPath(id, r.rev));
    if (!s && s.code() != Code::NotFound) return s;
  }
  if (!revisions.empty() && sync_) {
    // The records last: one gone for good means its transform is gone too.
    std::vector<std::string> dirs{blocksDir(id)};
    for (Dialect d : kDialects) dirs.push_back(committedDir(id, d));
    dirs.push_back(revsDir(id));
    for (const auto& dir : dirs) {
      OPTDB_ASSIGN(const FileType t, env_->fileType(dir));
      if (t == FileType::Dir) OPTDB_TRY(env_->syncDir(dir));
    }
  }
  return rebuildRevisionIndex(id, meta);
}

std::optional<std::string> FileRawStorage::spoolDirectory() {
  auto type = env_->fileType(kOwnDir);
  if (!type || *type != FileType::Dir) return std::nullopt;
  return env_->hostPath(kOwnDir);
}

Result<std::optional<Transform>> FileRawStorage::getPending(const BlockId& id, const TrxId& trxId) {
  return readTransform(id, pendDir(id), trxId);
}

Status FileRawStorage::savePending(const BlockId& id, const TrxId& trxId, const Transform& t) {
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  return writeAtomic(pendDir(id), encodeTrxFileName(trxId), toJson(encodeTransform(t)), d);
}

Status FileRawStorage::deletePending(const BlockId& id, const TrxId& trxId) {
  OPTDB_ASSIGN(const bool removed, removeTrxFiles(pendDir(id), trxId));
  return removed ? syncDirIfNeeded(pendDir(id)) : Status::ok();
}

Result<bool> FileRawStorage::removeTrxFiles(const std::string& dir, const TrxId& trxId) {
  bool removed = false;
  std::vector<std::string> names{encodeTrxFileName(trxId)};
  if (auto raw = rawTrxFileName(trxId)) names.push_back(*raw);  // what readers also accept
  for (const auto& name : names) {
    Status s = env_->removeFile(join(dir, name));
    if (s) removed = true;
    else if (s.code() != Code::NotFound) return s;
  }
  return removed;
}

Result<std::vector<TrxId>> FileRawStorage::listPendings(const BlockId& id) {
  auto entries = env_->listDir(pendDir(id));
  if (!entries) {
    if (entries.status().code() == Code::NotFound) return std::vector<TrxId>();
    return entries.status();
  }
  std::vector<TrxId> ids;
  for (const auto& e : *entries) {
    if (e.type != FileType::File || isTempName(e.name)) continue;
    if (auto t = decodeTrxFileName(e.name)) ids.push_back(*t);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Result<std::optional<std::string>> FileRawStorage::findTrxFile(const std::string& dir, const TrxId& trxId) {
  std::string path = join(dir, encodeTrxFileName(trxId));
  OPTDB_ASSIGN(const FileType t, env_->fileType(path));
  if (t == FileType::File) return std::optional<std::string>(path);
  if (t == FileType::Symlink) return Status::integrity(fmt::format("{}: refusing to follow a symbolic link", path));
  if (t != FileType::None) return Status::integrity(fmt::format("{}: is not a regular file", path));
  if (auto rawName = rawTrxFileName(trxId)) {
    std::string raw = join(dir, *rawName);
    OPTDB_ASSIGN(const FileType rawType, env_->fileType(raw));
    if (rawType == FileType::File) return std::optional<std::string>(raw);
  }
  return std::optional<std::string>();
}

Result<std::optional<Transform>> FileRawStorage::getCommitted(const BlockId& id, const TrxId& trxId) {
  // Per file, trx/ then actions/ (SPEC §2), whatever the block's dialect.
  for (Dialect d : kDialects) {
    OPTDB_ASSIGN(auto t, readTransform(id, committedDir(id, d), trxId));
    if (t) return t;
  }
  return std::optional<Transform>();
}

Status FileRawStorage::saveCommitted(const BlockId& id, const TrxId& trxId, const Transform& t) {
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  return writeAtomic(committedDir(id, d), encodeTrxFileName(trxId), toJson(encodeTransform(t)), d);
}

Status FileRawStorage::promotePending(const BlockId& id, const TrxId& trxId) {
  OPTDB_ASSIGN(auto from, findTrxFile(pendDir(id), trxId));
  if (!from) return Status::notFound(fmt::format("{}: transaction {} is not pending", id, trxId));
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  const std::string dir = committedDir(id, d);
  OPTDB_TRY(ensureDir(dir));
  OPTDB_TRY(env_->rename(*from, join(dir, encodeTrxFileName(trxId))));
  OPTDB_TRY(syncDirIfNeeded(dir));
  return syncDirIfNeeded(pendDir(id));
}

Result<std::optional<Json>> FileRawStorage::getMaterialized(const BlockId& id, const TrxId& trxId) {
  std::string path = join(blocksDir(id), encodeTrxFileName(trxId));
  auto j = readJson(path);
  if (auto raw = rawTrxFileName(trxId); j && !*j && raw) j = readJson(join(blocksDir(id), *raw));
  if (j && *j) {
    if (Status s = validateBlock(**j, id, "block"); !s) return asIntegrity(s, path);
  }
  return j;
}

Status FileRawStorage::saveMaterialized(const BlockId& id, const TrxId& trxId, const Json& block) {
  OPTDB_ASSIGN(const Dialect d, dialect(id));
  return writeAtomic(blocksDir(id), encodeTrxFileName(trxId), toJson(block), d);
}

Status FileRawStorage::deleteMaterialized(const BlockId& id, const TrxId& trxId) {
  return removeTrxFiles(blocksDir(id), trxId).status();
}

Status FileRawStorage::discardMaterialized(const BlockId& id, const TrxId& trxId) {
  OPTDB_ASSIGN(const bool removed, removeTrxFiles(blocksDir(id), trxId));
  return removed ? syncDirIfNeeded(blocksDir(id)) : Status::ok();  // nothing removed: nothing to make durable
}

Result<std::vector<BlockId>> FileRawStorage::listBlocks() {
  auto entries = env_->listDir("");
  if (!entries) {
    if (entries.status().code() == Code::NotFound) return std::vector<BlockId>();
    return entries.status();
  }
  std::vector<BlockId> ids;
  for (const auto& e : *entries) {
    if (e.type != FileType::Dir || e.name.empty() || e.name[0] == '.') continue;
    if (!validateBlockId(e.name, "")) continue;
    // Whatever stands as meta.json makes a block (a FIFO there is an
    // integrity problem of that block, not its absence); a directory that
    // cannot be searched is an error, never a block left out.
    OPTDB_ASSIGN(const FileType meta, env_->fileType(metaPath(e.name)));
    if (meta != FileType::None) ids.push_back(e.name);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Status FileRawStorage::saveIntent(const CommitIntent& intent) {
  return writeAtomic(kIntentsPath, encodeTrxFileName(intent.trxId), toJson(encodeIntent(intent)));
}

Status FileRawStorage::deleteIntent(const TrxId& trxId) {
  Status s = env_->removeFile(join(kIntentsPath, encodeTrxFileName(trxId)));
  return s.code() == Code::NotFound ? Status::ok() : s;
}

Result<std::vector<CommitIntent>> FileRawStorage::listIntents() {
  auto entries = env_->listDir(kIntentsPath);
  if (!entries) {
    if (entries.status().code() == Code::NotFound) return std::vector<CommitIntent>();
    return entries.status();
  }
  std::vector<CommitIntent> out;
  for (const auto& e : *entries) {
    if (e.type != FileType::File || !decodeTrxFileName(e.name)) continue;
    const std::string path = join(kIntentsPath, e.name);
    OPTDB_ASSIGN(auto text, readIfExists(path));
    if (!text) continue;  // finished meanwhile
    OPTDB_ASSIGN(auto intent, decodeIntent(*text, path));
    out.push_back(std::move(intent));
  }
  return out;
}

Status FileRawStorage::ensureLockDir(const std::string& dir) {
  // A lock needs its directory to exist, not to be durable: a store that is
  // only read (a read-only mount) must be lockable without a write. Looked
  // for once (lockIn takes it again when it has gone since).
  if (lockDirs_.count(dir)) return Status::ok();
  OPTDB_ASSIGN(const FileType t, env_->fileType(dir));
  if (t != FileType::Dir) OPTDB_TRY(ensureDir(dir));
  lockDirs_.insert(dir);
  return Status::ok();
}

Result<std::unique_ptr<FileLock>> FileRawStorage::lockIn(const std::string& dir, const std::string& path, LockMode mode,
                                                         double timeoutSeconds) {
  OPTDB_TRY(ensureLockDir(dir));
  auto lock = env_->lockFile(path, mode, timeoutSeconds);
  if (lock || lock.status().code() != Code::NotFound) return lock;
  lockDirs_.erase(dir);  // removed since it was found
  knownDirs_.erase(dir);
  OPTDB_TRY(ensureLockDir(dir));
  return env_->lockFile(path, mode, timeoutSeconds);
}

Result<std::unique_ptr<FileLock>> FileRawStorage::lockStore(LockMode mode, double timeoutSeconds) {
  return lockIn(kOwnDir, kStoreLockPath, mode, timeoutSeconds);
}

Result<std::unique_ptr<FileLock>> FileRawStorage::lockBlock(const BlockId& id, double timeoutSeconds) {
  journal_->guard(lockPath(id), lockedPaths(id));
  return lockIn(kLocksPath, lockPath(id), LockMode::Exclusive, timeoutSeconds);
}


}  // namespace optdb
