// optdb archive: write block histories as NDJSON BlockArchives.
#include <fmt/format.h>

#include "command.hpp"
#include "optdb/archive.hpp"
#include "optdb/output_file.hpp"
#include "optdb/zstd.hpp"

namespace optdb::cli {

void addArchive(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks;
    bool all = false, zstd = false;
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
  sub->add_flag("--zstd", args->zstd, "Compress the output as a zstd stream (level 3); implied by -o FILE.zst");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "Examples:\n"
      "  optdb --store ./db archive --all -o backup.ndjson\n"
      "  optdb --store ./db archive --all -o backup.ndjson.zst\n"
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
    // Stdout, or FILE replaced atomically (a FIFO or device written into).
    std::unique_ptr<OutputFile> file;
    if (!args->output.empty() && args->output != "-") {
      OPTDB_ASSIGN(file, OutputFile::open(args->output, store->options().sync, "-o"));
    }
    ByteWriteFn out = file ? ByteWriteFn([&file](std::string_view d) { return file->write(d); }) : ByteWriteFn(writeStdout);
    // A zstd stream for --zstd or a FILE named *.zst (SPEC §8), compressed as it is written.
    std::unique_ptr<ZstdWriter> zstd;
    if (args->zstd || namesZstdFile(args->output)) {
      OPTDB_ASSIGN(zstd, ZstdWriter::open(out));
    }
    std::string line;
    auto sink = [&](const BlockArchive& a) -> Status {
      line.clear();
      appendArchiveLine(line, a);
      return zstd ? zstd->write(line) : out(line);
    };
    {
      BlockProgress progress("archive");
      OPTDB_TRY(store->archive(req, sink, progress.callback()));
    }
    if (zstd) OPTDB_TRY(zstd->finish());
    return file ? file->commit() : flushStdout();
  });
}

}  // namespace optdb::cli
