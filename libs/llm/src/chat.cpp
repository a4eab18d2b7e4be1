#include "tracker/llm/chat.hpp"

#include "json_fields.hpp"

#include <tracker/metrics/declare.hpp>

namespace tracker::llm {

using detail::count_field;
using detail::string_field;

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::ok: return "ok";
    case Outcome::rate_limited: return "rate_limited";
    case Outcome::quota: return "insufficient_quota";
    case Outcome::permanent: return "permanent";
    case Outcome::retryable: return "retryable";
  }
  return "unknown";
}

std::string_view rate_limit_label(std::string_view error_code) noexcept {
  static constexpr std::string_view kKnown[] = {"rate_limit_exceeded", "insufficient_quota",
                                                "requests", "tokens"};
  return metrics::known_or_other(error_code, kKnown, "rate_limit_exceeded");
}

nlohmann::json ChatRequest::to_json() const {
  nlohmann::json body{{"model", model}, {"max_completion_tokens", max_completion_tokens}};
  auto& list = body["messages"] = nlohmann::json::array();
  for (const Message& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  if (!user.empty()) body["user"] = user;
  if (temperature) body["temperature"] = *temperature;
  return body;
}

namespace {

Outcome outcome_of_error(unsigned status, const std::string& code, const std::string& type) {
  if (status == 429) {
    if (code == "insufficient_quota" || type == "insufficient_quota") return Outcome::quota;
    return Outcome::rate_limited;
  }
  if (status == 408 || status == 409 || status >= 500) return Outcome::retryable;
  return Outcome::permanent;
}

}  // namespace

ChatResult interpret_chat_body(unsigned status, const nlohmann::json& body) {
  ChatResult result;
  result.status = status;
  if (status != 200) {
    const nlohmann::json error =
        body.is_object() && body.contains("error") ? body["error"] : nlohmann::json::object();
    const std::string code = string_field(error, "code");
    const std::string type = string_field(error, "type");
    result.error_code = !code.empty() ? code : type;
    result.message = string_field(error, "message");
    if (result.message.empty()) result.message = "HTTP " + std::to_string(status);
    result.outcome = outcome_of_error(status, code, type);
    return result;
  }
  try {
    const auto& choice = body.at("choices").at(0);
    const auto& message = choice.at("message");
    const auto content = message.find("content");
    if (content != message.end() && content->is_string())
      result.content = content->get<std::string>();
    result.finish_reason = string_field(choice, "finish_reason");
    result.model = string_field(body, "model");
    if (const auto usage = body.find("usage"); usage != body.end() && usage->is_object()) {
      result.prompt_tokens = count_field(*usage, "prompt_tokens");
      result.completion_tokens = count_field(*usage, "completion_tokens");
    }
  } catch (const nlohmann::json::exception& error) {
    result.outcome = Outcome::retryable;
    result.error_code = "bad_response";
    result.message = std::string("unreadable completion: ") + error.what();
    return result;
  }
  if (result.content.empty()) {
    // A refusal or a content filter: asking again the same way will not help.
    result.outcome = Outcome::permanent;
    result.error_code = "empty_completion";
    result.message =
        "the completion has no text (finish_reason " +
        (result.finish_reason.empty() ? std::string("unknown") : result.finish_reason) + ")";
    return result;
  }
  result.outcome = Outcome::ok;
  return result;
}

ChatResult interpret_chat_response(const http::Response& response) {
  const unsigned status = response.result_int();
  nlohmann::json body = nlohmann::json::parse(response.body(), nullptr, false);
  ChatResult result;
  if (body.is_discarded()) {
    result.status = status;
    result.outcome = status == 429 ? Outcome::rate_limited
                                   : outcome_of_error(status == 200 ? 500 : status, "", "");
    result.error_code = status == 200 ? "bad_response" : "http_" + std::to_string(status);
    result.message = "the answer is not JSON (HTTP " + std::to_string(status) + ")";
  } else {
    result = interpret_chat_body(status, body);
  }
  result.limits = read_rate_limit_headers(response);
  if (status == 429 || status == 503) result.retry_after = read_retry_after(response);
  return result;
}

}  // namespace tracker::llm
