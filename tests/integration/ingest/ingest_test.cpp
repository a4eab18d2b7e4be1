// ingest against the real broker: what a signed event becomes on the topic, a broker outage,
// and the service binary's start-up and graceful shutdown.
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <thread>

#include <prometheus/text_serializer.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <tracker/async/event_loops.hpp>
#include <tracker/http/server.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/slack/signature.hpp>

#include <tracker/ingest/ingest_handler.hpp>
#include <tracker/ingest/kafka_publisher.hpp>
#include "fixtures.hpp"
#include "kafka_topic.hpp"

extern char** environ;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using namespace std::chrono_literals;
using tracker::testing::fixture;
using tracker::testing::kafka_brokers;
using tracker::testing::run;

namespace {

constexpr const char* kSecret = "integration-signing-secret-0001";

// A POST of a Slack-signed body to /slack/events.
bh::request<bh::string_body> signed_request(std::string body,
                                            std::optional<int> retry_num = std::nullopt) {
  bh::request<bh::string_body> request{bh::verb::post, "/slack/events", 11};
  request.set(bh::field::host, "127.0.0.1");
  request.set(bh::field::content_type, "application/json");
  const std::string ts = std::to_string(std::time(nullptr));
  request.set("X-Slack-Request-Timestamp", ts);
  request.set("X-Slack-Signature", tracker::slack::sign(kSecret, ts, body));
  if (retry_num) {
    request.set("X-Slack-Retry-Num", std::to_string(*retry_num));
    request.set("X-Slack-Retry-Reason", "http_timeout");
  }
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

asio::ip::tcp::endpoint loopback(std::uint16_t port) {
  return {asio::ip::make_address("127.0.0.1"), port};
}

// POSTs a Slack-signed body to 127.0.0.1:port and returns the status (0 if no answer).
asio::awaitable<unsigned> post_event(std::uint16_t port, std::string body,
                                     std::optional<int> retry_num = std::nullopt) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(15s);
  auto [connect_ec] =
      co_await stream.async_connect(loopback(port), asio::as_tuple(asio::use_awaitable));
  if (connect_ec) co_return 0U;
  auto request = signed_request(std::move(body), retry_num);
  auto [write_ec, written] =
      co_await bh::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  if (write_ec) co_return 0U;
  beast::flat_buffer buffer;
  bh::response<bh::string_body> response;
  auto [read_ec, read] =
      co_await bh::async_read(stream, buffer, response, asio::as_tuple(asio::use_awaitable));
  co_return read_ec ? 0U : response.result_int();
}

std::string event_with_id(const std::string& event_id) {
  auto json = nlohmann::json::parse(fixture("slack/message.json"));
  json["event_id"] = event_id;
  return json.dump();
}

// Reads the topic from the start in a fresh group until `count` messages arrived or 30 s passed.
std::vector<nlohmann::json> read_topic(asio::io_context& io, const std::string& topic,
                                       std::size_t count,
                                       std::vector<std::string>* keys = nullptr) {
  tracker::kafka::Consumer consumer(
      io.get_executor(),
      {.brokers = kafka_brokers(), .group_id = topic + "-reader", .topics = {topic}},
      tracker::log::null_logger());
  auto out = run(
      io,
      [&]() -> asio::awaitable<std::vector<nlohmann::json>> {
        std::vector<nlohmann::json> values;
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (values.size() < count && std::chrono::steady_clock::now() < until) {
          auto batch = co_await consumer.poll_batch(100, 200ms);
          for (const auto& message : *batch) {
            values.push_back(nlohmann::json::parse(message.value()));
            if (keys) keys->emplace_back(message.key());
          }
        }
        // A little longer, to catch a duplicate that would arrive late.
        auto extra = co_await consumer.poll_batch(100, 1s);
        for (const auto& message : *extra) values.push_back(nlohmann::json::parse(message.value()));
        co_return values;
      }(),
      60s);
  consumer.close();
  return out;
}

// A client that keeps `connections` keep-alive connections busy at once: each takes the next
// event from `next_event` (empty: done) and POSTs it, reconnecting after a failure or a close.
// `answered` is called with each event and its status (0: no answer).
asio::awaitable<void> post_concurrently(
    std::uint16_t port, std::size_t connections,
    const std::function<std::optional<std::string>()>& next_event,
    const std::function<void(const std::string& event_id, unsigned status)>& answered) {
  auto executor = co_await asio::this_coro::executor;
  std::size_t running = connections;
  asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
  auto one = [&]() -> asio::awaitable<void> {
    beast::tcp_stream stream(executor);
    beast::flat_buffer buffer;
    bool open = false;
    while (auto event_id = next_event()) {
      unsigned status = 0;
      if (!open) {
        stream.expires_after(15s);
        auto [ec] =
            co_await stream.async_connect(loopback(port), asio::as_tuple(asio::use_awaitable));
        open = !ec;
      }
      if (open) {
        auto request = signed_request(event_with_id(*event_id));
        stream.expires_after(15s);
        auto [write_ec, written] =
            co_await bh::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
        bh::response<bh::string_body> response;
        auto [read_ec, read] =
            co_await bh::async_read(stream, buffer, response, asio::as_tuple(asio::use_awaitable));
        if (!write_ec && !read_ec) status = response.result_int();
        if (write_ec || read_ec || !response.keep_alive()) {
          beast::error_code ignored;
          stream.socket().close(ignored);
          buffer.clear();
          open = false;
        }
      }
      answered(*event_id, status);
    }
    if (--running == 0) all_done.cancel();
  };
  for (std::size_t i = 0; i < connections; ++i) asio::co_spawn(executor, one(), asio::detached);
  while (running > 0) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
}

// How many times each event id is on the topic.
std::map<std::string, int> occurrences(const std::vector<nlohmann::json>& messages) {
  std::map<std::string, int> out;
  for (const auto& message : messages) ++out[message["event_id"].get<std::string>()];
  return out;
}

// ingest as it runs: the connections accepted and served on two single-threaded event loops
// (the threading of the service; under the sanitizer build, each test also checks it for
// races).
struct IngestInProcess : ::testing::Test {
  tracker::testing::ScratchTopic topic{3};
  asio::io_context io;
  // Before the producer: its delivery reports may be posted to the loops until it is gone.
  tracker::async::EventLoops loops{2};
  prometheus::Registry registry;
  // 2.5 s: the default is 2 s, and the answer must come before Slack gives up at 3 s.
  static constexpr auto kDeadline = 2500ms;
  tracker::kafka::Producer producer{{.brokers = kafka_brokers(),
                                     .message_timeout = 30s,
                                     .statistics_interval = 100ms,
                                     .close_timeout = 1s},
                                    tracker::log::null_logger()};
  tracker::ingest::KafkaPublisher publisher{producer, kDeadline};
  tracker::ingest::IngestHandler handler{
      tracker::slack::SignatureVerifier(tracker::config::Secret(kSecret)), publisher, topic.name(),
      registry, tracker::log::null_logger()};
  tracker::http::Server server{loops.executors(),
                               {.address = "127.0.0.1", .port = 0},
                               [this](tracker::http::Request& r) { return handler.handle(r); },
                               registry,
                               tracker::log::null_logger()};
  // The loops' threads end before the handler, the publisher and the producer they use go.
  ~IngestInProcess() override { loops.stop(); }

  IngestInProcess() {
    server.start();
    // As /readyz would: serve once the producer is connected to the cluster.
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!producer.broker_up() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(20ms);
    }
  }

  // POSTs until the answer is 200 or `limit` passes; returns the last status.
  unsigned post_until_ok(const std::string& body, std::chrono::seconds limit) {
    unsigned status = 0;
    const auto until = std::chrono::steady_clock::now() + limit;
    while (status != 200 && std::chrono::steady_clock::now() < until) {
      status = run(io, post_event(server.port(), body));
      if (status != 200) std::this_thread::sleep_for(500ms);
    }
    return status;
  }

  // Checks the answers against the topic: each status is 200 or `other`; every event answered
  // 200 is on the topic exactly once, and no event (the warm-up's included) is on it twice.
  // Returns how many times each event is on the topic.
  std::map<std::string, int> expect_acknowledged_once(
      const std::map<std::string, unsigned>& statuses, unsigned other) {
    std::size_t ok = 0;
    for (const auto& [id, status] : statuses) {
      EXPECT_TRUE(status == 200 || status == other) << id << ": " << status;
      ok += status == 200 ? 1 : 0;
    }
    // One more than the 200s: the test's warm-up event.
    auto counts = occurrences(read_topic(io, topic.name(), ok + 1));
    for (const auto& [id, status] : statuses) {
      if (status == 200) {
        EXPECT_EQ(counts.count(id), 1U) << id << " was acknowledged and is lost";
      }
    }
    for (const auto& [id, count] : counts) EXPECT_EQ(count, 1) << id;
    return counts;
  }
};

// Stops the broker for the test and starts it again however the test ends. A test using it is
// named BrokerDown..., which makes CTest run it alone (tests/CMakeLists.txt).
class BrokerOutage {
 public:
  BrokerOutage() { stack("kafka-stop"); }
  ~BrokerOutage() { restore(); }
  void restore() {
    if (!down_) return;
    down_ = false;
    stack("kafka-start");
  }

 private:
  static void stack(const char* command) {
    const std::string line = "bash '" + std::string(TRACKER_SOURCE_DIR) +
                             "/deploy/local/stack.sh' " + command + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0)
      throw std::runtime_error(std::string("stack.sh ") + command + " failed");
  }
  bool down_ = true;
};

}  // namespace

TEST_F(IngestInProcess, SignedEventIsOnTheTopicExactlyOnceWithKeyAndEnvelope) {
  const std::string body = fixture("slack/message.json");
  EXPECT_EQ(run(io, post_event(server.port(), body)), 200U);
  std::vector<std::string> keys;
  const auto messages = read_topic(io, topic.name(), 1, &keys);
  ASSERT_EQ(messages.size(), 1U) << "the event must be on the topic exactly once";
  EXPECT_EQ(keys.at(0), "T061EG9R6:U2147483697");
  EXPECT_EQ(messages[0]["schema"], "slack-event-envelope/v1");
  EXPECT_EQ(messages[0]["event_id"], "Ev0PV52K21");
  EXPECT_EQ(messages[0]["retry_num"], 0);
  EXPECT_EQ(messages[0]["payload"], nlohmann::json::parse(body));
}

TEST_F(IngestInProcess, SlackRetryIsPublishedWithItsRetryNumber) {
  const std::string body = event_with_id("EvRETRY0001");
  EXPECT_EQ(run(io, post_event(server.port(), body)), 200U);
  EXPECT_EQ(run(io, post_event(server.port(), body, 1)), 200U);
  const auto messages = read_topic(io, topic.name(), 2);
  ASSERT_EQ(messages.size(), 2U);
  EXPECT_EQ(messages[0]["event_id"], "EvRETRY0001");
  EXPECT_EQ(messages[1]["event_id"], "EvRETRY0001");
  EXPECT_EQ(messages[0]["retry_num"], 0);
  EXPECT_EQ(messages[1]["retry_num"], 1);
  EXPECT_EQ(messages[1]["retry_reason"], "http_timeout");
}

TEST_F(IngestInProcess, BrokerDownMeans503AtOnceAnd200SoonAfterItIsBack) {
  // The first publish also initialises the idempotent producer and the new topic's metadata.
  ASSERT_EQ(post_until_ok(event_with_id("EvBEFORE"), 30s), 200U);
  BrokerOutage outage;
  // What /readyz reads: the producer knows the broker is gone.
  const auto until = std::chrono::steady_clock::now() + 15s;
  while (producer.broker_up() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(producer.broker_up()) << "the producer did not notice the broker was gone";
  // One event goes to the producer and waits (it keeps the producer reconnecting): its answer
  // is a 503 within the deadline, before Slack gives up at 3 s.
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run(io, post_event(server.port(), event_with_id("EvDOWN0"))), 503U);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3000ms);
  // Every other event is answered at once, not after the deadline.
  for (int i = 1; i <= 5; ++i) {
    started = std::chrono::steady_clock::now();
    EXPECT_EQ(run(io, post_event(server.port(), event_with_id("EvDOWN" + std::to_string(i)))),
              503U);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 300ms) << "event " << i;
  }
  EXPECT_NE(prometheus::TextSerializer()
                .Serialize(registry.Collect())
                .find(R"(tracker_ingest_publish_total{outcome="broker_down"} 5)"),
            std::string::npos);
  const auto restoring = std::chrono::steady_clock::now();
  outage.restore();  // returns once the broker answers
  const auto broker_ready = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - restoring);
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() - restoring < 60s) {
    status = run(io, post_event(server.port(), event_with_id("EvAFTER")));
    if (status != 200) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 200U) << "ingest did not recover after the broker came back";
  const auto recovered = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - restoring);
  std::printf("broker ready %lld ms and first 200 %lld ms after its start began\n",
              static_cast<long long>(broker_ready.count()),
              static_cast<long long>(recovered.count()));
  // Ingest's own part, from the broker answering again to the first 200: the broker's boot
  // (three JVMs on a cluster, on a busy machine) is not ingest's to bound.
  EXPECT_LT(recovered - broker_ready, 10s);
}

// A signed event near the body limit fits in a record with its envelope: 200, and on the topic.
TEST_F(IngestInProcess, EventAtTheBodyLimitIsStored) {
  auto body = nlohmann::json::parse(event_with_id("EvLARGE"));
  const std::string small = body.dump();
  // 1 MiB (the default body limit) less a little: the envelope must still fit a record.
  body["event"]["text"] = std::string(1024 * 1024 - small.size() - 16, 'a');
  const std::string large = body.dump();
  ASSERT_GT(large.size(), 1'040'000U);
  ASSERT_LE(large.size(), 1024U * 1024U);
  EXPECT_EQ(post_until_ok(large, 30s), 200U);
  const auto messages = read_topic(io, topic.name(), 1);
  ASSERT_EQ(messages.size(), 1U);
  EXPECT_EQ(messages[0]["event_id"], "EvLARGE");
  EXPECT_EQ(messages[0]["payload"]["event"]["text"].get<std::string>().size(),
            1024 * 1024 - small.size() - 16);
}

// 400 events over 64 connections at once, the connections spread over both event loops: each
// is answered 200 and is on the topic exactly once.
TEST_F(IngestInProcess, ManyConnectionsAtOnceEachEventIsOnTheTopicExactlyOnce) {
  ASSERT_EQ(post_until_ok(event_with_id("EvWARM"), 30s), 200U);
  constexpr int kEvents = 400;
  int next = 0;
  std::map<std::string, unsigned> statuses;
  run(io,
      post_concurrently(
          server.port(), 64,
          [&]() -> std::optional<std::string> {
            if (next == kEvents) return std::nullopt;
            return "EvMANY" + std::to_string(next++);
          },
          [&](const std::string& id, unsigned status) { statuses[id] = status; }),
      120s);
  ASSERT_EQ(statuses.size(), static_cast<std::size_t>(kEvents));
  const auto counts = expect_acknowledged_once(statuses, 200);
  EXPECT_EQ(counts.size(), kEvents + 1U);
}

// A shutdown while 64 connections keep sending: the requests in progress are answered (200, and
// on the topic once), none is closed by force, and no event is on the topic twice.
TEST_F(IngestInProcess, ShutdownWithRequestsInFlightAnswersThemAndLosesNone) {
  ASSERT_EQ(post_until_ok(event_with_id("EvWARM"), 30s), 200U);
  int next = 0;
  bool stopping = false;
  int answered_while_stopping = 0;
  std::size_t forced = 99;
  std::map<std::string, unsigned> statuses;
  run(
      io,
      [&]() -> asio::awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        asio::co_spawn(
            executor,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer wait(executor, 500ms);
              co_await wait.async_wait(asio::use_awaitable);
              stopping = true;
              forced = co_await server.shutdown(10s);
            },
            asio::detached);
        co_await post_concurrently(
            server.port(), 64,
            [&]() -> std::optional<std::string> {
              if (stopping || next == 100'000) return std::nullopt;
              return "EvSTOP" + std::to_string(next++);
            },
            [&](const std::string& id, unsigned status) {
              statuses[id] = status;
              if (stopping && status == 200) ++answered_while_stopping;
            });
        // Until the shutdown has finished.
        while (forced == 99) {
          asio::steady_timer wait(executor, 20ms);
          co_await wait.async_wait(asio::use_awaitable);
        }
      }(),
      60s);
  EXPECT_EQ(forced, 0U);
  EXPECT_EQ(server.open_connections(), 0U);
  EXPECT_GT(answered_while_stopping, 0) << "no request was in progress when the shutdown began";
  expect_acknowledged_once(statuses, 0);
}

// The broker stops under load from 16 connections and comes back: 200s before, 503s while it is
// away, 200s again after; every acknowledged event is on the topic once, and none twice.
TEST_F(IngestInProcess, BrokerDownMidLoadGives503sThen200sAndNothingTwice) {
  ASSERT_EQ(post_until_ok(event_with_id("EvWARM"), 30s), 200U);
  // 0: before the outage, 1: the broker stopped, 2: it is back.
  std::atomic<int> phase{0};
  std::string outage_error;
  std::thread outage_thread([&] {
    try {
      std::this_thread::sleep_for(1s);
      BrokerOutage outage;
      phase = 1;
      std::this_thread::sleep_for(6s);
      outage.restore();
    } catch (const std::exception& error) {
      outage_error = error.what();
    }
    phase = 2;
  });
  std::array<std::map<unsigned, int>, 3> by_phase;
  std::map<std::string, unsigned> statuses;
  int next = 0;
  const auto give_up = std::chrono::steady_clock::now() + 90s;
  run(io,
      post_concurrently(
          server.port(), 16,
          [&]() -> std::optional<std::string> {
            // Until 200 events were acknowledged after the broker came back.
            if (by_phase[2][200] >= 200 || std::chrono::steady_clock::now() > give_up) {
              return std::nullopt;
            }
            return "EvLOAD" + std::to_string(next++);
          },
          [&](const std::string& id, unsigned status) {
            statuses[id] = status;
            ++by_phase[static_cast<std::size_t>(phase.load())][status];
          }),
      120s);
  outage_thread.join();
  ASSERT_EQ(outage_error, "");
  EXPECT_GT(by_phase[0][200], 0) << "no event was acknowledged before the outage";
  EXPECT_GT(by_phase[1][503], 0) << "no 503 while the broker was away";
  EXPECT_GE(by_phase[2][200], 200) << "ingest did not recover after the broker came back";
  std::printf("events %zu: 200 before %d, during %d, after %d; 503 during %d, after %d\n",
              statuses.size(), by_phase[0][200], by_phase[1][200], by_phase[2][200],
              by_phase[1][503], by_phase[2][503]);
  expect_acknowledged_once(statuses, 503);
}

TEST(IngestBinary, StartsServesAndExitsZeroOnSigterm) {
  tracker::testing::ScratchTopic topic(1);
  auto free_port = [] {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    return probe.local_endpoint().port();
  };
  const auto port = free_port();
  const auto ops_port = free_port();
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.push_back(std::string("SLACK_SIGNING_SECRET=") + kSecret);
  env.push_back("TRACKER_INGEST_PORT=" + std::to_string(port));
  env.push_back("TRACKER_OPS_PORT=" + std::to_string(ops_port));
  env.push_back("TRACKER_INGEST_ADDRESS=127.0.0.1");
  env.push_back("TRACKER_INGEST_TOPIC=" + topic.name());
  env.push_back("TRACKER_LOG_LEVEL=warn");
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = TRACKER_INGEST_BINARY;
  std::vector<char*> argv = {binary.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);

  asio::io_context io;
  unsigned status = 0;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (status != 200 && std::chrono::steady_clock::now() < until) {
    status = run(io, post_event(port, event_with_id("EvBINARY")));
    if (status != 200) std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, 200U);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int wait_status = 0;
  pid_t done = 0;
  const auto stop_until = std::chrono::steady_clock::now() + 20s;
  while ((done = waitpid(pid, &wait_status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < stop_until) {
    std::this_thread::sleep_for(50ms);
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &wait_status, 0);
    FAIL() << "ingest did not exit within 20 s of SIGTERM";
  }
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
      << "exit status " << wait_status;
}

namespace {

struct Exit {
  int status = -1;  // exit code, or -1 when it was still running and was stopped with SIGTERM
  std::string output;
};

// Runs the ingest binary with RLIMIT_NOFILE soft:hard and TRACKER_MAX_CONNECTIONS=`connections`
// for `run_for` at most; stderr is captured.
Exit run_ingest_with_descriptors(rlim_t soft, rlim_t hard, int connections,
                                 std::chrono::milliseconds run_for) {
  tracker::testing::ScratchTopic topic(1);
  char path[] = "/tmp/ingest-descriptors-XXXXXX";
  const int out = ::mkstemp(path);
  if (out < 0) throw std::runtime_error("mkstemp failed");
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.push_back(std::string("SLACK_SIGNING_SECRET=") + kSecret);
  env.push_back("TRACKER_INGEST_PORT=0");
  env.push_back("TRACKER_OPS_PORT=0");
  env.push_back("TRACKER_INGEST_ADDRESS=127.0.0.1");
  env.push_back("TRACKER_INGEST_TOPIC=" + topic.name());
  env.push_back("TRACKER_MAX_CONNECTIONS=" + std::to_string(connections));
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string binary = TRACKER_INGEST_BINARY;
  const pid_t pid = ::fork();
  if (pid == 0) {
    rlimit limit{.rlim_cur = soft, .rlim_max = hard};
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::dup2(out, 2);
    char* argv[] = {binary.data(), nullptr};
    ::execve(binary.c_str(), argv, envp.data());
    ::_exit(127);
  }
  ::close(out);
  int wait_status = 0;
  pid_t done = 0;
  const auto until = std::chrono::steady_clock::now() + run_for;
  while ((done = ::waitpid(pid, &wait_status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  Exit exit;
  if (done == 0) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, &wait_status, 0);
  } else {
    exit.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128;
  }
  std::ifstream in(path);
  exit.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  ::unlink(path);
  return exit;
}

}  // namespace

// A connection cap the process cannot open that many descriptors for is refused at start,
// naming both numbers; a soft limit below the hard one is raised to it.
TEST(IngestBinary, RefusesToStartWhenTheConnectionCapDoesNotFitTheDescriptorLimit) {
  const Exit refused = run_ingest_with_descriptors(256, 256, 400, 10s);
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_NE(refused.output.find("TRACKER_MAX_CONNECTIONS=400 (with 320 for the ops port, Kafka and "
                                "the rest) needs 720"),
            std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("the hard limit is 256"), std::string::npos) << refused.output;

  const Exit raised = run_ingest_with_descriptors(256, 4096, 400, 1500ms);
  EXPECT_EQ(raised.status, -1) << "ingest should be running: " << raised.output;
  EXPECT_NE(raised.output.find("\"started\""), std::string::npos) << raised.output;
}
