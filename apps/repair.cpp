// optdb repair: finish interrupted commits and fix what can safely be fixed.
#include <fmt/format.h>

#include "command.hpp"
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
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    BlockProgress progress("repair");
    OPTDB_ASSIGN(auto report, store->repair(args->blocks, args->dryRun, progress.callback()));
    OPTDB_TRY(printJson(g, report.toJson()));
    for (const auto& id : report.notFound) printError(fmt::format("block {}: not in the store (no meta.json)", id));
    g.exitCode = static_cast<int>(report.exitCode());
    return Status::ok();
  });
}

}  // namespace optdb::cli
