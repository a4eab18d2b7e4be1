#pragma once
// What every answer of the OpenAI simulator shares: JSON text, OpenAI's error body (and its two
// most common forms), the organization name its headers and messages carry, and unix time.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include <tracker/http/server.hpp>

namespace tracker::loadtest::openai {

inline constexpr const char* kOrganization = "org-sim";

std::string dump(const nlohmann::json& value);
std::int64_t unix_now_ms();
// OpenAI's error body; param and code are strings or null.
http::Response openai_error(boost::beast::http::status status, const std::string& message,
                            const std::string& type, nlohmann::json param, nlohmann::json code,
                            unsigned version);
// 400 invalid_request_error.
http::Response invalid_request(const std::string& message, nlohmann::json param, unsigned version);
// 404 for a file id the simulator does not hold.
http::Response no_such_file(const std::string& id, const char* param, unsigned version);

}  // namespace tracker::loadtest::openai
