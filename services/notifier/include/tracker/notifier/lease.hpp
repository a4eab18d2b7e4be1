#pragma once
// The timing of a notifier's lease on a delivery (slack_deliveries.leased_by / lease_until,
// migration 0006): at most one notifier works on a delivery at a time, whatever its consumer
// group does.
//
// A lease is taken in the database before each request and runs for the request timeout plus a
// margin, so while it runs its holder may have a request in flight and nobody else may post;
// once it has run out, the holder is gone (or waiting between attempts) and a request it started
// has ended one way or the other. The margin covers what comes between taking the lease and
// sending: the attempt's database write and the wait for a rate token. Should that wait be
// long, the lease is renewed before the request goes out (covers_request).
//
// The holder's own clock decides when to renew; the database's clock decides when a lease has
// run out for the others. The holder measures from just before it sent the statement, so the
// lease it believes it holds never ends later than the one the database wrote.
#include <algorithm>
#include <chrono>
#include <optional>

#include <tracker/notifier/pacer.hpp>

namespace tracker::notifier {

struct LeasePolicy {
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds margin{5'000};
  // Waiting for a lease held by another notifier (or for a delivery whose partition has moved
  // to another member): looks again after `look_initial`, doubling up to `look_max`.
  std::chrono::milliseconds look_initial{100};
  std::chrono::milliseconds look_max{2'000};

  [[nodiscard]] std::chrono::milliseconds duration() const { return request_timeout + margin; }

  // Whether a lease taken at `taken` still covers a request sent at `now` until its timeout,
  // with half the margin to spare (for the outcome's database write).
  [[nodiscard]] bool covers_request(Clock::time_point taken, Clock::time_point now) const {
    return now + request_timeout + margin / 2 <= taken + duration();
  }

  // The wait before the next look at a delivery someone else holds, after `looks` looks: the
  // doubling backoff, but no later than just after the holder's lease runs out (`lease_left`,
  // when known), since the delivery may then be taken over.
  [[nodiscard]] Clock::duration next_look(int looks,
                                          std::optional<Clock::duration> lease_left) const {
    Clock::duration wait = look_initial;
    for (int i = 0; i < looks && wait < look_max; ++i) wait *= 2;
    wait = std::min<Clock::duration>(wait, look_max);
    if (lease_left) {
      constexpr auto kAfterExpiry = std::chrono::milliseconds{20};
      wait = std::min<Clock::duration>(
          wait, std::max<Clock::duration>(*lease_left, Clock::duration::zero()) + kAfterExpiry);
    }
    return wait;
  }
};

}  // namespace tracker::notifier
