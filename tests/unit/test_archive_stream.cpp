// Reading archives as a stream (issue 5): the reader over a stream finds what
// it finds over the whole text (errors and their lines too), whatever the
// pieces the bytes come in; its memory is bounded by one line, not the input;
// restore from descriptors validates everything first (a pipe spooled to a
// temporary file, a file read twice from where it started) and leaves no
// temporary file behind.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "optdb/archive.hpp"
#include "optdb/file_raw_storage.hpp"
#include "support.hpp"
#include "optdb/storage_repo.hpp"

using namespace optdb;
using optdb::test_support::pieces;
using optdb::test_support::readArchiveIds;
using optdb::test_support::parse;
using optdb::test_support::readBlock;
namespace fs = std::filesystem;

namespace {

struct TempDir : test_support::ScratchDir {
  TempDir() : ScratchDir("archive-stream-test") {}
};

const char* kGood =
    R"({"blockId":"b1","revisions":{"3":{"trx":{"trxId":"t3","rev":3,"transform":{"insert":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}}},"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}},"5":{"trx":{"trxId":"t5","rev":5,"transform":{"updates":[["v",0,0,2]]}}}},"range":[3],"pending":{"p1":{"trxId":"p1","transforms":{"updates":{"b1":[["v",0,0,9]],"b9":[["v",0,0,9]]}}}}})";

// kGood for block `id`.
std::string good(const std::string& id) { return std::regex_replace(std::string(kGood), std::regex("\"b1\""), "\"" + id + "\""); }

long peakRssKb() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

StoreOptions fast() {
  StoreOptions o;
  o.layout = Dialect::Trx;  // these tests read the trx dialect's files
  o.sync = false;
  o.lockTimeout = 5;
  return o;
}

}  // namespace

TEST_CASE("archive stream: the reader over a stream gives what it gives over the text, in any pieces") {
  std::string one = good("b1"), two = good("b2");
  std::string pretty = toJson(Json::parse(one), true);
  std::vector<std::string> inputs = {
      one + "\n" + two + "\n",
      one,
      "\xEF\xBB\xBF" + one + "\r\n" + two,
      "\n  " + pretty + "\n",
      "[" + one + ",\n" + two + "]\n",
      pretty + "\n" + "[" + one + "]" + "\r\n" + two + "\n\n",
      " \n\n",
      "",
      one + "\n" + one.substr(0, one.size() / 2) + "\n",
      one + "\n" + one.substr(0, 40) + "\n" + one + "\n",
      one + "\n{\"blockId\":\"b1\",}\n",
      "hello\n",
      one + "}\n",
      "[" + one + ",{}]",
      two + "\n" + std::string(300000, ' ') + "\n" + one + "\n",  // a long run of blanks
      std::string(5000, '\n') + one + "\n" + R"({"s":"\"}{[","blockId":1})" + "\n",
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& text = inputs[i];
    std::string want = readArchiveIds(ArchiveReader(std::string_view(text), "in"));
    for (std::size_t most : {1, 7, 4096, 1 << 20}) {
      INFO("input " << i << ", pieces of at most " << most);
      CHECK(readArchiveIds(ArchiveReader(pieces(text, most, unsigned(i)), "in")) == want);
    }
  }
  // A read error ends the reading with that error.
  ArchiveReader failing([](char*, std::size_t) -> Result<std::size_t> { return Status::io("disk on fire"); }, "in");
  auto r = failing.next();
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == Code::IoError);
}

TEST_CASE("archive stream: the reader's memory is bounded by a line, not by the input") {
  // 64 MB of NDJSON, made as it is read: never whole in memory here either.
  std::string line = good("b1") + "\n";
  const std::size_t lines = (64u << 20) / line.size(), total = lines * line.size();
  std::size_t produced = 0, linePos = 0;
  ArchiveReader reader(
      [&](char* buf, std::size_t size) -> Result<std::size_t> {
        std::size_t n = 0;
        while (n < size && produced < total) {
          std::size_t k = std::min(size - n, line.size() - linePos);
          std::memcpy(buf + n, line.data() + linePos, k);
          n += k;
          produced += k;
          linePos = (linePos + k) % line.size();
        }
        return n;
      },
      "big");
  const long before = peakRssKb();
  std::size_t count = 0;
  for (;;) {
    auto a = reader.next();
    INFO(a.status().message());
    REQUIRE(a.isOk());
    if (!*a) break;
    ++count;
  }
  CHECK(count == lines);
  INFO("peak RSS grew by " << (peakRssKb() - before) << " KB");
  CHECK(peakRssKb() - before < 16 * 1024);
}

TEST_CASE("archive stream: restore from a pipe validates everything first and leaves no temporary file") {
  TempDir dir;
  const std::string spool = dir / "spool";
  fs::create_directories(spool);
  auto restoreFromPipe = [&](const std::string& store, const std::string& text) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::thread writer([&text, fd = fds[1]] {  // more than a pipe holds: written while read
      std::size_t done = 0;
      while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0) break;
        done += std::size_t(n);
      }
      ::close(fd);
    });
    auto repo = openStore(store, fast());
    auto r = restoreArchiveStreams(repo->raw(), {{"stdin", fds[0]}}, 5, spool);
    writer.join();
    ::close(fds[0]);
    return r;
  };
  // Many archives, the bad one last: nothing written, not even the store directory.
  std::string text;
  for (int i = 0; i < 2000; ++i) text += good("b" + std::to_string(i)) + "\n";
  auto bad = restoreFromPipe(dir / "none", text + R"({"blockId":"x","revisions":{},"range":[0],})" + "\n");
  REQUIRE_FALSE(bad.isOk());
  CHECK(bad.status().code() == Code::InvalidInput);
  CHECK_THAT(bad.status().message(), Catch::StartsWith("stdin: line 2001:"));
  CHECK_FALSE(fs::exists(dir / "none"));
  CHECK(fs::is_empty(spool));
  // The same without it: all restored, read back from the spool.
  auto ok = restoreFromPipe(dir / "store", text);
  INFO(ok.status().message());
  REQUIRE(ok.isOk());
  CHECK(ok->restored.size() == 2000);
  CHECK(ok->rejected.empty());
  CHECK(fs::exists(dir / "store/b1999/meta.json"));
  CHECK(fs::is_empty(spool));
  // Twice changes nothing.
  auto again = restoreFromPipe(dir / "store", text);
  REQUIRE(again.isOk());
  CHECK(again->restored.size() == 2000);
}

TEST_CASE("archive stream: restore reads a file twice from where its descriptor stood") {
  TempDir dir;
  std::string first = good("skipped") + "\n";
  writeFile(dir / "in.ndjson", first + good("b1") + "\n" + good("b2") + "\n");
  int fd = ::open((dir / "in.ndjson").c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::lseek(fd, off_t(first.size()), SEEK_SET) == off_t(first.size()));
  auto repo = openStore(dir / "store", fast());
  // An empty input (-1) beside it is no archive.
  auto r = restoreArchiveStreams(repo->raw(), {{"in.ndjson", fd}, {"stdin", -1}}, 5, dir / "unused");
  ::close(fd);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(r->restored == std::vector<BlockId>{"b1", "b2"});
  CHECK_FALSE(fs::exists(dir / "store/skipped"));
  // Errors name the file and the line counted from where reading began.
  writeFile(dir / "bad.ndjson", good("b3") + "\nhello\n");
  int bfd = ::open((dir / "bad.ndjson").c_str(), O_RDONLY);
  auto b = restoreArchiveStreams(repo->raw(), {{"bad.ndjson", bfd}}, 5, dir / "unused");
  ::close(bfd);
  REQUIRE_FALSE(b.isOk());
  CHECK_THAT(b.status().message(), Catch::StartsWith("bad.ndjson: line 2:"));
  CHECK_FALSE(fs::exists(dir / "store/b3"));
}

namespace {

// The archive of block `id` that conflicts with good(id): another transform at revision 3.
std::string rival(const std::string& id) {
  return std::regex_replace(good(id), std::regex("\"v\":1\\}\\}\\},\"block\":\\{([^}]*)\\},\"v\":1"),
                            "\"v\":7}}},\"block\":{$1},\"v\":7");
}

// Restores `text` (a file) into a new store at `store` with `jobs` threads.
Result<RestoreSummary> restoreWith(const std::string& store, const std::string& file, unsigned jobs, bool sync) {
  StoreOptions o = fast();
  o.sync = sync;
  auto repo = openStore(store, o);
  RestoreThreads threads;
  threads.jobs = jobs;
  threads.open = [&]() -> Result<std::shared_ptr<RawStorage>> {
    return std::shared_ptr<RawStorage>(std::make_shared<FileRawStorage>(newPosixEnv(store), sync, Dialect::Trx));
  };
  int fd = ::open(file.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  auto r = restoreArchiveStreams(repo->raw(), {{"in.ndjson", fd}}, 5, store + ".spool", {}, threads);
  ::close(fd);
  return r;
}

// A store's files, .optdb (locks, journal) left out.
std::map<std::string, std::string> blockFiles(const std::string& store) {
  auto env = newPosixEnv(store);
  auto all = test_support::envTree(*env, true);
  std::map<std::string, std::string> out;
  for (auto& [k, v] : all)
    if (k.rfind(".optdb", 0) != 0) out[k] = std::move(v);
  return out;
}

}  // namespace

TEST_CASE("archive stream: restore in parallel leaves what one thread leaves, outcomes in input order") {
  TempDir dir;
  // Each block twice, in both orders: the archive that comes first is
  // restored and the other rejected, so a block's archives applied out of
  // input order would show.
  std::string text;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "b" + std::to_string(i);
    text += i % 2 ? good(id) + "\n" + rival(id) + "\n" : rival(id) + "\n" + good(id) + "\n";
  }
  writeFile(dir / "in.ndjson", text);
  for (bool sync : {false, true}) {
    INFO("sync " << sync);
    const std::string one = dir / (sync ? "one-sync" : "one"), three = dir / (sync ? "three-sync" : "three");
    auto a = restoreWith(one, dir / "in.ndjson", 1, sync);
    auto b = restoreWith(three, dir / "in.ndjson", 3, sync);
    INFO(a.status().message() << " / " << b.status().message());
    REQUIRE(a.isOk());
    REQUIRE(b.isOk());
    CHECK(a->restored.size() == 40);
    CHECK(a->rejected.size() == 40);
    CHECK(toJson(b->toJson()) == toJson(a->toJson()));
    CHECK(blockFiles(three) == blockFiles(one));
    // The conflicting archive is the one that came second.
    CHECK(readBlock(*openStore(three, fast()), "b1", 3) == readBlock(*openStore(one, fast()), "b1", 3));
    CHECK(parse(readBlock(*openStore(three, fast()), "b0", 3))["v"] == 7);
    CHECK(parse(readBlock(*openStore(three, fast()), "b1", 3))["v"] == 1);
  }
}

TEST_CASE("archive stream: a parallel restore that fails on one block stops, and what it restored is whole") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 30; ++i) text += good("b" + std::to_string(i)) + "\n";
  writeFile(dir / "in.ndjson", text);
  const std::string store = dir / "s";
  // b7's meta.json is a directory: restoring b7 fails.
  fs::create_directories(store + "/b7/meta.json");
  auto r = restoreWith(store, dir / "in.ndjson", 2, true);
  REQUIRE_FALSE(r.isOk());
  CHECK_THAT(r.status().message(), Catch::Contains("b7/meta.json"));
  // Every block the lanes got to before they stopped is whole: read back as restored.
  auto repo = openStore(store, fast());
  int whole = 0;
  for (int i = 0; i < 30; ++i) {
    if (i == 7 || !fs::exists(store + "/b" + std::to_string(i) + "/meta.json")) continue;
    CHECK(parse(readBlock(*repo, "b" + std::to_string(i)))["v"] == 2);
    ++whole;
  }
  CHECK(whole > 0);
  CHECK(whole < 29);  // it stopped: not every block was restored
}
