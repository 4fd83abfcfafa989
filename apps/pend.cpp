// optdb pend: stage a transaction's transforms as pending on its blocks.
#include <unistd.h>

#include "command.hpp"
#include "optdb/codec.hpp"

namespace optdb::cli {

void addPend(CLI::App& app, Globals& g) {
  struct Args {
    std::string trx, rev, policy = "c", timeout = "30", file = "-";
    CLI::Option* revOpt = nullptr;  // given at all (an empty value is an error, not "absent")
    CLI::Option* fileOpt = nullptr;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("pend", "Stage a transaction (Transforms JSON from FILE or stdin) as pending");
  sub->add_option("--trx", args->trx, "The transaction id")->required()->type_name("ID");
  args->revOpt = sub->add_option("--rev", args->rev, "The revision the transaction was built on; newer ones are reported missing")
      ->type_name("N");
  sub->add_option("--policy", args->policy,
                  "Other pending transactions: c continue, f fail, r fail returning them, w wait")
      ->type_name("c|f|r|w");
  sub->add_option("--timeout", args->timeout, "Seconds policy w waits (default 30)")->type_name("SEC");
  args->fileOpt = sub->add_option("FILE", args->file, "Transforms JSON file, or - for stdin (the default)")->type_name("FILE|-");
  sub->footer(
      "Example:\n"
      "  echo '{\"inserts\":{\"b1\":{\"header\":{\"id\":\"b1\",\"type\":\"note\",\"collectionId\":\"c1\"},\"text\":\"hi\"}}}' \\\n"
      "    | optdb --store ./db pend --trx t1");
  setAction(sub, g, [&g, args]() -> Status {
    PendRequest req;
    OPTDB_TRY(validateTrxId(args->trx, "--trx"));
    req.trxId = args->trx;
    if (args->revOpt->count() > 0) {
      OPTDB_ASSIGN(req.rev, revOption(args->rev, "--rev"));
    }
    auto policy = parsePolicy(args->policy);
    if (!policy) return Status::invalid("--policy: expected c, f, r or w, got '" + args->policy + "'");
    req.policy = *policy;
    OPTDB_ASSIGN(req.timeoutSeconds, secondsOption(args->timeout, "--timeout"));
    // With no FILE and a terminal on stdin, reading would just hang, silently.
    if (args->fileOpt->count() == 0 && ::isatty(STDIN_FILENO))
      return Status::invalid("no Transforms JSON given: pipe it in, or name a FILE (- reads the terminal)");
    OPTDB_ASSIGN(auto text, readInput(args->file));
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
      return Status::invalid((args->file == "-" ? std::string("stdin") : args->file) +
                             ": no input; expected a Transforms JSON object such as {\"inserts\":{...}}");
    OPTDB_ASSIGN(auto json, parseJson(text, args->file == "-" ? "stdin" : args->file, kTransformsEnvelope));
    OPTDB_ASSIGN(req.transforms, decodeTransforms(json, "transforms"));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    OPTDB_ASSIGN(auto result, store->pend(req));
    OPTDB_TRY(printJson(g, result.toJson()));
    g.exitCode = static_cast<int>(result.exitCode());
    return Status::ok();
  });
}

}  // namespace optdb::cli
