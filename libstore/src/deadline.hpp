// The one way optdb turns a timeout in decimal seconds into a point in time
// (--lock-timeout, pend --timeout, OPTDB_RESTORE_TIMEOUT). Converting a double
// straight to a steady_clock time point overflows for large values (1e11 s is
// 1e20 ns): the deadline lands in the past and the wait gives up at once.
// Here 0 (or less, or NaN) is "try once", and anything beyond a year is
// "forever" (SPEC §7: a timeout of any size waits that long).
#pragma once

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>

namespace optdb {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  // Timeouts above this many seconds (a year) never expire.
  static constexpr double kForeverSeconds = 366.0 * 24 * 3600;

  // `seconds` from now.
  static Deadline after(double seconds) {
    if (std::isnan(seconds) || seconds <= 0) return Deadline(Clock::now(), false);
    if (seconds > kForeverSeconds) return never();
    return Deadline(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)),
                    false);
  }
  static Deadline never() { return Deadline(Clock::time_point(), true); }

  bool forever() const { return forever_; }
  bool expired() const { return !forever_ && Clock::now() >= at_; }
  // What is left, never negative; a year at most (for a deadline that never
  // expires), so that it can be added to a time point or compared safely.
  Clock::duration remaining() const {
    const Clock::duration cap = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kForeverSeconds));
    if (forever_) return cap;
    return std::clamp<Clock::duration>(at_ - Clock::now(), Clock::duration::zero(), cap);
  }
  // A poll(2) timeout: -1 (no limit) for a deadline that never expires, else
  // the milliseconds left rounded up, at most INT_MAX.
  int pollMs() const {
    if (forever_) return -1;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(remaining() + std::chrono::microseconds(999)).count();
    return static_cast<int>(std::min<long long>(ms, INT_MAX));
  }

 private:
  Deadline(Clock::time_point at, bool forever) : at_(at), forever_(forever) {}
  Clock::time_point at_;
  bool forever_;
};

}  // namespace optdb
