#include <tracker/scheduler/trigger.hpp>

#include <openssl/crypto.h>

#include <string_view>

namespace tracker::scheduler {

namespace bh = boost::beast::http;

bool bearer_matches(const http::Request& request, const config::Secret& token) {
  const auto it = request.find(bh::field::authorization);
  if (it == request.end() || token.empty()) return false;
  const std::string_view value(it->value().data(), it->value().size());
  const std::string_view prefix = "Bearer ";
  if (!value.starts_with(prefix)) return false;
  const std::string_view given = value.substr(prefix.size());
  return given.size() == token.reveal().size() &&
         CRYPTO_memcmp(given.data(), token.reveal().data(), given.size()) == 0;
}

metrics::RouteHandler trigger_route(config::Secret admin_token,
                                    std::function<bool()> database_ready, TriggerHandler handle) {
  return [admin_token = std::move(admin_token), database_ready = std::move(database_ready),
          handle =
              std::move(handle)](http::Request& request) -> boost::asio::awaitable<http::Response> {
    if (request.method() != bh::verb::post) {
      auto response = http::error_response(bh::status::method_not_allowed, "method_not_allowed",
                                           "POST /trigger", request.version());
      response.set(bh::field::allow, "POST");
      co_return response;
    }
    if (admin_token.empty()) {
      co_return http::error_response(bh::status::forbidden, "trigger_disabled",
                                     "TRACKER_ADMIN_TOKEN is not set", request.version());
    }
    if (!bearer_matches(request, admin_token)) {
      auto response =
          http::error_response(bh::status::unauthorized, "unauthorized",
                               "Authorization: Bearer <TRACKER_ADMIN_TOKEN>", request.version());
      response.set(bh::field::www_authenticate, "Bearer");
      co_return response;
    }
    if (!database_ready()) {
      co_return http::error_response(bh::status::service_unavailable, "starting",
                                     "the database is not ready yet", request.version());
    }
    co_return co_await handle(request);
  };
}

}  // namespace tracker::scheduler
