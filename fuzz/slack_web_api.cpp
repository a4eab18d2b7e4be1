// Slack Web API answers (libs/slack web_api.cpp): chat.postMessage, any method's JSON
// (interpret_api) and users.info, with a 429's Retry-After (libs/http backoff.cpp). The input
// is an HTTP response; one Beast cannot read is taken as the body of a 200.
//
// Checked: nothing throws; the outcome follows the status as web_api.hpp documents (429 rate
// limited, 5xx and 408 retryable, posted only for a 2xx with ok:true); a Retry-After, when read,
// is never negative; users.info succeeds only when interpret_api does.
#include <string>

#include <tracker/http/backoff.hpp>
#include <tracker/http/responses.hpp>
#include <tracker/slack/web_api.hpp>

#include "fuzz_support.hpp"

namespace {

using tracker::fuzz::require;
namespace slack = tracker::slack;
namespace bh = boost::beast::http;

void check_retry_after(const std::optional<std::chrono::milliseconds>& wait) {
  if (wait) require(wait->count() >= 0, "negative retry_after");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = tracker::fuzz::as_text(data, size);
  auto parsed = tracker::fuzz::parse_message<tracker::http::Response, false>(input);
  const unsigned status = parsed ? parsed->result_int() : 200;
  const std::string_view body = parsed ? std::string_view(parsed->body()) : input;
  std::optional<std::string_view> retry_after;
  if (parsed) {
    if (auto it = parsed->find(bh::field::retry_after); it != parsed->end()) {
      retry_after = std::string_view(it->value().data(), it->value().size());
      check_retry_after(tracker::http::parse_retry_after(
          *retry_after, std::chrono::system_clock::time_point{std::chrono::seconds{1731974400}}));
    }
  }

  const auto post = slack::interpret_post_response(status, body, retry_after);
  require(post.http_status == status, "http_status");
  check_retry_after(post.retry_after);
  if (status == 429) require(post.outcome == slack::PostOutcome::rate_limited, "429 not limited");
  if (status >= 500 || status == 408) {
    require(post.outcome == slack::PostOutcome::retryable, "5xx/408 not retryable");
  }
  if (post.outcome == slack::PostOutcome::posted) {
    require(status >= 200 && status < 300, "posted without a 2xx");
    require(post.error.empty(), "posted with an error");
  } else {
    require(!post.error.empty(), "not posted without an error code");
  }

  const auto api = slack::interpret_api(status, body, retry_after);
  if (api) {
    require(status >= 200 && status < 300 && api->is_object(), "interpret_api success");
  } else {
    require(!api.error().error.empty(), "an API failure without an error code");
    check_retry_after(api.error().retry_after);
    if (status == 429 || status >= 500 || status == 408) {
      require(api.error().retryable, "429/5xx/408 not retryable");
    }
  }
  const auto user = slack::interpret_users_info(status, body, retry_after);
  if (user) require(api.has_value(), "users.info succeeded where interpret_api did not");
  return 0;
}
