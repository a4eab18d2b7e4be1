#include "tracker/llm/chat_client.hpp"

#include <algorithm>
#include <stdexcept>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/llm/prompt.hpp>
#include <tracker/metrics/declare.hpp>

namespace tracker::llm {

using Clock = std::chrono::steady_clock;
namespace bh = http::beast_http;

struct ChatClient::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : requests(metrics::counters(registry, "tracker_llm_requests_total",
                                   "Chat completion requests sent, by outcome")),
        retries(metrics::counters(registry, "tracker_llm_retries_total",
                                  "Requests repeated, by the cause of the failure before them")),
        rate_limited(metrics::counters(registry, "tracker_llm_rate_limited_total",
                                       "HTTP 429 answers, by error code")),
        budget_refused(metrics::counter(registry, "tracker_llm_retry_budget_refused_total",
                                        "Retries the retry budget held back")),
        tokens(metrics::counters(registry, "tracker_llm_tokens_total",
                                 "Tokens used, as the API reported them, by kind")),
        limiter_wait(
            metrics::histogram(registry, "tracker_llm_limiter_wait_seconds",
                               "Time a request waited for the client-side rate limiter",
                               {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
        latency(metrics::histograms(registry, "tracker_llm_request_seconds",
                                    "Chat completion request latency, by outcome")),
        breaker(metrics::gauge(registry, "tracker_llm_circuit_state",
                               "Circuit breaker: 0 closed, 1 open, 2 half-open")),
        breaker_opened(metrics::counter(registry, "tracker_llm_circuit_opened_total",
                                        "Times the circuit breaker opened")) {}

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Counter>& rate_limited;
  prometheus::Counter& budget_refused;
  prometheus::Family<prometheus::Counter>& tokens;
  prometheus::Histogram& limiter_wait;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Gauge& breaker;
  prometheus::Counter& breaker_opened;
};

ChatClient::ChatClient(asio::any_io_executor executor, http::Client& http, config::Secret api_key,
                       prometheus::Registry& registry, log::Logger& logger,
                       ChatClientOptions options)
    : executor_(executor),
      http_(http),
      api_key_(std::move(api_key)),
      logger_(logger),
      options_(options),
      metrics_(std::make_unique<Metrics>(registry)),
      limiter_(options.limiter, Clock::now()),
      budget_(options.budget, Clock::now()),
      breaker_(options.breaker),
      rng_(options.seed) {}

ChatClient::~ChatClient() = default;

BreakerState ChatClient::breaker_state() const {
  return breaker_.state(Clock::now());
}
Clock::time_point ChatClient::probe_at() const {
  return breaker_.probe_at();
}

void ChatClient::record_breaker() {
  const BreakerState now = breaker_.state(Clock::now());
  if (now == reported_state_) return;
  if (now == BreakerState::open) {
    metrics_->breaker_opened.Increment();
    logger_.warn("circuit_opened", {{"cool_down_ms", options_.breaker.cool_down.count()}});
  } else if (now == BreakerState::closed) {
    logger_.info("circuit_closed", {});
  }
  reported_state_ = now;
  metrics_->breaker.Set(static_cast<double>(static_cast<int>(now)));
}

asio::awaitable<bool> ChatClient::sleep_until(Clock::time_point until, Clock::time_point deadline) {
  if (until > deadline || cancelled_) co_return false;
  asio::steady_timer timer(executor_, until);
  sleepers_.insert(&timer);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  sleepers_.erase(&timer);
  co_return !cancelled_;
}

void ChatClient::cancel() {
  cancelled_ = true;
  for (asio::steady_timer* timer : sleepers_) timer->cancel();
  http_.abort();
}

namespace {

// tracker_llm_request_seconds, per outcome: a completion takes from a fraction of a second to a
// minute.
const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.05, 0.1, 0.25, 0.5, 1, 2,
                                                               4,    8,   16,   32,  64};
  return buckets;
}

std::string cause_of(const ChatResult& result) {
  if (result.status == 429) return "429";
  if (result.status >= 500) return std::to_string(result.status);
  if (result.status == 408 || result.status == 409) return std::to_string(result.status);
  return result.error_code.empty() ? "other" : result.error_code;
}

}  // namespace

void throw_exception_from_error(const CallFailure& failure,
                                const boost::source_location& /*location*/) {
  throw std::runtime_error("chat completion failed: " + failure.reason);
}

asio::awaitable<CompletionResult> ChatClient::complete(ChatRequest request,
                                                       Clock::time_point deadline) {
  ChatResult last;  // the last answer, or the failure that stood for one
  int attempts = 0;
  const auto fail = [&](std::string reason) {
    return CompletionResult{boost::system::in_place_error,
                            CallFailure{.outcome = last.outcome,
                                        .last = last,
                                        .attempts = attempts,
                                        .reason = std::move(reason)}};
  };
  const std::string body =
      request.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const double tokens = static_cast<double>(estimate_request_tokens(request));
  const std::string authorization = "Bearer " + api_key_.reveal();
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (cancelled_) {
      co_return fail("the client was cancelled (shutting down)");
    }
    // The breaker first: while it is open nothing is sent, and the wait does not spend an
    // attempt.
    while (!breaker_.allow(Clock::now())) {
      const auto until =
          std::max(breaker_.probe_at(), Clock::now() + std::chrono::milliseconds{50});
      if (!co_await sleep_until(until, deadline)) {
        co_return fail("the circuit breaker stayed open until the job's deadline (" + last.message +
                       ")");
      }
    }
    record_breaker();
    const auto waited_from = Clock::now();
    for (;;) {
      const auto wait = limiter_.wait(Clock::now(), tokens);
      if (wait <= Clock::duration::zero()) break;
      if (!co_await sleep_until(Clock::now() + wait, deadline)) {
        breaker_.neutral();
        co_return fail("the rate limiter had no room before the job's deadline");
      }
    }
    metrics_->limiter_wait.Observe(
        std::chrono::duration<double>(Clock::now() - waited_from).count());
    const auto ticket = limiter_.take(Clock::now(), tokens);
    budget_.record_request(Clock::now());
    ++attempts;
    const auto sent = Clock::now();
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - sent);
    const auto timeout =
        std::max(std::chrono::milliseconds{1}, std::min(options_.request_timeout, remaining));
    http::Headers headers{{"Content-Type", "application/json"}, {"Authorization", authorization}};
    std::string payload = body;
    auto reply = co_await http_.send(bh::verb::post, "/chat/completions", std::move(payload),
                                     std::move(headers), timeout);
    const double seconds = std::chrono::duration<double>(Clock::now() - sent).count();
    std::string cause;
    bool rate_limited = false;
    std::optional<std::chrono::milliseconds> retry_after;
    if (!reply) {
      const http::Failure failure = reply.error();
      cause = std::string(http::to_string(failure.kind));
      last = ChatResult{};
      last.outcome = Outcome::retryable;
      last.error_code = cause;
      last.message = failure.describe();
      metrics_->requests.Add({{"outcome", cause}}).Increment();
      metrics_->latency.Add({{"outcome", cause}}, latency_buckets()).Observe(seconds);
      if (failure.kind == http::ClientError::shut_down ||
          failure.kind == http::ClientError::aborted) {
        breaker_.neutral();
        co_return fail("the HTTP client was shut down");
      }
      breaker_.failure(Clock::now());
    } else {
      last = interpret_chat_response(*reply);
      limiter_.observe(Clock::now(), last.limits, ticket);
      const std::string outcome(to_string(last.outcome));
      metrics_->requests.Add({{"outcome", outcome}}).Increment();
      metrics_->latency.Add({{"outcome", outcome}}, latency_buckets()).Observe(seconds);
      switch (last.outcome) {
        case Outcome::ok: {
          breaker_.success();
          record_breaker();
          metrics_->tokens.Add({{"kind", "prompt"}}).Increment(last.prompt_tokens);
          metrics_->tokens.Add({{"kind", "completion"}}).Increment(last.completion_tokens);
          co_return Completion{
              .result = std::move(last), .attempts = attempts, .latency_ms = seconds * 1'000};
        }
        case Outcome::quota:
        case Outcome::permanent:
          if (last.status == 429) {
            metrics_->rate_limited.Add({{"code", std::string(rate_limit_label(last.error_code))}})
                .Increment();
          }
          breaker_.success();  // the server answered: it is up
          record_breaker();
          logger_.error("completion_refused", {{"status", last.status},
                                               {"code", last.error_code},
                                               {"message", last.message.substr(0, 300)},
                                               {"retried", false}});
          co_return fail("HTTP " + std::to_string(last.status) + " " + last.error_code + ": " +
                         last.message + " (not retried)");
        case Outcome::rate_limited:
          breaker_.neutral();
          rate_limited = true;
          retry_after = last.retry_after;
          metrics_->rate_limited.Add({{"code", std::string(rate_limit_label(last.error_code))}})
              .Increment();
          break;
        case Outcome::retryable: breaker_.failure(Clock::now()); break;
      }
      cause = cause_of(last);
    }
    record_breaker();
    if (attempt == options_.max_attempts) break;
    // The wait before the next attempt: what a 429 asked for (capped, and shared: every request
    // waits), else exponential backoff with jitter.
    std::chrono::milliseconds delay = http::backoff_delay(options_.backoff, attempt, rng_);
    if (rate_limited && retry_after) {
      delay = std::min(*retry_after, options_.retry_after_max);
      limiter_.hold(Clock::now(), delay);
    } else if (rate_limited) {
      limiter_.hold(Clock::now(), delay);
    }
    // The budget: when retries are already a large share of the traffic, wait for room (up to
    // the deadline) instead of adding to a storm.
    while (!budget_.try_retry(Clock::now())) {
      metrics_->budget_refused.Increment();
      if (!co_await sleep_until(Clock::now() + std::chrono::seconds{1}, deadline)) {
        co_return fail("retry budget exhausted until the job's deadline; last error: " + cause +
                       " " + last.message);
      }
    }
    metrics_->retries.Add({{"cause", cause}}).Increment();
    logger_.debug("completion_retry", {{"attempt", attempt},
                                       {"cause", cause},
                                       {"delay_ms", delay.count()},
                                       {"message", last.message.substr(0, 200)}});
    if (!co_await sleep_until(Clock::now() + delay, deadline)) {
      co_return fail("the job's deadline came before the next attempt; last error: " + cause + " " +
                     last.message);
    }
  }
  co_return fail("gave up after " + std::to_string(attempts) + " attempts; last error: HTTP " +
                 std::to_string(last.status) + " " + last.error_code + " " + last.message);
}

}  // namespace tracker::llm
