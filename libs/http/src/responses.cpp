#include <tracker/http/responses.hpp>

#include <nlohmann/json.hpp>

namespace tracker::http {

Response json_response(beast_http::status status, std::string body, unsigned version) {
  Response response{status, version};
  response.set(beast_http::field::content_type, "application/json");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response error_response(beast_http::status status, std::string_view code, std::string_view detail,
                        unsigned version) {
  nlohmann::json body = {{"error", code}, {"detail", detail}};
  return json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       version);
}

Response empty_response(beast_http::status status, unsigned version) {
  Response response{status, version};
  response.prepare_payload();
  return response;
}

Response method_not_allowed(std::string_view allow, unsigned version) {
  auto response = error_response(beast_http::status::method_not_allowed, "method_not_allowed",
                                 "use " + std::string(allow), version);
  response.set(beast_http::field::allow, allow);
  return response;
}

}  // namespace tracker::http
