// optdb: a versioned, transactional block store on a directory tree.
#include <cstdio>

#include "command.hpp"

int main(int argc, char** argv) {
  using namespace optdb::cli;
  Globals g;
  CLI::App app{"optdb: a versioned, transactional block store on a plain directory tree.\n"
               "See optdb(1) and optdb-COMMAND(1).",
               "optdb"};
  app.require_subcommand(1, 1);
  app.fallthrough();
  app.add_option("--store", g.store, "The store directory (default: $OPTDB_STORE)")
      ->envname("OPTDB_STORE")
      ->type_name("DIR");
  app.add_flag("--pretty", g.pretty, "Indent JSON output by two spaces");
  app.add_flag("--no-sync", g.noSync, "Skip fsync (bulk loads); also OPTDB_SYNC=0");
  std::string lockTimeout;
  app.add_option("--lock-timeout", lockTimeout, "Seconds to wait for a lock (default 30; 0: try once)")
      ->type_name("SEC");
  app.parse_complete_callback([&] {
    if (lockTimeout.empty()) return;
    auto t = secondsOption(lockTimeout, "--lock-timeout");
    if (!t) throw CLI::ValidationError(t.status().message());
    g.lockTimeout = *t;
  });

  addGet(app, g);
  addPend(app, g);
  addCommit(app, g);
  addCancel(app, g);
  addInspect(app, g);
  addArchive(app, g);
  addRestore(app, g);
  addRepair(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    printError(e.what());
    return 2;
  } catch (const std::exception& e) {
    printError(std::string("internal error: ") + e.what());
    return 1;
  }
  return g.exitCode;
}
