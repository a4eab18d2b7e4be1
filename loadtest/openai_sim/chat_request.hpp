#pragma once
// A Chat Completions request as OpenAI reads it: what makes it a 400 (the same checks for a
// request and for a batch line), the text of a message, and the cap it sets on its completion.
// The token estimates charged at admission (estimate_prompt_tokens, estimate_request_tokens) are
// declared in openai_simulator.hpp and defined with these.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace tracker::loadtest::openai {

// Why a chat request would be refused with 400: {param, message}; nullopt if it is fine.
std::optional<std::pair<nlohmann::json, std::string>> chat_request_problem(
    const nlohmann::json& body);
// A message's text: a string, or the text parts of an array of content parts.
std::string content_text(const nlohmann::json& content);
// The cap a request sets on its completion, if any.
std::optional<std::uint64_t> completion_cap(const nlohmann::json& request);

}  // namespace tracker::loadtest::openai
