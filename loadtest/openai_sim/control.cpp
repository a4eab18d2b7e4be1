// The simulator's control endpoints (/_sim/stats, /_sim/config, /_sim/reset) and the accessors
// behind them: counters, settings changed by name at run time, and reset.
#include <cmath>
#include <stdexcept>

#include <tracker/http/responses.hpp>

#include "openai_simulator.hpp"
#include "openai_wire.hpp"
#include "simulator_records.hpp"

#include "../common/config_values.hpp"

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using nlohmann::json;
using openai::dump;

namespace {

std::chrono::milliseconds get_milliseconds(const json& value, const std::string& key) {
  return std::chrono::milliseconds{std::llround(get_non_negative(value, key))};
}

}  // namespace

json OpenAiSimulatorStats::to_json() const {
  json statuses = json::object();
  for (const auto& [status, count] : by_status) statuses[std::to_string(status)] = count;
  return {{"requests", requests},
          {"completions", completions},
          {"completed", completed},
          {"limit_429_requests", limit_429_requests},
          {"limit_429_tokens", limit_429_tokens},
          {"injected_429", injected_429},
          {"injected_500", injected_500},
          {"injected_503", injected_503},
          {"injected_timeouts", injected_timeouts},
          {"injected_quota", injected_quota},
          {"bad_requests", bad_requests},
          {"auth_failures", auth_failures},
          {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"files_uploaded", files_uploaded},
          {"batches_created", batches_created},
          {"batch_lines", batch_lines},
          {"in_flight", in_flight},
          {"max_in_flight", max_in_flight},
          {"by_status", statuses},
          {"by_user", by_user}};
}

http::Response OpenAiSimulator::control_request(const http::Request& request,
                                                std::string_view path) {
  const unsigned version = request.version();
  const auto method = request.method();
  if (path == "/_sim/stats" && method == bh::verb::get) {
    return http::json_response(bh::status::ok, dump(stats().to_json()), version);
  }
  if (path == "/_sim/reset" && method == bh::verb::post) {
    reset();
    return http::json_response(bh::status::ok, R"({"ok":true})", version);
  }
  if (path == "/_sim/config" && method == bh::verb::post) {
    try {
      configure(json::parse(request.body()));
      return http::json_response(bh::status::ok, dump(config()), version);
    } catch (const std::exception& error) {
      return http::error_response(bh::status::bad_request, "invalid_config", error.what(), version);
    }
  }
  if (path == "/_sim/config" && method == bh::verb::get) {
    return http::json_response(bh::status::ok, dump(config()), version);
  }
  return http::error_response(bh::status::not_found, "not_found", "no such simulator endpoint",
                              version);
}

OpenAiSimulatorStats OpenAiSimulator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void OpenAiSimulator::reset() {
  std::lock_guard lock(mutex_);
  files_.clear();
  batches_.clear();
  const auto in_flight = stats_.in_flight;
  stats_ = {};
  stats_.in_flight = in_flight;
  rebuild_buckets();
  logger_.info("openai_sim_reset");
}

void OpenAiSimulator::configure(const json& changes) {
  if (!changes.is_object()) throw std::invalid_argument("the config must be a JSON object");
  std::lock_guard lock(mutex_);
  OpenAiSimulatorOptions next = options_;
  bool reseed = false;
  for (const auto& [key, value] : changes.items()) {
    if (key == "api_key") {
      if (!value.is_string()) throw std::invalid_argument("api_key must be a string");
      next.api_key = value.get<std::string>();
    } else if (key == "requests_per_minute") {
      next.requests_per_minute = get_non_negative(value, key);
    } else if (key == "tokens_per_minute") {
      next.tokens_per_minute = get_non_negative(value, key);
    } else if (key == "latency_median_ms") {
      next.latency_median_ms = get_non_negative(value, key);
    } else if (key == "latency_p99_ms") {
      next.latency_p99_ms = get_non_negative(value, key);
    } else if (key == "inject_429_rate") {
      next.inject_429_rate = get_rate(value, key);
    } else if (key == "inject_500_rate") {
      next.inject_500_rate = get_rate(value, key);
    } else if (key == "inject_503_rate") {
      next.inject_503_rate = get_rate(value, key);
    } else if (key == "inject_timeout_rate") {
      next.inject_timeout_rate = get_rate(value, key);
    } else if (key == "timeout_hold_ms") {
      next.timeout_hold = get_milliseconds(value, key);
    } else if (key == "inject_quota_rate") {
      next.inject_quota_rate = get_rate(value, key);
    } else if (key == "quota_exhausted") {
      if (!value.is_boolean()) throw std::invalid_argument("quota_exhausted must be true or false");
      next.quota_exhausted = value.get<bool>();
    } else if (key == "completion_tokens") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > 1'000'000) {
        throw std::invalid_argument("completion_tokens must be an integer from 0 to 1000000");
      }
      next.completion_tokens = value.get<int>();
    } else if (key == "batch_duration_ms") {
      next.batch_duration = get_milliseconds(value, key);
    } else if (key == "batch_fail_rate") {
      next.batch_fail_rate = get_rate(value, key);
    } else if (key == "seed") {
      if (!value.is_number_unsigned()) throw std::invalid_argument("seed must be an integer >= 0");
      next.seed = value.get<std::uint64_t>();
      reseed = true;
    } else {
      throw std::invalid_argument("unknown setting \"" + key + "\"");
    }
  }
  const bool limits_changed = next.requests_per_minute != options_.requests_per_minute ||
                              next.tokens_per_minute != options_.tokens_per_minute;
  options_ = std::move(next);
  if (limits_changed) rebuild_buckets();
  if (reseed) rng_.seed(options_.seed);
  json changed = json::array();
  for (const auto& [key, value] : changes.items()) changed.push_back(key);
  logger_.info("openai_sim_config_changed", {{"settings", changed}});
}

json OpenAiSimulator::config() const {
  std::lock_guard lock(mutex_);
  return {{"api_key", options_.api_key},
          {"requests_per_minute", options_.requests_per_minute},
          {"tokens_per_minute", options_.tokens_per_minute},
          {"latency_median_ms", options_.latency_median_ms},
          {"latency_p99_ms", options_.latency_p99_ms},
          {"inject_429_rate", options_.inject_429_rate},
          {"inject_500_rate", options_.inject_500_rate},
          {"inject_503_rate", options_.inject_503_rate},
          {"inject_timeout_rate", options_.inject_timeout_rate},
          {"timeout_hold_ms", options_.timeout_hold.count()},
          {"inject_quota_rate", options_.inject_quota_rate},
          {"quota_exhausted", options_.quota_exhausted},
          {"completion_tokens", options_.completion_tokens},
          {"batch_duration_ms", options_.batch_duration.count()},
          {"batch_fail_rate", options_.batch_fail_rate},
          {"seed", options_.seed}};
}

}  // namespace tracker::loadtest
