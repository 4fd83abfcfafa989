// optdb migrate: convert blocks between the two layout generations (SPEC §2).
#include "command.hpp"

namespace optdb::cli {

void addMigrate(CLI::App& app, Globals& g) {
  struct Args {
    std::string to;
    bool all = false;
    std::vector<std::string> blocks;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("migrate", "Convert blocks to the trx or the actions dialect, in place");
  sub->add_option("--to", args->to, "The dialect to convert to: trx or actions")->required()->type_name("trx|actions");
  sub->add_flag("--all", args->all, "Every block of the store (and new blocks from now on)");
  sub->add_option("BLOCK", args->blocks, "Blocks to convert")->type_name("BLOCK");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "Prints {\"migrated\":[…],\"unchanged\":[…]}. Safe to interrupt: run it again (or optdb repair) to finish.\n"
      "Example (for an Optimystic v0.24 node):\n  optdb --store ./db migrate --to actions --all");
  setAction(sub, g, [&g, args]() -> Status {
    auto to = parseDialect(args->to);
    if (!to) return Status::invalid("--to: must be trx or actions, got '" + args->to + "'");
    if (args->all && !args->blocks.empty()) return Status::invalid("give block ids or --all, not both");
    if (!args->all && args->blocks.empty()) return Status::invalid("no block given: name blocks or use --all");
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    BlockProgress progress("migrate");
    OPTDB_ASSIGN(auto result, store->migrate(args->blocks, args->all, *to, progress.callback()));
    OPTDB_TRY(printJson(g, result.toJson()));
    return Status::ok();
  });
}

}  // namespace optdb::cli
