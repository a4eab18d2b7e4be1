// The Slack simulator answers as Slack does; driven through the project's own Web API client.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <tracker/http/client.hpp>
#include <tracker/slack/web_api.hpp>

#include "run.hpp"
#include "slack_simulator.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using tracker::loadtest::SimulatorOptions;
using tracker::loadtest::SimulatorThread;
using tracker::slack::PostMessage;
using tracker::slack::PostOutcome;
using tracker::slack::PostResult;
using tracker::testing::run;

namespace {

struct SlackSimulatorTest : ::testing::Test {
  asio::io_context io;

  std::vector<PostResult> post_all(SimulatorThread& sim, std::vector<PostMessage> messages,
                                   const std::string& token = "xoxb-simulated") {
    tracker::http::Client client(io.get_executor(), {.base_url = sim.base_url()});
    tracker::slack::WebApi api(client);
    const tracker::config::Secret bot_token(token);
    std::vector<PostResult> results;
    run(io, [&]() -> asio::awaitable<void> {
      for (const auto& message : messages)
        results.push_back(co_await api.post_message(message, bot_token));
    }());
    return results;
  }
  PostResult post(SimulatorThread& sim, PostMessage message,
                  const std::string& token = "xoxb-simulated") {
    return post_all(sim, {std::move(message)}, token).front();
  }
};

SimulatorOptions unlimited() {
  return {.channel_per_second = 0, .workspace_per_minute = 0};
}

}  // namespace

TEST_F(SlackSimulatorTest, PostsAndAnswersLikeSlack) {
  SimulatorThread sim(unlimited());
  const auto result = post(sim, {.channel = "C1", .text = "hello"});
  ASSERT_EQ(result.outcome, PostOutcome::posted) << result.error;
  EXPECT_EQ(result.channel, "C1");
  EXPECT_FALSE(result.ts.empty());
  const auto posted = sim.simulator().messages();
  ASSERT_EQ(posted.size(), 1U);
  EXPECT_EQ(posted[0].text, "hello");
  EXPECT_EQ(posted[0].ts, result.ts);
}

TEST_F(SlackSimulatorTest, AUserIdPostsToTheDirectMessageChannel) {
  SimulatorThread sim(unlimited());
  const auto first = post(sim, {.channel = "U0ABC", .text = "part 1"});
  EXPECT_EQ(first.channel, "D0ABC");
  const auto reply = post(sim, {.channel = "D0ABC", .text = "part 2", .thread_ts = first.ts});
  EXPECT_EQ(reply.outcome, PostOutcome::posted) << reply.error;
  const auto missing = post(sim, {.channel = "D0ABC", .text = "x", .thread_ts = "1.000001"});
  EXPECT_EQ(missing.error, "thread_not_found");
  ASSERT_EQ(sim.simulator().messages("D0ABC").size(), 2U);
  EXPECT_EQ(sim.simulator().messages("D0ABC")[1].thread_ts, first.ts);
}

TEST_F(SlackSimulatorTest, RefusesWhatSlackRefuses) {
  SimulatorOptions options = unlimited();
  options.channel_errors["C0GONE"] = "channel_not_found";
  SimulatorThread sim(options);
  std::string long_korean;
  for (int i = 0; i < 40'001; ++i) long_korean += "가";
  struct Case {
    PostMessage message;
    std::string token;
    const char* error;
  };
  const std::vector<Case> cases = {
      {{.channel = "C1", .text = "x"}, "", "not_authed"},
      {{.channel = "C1", .text = "x"}, "xoxb-wrong", "invalid_auth"},
      {{.channel = "", .text = "x"}, "xoxb-simulated", "channel_not_found"},
      {{.channel = "C1", .text = ""}, "xoxb-simulated", "no_text"},
      {{.channel = "C1", .text = long_korean}, "xoxb-simulated", "msg_too_long"},
      {{.channel = "C0GONE", .text = "x"}, "xoxb-simulated", "channel_not_found"},
  };
  for (const auto& c : cases) {
    const auto result = post(sim, c.message, c.token);
    EXPECT_EQ(result.outcome, PostOutcome::permanent) << c.error;
    EXPECT_EQ(result.error, c.error);
  }
  EXPECT_TRUE(sim.simulator().messages().empty());
  EXPECT_EQ(sim.simulator().stats().auth_failures, 2U);
}

TEST_F(SlackSimulatorTest, LimitsEachChannelAndAnswers429WithRetryAfter) {
  SimulatorThread sim({.channel_per_second = 1, .channel_burst = 3, .workspace_per_minute = 0});
  std::vector<PostMessage> burst(5, PostMessage{.channel = "C1", .text = "x"});
  burst.push_back({.channel = "C2", .text = "other channel"});
  const auto results = post_all(sim, burst);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(results[i].outcome, PostOutcome::posted);
  for (std::size_t i = 3; i < 5; ++i) {
    EXPECT_EQ(results[i].outcome, PostOutcome::rate_limited);
    EXPECT_EQ(results[i].http_status, 429U);
    ASSERT_TRUE(results[i].retry_after.has_value());
    EXPECT_GE(*results[i].retry_after, 1s);
  }
  EXPECT_EQ(results[5].outcome, PostOutcome::posted);
  EXPECT_EQ(sim.simulator().stats().limit_429_channel, 2U);
}

TEST_F(SlackSimulatorTest, LimitsTheWorkspace) {
  SimulatorThread sim({.channel_per_second = 0, .workspace_per_minute = 60, .workspace_burst = 2});
  std::vector<PostMessage> messages;
  for (int i = 0; i < 4; ++i) messages.push_back({.channel = "C" + std::to_string(i), .text = "x"});
  const auto results = post_all(sim, messages);
  EXPECT_EQ(results[1].outcome, PostOutcome::posted);
  EXPECT_EQ(results[2].outcome, PostOutcome::rate_limited);
  EXPECT_EQ(sim.simulator().stats().limit_429_workspace, 2U);
}

TEST_F(SlackSimulatorTest, EachWorkspaceHasItsOwnLimit) {
  SimulatorOptions options{
      .channel_per_second = 0, .workspace_per_minute = 60, .workspace_burst = 2};
  options.channel_workspaces = {{"C1", "T1"}, {"C2", "T1"}, {"C3", "T2"}, {"U7", "T2"}};
  SimulatorThread sim(options);
  const auto results = post_all(sim, {{.channel = "C1", .text = "x"},
                                      {.channel = "C2", .text = "x"},
                                      {.channel = "C1", .text = "x"},
                                      {.channel = "C3", .text = "x"},
                                      {.channel = "U7", .text = "x"},
                                      {.channel = "C3", .text = "x"},
                                      {.channel = "C9", .text = "x"}});
  const std::vector<PostOutcome> expected = {
      PostOutcome::posted, PostOutcome::posted, PostOutcome::rate_limited,
      PostOutcome::posted, PostOutcome::posted, PostOutcome::rate_limited,
      PostOutcome::posted};  // C9: the default workspace, untouched
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(results[i].outcome, expected[i]) << i;
  const auto stats = sim.simulator().stats();
  EXPECT_EQ(stats.limit_429_workspace, 2U);
  EXPECT_EQ(stats.limit_429_by_workspace,
            (std::map<std::string, std::uint64_t>{{"T1", 1}, {"T2", 1}}));
  EXPECT_EQ(stats.posted_by_workspace,
            (std::map<std::string, std::uint64_t>{{"T0SIM", 1}, {"T1", 2}, {"T2", 2}}));
  const auto posted = sim.simulator().messages();
  ASSERT_EQ(posted.size(), 5U);
  EXPECT_EQ(posted[3].channel, "D7");  // a DM counts against its user's workspace
  EXPECT_EQ(posted[3].workspace, "T2");
  const auto limited = sim.simulator().refused();
  ASSERT_EQ(limited.size(), 2U);
  EXPECT_EQ(limited[0].workspace, "T1");
  EXPECT_EQ(limited[0].channel, "C1");
  EXPECT_EQ(limited[0].limit, "workspace");
  EXPECT_EQ(limited[1].workspace, "T2");
  EXPECT_THROW(sim.simulator().configure({{"channel_workspaces", {{"C1", 5}}}}),
               std::invalid_argument);
}

TEST_F(SlackSimulatorTest, InjectedFaultsFollowTheirRates) {
  SimulatorOptions options = unlimited();
  options.inject_429_rate = 0.1;
  options.inject_retry_after_s = 0;
  options.seed = 42;
  SimulatorThread sim(options);
  const auto results =
      post_all(sim, std::vector<PostMessage>(1'000, {.channel = "C1", .text = "x"}));
  int limited = 0;
  for (const auto& r : results) {
    if (r.outcome == PostOutcome::rate_limited) {
      ++limited;
      EXPECT_EQ(r.retry_after, 0ms);
    }
  }
  EXPECT_GT(limited, 60);
  EXPECT_LT(limited, 140);
  EXPECT_EQ(sim.simulator().stats().injected_429, static_cast<std::uint64_t>(limited));
  EXPECT_EQ(sim.simulator().messages().size(), 1'000U - static_cast<std::size_t>(limited));
}

TEST_F(SlackSimulatorTest, ConfigChangesAtRunTimeAndRejectsUnknownKeys) {
  SimulatorThread sim(unlimited());
  sim.simulator().configure({{"inject_errors", {{"internal_error", 1.0}}}});
  EXPECT_EQ(post(sim, {.channel = "C1", .text = "x"}).error, "internal_error");
  EXPECT_THROW(sim.simulator().configure({{"inject_429", 0.5}}), std::invalid_argument);
  EXPECT_THROW(sim.simulator().configure({{"inject_429_rate", 2}}), std::invalid_argument);
  sim.simulator().configure({{"inject_errors", nlohmann::json::object()}});
  EXPECT_EQ(post(sim, {.channel = "C1", .text = "x"}).outcome, PostOutcome::posted);
}

TEST_F(SlackSimulatorTest, TimestampsIncreaseAndOrderIsKept) {
  SimulatorThread sim(unlimited());
  std::vector<PostMessage> messages;
  for (int i = 0; i < 50; ++i) {
    messages.push_back({.channel = i % 2 == 0 ? "C1" : "C2", .text = std::to_string(i)});
  }
  post_all(sim, messages);
  const auto c1 = sim.simulator().messages("C1");
  ASSERT_EQ(c1.size(), 25U);
  for (std::size_t i = 1; i < c1.size(); ++i) {
    EXPECT_LT(std::stod(c1[i - 1].ts), std::stod(c1[i].ts));
    EXPECT_EQ(c1[i].text, std::to_string(2 * i));
  }
}

TEST_F(SlackSimulatorTest, ListsPostsAfterASequenceNumberForAWatcherThatPolls) {
  SimulatorThread sim(unlimited());
  post_all(sim, {{.channel = "C1", .text = "a"},
                 {.channel = "C2", .text = "b"},
                 {.channel = "C1", .text = "c"}});
  tracker::http::Client client(io.get_executor(),
                               {.base_url = "http://127.0.0.1:" + std::to_string(sim.port())});
  const auto get = [&](std::string target) {
    std::optional<tracker::http::Response> response;
    run(io, [&]() -> asio::awaitable<void> {
      response = (co_await client.send(bh::verb::get, std::move(target), "", {})).value();
    }());
    return *response;
  };
  const auto after = nlohmann::json::parse(get("/_sim/messages?after=1").body());
  ASSERT_EQ(after["messages"].size(), 2U);
  EXPECT_EQ(after["messages"][0]["sequence"], 2);
  EXPECT_EQ(after["messages"][1]["text"], "c");
  const auto both = nlohmann::json::parse(get("/_sim/messages?channel=C1&after=1").body());
  ASSERT_EQ(both["messages"].size(), 1U);
  EXPECT_EQ(both["messages"][0]["text"], "c");
  EXPECT_EQ(nlohmann::json::parse(get("/_sim/messages?after=3").body())["messages"].size(), 0U);
  const auto bad = get("/_sim/messages?after=two");
  EXPECT_EQ(bad.result(), bh::status::bad_request);
  EXPECT_NE(bad.body().find("invalid_after"), std::string::npos);
}
