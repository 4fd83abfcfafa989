// optdb gc: drop the materializations the retention rule does not keep (SPEC §8).
#include "command.hpp"

namespace optdb::cli {

void addGc(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks;
    bool dryRun = false;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("gc", "Remove materializations the retention rule does not keep");
  sub->add_option("BLOCK", args->blocks, "Blocks to collect (default: every block)")->type_name("BLOCK");
  sub->add_flag("--dry-run", args->dryRun, "List what would be removed; change nothing");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "Never removes a transform or a revision: only materialized states, which a read rebuilds.\n"
      "Prints {\"removed\":N,\"bytes\":B}; --dry-run adds the list of materializations.\n"
      "Example:\n  optdb --store ./db gc --dry-run");
  setAction(sub, g, [&g, args]() -> Status {
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    BlockProgress progress("gc");
    OPTDB_ASSIGN(auto result, store->gc(args->blocks, args->dryRun, progress.callback()));
    return printJson(g, result.toJson());
  });
}

}  // namespace optdb::cli
