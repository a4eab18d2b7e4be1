#pragma once
// The organization's rate limits as OpenAI applies them: requests and tokens per minute, as
// token buckets that refill continuously and hold a minute's worth, charged at admission with
// the estimate OpenAI uses (a refused request spends nothing). OpenAiSimulator::admit,
// set_rate_limit_headers and rebuild_buckets are defined with these.
#include <chrono>
#include <string>

#include <tracker/http/server.hpp>

namespace tracker::loadtest::openai {

// 429 rate_limit_exceeded for `kind` ("requests" or "tokens") with OpenAI's message, and
// retry-after / retry-after-ms for `wait`.
http::Response rate_limited(const std::string& model, const char* kind, double limit, double used,
                            double requested, std::chrono::steady_clock::duration wait,
                            unsigned version);

}  // namespace tracker::loadtest::openai
