// The Env contract (optdb/env.hpp), written once and run against both
// implementations: a fresh MemEnv, and a PosixEnv rooted in a fresh mkdtemp
// directory (removed afterwards). Where the two legitimately differ, a case
// asserts each one's own documented behaviour and says so in a comment.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "optdb/env.hpp"
#include "optdb/mem_env.hpp"
#include "support.hpp"

using namespace optdb;
using optdb::test_support::slurp;
using optdb::test_support::TempDir;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace Catch {
template <>
struct StringMaker<optdb::Code> {
  static std::string convert(optdb::Code c) {
    switch (c) {
      case optdb::Code::Ok: return "Ok";
      case optdb::Code::IoError: return "IoError";
      case optdb::Code::InvalidInput: return "InvalidInput";
      case optdb::Code::NotFound: return "NotFound";
      case optdb::Code::Stale: return "Stale";
      case optdb::Code::PendingConflict: return "PendingConflict";
      case optdb::Code::Integrity: return "Integrity";
      case optdb::Code::LockTimeout: return "LockTimeout";
    }
    return "Code(" + std::to_string(static_cast<int>(c)) + ")";
  }
};
template <>
struct StringMaker<optdb::FileType> {
  static std::string convert(optdb::FileType t) {
    switch (t) {
      case optdb::FileType::None: return "None";
      case optdb::FileType::File: return "File";
      case optdb::FileType::Dir: return "Dir";
      case optdb::FileType::Symlink: return "Symlink";
      case optdb::FileType::Other: return "Other";
    }
    return "FileType(?)";
  }
};
}  // namespace Catch

// Requires a Status or Result to be Ok, showing its message when it is not.
#define REQUIRE_OK(expr)                  \
  do {                                    \
    const ::optdb::Status s_ = (expr).status(); \
    INFO(#expr << ": " << s_.message());  \
    REQUIRE(s_.isOk());                   \
  } while (0)

namespace {

enum class Kind { Mem, Posix };

// One Env under test, fresh for every run of a case.
struct Subject {
  Kind kind;
  std::unique_ptr<TempDir> outer;  // PosixEnv only: holds root/ and, unless something escaped, nothing else
  std::string root;                // PosixEnv only: the Env's root on disk
  std::unique_ptr<Env> env;        // destroyed before `outer` (members go in reverse order)
  MemEnv* mem = nullptr;           // MemEnv only

  explicit Subject(Kind k) : kind(k) {
    if (k == Kind::Mem) {
      auto m = std::make_unique<MemEnv>();
      mem = m.get();
      env = std::move(m);
    } else {
      outer = std::make_unique<TempDir>("env");
      root = outer->path() + "/root";
      REQUIRE(::mkdir(root.c_str(), 0755) == 0);
      env = newPosixEnv(root);
      REQUIRE(env != nullptr);
    }
  }
  bool posix() const { return kind == Kind::Posix; }
  const char* name() const { return posix() ? "PosixEnv" : "MemEnv"; }
  std::string onDisk(const std::string& rel) const { return root + "/" + rel; }

  // A symbolic link at `path`. PosixEnv: a real one to `target`; MemEnv models
  // a link without a target (addSymlink), since it never follows one.
  void symlink(const std::string& path, const std::string& target) {
    if (posix()) {
      REQUIRE(::symlink(target.c_str(), onDisk(path).c_str()) == 0);
    } else {
      mem->addSymlink(path);
    }
  }
  // A FIFO at `path` (MemEnv: its special-file node, documented as a FIFO or device).
  void fifo(const std::string& path) {
    if (posix()) {
      REQUIRE(::mkfifo(onDisk(path).c_str(), 0644) == 0);
    } else {
      mem->addSpecialFile(path);
    }
  }
};

Kind anyKind() { return GENERATE(Kind::Mem, Kind::Posix); }

// Creates (or truncates) `path` with `data`, synced and closed.
Status put(Env& env, const std::string& path, std::string_view data) {
  auto f = env.newWritableFile(path);
  if (!f) return f.status();
  if (Status s = (*f)->append(data); !s) return s;
  if (Status s = (*f)->sync(); !s) return s;
  return (*f)->close();
}

std::string read(Env& env, const std::string& path) {
  auto r = env.readFile(path);
  INFO("readFile " << path << ": " << r.status().message());
  REQUIRE(r.isOk());
  return *r;
}

FileType typeOf(Env& env, const std::string& path) {
  auto t = env.fileType(path);
  INFO("fileType " << path << ": " << t.status().message());
  REQUIRE(t.isOk());
  return *t;
}

std::map<std::string, FileType> listing(Env& env, const std::string& dir) {
  auto l = env.listDir(dir);
  INFO("listDir " << dir << ": " << l.status().message());
  REQUIRE(l.isOk());
  std::map<std::string, FileType> out;
  for (const auto& e : *l) {
    INFO("duplicate entry " << e.name);
    CHECK(out.emplace(e.name, e.type).second);
  }
  return out;
}

std::set<std::string> namesOnDisk(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("Env: readFile returns what newWritableFile wrote, a missing file is NotFound") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  const std::string binary("bytes\0with a NUL\xff", 18);
  REQUIRE_OK(put(env, "a", binary));
  CHECK(read(env, "a") == binary);
  if (s.posix()) CHECK(slurp(s.onDisk("a")) == binary);  // PosixEnv: really on disk, under the root

  REQUIRE_OK(put(env, "empty", ""));
  CHECK(read(env, "empty").empty());
  CHECK(typeOf(env, "empty") == FileType::File);

  // More than one read buffer of PosixEnv (16 KiB), not a multiple of it.
  std::string big(100000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  REQUIRE_OK(put(env, "big", big));
  CHECK(read(env, "big") == big);

  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(put(env, "d/nested", "n"));
  CHECK(read(env, "d/nested") == "n");

  auto missing = env.readFile("missing");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.status().code() == Code::NotFound);
  auto missingDir = env.readFile("nodir/missing");
  REQUIRE_FALSE(missingDir.isOk());
  CHECK(missingDir.status().code() == Code::NotFound);
  auto ra = env.newRandomAccessFile("missing");
  REQUIRE_FALSE(ra.isOk());
  CHECK(ra.status().code() == Code::NotFound);

  // Creating a file in a directory that does not exist creates nothing.
  auto noDir = env.newWritableFile("nodir/f");
  REQUIRE_FALSE(noDir.isOk());
  CHECK(noDir.status().code() == Code::NotFound);
  CHECK(typeOf(env, "nodir") == FileType::None);
}

TEST_CASE("Env: newWritableFile appends, syncs, closes and truncates an existing file") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  auto f = env.newWritableFile("w");
  REQUIRE_OK(f);
  CHECK(typeOf(env, "w") == FileType::File);  // created at once
  CHECK(read(env, "w").empty());
  REQUIRE_OK((*f)->append("ab"));
  REQUIRE_OK((*f)->append(""));
  REQUIRE_OK((*f)->append("cd"));
  CHECK(read(env, "w") == "abcd");  // appends are visible before a sync, in both
  REQUIRE_OK((*f)->sync());
  REQUIRE_OK((*f)->append("e"));
  REQUIRE_OK((*f)->sync());
  REQUIRE_OK((*f)->close());
  CHECK(read(env, "w") == "abcde");
  auto size = env.fileSize("w");
  REQUIRE_OK(size);
  CHECK(*size == 5);

  // Truncates: the new file starts empty, whatever was there.
  auto g = env.newWritableFile("w");
  REQUIRE_OK(g);
  CHECK(read(env, "w").empty());
  REQUIRE_OK((*g)->append("x"));
  REQUIRE_OK((*g)->close());
  CHECK(read(env, "w") == "x");
}

TEST_CASE("Env: newAppendableFile appends to a regular file, NotFound when missing, Integrity otherwise") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "log", "one"));
  {
    auto a = env.newAppendableFile("log");
    REQUIRE_OK(a);
    REQUIRE_OK((*a)->append("two"));
    REQUIRE_OK((*a)->sync());
    REQUIRE_OK((*a)->close());
  }
  CHECK(read(env, "log") == "onetwo");
  {
    auto a = env.newAppendableFile("log");
    REQUIRE_OK(a);
    REQUIRE_OK((*a)->append("3"));
    REQUIRE_OK((*a)->close());
  }
  CHECK(read(env, "log") == "onetwo3");

  auto missing = env.newAppendableFile("missing");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.status().code() == Code::NotFound);
  CHECK(typeOf(env, "missing") == FileType::None);  // not created

  REQUIRE_OK(env.createDir("dir"));
  auto dir = env.newAppendableFile("dir");
  REQUIRE_FALSE(dir.isOk());
  CHECK(dir.status().code() == Code::Integrity);

  REQUIRE_OK(put(env, "target", "t"));
  s.symlink("link", "target");
  auto link = env.newAppendableFile("link");
  REQUIRE_FALSE(link.isOk());
  CHECK(link.status().code() == Code::Integrity);
  CHECK(read(env, "target") == "t");

  // A FIFO without a reader: refused at once rather than blocking the open.
  s.fifo("fifo");
  auto fifo = env.newAppendableFile("fifo");
  REQUIRE_FALSE(fifo.isOk());
  CHECK(fifo.status().code() == Code::Integrity);

  if (s.posix()) {
    // PosixEnv: appending through a hard link would change the file under its other name too.
    REQUIRE(::link(s.onDisk("log").c_str(), s.onDisk("other").c_str()) == 0);
    auto hard = env.newAppendableFile("log");
    REQUIRE_FALSE(hard.isOk());
    CHECK(hard.status().code() == Code::Integrity);
    CHECK_THAT(hard.status().message(), Contains("hard link"));
    CHECK(read(env, "other") == "onetwo3");
    // With the other name gone it is appendable again.
    REQUIRE_OK(env.removeFile("other"));
    REQUIRE_OK(env.newAppendableFile("log"));
  }
  // MemEnv models no hard links (Env::linkCount's default, 1), so there is no such case for it.
}

TEST_CASE("Env: rename replaces the target, the old file untouched and the source name gone") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "dst", "old"));
  REQUIRE_OK(put(env, "dst.tmp", "new"));
  // A reader of the old file keeps the old bytes: the rename replaces the name, it never rewrites the file.
  auto before = env.newRandomAccessFile("dst");
  REQUIRE_OK(before);

  REQUIRE_OK(env.rename("dst.tmp", "dst"));
  CHECK(read(env, "dst") == "new");
  CHECK(typeOf(env, "dst.tmp") == FileType::None);
  CHECK(listing(env, "") == std::map<std::string, FileType>{{"dst", FileType::File}});
  auto old = (*before)->read(0, 100);
  REQUIRE_OK(old);
  CHECK(*old == "old");

  // To a new name, and across directories.
  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(env.rename("dst", "d/moved"));
  CHECK(read(env, "d/moved") == "new");
  CHECK(typeOf(env, "dst") == FileType::None);
  REQUIRE_OK(env.rename("d/moved", "back"));
  CHECK(read(env, "back") == "new");
  CHECK(listing(env, "d").empty());

  // A directory is renamed with its contents.
  REQUIRE_OK(put(env, "d/x", "x"));
  REQUIRE_OK(env.rename("d", "e"));
  CHECK(typeOf(env, "d") == FileType::None);
  CHECK(read(env, "e/x") == "x");

  auto missing = env.rename("missing", "back");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.code() == Code::NotFound);
  CHECK(read(env, "back") == "new");  // the target of a failed rename is kept

  auto noDir = env.rename("back", "nodir/x");
  REQUIRE_FALSE(noDir.isOk());
  CHECK(noDir.code() == Code::NotFound);
  CHECK(read(env, "back") == "new");
}

TEST_CASE("Env: removeFile and removeDir, NotFound when missing, a non-empty directory stays") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "f", "data"));
  REQUIRE_OK(env.removeFile("f"));
  CHECK(typeOf(env, "f") == FileType::None);
  auto again = env.removeFile("f");
  REQUIRE_FALSE(again.isOk());
  CHECK(again.code() == Code::NotFound);
  auto inMissingDir = env.removeFile("nodir/f");
  REQUIRE_FALSE(inMissingDir.isOk());
  CHECK(inMissingDir.code() == Code::NotFound);

  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(put(env, "d/x", "x"));
  auto notEmpty = env.removeDir("d");
  REQUIRE_FALSE(notEmpty.isOk());
  CHECK(notEmpty.code() == Code::IoError);  // "an error when not empty": both give IoError
  CHECK(typeOf(env, "d") == FileType::Dir);
  CHECK(read(env, "d/x") == "x");

  REQUIRE_OK(env.removeFile("d/x"));
  REQUIRE_OK(env.removeDir("d"));
  CHECK(typeOf(env, "d") == FileType::None);
  auto dirAgain = env.removeDir("d");
  REQUIRE_FALSE(dirAgain.isOk());
  CHECK(dirAgain.code() == Code::NotFound);

  // removeDir of a file is an error and leaves the file.
  REQUIRE_OK(put(env, "g", "g"));
  auto fileAsDir = env.removeDir("g");
  REQUIRE_FALSE(fileAsDir.isOk());
  CHECK(fileAsDir.code() == Code::IoError);
  CHECK(read(env, "g") == "g");

  // removeFile of a symbolic link removes the link, never what it names.
  s.symlink("link", "g");
  REQUIRE_OK(env.removeFile("link"));
  CHECK(typeOf(env, "link") == FileType::None);
  CHECK(read(env, "g") == "g");

  // removeFile is unlink(2), which refuses a directory (MemEnv's once removed
  // one, even non-empty, with its contents).
  REQUIRE_OK(env.createDir("e"));
  REQUIRE_OK(put(env, "e/f", "f"));
  auto dirAsFile = env.removeFile("e");
  REQUIRE_FALSE(dirAsFile.isOk());
  CHECK(dirAsFile.code() == Code::IoError);
  CHECK(typeOf(env, "e") == FileType::Dir);
  CHECK(read(env, "e/f") == "f");
  // Nor does rename put a file in a directory's place.
  CHECK(env.rename("g", "e").code() == Code::IoError);
  CHECK(read(env, "g") == "g");
}

TEST_CASE("Env: createDir is idempotent and listDir gives every entry with its type") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(env.createDir(""));
  CHECK(listing(env, "").empty());
  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(env.createDir("d"));  // Ok when it exists already
  REQUIRE_OK(env.createDir("d/e"));
  if (s.posix()) CHECK(fs::is_directory(fs::symlink_status(s.onDisk("d/e"))));

  auto noParent = env.createDir("x/y");
  REQUIRE_FALSE(noParent.isOk());
  CHECK(noParent.code() == Code::NotFound);
  CHECK(typeOf(env, "x") == FileType::None);

  REQUIRE_OK(put(env, "f", "file"));
  auto overFile = env.createDir("f");
  REQUIRE_FALSE(overFile.isOk());
  CHECK(overFile.code() == Code::Integrity);
  CHECK(read(env, "f") == "file");

  s.symlink("ln", "d");
  s.fifo("p");
  // listDir never follows the link: "ln" is a Symlink, not the Dir it names.
  CHECK(listing(env, "") == std::map<std::string, FileType>{
                                {"d", FileType::Dir}, {"f", FileType::File}, {"ln", FileType::Symlink}, {"p", FileType::Other}});
  CHECK(listing(env, "d") == std::map<std::string, FileType>{{"e", FileType::Dir}});
  CHECK(listing(env, "d/e").empty());

  // createDir over a link is refused too (a directory is never made through or instead of one).
  auto overLink = env.createDir("ln");
  REQUIRE_FALSE(overLink.isOk());
  CHECK(overLink.code() == Code::Integrity);

  auto missing = env.listDir("missing");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.status().code() == Code::NotFound);
  auto ofFile = env.listDir("f");
  REQUIRE_FALSE(ofFile.isOk());
  CHECK(ofFile.status().code() == Code::Integrity);
  // Listing a link is refused, with Integrity in both (PosixEnv: "refusing to
  // follow a symbolic link"; MemEnv: "expected a directory").
  auto ofLink = env.listDir("ln");
  REQUIRE_FALSE(ofLink.isOk());
  CHECK(ofLink.status().code() == Code::Integrity);
}

TEST_CASE("Env: fileType tells None, File, Dir, Symlink and Other, never following a link") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  CHECK(typeOf(env, "") == FileType::Dir);
  CHECK(typeOf(env, "missing") == FileType::None);
  REQUIRE_OK(put(env, "f", "x"));
  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(put(env, "d/g", "y"));
  s.symlink("to-dir", "d");
  s.symlink("to-file", "f");
  s.fifo("p");
  CHECK(typeOf(env, "f") == FileType::File);
  CHECK(typeOf(env, "d") == FileType::Dir);
  CHECK(typeOf(env, "d/g") == FileType::File);
  CHECK(typeOf(env, "to-dir") == FileType::Symlink);
  CHECK(typeOf(env, "to-file") == FileType::Symlink);
  CHECK(typeOf(env, "p") == FileType::Other);
  CHECK(typeOf(env, "d/missing") == FileType::None);
  CHECK(typeOf(env, "missing/x") == FileType::None);
  CHECK(typeOf(env, "f/x") == FileType::None);  // beneath a file: nothing there

  // Beneath a link to a directory the file it would reach is never reported.
  // The two differ in how: PosixEnv refuses the lookup (Integrity, "refusing to
  // follow a symbolic link"); MemEnv, whose lookups stop at a link on the way, says None.
  auto through = env.fileType("to-dir/g");
  if (s.posix()) {
    REQUIRE_FALSE(through.isOk());
    CHECK(through.status().code() == Code::Integrity);
    CHECK_THAT(through.status().message(), Contains("refusing to follow a symbolic link"));
  } else {
    REQUIRE_OK(through);
    CHECK(*through == FileType::None);
  }
}

TEST_CASE("Env: a symbolic link, a directory or a FIFO is never read") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "target", "secret"));
  s.symlink("ln", "target");
  for (const auto& r : {env.readFile("ln").status(), env.newRandomAccessFile("ln").status()}) {
    REQUIRE_FALSE(r.isOk());
    CHECK(r.code() == Code::Integrity);
    CHECK_THAT(r.message(), Contains("refusing to follow a symbolic link"));
  }

  // A link on the way is not followed either. PosixEnv refuses it with
  // Integrity; MemEnv, whose lookups stop at a link on the way, finds nothing (NotFound).
  REQUIRE_OK(env.createDir("real"));
  REQUIRE_OK(put(env, "real/x", "x"));
  s.symlink("lndir", "real");
  auto through = env.readFile("lndir/x");
  REQUIRE_FALSE(through.isOk());
  if (s.posix()) {
    CHECK(through.status().code() == Code::Integrity);
    CHECK_THAT(through.status().message(), Contains("refusing to follow a symbolic link"));
  } else {
    CHECK(through.status().code() == Code::NotFound);
  }
  auto writeThrough = env.newWritableFile("lndir/y");
  REQUIRE_FALSE(writeThrough.isOk());
  CHECK(typeOf(env, "real/y") == FileType::None);

  for (const auto& r : {env.readFile("real").status(), env.newRandomAccessFile("real").status()}) {
    REQUIRE_FALSE(r.isOk());
    CHECK(r.code() == Code::Integrity);
    CHECK_THAT(r.message(), Contains("directory"));
  }

  // A FIFO with no writer: a blocking open or read would hang here.
  s.fifo("p");
  for (const auto& r : {env.readFile("p").status(), env.newRandomAccessFile("p").status()}) {
    REQUIRE_FALSE(r.isOk());
    CHECK(r.code() == Code::Integrity);
    CHECK_THAT(r.message(), Contains("FIFO"));
  }
  if (s.posix()) {
    // With a writer holding it open (and nothing written) a plain read would block as well.
    int w = ::open(s.onDisk("p").c_str(), O_RDWR | O_NONBLOCK);
    REQUIRE(w >= 0);
    auto r = env.readFile("p");
    ::close(w);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == Code::Integrity);
  }
}

TEST_CASE("Env: newRandomAccessFile reads at offsets, short at the end") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "r", "0123456789"));
  auto f = env.newRandomAccessFile("r");
  REQUIRE_OK(f);
  CHECK((*f)->size() == 10);
  auto mid = (*f)->read(2, 3);
  REQUIRE_OK(mid);
  CHECK(*mid == "234");
  auto tail = (*f)->read(8, 5);
  REQUIRE_OK(tail);
  CHECK(*tail == "89");
  auto atEnd = (*f)->read(10, 1);
  REQUIRE_OK(atEnd);
  CHECK(atEnd->empty());
  auto past = (*f)->read(50, 4);
  REQUIRE_OK(past);
  CHECK(past->empty());
  auto all = (*f)->read(0, 10);
  REQUIRE_OK(all);
  CHECK(*all == "0123456789");
}

TEST_CASE("Env: fileSize and linkCount") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "f", std::string(1234, 'z')));
  auto size = env.fileSize("f");
  REQUIRE_OK(size);
  CHECK(*size == 1234);
  {
    auto a = env.newAppendableFile("f");
    REQUIRE_OK(a);
    REQUIRE_OK((*a)->append("abc"));
    REQUIRE_OK((*a)->close());
  }
  size = env.fileSize("f");
  REQUIRE_OK(size);
  CHECK(*size == 1237);
  REQUIRE_OK(put(env, "empty", ""));
  size = env.fileSize("empty");
  REQUIRE_OK(size);
  CHECK(*size == 0);

  auto missing = env.fileSize("missing");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.status().code() == Code::NotFound);

  auto links = env.linkCount("f");
  REQUIRE_OK(links);
  CHECK(*links == 1);

  if (s.posix()) {
    // PosixEnv counts the names a file really has (st_nlink).
    REQUIRE(::link(s.onDisk("f").c_str(), s.onDisk("g").c_str()) == 0);
    links = env.linkCount("f");
    REQUIRE_OK(links);
    CHECK(*links == 2);
    links = env.linkCount("g");
    REQUIRE_OK(links);
    CHECK(*links == 2);
    REQUIRE_OK(env.removeFile("g"));
    links = env.linkCount("f");
    REQUIRE_OK(links);
    CHECK(*links == 1);
    auto none = env.linkCount("missing");
    REQUIRE_FALSE(none.isOk());
    CHECK(none.status().code() == Code::NotFound);
  }
  // MemEnv has no hard links and keeps Env::linkCount's default (1 for any
  // path, even a missing one), so only the single-name case applies to it.
}

TEST_CASE("Env: modifiedTime is when the data was last written, kept by a rename") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;
  using Clock = std::chrono::system_clock;
  // File systems keep coarse times (a jiffy on ext4): a margin each side.
  const auto slack = std::chrono::seconds(2);

  const auto before = Clock::now();
  REQUIRE_OK(put(env, "f", "abc"));
  auto t = env.modifiedTime("f");
  REQUIRE_OK(t);
  REQUIRE(t->has_value());
  CHECK(**t >= before - slack);
  CHECK(**t <= Clock::now() + slack);

  if (s.posix()) {
    // What utimensat sets is what PosixEnv reads (st_mtim), to the nanosecond.
    const struct timespec times[2] = {{1000000000, 250}, {1000000000, 250}};
    REQUIRE(::utimensat(AT_FDCWD, s.onDisk("f").c_str(), times, 0) == 0);
    t = env.modifiedTime("f");
    REQUIRE_OK(t);
    REQUIRE(t->has_value());
    CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(**t - Clock::time_point()).count() == 1000000000000000250LL);
  } else {
    // MemEnv stamps a file when it is created, truncated or appended to.
    const auto first = **t;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto a = env.newAppendableFile("f");
    REQUIRE_OK(a);
    REQUIRE_OK((*a)->append("d"));
    t = env.modifiedTime("f");
    REQUIRE_OK(t);
    CHECK(**t > first);
  }
  const auto written = env.modifiedTime("f");
  REQUIRE_OK(written);
  REQUIRE_OK(env.rename("f", "g"));
  t = env.modifiedTime("g");
  REQUIRE_OK(t);
  CHECK(*t == *written);

  auto missing = env.modifiedTime("f");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.status().code() == Code::NotFound);
}

TEST_CASE("Env: lockFile, shared and exclusive, with a timeout") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;
  using Clock = std::chrono::steady_clock;

  auto first = env.lockFile("lock", LockMode::Exclusive, 0.05);
  REQUIRE_OK(first);

  if (!s.posix()) {
    // MemEnv: documented (mem_env.cpp) not to model in-process exclusion; tests
    // drive it from one thread, so every lock is granted at once.
    auto second = env.lockFile("lock", LockMode::Exclusive, 0);
    REQUIRE_OK(second);
    auto shared = env.lockFile("lock", LockMode::Shared, 0);
    REQUIRE_OK(shared);
    return;
  }

  // PosixEnv: the lock file is created when missing.
  CHECK(typeOf(env, "lock") == FileType::File);

  // flock(2) locks belong to an open file description and every lockFile opens
  // its own, so a second lock in this process conflicts as another process's would.
  {
    const auto t0 = Clock::now();
    auto second = env.lockFile("lock", LockMode::Exclusive, 0.05);
    const double waited = secondsSince(t0);
    REQUIRE_FALSE(second.isOk());
    CHECK(second.status().code() == Code::LockTimeout);
    CHECK(waited >= 0.045);  // it waited its timeout...
    CHECK(waited < 2.0);     // ...and gave up then
  }
  {
    auto shared = env.lockFile("lock", LockMode::Shared, 0.05);
    REQUIRE_FALSE(shared.isOk());
    CHECK(shared.status().code() == Code::LockTimeout);
  }
  {
    const auto t0 = Clock::now();
    auto once = env.lockFile("lock", LockMode::Exclusive, 0);  // 0: try once
    REQUIRE_FALSE(once.isOk());
    CHECK(once.status().code() == Code::LockTimeout);
    CHECK(secondsSince(t0) < 1.0);
  }

  // Released when destroyed.
  first.value().reset();
  auto again = env.lockFile("lock", LockMode::Exclusive, 0);
  REQUIRE_OK(again);
  again.value().reset();

  // Shared locks coexist and exclude an exclusive one until all are gone.
  auto s1 = env.lockFile("lock", LockMode::Shared, 0);
  REQUIRE_OK(s1);
  auto s2 = env.lockFile("lock", LockMode::Shared, 0.05);
  REQUIRE_OK(s2);
  {
    auto ex = env.lockFile("lock", LockMode::Exclusive, 0.05);
    REQUIRE_FALSE(ex.isOk());
    CHECK(ex.status().code() == Code::LockTimeout);
  }
  s1.value().reset();
  {
    auto ex = env.lockFile("lock", LockMode::Exclusive, 0);
    REQUIRE_FALSE(ex.isOk());
    CHECK(ex.status().code() == Code::LockTimeout);
  }
  s2.value().reset();

  // A waiter gets the lock when its holder lets go within the timeout.
  auto holder = env.lockFile("lock", LockMode::Exclusive, 0);
  REQUIRE_OK(holder);
  std::unique_ptr<FileLock> held = std::move(holder.value());
  std::thread releaser([&held] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held.reset();
  });
  const auto t0 = Clock::now();
  auto waiter = env.lockFile("lock", LockMode::Exclusive, 10.0);
  const double waited = secondsSince(t0);
  releaser.join();
  REQUIRE_OK(waiter);
  CHECK(waited >= 0.03);
  CHECK(waited < 5.0);
  waiter.value().reset();

  // A lock file that cannot be written still locks (a read-only descriptor
  // where O_RDWR is refused; as root the O_RDWR open itself succeeds).
  REQUIRE(::chmod(s.onDisk("lock").c_str(), 0444) == 0);
  auto ro = env.lockFile("lock", LockMode::Exclusive, 0);
  REQUIRE_OK(ro);
  auto roSecond = env.lockFile("lock", LockMode::Shared, 0);
  REQUIRE_FALSE(roSecond.isOk());
  CHECK(roSecond.status().code() == Code::LockTimeout);
  ro.value().reset();

  // Only a regular file is a lock: a FIFO is refused without hanging, a link is not followed.
  s.fifo("fifo.lock");
  auto fifo = env.lockFile("fifo.lock", LockMode::Exclusive, 0);
  REQUIRE_FALSE(fifo.isOk());
  CHECK(fifo.status().code() == Code::Integrity);
  REQUIRE_OK(put(env, "real.lock", ""));
  s.symlink("link.lock", "real.lock");
  auto link = env.lockFile("link.lock", LockMode::Exclusive, 0);
  REQUIRE_FALSE(link.isOk());
  CHECK(link.status().code() == Code::Integrity);
}

TEST_CASE("Env: syncDir and syncAll succeed, syncDir of a missing directory is NotFound") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(put(env, "d/f", "f"));
  REQUIRE_OK(env.syncDir("d"));
  REQUIRE_OK(env.syncDir(""));
  REQUIRE_OK(env.syncAll());
  CHECK(read(env, "d/f") == "f");  // syncing changes nothing visible

  auto missing = env.syncDir("missing");
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.code() == Code::NotFound);
  // syncDir of a file fails in both (PosixEnv: IoError, "Not a directory";
  // MemEnv: NotFound, it looks for a directory only).
  auto ofFile = env.syncDir("d/f");
  REQUIRE_FALSE(ofFile.isOk());
  CHECK(ofFile.code() == (s.posix() ? Code::IoError : Code::NotFound));
}

TEST_CASE("Env: paths are relative to the root and never leave it") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(put(env, "inside", "in"));
  REQUIRE_OK(env.createDir("sub"));
  if (s.posix()) {
    CHECK(slurp(s.onDisk("inside")) == std::optional<std::string>("in"));
    CHECK(namesOnDisk(s.root) == std::set<std::string>{"inside", "sub"});
  }

  // Up and out, by "..", by an absolute path, or through a link to outside: every one refused.
  const std::string outside = s.posix() ? s.outer->path() : std::string("/optdb-env-outside");
  std::vector<std::string> escapes = {"../escape", "sub/../../escape", outside + "/abs", "out/escape"};
  s.symlink("out", outside);  // MemEnv: a link without a target
  for (const auto& path : escapes) {
    INFO(path);
    CHECK_FALSE(env.newWritableFile(path).isOk());
    CHECK_FALSE(env.createDir(path + ".d").isOk());
    // MemEnv's rename once moved a file into "out/..." (a link), where it became unreachable.
    CHECK_FALSE(env.rename("inside", path + ".moved").isOk());
    // MemEnv's lockFile touches nothing and grants every lock (see the lockFile case), so only PosixEnv refuses it.
    if (s.posix()) CHECK_FALSE(env.lockFile(path + ".lock", LockMode::Exclusive, 0).isOk());
    CHECK_FALSE(env.readFile(path).isOk());
  }
  CHECK(read(env, "inside") == "in");  // the failed renames kept it

  if (s.posix()) {
    // Nothing was written beside the root: the temporary directory holds the root alone.
    CHECK(namesOnDisk(s.outer->path()) == std::set<std::string>{"root"});
    CHECK(namesOnDisk(s.root) == std::set<std::string>{"inside", "out", "sub"});

    // A file outside reached by a link is neither read nor overwritten.
    const std::string secret = s.outer->path() + "/secret";
    { std::ofstream(secret) << "outside"; }
    s.symlink("to-secret", secret);
    auto r = env.readFile("to-secret");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == Code::Integrity);
    auto w = env.newWritableFile("to-secret");
    REQUIRE_FALSE(w.isOk());
    CHECK(w.status().code() == Code::Integrity);
    CHECK(slurp(secret) == std::optional<std::string>("outside"));
    CHECK(fs::is_symlink(fs::symlink_status(s.onDisk("to-secret"))));
  } else {
    CHECK(listing(env, "") == std::map<std::string, FileType>{
                                  {"inside", FileType::File}, {"out", FileType::Symlink}, {"sub", FileType::Dir}});
  }
}

TEST_CASE("Env: createDir of the root makes it, before which the store is absent and not broken") {
  Subject s(anyKind());
  INFO(s.name());
  if (!s.posix()) {
    // MemEnv's root always exists: createDir("") is Ok and changes nothing.
    REQUIRE_OK(s.env->createDir(""));
    CHECK(typeOf(*s.env, "") == FileType::Dir);
    CHECK(listing(*s.env, "").empty());
    return;
  }
  // PosixEnv on a root that does not exist yet: absent (None / NotFound) until createDir("") makes it with its parents.
  const std::string root = s.outer->path() + "/a/b/c";
  auto env = newPosixEnv(root);
  CHECK(typeOf(*env, "") == FileType::None);
  auto r = env->readFile("x");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == Code::NotFound);
  auto l = env->listDir("");
  REQUIRE_FALSE(l.isOk());
  CHECK(l.status().code() == Code::NotFound);

  REQUIRE_OK(env->createDir(""));
  CHECK(fs::is_directory(root));
  CHECK(typeOf(*env, "") == FileType::Dir);
  REQUIRE_OK(put(*env, "x", "made"));
  CHECK(slurp(root + "/x") == std::optional<std::string>("made"));
  REQUIRE_OK(env->createDir(""));  // and again: it exists already
}

TEST_CASE("Env: what cannot be read is IoError, never taken for absent") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;

  REQUIRE_OK(env.createDir("d"));
  REQUIRE_OK(put(env, "d/x", "x"));
  REQUIRE_OK(put(env, "f", "f"));
  if (s.posix()) {
    if (::geteuid() == 0) {
      WARN("running as root: permissions do not deny it, so PosixEnv's part is skipped");
      return;
    }
    REQUIRE(::chmod(s.onDisk("f").c_str(), 0) == 0);
    REQUIRE(::chmod(s.onDisk("d").c_str(), 0) == 0);
  } else {
    s.mem->denyAccess("f");
    s.mem->denyAccess("d");
  }
  auto file = env.readFile("f");
  auto inDir = env.readFile("d/x");
  auto list = env.listDir("d");
  auto type = env.fileType("d/x");
  if (s.posix()) {  // restore before checking, so the temporary directory can be removed
    REQUIRE(::chmod(s.onDisk("d").c_str(), 0755) == 0);
    REQUIRE(::chmod(s.onDisk("f").c_str(), 0644) == 0);
  }
  REQUIRE_FALSE(file.isOk());
  CHECK(file.status().code() == Code::IoError);
  REQUIRE_FALSE(inDir.isOk());
  CHECK(inDir.status().code() == Code::IoError);
  REQUIRE_FALSE(list.isOk());
  CHECK(list.status().code() == Code::IoError);
  REQUIRE_FALSE(type.isOk());
  CHECK(type.status().code() == Code::IoError);
}

TEST_CASE("Env: a last component of '..' names nothing outside the root") {
  Subject s(anyKind());
  INFO(s.name());
  Env& env = *s.env;
  REQUIRE_OK(env.createDir("sub"));
  for (const std::string path : {"..", "sub/../.."}) {
    INFO(path);
    auto t = env.fileType(path);
    CHECK((!t.isOk() || *t != FileType::Dir));  // PosixEnv described the root's parent (Dir) before the fix
    CHECK_FALSE(env.fileSize(path).isOk());
    if (s.posix()) {  // MemEnv keeps names as given (see the MemEnv notes above)
      CHECK_FALSE(env.linkCount(path).isOk());
      CHECK_FALSE(env.createDir(path).isOk());
    }
  }
  if (s.posix()) CHECK(namesOnDisk(s.outer->path()) == std::set<std::string>{"root"});
}

TEST_CASE("Env: newWritableFile never hangs on a FIFO, and never writes into one") {
  Subject s(Kind::Posix);  // MemEnv replaces a special file instead (see the MemEnv notes above)
  Env& env = *s.env;
  s.fifo("pipe");
  auto w = env.newWritableFile("pipe");  // hung forever before the fix (no reader, a blocking open)
  REQUIRE_FALSE(w.isOk());
  CHECK(w.status().code() == Code::Integrity);
  auto t = env.fileType("pipe");
  REQUIRE(t.isOk());
  CHECK(*t == FileType::Other);
}
