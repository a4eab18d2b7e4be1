#pragma once
// Slack's Web API method chat.postMessage, and what each answer means for a sender:
// https://api.slack.com/methods/chat.postMessage
//
//   - HTTP 429: rate limited. Retry-After says how long the method is closed, and for
//     chat.postMessage that holds for the whole workspace, not just the channel;
//   - HTTP 5xx, or ok:false with internal_error, fatal_error, service_unavailable or
//     request_timeout, or no response at all: Slack's side or the network; worth a bounded retry;
//   - ok:false with any other error (channel_not_found, not_in_channel, is_archived, invalid_auth,
//     token_revoked, missing_scope, msg_too_long, no_text, ...): retrying cannot succeed. An error
//     code this list does not know is treated the same way, so that a new kind of refusal becomes
//     a dead letter rather than a retry loop.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <nlohmann/json.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/http/client.hpp>

namespace tracker::slack {

struct PostMessage {
  std::string channel;  // a channel id, or a user id for a direct message
  std::string text;     // always sent: the message, or the notification fallback of blocks
  std::optional<nlohmann::json> blocks;
  std::string thread_ts;  // empty: not a reply
  // Slack message metadata ({"event_type": ..., "event_payload": {...}}), kept with the post.
  std::optional<nlohmann::json> metadata;
};

enum class PostOutcome {
  posted,
  rate_limited,  // 429: wait retry_after (workspace-wide), then retry
  retryable,     // transient: back off, then retry
  permanent,     // cannot succeed: do not retry
};

struct PostResult {
  PostOutcome outcome = PostOutcome::permanent;
  unsigned http_status = 0;  // 0: no response
  // Slack's error code (ok:false), else "http_<status>", else the transport failure's kind
  // ("timeout", "connect_failed", ...); empty when posted.
  std::string error;
  std::string detail;   // a transport failure's description, for logs
  std::string channel;  // as Slack answered: a DM's "D..." id for a user id
  std::string ts;
  std::optional<std::chrono::milliseconds> retry_after;
  // The request may have reached Slack although no answer came (a timeout or a reset after it
  // was sent): a retry may post twice.
  bool in_doubt = false;
};

// What an ok:false error code means.
PostOutcome classify_error(std::string_view error);

// Reads an HTTP answer of chat.postMessage.
PostResult interpret_post_response(unsigned http_status, std::string_view body,
                                   std::optional<std::string_view> retry_after_header);
// No answer: a failure of the HTTP client.
PostResult interpret_post_failure(const http::Failure& failure);

// The JSON body of a chat.postMessage request.
std::string post_message_body(const PostMessage& message);

// users.info (https://api.slack.com/methods/users.info): what the tracker reads of a person.
struct UserInfo {
  std::string id;
  std::string tz;      // IANA name, e.g. "Asia/Seoul"; empty when Slack gives none
  std::string locale;  // e.g. "ko-KR" (asked for with include_locale); empty when not given
  bool is_bot = false;
  bool deleted = false;
};

// A Web API call that gave no answer to use: Slack's error code (user_not_found, invalid_auth,
// token_revoked, ...), else "http_<status>" or the transport failure's kind.
struct ApiFailure {
  std::string error;
  bool retryable = false;
  std::optional<std::chrono::milliseconds> retry_after;  // a 429's Retry-After
};

[[noreturn]] void throw_exception_from_error(const ApiFailure& failure,
                                             const boost::source_location& location);

// Reads an answer of a Web API method: Slack's JSON when ok is true; else why not (429 with its
// Retry-After, 5xx and Slack's transient errors retryable, the rest not).
boost::system::result<nlohmann::json, ApiFailure> interpret_api(
    unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after);

boost::system::result<UserInfo, ApiFailure> interpret_users_info(
    unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after);

class WebApi {
 public:
  // `client`'s base URL is the API root, e.g. https://slack.com/api.
  explicit WebApi(http::Client& client) : client_(client) {}

  // Posts with `bot_token`, the token of the workspace the channel is in.
  boost::asio::awaitable<PostResult> post_message(const PostMessage& message,
                                                  const config::Secret& bot_token);

  boost::asio::awaitable<boost::system::result<UserInfo, ApiFailure>> users_info(
      const std::string& user_id, const config::Secret& bot_token);

  // views.publish (https://api.slack.com/methods/views.publish): `view` becomes the person's
  // App Home tab.
  boost::asio::awaitable<boost::system::result<void, ApiFailure>> views_publish(
      const std::string& user_id, const nlohmann::json& view, const config::Secret& bot_token);

  // Ends the requests in flight now and refuses new ones: for a shutdown whose grace is over. A
  // post cut off after it was sent fails with `aborted` and is in doubt: it may have reached
  // Slack.
  void abort() { client_.abort(); }

 private:
  http::Client& client_;
};

}  // namespace tracker::slack
