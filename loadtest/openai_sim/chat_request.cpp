#include "chat_request.hpp"

#include "openai_simulator.hpp"
#include "openai_wire.hpp"

namespace tracker::loadtest {

using nlohmann::json;

namespace openai {

namespace {

constexpr std::uint64_t kDefaultMaxTokens = 1'000;  // OpenAI's admission estimate without a cap

}  // namespace

std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        text += part["text"].get<std::string>();
      }
    }
  }
  return text;
}

std::optional<std::pair<json, std::string>> chat_request_problem(const json& body) {
  if (!body.is_object()) return std::pair{json(nullptr), "The request body must be a JSON object."};
  if (!body.contains("model")) {
    return std::pair{json("model"), "Missing required parameter: 'model'."};
  }
  if (!body["model"].is_string() || body["model"].get<std::string>().empty()) {
    return std::pair{json("model"), "Invalid type for 'model': expected a non-empty string."};
  }
  if (!body.contains("messages")) {
    return std::pair{json("messages"), "Missing required parameter: 'messages'."};
  }
  const json& messages = body["messages"];
  if (!messages.is_array()) {
    return std::pair{json("messages"), "Invalid type for 'messages': expected an array."};
  }
  if (messages.empty()) {
    return std::pair{json("messages"),
                     "Invalid 'messages': empty array. Expected an array with "
                     "minimum length 1, but got an empty array instead."};
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const json& message = messages[i];
    if (!message.is_object()) {
      return std::pair{json(at), "Invalid type for '" + at + "': expected an object."};
    }
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      return std::pair{json(at + ".role"), "Missing required parameter: '" + at + ".role'."};
    }
    const std::string role_name = role->get<std::string>();
    if (role_name != "system" && role_name != "user" && role_name != "assistant" &&
        role_name != "developer") {
      return std::pair{json(at + ".role"),
                       "Invalid value: '" + role_name +
                           "'. Supported values are: 'system', 'user', 'assistant' and "
                           "'developer'."};
    }
    const auto content = message.find("content");
    if (content == message.end()) {
      return std::pair{json(at + ".content"), "Missing required parameter: '" + at + ".content'."};
    }
    bool parts_ok = content->is_array() && !content->empty();
    if (parts_ok) {
      for (const auto& part : *content) {
        parts_ok = parts_ok && part.is_object() && part.value("type", "") == "text" &&
                   part.contains("text") && part["text"].is_string();
      }
    }
    if (!content->is_string() && !parts_ok) {
      return std::pair{json(at + ".content"), "Invalid type for '" + at +
                                                  ".content': expected a string or an array of "
                                                  "text parts."};
    }
  }
  for (const char* cap : {"max_completion_tokens", "max_tokens"}) {
    if (!body.contains(cap) || body[cap].is_null()) continue;
    if (!body[cap].is_number_integer() || body[cap].get<std::int64_t>() < 1) {
      return std::pair{json(cap), std::string("Invalid '") + cap +
                                      "': expected an integer >= 1, but got " + dump(body[cap]) +
                                      " instead."};
    }
  }
  if (body.contains("user") && !body["user"].is_string() && !body["user"].is_null()) {
    return std::pair{json("user"), "Invalid type for 'user': expected a string."};
  }
  return std::nullopt;
}

std::optional<std::uint64_t> completion_cap(const json& request) {
  for (const char* cap : {"max_completion_tokens", "max_tokens"}) {
    const auto it = request.find(cap);
    if (it != request.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0) {
      return static_cast<std::uint64_t>(it->get<std::int64_t>());
    }
  }
  return std::nullopt;
}

}  // namespace openai

using openai::completion_cap;
using openai::content_text;

std::uint64_t estimate_prompt_tokens(const json& chat_request) {
  std::uint64_t tokens = 3;
  const auto messages = chat_request.find("messages");
  if (messages == chat_request.end() || !messages->is_array()) return tokens;
  for (const auto& message : *messages) {
    const std::size_t bytes = message.is_object() && message.contains("content")
                                  ? content_text(message["content"]).size()
                                  : 0;
    tokens += (bytes + 3) / 4 + 4;
  }
  return tokens;
}

std::uint64_t estimate_request_tokens(const json& chat_request) {
  return estimate_prompt_tokens(chat_request) +
         completion_cap(chat_request).value_or(openai::kDefaultMaxTokens);
}

}  // namespace tracker::loadtest
