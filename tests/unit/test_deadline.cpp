// Deadline (defect 13 of issue 11): the one conversion of a timeout in decimal
// seconds to a point in time. A double converted straight to steady_clock
// overflows for 1e11 s (1e20 ns): the deadline lands in the past and a wait
// of any size gives up at once.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "deadline.hpp"

using namespace optdb;
using namespace std::chrono_literals;

TEST_CASE("defect 13: a deadline of any size is in the future, beyond a year it is forever") {
  for (double s : {1e11, 1e20, 1e300, std::numeric_limits<double>::infinity(), Deadline::kForeverSeconds * 2}) {
    INFO(s);
    Deadline d = Deadline::after(s);
    CHECK_FALSE(d.expired());
    CHECK(d.forever());
    CHECK(d.pollMs() == -1);
    CHECK(d.remaining() > 24h * 365);  // clamped to a year, never negative or overflowed
  }
  Deadline month = Deadline::after(30 * 24 * 3600.0);
  CHECK_FALSE(month.forever());
  CHECK_FALSE(month.expired());
  CHECK(month.remaining() > 24h * 29);
  CHECK(month.pollMs() > 0);  // clamped to INT_MAX milliseconds, not wrapped around
}

TEST_CASE("defect 13: 0, negative and NaN seconds are 'try once'") {
  for (double s : {0.0, -1.0, -1e300, std::nan("")}) {
    INFO(s);
    Deadline d = Deadline::after(s);
    CHECK(d.expired());
    CHECK_FALSE(d.forever());
    CHECK(d.remaining() == Deadline::Clock::duration::zero());
    CHECK(d.pollMs() == 0);
  }
}

TEST_CASE("a short deadline expires when it should") {
  Deadline d = Deadline::after(0.05);
  CHECK_FALSE(d.expired());
  CHECK(d.remaining() <= 50ms);
  CHECK(d.pollMs() <= 50);
  std::this_thread::sleep_for(60ms);
  CHECK(d.expired());
  CHECK(d.remaining() == Deadline::Clock::duration::zero());
  CHECK(Deadline::never().forever());
}
