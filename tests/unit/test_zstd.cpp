// zstd streams (issue 16): the writer and the decompressor round-trip any
// text in any pieces, with output handed on in bounded buffers; several
// frames read as one stream; every truncation and a flipped byte are
// InvalidInput; the decompressed-bytes limit holds; every ArchiveReader
// reads a zstd input as it reads the plain one (errors and lines too); and
// restore --dry-run (planRestoreStreams) reports and writes nothing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "optdb/archive.hpp"
#include "optdb/storage_repo.hpp"
#include "optdb/zstd.hpp"
#include "support.hpp"

using namespace optdb;
using optdb::test_support::pieces;
using optdb::test_support::readArchiveIds;
namespace fs = std::filesystem;

namespace {

const char* kGood =
    R"({"blockId":"b1","revisions":{"3":{"trx":{"trxId":"t3","rev":3,"transform":{"insert":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}}},"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":1}},"5":{"trx":{"trxId":"t5","rev":5,"transform":{"updates":[["v",0,0,2]]}}}},"range":[3],"pending":{"p1":{"trxId":"p1","transforms":{"updates":{"b1":[["v",0,0,9]]}}}}})";

// kGood for block "b<i>".
std::string good(int i) {
  return std::regex_replace(std::string(kGood), std::regex("\"b1\""), "\"b" + std::to_string(i) + "\"");
}

// `text` compressed, written in pieces of 1 to `most` bytes; `largestWrite`
// is the largest piece handed to the sink.
std::string compress(const std::string& text, std::size_t most = 1000, std::size_t* largestWrite = nullptr) {
  std::string out;
  std::size_t largest = 0;
  auto w = ZstdWriter::open([&](std::string_view d) {
    largest = std::max(largest, d.size());
    out.append(d);
    return Status::ok();
  });
  REQUIRE(w.isOk());
  std::mt19937 rng(7);
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t n = std::min(text.size() - pos, std::size_t(1 + rng() % most));
    REQUIRE((*w)->write(std::string_view(text).substr(pos, n)).isOk());
    pos += n;
  }
  REQUIRE((*w)->finish().isOk());
  if (largestWrite) *largestWrite = largest;
  return out;
}

// Everything a reader gives, read `most` bytes at most at a time.
Result<std::string> drain(ByteReadFn read, std::size_t most = 1 << 16) {
  std::string out;
  std::vector<char> buf(most);
  for (;;) {
    OPTDB_ASSIGN(const std::size_t n, read(buf.data(), buf.size()));
    if (n == 0) return out;
    out.append(buf.data(), n);
  }
}

std::string decompress(const std::string& z, std::size_t inMost = 4096, std::size_t outMost = 1 << 16) {
  auto r = drain(zstdDecompressor({}, pieces(z, inMost, 3), "in.zst"), outMost);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  return *r;
}

StoreOptions fast() {
  StoreOptions o;
  o.layout = Dialect::Trx;
  o.sync = false;
  o.lockTimeout = 5;
  return o;
}

}  // namespace

TEST_CASE("zstd: writer and decompressor round-trip any text in any pieces") {
  std::mt19937 rng(11);
  std::string text;
  for (int i = 0; i < 60000; ++i) text += "line " + std::to_string(rng() % 1000) + " of some archive text\n";
  std::size_t largest = 0;
  const std::string z = compress(text, 5000, &largest);
  CHECK(startsWithZstdMagic(z));
  CHECK(z.size() * 4 < text.size());
  CHECK(largest <= 256 * 1024);  // handed on in bounded buffers, never the whole
  CHECK(decompress(z) == text);
  CHECK(decompress(z, 1, 7) == text);      // a byte at a time in, 7 out
  CHECK(decompress(z, 1 << 20, 1) == text);  // a byte at a time out
  // A prefix already read, then the rest.
  auto r = drain(zstdDecompressor(z.substr(0, 10), pieces(z.substr(10), 100, 5), "in.zst"));
  REQUIRE(r.isOk());
  CHECK(*r == text);
  // An empty frame is an empty stream; frames one after another read as one.
  CHECK(decompress(compress("")).empty());
  CHECK(decompress(compress("abc\n") + compress("") + compress("def\n")) == "abc\ndef\n");
}

TEST_CASE("zstd: a truncated or corrupt stream is InvalidInput, a stream above the limit an I/O error") {
  const std::string text = std::string(3000, 'a') + "tail\n";
  const std::string z = compress(text);
  for (std::size_t n = 0; n < z.size(); ++n) {
    auto r = drain(zstdDecompressor({}, pieces(z.substr(0, n), 3, unsigned(n)), "cut.zst"));
    INFO(n);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == Code::InvalidInput);
    CHECK_THAT(r.status().message(), Catch::StartsWith("cut.zst: truncated zstd stream") ||
                                         Catch::StartsWith("cut.zst: corrupt zstd stream"));
  }
  auto cut = drain(zstdDecompressor({}, pieces(z.substr(0, z.size() - 1), 3, 1), "cut.zst"));
  CHECK(cut.status().message() == "cut.zst: truncated zstd stream: it ends inside a frame");
  for (std::size_t at : {std::size_t(6), z.size() / 2, z.size() - 2}) {
    std::string bad = z;
    bad[at] = char(bad[at] ^ 0x55);
    auto r = drain(zstdDecompressor({}, pieces(bad, 100, 1), "bad.zst"));
    INFO(at);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == Code::InvalidInput);
  }
  auto trailing = drain(zstdDecompressor({}, pieces(z + "junk", 100, 1), "t.zst"));
  CHECK(trailing.status().code() == Code::InvalidInput);
  auto over = drain(zstdDecompressor({}, pieces(z, 100, 1), "its output", text.size() - 1, "LIMIT"));
  CHECK(over.status().code() == Code::IoError);
  CHECK(over.status().message() == fmt::format("its output: decompressed, it exceeds LIMIT ({} bytes)", text.size() - 1));
  auto fits = drain(zstdDecompressor({}, pieces(z, 100, 1), "its output", text.size(), "LIMIT"));
  CHECK(fits.isOk());
}

TEST_CASE("zstd: an ArchiveReader reads a zstd input as it reads the plain one") {
  std::string plain = "\xEF\xBB\xBF";  // a byte order mark inside the stream is one too
  for (int i = 0; i < 300; ++i) plain += good(i) + "\n";
  plain += "[" + good(900) + "," + good(901) + "]\n";
  const std::string z = compress(plain);
  const std::string want = readArchiveIds(ArchiveReader(plain, "in"));
  CHECK(want.find("error") == std::string::npos);
  CHECK(readArchiveIds(ArchiveReader(z, "in")) == want);
  CHECK(readArchiveIds(ArchiveReader(pieces(z, 1, 1), "in")) == want);  // even the magic a byte at a time
  CHECK(readArchiveIds(ArchiveReader(pieces(z, 9000, 2), "in")) == want);
  auto all = readArchives(z, "in");
  REQUIRE(all.isOk());
  CHECK(all->size() == 302);
  // Errors name the decompressed line, as over the plain text.
  const std::string bad = plain + good(1).substr(0, 40) + "\n";
  const std::string badWant = readArchiveIds(ArchiveReader(bad, "in"));
  CHECK_THAT(badWant, Catch::Contains("error: in: line 302: truncated JSON"));
  CHECK(readArchiveIds(ArchiveReader(pieces(compress(bad), 500, 3), "in")) == badWant);
  // A stream cut short is the zstd error, whatever JSON it cut.
  CHECK_THAT(readArchiveIds(ArchiveReader(z.substr(0, z.size() / 2), "in")),
             Catch::EndsWith("error: in: truncated zstd stream: it ends inside a frame"));
  // The limit applies to what the reader decompresses.
  ArchiveReader limited(pieces(z, 500, 4), "its output");
  limited.limitDecompressed(plain.size() / 2, "OPTDB_RESTORE_MAX_BYTES");
  CHECK_THAT(readArchiveIds(std::move(limited)), Catch::Contains("decompressed, it exceeds OPTDB_RESTORE_MAX_BYTES"));
  // Four bytes that are not the magic are plain input.
  CHECK_THAT(readArchiveIds(ArchiveReader(std::string("\x28\xB5\x2F", 3), "in")), Catch::Contains("expected an archive"));
}

TEST_CASE("zstd: restore --dry-run reports and writes nothing, and a zstd restore equals a plain one") {
  test_support::ScratchDir dir("zstd-test");
  std::string plain;
  for (int i = 0; i < 20; ++i) plain += good(i) + "\n";
  std::ofstream(dir / "in.zst", std::ios::binary) << compress(plain);
  auto plan = [&](const std::string& store) {
    int fd = ::open((dir / "in.zst").c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    auto repo = openStore(store, fast());
    auto r = planRestoreStreams(repo->raw(), {{"in.zst", fd}}, 5);
    ::close(fd);
    INFO(r.status().message());
    REQUIRE(r.isOk());
    return std::move(r).value();
  };
  const RestorePlan fresh = plan(dir / "store");
  CHECK_FALSE(fs::exists(dir / "store"));
  REQUIRE(fresh.archives.size() == 20);
  CHECK(fresh.summary.restored.size() == 20);
  CHECK(fresh.archives[0].writeRevisions == 2);
  CHECK(fresh.archives[0].writePendings == 1);
  CHECK(fresh.archives[0].writeMeta);
  CHECK(fresh.archives[0].where == "in.zst: line 1");
  CHECK(fresh.exitCode() == Code::Ok);
  {
    int fd = ::open((dir / "in.zst").c_str(), O_RDONLY);
    auto repo = openStore(dir / "store", fast());
    auto r = restoreArchiveStreams(repo->raw(), {{"in.zst", fd}}, 5, dir.path.string());
    ::close(fd);
    REQUIRE(r.isOk());
    CHECK(r->restored.size() == 20);
    CHECK(test_support::readBlock(*repo, "b7") == test_support::readBlock(*repo, "b7", 5));
  }
  const auto before = test_support::fileBytes(dir / "store/b3/meta.json");
  const RestorePlan again = plan(dir / "store");
  CHECK(test_support::fileBytes(dir / "store/b3/meta.json") == before);
  REQUIRE(again.archives.size() == 20);
  CHECK(again.archives[3].writeRevisions == 0);
  CHECK(again.archives[3].skipRevisions == 2);
  CHECK(again.archives[3].skipPendings == 1);
  CHECK_FALSE(again.archives[3].writeMeta);
  CHECK(toJson(again.toJson()).rfind(R"({"dryRun":true,"restored":["b0","b1",)", 0) == 0);
}
