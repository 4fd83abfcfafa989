// optdb: a versioned, transactional block store on a directory tree.
#include <csignal>
#include <cstdio>

#include "command.hpp"
#include "optdb/archive.hpp"

#ifndef OPTDB_VERSION
#define OPTDB_VERSION "0.1.0"
#endif

namespace {

using namespace optdb::cli;

// Every subcommand, in the order --help lists them: the one table of them.
constexpr void (*kSubcommands[])(CLI::App&, Globals&) = {addGet,    addPend,    addCommit, addCancel,  addInspect,
                                                         addArchive, addRestore, addRepair, addMigrate, addBatch,
                                                         addGc,     addForget};

// "get, pend, …", from the subcommands registered.
std::string commandNames(const CLI::App& app) {
  std::string out;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    out += (out.empty() ? "" : ", ") + sub->get_name();
  return out;
}

// CLI11's own messages name neither the command nor what to do next, and some
// are misleading ("A subcommand is required" for a mistyped command or an
// unknown global option). This turns each into one line that says what is
// wrong and where to look.
std::string describeParseError(const CLI::App& app, const CLI::ParseError& e) {
  auto subs = app.get_subcommands();
  std::string cmd = subs.empty() ? "" : subs.front()->get_name();
  std::string hint = cmd.empty() ? "see 'optdb --help'" : "see 'optdb " + cmd + " --help'";
  std::vector<std::string> left = app.remaining(true);
  auto describeLeftover = [&](const std::string& arg) {
    if (arg.size() > 1 && arg[0] == '-') return "unknown option '" + arg + "'";
    return "unexpected argument '" + arg + "'";
  };
  std::string prefix = cmd.empty() ? "" : cmd + ": ";
  std::string msg = e.what();

  if (cmd.empty() && dynamic_cast<const CLI::RequiredError*>(&e) && msg == "A subcommand is required") {
    if (left.empty()) return "no command given (one of " + commandNames(app) + "); " + hint;
    const std::string& first = left.front();
    if (first == "--") return "the command must come before '--'; " + hint;
    if (first.size() > 1 && first[0] == '-') return "unknown option '" + first + "'; " + hint;
    return "unknown command '" + first + "' (expected one of " + commandNames(app) + "); " + hint;
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e) && !left.empty()) {
    std::string what = describeLeftover(left.front());
    if (left.size() > 1) what += " (and " + std::to_string(left.size() - 1) + " more)";
    return prefix + what + "; " + hint;
  }
  // Errors of the global options (--lock-timeout's value is checked once parsing is done).
  if (msg.rfind("--lock-timeout", 0) == 0 || msg.rfind("--store", 0) == 0 || msg.rfind("--layout", 0) == 0)
    return msg + "; see 'optdb --help'";
  // "--rev: At Most 1 required but received 2"
  if (auto p = msg.find(": At Most 1 required but received"); p != std::string::npos)
    return prefix + msg.substr(0, p) + ": given more than once; " + hint;
  // "--trx: 1 required ID missing"
  if (auto p = msg.find(": 1 required "); p != std::string::npos && msg.size() > 8 &&
      msg.compare(msg.size() - 8, 8, " missing") == 0)
    return prefix + msg.substr(0, p) + ": needs a value (" +
           msg.substr(p + 13, msg.size() - 8 - (p + 13)) + "); " + hint;
  return prefix + msg + "; " + hint;
}

// CLI11's help, minus hidden positionals (group ""; see acceptDashDashAnywhere)
// in the usage line, and minus the blank line an all-hidden last group leaves.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() {
    label("SUBCOMMAND", "COMMAND");  // as optdb(1) and SPEC's synopsis say
  }
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string out = get_label("Usage") + ":" + (name.empty() ? "" : " ") + name;
    if (!app->get_options([](const CLI::Option* o) { return o->nonpositional(); }).empty())
      out += " [" + get_label("OPTIONS") + "]";
    for (const CLI::Option* o :
         app->get_options([](const CLI::Option* o) { return o->get_positional() && !o->get_group().empty(); }))
      out += " " + make_option_usage(o);
    if (!app->get_subcommands([](const CLI::App* s) { return !s->get_disabled() && !s->get_name().empty(); }).empty())
      out += std::string(" ") + (app->get_require_subcommand_min() == 0 ? "[" : "") + get_label("SUBCOMMAND") +
             (app->get_require_subcommand_min() == 0 ? "]" : "");
    return out + "\n";
  }
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    std::string out = CLI::Formatter::make_help(app, std::move(name), mode);
    for (auto p = out.find("\n\n\n"); p != std::string::npos; p = out.find("\n\n\n")) out.erase(p, 1);
    return out;
  }
};

}  // namespace

int main(int argc, char** argv) {
  reserveStandardDescriptors();
  // A closed pipe on stdout is a failed write (EPIPE: exit 1 with a message),
  // not death by a signal.
  std::signal(SIGPIPE, SIG_IGN);
  optdb::killRestoreSourcesOnSignals();
  Globals g;
  CLI::App app{"optdb: a versioned, transactional block store on a plain directory tree.\n"
               "See optdb(1) and optdb-COMMAND(1).",
               "optdb"};
  app.formatter(std::make_shared<HelpFormatter>());  // before the subcommands: they copy it
  app.require_subcommand(1, 1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("optdb ") + OPTDB_VERSION);
  app.add_option("--store", g.store,
                 "The store: a directory, or rados:POOL[/NAMESPACE] (default: $OPTDB_STORE)")
      ->envname("OPTDB_STORE")
      ->type_name("DIR");
  app.add_option("--ceph-conf", g.cephConf,
                 "The Ceph configuration of a rados: store's cluster (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
      ->type_name("FILE");
  app.add_flag("--pretty", g.pretty, "Indent JSON output by two spaces");
  app.add_flag("--no-sync", g.noSync, "Skip fsync (bulk loads); also OPTDB_SYNC=0");
  std::string lockTimeout;
  auto* lockTimeoutOpt =
      app.add_option("--lock-timeout", lockTimeout, "Seconds to wait for a lock (default 30; 0: try once)")
          ->type_name("SEC");
  std::string layout;
  auto* layoutOpt = app.add_option("--layout", layout,
                                   "The dialect new blocks take, and archives are written in: trx or actions "
                                   "(default: the store's; also OPTDB_LAYOUT)")
                        ->envname("OPTDB_LAYOUT")
                        ->type_name("trx|actions");
  app.parse_complete_callback([&] {
    if (layoutOpt->count() > 0 || !layout.empty()) {
      auto d = optdb::parseDialect(layout);
      if (!d) throw CLI::ValidationError("--layout: must be trx or actions, got '" + layout + "'");
      g.layout = *d;
    }
    if (lockTimeoutOpt->count() == 0) return;  // an empty value is an error, not "absent"
    auto t = secondsOption(lockTimeout, "--lock-timeout");
    if (!t) throw CLI::ValidationError(t.status().message());
    g.lockTimeout = *t;
  });

  for (auto add : kSubcommands) add(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return finishStdout(app.exit(e));
  } catch (const CLI::ParseError& e) {
    printError(describeParseError(app, e));
    return finishStdout(2);
  } catch (const std::exception& e) {
    printError(std::string("internal error: ") + e.what());
    return finishStdout(1);
  }
  return finishStdout(g.exitCode);
}
