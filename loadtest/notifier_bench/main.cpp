// notifier-bench: how close the notifier comes to the posting rate Slack's limits allow, and
// how many requests it spends per message.
//
// One run: a fresh topic, consumer group and database schema; the Slack simulator in this
// process with the given limits and faults; the notifier binary started against both, then
// --messages outbox records spread over --channels channels produced at once. The run ends
// when the simulator has every message (or at --time-limit).
//
//   bound  = the least time the simulator's limits allow for these messages: with full buckets
//            at the start, max over the channel limit ((per channel - burst) / rate) and the
//            workspace limit ((all - burst) / rate);
//   ratio  = bound / (last post - first post): 1.0 is as fast as Slack lets anyone post;
//   attempts per message = chat.postMessage requests / messages.
//
// Needs the local stack (KAFKA_BROKERS, DATABASE_URL). Loopback only; bounded by --time-limit.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <tracker/config/number.hpp>
#include <tracker/kafka/admin.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/kafka/send_all.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "../common/scratch_database.hpp"
#include "../worker_bench/child_process.hpp"
#include "slack_simulator.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string notifier;
  int messages = 3'000;
  int channels = 50;
  double channel_per_second = 1;
  double channel_burst = 3;
  double workspace_per_minute = 3'000;
  double workspace_burst = 20;
  double inject_429 = 0;
  int retry_after_s = 1;
  double latency_median_ms = 0;
  double latency_p99_ms = 0;
  // The notifier's own pacing; by default the simulator's limits (what an operator would set).
  double notifier_channel_per_minute = 0;
  double notifier_workspace_per_minute = 0;
  double notifier_workspace_burst = 0;
  std::vector<std::string> notifier_env;  // further NAME=VALUE settings of the notifier
  double time_limit_s = 600;
  std::string label = "run";
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "notifier-bench: " << message << "\n"
            << "usage: notifier-bench --notifier PATH [--messages N] [--channels N]\n"
               "  [--channel-per-second R] [--channel-burst N] [--workspace-per-minute R]\n"
               "  [--workspace-burst N] [--inject-429 P] [--retry-after S]\n"
               "  [--latency-median-ms N] [--latency-p99-ms N]\n"
               "  [--notifier-channel-per-minute R] [--notifier-workspace-per-minute R]\n"
               "  [--notifier-workspace-burst N] [--notifier-env NAME=VALUE]...\n"
               "  [--time-limit S] [--label TEXT]\n";
  std::exit(2);
}

double number(const std::string& flag, const std::string& text) {
  std::string error;
  if (auto value = tracker::config::parse_number(flag, text, 0.0, 1e12, error)) return *value;
  usage_error(error);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(flag + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (flag == "--notifier")
      o.notifier = value;
    else if (flag == "--messages")
      o.messages = static_cast<int>(number(flag, value));
    else if (flag == "--channels")
      o.channels = static_cast<int>(number(flag, value));
    else if (flag == "--channel-per-second")
      o.channel_per_second = number(flag, value);
    else if (flag == "--channel-burst")
      o.channel_burst = number(flag, value);
    else if (flag == "--workspace-per-minute")
      o.workspace_per_minute = number(flag, value);
    else if (flag == "--workspace-burst")
      o.workspace_burst = number(flag, value);
    else if (flag == "--inject-429")
      o.inject_429 = number(flag, value);
    else if (flag == "--retry-after")
      o.retry_after_s = static_cast<int>(number(flag, value));
    else if (flag == "--latency-median-ms")
      o.latency_median_ms = number(flag, value);
    else if (flag == "--latency-p99-ms")
      o.latency_p99_ms = number(flag, value);
    else if (flag == "--notifier-channel-per-minute")
      o.notifier_channel_per_minute = number(flag, value);
    else if (flag == "--notifier-workspace-per-minute")
      o.notifier_workspace_per_minute = number(flag, value);
    else if (flag == "--notifier-env")
      o.notifier_env.push_back(value);
    else if (flag == "--notifier-workspace-burst")
      o.notifier_workspace_burst = number(flag, value);
    else if (flag == "--time-limit")
      o.time_limit_s = number(flag, value);
    else if (flag == "--label")
      o.label = value;
    else
      usage_error("unknown option " + flag);
  }
  if (o.notifier.empty()) usage_error("--notifier is required");
  if (o.messages < 1 || o.channels < 1) usage_error("--messages and --channels must be >= 1");
  if (o.channel_per_second <= 0 || o.workspace_per_minute <= 0) {
    usage_error("the limits must be > 0: the bound is computed from them");
  }
  if (o.notifier_channel_per_minute == 0) o.notifier_channel_per_minute = o.channel_per_second * 60;
  if (o.notifier_workspace_per_minute == 0)
    o.notifier_workspace_per_minute = o.workspace_per_minute;
  if (o.notifier_workspace_burst == 0) o.notifier_workspace_burst = o.workspace_burst;
  return o;
}

std::string env_or_die(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    usage_error(std::string(name) + " is not set (eval \"$(bash deploy/local/stack.sh env)\")");
  }
  return value;
}

// The least time the limits allow: buckets start full.
double bound_seconds(const Options& o) {
  const double per_channel = std::ceil(static_cast<double>(o.messages) / o.channels);
  const double channel = std::max(0.0, per_channel - o.channel_burst) / o.channel_per_second;
  const double workspace =
      std::max(0.0, o.messages - o.workspace_burst) / (o.workspace_per_minute / 60.0);
  return std::max(channel, workspace);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string brokers = env_or_die("KAFKA_BROKERS");
  const std::string database_url = env_or_die("DATABASE_URL");
  const std::string id =
      std::to_string(::getpid()) + "_" +
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000);
  const std::string schema = "bench_notifier_" + id;
  std::string topic = "bench-notifier-" + id;
  std::replace(topic.begin(), topic.end(), '_', '-');

  tracker::loadtest::Database db(database_url);
  tracker::kafka::Admin admin(brokers);
  if (auto ec = admin.create_topics(
          {{.name = topic, .partitions = 6}, {.name = topic + ".dlq", .partitions = 1}}, 30s)) {
    std::cerr << "notifier-bench: create topics: " << ec.message() << "\n";
    return 1;
  }
  db.value("CREATE SCHEMA " + schema);

  tracker::loadtest::SimulatorThread slack({.channel_per_second = o.channel_per_second,
                                            .channel_burst = o.channel_burst,
                                            .workspace_per_minute = o.workspace_per_minute,
                                            .workspace_burst = o.workspace_burst,
                                            .inject_429_rate = o.inject_429,
                                            .inject_retry_after_s = o.retry_after_s,
                                            .latency_median_ms = o.latency_median_ms,
                                            .latency_p99_ms = o.latency_p99_ms,
                                            .seed = 7});
  const std::uint16_t ops_port = tracker::testkit::free_loopback_port();
  std::vector<std::string> env = {
      "TRACKER_DB_SCHEMA=" + schema,
      "TRACKER_NOTIFIER_TOPIC=" + topic,
      "TRACKER_NOTIFIER_DLQ_TOPIC=" + topic + ".dlq",
      "TRACKER_NOTIFIER_GROUP=" + schema,
      "SLACK_API_BASE_URL=" + slack.base_url(),
      "SLACK_BOT_TOKEN=xoxb-simulated",
      "TRACKER_OPS_ADDRESS=127.0.0.1",
      "TRACKER_OPS_PORT=" + std::to_string(ops_port),
      "TRACKER_SLACK_CHANNEL_PER_MINUTE=" +
          std::to_string(static_cast<long long>(o.notifier_channel_per_minute)),
      "TRACKER_SLACK_CHANNEL_BURST=" + std::to_string(static_cast<long long>(o.channel_burst)),
      "TRACKER_SLACK_WORKSPACE_PER_MINUTE=" +
          std::to_string(static_cast<long long>(o.notifier_workspace_per_minute)),
      "TRACKER_SLACK_WORKSPACE_BURST=" +
          std::to_string(static_cast<long long>(o.notifier_workspace_burst)),
      "TRACKER_NOTIFIER_MAX_BUFFERED=" + std::to_string(std::max(5'000, o.messages)),
      "TRACKER_LOG_LEVEL=error"};
  env.insert(env.end(), o.notifier_env.begin(), o.notifier_env.end());
  const pid_t notifier = tracker::loadtest::spawn(o.notifier, env);
  const auto ready_until = Clock::now() + 30s;
  while (tracker::testkit::blocking_get("127.0.0.1", ops_port, "/readyz").status != 200) {
    if (Clock::now() > ready_until) {
      std::cerr << "notifier-bench: the notifier did not become ready\n";
      tracker::loadtest::stop(notifier);
      return 1;
    }
    std::this_thread::sleep_for(100ms);
  }

  // All records at once: the backlog a day's summaries make.
  {
    asio::io_context io;
    tracker::kafka::Producer producer({.brokers = brokers, .client_id = "notifier-bench"},
                                      tracker::log::null_logger());
    auto message_at = [&](std::size_t i) {
      const std::string channel = "C" + std::to_string(1000 + static_cast<int>(i) % o.channels);
      tracker::messages::OutboxMessage message{
          .delivery_id = "bench:" + id + ":" + std::to_string(i),
          .team_id = "T0BENCH",
          .channel = channel,
          .text = "오늘의 공부 요약 #" + std::to_string(i) + ": 2시간 30분, #kafka #cpp",
          .created_at = std::chrono::system_clock::now()};
      return tracker::kafka::OutgoingMessage{.topic = topic,
                                             .key = tracker::messages::outbox_key(message),
                                             .value = tracker::messages::encode_outbox(message)};
    };
    auto sent = asio::co_spawn(
        io,
        tracker::kafka::send_all(producer, static_cast<std::size_t>(o.messages), message_at, 5'000),
        asio::use_future);
    io.run();
    if (sent.get().failed > 0) {
      std::cerr << "notifier-bench: producing the outbox failed\n";
      tracker::loadtest::stop(notifier);
      return 1;
    }
  }

  const auto deadline =
      Clock::now() + std::chrono::milliseconds{static_cast<long long>(o.time_limit_s * 1000)};
  std::uint64_t posted = 0;
  auto last_report = Clock::now();
  while ((posted = slack.simulator().stats().posted) < static_cast<std::uint64_t>(o.messages) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    if (Clock::now() - last_report > 10s) {
      std::cerr << "  " << posted << "/" << o.messages << " posted\n";
      last_report = Clock::now();
    }
  }
  const double cpu = tracker::loadtest::cpu_seconds(notifier);
  const double rss = tracker::loadtest::peak_rss_mib(notifier);
  tracker::loadtest::stop(notifier);

  const auto messages = slack.simulator().messages();
  const auto stats = slack.simulator().stats();
  std::map<std::string, int> copies;
  for (const auto& m : messages) ++copies[m.metadata["event_payload"].value("delivery_id", "")];
  int duplicates = 0;
  for (const auto& [delivery, n] : copies) duplicates += n - 1;
  double wall = 0;
  if (messages.size() >= 2) {
    wall = std::chrono::duration<double>(messages.back().received_at - messages.front().received_at)
               .count();
  }
  const double bound = bound_seconds(o);
  const bool complete = copies.size() == static_cast<std::size_t>(o.messages);

  std::cout << std::fixed << std::setprecision(2);
  std::cout << "| label | messages | channels | Slack limits | notifier pacing | 429 injected | "
               "posted | wall s | bound s | ratio | msg/s | requests | attempts/msg | "
               "429 limit (ch/ws) | 429 injected | duplicates | notifier CPU s | peak RSS MiB |\n";
  std::cout << "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|-"
               "--:|\n";
  std::cout << "| " << o.label << " | " << o.messages << " | " << o.channels << " | "
            << o.channel_per_second << "/s/ch b" << o.channel_burst << ", "
            << o.workspace_per_minute << "/min b" << o.workspace_burst << " | "
            << o.notifier_channel_per_minute << "/min/ch, " << o.notifier_workspace_per_minute
            << "/min b" << o.notifier_workspace_burst << " | " << o.inject_429 * 100
            << " % (Retry-After " << o.retry_after_s << " s) | " << copies.size()
            << (complete ? "" : " (incomplete)") << " | " << wall << " | " << bound << " | "
            << (wall > 0 ? bound / wall : 0) << " | "
            << (wall > 0 ? static_cast<double>(messages.size() - 1) / wall : 0) << " | "
            << stats.requests << " | " << static_cast<double>(stats.requests) / o.messages << " | "
            << stats.limit_429_channel << " / " << stats.limit_429_workspace << " | "
            << stats.injected_429 << " | " << duplicates << " | " << cpu << " | " << rss << " |\n";

  db.value("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  static_cast<void>(admin.delete_topics({topic, topic + ".dlq"}, 30s));
  return complete ? 0 : 1;
}
