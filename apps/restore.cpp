// optdb restore: load block archives into the store.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "command.hpp"
#include "optdb/archive.hpp"

namespace optdb::cli {

namespace {

// The descriptors of the files given, closed at the end.
struct Files {
  std::vector<int> fds;
  ~Files() {
    for (int fd : fds)
      if (fd > STDERR_FILENO) ::close(fd);
  }
};

}  // namespace

void addRestore(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> files;
    bool dryRun = false;
    std::string jobs;
    CLI::Option* jobsOpt = nullptr;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("restore", "Load block archives (NDJSON, an object or an array) into the store");
  sub->add_option("files", args->files, "Archive files, or - for stdin (the default)")->type_name("FILE|-");
  sub->add_flag("--dry-run", args->dryRun,
                "Validate and report, per archive, what would be written, skipped or refused; write nothing");
  args->jobsOpt = sub->add_option("--jobs,-j", args->jobs, "Restore blocks in N threads (default: the CPUs, at most 4)")
      ->type_name("N");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "Reads NDJSON a line at a time, twice: to validate everything, then to apply it (stdin,\n"
      "when it is a pipe, is copied to a temporary file meanwhile). A JSON array is read whole.\n"
      "A zstd stream (archive --zstd, FILE.zst) is recognized by its magic bytes and decompressed.\n"
      "Examples:\n"
      "  optdb --store ./db restore backup.ndjson\n"
      "  optdb --store ./db restore --dry-run backup.ndjson.zst\n"
      "  optdb --store A archive --all | optdb --store B restore");
  setAction(sub, g, [&g, args]() -> Status {
    std::vector<std::string> files = args->files;
    if (files.empty()) files.push_back("-");
    unsigned jobs = 0;  // the library's default
    if (args->jobsOpt->count()) {
      auto n = parseRev(args->jobs, "--jobs");
      if (!n || *n < 1 || *n > 64) return Status::invalid(fmt::format("--jobs: expected a number from 1 to 64, got '{}'", args->jobs));
      jobs = static_cast<unsigned>(*n);
    }
    Files open;
    std::vector<ArchiveStream> inputs;
    bool stdinTaken = false;
    for (const auto& f : files) {
      if (f.empty()) return Status::invalid("empty file name (use - for stdin)");
      if (f == "-") {
        // stdin is read once: a second - is an empty input.
        inputs.push_back({"stdin", stdinTaken ? -1 : STDIN_FILENO});
        stdinTaken = true;
        continue;
      }
      struct stat st;
      if (::stat(f.c_str(), &st) != 0) return Status::invalid(fmt::format("{}: {}", f, std::strerror(errno)));
      if (S_ISDIR(st.st_mode)) return Status::invalid(fmt::format("{}: is a directory", f));
      int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::invalid(fmt::format("{}: cannot be read: {}", f, std::strerror(errno)));
      open.fds.push_back(fd);
      inputs.push_back({f, fd});
    }
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    if (args->dryRun) {
      OPTDB_ASSIGN(auto plan, store->planRestore(inputs));
      OPTDB_TRY(printJson(g, plan.toJson()));
      for (const auto& [id, reason] : plan.summary.rejected)
        printError(fmt::format("block {}: archive would be skipped: {}", id, reason));
      g.exitCode = static_cast<int>(plan.exitCode());
      return Status::ok();
    }
    BlockProgress progress("restore", "archives");
    OPTDB_ASSIGN(auto summary, store->restore(inputs, progress.callback(), jobs));
    OPTDB_TRY(printJson(g, summary.toJson()));
    for (const auto& [id, reason] : summary.rejected) printError(fmt::format("block {}: archive skipped: {}", id, reason));
    g.exitCode = static_cast<int>(summary.exitCode());
    return Status::ok();
  });
}

}  // namespace optdb::cli
