// openai-sim: the OpenAI API simulator as a process, for load experiments and the local stack.
// Listens on 127.0.0.1 unless told otherwise; stops on SIGINT/SIGTERM or after --max-seconds.
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

#include "openai_simulator.hpp"

namespace asio = boost::asio;
using tracker::loadtest::OpenAiSimulatorOptions;

namespace {

constexpr std::string_view kUsage = R"(usage: openai-sim [options]
  --address A                listen on A (default 127.0.0.1)
  --port N                   listen on port N (default 0: any free port, printed)
  --api-key K                the key to accept as Authorization: Bearer K (default sk-simulated;
                             "" accepts any)
  --rpm R                    requests per minute (default 0: no limit)
  --tpm R                    tokens per minute, charged at admission (default 0: no limit)
  --latency-median-ms N      log-normal latency of a completion (default 0: none)
  --latency-p99-ms N         its 99th percentile (default: the median)
  --inject-429 P             probability of a 429 rate_limit_exceeded (default 0)
  --inject-500 P             probability of a 500 server_error (default 0)
  --inject-503 P             probability of a 503 engine overloaded (default 0)
  --inject-timeout P         probability of holding the answer for --timeout-hold-ms
  --timeout-hold-ms N        (default 30000)
  --inject-quota P           probability of a 429 insufficient_quota (default 0)
  --quota-exhausted          every completion answers insufficient_quota
  --completion-tokens N      usage.completion_tokens of an answer (default 150)
  --batch-duration-ms N      a batch's time from creation to completed (default 2000)
  --batch-fail-rate P        share of batch requests that fail with 500 (default 0)
  --seed N                   random seed of the faults, latency and batch failures (default 1)
  --max-seconds N            exit after N seconds (default 0: run until SIGINT/SIGTERM)
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "openai-sim: " << message << "\n" << kUsage;
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

std::chrono::milliseconds milliseconds(const std::string& flag, const std::string& text) {
  return std::chrono::milliseconds{static_cast<long long>(number(flag, text))};
}

}  // namespace

int main(int argc, char** argv) {
  OpenAiSimulatorOptions options;
  double max_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (flag == "--quota-exhausted") {
      options.quota_exhausted = true;
      continue;
    }
    if (i + 1 >= argc) usage_error(flag + " needs a value (or is unknown)");
    const std::string value = argv[++i];
    if (flag == "--address") {
      if (value.empty()) usage_error("--address wants an address, not \"\"");
      options.address = value;
    } else if (flag == "--port") {
      const double port = number(flag, value);
      if (port > 65535 || port != static_cast<double>(static_cast<long>(port))) {
        usage_error("--port wants a whole number up to 65535, not " + value);
      }
      options.port = static_cast<std::uint16_t>(port);
    } else if (flag == "--api-key") {
      options.api_key = value;
    } else if (flag == "--rpm") {
      options.requests_per_minute = number(flag, value);
    } else if (flag == "--tpm") {
      options.tokens_per_minute = number(flag, value);
    } else if (flag == "--latency-median-ms") {
      options.latency_median_ms = number(flag, value);
    } else if (flag == "--latency-p99-ms") {
      options.latency_p99_ms = number(flag, value);
    } else if (flag == "--inject-429") {
      options.inject_429_rate = probability(flag, value);
    } else if (flag == "--inject-500") {
      options.inject_500_rate = probability(flag, value);
    } else if (flag == "--inject-503") {
      options.inject_503_rate = probability(flag, value);
    } else if (flag == "--inject-timeout") {
      options.inject_timeout_rate = probability(flag, value);
    } else if (flag == "--timeout-hold-ms") {
      options.timeout_hold = milliseconds(flag, value);
    } else if (flag == "--inject-quota") {
      options.inject_quota_rate = probability(flag, value);
    } else if (flag == "--completion-tokens") {
      const double tokens = number(flag, value);
      if (tokens > 1'000'000) usage_error("--completion-tokens wants at most 1000000");
      options.completion_tokens = static_cast<int>(tokens);
    } else if (flag == "--batch-duration-ms") {
      options.batch_duration = milliseconds(flag, value);
    } else if (flag == "--batch-fail-rate") {
      options.batch_fail_rate = probability(flag, value);
    } else if (flag == "--seed") {
      options.seed = static_cast<std::uint64_t>(number(flag, value));
    } else if (flag == "--max-seconds") {
      max_seconds = number(flag, value);
    } else {
      usage_error("unknown option " + flag);
    }
  }

  tracker::log::Logger logger({.service = "openai-sim"});
  logger.redact(options.api_key);
  asio::io_context io(1);
  tracker::loadtest::OpenAiSimulator simulator(io.get_executor(), options, logger);
  try {
    simulator.start();
  } catch (const std::exception& error) {
    std::cerr << "openai-sim: cannot listen on " << options.address << ":" << options.port << ": "
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
  // The counters as plain JSON on stderr: the logger would redact their "*_tokens" names.
  const auto stats = simulator.stats();
  logger.info("openai_sim_stopped", {{"requests", stats.requests}, {"completed", stats.completed}});
  std::cerr << "openai-sim: " << stats.to_json().dump() << "\n";
  return 0;
}
