#pragma once
// The Chat Completions API (POST {base}/chat/completions): the request body, and what an
// answer means for the caller's retry policy.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <tracker/http/responses.hpp>
#include <tracker/llm/rate_headers.hpp>

namespace tracker::llm {

struct Message {
  std::string role;  // system, user, assistant
  std::string content;
};

struct ChatRequest {
  std::string model;
  std::vector<Message> messages;
  int max_completion_tokens = 400;
  std::string user;  // an end-user id, for the provider's abuse monitoring
  std::optional<double> temperature;
  [[nodiscard]] nlohmann::json to_json() const;
};

enum class Outcome {
  ok,
  rate_limited,  // 429 rate_limit_exceeded: wait (retry-after) and retry
  quota,         // 429 insufficient_quota: no retry can succeed
  permanent,     // 400, 401, 403, 404, other 4xx, an answer without content: no retry
  retryable,     // 408, 409, 5xx, an unreadable 200
};
std::string_view to_string(Outcome outcome) noexcept;

struct ChatResult {
  Outcome outcome = Outcome::retryable;
  unsigned status = 0;
  std::string content;
  std::string model;  // as the server named it
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string finish_reason;
  std::string error_code;  // error.code, else error.type ("rate_limit_exceeded", "server_error")
  std::string message;     // error.message, or why the answer could not be used
  std::optional<std::chrono::milliseconds> retry_after;
  RateLimitHeaders limits;
};

// Interprets an answer to POST /chat/completions.
ChatResult interpret_chat_response(const http::Response& response);
// Interprets a status and JSON body (a batch output line's response); no headers.
ChatResult interpret_chat_body(unsigned status, const nlohmann::json& body);

// The label of a 429 in tracker_llm_rate_limited_total: the error code of OpenAI's rate limits
// ("rate_limit_exceeded", also for an empty one, "insufficient_quota", or the types "requests"
// and "tokens"), else "other": the server's text must not become a time series of its own.
std::string_view rate_limit_label(std::string_view error_code) noexcept;

}  // namespace tracker::llm
