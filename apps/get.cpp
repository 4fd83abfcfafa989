// optdb get: read blocks at their latest or a given revision.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "command.hpp"
#include "optdb/archive.hpp"

#include <fmt/format.h>

namespace optdb::cli {

void addGet(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks, committed, restoreFrom;
    std::string rev, trx;
    // Given at all (an empty value is an error, not "absent").
    CLI::Option* revOpt = nullptr;
    CLI::Option* trxOpt = nullptr;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("get", "Read blocks, at their latest or a given revision");
  sub->add_option("BLOCK", args->blocks, "Block ids (put ids starting with '-' after --)")->required()->type_name("BLOCK");
  args->revOpt = sub->add_option("--rev", args->rev, "Read at this revision")->type_name("N");
  args->trxOpt = sub->add_option("--trx", args->trx, "Apply this pending transaction on top")->type_name("ID");
  sub->add_option("--committed", args->committed, "A transaction committed elsewhere at REV (repeatable)")
      ->type_name("ID:REV")
      ->allow_extra_args(false);
  sub->add_option("--restore-from", args->restoreFrom,
                  "Where to fetch revisions this store lacks: FILE, DIR or cmd:COMMAND (repeatable)")
      ->type_name("SRC")
      ->allow_extra_args(false);
  acceptDashDashAnywhere(sub);
  sub->footer("Example:\n  optdb --store ./db get b1 b2 --rev 7 | jq '.b1.block'");
  setAction(sub, g, [&g, args]() -> Status {
    GetContext ctx;
    if (args->revOpt->count() > 0) {
      OPTDB_ASSIGN(ctx.rev, revOption(args->rev, "--rev"));
    }
    if (args->trxOpt->count() > 0) {
      OPTDB_TRY(validateTrxId(args->trx, "--trx"));
      ctx.trxId = args->trx;
    }
    for (const auto& c : args->committed) {
      auto colon = c.rfind(':');
      if (colon == std::string::npos) return Status::invalid("--committed: expected ID:REV, got '" + c + "'");
      TrxRev tr{c.substr(0, colon), 0};
      OPTDB_TRY(validateTrxId(tr.trxId, "--committed"));
      OPTDB_ASSIGN(tr.rev, revOption(c.substr(colon + 1), "--committed"));
      ctx.committed.push_back(tr);
    }
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    if (!args->restoreFrom.empty()) {
      OPTDB_ASSIGN(auto sources, parseRestoreSources(args->restoreFrom));
      if (const char* t = std::getenv("OPTDB_RESTORE_TIMEOUT")) {
        OPTDB_ASSIGN(const double seconds, secondsOption(t, "OPTDB_RESTORE_TIMEOUT"));
        for (auto& s : sources) s.timeoutSeconds = seconds;
      }
      if (const char* m = std::getenv("OPTDB_RESTORE_MAX_BYTES")) {
        // A count of bytes, at least 1: digits only (parseRev's rule, without its ceiling).
        std::string text(m);
        char* end = nullptr;
        errno = 0;
        unsigned long long n = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || errno != 0 || n == 0)
          return Status::invalid(fmt::format("OPTDB_RESTORE_MAX_BYTES: expected a number of bytes >= 1, got '{}'", text));
        for (auto& s : sources) s.maxBytes = n;
      }
      store->setRestoreSources(std::move(sources), [](std::string message) {
        for (char& c : message)
          if (c == '\n' || c == '\r') c = ' ';
        std::fprintf(stderr, "optdb: warning: %s\n", message.c_str());
      });
    }
    OPTDB_ASSIGN(auto result, store->get(args->blocks, ctx));
    OPTDB_TRY(printJson(g, result.toJson()));
    for (const auto& [id, state] : result.blocks) {
      if (state.notFound) printError(*state.notFound);
      else if (!state.block && ctx.rev)
        printError(fmt::format("block {}: no block at revision {} (not inserted by then, or deleted)", id, *ctx.rev));
      else if (!state.block)
        printError(fmt::format("block {}: no block (never committed in this store, or deleted)", id));
    }
    g.exitCode = static_cast<int>(result.exitCode());
    return Status::ok();
  });
}

}  // namespace optdb::cli
