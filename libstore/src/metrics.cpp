// inspect --prom (SPEC §8): the metrics gathered from inspect's own passes,
// and the Prometheus text exposition format they are written in.
#include "optdb/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include <fmt/format.h>

namespace optdb {

namespace {

// A # HELP text: backslash and line feed escaped.
std::string escapeHelp(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

// A label value: backslash, double quote and line feed escaped.
std::string escapeLabelValue(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

// The text of an exposition, a metric family (# HELP, # TYPE, its samples) at a time.
class Exposition {
 public:
  void gauge(std::string_view name, std::string_view help) {
    name_ = name;
    out_ += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name_, escapeHelp(help), name_);
  }
  // A sample of the last family, with a label kind="…" when `kind` is given.
  void sample(const std::string& value, std::optional<std::string_view> kind = std::nullopt) {
    if (kind) out_ += fmt::format("{}{{kind=\"{}\"}} {}\n", name_, escapeLabelValue(*kind), value);
    else out_ += fmt::format("{} {}\n", name_, value);
  }
  void sample(std::uint64_t value, std::optional<std::string_view> kind = std::nullopt) {
    sample(std::to_string(value), kind);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string name_;
};

}  // namespace

std::string StoreMetrics::toPrometheus() const {
  Exposition e;
  e.gauge("optdb_blocks", "Blocks inspected (every block of the store, or those inspect names).");
  e.sample(blocks);
  e.gauge("optdb_revisions", "Complete revisions the blocks hold.");
  e.sample(revisions);
  e.gauge("optdb_pending_transactions", "Pending transactions, counted once per block each is pending on.");
  e.sample(pendingTransactions);
  e.gauge("optdb_oldest_pending_age_seconds",
          "Seconds since the oldest pending transaction's file was written; 0 when none is pending.");
  e.sample(fmt::format("{}", oldestPendingAgeSeconds));
  e.gauge("optdb_bytes",
          "Bytes of the blocks' files: their apparent sizes, and what the file system allocated (as du counts).");
  e.sample(apparentBytes, "apparent");
  e.sample(allocatedBytes, "allocated");
  e.gauge("optdb_interrupted_commits",
          "Commit intents present: commits on several blocks begun and not finished (optdb repair finishes them).");
  e.sample(interruptedCommits);
  if (problems) {
    e.gauge("optdb_problems", "Integrity problems inspect --check found, by kind.");
    for (const auto& [kind, n] : *problems) e.sample(n, kind);
  }
  return e.take();
}

Result<StoreMetrics> collectMetrics(RawStorage& raw, const std::vector<BlockId>& blockIds, const SummaryResult& summary,
                                    const CheckResult* check, std::chrono::system_clock::time_point now) {
  StoreMetrics m;
  const StoreSummary& s = summary.store;
  m.blocks = s.blocks;
  m.revisions = s.revisions;
  m.pendingTransactions = s.pendings;
  m.apparentBytes = s.bytes;
  m.allocatedBytes = s.allocatedBytes;
  if (s.oldestPending) {
    // A file written "in the future" (a clock set back) is no age: 0.
    const double age = std::chrono::duration<double>(now - *s.oldestPending).count();
    m.oldestPendingAgeSeconds = std::max(0.0, std::round(age * 1000.0) / 1000.0);
  }
  const std::set<BlockId> scope(blockIds.begin(), blockIds.end());
  OPTDB_ASSIGN(const auto intents, raw.listIntentItems());
  for (const auto& f : intents.intents) {
    const auto& ids = f.intent.blockIds;
    if (scope.empty() || std::any_of(ids.begin(), ids.end(), [&](const BlockId& b) { return scope.count(b) > 0; }))
      ++m.interruptedCommits;
  }
  if (check) {
    m.problems.emplace();
    for (const char* kind : problem::kKinds) (*m.problems)[kind] = 0;
    for (const auto& [kind, n] : check->kinds) (*m.problems)[kind] = n;
  }
  return m;
}

}  // namespace optdb
