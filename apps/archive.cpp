// optdb archive: write block histories as NDJSON BlockArchives.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "command.hpp"
#include "optdb/archive.hpp"

namespace optdb::cli {

namespace {

// Where the archives go: stdout; or FILE, written as a temporary file renamed
// over it at the end when FILE is a regular file or a new name; or, when FILE
// is something else (a FIFO, a character device, a terminal, a socket),
// straight into it: never renamed over it (SPEC §7). A FILE that is stdout
// itself (-o /dev/stdout) is stdout.
class Output {
 public:
  Output(std::string file, bool sync) : file_(std::move(file)), sync_(sync) {}
  ~Output() {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());  // not committed: leave FILE as it was
  }

  Status open() {
    if (file_.empty()) return Status::ok();
    struct stat st, out;
    if (::stat(file_.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::invalid(fmt::format("-o {}: is a directory", file_));
      const int outFlags = ::fcntl(STDOUT_FILENO, F_GETFL);
      if (outFlags != -1 && (outFlags & O_ACCMODE) != O_RDONLY && ::fstat(STDOUT_FILENO, &out) == 0 &&
          out.st_dev == st.st_dev && out.st_ino == st.st_ino) {
        file_.clear();  // stdout, reached by another name: written as stdout is
        return Status::ok();
      }
      if (!S_ISREG(st.st_mode)) {
        direct_ = true;
        fd_ = ::open(file_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd_ < 0) return Status::io(fmt::format("-o {}: {}", file_, std::strerror(errno)));
        return Status::ok();
      }
    }
    // A symbolic link to a regular file: the file it names is replaced, not the link.
    std::string target = file_;
    struct stat lst;
    if (::lstat(file_.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
      char* real = ::realpath(file_.c_str(), nullptr);
      if (!real) return Status::io(fmt::format("-o {}: {}", file_, std::strerror(errno)));
      target = real;
      std::free(real);
    }
    auto slash = target.rfind('/');
    dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : target.substr(0, slash));
    std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
    if (base.empty()) return Status::invalid(fmt::format("-o {}: not a file name", file_));
    final_ = target;
    tmp_ = fmt::format("{}/.{}.tmp.{}", dir_, base, ::getpid());
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      int err = errno;
      tmp_.clear();
      return Status::io(fmt::format("-o {}: {}", file_, std::strerror(err)));
    }
    return Status::ok();
  }

  Status write(std::string_view data) {
    if (file_.empty()) return writeStdout(data);
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::io(fmt::format("writing {}: {}", direct_ ? file_ : tmp_, std::strerror(errno)));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::ok();
  }

  // stdout flushed, or what was written into FILE closed, or the temporary
  // file synced and renamed into place.
  Status commit() {
    if (file_.empty()) return flushStdout();
    if (sync_ && !direct_ && ::fsync(fd_) != 0) return Status::io(fmt::format("fsync {}: {}", tmp_, std::strerror(errno)));
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return Status::io(fmt::format("closing {}: {}", direct_ ? file_ : tmp_, std::strerror(errno)));
    if (direct_) return Status::ok();
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
      return Status::io(fmt::format("-o {}: {}", file_, std::strerror(errno)));
    tmp_.clear();
    if (sync_) {
      int d = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (d >= 0) {
        ::fsync(d);
        ::close(d);
      }
    }
    return Status::ok();
  }

 private:
  std::string file_, dir_, tmp_, final_;
  bool sync_;
  bool direct_ = false;  // written into FILE itself
  int fd_ = -1;
};

}  // namespace

void addArchive(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks;
    bool all = false;
    std::string from, to, rev, chunk, output;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("archive", "Write block histories as NDJSON archives (for backup or restore)");
  sub->add_option("blocks", args->blocks, "Blocks to archive (put ids starting with '-' after --)")->type_name("BLOCK");
  sub->add_flag("--all", args->all, "Archive every block of the store, in sorted id order");
  sub->add_option("--from", args->from, "Start the window at revision N (from the state at N)")->type_name("N");
  sub->add_option("--to", args->to, "End the window before revision N")->type_name("N");
  sub->add_option("--rev", args->rev, "Only what restoring revision N needs")->type_name("N");
  sub->add_option("--chunk", args->chunk, "At most N revisions per archive (N >= 1)")->type_name("N");
  sub->add_option("-o", args->output, "Write to FILE (replaced atomically; a FIFO or device is written into) instead of stdout")->type_name("FILE");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "Examples:\n"
      "  optdb --store ./db archive --all -o backup.ndjson\n"
      "  optdb --store A archive --all | optdb --store B restore");
  setAction(sub, g, [&g, args]() -> Status {
    ArchiveRequest req;
    if (args->all && !args->blocks.empty()) return Status::invalid("give block ids or --all, not both");
    if (!args->all && args->blocks.empty()) return Status::invalid("no block given: name blocks or use --all");
    req.all = args->all;
    req.layout = g.layout;
    OPTDB_TRY(validateBlockArgs(args->blocks));
    req.blockIds = args->blocks;
    if (!args->from.empty()) {
      OPTDB_ASSIGN(req.from, revOption(args->from, "--from"));
    }
    if (!args->to.empty()) {
      OPTDB_ASSIGN(req.to, revOption(args->to, "--to"));
    }
    if (!args->rev.empty()) {
      OPTDB_ASSIGN(req.rev, revOption(args->rev, "--rev"));
    }
    if (req.rev && (req.from || req.to)) return Status::invalid("--rev cannot be combined with --from or --to");
    if (req.from && req.to && *req.to <= *req.from) return Status::invalid("--to must be above --from");
    if (!args->chunk.empty()) {
      auto n = parseRev(args->chunk, "--chunk");
      if (!n || *n < 1) return Status::invalid(fmt::format("--chunk: expected a number of revisions >= 1, got '{}'", args->chunk));
      req.chunk = static_cast<std::size_t>(*n);
    }
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    Output out(args->output == "-" ? std::string() : args->output, store->options().sync);
    OPTDB_TRY(out.open());
    std::string line;
    auto sink = [&](const BlockArchive& a) -> Status {
      line.clear();
      appendArchiveLine(line, a);
      return out.write(line);
    };
    {
      BlockProgress progress("archive");
      OPTDB_TRY(store->archive(req, sink, progress.callback()));
    }
    return out.commit();
  });
}

}  // namespace optdb::cli
