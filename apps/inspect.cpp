// optdb inspect: describe a store's blocks, or check it for integrity problems.
#include <cstdio>

#include <fmt/format.h>

#include "command.hpp"
#include "optdb/codec.hpp"
#include "optdb/integrity.hpp"
#include "optdb/output_file.hpp"

namespace optdb::cli {

namespace {

// Through the checked output path: a failure is kept there, returned by the
// flushStdout() each command makes before its exit code is decided.
void write(const std::string& s) { (void)writeStdout(s); }

// `v` as JSON text nested `depth` levels deep in an indented document.
std::string nested(const Json& v, bool pretty, int depth) {
  std::string s = toJson(v, pretty);
  if (!pretty) return s;
  std::string out, pad(static_cast<size_t>(depth) * 2, ' ');
  for (char c : s) {
    out.push_back(c);
    if (c == '\n') out += pad;
  }
  return out;
}

// Prints {"<key>":[item,…],"<tailKey>":tail} one item at a time, exactly as
// the whole value would print, so that output never waits for the last block.
// Nothing is printed before the first item or close(), so that a command
// failing before it found anything (the lock not acquired) prints nothing.
class StreamedArray {
 public:
  StreamedArray(bool pretty, std::string key) : pretty_(pretty), key_(std::move(key)) {}
  bool started() const { return started_; }
  void add(const Json& item) {
    start();
    std::string s = first_ ? "" : ",";
    if (pretty_) s += "\n    ";
    s += nested(item, pretty_, 2);
    write(s);
    first_ = false;
  }
  void close(const std::optional<std::pair<std::string, Json>>& tail) {
    start();
    std::string s = pretty_ && !first_ ? "\n  ]" : "]";
    if (tail) s += (pretty_ ? ",\n  " : ",") + toJson(Json(tail->first)) + (pretty_ ? ": " : ":") + nested(tail->second, pretty_, 1);
    s += pretty_ ? "\n}\n" : "}\n";
    write(s);
    (void)flushStdout();
  }

 private:
  void start() {
    if (started_) return;
    started_ = true;
    write(pretty_ ? fmt::format("{{\n  {}: [", toJson(Json(key_))) : fmt::format("{{{}:[", toJson(Json(key_))));
  }

  bool pretty_;
  std::string key_;
  bool started_ = false;
  bool first_ = true;
};

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

void printBlockText(const BlockSummary& s) {
  std::string out = fmt::format("block {}\n", s.blockId);
  out += fmt::format("  dialect       {}\n", namesOf(s.dialect).name);
  out += fmt::format("  ranges        {}\n", s.ranges ? toJson(encodeRanges(*s.ranges)) : "(meta.json unreadable)");
  out += fmt::format("  latest        {}\n",
                     s.latest ? fmt::format("{} ({})", s.latest->rev, s.latest->trxId) : std::string("none"));
  out += fmt::format("  revisions     {}\n", s.revisionCount == 0 ? std::string("0")
                                           : s.revisionCount == 1
                                               ? fmt::format("1 (at {})", *s.firstRev)
                                               : fmt::format("{} (from {} to {})", s.revisionCount, *s.firstRev, *s.lastRev));
  std::string pendings = std::to_string(s.pendings.size());
  if (!s.pendings.empty()) pendings += ":";
  for (const auto& p : s.pendings) pendings += " " + p;
  out += fmt::format("  pendings      {}\n", pendings);
  out += fmt::format("  materialized  {}\n", s.materialized);
  out += fmt::format("  bytes         {} (allocated {})\n", s.bytes, s.allocatedBytes);
  if (s.revisions) {
    for (const auto& r : *s.revisions)
      out += fmt::format("  revision {} {} {}, transform {}\n", r.rev, r.trxId,
                         r.materialized ? "materialized" : "not materialized", plural(r.transformBytes, "byte", "bytes"));
  }
  write(out);
}

std::string storeLine(const StoreSummary& t) {
  return fmt::format("store: {}, {}, {}, {} ({} allocated), {}\n", plural(t.blocks, "block", "blocks"),
                     plural(t.revisions, "revision", "revisions"), plural(t.pendings, "pending transaction", "pending transactions"),
                     plural(t.bytes, "byte", "bytes"), t.allocatedBytes, plural(t.problems, "problem", "problems"));
}

void reportNotFound(const std::vector<BlockId>& notFound) {
  for (const auto& id : notFound) printError(fmt::format("block {}: not in the store (no meta.json)", id));
}

}  // namespace

void addInspect(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> blocks;
    bool json = false, check = false, revisions = false;
    std::string prom;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("inspect", "Describe blocks, or check the store for integrity problems (--check)");
  sub->add_option("blocks", args->blocks, "Limit to these blocks (put ids starting with '-' after --)")->type_name("BLOCK");
  sub->add_flag("--json", args->json, "Print JSON instead of text");
  sub->add_flag("--check", args->check, "Check for integrity problems (takes the store lock exclusively); exit 6 if any");
  sub->add_flag("--revisions", args->revisions, "List every revision: rev, trxId, materialized, transform size");
  auto* prom = sub->add_option("--prom", args->prom,
                               "Also write Prometheus metrics (node_exporter's textfile format) to FILE, replaced atomically")
                   ->type_name("FILE");
  sub->footer(
      "Examples:\n"
      "  optdb --store ./db inspect\n"
      "  optdb --store ./db inspect --check && echo clean\n"
      "  optdb --store ./db inspect b1 --json --revisions | jq '.blocks[0].revisions'\n"
      "  optdb --store ./db inspect --check --prom /var/lib/node_exporter/optdb.prom");
  setAction(sub, g, [&g, args, prom]() -> Status {
    OPTDB_TRY(validateBlockArgs(args->blocks));
    OPTDB_ASSIGN(auto store, openStoreOf(g));
    // Opened first, so that a FILE that cannot be written fails before the
    // work; left as it was unless the metrics are written in full.
    std::unique_ptr<OutputFile> promFile;  // with --prom, nullptr: stdout
    const bool wantProm = prom->count() > 0;
    if (wantProm && args->prom != "-") {
      OPTDB_ASSIGN(promFile, OutputFile::open(args->prom, store->options().sync, "--prom"));
    }
    auto writeProm = [&](const SummaryResult& summary, const CheckResult* check) -> Status {
      OPTDB_ASSIGN(const auto metrics, store->metrics(args->blocks, summary, check));
      const std::string text = metrics.toPrometheus();
      if (!promFile) return writeStdout(text);
      OPTDB_TRY(promFile->write(text));
      return promFile->commit();
    };
    if (args->check) {
      std::optional<StreamedArray> json;
      if (args->json) json.emplace(g.pretty, "problems");
      BlockProgress progress("inspect");
      auto result = store->check(
          args->blocks,
          [&](const Problem& p) {
            progress.clearLine();
            if (json) json->add(p.toJson());
            else write(fmt::format("{}: {}\n", p.path, p.message));
          },
          progress.callback());
      if (!result) {
        if (json && json->started()) json->close(std::nullopt);  // what was found so far, as valid JSON
        return result.status();
      }
      if (json) json->close(std::nullopt);
      OPTDB_TRY(flushStdout());
      if (wantProm) {
        // The figures beside the problems: a summary of the same blocks, printing nothing.
        SummaryOptions o;
        o.blockIds = args->blocks;
        OPTDB_ASSIGN(const auto summary, store->summarize(o, [](const BlockSummary&) {}, [](const Problem&) {}));
        OPTDB_TRY(writeProm(summary, &*result));
      }
      reportNotFound(result->notFound);
      g.exitCode = static_cast<int>(result->exitCode());
      return Status::ok();
    }
    SummaryOptions o;
    o.blockIds = args->blocks;
    o.revisions = args->revisions;
    std::optional<StreamedArray> json;
    if (args->json) json.emplace(g.pretty, "blocks");
    auto result = store->summarize(
        o,
        [&](const BlockSummary& s) {
          if (json) json->add(s.toJson());
          else printBlockText(s);
        },
        [&](const Problem& p) { printError(fmt::format("{}: {}", p.path, p.message)); });
    if (!result) {
      if (json && json->started()) json->close(std::nullopt);
      return result.status();
    }
    if (json) json->close(std::make_pair(std::string("summary"), result->store.toJson()));
    else write(storeLine(result->store));
    OPTDB_TRY(flushStdout());
    if (wantProm) OPTDB_TRY(writeProm(*result, nullptr));
    reportNotFound(result->notFound);
    g.exitCode = static_cast<int>(result->exitCode());
    return Status::ok();
  });
}

}  // namespace optdb::cli
