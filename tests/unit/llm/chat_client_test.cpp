// The resilient Chat Completions client against the OpenAI simulator (in-process, loopback):
// retries what can succeed, never what cannot, and stays within its bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include <boost/asio/io_context.hpp>

#include <openai_simulator.hpp>
#include <run.hpp>
#include <tracker/http/client.hpp>
#include <tracker/llm/chat_client.hpp>

using namespace std::chrono_literals;
using tracker::llm::ChatClient;
using tracker::llm::ChatClientOptions;
using tracker::loadtest::OpenAiSimulatorOptions;
using tracker::loadtest::OpenAiSimulatorThread;

namespace {

struct Harness {
  explicit Harness(OpenAiSimulatorOptions sim_options, ChatClientOptions options)
      : sim(std::move(sim_options)),
        http(io.get_executor(), {.base_url = sim.base_url(), .max_connections = 8}),
        client(io.get_executor(), http, tracker::config::Secret("sk-simulated"), registry, logger,
               options) {}

  tracker::llm::CompletionResult call(std::string text = "studied kafka for 2h",
                                      std::chrono::milliseconds deadline = 20s) {
    tracker::llm::ChatRequest request{.model = "gpt-4o-mini",
                                      .messages = {{"system", "rules"}, {"user", std::move(text)}},
                                      .max_completion_tokens = 100,
                                      .user = "T1:U1"};
    const auto until = std::chrono::steady_clock::now() + deadline;
    return tracker::testing::run(io, client.complete(std::move(request), until), 60s);
  }

  boost::asio::io_context io;
  OpenAiSimulatorThread sim;
  prometheus::Registry registry;
  tracker::log::Logger logger{{.service = "test", .min_level = tracker::log::Level::error}};
  tracker::http::Client http;
  ChatClient client;
};

ChatClientOptions quick() {
  ChatClientOptions options;
  options.backoff = {.initial = 10ms, .max = 40ms, .multiplier = 2.0, .jitter = 0.5};
  options.breaker = {.failure_threshold = 100, .cool_down = 50ms};
  options.request_timeout = 5s;
  options.seed = 7;
  return options;
}

}  // namespace

TEST(ChatClient, ReturnsTheCompletion) {
  Harness h({}, quick());
  const auto call = h.call();
  ASSERT_TRUE(call) << call.error().reason;
  EXPECT_EQ(call->attempts, 1);
  EXPECT_NE(call->result.content.find("studied kafka"), std::string::npos);
  EXPECT_GT(call->result.prompt_tokens, 0);
  EXPECT_EQ(h.sim.simulator().stats().completions, 1U);
}

TEST(ChatClient, LearnsTheServersLimitFromItsHeaders) {
  // The client was told 6,000 a minute; the server allows 2 and says so in every answer.
  auto options = quick();
  options.limiter = {.requests_per_minute = 6'000, .headroom = 0};
  Harness h({.requests_per_minute = 2}, options);
  ASSERT_TRUE(h.call().has_value());
  ASSERT_TRUE(h.call().has_value());
  EXPECT_EQ(h.client.limiter().requests_per_minute(), 2);
  // Both spent: the next request would wait for the server's bucket, not be refused by it.
  EXPECT_GT(h.client.limiter().wait(std::chrono::steady_clock::now(), 1), 20s);
  EXPECT_EQ(h.sim.simulator().stats().limit_429_requests, 0U);
}

TEST(ChatClient, WaitsOutA429AndRetries) {
  Harness h({.inject_429_rate = 0.5, .seed = 11}, quick());
  int ok = 0;
  for (int i = 0; i < 10; ++i) ok += h.call().has_value() ? 1 : 0;
  const auto stats = h.sim.simulator().stats();
  EXPECT_GT(stats.injected_429, 0U);
  EXPECT_GE(ok, 8);
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(ok));
}

TEST(ChatClient, RetriesInjected429sWithinTheAttemptBound) {
  auto options = quick();
  options.max_attempts = 4;
  Harness h({.inject_429_rate = 1.0}, options);
  const auto call = h.call();
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().attempts, 4);
  EXPECT_EQ(h.sim.simulator().stats().completions, 4U);
  EXPECT_NE(call.error().reason.find("gave up after 4 attempts"), std::string::npos)
      << call.error().reason;
}

TEST(ChatClient, InsufficientQuotaIsNeverRetried) {
  Harness h({.quota_exhausted = true}, quick());
  const auto call = h.call();
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().attempts, 1);
  EXPECT_EQ(h.sim.simulator().stats().completions, 1U);
  EXPECT_NE(call.error().reason.find("insufficient_quota"), std::string::npos)
      << call.error().reason;
  EXPECT_NE(call.error().reason.find("not retried"), std::string::npos);
  EXPECT_EQ(call.error().outcome, tracker::llm::Outcome::quota);
  EXPECT_FALSE(call.error().transient()) << "no later try can succeed";
  const auto families = h.registry.Collect();
  const auto family = std::find_if(families.begin(), families.end(), [](const auto& f) {
    return f.name == "tracker_llm_rate_limited_total";
  });
  ASSERT_NE(family, families.end());
  ASSERT_EQ(family->metric.size(), 1U);
  EXPECT_EQ(family->metric[0].label[0].value, "insufficient_quota");
  // value() on a failure throws, with the reason (throw_exception_from_error, found by ADL).
  EXPECT_THROW(static_cast<void>(call.value()), std::runtime_error);
}

TEST(ChatClient, BadRequestIsNeverRetried) {
  Harness h({}, quick());
  tracker::llm::ChatRequest request{.model = "gpt-4o-mini", .messages = {}};
  const auto call = tracker::testing::run(
      h.io, h.client.complete(std::move(request), std::chrono::steady_clock::now() + 10s), 30s);
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().attempts, 1);
  EXPECT_EQ(call.error().last.status, 400U);
  EXPECT_FALSE(call.error().transient());
}

TEST(ChatClient, ServerErrorsAreRetriedThenSucceed) {
  auto options = quick();
  // Half of all requests fail here: far more retries than the default 20 % budget allows.
  options.budget = {.ratio = 1.0, .window = std::chrono::seconds{60}, .min_retries = 100};
  Harness h({.inject_500_rate = 0.5, .seed = 3}, options);
  int ok = 0;
  int attempts = 0;
  for (int i = 0; i < 20; ++i) {
    const auto call = h.call();
    ok += call ? 1 : 0;
    attempts += call ? call->attempts : call.error().attempts;
  }
  EXPECT_GE(ok, 17);  // 1 - 0.5^4 each
  EXPECT_GT(attempts, 20);
  EXPECT_EQ(static_cast<int>(h.sim.simulator().stats().completions), attempts);
}

TEST(ChatClient, TheBreakerStopsSendingDuringAnOutage) {
  auto options = quick();
  options.max_attempts = 10;
  options.breaker = {.failure_threshold = 3, .cool_down = 300ms};
  Harness h({.inject_503_rate = 1.0}, options);
  const auto call = h.call("x", 1'000ms);
  ASSERT_FALSE(call);
  // 3 failures open it; then about one probe per 300 ms cool-down until the 1 s deadline.
  EXPECT_LE(call.error().attempts, 6);
  EXPECT_EQ(static_cast<int>(h.sim.simulator().stats().completions), call.error().attempts);
  EXPECT_TRUE(call.error().transient()) << "an outage may be over later";
}

TEST(ChatClient, TheRetryBudgetHoldsRetriesBack) {
  auto options = quick();
  options.budget = {.ratio = 0.0, .window = 60s, .min_retries = 0};
  Harness h({.inject_500_rate = 1.0}, options);
  const auto call = h.call("x", 1'500ms);
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().attempts, 1);
  EXPECT_NE(call.error().reason.find("retry budget"), std::string::npos) << call.error().reason;
  EXPECT_TRUE(call.error().transient());
}

TEST(ChatClient, TimeoutsAreRetried) {
  auto options = quick();
  options.request_timeout = 200ms;
  options.max_attempts = 2;
  Harness h({.inject_timeout_rate = 1.0, .timeout_hold = 2'000ms}, options);
  const auto call = h.call("x", 5s);
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().attempts, 2);
  EXPECT_EQ(call.error().last.error_code, "timeout");
}
