// inspect --check, repair and the inspect summary (SPEC §6), block by block.
//
// A Scanner walks one block's directory through the Env and builds a
// BlockModel: which revision, pending, committed and materialization files
// exist, what each revision file names, and the problems of single files
// (does not parse, bad name, symlink, temporary file). semanticProblems()
// then judges the model as a whole (interrupted commits, latest, lost
// revisions…). The repairer plans its actions on the same model, applying
// each to the store as it goes (or only to the model, in a dry run), so that
// a dry run predicts what would remain by judging the model it ends with.
#include "optdb/integrity.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "optdb/block_storage.hpp"
#include "optdb/codec.hpp"
#include "layout.hpp"
#include "optdb/transform.hpp"

namespace optdb {

namespace {

namespace FRS = layout;  // every name of the tree comes from the layout module

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

bool endsWithJson(const std::string& n) { return n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0; }

// Valid UTF-8 stays; control characters and invalid bytes become \xNN, so
// that a path or message always prints as one line of valid JSON text.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; ok && k < len; ++k) {
      unsigned char cc = s[i + k];
      ok = (cc >> 6) == 2;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok || c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

Problem mkProblem(const std::string& path, const char* kind, const std::string& message) {
  return Problem{printable(path), kind, printable(message)};
}

// A reader's message usually starts with the path; the problem line names it already.
std::string withoutPath(std::string message, const std::string& path) {
  if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);
  return message;
}

// "<name> is not valid JSON (<the parser's words>)", from parseJson's status.
std::string notJson(const std::string& name, const Status& s) {
  std::string detail = withoutPath(s.message(), name);
  if (detail.rfind("invalid JSON: ", 0) == 0) detail.erase(0, 14);
  return fmt::format("{} is not valid JSON ({})", name, detail);
}

std::string describeRanges(const Ranges& r) { return toJson(encodeRanges(r)); }

std::string joinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

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

Result<std::optional<std::string>> readText(Env& env, const std::string& path) {
  auto r = env.readFile(path);
  if (!r) {
    if (r.status().code() == Code::NotFound) return std::optional<std::string>();
    return r.status();
  }
  return std::optional<std::string>(std::move(r).value());
}

std::uint64_t sizeOf(Env& env, const std::string& path) {
  auto s = env.fileSize(path);
  return s ? *s : 0;
}

// Reports every symbolic link under `dir` (which is not one), never following any.
Status walkForSymlinks(Env& env, const std::string& dir, std::vector<Problem>& out, int depth = 0) {
  if (depth > 64) return Status::ok();
  OPTDB_ASSIGN(auto entries, listSorted(env, dir));
  if (!entries) return Status::ok();
  for (const auto& e : *entries) {
    std::string path = join(dir, e.name);
    if (e.type == FileType::Symlink)
      out.push_back(mkProblem(path, problem::kSymlink, "a symbolic link inside the store; optdb never follows it"));
    else if (e.type == FileType::Dir)
      OPTDB_TRY(walkForSymlinks(env, path, out, depth + 1));
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// One block's files.

// The dialect whose committed-transform directory is named `n`, if any.
std::optional<Dialect> committedDialect(const std::string& n) {
  for (Dialect d : kDialects)
    if (n == namesOf(d).committedSubdir) return d;
  return std::nullopt;
}

enum class MetaState { Missing, Ok, BadJson, BadMeta, BadRanges };

struct FileRef {
  std::string path;
  std::uint64_t size = 0;
};

struct BlockModel {
  BlockId id;
  std::string metaPath;
  MetaState metaState = MetaState::Missing;
  bool rangesMalformed = false;   // some range entries could not be decoded at all
  std::optional<BlockMeta> meta;  // Ok or BadRanges: what could be decoded
  std::map<Rev, std::string> revFiles;  // every revs/ file with a revision name → its path
  std::map<Rev, TrxId> revs;            // those naming a valid TrxId
  std::map<TrxId, FileRef> pend, committed, mats;
  std::set<TrxId> deleting;  // transforms (pending or committed) that delete the block
  std::vector<std::string> temps;
  std::uint64_t bytes = 0;
  std::vector<Problem> fileProblems;  // problems of single files, in listing order
  std::set<Dialect> dialectsShown;    // by meta.json's latest and by trx/ and actions/
  Dialect dialect = Dialect::Trx;     // the block's (meta.json's, else its directories', else the store's)

  bool metaUsable() const { return meta && (metaState == MetaState::Ok || metaState == MetaState::BadRanges); }
  std::string revPath(Rev rev) const { return join(join(id, FRS::kRevsSubdir), FRS::encodeRevFileName(rev)); }
  std::string subPath(const char* sub, const TrxId& t) const {
    return join(join(id, sub), FRS::encodeTrxFileName(t));
  }
  // The revision that first names each transaction; a later one naming it
  // again is a duplicate, never a revision of its own.
  std::map<TrxId, Rev> firstNaming() const {
    std::map<TrxId, Rev> first;
    for (const auto& [r, t] : revs) first.emplace(t, r);
    return first;
  }
  // Complete: a revs/ file naming a committed transaction (and the first to name it).
  bool complete(Rev rev, const TrxId& trx, const std::map<TrxId, Rev>& first) const {
    return committed.count(trx) && first.at(trx) == rev;
  }
  std::optional<std::pair<Rev, TrxId>> highestComplete() const {
    auto first = firstNaming();
    for (auto it = revs.rbegin(); it != revs.rend(); ++it)
      if (complete(it->first, it->second, first)) return std::make_pair(it->first, it->second);
    return std::nullopt;
  }
  std::optional<Rev> lowestComplete() const {
    auto first = firstNaming();
    for (const auto& [r, t] : revs)
      if (complete(r, t, first)) return r;
    return std::nullopt;
  }
  void dropFileProblems(const std::function<bool(const Problem&)>& pred) {
    fileProblems.erase(std::remove_if(fileProblems.begin(), fileProblems.end(), pred), fileProblems.end());
  }
};

class Scanner {
 public:
  // `deep`: parse every file (check, repair); otherwise only meta.json and revs/ (summary).
  Scanner(FileRawStorage& raw, bool deep) : raw_(raw), env_(raw.env()), deep_(deep) {}

  Result<BlockModel> scanBlock(const BlockId& id) {
    BlockModel m;
    m.id = id;
    m.metaPath = join(id, FRS::kMetaFile);
    OPTDB_ASSIGN(auto entries, listSorted(env_, id));
    if (!entries) return m;
    for (const auto& e : *entries) {
      std::string path = join(id, e.name);
      if (e.type == FileType::Symlink) {
        m.fileProblems.push_back(symlinkProblem(path));
      } else if (e.type == FileType::File && FRS::isTempName(e.name)) {
        addTemp(m, path);
      } else if (e.name[0] == '.') {
        if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, m.fileProblems));
      } else if (e.name == FRS::kMetaFile) {
        if (e.type == FileType::File) {
          m.bytes += sizeOf(env_, path);
          OPTDB_TRY(checkLinks(m, path));
          OPTDB_TRY(scanMeta(m));
        } else {
          m.fileProblems.push_back(mkProblem(path, problem::kBadType, "meta.json is not a regular file"));
          if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, m.fileProblems));
        }
      } else if (isDataDir(e.name)) {
        if (e.type == FileType::Dir) {
          if (auto d = committedDialect(e.name)) m.dialectsShown.insert(*d);
          OPTDB_TRY(scanDataDir(m, e.name));
        } else {
          m.fileProblems.push_back(mkProblem(path, problem::kBadType, fmt::format("{} is not a directory", e.name)));
          if (e.type == FileType::File) m.bytes += sizeOf(env_, path);
        }
      } else if (e.type == FileType::File) {
        m.bytes += sizeOf(env_, path);
      } else if (e.type == FileType::Dir) {
        OPTDB_TRY(walkForSymlinks(env_, path, m.fileProblems));
      }
    }
    std::optional<Dialect> metaDialect;
    if (m.meta && m.meta->latest) metaDialect = m.meta->dialect;
    OPTDB_ASSIGN(m.dialect, raw_.dialectGiven(id, metaDialect));
    if (m.meta) m.meta->dialect = m.dialect;
    return m;
  }

 private:
  static bool isDataDir(const std::string& n) {
    return n == FRS::kRevsSubdir || n == FRS::kPendSubdir || committedDialect(n) || n == FRS::kBlocksSubdir;
  }

  static Problem symlinkProblem(const std::string& path) {
    return mkProblem(path, problem::kSymlink, "a symbolic link inside the store; optdb never follows it");
  }

  // A stored file with another name elsewhere: appending to it (or any
  // writer that does not rename) would change that other file too.
  Status checkLinks(BlockModel& m, const std::string& path) {
    auto links = env_.linkCount(path);
    if (!links) return links.status().code() == Code::NotFound ? Status::ok() : links.status();
    if (*links > 1)
      m.fileProblems.push_back(mkProblem(path, problem::kHardLink,
                                         fmt::format("has {} hard links; a stored file must have one name", *links)));
    return Status::ok();
  }

  void addTemp(BlockModel& m, const std::string& path) {
    m.temps.push_back(path);
    m.bytes += sizeOf(env_, path);
    m.fileProblems.push_back(mkProblem(path, problem::kTempFile, "a stray temporary file left by an interrupted write"));
  }

  Status scanMeta(BlockModel& m) {
    OPTDB_ASSIGN(auto text, readText(env_, m.metaPath));
    if (!text) return Status::ok();  // gone meanwhile
    auto bad = [&](MetaState state, const char* kind, const std::string& why) {
      m.metaState = state;
      m.fileProblems.push_back(mkProblem(m.metaPath, kind, why));
      return Status::ok();
    };
    auto j = parseJson(*text, "meta.json");
    if (!j) return bad(MetaState::BadJson, problem::kBadJson, notJson("meta.json", j.status()));
    if (!j->is_object()) return bad(MetaState::BadMeta, problem::kBadMeta, "meta.json is not a JSON object");
    auto r = j->find("ranges");
    if (r == j->end()) return bad(MetaState::BadMeta, problem::kBadMeta, "meta.json has no ranges");
    if (!r->is_array()) return bad(MetaState::BadMeta, problem::kBadMeta, "meta.json: ranges is not an array");
    BlockMeta meta;
    meta.ranges.clear();
    if (auto l = j->find("latest"); l != j->end() && !l->is_null()) {
      auto latest = decodeTrxRev(*l, "latest", &meta.dialect);
      if (!latest) return bad(MetaState::BadMeta, problem::kBadMeta, "meta.json: " + latest.status().message());
      meta.latest = *latest;
      m.dialectsShown.insert(meta.dialect);
    }
    std::vector<std::string> malformed;
    for (const auto& entry : *r) {
      auto one = decodeRanges(Json::array({entry}), "ranges");
      if (one) meta.ranges.push_back(one->front());
      else malformed.push_back(toJson(entry));
    }
    m.meta = meta;
    m.metaState = MetaState::Ok;
    if (!malformed.empty()) {
      m.rangesMalformed = true;
      return bad(MetaState::BadRanges, problem::kBadRanges,
                 fmt::format("meta.json: malformed range{} {} (a range is [start] or [start, end] with start < end)",
                             malformed.size() == 1 ? "" : "s", joinIds(malformed)));
    }
    if (normalizeRanges(meta.ranges) != meta.ranges)
      return bad(MetaState::BadRanges, problem::kBadRanges,
                 fmt::format("meta.json: ranges {} are not sorted and merged (should be {})", describeRanges(meta.ranges),
                             describeRanges(normalizeRanges(meta.ranges))));
    if (meta.latest && !rangesContain(meta.ranges, meta.latest->rev))
      return bad(MetaState::BadRanges, problem::kBadRanges,
                 fmt::format("meta.json: latest revision {} lies outside the ranges {}", meta.latest->rev,
                             describeRanges(meta.ranges)));
    return Status::ok();
  }

  Status scanDataDir(BlockModel& m, const std::string& sub) {
    const std::string dir = join(m.id, sub);
    OPTDB_ASSIGN(auto entries, listSorted(env_, dir));
    if (!entries) return Status::ok();
    const bool revs = sub == FRS::kRevsSubdir;
    std::map<TrxId, std::string> names;  // the file name each transaction was first seen under
    for (const auto& e : *entries) {
      std::string path = join(dir, e.name);
      if (e.type == FileType::Symlink) {
        m.fileProblems.push_back(symlinkProblem(path));
        continue;
      }
      if (e.type == FileType::File && FRS::isTempName(e.name)) {
        addTemp(m, path);
        continue;
      }
      if (e.name[0] == '.') {
        if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, m.fileProblems));
        continue;
      }
      if (e.type != FileType::File) {
        // A FIFO or device under any name: a reader of it would hang or flood (revs/optdb-index, say).
        if (endsWithJson(e.name) || e.type == FileType::Other)
          m.fileProblems.push_back(mkProblem(path, problem::kBadType,
                                             e.type == FileType::Dir ? "a directory, where a data file belongs"
                                                                     : "not a regular file (a FIFO, device or socket)"));
        if (e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env_, path, m.fileProblems));
        continue;
      }
      const std::uint64_t size = sizeOf(env_, path);
      m.bytes += size;
      OPTDB_TRY(checkLinks(m, path));
      if (!endsWithJson(e.name)) continue;  // never data (optdb's own index, for one)
      if (revs) {
        auto rev = FRS::decodeRevFileName(e.name);
        if (!rev) {
          m.fileProblems.push_back(
              mkProblem(path, problem::kBadName, "not a revision file name (expected <revision>.json)"));
          continue;
        }
        m.revFiles[*rev] = path;
        auto trx = raw_.getRevision(m.id, *rev);
        if (!trx) {
          if (trx.status().code() == Code::IoError) return trx.status();
          m.fileProblems.push_back(mkProblem(path, problem::kBadJson,
                                             "revision file does not hold a transaction id: " +
                                                 withoutPath(trx.status().message(), path)));
        } else if (!*trx) {
          m.revFiles.erase(*rev);  // gone meanwhile
        } else {
          m.revs[*rev] = **trx;
        }
        continue;
      }
      auto trx = FRS::decodeTrxFileName(e.name);
      if (!trx) {
        m.fileProblems.push_back(
            mkProblem(path, problem::kBadName, "not a transaction file name (expected <transaction id>.json)"));
        continue;
      }
      FileRef ref{path, size};
      // "<id>.json" under both spellings of a ':' (readers accept either): one of them is never read.
      auto& seen = names[*trx];
      if (!seen.empty())
        m.fileProblems.push_back(mkProblem(path, problem::kDuplicateName,
                                           fmt::format("{} and {} are one transaction's file under two names", seen,
                                                       e.name)));
      else seen = e.name;
      if (sub == FRS::kPendSubdir) m.pend.emplace(*trx, ref);
      else if (auto d = committedDialect(sub); d == Dialect::Trx) m.committed[*trx] = ref;  // trx/ wins, as for readers
      else if (d) m.committed.emplace(*trx, ref);
      else m.mats.emplace(*trx, ref);
      if (!deep_) continue;
      OPTDB_ASSIGN(auto text, readText(env_, path));
      if (!text) continue;
      auto j = parseJson(*text, e.name, kTransformEnvelope);  // a Transform or a Block; their codecs check the data
      if (!j) {
        m.fileProblems.push_back(mkProblem(path, problem::kBadJson, notJson(e.name, j.status())));
      } else if (sub == FRS::kBlocksSubdir) {
        if (Status s = validateBlock(*j, m.id, "block"); !s)
          m.fileProblems.push_back(mkProblem(path, problem::kBadJson, "not a valid materialized block: " + s.message()));
      } else {
        auto t = decodeTransform(*j, m.id, "transform");
        if (!t) m.fileProblems.push_back(mkProblem(path, problem::kBadJson, "not a valid transform: " + t.status().message()));
        else if (t->del) m.deleting.insert(*trx);
      }
    }
    return Status::ok();
  }

  FileRawStorage& raw_;
  Env& env_;
  bool deep_;
};

// Problems of the block as a whole, judged on the model.
std::vector<Problem> semanticProblems(const BlockModel& m) {
  std::vector<Problem> out;
  if (m.dialectsShown.size() > 1)
    out.push_back(mkProblem(m.id, problem::kMixedDialect,
                            fmt::format("files of both layout generations (trx/ or trxId, actions/ or actionId); upstream "
                                        "v0.24 reads only its own; the block's dialect (meta.json's) is {}",
                                        namesOf(m.dialect).name)));
  const bool metaUsable = m.metaUsable();
  const std::optional<TrxRev> latest = metaUsable ? m.meta->latest : std::nullopt;
  std::map<TrxId, Rev> named;
  for (const auto& [rev, trx] : m.revs) {
    const std::string& path = m.revFiles.at(rev);
    auto [it, fresh] = named.emplace(trx, rev);
    if (!fresh) {
      out.push_back(mkProblem(path, problem::kDuplicateRevision,
                              fmt::format("revision {} names transaction {}, which revision {} already names", rev,
                                          trx, it->second)));
      continue;
    }
    if (m.committed.count(trx)) {
      if (metaUsable && (!latest || rev > latest->rev))
        out.push_back(mkProblem(
            path, problem::kAboveLatest,
            latest ? fmt::format("revision {} ({}) is complete but lies above latest, revision {}", rev, trx, latest->rev)
                   : fmt::format("revision {} ({}) is complete but meta.json has no latest", rev, trx)));
    } else if (m.pend.count(trx)) {
      out.push_back(mkProblem(path, problem::kInterruptedCommit,
                              fmt::format("revision {} names transaction {}, which is only pending: an interrupted commit",
                                          rev, trx)));
    } else {
      out.push_back(mkProblem(path, problem::kMissingTransform,
                              fmt::format("revision {} names transaction {}, whose committed transform is missing", rev,
                                          trx)));
    }
  }
  if (latest) {
    const std::string revName = fmt::format("revs/{}", FRS::encodeRevFileName(latest->rev));
    auto file = m.revFiles.find(latest->rev);
    auto rev = m.revs.find(latest->rev);
    if (file == m.revFiles.end()) {
      out.push_back(mkProblem(m.metaPath, problem::kLatestMissing,
                              fmt::format("latest names revision {} ({}), but {} is missing", latest->rev,
                                          latest->trxId, revName)));
    } else if (rev != m.revs.end() && rev->second != latest->trxId) {
      out.push_back(mkProblem(m.metaPath, problem::kLatestMissing,
                              fmt::format("latest names revision {} ({}), but {} names {}", latest->rev, latest->trxId,
                                          revName, rev->second)));
    } else if (rev != m.revs.end() && !m.committed.count(latest->trxId)) {
      out.push_back(mkProblem(m.metaPath, problem::kLatestMissing,
                              fmt::format("latest names revision {} ({}), whose committed transform is missing",
                                          latest->rev, latest->trxId)));
    }
  }
  for (const auto& [trx, ref] : m.committed)
    if (!named.count(trx))
      out.push_back(mkProblem(ref.path, problem::kLostRevision,
                              fmt::format("committed transaction {} is named by no revision file (a lost revision file)",
                                          trx)));
  for (const auto& [trx, ref] : m.pend)
    if (m.committed.count(trx))
      out.push_back(mkProblem(ref.path, problem::kPendingCommitted,
                              fmt::format("transaction {} is both pending and committed on this block", trx)));
  return out;
}

// Whether the block builds at its latest revision, as a reader would build it.
Result<std::optional<Problem>> tipProblem(FileRawStorage& raw, const BlockModel& m, const std::vector<Problem>& semantic) {
  if (!m.metaUsable() || !m.meta->latest) return std::optional<Problem>();
  for (const auto& p : semantic)
    if (p.kind == problem::kLatestMissing) return std::optional<Problem>();
  if (!raw.getMeta(m.id)) return std::optional<Problem>();  // meta.json unreadable to readers: reported already
  BlockStorage bs(m.id, raw);
  auto block = bs.getBlock(std::nullopt);
  if (block) return std::optional<Problem>();
  if (block.status().code() == Code::IoError) return block.status();
  return std::optional<Problem>(mkProblem(
      m.id, problem::kUnmaterializableTip,
      fmt::format("the block cannot be built at its latest revision {}: {}", m.meta->latest->rev,
                  block.status().message())));
}

// Equal JSON values, members in any order: a JavaScript writer (upstream's
// materializations) moves integer-like keys to the front.
bool sameValue(const Json& a, const Json& b) {
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    // Sorted by key, not looked up one by one: an object's lookup is linear.
    auto sorted = [](const Json& o) {
      std::vector<std::pair<const std::string*, const Json*>> v;
      v.reserve(o.size());
      for (auto it = o.begin(); it != o.end(); ++it) v.emplace_back(&it.key(), &*it);
      std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return *x.first < *y.first; });
      return v;
    };
    auto x = sorted(a), y = sorted(b);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (*x[i].first != *y[i].first || !sameValue(*x[i].second, *y[i].second)) return false;
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

// A revision committed below a later one whose stored state lacks it (an
// interrupted commit finished out of order, SPEC §6): every materialization
// of a committed revision must equal the replay of the revisions below it.
// The replay starts where the history is known: the block's creation, a
// materialization, or a transform that needs nothing older.
Result<std::optional<Problem>> forkProblem(FileRawStorage& raw, const BlockModel& m, const std::vector<Problem>& semantic) {
  if (!m.metaUsable() || m.mats.empty()) return std::optional<Problem>();
  // With a revision file lost or a transform missing, the replay itself is
  // incomplete: those are reported as what they are.
  for (const auto& p : semantic)
    if (p.kind == problem::kLostRevision || p.kind == problem::kMissingTransform ||
        p.kind == problem::kDuplicateRevision || p.kind == problem::kLatestMissing)
      return std::optional<Problem>();
  const auto first = m.firstNaming();
  std::optional<Json> state;
  bool known = false;
  std::optional<Rev> rangeEnd;  // where the range holding the current revision ends
  for (const auto& [rev, trx] : m.revs) {
    if (!m.complete(rev, trx, first)) continue;
    if (!rangesContain(m.meta->ranges, rev)) continue;  // outside what is held: no claim on it
    if (!known || (rangeEnd && rev >= *rangeEnd)) {  // a new range: what came before is not here
      known = false;
      for (const auto& r : m.meta->ranges)
        if (rangesContain({r}, rev)) {
          known = r.start == 0;
          rangeEnd = r.end;
          state.reset();
        }
    }
    auto t = raw.getCommitted(m.id, trx);
    if (!t || !*t) return std::optional<Problem>();  // unreadable: reported as such elsewhere
    if ((*t)->insert || (*t)->del) known = true;
    auto next = applyTransform(std::move(state), **t);
    if (!next) return std::optional<Problem>();  // reported as an unmaterializable tip
    state = std::move(next).value();
    if (!m.mats.count(trx)) continue;
    auto stored = raw.getMaterialized(m.id, trx);
    if (!stored || !*stored) continue;
    if (known && !(state && sameValue(*state, **stored))) {
      return std::optional<Problem>(mkProblem(
          m.mats.at(trx).path, problem::kForkedHistory,
          fmt::format("the stored state at revision {} ({}) differs from a replay of the revisions up to it: a revision "
                      "below {} was committed after it (an interrupted commit finished out of order), and the states "
                      "from {} on lack it",
                      rev, trx, rev, rev)));
    }
    state = std::move(*stored);
    known = true;
  }
  return std::optional<Problem>();
}

// ---------------------------------------------------------------------------
// The store: intents, the top level, and each block.

struct IntentFile {
  std::string path;
  CommitIntent intent;
};

struct IntentScan {
  std::vector<Problem> problems;  // every problem under .optdb/intents
  std::vector<IntentFile> intents;
  std::vector<std::string> temps;
};

bool touches(const CommitIntent& in, const std::set<BlockId>& scope) {
  return scope.empty() ||
         std::any_of(in.blockIds.begin(), in.blockIds.end(), [&](const BlockId& b) { return scope.count(b) > 0; });
}

Problem unreadableProblem(const std::string& path, const Status& s) {
  return mkProblem(path, problem::kUnexamined, fmt::format("could not be examined or repaired: {}", s.message()));
}

Problem overtakenProblem(const BlockId& b, const CommitIntent& in) {
  return mkProblem(b, problem::kOvertakenCommit,
                   fmt::format("the interrupted commit of {} at revision {} never reached this block, which has a later "
                               "revision committed without it; finishing it here would fork the block's history",
                               in.trxId, in.rev));
}

Problem leftoverProblem(const IntentFile& f) {
  return mkProblem(f.path, problem::kLeftoverIntent,
                   fmt::format("the commit of {} at revision {} on {} did not finish", f.intent.trxId, f.intent.rev,
                               joinIds(f.intent.blockIds)));
}

// `scope` empty: everything; else only intents touching those blocks (and malformed ones, which stop every commit).
Result<IntentScan> scanIntents(Env& env, const std::set<BlockId>& scope) {
  IntentScan out;
  OPTDB_ASSIGN(auto entries, listSorted(env, FRS::kIntentsPath));
  if (!entries) return out;
  for (const auto& e : *entries) {
    std::string path = join(FRS::kIntentsPath, e.name);
    if (e.type == FileType::Symlink) {
      if (scope.empty())
        out.problems.push_back(mkProblem(path, problem::kSymlink, "a symbolic link inside the store; optdb never follows it"));
      continue;
    }
    if (e.name[0] == '.') {
      if (scope.empty() && e.type == FileType::File && FRS::isTempName(e.name)) {
        out.temps.push_back(path);
        out.problems.push_back(mkProblem(path, problem::kTempFile, "a stray temporary file left by an interrupted write"));
      }
      continue;
    }
    if (e.type != FileType::File) {
      if (scope.empty() && e.type == FileType::Dir) OPTDB_TRY(walkForSymlinks(env, path, out.problems));
      continue;
    }
    if (!FRS::decodeTrxFileName(e.name)) {
      if (scope.empty() && endsWithJson(e.name))
        out.problems.push_back(mkProblem(path, problem::kBadName, "not a commit intent file name (<transaction id>.json)"));
      continue;
    }
    OPTDB_ASSIGN(auto text, readText(env, path));
    if (!text) continue;
    auto intent = FileRawStorage::decodeIntent(*text, path);
    if (!intent) {
      std::string why = withoutPath(intent.status().message(), path);
      if (why.rfind("invalid JSON: ", 0) == 0) why = fmt::format("{} is not valid JSON ({})", e.name, why.substr(14));
      out.problems.push_back(mkProblem(path, problem::kBadJson, why));
      continue;
    }
    IntentFile f{path, std::move(intent).value()};
    if (!touches(f.intent, scope)) continue;
    out.problems.push_back(leftoverProblem(f));
    out.intents.push_back(std::move(f));
  }
  return out;
}

// Visits the named blocks, or the whole store: problems of the top level go
// to `onProblem`, each block to `onBlock`, named blocks not held to `notFound`.
Status visitStore(Env& env, const std::vector<BlockId>& ids, std::vector<BlockId>* notFound,
                  const std::function<void(const Problem&)>& onProblem,
                  const std::function<Status(const BlockId&)>& onBlock) {
  if (!ids.empty()) {
    std::set<BlockId> seen;
    for (const auto& id : ids) {
      if (!seen.insert(id).second) continue;
      OPTDB_ASSIGN(const FileType t, env.fileType(id));
      auto metaType = t == FileType::Dir ? env.fileType(join(id, FRS::kMetaFile)) : Result<FileType>(FileType::None);
      const FileType meta = metaType ? *metaType : FileType::Other;  // unsearchable: visited, reported
      if (t == FileType::Symlink) {
        onProblem(mkProblem(id, problem::kSymlink, "a symbolic link where a block directory belongs; optdb never follows it"));
        notFound->push_back(id);
      } else if (t == FileType::Dir && meta != FileType::None) {
        OPTDB_TRY(onBlock(id));
      } else {
        notFound->push_back(id);
      }
    }
    return Status::ok();
  }
  OPTDB_ASSIGN(auto entries, listSorted(env, ""));
  if (!entries) return Status::ok();
  for (const auto& e : *entries) {
    std::vector<Problem> found;
    FileType meta = FileType::None;
    if (e.type == FileType::Dir && e.name[0] != '.') {
      // A directory that cannot be searched may well be a block: visited, it
      // is reported as one that could not be examined, never skipped.
      auto t = env.fileType(join(e.name, FRS::kMetaFile));
      meta = t ? *t : FileType::Other;
    }
    if (e.type == FileType::Symlink) {
      found.push_back(mkProblem(e.name, problem::kSymlink, "a symbolic link inside the store; optdb never follows it"));
    } else if (e.type != FileType::Dir) {
      // a plain file at the top level is no block, and not optdb's
    } else if (e.name == FRS::kOwnDir) {
      OPTDB_ASSIGN(auto own, listSorted(env, e.name));
      for (const auto& o : own.value_or(std::vector<DirEntry>())) {
        std::string path = join(e.name, o.name);
        if (o.type == FileType::Symlink)
          found.push_back(mkProblem(path, problem::kSymlink, "a symbolic link inside the store; optdb never follows it"));
        else if (o.type == FileType::Dir && path != FRS::kIntentsPath)  // intents are checked on their own
          OPTDB_TRY(walkForSymlinks(env, path, found));
      }
    } else if (e.name[0] == '.') {
      OPTDB_TRY(walkForSymlinks(env, e.name, found));
    } else if (meta == FileType::None) {
      OPTDB_TRY(walkForSymlinks(env, e.name, found));  // not a block
    } else if (!validateBlockId(e.name, "")) {
      found.push_back(mkProblem(e.name, problem::kBadName, "a directory holding meta.json whose name is not a valid block id"));
      OPTDB_TRY(walkForSymlinks(env, e.name, found));
    } else {
      OPTDB_TRY(onBlock(e.name));
    }
    for (const auto& p : found) onProblem(p);
  }
  return Status::ok();
}

Status validateNamed(const std::vector<BlockId>& ids) {
  for (const auto& id : ids) OPTDB_TRY(validateBlockId(id, fmt::format("block id \"{}\"", printable(id))));
  return Status::ok();
}

// The store lock, exclusively, so that what is examined is at rest. A store
// that optdb never wrote to has no .optdb/ to lock; `create` makes it.
Result<std::unique_ptr<FileLock>> lockExclusive(FileRawStorage& raw, double timeout, bool create) {
  OPTDB_ASSIGN(const FileType own, raw.env().fileType(FRS::kOwnDir));
  if (!create && own != FileType::Dir) return std::unique_ptr<FileLock>();
  return raw.lockStore(LockMode::Exclusive, timeout);
}

// Every problem of the scope, to `sink`; the caller holds the store lock.
Status checkBlock(FileRawStorage& raw, Scanner& scanner, const BlockId& id, const ProblemSink& sink);

// A block that could not be examined is reported as one problem naming the
// error, and the walk goes on (`*unreadable` counts them); only a store that
// cannot be listed at all stops it.
Status runCheck(FileRawStorage& raw, const std::vector<BlockId>& ids, std::vector<BlockId>* notFound,
                const ProblemSink& sink, std::size_t* unreadable) {
  Env& env = raw.env();
  OPTDB_ASSIGN(const FileType root, env.fileType(""));
  if (root != FileType::Dir) {
    *notFound = ids;
    return Status::ok();
  }
  std::set<BlockId> scope(ids.begin(), ids.end());
  OPTDB_ASSIGN(auto intents, scanIntents(env, scope));
  for (const auto& p : intents.problems) sink(p);
  for (const auto& f : intents.intents) {
    for (const auto& b : f.intent.blockIds) {
      OPTDB_ASSIGN(const bool overtaken, BlockStorage(b, raw).overtakes(f.intent.trxId, f.intent.rev));
      if (overtaken) sink(overtakenProblem(b, f.intent));
    }
  }
  Scanner scanner(raw, true);
  return visitStore(env, ids, notFound, sink, [&](const BlockId& id) -> Status {
    Status s = checkBlock(raw, scanner, id, sink);
    if (!s) {
      sink(unreadableProblem(id, s));
      ++*unreadable;
    }
    return Status::ok();
  });
}

Status checkBlock(FileRawStorage& raw, Scanner& scanner, const BlockId& id, const ProblemSink& sink) {
  OPTDB_ASSIGN(auto m, scanner.scanBlock(id));
  for (const auto& p : m.fileProblems) sink(p);
  auto semantic = semanticProblems(m);
  for (const auto& p : semantic) sink(p);
  OPTDB_ASSIGN(auto tip, tipProblem(raw, m, semantic));
  if (tip) sink(*tip);
  OPTDB_ASSIGN(auto fork, forkProblem(raw, m, semantic));
  if (fork) sink(*fork);
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Repair.

class Repairer {
 public:
  Repairer(FileRawStorage& raw, bool dryRun, RepairReport& report)
      : raw_(raw), env_(raw.env()), dry_(dryRun), report_(report), scanner_(raw, true) {}

  Status run(const std::vector<BlockId>& ids) {
    std::set<BlockId> scope(ids.begin(), ids.end());
    (void)isolate(FRS::kIntentsPath, repairIntents(scope));
    std::vector<BlockId> deferred;
    // One block that cannot be repaired (an I/O error, a permission repair
    // lacks) is reported and the others are repaired all the same.
    OPTDB_TRY(visitStore(
        env_, ids, &report_.notFound,
        [&](const Problem& p) {
          if (dry_) report_.remaining.push_back(p);
        },
        [&](const BlockId& id) { return isolate(id, repairBlock(id, nullptr, &deferred)); }));
    if (!deferred.empty()) {
      // Lost revision files, rebuilt only from a sibling block of the same transaction.
      auto evidence = siblingEvidence(deferred);
      for (const auto& id : deferred)
        (void)isolate(id, evidence ? repairBlock(id, &*evidence, nullptr) : evidence.status());
    }
    if (!dry_) {
      report_.remaining.clear();
      std::vector<BlockId> ignored;
      std::size_t unreadable = 0;
      OPTDB_TRY(runCheck(raw_, ids, &ignored, [&](const Problem& p) { report_.remaining.push_back(p); }, &unreadable));
    }
    for (const auto& p : failures_)
      if (std::find(report_.remaining.begin(), report_.remaining.end(), p) == report_.remaining.end())
        report_.remaining.push_back(p);
    return Status::ok();
  }

 private:
  // T → (rev → the sibling block recording T there).
  using Evidence = std::map<TrxId, std::map<Rev, BlockId>>;

  // A block's failure becomes a problem in `remaining`; repair goes on.
  Status isolate(const BlockId& id, const Status& s) {
    if (!s) failures_.push_back(unreadableProblem(id, s));
    return Status::ok();
  }

  void act(const std::string& path, const char* action, const std::string& message) {
    report_.actions.push_back({printable(path), action, printable(message)});
  }

  // An error that means "this cannot be done here" rather than "the disk failed".
  static bool isUnfixable(const Status& s) { return s.code() != Code::IoError && s.code() != Code::LockTimeout; }

  // What completeCommit(trx, rev) does, on the model only.
  static void simulateComplete(BlockModel& m, const TrxId& trx, Rev rev) {
    if (!m.revFiles.count(rev)) m.revFiles[rev] = m.revPath(rev);
    m.revs[rev] = trx;
    if (!m.committed.count(trx))
      m.committed[trx] = FileRef{m.subPath(namesOf(m.dialect).committedSubdir, trx), 0};
    m.pend.erase(trx);
    if (!m.meta) {
      m.meta = newBlockMeta(m.dialect);
      m.metaState = MetaState::Ok;
    }
    if (!m.meta->latest || m.meta->latest->rev <= rev) {
      m.meta = withLatest(std::move(*m.meta), TrxRev{trx, rev});
      if (!m.deleting.count(trx)) m.mats[trx] = FileRef{m.subPath(FRS::kBlocksSubdir, trx), 0};
    }
  }

  Status writeMeta(const BlockModel& m, const BlockMeta& meta) {
    if (dry_) return Status::ok();
    return raw_.saveMeta(m.id, meta);
  }

  // A revision file written below the tip, outside a commit: optdb's
  // revision index (revs/optdb-index) must learn of it.
  Status reindex(const BlockId& id) {
    OPTDB_ASSIGN(auto meta, raw_.getMeta(id));
    if (meta) OPTDB_TRY(raw_.rebuildRevisionIndex(id, *meta));
    return Status::ok();
  }

  Status writeRevision(const BlockModel& m, Rev rev, const TrxId& trx) {
    if (dry_) return Status::ok();
    OPTDB_TRY(raw_.saveRevision(m.id, rev, trx));
    return reindex(m.id);
  }

  // The ranges of a meta.json rebuilt from the block's files, as the
  // dialect's writers would have them: trx holds from 0 (or its lowest
  // revision) from the first write, actions nothing before its first commit.
  static Ranges heldRanges(const BlockModel& m) {
    auto low = m.lowestComplete();
    if (!low && m.dialect == Dialect::Actions) return {};
    return {Range{low.value_or(0), std::nullopt}};
  }

  // meta.json readable and well formed, rebuilt from the block's files if need be.
  Status fixMeta(BlockModel& m) {
    auto isMetaProblem = [&](const Problem& p) { return p.path == printable(m.metaPath); };
    if (m.metaState == MetaState::BadJson || m.metaState == MetaState::BadMeta) {
      BlockMeta meta = newBlockMeta(m.dialect);
      meta.ranges = heldRanges(m);
      if (auto high = m.highestComplete()) meta.latest = TrxRev{high->second, high->first};
      act(m.metaPath, action::kRebuildMeta,
          fmt::format("rebuilt meta.json from the block's files: ranges {}, {}", describeRanges(meta.ranges),
                      meta.latest ? fmt::format("latest revision {} ({})", meta.latest->rev, meta.latest->trxId)
                                  : std::string("no latest")));
      OPTDB_TRY(writeMeta(m, meta));
      m.meta = meta;
      m.metaState = MetaState::Ok;
      m.dropFileProblems(isMetaProblem);
    } else if (m.metaState == MetaState::BadRanges) {
      BlockMeta meta = *m.meta;
      Ranges before = meta.ranges;
      if (meta.latest && !rangesContain(meta.ranges, meta.latest->rev)) meta.ranges.push_back({meta.latest->rev, std::nullopt});
      meta.ranges = normalizeRanges(std::move(meta.ranges));
      if (meta.ranges.empty()) meta.ranges = heldRanges(m);
      act(m.metaPath, action::kFixRanges,
          fmt::format("normalized the ranges of meta.json to {}{}", describeRanges(meta.ranges),
                      m.rangesMalformed ? " (malformed entries dropped)" : ""));
      OPTDB_TRY(writeMeta(m, meta));
      m.meta = meta;
      m.metaState = MetaState::Ok;
      m.rangesMalformed = false;
      m.dropFileProblems(isMetaProblem);
    }
    return Status::ok();
  }

  // Finishes every commit recorded under .optdb/intents (in scope), on all its blocks.
  Status repairIntents(const std::set<BlockId>& scope) {
    OPTDB_ASSIGN(auto scan, scanIntents(env_, scope));
    for (const auto& p : scan.problems)
      if (dry_ && p.kind != problem::kLeftoverIntent && p.kind != problem::kTempFile) report_.remaining.push_back(p);
    for (const auto& t : scan.temps) {
      act(t, action::kRemoveTemp, "removed a stray temporary file");
      if (!dry_) OPTDB_TRY(removeIfExists(t));
    }
    for (const auto& f : scan.intents) {
      const auto& in = f.intent;
      std::vector<std::string> unfinished;
      std::set<BlockId> seen;
      for (const auto& b : in.blockIds) {
        if (!seen.insert(b).second) continue;
        OPTDB_ASSIGN(auto m, scanner_.scanBlock(b));
        Overlay& ov = overlay_[b];
        if (dry_ && ov.meta) {
          m.meta = ov.meta;
          m.metaState = MetaState::Ok;
        }
        if (m.metaState == MetaState::BadJson || m.metaState == MetaState::BadMeta || m.rangesMalformed) {
          OPTDB_TRY(fixMeta(m));  // completeCommit needs a readable meta.json
          if (dry_) ov.meta = m.meta;
        }
        if (dry_)
          for (const auto& [t, r] : ov.finished) simulateComplete(m, t, r);
        auto named = m.revFiles.find(in.rev);
        if (named != m.revFiles.end() && (!m.revs.count(in.rev) || m.revs[in.rev] != in.trxId)) {
          unfinished.push_back(fmt::format("{}: revision {} belongs to another transaction", b, in.rev));
          continue;
        }
        const bool pending = m.pend.count(in.trxId) > 0, committed = m.committed.count(in.trxId) > 0;
        if (named == m.revFiles.end() && m.meta && m.meta->latest && m.meta->latest->rev > in.rev) {
          // Committed over by a later revision (a writer that did not look under its locks): never finished below it.
          if (dry_) report_.remaining.push_back(overtakenProblem(b, in));
          unfinished.push_back(fmt::format("{}: a later revision was committed without it", b));
          continue;
        }
        if (!pending && !committed) {
          unfinished.push_back(fmt::format("{}: {} is neither pending nor committed there", b, in.trxId));
          continue;
        }
        const auto& latest = m.meta ? m.meta->latest : std::nullopt;
        bool done = named != m.revFiles.end() && committed && !pending && latest && latest->rev >= in.rev;
        if (done) continue;
        if (!dry_) {
          Status s = BlockStorage(b, raw_).completeCommit(in.trxId, in.rev);
          if (!s) {
            if (!isUnfixable(s)) (void)isolate(b, s);
            unfinished.push_back(fmt::format("{}: {}", b, s.message()));
            continue;
          }
        } else {
          ov.finished.push_back({in.trxId, in.rev});
        }
        act(b, action::kFinishCommit,
            fmt::format("finished the interrupted commit of {} at revision {} (from its intent)", in.trxId, in.rev));
      }
      if (unfinished.empty()) {
        act(f.path, action::kRemoveIntent,
            fmt::format("removed the intent of {}: its commit is complete on every block", in.trxId));
        if (!dry_) OPTDB_TRY(raw_.deleteIntent(in.trxId));
      } else if (dry_) {
        Problem p = leftoverProblem(f);
        p.message += printable("; repair cannot finish it: " + joinIds(unfinished));
        report_.remaining.push_back(p);
      }
    }
    return Status::ok();
  }

  Status removeIfExists(const std::string& path) {
    Status s = env_.removeFile(path);
    return s.code() == Code::NotFound ? Status::ok() : s;
  }

  // The lost revisions of `m` that only a sibling block can vouch for.
  static std::vector<TrxId> needSiblings(const BlockModel& m) {
    std::set<TrxId> named;
    for (const auto& [r, t] : m.revs) named.insert(t);
    std::vector<TrxId> out;
    for (const auto& [t, ref] : m.committed) {
      if (named.count(t)) continue;
      const auto& latest = m.metaUsable() ? m.meta->latest : std::nullopt;
      if (latest && latest->trxId == t && !m.revFiles.count(latest->rev)) continue;  // meta.json vouches
      out.push_back(t);
    }
    return out;
  }

  // For each transaction lost on a deferred block: where other blocks holding
  // it record it. Looks only at blocks that hold the transaction's file.
  Result<Evidence> siblingEvidence(const std::vector<BlockId>& deferred) {
    std::map<TrxId, std::set<BlockId>> lost;
    for (const auto& id : deferred) {
      OPTDB_ASSIGN(auto m, scanner_.scanBlock(id));
      for (const auto& t : needSiblings(m)) lost[t].insert(id);
    }
    Evidence evidence;
    if (lost.empty()) return evidence;
    OPTDB_ASSIGN(auto blocks, raw_.listBlocks());
    for (const auto& b : blocks) {
      std::set<TrxId> wanted;
      for (const auto& [t, owners] : lost) {
        if (owners.count(b)) continue;
        for (const char* sub : {namesOf(Dialect::Trx).committedSubdir, namesOf(Dialect::Actions).committedSubdir,
                                FRS::kPendSubdir}) {
          OPTDB_ASSIGN(const FileType type, env_.fileType(join(join(b, sub), FRS::encodeTrxFileName(t))));
          if (type == FileType::File) wanted.insert(t);
        }
      }
      if (wanted.empty()) continue;
      OPTDB_ASSIGN(auto revs, raw_.listRevisions(b));
      for (Rev r : revs) {
        auto t = raw_.getRevision(b, r);
        if (!t || !*t || !wanted.count(**t)) continue;
        evidence[**t].emplace(r, b);
      }
    }
    return evidence;
  }

  // Every repair of one block; `evidence` nullptr on the first pass, where a
  // block needing a sibling's evidence is put off to `deferred`.
  Status repairBlock(const BlockId& id, const Evidence* evidence, std::vector<BlockId>* deferred) {
    OPTDB_ASSIGN(auto m, scanner_.scanBlock(id));
    std::optional<Problem> tipBefore;
    if (dry_) {
      OPTDB_ASSIGN(tipBefore, tipProblem(raw_, m, semanticProblems(m)));
      if (auto ov = overlay_.find(id); ov != overlay_.end()) {
        if (ov->second.meta) {
          m.meta = ov->second.meta;
          m.metaState = MetaState::Ok;
          m.rangesMalformed = false;
          m.dropFileProblems([&](const Problem& p) { return p.path == printable(m.metaPath); });
        }
        for (const auto& [t, r] : ov->second.finished) simulateComplete(m, t, r);
      }
    }
    if (!evidence && !needSiblings(m).empty()) {
      deferred->push_back(id);
      return Status::ok();
    }

    // 1. Stray temporary files.
    for (const auto& t : m.temps) {
      if (!dry_) OPTDB_TRY(removeIfExists(t));
      act(t, action::kRemoveTemp, "removed a stray temporary file");
    }
    m.temps.clear();
    m.dropFileProblems([](const Problem& p) { return p.kind == problem::kTempFile; });

    // 2. meta.json.
    OPTDB_TRY(fixMeta(m));
    // 3. One dialect: the minority's files converted to the block's.
    if (m.metaUsable() && m.dialectsShown.size() > 1) {
      Status s = dry_ ? Status::ok() : raw_.convertBlock(m.id, m.dialect).status();
      if (!s && !isUnfixable(s)) return s;
      if (s) {
        act(m.id, action::kConvertDialect,
            fmt::format("converted the block's files of the other layout generation to its own, {}",
                        namesOf(m.dialect).name));
        if (dry_) {
          m.dialectsShown = {m.dialect};
        } else {
          OPTDB_ASSIGN(m, scanner_.scanBlock(id));
        }
      }
    }
    if (m.metaUsable()) {
      OPTDB_TRY(repairHistory(m, evidence));
    }
    if (dry_) {
      for (const auto& p : m.fileProblems) report_.remaining.push_back(p);
      for (const auto& p : semanticProblems(m)) report_.remaining.push_back(p);
      if (tipBefore) report_.remaining.push_back(*tipBefore);
    }
    return Status::ok();
  }

  // Steps 3–7: interrupted commits, lost revisions, latest, pendings, the tip.
  Status repairHistory(BlockModel& m, const Evidence* evidence) {
    // 3. Interrupted commits, finished from their revision file.
    const auto revs = m.revs;
    const auto first = m.firstNaming();
    for (const auto& [rev, trx] : revs) {
      if (m.committed.count(trx) || !m.pend.count(trx) || first.at(trx) != rev) continue;
      if (!dry_) {
        const bool belowTip = m.meta->latest && m.meta->latest->rev > rev;
        Status s = BlockStorage(m.id, raw_).completeCommit(trx, rev);
        if (!s) {
          if (!isUnfixable(s)) return s;
          continue;  // stays an interrupted commit in `remaining`
        }
        if (belowTip) OPTDB_TRY(reindex(m.id));
      }
      act(m.revFiles.at(rev), action::kFinishCommit,
          fmt::format("finished the interrupted commit of {} at revision {} from its revision file", trx, rev));
      simulateComplete(m, trx, rev);
    }

    // 4. Lost revision files, from certain evidence only.
    std::set<TrxId> named;
    for (const auto& [r, t] : m.revs) named.insert(t);
    const auto committed = m.committed;
    for (const auto& [trx, ref] : committed) {
      if (named.count(trx)) continue;
      std::optional<Rev> rev;
      std::string source;
      const auto& latest = m.meta->latest;
      if (latest && latest->trxId == trx && !m.revFiles.count(latest->rev)) {
        rev = latest->rev;
        source = "meta.json, whose latest names it at that revision";
      } else if (evidence) {
        auto e = evidence->find(trx);
        if (e != evidence->end() && e->second.size() == 1 && !m.revFiles.count(e->second.begin()->first)) {
          rev = e->second.begin()->first;
          source = fmt::format("block {}, another block of the same transaction, which records it there",
                               e->second.begin()->second);
        }
      }
      if (!rev) continue;  // no certain evidence: stays a lost revision
      OPTDB_TRY(writeRevision(m, *rev, trx));
      act(m.revPath(*rev), action::kRebuildRevision,
          fmt::format("wrote the lost revision file of {} at revision {} again, from {}", trx, *rev, source));
      m.revs[*rev] = trx;
      m.revFiles[*rev] = m.revPath(*rev);
      named.insert(trx);
    }

    // 5. latest: the highest complete revision.
    {
      auto high = m.highestComplete();
      std::optional<TrxRev> want;
      if (high) want = TrxRev{high->second, high->first};
      const auto have = m.meta->latest;
      // A latest whose revision file exists but cannot be read stays: bad-json reports the file.
      const bool unreadable = have && m.revFiles.count(have->rev) && !m.revs.count(have->rev);
      if (want != have && !unreadable) {
        BlockMeta meta = *m.meta;
        meta.latest = want;
        if (want && !rangesContain(meta.ranges, want->rev)) {
          meta.ranges.push_back({want->rev, std::nullopt});
          meta.ranges = normalizeRanges(std::move(meta.ranges));
        }
        OPTDB_TRY(writeMeta(m, meta));
        std::string from = have ? fmt::format("revision {} ({})", have->rev, have->trxId) : std::string("none");
        act(m.metaPath, action::kSetLatest,
            want ? fmt::format("set latest to revision {} ({}), the highest complete revision; it was {}", want->rev,
                               want->trxId, from)
                 : fmt::format("removed latest ({}): the block holds no complete revision", from));
        m.meta = meta;
      }
    }

    // 6. Pending files of transactions committed here.
    const auto pend = m.pend;
    for (const auto& [trx, ref] : pend) {
      if (!m.committed.count(trx)) continue;
      if (!dry_) OPTDB_TRY(raw_.deletePending(m.id, trx));
      act(ref.path, action::kRemovePending,
          fmt::format("removed the pending file of {}, which is committed on this block", trx));
      m.pend.erase(trx);
    }

    // 7. The tip's materialization.
    if (const auto& latest = m.meta->latest; latest && !m.mats.count(latest->trxId) && m.committed.count(latest->trxId)) {
      bool wrote = false;
      if (dry_) {
        wrote = !m.deleting.count(latest->trxId);
      } else {
        BlockStorage bs(m.id, raw_);
        auto block = bs.getBlock(std::nullopt);
        if (!block && !isUnfixable(block.status())) return block.status();
        if (block && *block) {
          OPTDB_TRY(raw_.saveMaterialized(m.id, latest->trxId, **block));
          wrote = true;
        }
      }
      if (wrote) {
        const std::string path = m.subPath(FRS::kBlocksSubdir, latest->trxId);
        act(path, action::kWriteTip,
            fmt::format("wrote the materialization of the latest revision {} ({})", latest->rev, latest->trxId));
        m.mats[latest->trxId] = FileRef{path, 0};
      }
    }
    return Status::ok();
  }

  struct Overlay {  // a dry run's record of what intents would have changed on a block
    std::optional<BlockMeta> meta;
    std::vector<std::pair<TrxId, Rev>> finished;
  };

  FileRawStorage& raw_;
  Env& env_;
  bool dry_;
  RepairReport& report_;
  Scanner scanner_;
  std::map<BlockId, Overlay> overlay_;
  std::vector<Problem> failures_;  // blocks repair could not examine or change
};

}  // namespace

// ---------------------------------------------------------------------------

Json Problem::toJson() const {
  Json j = Json::object();
  j["path"] = path;
  j["kind"] = kind;
  j["message"] = message;
  return j;
}

Json RepairAction::toJson() const {
  Json j = Json::object();
  j["path"] = path;
  j["action"] = action;
  j["message"] = message;
  return j;
}

Json RepairReport::toJson() const {
  Json j = Json::object();
  j["actions"] = Json::array();
  for (const auto& a : actions) j["actions"].push_back(a.toJson());
  j["remaining"] = Json::array();
  for (const auto& p : remaining) j["remaining"].push_back(p.toJson());
  return j;
}

Json RevisionSummary::toJson() const {
  Json j = Json::object();
  j["rev"] = rev;
  j["trxId"] = trxId;
  j["materialized"] = materialized;
  j["transformBytes"] = transformBytes;
  return j;
}

Json BlockSummary::toJson() const {
  Json j = Json::object();
  j["blockId"] = printable(blockId);
  j["dialect"] = namesOf(dialect).name;
  j["ranges"] = ranges ? encodeRanges(*ranges) : Json();
  if (latest) j["latest"] = encodeTrxRev(*latest);
  j["revisionCount"] = revisionCount;
  if (firstRev && lastRev) j["revisionSpan"] = Json::array({*firstRev, *lastRev});
  j["pendings"] = pendings;
  j["materialized"] = materialized;
  j["bytes"] = bytes;
  if (revisions) {
    j["revisions"] = Json::array();
    for (const auto& r : *revisions) j["revisions"].push_back(r.toJson());
  }
  return j;
}

Json StoreSummary::toJson() const {
  Json j = Json::object();
  j["blocks"] = blocks;
  j["revisions"] = revisions;
  j["pendings"] = pendings;
  j["bytes"] = bytes;
  j["problems"] = problems;
  return j;
}

Result<CheckResult> checkStore(FileRawStorage& raw, const CheckOptions& options, const ProblemSink& sink) {
  OPTDB_TRY(validateNamed(options.blockIds));
  CheckResult result;
  std::unique_ptr<FileLock> lock;
  OPTDB_ASSIGN(const FileType root, raw.env().fileType(""));
  if (root == FileType::Dir) {
    OPTDB_ASSIGN(lock, lockExclusive(raw, options.lockTimeout, false));
  }
  std::size_t unreadable = 0;
  OPTDB_TRY(runCheck(
      raw, options.blockIds, &result.notFound,
      [&](const Problem& p) {
        ++result.problems;
        sink(p);
      },
      &unreadable));
  // Unreadable is never clean: the problems name each block, the exit is 1.
  if (unreadable)
    return Status::io(fmt::format("{} block{} could not be examined (see the problems reported)", unreadable,
                                  unreadable == 1 ? "" : "s"));
  return result;
}

Result<RepairReport> repairStore(FileRawStorage& raw, const RepairOptions& options) {
  OPTDB_TRY(validateNamed(options.blockIds));
  RepairReport report;
  OPTDB_ASSIGN(const FileType root, raw.env().fileType(""));
  if (root != FileType::Dir) {
    report.notFound = options.blockIds;
    return report;
  }
  OPTDB_ASSIGN(auto lock, lockExclusive(raw, options.lockTimeout, !options.dryRun));
  Repairer repairer(raw, options.dryRun, report);
  if (Status s = repairer.run(options.blockIds); !s) {
    report.remaining.push_back(unreadableProblem(".", s));
    report.examined = false;
    return report;
  }
  // A store at rest is a durable one: a commit whose last rename was visible
  // but not yet durable, which repair found complete, must not step back.
  if (!options.dryRun && raw.syncing()) OPTDB_TRY(raw.env().syncAll());
  return report;
}

Result<SummaryResult> summarizeStore(FileRawStorage& raw, const SummaryOptions& options,
                                     const std::function<void(const BlockSummary&)>& onBlock,
                                     const ProblemSink& onProblem) {
  OPTDB_TRY(validateNamed(options.blockIds));
  SummaryResult result;
  Env& env = raw.env();
  OPTDB_ASSIGN(const FileType root, env.fileType(""));
  if (root != FileType::Dir) {
    result.notFound = options.blockIds;
    return result;
  }
  Scanner scanner(raw, false);
  auto ignore = [](const Problem&) {};
  OPTDB_TRY(visitStore(env, options.blockIds, &result.notFound, ignore, [&](const BlockId& id) -> Status {
    OPTDB_ASSIGN(auto m, scanner.scanBlock(id));
    for (const auto& p : m.fileProblems) {
      if (p.kind != problem::kBadJson && p.kind != problem::kBadMeta) continue;
      ++result.store.problems;
      onProblem(p);
    }
    BlockSummary s;
    s.blockId = id;
    s.dialect = m.dialect;
    if (m.metaUsable()) {
      s.ranges = m.meta->ranges;
      s.latest = m.meta->latest;
    }
    if (options.revisions) s.revisions.emplace();
    const auto first = m.firstNaming();
    for (const auto& [rev, trx] : m.revs) {
      auto c = m.committed.find(trx);
      if (c == m.committed.end() || first.at(trx) != rev) continue;
      ++s.revisionCount;
      if (!s.firstRev) s.firstRev = rev;
      s.lastRev = rev;
      if (s.revisions) s.revisions->push_back({rev, trx, m.mats.count(trx) > 0, c->second.size});
    }
    for (const auto& [trx, ref] : m.pend) s.pendings.push_back(trx);
    s.materialized = m.mats.size();
    s.bytes = m.bytes;
    ++result.store.blocks;
    result.store.revisions += s.revisionCount;
    result.store.pendings += s.pendings.size();
    result.store.bytes += s.bytes;
    onBlock(s);
    return Status::ok();
  }));
  return result;
}

}  // namespace optdb
