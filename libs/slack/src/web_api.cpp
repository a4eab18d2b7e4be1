#include <tracker/slack/web_api.hpp>

#include <algorithm>
#include <array>

#include <boost/asio/use_awaitable.hpp>

#include <tracker/http/backoff.hpp>
#include <tracker/http/form.hpp>

namespace tracker::slack {

using nlohmann::json;

PostOutcome classify_error(std::string_view error) {
  // Slack's own transient failures (https://api.slack.com/methods/chat.postMessage#errors).
  static constexpr std::array<std::string_view, 4> kTransient = {
      "internal_error", "fatal_error", "service_unavailable", "request_timeout"};
  static constexpr std::array<std::string_view, 2> kRateLimited = {"ratelimited", "rate_limited"};
  if (std::find(kTransient.begin(), kTransient.end(), error) != kTransient.end()) {
    return PostOutcome::retryable;
  }
  if (std::find(kRateLimited.begin(), kRateLimited.end(), error) != kRateLimited.end()) {
    return PostOutcome::rate_limited;
  }
  return PostOutcome::permanent;
}

PostResult interpret_post_response(unsigned http_status, std::string_view body,
                                   std::optional<std::string_view> retry_after_header) {
  PostResult result;
  result.http_status = http_status;
  if (retry_after_header) result.retry_after = http::parse_retry_after(*retry_after_header);

  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const bool slack_answer =
      parsed.is_object() && parsed.contains("ok") && parsed["ok"].is_boolean();
  std::string error;
  if (slack_answer && parsed.contains("error") && parsed["error"].is_string()) {
    error = parsed["error"].get<std::string>();
  }

  if (http_status == 429) {
    result.outcome = PostOutcome::rate_limited;
    result.error = error.empty() ? "ratelimited" : error;
    return result;
  }
  if (http_status >= 500) {
    result.outcome = PostOutcome::retryable;
    result.error = "http_" + std::to_string(http_status);
    return result;
  }
  if (http_status == 408) {
    result.outcome = PostOutcome::retryable;
    result.error = "http_408";
    return result;
  }
  if (http_status < 200 || http_status >= 300) {
    // Slack answers its own errors with 200; another status (400, 401, 403, 404, 410) comes
    // from a wrong base URL or a proxy, and repeating the request changes nothing.
    result.outcome = PostOutcome::permanent;
    result.error = error.empty() ? "http_" + std::to_string(http_status) : error;
    return result;
  }
  if (!slack_answer) {
    // A 200 that is not Slack's JSON: a proxy or captive portal answered. Slack did not post.
    result.outcome = PostOutcome::retryable;
    result.error = "invalid_response";
    return result;
  }
  if (parsed["ok"].get<bool>()) {
    result.outcome = PostOutcome::posted;
    if (parsed.contains("channel") && parsed["channel"].is_string()) {
      result.channel = parsed["channel"].get<std::string>();
    }
    if (parsed.contains("ts") && parsed["ts"].is_string())
      result.ts = parsed["ts"].get<std::string>();
    return result;
  }
  result.error = error.empty() ? "unknown_error" : error;
  result.outcome = classify_error(result.error);
  return result;
}

PostResult interpret_post_failure(const http::Failure& failure) {
  PostResult result;
  result.outcome = PostOutcome::retryable;
  result.error = std::string(http::to_string(failure.kind));
  result.detail = failure.describe();
  // Only a connection that never opened proves Slack did not see the request.
  result.in_doubt =
      failure.kind == http::ClientError::timeout || failure.kind == http::ClientError::io_failed ||
      failure.kind == http::ClientError::bad_response || failure.kind == http::ClientError::aborted;
  return result;
}

std::string post_message_body(const PostMessage& message) {
  json body = {{"channel", message.channel}, {"text", message.text}};
  if (message.blocks) body["blocks"] = *message.blocks;
  if (!message.thread_ts.empty()) body["thread_ts"] = message.thread_ts;
  if (message.metadata) body["metadata"] = *message.metadata;
  // The bot posts plain study feedback: no link previews.
  body["unfurl_links"] = false;
  body["unfurl_media"] = false;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

boost::asio::awaitable<PostResult> WebApi::post_message(const PostMessage& message,
                                                        const config::Secret& bot_token) {
  // Named before the co_await: GCC 12 mishandles braced temporaries in a coroutine's call.
  http::Headers headers;
  headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  headers.emplace_back("Authorization", "Bearer " + bot_token.reveal());
  std::string body = post_message_body(message);
  auto reply = co_await client_.send(http::beast_http::verb::post, "/chat.postMessage",
                                     std::move(body), std::move(headers));
  if (!reply) co_return interpret_post_failure(reply.error());
  const http::Response& response = *reply;
  std::optional<std::string_view> retry_after;
  if (auto it = response.find(http::beast_http::field::retry_after); it != response.end()) {
    retry_after = std::string_view(it->value().data(), it->value().size());
  }
  co_return interpret_post_response(response.result_int(), response.body(), retry_after);
}

void throw_exception_from_error(const ApiFailure& failure, const boost::source_location&) {
  throw std::runtime_error("Slack Web API call failed: " + failure.error);
}

boost::system::result<json, ApiFailure> interpret_api(unsigned http_status, std::string_view body,
                                                      std::optional<std::string_view> retry_after) {
  if (http_status == 429) {
    ApiFailure limited{"ratelimited", true, std::nullopt};
    if (retry_after) limited.retry_after = http::parse_retry_after(*retry_after);
    return limited;
  }
  if (http_status >= 500 || http_status == 408) {
    return ApiFailure{"http_" + std::to_string(http_status), true, std::nullopt};
  }
  if (http_status < 200 || http_status >= 300) {
    return ApiFailure{"http_" + std::to_string(http_status), false, std::nullopt};
  }
  json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("ok") || !parsed["ok"].is_boolean()) {
    return ApiFailure{"invalid_response", true, std::nullopt};
  }
  if (!parsed["ok"].get<bool>()) {
    // Type-checked: json::value() throws for an "error" that is not a string.
    const auto it = parsed.find("error");
    const std::string error =
        it != parsed.end() && it->is_string() ? it->get<std::string>() : "unknown_error";
    return ApiFailure{error, classify_error(error) != PostOutcome::permanent, std::nullopt};
  }
  return boost::system::result<json, ApiFailure>(boost::system::in_place_value, std::move(parsed));
}

boost::system::result<UserInfo, ApiFailure> interpret_users_info(
    unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after) {
  auto parsed = interpret_api(http_status, body, retry_after);
  if (!parsed) return parsed.error();
  const auto user = parsed->find("user");
  if (user == parsed->end() || !user->is_object()) {
    return ApiFailure{"invalid_response", false, std::nullopt};
  }
  // Every field type-checked: json::value() throws for a value of another type.
  const auto text = [&](const char* name) {
    const auto it = user->find(name);
    return it != user->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto flag = [&](const char* name) {
    const auto it = user->find(name);
    return it != user->end() && it->is_boolean() && it->get<bool>();
  };
  UserInfo info;
  info.id = text("id");
  info.tz = text("tz");
  info.locale = text("locale");
  info.is_bot = flag("is_bot");
  info.deleted = flag("deleted");
  return info;
}

namespace {

// A Web API method called with a bot token: the answer as interpret_api reads it.
boost::asio::awaitable<boost::system::result<json, ApiFailure>> call(
    http::Client& client, std::string method, std::string content_type, std::string body,
    const config::Secret& bot_token) {
  http::Headers headers;
  headers.emplace_back("Content-Type", std::move(content_type));
  headers.emplace_back("Authorization", "Bearer " + bot_token.reveal());
  auto reply = co_await client.send(http::beast_http::verb::post, "/" + method, std::move(body),
                                    std::move(headers));
  if (!reply) {
    co_return ApiFailure{std::string(http::to_string(reply.error().kind)), true, std::nullopt};
  }
  std::optional<std::string_view> retry_after;
  if (auto it = reply->find(http::beast_http::field::retry_after); it != reply->end()) {
    retry_after = std::string_view(it->value().data(), it->value().size());
  }
  co_return interpret_api(reply->result_int(), reply->body(), retry_after);
}

}  // namespace

boost::asio::awaitable<boost::system::result<void, ApiFailure>> WebApi::views_publish(
    const std::string& user_id, const nlohmann::json& view, const config::Secret& bot_token) {
  // Named before the co_await: GCC 12 mishandles braced temporaries in a coroutine's call.
  std::string body = json{{"user_id", user_id}, {"view", view}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  auto answer = co_await call(client_, "views.publish", "application/json; charset=utf-8",
                              std::move(body), bot_token);
  if (!answer) co_return answer.error();
  co_return boost::system::result<void, ApiFailure>{};
}

boost::asio::awaitable<boost::system::result<UserInfo, ApiFailure>> WebApi::users_info(
    const std::string& user_id, const config::Secret& bot_token) {
  std::string body = http::form_body({{"user", user_id}, {"include_locale", "true"}});
  auto answer = co_await call(client_, "users.info", "application/x-www-form-urlencoded",
                              std::move(body), bot_token);
  if (!answer) co_return answer.error();
  co_return interpret_users_info(200, answer->dump(), std::nullopt);
}

}  // namespace tracker::slack
