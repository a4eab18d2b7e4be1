#pragma once
// A Chat Completions client that is a good citizen of a rate-limited API:
//   - a client-side limiter for requests and tokens per minute, corrected from every answer's
//     x-ratelimit-* headers, so that requests wait here rather than being refused there;
//   - 429 rate_limit_exceeded: every request waits out retry-after-ms / retry-after (capped),
//     else exponential backoff with jitter; insufficient_quota, 400, 401, 403, 404: no retry;
//     408, 409, 5xx, timeouts and resets: retry;
//   - at most max_attempts requests per call, within the call's deadline;
//   - a retry budget (retries at most a share of requests over a sliding window);
//   - a circuit breaker that stops sending after consecutive server failures, then probes.
// Every wait is bounded by the call's deadline. All jobs share one client, so the limits,
// the budget and the breaker see the whole process's traffic.
//
// Threads: one executor, the one the http::Client and this object were given.
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/http/backoff.hpp>
#include <tracker/http/client.hpp>
#include <tracker/llm/chat.hpp>
#include <tracker/llm/circuit_breaker.hpp>
#include <tracker/llm/limiter.hpp>
#include <tracker/llm/retry_budget.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::llm {

namespace asio = boost::asio;

struct ChatClientOptions {
  LimiterOptions limiter;
  RetryBudgetOptions budget;
  BreakerOptions breaker;
  http::BackoffPolicy backoff{.initial = std::chrono::milliseconds{500},
                              .max = std::chrono::milliseconds{8'000},
                              .multiplier = 2.0,
                              .jitter = 0.5};
  int max_attempts = 4;
  std::chrono::milliseconds retry_after_max{60'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::uint64_t seed = std::random_device{}();
};

// A completion: the answer, with what it took.
struct Completion {
  ChatResult result;      // the answer (Outcome::ok)
  int attempts = 0;       // requests sent
  double latency_ms = 0;  // of the request that succeeded
};

// A call that ended without an answer.
struct CallFailure {
  Outcome outcome = Outcome::retryable;  // of the last answer (or of what stood for one)
  ChatResult last;                       // the last answer, or the failure that stood for one
  int attempts = 0;                      // requests sent
  std::string reason;                    // why: a sentence for the job's last_error

  // A failure that a later try may not meet (an outage, the limits, the breaker, the deadline),
  // as opposed to a refusal no retry can change (insufficient_quota, 400, 401, 403, 404).
  [[nodiscard]] bool transient() const noexcept {
    return outcome != Outcome::quota && outcome != Outcome::permanent;
  }
};

// Called by CompletionResult::value() when it holds a failure.
[[noreturn]] void throw_exception_from_error(const CallFailure& failure,
                                             const boost::source_location& location);

using CompletionResult = boost::system::result<Completion, CallFailure>;

class ChatClient {
 public:
  ChatClient(asio::any_io_executor executor, http::Client& http, config::Secret api_key,
             prometheus::Registry& registry, log::Logger& logger, ChatClientOptions options);
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // One completion, retried as above until `deadline`.
  asio::awaitable<CompletionResult> complete(ChatRequest request,
                                             std::chrono::steady_clock::time_point deadline);

  // Ends every wait and every request in progress (calls then fail; the HTTP client is aborted,
  // so whatever else uses it stops too) and makes further calls fail at once; for a shutdown
  // whose grace ran out.
  void cancel();

  [[nodiscard]] BreakerState breaker_state() const;
  // When an open breaker will let a probe through.
  [[nodiscard]] std::chrono::steady_clock::time_point probe_at() const;
  [[nodiscard]] const RateLimiter& limiter() const noexcept { return limiter_; }

 private:
  struct Metrics;
  asio::awaitable<bool> sleep_until(std::chrono::steady_clock::time_point until,
                                    std::chrono::steady_clock::time_point deadline);
  void record_breaker();

  asio::any_io_executor executor_;
  http::Client& http_;
  config::Secret api_key_;
  log::Logger& logger_;
  ChatClientOptions options_;
  std::unique_ptr<Metrics> metrics_;
  RateLimiter limiter_;
  RetryBudget budget_;
  CircuitBreaker breaker_;
  std::mt19937_64 rng_;
  BreakerState reported_state_ = BreakerState::closed;
  bool cancelled_ = false;
  std::set<asio::steady_timer*> sleepers_;
};

}  // namespace tracker::llm
