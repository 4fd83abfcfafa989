// SPEC §2's paths and names: id and revision encodings, temporary names.
#include "layout.hpp"

#include <unistd.h>

#include <atomic>

#include <fmt/format.h>

namespace optdb::layout {

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

std::string metaPath(const BlockId& id) { return join(id, kMetaFile); }
std::string subdirPath(const BlockId& id, const char* subdir) { return join(id, subdir); }
std::string committedDir(const BlockId& id, Dialect dialect) { return join(id, namesOf(dialect).committedSubdir); }
std::string revPath(const BlockId& id, Rev rev) { return join(subdirPath(id, kRevsSubdir), encodeRevFileName(rev)); }
std::string indexDir(const BlockId& id, Dialect dialect) {
  return dialect == Dialect::Trx ? subdirPath(id, kRevsSubdir) : kIndexesPath;
}
std::string indexName(const BlockId& id, Dialect dialect) { return dialect == Dialect::Trx ? kRevisionIndexFile : id; }
std::string indexPath(const BlockId& id, Dialect dialect) { return join(indexDir(id, dialect), indexName(id, dialect)); }
std::string lockPath(const BlockId& id) { return join(kLocksPath, id); }
std::vector<std::string> lockedPaths(const BlockId& id) { return {id, indexPath(id, Dialect::Actions)}; }

std::string encodeTrxFileName(const TrxId& trxId) {
  std::string out;
  for (char c : trxId) {
    if (c == ':') out += "%3A";
    else out.push_back(c);
  }
  return out + ".json";
}

std::optional<std::string> rawTrxFileName(const TrxId& trxId) {
  if (trxId.find(':') == std::string::npos) return std::nullopt;
  return trxId + ".json";
}

std::optional<TrxId> decodeTrxFileName(const std::string& fileName) {
  if (fileName.size() <= 5 || fileName.compare(fileName.size() - 5, 5, ".json") != 0) return std::nullopt;
  std::string stem = fileName.substr(0, fileName.size() - 5);
  std::string id;
  for (size_t i = 0; i < stem.size(); ++i) {
    if (stem.compare(i, 3, "%3A") == 0 || stem.compare(i, 3, "%3a") == 0) {
      id.push_back(':');
      i += 2;
    } else {
      id.push_back(stem[i]);
    }
  }
  if (!validateTrxId(id, "")) return std::nullopt;
  return id;
}

std::string encodeRevFileName(Rev rev) { return fmt::format("{}.json", rev); }

std::optional<Rev> decodeRevFileName(const std::string& fileName) {
  if (fileName.size() <= 5 || fileName.compare(fileName.size() - 5, 5, ".json") != 0) return std::nullopt;
  std::string_view stem = std::string_view(fileName).substr(0, fileName.size() - 5);
  if (stem.size() > 1 && stem[0] == '0') return std::nullopt;
  auto r = parseRev(stem, "");
  if (!r) return std::nullopt;
  return *r;
}

namespace {

std::uint64_t nextTempSerial() {
  static std::atomic<std::uint64_t> serial{0};
  return serial.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::string tempFileName(const std::string& name, Dialect dialect) {
  if (dialect == Dialect::Actions) return fmt::format("{}.{}.{}.tmp", name, ::getpid(), nextTempSerial());
  return fmt::format(".{}.tmp.{}.{}", name, ::getpid(), nextTempSerial());
}

std::string journalTempName(const std::string& name) {
  return fmt::format(".{}.jtmp.{}.{}", name, ::getpid(), nextTempSerial());
}

bool isTempName(const std::string& name) {
  if (!name.empty() && name[0] == '.') return true;
  // "<final>.<digits>.<digits>.tmp", the final name not empty.
  constexpr std::string_view kSuffix = ".tmp";
  if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return false;
  std::size_t end = name.size() - kSuffix.size();
  for (int field = 0; field < 2; ++field) {
    std::size_t start = end;
    while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9') --start;
    if (start == end || start == 0 || name[start - 1] != '.') return false;
    end = start - 1;
  }
  return end > 0;
}

}  // namespace optdb::layout
