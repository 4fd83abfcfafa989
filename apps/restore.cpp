// optdb restore: load block archives into the store.
#include <fmt/format.h>

#include "command.hpp"
#include "optdb/archive.hpp"

namespace optdb::cli {

void addRestore(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> files;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("restore", "Load block archives (NDJSON, an object or an array) into the store");
  sub->add_option("files", args->files, "Archive files, or - for stdin (the default)")->type_name("FILE|-");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "Examples:\n"
      "  optdb --store ./db restore backup.ndjson\n"
      "  optdb --store A archive --all | optdb --store B restore");
  setAction(sub, g, [&g, args]() -> Status {
    std::vector<std::string> files = args->files;
    if (files.empty()) files.push_back("-");
    std::vector<std::string> texts;
    texts.reserve(files.size());
    std::vector<ArchiveInput> inputs;
    for (const auto& f : files) {
      OPTDB_ASSIGN(auto text, readInput(f));
      texts.push_back(std::move(text));
    }
    for (size_t i = 0; i < files.size(); ++i)
      inputs.push_back({files[i] == "-" ? std::string("stdin") : files[i], texts[i]});
    OPTDB_ASSIGN(auto repo, openRepo(g));
    OPTDB_ASSIGN(auto summary, restoreArchives(repo->raw(), inputs, repo->options().lockTimeout));
    printJson(g, summary.toJson());
    if (!summary.rejected.empty()) {
      for (const auto& [id, reason] : summary.rejected) printError(fmt::format("block {}: archive skipped: {}", id, reason));
      g.exitCode = static_cast<int>(Code::Integrity);
    }
    return Status::ok();
  });
}

}  // namespace optdb::cli
