// optdb commit: make a pending transaction permanent at a revision.
#include "command.hpp"

namespace optdb::cli {

void addCommit(CLI::App& app, Globals& g) {
  struct Args {
    std::string trx, rev;
    std::vector<std::string> blocks;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("commit", "Commit a pending transaction on its blocks at a revision");
  sub->add_option("--trx", args->trx, "The transaction id")->required()->type_name("ID");
  sub->add_option("--rev", args->rev, "The revision to commit at (>= 1)")->required()->type_name("N");
  sub->add_option("BLOCK", args->blocks, "Every block of the transaction")->required()->type_name("BLOCK");
  acceptDashDashAnywhere(sub);
  sub->footer("Example:\n  optdb --store ./db commit --trx t1 --rev 1 b1 b2");
  setAction(sub, g, [&g, args]() -> Status {
    OPTDB_TRY(validateTrxId(args->trx, "--trx"));
    OPTDB_ASSIGN(Rev rev, revOption(args->rev, "--rev"));
    if (rev < 1) return Status::invalid("--rev: a commit needs a revision of at least 1");
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    OPTDB_ASSIGN(auto result, store->commit(args->trx, args->blocks, rev));
    OPTDB_TRY(printJson(g, result.toJson()));
    g.exitCode = static_cast<int>(result.exitCode());
    return Status::ok();
  });
}

}  // namespace optdb::cli
