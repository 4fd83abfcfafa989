// optdb forget: move history below a revision out of the store (SPEC §8).
#include "command.hpp"

namespace optdb::cli {

void addForget(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks;
    bool all = false, discard = false;
    std::string before, output;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("forget", "Move history below a revision out of the store, into an archive");
  sub->add_option("BLOCK", args->blocks, "Blocks to trim (put ids starting with '-' after --)")->type_name("BLOCK");
  sub->add_flag("--all", args->all, "Every block of the store");
  sub->add_option("--before", args->before, "Forget the history below revision N (kept from the greatest committed revision <= N)")
      ->type_name("N");
  sub->add_option("-o", args->output, "Append the forgotten history to the archive FILE, durably, first")->type_name("ARCHIVE");
  sub->add_flag("--discard", args->discard, "Forget without keeping an archive");
  acceptDashDashAnywhere(sub);
  sub->footer(
      "The archive is written (replaced atomically, holding what it held before) and made durable\n"
      "before the store changes; a crash at any instant leaves every revision in one of the two,\n"
      "and running the command again finishes. `get --rev M --restore-from ARCHIVE` brings it back.\n"
      "Prints {\"forgotten\":[{\"blockId\",\"from\",\"revisions\",\"bytes\"}...]}.\n"
      "Example:\n  optdb --store ./db forget --before 2900 --all -o old.ndjson.zst");
  setAction(sub, g, [&g, args]() -> Status {
    if (args->before.empty()) return Status::invalid("--before N is required");
    if (args->output.empty() == !args->discard)
      return Status::invalid("give -o ARCHIVE or --discard (exactly one): where the forgotten history goes");
    if (args->output == "-") return Status::invalid("-o: forget needs a file, which it makes durable before the store changes");
    ForgetRequest req;
    OPTDB_ASSIGN(req.before, revOption(args->before, "--before"));
    req.blockIds = args->blocks;
    req.all = args->all;
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_TRY(req.validate());
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    BlockProgress progress("forget");
    auto archive = args->discard ? std::nullopt : std::optional<std::string>(args->output);
    OPTDB_ASSIGN(auto result, store->forget(req, archive, progress.callback()));
    return printJson(g, result.toJson());
  });
}

}  // namespace optdb::cli
