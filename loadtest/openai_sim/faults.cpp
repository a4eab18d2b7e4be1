// Faults injected into admitted chat completions: insufficient_quota (or quota_exhausted), 429,
// 500, 503 and held timeouts, each a probability drawn in that order.
#include <algorithm>
#include <random>

#include "openai_simulator.hpp"
#include "openai_wire.hpp"
#include "rate_limits.hpp"
#include "simulator_records.hpp"

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using openai::openai_error;

std::optional<http::Response> OpenAiSimulator::inject_fault(const std::string& model,
                                                            unsigned version, Decision& decision) {
  const double rpm = options_.requests_per_minute;
  // Injected faults, one draw per kind that is enabled, so that enabling one does not change
  // where the others fall.
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto draw = [&](double rate) { return rate > 0 && unit(rng_) < rate; };
  if (options_.quota_exhausted || draw(options_.inject_quota_rate)) {
    ++stats_.injected_quota;
    return openai_error(
        bh::status::too_many_requests,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota", nullptr, "insufficient_quota", version);
  }
  if (draw(options_.inject_429_rate)) {
    ++stats_.injected_429;
    http::Response response =
        openai::rate_limited(model, "requests", std::max(rpm, 1.0), std::max(rpm, 1.0), 1,
                             std::chrono::milliseconds{200}, version);
    response.set(bh::field::retry_after, "1");
    response.set("retry-after-ms", "200");
    return response;
  }
  if (draw(options_.inject_500_rate)) {
    ++stats_.injected_500;
    return openai_error(bh::status::internal_server_error,
                        "The server had an error while processing your request. Sorry about that!",
                        "server_error", nullptr, nullptr, version);
  }
  if (draw(options_.inject_503_rate)) {
    ++stats_.injected_503;
    return openai_error(bh::status::service_unavailable,
                        "The engine is currently overloaded, please try again later",
                        "server_error", nullptr, nullptr, version);
  }
  if (draw(options_.inject_timeout_rate)) {
    // The answer is held until a client's timeout has surely passed; the server can only close
    // a connection after answering, so the late answer is a gateway timeout and then the close.
    ++stats_.injected_timeouts;
    decision.delay = options_.timeout_hold;
    decision.close = true;
    return openai_error(bh::status::gateway_timeout, "Gateway timeout.", "server_error", nullptr,
                        nullptr, version);
  }
  return std::nullopt;
}

}  // namespace tracker::loadtest
