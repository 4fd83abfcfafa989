// optdb cancel: drop a pending transaction from its blocks.
#include "command.hpp"

namespace optdb::cli {

void addCancel(CLI::App& app, Globals& g) {
  struct Args {
    std::string trx;
    std::vector<std::string> blocks;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("cancel", "Remove a pending transaction from blocks");
  sub->add_option("--trx", args->trx, "The transaction id")->required()->type_name("ID");
  sub->add_option("BLOCK", args->blocks, "Blocks to remove it from")->required()->type_name("BLOCK");
  acceptDashDashAnywhere(sub);
  sub->footer("Example:\n  optdb --store ./db cancel --trx t1 b1 b2");
  setAction(sub, g, [&g, args]() -> Status {
    OPTDB_TRY(validateTrxId(args->trx, "--trx"));
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    OPTDB_ASSIGN(auto result, store->cancel(args->trx, args->blocks));
    OPTDB_TRY(printJson(g, result.toJson()));
    return Status::ok();
  });
}

}  // namespace optdb::cli
