#pragma once
// The answer to a chat completion: a chat.completion object whose content is made from the last
// user message, so that a test can see the request was read. A study tracker prompt gets
// feedback a person can read (what its logs add up to); anything else an echo of its start.
#include <string>

#include <nlohmann/json.hpp>

namespace tracker::loadtest::openai {

// `request` is already validated (chat_request_problem found nothing). The same request gets
// the same content; usage counts the prompt estimate and `completion_tokens`, capped by the
// request's own cap.
nlohmann::json completion_object(const nlohmann::json& request, const std::string& id,
                                 int completion_tokens);

}  // namespace tracker::loadtest::openai
