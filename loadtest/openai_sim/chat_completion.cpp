// POST chat/completions, in OpenAI's order of checks: the request itself (400s), then the rate
// limits (rate_limits.cpp), then the injected faults (faults.cpp), then the latency, then the
// answer (chat_answer.cpp). Authentication comes before, in api_request.
#include <algorithm>
#include <cmath>
#include <random>

#include "chat_answer.hpp"
#include "chat_request.hpp"
#include "openai_simulator.hpp"
#include "openai_wire.hpp"
#include "simulator_records.hpp"

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using nlohmann::json;
using openai::chat_request_problem;
using openai::completion_object;
using openai::dump;
using openai::invalid_request;

http::Response OpenAiSimulator::chat_completion(const http::Request& request, Decision& decision) {
  const unsigned version = request.version();
  const json body = json::parse(request.body(), nullptr, false);
  if (body.is_discarded()) {
    return invalid_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON.)",
        nullptr, version);
  }
  if (const auto problem = chat_request_problem(body)) {
    return invalid_request(problem->second, problem->first, version);
  }
  const std::string model = body["model"].get<std::string>();
  const auto estimate = estimate_request_tokens(body);
  if (auto refused = admit(model, estimate, version, decision)) return std::move(*refused);
  if (auto fault = inject_fault(model, version, decision)) return std::move(*fault);

  if (options_.latency_median_ms > 0) {
    const double median = options_.latency_median_ms;
    const double p99 = std::max(options_.latency_p99_ms, median);
    const double sigma = std::log(p99 / median) / 2.3263;  // z of the 99th percentile
    std::normal_distribution<double> z(0.0, 1.0);
    decision.delay = std::chrono::milliseconds{std::llround(median * std::exp(sigma * z(rng_)))};
  }
  const json answer = completion_object(body, "chatcmpl-sim" + std::to_string(next_completion_++),
                                        options_.completion_tokens);
  ++stats_.completed;
  stats_.prompt_tokens += answer["usage"]["prompt_tokens"].get<std::uint64_t>();
  stats_.completion_tokens += answer["usage"]["completion_tokens"].get<std::uint64_t>();
  const auto user = body.find("user");
  ++stats_.by_user[user != body.end() && user->is_string() ? user->get<std::string>() : ""];
  return http::json_response(bh::status::ok, dump(answer), version);
}

}  // namespace tracker::loadtest
