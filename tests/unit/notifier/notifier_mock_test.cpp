// The notifier against librdkafka's mock cluster, the Slack simulator and an in-memory ledger:
// a database outage pauses consumption (and the service says it is not ready) until the ledger
// answers again, and a ledger step refused for its data dead-letters the record unposted.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/http/client.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/slack/web_api.hpp>

#include <tracker/notifier/ledger.hpp>
#include <tracker/notifier/notifier.hpp>
#include "mock_cluster.hpp"
#include "run.hpp"
#include "slack_simulator.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tracker::notifier::AttemptRecord;
using tracker::notifier::Claim;
using tracker::notifier::DeliveryState;
using tracker::notifier::LeaseOutcome;
using tracker::notifier::LeaseResult;
using tracker::pg::Error;
using tracker::pg::Result;
using tracker::testing::run;

namespace {

// The ledger in memory: one row per delivery, every lease granted. While `down`, every call
// fails as a refused connection would; `refuse_claim` makes claim() fail with that error.
class MemoryLedger final : public tracker::notifier::Ledger {
 public:
  struct Row {
    Claim claim;
    int parts = 0;
  };

  bool down = false;
  std::optional<Error> refuse_claim;
  std::map<std::string, Row> rows;
  int failed_calls = 0;  // calls answered with the outage's error

  asio::awaitable<Result<Claim>> claim(const tracker::messages::OutboxMessage& message, int parts,
                                       std::int32_t /*partition*/,
                                       std::int64_t /*offset*/) override {
    if (down) co_return outage();
    if (refuse_claim) co_return *refuse_claim;
    Row& row = rows[message.delivery_id];
    row.parts = parts;
    co_return row.claim;
  }
  asio::awaitable<Result<LeaseResult>> lease(const std::string& delivery_id,
                                             const std::string& /*instance*/,
                                             std::chrono::milliseconds /*duration*/) override {
    if (down) co_return outage();
    const Claim& claim = rows.at(delivery_id).claim;
    LeaseResult result;
    result.outcome =
        claim.state == DeliveryState::pending ? LeaseOutcome::held : LeaseOutcome::finished;
    result.delivery = claim;
    co_return result;
  }
  asio::awaitable<Result<bool>> renew(const std::string& /*delivery_id*/,
                                      const std::string& /*instance*/,
                                      std::chrono::milliseconds /*duration*/) override {
    if (down) co_return outage();
    co_return true;
  }
  asio::awaitable<Result<void>> release(const std::string& /*delivery_id*/,
                                        const std::string& /*instance*/) override {
    if (down) co_return outage();
    co_return Result<void>{};
  }
  asio::awaitable<Result<DeliveryState>> state(const std::string& delivery_id) override {
    if (down) co_return outage();
    co_return rows.at(delivery_id).claim.state;
  }
  asio::awaitable<Result<void>> attempt_started(const std::string& delivery_id, int attempt,
                                                int /*part*/) override {
    if (down) co_return outage();
    rows.at(delivery_id).claim.attempts = attempt;
    co_return Result<void>{};
  }
  asio::awaitable<Result<void>> attempt_finished(const std::string& delivery_id,
                                                 const AttemptRecord& record) override {
    if (down) co_return outage();
    Row& row = rows.at(delivery_id);
    if (record.result.outcome == tracker::slack::PostOutcome::posted) {
      row.claim.part_ts.push_back(record.result.ts);
      if (static_cast<int>(row.claim.part_ts.size()) == row.parts) {
        row.claim.state = DeliveryState::posted;
      }
    } else {
      row.claim.last_error = record.result.error;
    }
    co_return Result<void>{};
  }
  asio::awaitable<Result<void>> failed(const std::string& delivery_id,
                                       const std::string& error) override {
    if (down) co_return outage();
    Row& row = rows[delivery_id];
    row.claim.state = DeliveryState::failed;
    row.claim.last_error = error;
    co_return Result<void>{};
  }
  asio::awaitable<Result<std::int64_t>> prune(std::chrono::milliseconds /*retention*/,
                                              int /*limit*/) override {
    co_return std::int64_t{0};
  }

 private:
  Error outage() {
    ++failed_calls;
    return Error{.kind = Error::Kind::connection, .message = "connection refused"};
  }
};

tracker::messages::OutboxMessage summary_message(const std::string& delivery_id) {
  return {.delivery_id = delivery_id, .team_id = "T1", .channel = "C1", .text = "You studied."};
}

// Checks `done` every 10 ms until it holds or `limit` passes; returns whether it held.
asio::awaitable<bool> eventually(const std::function<bool()>& done,
                                 std::chrono::milliseconds limit = 20s) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) co_return false;
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return true;
}

struct NotifierMock : ::testing::Test {
  tracker::testing::MockCluster cluster;
  asio::io_context io;
  tracker::loadtest::SimulatorThread slack_sim;
  tracker::http::Client http{io.get_executor(), {.base_url = slack_sim.base_url()}};
  tracker::slack::WebApi slack{http};
  tracker::notifier::StaticTokens tokens{tracker::config::Secret("xoxb-simulated")};
  prometheus::Registry registry;
  MemoryLedger ledger;

  NotifierMock() {
    cluster.create_topic("slack-outbox", 1);
    cluster.create_topic("slack-outbox.dlq", 1);
  }

  void produce(const tracker::messages::OutboxMessage& message) {
    tracker::kafka::Producer seed({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
    run(io, [&]() -> asio::awaitable<void> {
      tracker::kafka::OutgoingMessage record{.topic = "slack-outbox",
                                             .key = tracker::messages::outbox_key(message),
                                             .value = tracker::messages::encode_outbox(message)};
      auto sent = co_await seed.async_send(std::move(record), asio::as_tuple(asio::use_awaitable));
      if (std::get<0>(sent)) throw std::runtime_error(std::get<0>(sent).message());
    }());
  }

  tracker::kafka::ConsumerOptions consumer_options(const std::string& topic,
                                                   const std::string& group) const {
    return {.brokers = cluster.bootstraps(),
            .group_id = group,
            .topics = {topic},
            .session_timeout = 6s,
            .auto_commit_interval = 100ms};
  }

  static tracker::notifier::NotifierOptions options() {
    tracker::notifier::NotifierOptions options;
    options.poll_wait = 20ms;
    options.db_retry_initial = 10ms;
    options.db_retry_max = 50ms;
    options.prune_interval = 0ms;
    options.seed = 7;
    return options;
  }
};

}  // namespace

TEST_F(NotifierMock, ADatabaseOutagePausesConsumptionUntilTheLedgerAnswersThenPostsOnce) {
  produce(summary_message("summary:j1"));
  tracker::kafka::Consumer consumer(io.get_executor(), consumer_options("slack-outbox", "n"),
                                    tracker::log::null_logger());
  tracker::kafka::Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  tracker::notifier::Notifier notifier(io.get_executor(), consumer, producer, slack, tokens, ledger,
                                       registry, tracker::log::null_logger(), options());
  ledger.down = true;
  bool paused_in_outage = false;
  bool resumed_after = false;
  bool posted = false;
  std::optional<bool> healthy;
  run(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> { healthy = co_await notifier.run(); }, asio::detached);
    paused_in_outage = co_await eventually(
        [&] { return ledger.failed_calls >= 3 && consumer.paused() && !notifier.ready(); });
    ledger.down = false;
    posted = co_await eventually(
        [&] { return ledger.rows["summary:j1"].claim.state == DeliveryState::posted; });
    resumed_after = co_await eventually([&] { return !consumer.paused() && notifier.ready(); });
    notifier.stop(1s);
    static_cast<void>(co_await eventually([&] { return healthy.has_value(); }));
  }());
  EXPECT_TRUE(paused_in_outage) << "paused and not ready while the ledger cannot be written";
  EXPECT_TRUE(posted);
  EXPECT_TRUE(resumed_after) << "resumed and ready once the ledger answers";
  ASSERT_TRUE(healthy.has_value()) << "run() ends after stop()";
  EXPECT_TRUE(*healthy);
  const auto messages = slack_sim.simulator().messages("C1");
  ASSERT_EQ(messages.size(), 1U) << "posted once, after the outage";
  EXPECT_EQ(messages.front().text, "You studied.");
}

TEST_F(NotifierMock, ALedgerStepRefusedForItsDataIsDeadLetteredAndNeverPosted) {
  produce(summary_message("summary:j2"));
  tracker::kafka::Consumer consumer(io.get_executor(), consumer_options("slack-outbox", "n"),
                                    tracker::log::null_logger());
  tracker::kafka::Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  tracker::notifier::Notifier notifier(io.get_executor(), consumer, producer, slack, tokens, ledger,
                                       registry, tracker::log::null_logger(), options());
  // A data exception (class 22): the delivery can never be recorded as it is.
  ledger.refuse_claim = Error{.kind = Error::Kind::query,
                              .sqlstate = "22021",
                              .message = "invalid byte sequence for encoding \"UTF8\": 0x00"};
  bool failed_in_ledger = false;
  std::optional<bool> healthy;
  run(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> { healthy = co_await notifier.run(); }, asio::detached);
    failed_in_ledger = co_await eventually([&] {
      const auto row = ledger.rows.find("summary:j2");
      return row != ledger.rows.end() && row->second.claim.state == DeliveryState::failed;
    });
    notifier.stop(1s);
    static_cast<void>(co_await eventually([&] { return healthy.has_value(); }));
  }());
  ASSERT_TRUE(failed_in_ledger) << "the delivery is marked failed after its dead letter";
  EXPECT_NE(ledger.rows["summary:j2"].claim.last_error.find("ledger_rejected: claim:"),
            std::string::npos)
      << ledger.rows["summary:j2"].claim.last_error;
  EXPECT_TRUE(slack_sim.simulator().messages().empty()) << "nothing is posted";
  EXPECT_TRUE(notifier.ready()) << "a refusal is not an outage";

  tracker::kafka::Consumer dlq(io.get_executor(), consumer_options("slack-outbox.dlq", "d"),
                               tracker::log::null_logger());
  std::optional<tracker::kafka::Message> letter;
  run(io, [&]() -> asio::awaitable<void> {
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!letter && std::chrono::steady_clock::now() < until) {
      auto batch = co_await dlq.poll_batch(1, 200ms);
      if (!batch) throw std::runtime_error(batch.error().message());
      if (!batch->empty()) letter.emplace(std::move(batch->front()));
    }
  }());
  ASSERT_TRUE(letter.has_value()) << "the record is in the dead-letter topic";
  EXPECT_EQ(letter->header("x-error-reason"), "ledger_rejected");
  const std::string_view error = letter->header("x-error").value_or("");
  EXPECT_NE(error.find("22021"), std::string_view::npos) << error;
  EXPECT_EQ(letter->header("x-failed-by"), "notifier");
}

namespace {

// The first lookup finds a workspace that never installed the app; later ones find a token that
// does not open while `unreadable`, then the token.
class SwitchTokens final : public tracker::notifier::Tokens {
 public:
  asio::awaitable<tracker::pg::Result<tracker::notifier::WorkspaceToken>> token_for(
      std::string) override {
    if (++calls == 1) {
      co_return tracker::notifier::WorkspaceToken{
          tracker::notifier::WorkspaceToken::Kind::not_installed, {}};
    }
    if (unreadable) {
      co_return Error{.kind = Error::Kind::usage,
                      .message = "sealed token does not open (unknown_key, key \"k0\")"};
    }
    co_return answer;
  }
  tracker::notifier::WorkspaceToken answer{tracker::notifier::WorkspaceToken::Kind::token,
                                           tracker::config::Secret("xoxb-simulated")};
  bool unreadable = true;
  int calls = 0;
};

}  // namespace

TEST_F(NotifierMock, AWorkspaceWithoutTheAppIsDeadLetteredAndATokenThatDoesNotOpenIsWaitedOut) {
  produce(summary_message("summary:j3"));
  produce(summary_message("summary:j4"));
  tracker::kafka::Consumer consumer(io.get_executor(), consumer_options("slack-outbox", "n"),
                                    tracker::log::null_logger());
  tracker::kafka::Producer producer({.brokers = cluster.bootstraps()}, tracker::log::null_logger());
  SwitchTokens switched;
  tracker::notifier::Notifier notifier(io.get_executor(), consumer, producer, slack, switched,
                                       ledger, registry, tracker::log::null_logger(), options());
  bool refused = false;
  bool waited = false;
  bool posted = false;
  std::optional<bool> healthy;
  run(io, [&]() -> asio::awaitable<void> {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> { healthy = co_await notifier.run(); }, asio::detached);
    refused = co_await eventually([&] {
      const auto row = ledger.rows.find("summary:j3");
      return row != ledger.rows.end() && row->second.claim.state == DeliveryState::failed;
    });
    // The next delivery meets a token that does not open: the deployment's fault, waited out.
    waited = co_await eventually([&] { return switched.calls >= 4 && !notifier.ready(); });
    switched.unreadable = false;
    posted = co_await eventually(
        [&] { return ledger.rows["summary:j4"].claim.state == DeliveryState::posted; });
    notifier.stop(1s);
    static_cast<void>(co_await eventually([&] { return healthy.has_value(); }));
  }());
  ASSERT_TRUE(refused) << "a workspace that never installed the app fails the delivery";
  EXPECT_NE(ledger.rows["summary:j3"].claim.last_error.find("workspace_not_installed"),
            std::string::npos)
      << ledger.rows["summary:j3"].claim.last_error;
  EXPECT_TRUE(waited) << "not ready while the token does not open";
  EXPECT_TRUE(posted) << "posted once the token opens";
  const auto messages = slack_sim.simulator().messages("C1");
  ASSERT_EQ(messages.size(), 1U);
  EXPECT_EQ(messages.front().token, "xoxb-simulated");
}
