// What every subcommand shares: the store and its options from the global
// flags, checked stdout, bounded input, progress lines, option parsers.
#include "command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "optdb/rados_raw_storage.hpp"
#include "optdb/text.hpp"

namespace optdb::cli {

namespace {
// Results on stdout: the first failed write (an errno) is kept, later writes
// are skipped and every check returns it. `reported`: its message is printed.
int stdoutErr = 0;
bool stdoutErrReported = false;

Status stdoutFailure() { return Status::io(fmt::format("writing to stdout: {}", std::strerror(stdoutErr))); }
}  // namespace

void setAction(CLI::App* sub, Globals& g, std::function<Status()> body) {
  sub->callback([&g, body = std::move(body)] {
    Status s = body();
    // The result written in full, or exit 1: a failed write to stdout is
    // reported whatever else happened, and once (finishStdout knows).
    if (Status out = flushStdout(); !out) s = out;
    if (!s) {
      printError(s.message());
      g.exitCode = static_cast<int>(s.code());
      if (stdoutErr) stdoutErrReported = true;
    }
  });
}

void acceptDashDashAnywhere(CLI::App* sub) {
  // CLI11 keeps a `--` in the subcommand only while some positional still
  // wants a value (count below its expected minimum). This hidden positional
  // always does, and never gets one: the real positional before it, taking
  // any number of values, is always served first. It is not required.
  static std::string never;
  sub->add_option("DASHDASH", never)->expected(1)->group("");
}

Result<std::string> storePath(const Globals& g) {
  if (g.store.empty()) return Status::invalid("no store given: use --store DIR or set OPTDB_STORE");
  if (isRadosLocation(g.store)) {
    OPTDB_TRY(parseRadosLocation(g.store).status());
    return g.store;
  }
  struct stat st;
  if (::stat(g.store.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    return Status::invalid(fmt::format("store {} exists and is not a directory", g.store));
  return g.store;
}

StoreOptions storeOptions(const Globals& g) {
  StoreOptions o;
  const char* env = std::getenv("OPTDB_SYNC");
  o.sync = !g.noSync && !(env && std::string(env) == "0");
  o.lockTimeout = g.lockTimeout;
  o.layout = g.layout;
  o.cephConf = g.cephConf;
  return o;
}

BlockProgress::BlockProgress(std::string command, std::string unit) : command_(std::move(command)), unit_(std::move(unit)) {}

BlockProgress::~BlockProgress() {
  if (shown_) std::fputc('\n', stderr);
}

BlockProgressFn BlockProgress::callback() {
  if (!::isatty(STDERR_FILENO)) return {};
  return [this](std::size_t done, std::size_t total, const BlockId&) {
    // At most ten lines a second, and always the last: a rate, and an
    // estimate of the time left from it.
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    std::string line = fmt::format("\roptdb: {}: {}/{} {}", command_, done, total, unit_);
    if (rate > 0) line += fmt::format(", {:.0f}/s", rate);
    if (rate > 0 && done < total) line += fmt::format(", about {:.0f} s left", static_cast<double>(total - done) / rate);
    line += "\x1b[K";  // the rest of a longer previous line erased
    if (done == total) line += "\n";  // finished: the result is printed below, not beside it
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    shown_ = done < total;
  };
}

void BlockProgress::clearLine() {
  if (!shown_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

Result<std::unique_ptr<Store>> openStoreOf(const Globals& g) {
  OPTDB_ASSIGN(auto path, storePath(g));
  return Store::open(path, storeOptions(g));
}

Result<std::string> readInput(const std::string& file) {
  if (file.empty()) return Status::invalid("empty file name (use - for stdin)");
  int fd = 0;
  if (file != "-") {
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::invalid(fmt::format("{}: {}", file, std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd > 0) ::close(fd);
    }
  } closer{fd};
  const std::string name = file == "-" ? std::string("stdin") : file;
  // What is read becomes a stored file, which no reader takes above this size:
  // an endless input is refused, never read until memory runs out.
  const std::uint64_t limit = Env::kMaxStoredFileBytes;
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EISDIR) return Status::invalid(fmt::format("{}: is a directory", name));
      return Status::io(fmt::format("reading {}: {}", name, std::strerror(errno)));
    }
    if (n == 0) return out;
    if (out.size() + static_cast<std::uint64_t>(n) > limit)
      return Status::invalid(fmt::format("{}: larger than {} bytes, the most optdb stores in one file", name, limit));
    out.append(buf, static_cast<std::size_t>(n));
  }
}

Result<std::optional<std::string>> StdinLines::next() {
  const std::uint64_t limit = Env::kMaxStoredFileBytes;
  bool tooLong = false;
  for (;;) {
    if (auto nl = buf_.find('\n', pos_); nl != std::string::npos) {
      std::string line = buf_.substr(pos_, nl - pos_);
      pos_ = nl + 1;
      if (tooLong) return Status::invalid(fmt::format("a line longer than {} bytes", limit));
      return std::optional<std::string>(std::move(line));
    }
    if (eof_) {
      if (pos_ == buf_.size()) return std::optional<std::string>();
      std::string line = buf_.substr(pos_);
      pos_ = buf_.size();
      if (tooLong) return Status::invalid(fmt::format("a line longer than {} bytes", limit));
      return std::optional<std::string>(std::move(line));
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    if (buf_.size() > limit) {  // keep skipping until its end
      tooLong = true;
      buf_.clear();
    }
    char chunk[65536];
    ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io(fmt::format("reading stdin: {}", std::strerror(errno)));
    }
    if (n == 0) eof_ = true;
    else buf_.append(chunk, static_cast<std::size_t>(n));
  }
}

void reserveStandardDescriptors() {
  // A descriptor closed by the caller would be the next one optdb opens (a
  // lock, a store file), and results or messages would be written into it.
  // Each is held by /dev/null opened the wrong way round instead, so that
  // using it fails (EBADF): a closed stdout stays a failing stdout.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int got = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got >= 0 && got != fd) {
      ::dup2(got, fd);
      ::close(got);
    }
  }
}

Status writeStdout(std::string_view data) {
  if (stdoutErr) return stdoutFailure();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
    stdoutErr = errno ? errno : EIO;
    return stdoutFailure();
  }
  return Status::ok();
}

Status flushStdout() {
  if (stdoutErr) return stdoutFailure();
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    stdoutErr = errno ? errno : EIO;
    return stdoutFailure();
  }
  return Status::ok();
}

int finishStdout(int exitCode) {
  (void)flushStdout();
  // Closing reports what a file system defers to close (NFS). The descriptor,
  // not the FILE: iostreams flush stdout again at exit, with nothing buffered.
  if (!stdoutErr && ::close(STDOUT_FILENO) != 0 && errno != EINTR && errno != EBADF) stdoutErr = errno;
  if (stdoutErr && !stdoutErrReported) printError(stdoutFailure().message());
  stdoutErrReported = stdoutErr != 0;
  return stdoutErr ? static_cast<int>(Code::IoError) : exitCode;
}

Status printJson(const Globals& g, const Json& value) {
  std::string out = toJson(value, g.pretty);
  out.push_back('\n');
  OPTDB_TRY(writeStdout(out));
  return flushStdout();
}

void printError(const std::string& message) {
  // One line, printable: control characters (a block id may hold a tab or an
  // escape sequence) and bytes that are not UTF-8 (echoed from bad input) are
  // written as \xNN, so the message can neither span lines nor drive a terminal.
  std::string line = printable(message);
  line = "optdb: error: " + line + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

Status validateBlockArgs(const std::vector<std::string>& blocks) {
  for (const auto& b : blocks) OPTDB_TRY(validateBlockId(b, "block id \"" + b + "\""));
  return Status::ok();
}

Result<Rev> revOption(const std::string& text, const std::string& option) {
  // Canonical decimal only: "01" is not a way to write 1.
  if (text.size() > 1 && text[0] == '0')
    return Status::invalid(fmt::format("{}: revision must be an integer from 0 to {} without leading zeros, got '{}'",
                                       option, kMaxRev, text));
  return parseRev(text, option);
}

Result<double> secondsOption(const std::string& text, const std::string& option) {
  // Decimal only: digits with an optional fraction and exponent (2.5, 1e11).
  // Not a sign, nan, inf or hexadecimal; a value too large for a double is
  // waited as forever (as is anything beyond a year: see Deadline).
  auto bad = [&] {
    return Status::invalid(fmt::format("{}: expected decimal seconds (e.g. 2.5 or 1e3), got '{}'", option, text));
  };
  size_t i = 0, digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  if (i < text.size() && text[i] == '.')
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) ++digits;
  if (digits == 0) return bad();
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    size_t expDigits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++expDigits;
    if (expDigits == 0) return bad();
  }
  if (i != text.size()) return bad();
  double v = std::strtod(text.c_str(), nullptr);  // HUGE_VAL when out of range: forever
  if (std::isnan(v) || v < 0) return bad();
  return v;
}

}  // namespace optdb::cli
