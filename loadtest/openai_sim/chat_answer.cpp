#include "chat_answer.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "chat_request.hpp"
#include "openai_simulator.hpp"
#include "openai_wire.hpp"

namespace tracker::loadtest::openai {

using nlohmann::json;

namespace {

constexpr std::size_t kFeedbackCharacters = 80;

// The longest prefix of `text` with at most `characters` code points; never splits a UTF-8
// sequence (a Korean syllable is three bytes).
std::string utf8_prefix(std::string_view text, std::size_t characters) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0U) != 0x80U) {  // the first byte of a code point
      if (seen == characters) return std::string(text.substr(0, i));
      ++seen;
    }
  }
  return std::string(text);
}

// Feedback a person can read, from a study tracker prompt (a JSON document with "logs", each
// with "text" and maybe "minutes" and "topics"): what the logs add up to, quoting the first.
// Anything else gets nullopt.
std::optional<std::string> study_feedback(const std::string& user_message) {
  const json data = json::parse(user_message, nullptr, false);
  if (!data.is_object() || !data.contains("logs") || !data["logs"].is_array()) return std::nullopt;
  const json& logs = data["logs"];
  std::int64_t minutes = 0;
  std::vector<std::string> topics;
  for (const json& log : logs) {
    if (!log.is_object()) continue;
    if (auto it = log.find("minutes"); it != log.end() && it->is_number_integer()) {
      minutes += it->get<std::int64_t>();
    }
    if (auto it = log.find("topics"); it != log.end() && it->is_array()) {
      for (const json& topic : *it) {
        if (topic.is_string() &&
            std::find(topics.begin(), topics.end(), topic.get<std::string>()) == topics.end()) {
          topics.push_back(topic.get<std::string>());
        }
      }
    }
  }
  std::string out = std::to_string(logs.size()) + (logs.size() == 1 ? " log" : " logs");
  if (minutes > 0) {
    out += ", " + std::to_string(minutes / 60) + "h " + std::to_string(minutes % 60) + "m in all";
  }
  if (!topics.empty()) {
    out += " (";
    for (std::size_t i = 0; i < topics.size() && i < 5; ++i) {
      out += (i == 0 ? "#" : ", #") + topics[i];
    }
    out += ")";
  }
  out += ".";
  if (!logs.empty() && logs.front().is_object() && logs.front().contains("text") &&
      logs.front()["text"].is_string()) {
    const std::string text = logs.front()["text"].get<std::string>();
    const std::string first(utf8_prefix(text, kFeedbackCharacters));
    out += " First: \"" + std::string(first) + (first.size() < text.size() ? "…" : "") + "\".";
  }
  if (auto it = data.find("streak_days");
      it != data.end() && it->is_number_integer() && it->get<std::int64_t>() > 1) {
    out += " Streak: " + std::to_string(it->get<std::int64_t>()) + " days.";
  }
  return out + " Keep it up!";
}

}  // namespace

json completion_object(const json& request, const std::string& id, int completion_tokens) {
  std::string last_user;
  for (const auto& message : request["messages"]) {
    if (message.value("role", "") == "user") last_user = content_text(message["content"]);
  }
  const std::uint64_t prompt = estimate_prompt_tokens(request);
  std::uint64_t completion = static_cast<std::uint64_t>(std::max(0, completion_tokens));
  if (const auto cap = completion_cap(request)) completion = std::min(completion, *cap);
  return {
      {"id", id},
      {"object", "chat.completion"},
      {"created", unix_now_ms() / 1000},
      {"model", request["model"]},
      {"choices",
       json::array({{{"index", 0},
                     {"message",
                      {{"role", "assistant"},
                       {"content",
                        "Simulated feedback: " +
                            study_feedback(last_user).value_or(
                                std::string(utf8_prefix(last_user, kFeedbackCharacters)) + " ...")},
                       {"refusal", nullptr}}},
                     {"logprobs", nullptr},
                     {"finish_reason", "stop"}}})},
      {"usage",
       {{"prompt_tokens", prompt},
        {"completion_tokens", completion},
        {"total_tokens", prompt + completion},
        {"prompt_tokens_details", {{"cached_tokens", 0}}},
        {"completion_tokens_details", {{"reasoning_tokens", 0}}}}},
      {"service_tier", "default"},
      {"system_fingerprint", "fp_sim"}};
}

}  // namespace tracker::loadtest::openai
