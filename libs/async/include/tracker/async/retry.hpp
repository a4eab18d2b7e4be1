#pragma once
// One retry loop with capped exponential backoff, bounded in count and in time, for every
// "try again until it works" of the consume loops (a batch write, a dead letter, a ledger row).
//
//   const async::RetryPolicy policy{.initial = 100ms, .max_delay = 5s,
//                                   .max_attempts = 10, .max_elapsed = 60s};
//   const async::RetryHooks<pg::Error> hooks{
//       .failed = [&](const pg::Error& e, int attempt, auto retry_in) { log; count; },
//       .outage_began = [&](const pg::Error&) { gate.hold("database"); },
//       .outage_ended = [&] { gate.release("database"); }};
//   auto written = co_await async::retry(stop, policy, hooks, [&] { return store.write(batch); },
//                                        [](const pg::Error& e) { return retryable(e); });
//   if (written) use(*written);
//   else switch (written.error().outcome) { refused / exhausted / abandoned }
//
// The operation is a callable returning asio::awaitable<boost::system::result<T, E>>. It runs
// once, then again after each retryable failure, until it succeeds (the value), a failure is not
// retryable (refused, with that error), the policy's bound is reached (exhausted: max_attempts
// attempts, or no retry would start within max_elapsed of the first attempt), or the stop is
// abandoned (abandoned; a stop merely requested does not end the loop: the grace is there for
// it). The failure carries the last error and the number of attempts.
//
// Hooks (each may be empty): `failed` for each failure that will be retried, with the pause
// before the next attempt; `outage_began` on the first of those, `outage_ended` once when the
// loop ends after one, however it ends (so a pause gate held in one is always released).
//
// Bounds: every call site states max_attempts and max_elapsed. A loop that must wait out an
// outage for as long as it lasts (nothing acknowledged may be lost) says so with
// kUnlimitedAttempts / kUnlimitedTime, and is then bounded by the stop's grace alone: the
// comment at the call site says so.
//
// GCC 12: name the hooks (and any policy built in place) before the co_await; a braced
// temporary inside a co_await'ed call is destroyed twice.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/async/outcome.hpp>
#include <tracker/async/pause_gate.hpp>

namespace tracker::async {

namespace asio = boost::asio;

inline constexpr int kUnlimitedAttempts = std::numeric_limits<int>::max();
inline constexpr std::chrono::milliseconds kUnlimitedTime = std::chrono::milliseconds::max();

struct RetryPolicy {
  std::chrono::milliseconds initial{100};      // the pause before the first retry
  std::chrono::milliseconds max_delay{5'000};  // the cap of the pauses
  double multiplier = 2.0;
  // The pause is drawn uniformly from [d * (1 - jitter), d], so that clients that failed
  // together do not retry together. 0: none.
  double jitter = 0.0;
  int max_attempts = 5;                           // attempts in all, the first one included
  std::chrono::milliseconds max_elapsed{30'000};  // no retry starts later after the first attempt
};

// The pauses of a policy, one after each failure: initial, initial * multiplier, ... capped at
// max_delay, each jittered.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy, std::uint64_t seed = std::random_device{}())
      : policy_(policy), rng_(seed) {}

  // The pause after the next failure.
  std::chrono::milliseconds next() {
    ++failures_;
    const double cap = static_cast<double>(policy_.max_delay.count());
    double delay = std::min(cap, static_cast<double>(policy_.initial.count()) *
                                     std::pow(std::max(policy_.multiplier, 1.0), failures_ - 1));
    const double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
    if (jitter > 0) {
      std::uniform_real_distribution<double> spread(delay * (1.0 - jitter), delay);
      delay = spread(rng_);
    }
    return std::chrono::milliseconds{std::llround(std::max(0.0, delay))};
  }
  void reset() noexcept { failures_ = 0; }
  [[nodiscard]] int failures() const noexcept { return failures_; }

 private:
  RetryPolicy policy_;
  std::mt19937_64 rng_;
  int failures_ = 0;
};

template <typename E>
struct RetryFailure {
  Outcome outcome = Outcome::refused;  // refused, exhausted or abandoned
  E error{};                           // the last failure
  int attempts = 0;
};

// What boost::system::result<T, RetryFailure<E>>::value() throws on a failure.
template <typename E>
[[noreturn]] void throw_exception_from_error(const RetryFailure<E>& failure,
                                             const boost::source_location& /*location*/) {
  throw std::runtime_error("retry ended " + std::string(to_string(failure.outcome)) + " after " +
                           std::to_string(failure.attempts) + " attempts");
}

template <typename T, typename E>
using Retried = boost::system::result<T, RetryFailure<E>>;

template <typename E>
struct RetryHooks {
  std::function<void(const E& error, int attempt, std::chrono::milliseconds retry_in)> failed;
  std::function<void(const E& error)> outage_began;
  std::function<void()> outage_ended;
};

// Hooks that hold `reason` on `gate` while an outage lasts (from the first failure to be retried
// until the loop ends), with `failed` for each such failure.
template <typename E>
RetryHooks<E> holding(
    PauseGate& gate, std::string_view held_reason,
    std::function<void(const E& error, int attempt, std::chrono::milliseconds retry_in)> failed =
        {}) {
  std::string reason(held_reason);
  return {.failed = std::move(failed),
          .outage_began = [&gate, reason](const E& /*error*/) { gate.hold(reason); },
          .outage_ended = [&gate, reason] { gate.release(reason); }};
}

struct AlwaysRetryable {
  template <typename E>
  bool operator()(const E& /*error*/) const noexcept {
    return true;
  }
};

namespace detail {
template <typename Op>
using OpResult = typename std::invoke_result_t<Op&>::value_type;  // awaitable<R> -> R
}

template <typename Op, typename Retryable = AlwaysRetryable>
auto retry(GracefulStop& stop, RetryPolicy policy,
           const RetryHooks<typename detail::OpResult<Op>::error_type>& hooks, Op op,
           Retryable retryable = {})
    -> asio::awaitable<Retried<typename detail::OpResult<Op>::value_type,
                               typename detail::OpResult<Op>::error_type>> {
  using T = typename detail::OpResult<Op>::value_type;
  using E = typename detail::OpResult<Op>::error_type;
  using Failure = RetryFailure<E>;
  Backoff backoff(policy);
  const auto started = std::chrono::steady_clock::now();
  // Ends the outage however the loop ends, an exception from `op` included, so that a pause
  // gate held for it is always released.
  struct Outage {
    const RetryHooks<E>& hooks;
    bool begun = false;
    ~Outage() {
      if (begun && hooks.outage_ended) hooks.outage_ended();
    }
  } outage{hooks};
  for (int attempt = 1;; ++attempt) {
    auto result = co_await op();
    Outcome outcome = Outcome::done;
    std::chrono::milliseconds pause{0};
    if (!result) {
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started);
      if (!retryable(result.error())) {
        outcome = Outcome::refused;
      } else if (attempt >= policy.max_attempts) {
        outcome = Outcome::exhausted;
      } else if (pause = backoff.next(); elapsed >= policy.max_elapsed - pause) {
        outcome = Outcome::exhausted;
      } else if (stop.abandoned()) {
        outcome = Outcome::abandoned;
      } else {
        if (!outage.begun) {
          outage.begun = true;
          if (hooks.outage_began) hooks.outage_began(result.error());
        }
        if (hooks.failed) hooks.failed(result.error(), attempt, pause);
        co_await stop.sleep_in_grace(pause);
        if (!stop.abandoned()) continue;
        outcome = Outcome::abandoned;
      }
    }
    if (outage.begun) {
      outage.begun = false;
      if (hooks.outage_ended) hooks.outage_ended();
    }
    if (outcome == Outcome::done) {
      if constexpr (std::is_void_v<T>) {
        co_return Retried<T, E>{};
      } else {
        co_return Retried<T, E>{std::move(*result)};
      }
    }
    co_return Retried<T, E>{boost::system::in_place_error,
                            Failure{outcome, result.error(), attempt}};
  }
}

}  // namespace tracker::async
