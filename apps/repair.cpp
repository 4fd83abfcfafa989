// optdb repair: finish interrupted commits and fix what can safely be fixed.
#include <fmt/format.h>

#include "command.hpp"
#include "optdb/file_raw_storage.hpp"
#include "optdb/integrity.hpp"

namespace optdb::cli {

void addRepair(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks;
    bool dryRun = false;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("repair", "Finish interrupted commits and fix what can safely be fixed");
  sub->add_option("blocks", args->blocks, "Limit to these blocks (put ids starting with '-' after --)")->type_name("BLOCK");
  sub->add_flag("--dry-run", args->dryRun, "Change nothing: report what would be done and what would remain");
  sub->footer(
      "Prints {\"actions\":[…],\"remaining\":[…]}; exits 6 when problems remain.\n"
      "Examples:\n"
      "  optdb --store ./db repair --dry-run\n"
      "  optdb --store ./db repair | jq -r '.remaining[] | \"\\(.path): \\(.message)\"'");
  setAction(sub, g, [&g, args]() -> Status {
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto repo, openRepo(g));
    OPTDB_ASSIGN(auto* raw, directoryTree(*repo));
    RepairOptions o;
    o.blockIds = args->blocks;
    o.lockTimeout = g.lockTimeout;
    o.dryRun = args->dryRun;
    OPTDB_ASSIGN(auto report, repairStore(*raw, o));
    OPTDB_TRY(printJson(g, report.toJson()));
    for (const auto& id : report.notFound) printError(fmt::format("block {}: not in the store (no meta.json)", id));
    if (!report.examined) g.exitCode = static_cast<int>(Code::IoError);
    else if (!report.remaining.empty()) g.exitCode = static_cast<int>(Code::Integrity);
    else if (!report.notFound.empty()) g.exitCode = static_cast<int>(Code::NotFound);
    return Status::ok();
  });
}

}  // namespace optdb::cli
