// Timing helpers shared by the benches: figures are medians of timed runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace optdb::bench {

using Clock = std::chrono::steady_clock;

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace optdb::bench
