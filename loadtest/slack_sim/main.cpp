// slack-sim: the Slack Web API simulator as a process, for load experiments and the local
// stack. Listens on 127.0.0.1 unless told otherwise; stops on SIGINT/SIGTERM or after
// --max-seconds.
#include <csignal>
#include <iostream>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <tracker/config/number.hpp>

#include "slack_simulator.hpp"

namespace asio = boost::asio;
using tracker::loadtest::SimulatorOptions;

namespace {

constexpr std::string_view kUsage = R"(usage: slack-sim [options]
  --address A                listen on A (default 127.0.0.1)
  --port N                   listen on port N (default 0: any free port, printed)
  --token T                  the bot token to accept (default xoxb-simulated)
  --client-id ID             the app's client id that OAuth accepts (default 1111111111.2222222222)
  --client-secret S          its client secret (default sim-client-secret)
  --user-time-zone Z         users.info's tz for every user (default America/Los_Angeles)
  --channel-per-second R     per-channel limit (default 1; 0: none)
  --channel-burst N          per-channel burst (default 3)
  --workspace-per-minute R   workspace limit for chat.postMessage (default 600; 0: none)
  --workspace-burst N        workspace burst (default 20)
  --inject-429 P             probability of an injected 429 (default 0)
  --retry-after S            Retry-After of an injected 429, seconds (default 1)
  --inject-5xx P             probability of a 500/503 (default 0)
  --inject-error CODE=P      probability of ok:false CODE (repeatable)
  --inject-timeout P         probability of posting but answering after --timeout-hold-ms
  --timeout-hold-ms N        (default 30000)
  --latency-median-ms N      log-normal latency of every answer (default 0: none)
  --latency-p99-ms N         its 99th percentile (default: the median)
  --channel-error C=CODE     every post to channel C answers ok:false CODE (repeatable)
  --seed N                   random seed of the faults and latency (default 1)
  --max-seconds N            exit after N seconds (default 0: run until SIGINT/SIGTERM)
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "slack-sim: " << message << "\n" << kUsage;
  std::exit(2);
}

double number(const std::string& flag, const std::string& text) {
  std::string error;
  if (auto value = tracker::config::parse_number(flag, text, 0.0, 1e12, error)) return *value;
  usage_error(error);
}

double probability(const std::string& flag, const std::string& text) {
  std::string error;
  if (auto value = tracker::config::parse_number(flag, text, 0.0, 1.0, error)) return *value;
  usage_error(error);
}

std::pair<std::string, std::string> pair_of(const std::string& flag, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    usage_error(flag + " wants NAME=VALUE, not \"" + text + "\"");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

int main(int argc, char** argv) {
  SimulatorOptions options;
  double max_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) usage_error(flag + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (flag == "--address") {
      options.address = value;
    } else if (flag == "--port") {
      const double port = number(flag, value);
      if (port > 65535) usage_error("--port must be at most 65535");
      options.port = static_cast<std::uint16_t>(port);
    } else if (flag == "--token") {
      options.token = value;
    } else if (flag == "--client-id") {
      options.client_id = value;
    } else if (flag == "--client-secret") {
      options.client_secret = value;
    } else if (flag == "--user-time-zone") {
      options.default_user_time_zone = value;
    } else if (flag == "--channel-per-second") {
      options.channel_per_second = number(flag, value);
    } else if (flag == "--channel-burst") {
      options.channel_burst = number(flag, value);
    } else if (flag == "--workspace-per-minute") {
      options.workspace_per_minute = number(flag, value);
    } else if (flag == "--workspace-burst") {
      options.workspace_burst = number(flag, value);
    } else if (flag == "--inject-429") {
      options.inject_429_rate = probability(flag, value);
    } else if (flag == "--retry-after") {
      options.inject_retry_after_s = static_cast<int>(number(flag, value));
    } else if (flag == "--inject-5xx") {
      options.inject_5xx_rate = probability(flag, value);
    } else if (flag == "--inject-error") {
      auto [code, rate] = pair_of(flag, value);
      options.inject_errors[code] = probability(flag, rate);
    } else if (flag == "--inject-timeout") {
      options.inject_timeout_rate = probability(flag, value);
    } else if (flag == "--timeout-hold-ms") {
      options.timeout_hold = std::chrono::milliseconds{static_cast<long long>(number(flag, value))};
    } else if (flag == "--latency-median-ms") {
      options.latency_median_ms = number(flag, value);
    } else if (flag == "--latency-p99-ms") {
      options.latency_p99_ms = number(flag, value);
    } else if (flag == "--channel-error") {
      auto [channel, code] = pair_of(flag, value);
      options.channel_errors[channel] = code;
    } else if (flag == "--seed") {
      options.seed = static_cast<std::uint64_t>(number(flag, value));
    } else if (flag == "--max-seconds") {
      max_seconds = number(flag, value);
    } else {
      usage_error("unknown option " + flag);
    }
  }

  tracker::log::Logger logger({.service = "slack-sim"});
  asio::io_context io(1);
  tracker::loadtest::SlackSimulator simulator(io.get_executor(), options, logger);
  try {
    simulator.start();
  } catch (const std::exception& error) {
    std::cerr << "slack-sim: cannot listen on " << options.address << ":" << options.port << ": "
              << error.what() << "\n";
    return 1;
  }
  std::cout << "listening on " << options.address << ":" << simulator.port() << std::endl;

  const auto stop = [&] {
    asio::co_spawn(io, simulator.shutdown(), [&](const std::exception_ptr&) { io.stop(); });
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) stop();
  });
  asio::steady_timer limit(io);
  if (max_seconds > 0) {
    limit.expires_after(std::chrono::milliseconds{static_cast<long long>(max_seconds * 1000)});
    limit.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) stop();
    });
  }
  io.run();
  const auto stats = simulator.stats();
  std::cerr << "slack-sim: " << stats.to_json().dump() << "\n";
  return 0;
}
