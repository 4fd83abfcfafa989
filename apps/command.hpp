// What every subcommand shares: the global options, opening the store,
// reading input, and printing results and errors the same way.
#pragma once

#include <chrono>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "optdb/json.hpp"
#include "optdb/store.hpp"

namespace optdb::cli {

struct Globals {
  std::string store;
  bool pretty = false;
  bool noSync = false;
  double lockTimeout = 30.0;
  std::optional<Dialect> layout;  // --layout / OPTDB_LAYOUT
  std::string cephConf;           // --ceph-conf (a rados: store's cluster)
  int exitCode = 0;
};

// Each subcommand file defines one of these; main() calls them all.
void addGet(CLI::App& app, Globals& g);
void addPend(CLI::App& app, Globals& g);
void addCommit(CLI::App& app, Globals& g);
void addCancel(CLI::App& app, Globals& g);
void addInspect(CLI::App& app, Globals& g);
void addArchive(CLI::App& app, Globals& g);
void addRestore(CLI::App& app, Globals& g);
void addRepair(CLI::App& app, Globals& g);
void addMigrate(CLI::App& app, Globals& g);
void addBatch(CLI::App& app, Globals& g);
void addGc(CLI::App& app, Globals& g);
void addForget(CLI::App& app, Globals& g);

// Makes `sub` take `--` anywhere among its positional arguments: `get b1 -- -x`
// as well as `get -- b1 -x`. (CLI11 2.1 hands a `--` that comes after the
// first positional to the parent app, which then rejects what follows as
// unexpected.) Call it after adding the subcommand's positionals.
void acceptDashDashAnywhere(CLI::App* sub);

// Runs `body` as the subcommand's action; its Status becomes the exit code.
void setAction(CLI::App* sub, Globals& g, std::function<Status()> body);

// The store directory, checked: given, and a directory if it exists.
Result<std::string> storePath(const Globals& g);
StoreOptions storeOptions(const Globals& g);
// The store the global options name, opened with their options.
Result<std::unique_ptr<Store>> openStoreOf(const Globals& g);

// The whole of FILE, or of stdin for "-".
Result<std::string> readInput(const std::string& file);

// stdin a line at a time, in bounded memory: a line longer than the stored-file
// limit is an error for that line (the rest of it skipped), not for the input.
class StdinLines {
 public:
  // The next line without its "\n" (a last line without one too); nullopt at
  // the end; InvalidInput for a line that is too long (the next call goes on after it).
  Result<std::optional<std::string>> next();

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
};

// Results on stdout: everything a command prints to stdout goes through
// these, and every write is checked (SPEC §7: a failed write to stdout, a
// closed pipe or a full disk, is exit 1 for every command). The first failure
// is kept: later writes are skipped and return it. setAction flushes stdout
// after each command and reports a failure as the command's error.
Status writeStdout(std::string_view data);
Status flushStdout();
// For main(), at exit: flushes and closes stdout; exit 1, with one "optdb:
// error:" line unless setAction already printed it, if any write failed.
int finishStdout(int exitCode);
// For main(), first: a standard descriptor the caller closed is held by one
// on which every read or write fails, so that nothing optdb opens later takes
// its number (and results never land in a store file).
void reserveStandardDescriptors();

// Progress of a command that visits blocks (SPEC §5): "optdb: CMD: n/m blocks"
// (or another `unit`: restore counts archives) rewritten in place on stderr
// when stderr is a terminal, nothing otherwise; the line is ended when the
// object goes.
class BlockProgress {
 public:
  explicit BlockProgress(std::string command, std::string unit = "blocks");
  ~BlockProgress();
  BlockProgress(const BlockProgress&) = delete;
  BlockProgress& operator=(const BlockProgress&) = delete;
  // Empty when stderr is not a terminal.
  BlockProgressFn callback();
  // Erases a line shown and not ended, before a result line is printed on
  // the terminal (the next update shows it again below that line).
  void clearLine();

 private:
  std::string command_, unit_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_;
};

// One JSON value and a newline on stdout.
Status printJson(const Globals& g, const Json& value);
// "optdb: error: …" on stderr, on one line.
void printError(const std::string& message);

// Every BLOCK argument is a valid block id.
Status validateBlockArgs(const std::vector<std::string>& blocks);

// Parsers for option values, with the option's name in their messages.
Result<Rev> revOption(const std::string& text, const std::string& option);
Result<double> secondsOption(const std::string& text, const std::string& option);

}  // namespace optdb::cli
