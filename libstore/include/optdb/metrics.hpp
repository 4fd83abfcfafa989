// A store's metrics (SPEC §8, `optdb inspect --prom FILE`) and their one
// codec: the Prometheus text exposition format (version 0.0.4), as
// node_exporter's textfile collector reads it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "optdb/integrity.hpp"
#include "optdb/raw_storage.hpp"

namespace optdb {

struct StoreMetrics {
  std::uint64_t blocks = 0;
  std::uint64_t revisions = 0;            // complete revisions, summed over the blocks
  std::uint64_t pendingTransactions = 0;  // once per block a transaction is pending on
  // Since the oldest pending transaction's file was written (its modification
  // time); 0 when there is none, or when the medium keeps no such time.
  double oldestPendingAgeSeconds = 0;
  std::uint64_t apparentBytes = 0, allocatedBytes = 0;
  // Commit intents present (decoded): commits on several blocks begun and not finished.
  std::uint64_t interruptedCommits = 0;
  // With inspect --check: the problems by kind, every problem::kKinds there
  // (0 where none was found), and any other kind found.
  std::optional<std::map<std::string, std::uint64_t>> problems;

  // optdb_blocks, optdb_revisions, optdb_pending_transactions,
  // optdb_oldest_pending_age_seconds, optdb_bytes{kind="apparent"|"allocated"},
  // optdb_interrupted_commits and, when `problems` is set, optdb_problems{kind="…"}:
  // each a gauge with its # HELP and # TYPE lines; the text ends with a newline.
  std::string toPrometheus() const;
};

// The metrics of what inspect found: its summary of the blocks (`blockIds`,
// empty: every block), with --check its result, and the store's commit
// intents touching those blocks (every intent when none are named). Ages are
// taken at `now`.
Result<StoreMetrics> collectMetrics(RawStorage& raw, const std::vector<BlockId>& blockIds, const SummaryResult& summary,
                                    const CheckResult* check, std::chrono::system_clock::time_point now);

}  // namespace optdb
