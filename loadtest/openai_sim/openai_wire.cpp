#include "openai_wire.hpp"

#include <chrono>
#include <utility>

#include <tracker/http/responses.hpp>

namespace tracker::loadtest::openai {

namespace bh = boost::beast::http;
using nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

http::Response openai_error(bh::status status, const std::string& message, const std::string& type,
                            json param, json code, unsigned version) {
  const json body = {{"error",
                      {{"message", message},
                       {"type", type},
                       {"param", std::move(param)},
                       {"code", std::move(code)}}}};
  return http::json_response(status, dump(body), version);
}

http::Response invalid_request(const std::string& message, json param, unsigned version) {
  return openai_error(bh::status::bad_request, message, "invalid_request_error", std::move(param),
                      nullptr, version);
}

http::Response no_such_file(const std::string& id, const char* param, unsigned version) {
  return openai_error(bh::status::not_found, "No such File object: " + id, "invalid_request_error",
                      param, nullptr, version);
}

}  // namespace tracker::loadtest::openai
