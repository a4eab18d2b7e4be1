#pragma once
// The prompt for one person's daily feedback, within a token budget.
//
// The person's study logs are their data, never instructions: the system message says so, and
// the logs travel in a message of their own as JSON (quoted, escaped), so that a log reading
// "ignore previous instructions" is a string in a list, not a line of the prompt. When the logs
// do not fit the budget the oldest go first; one very long log is cut to a share of the budget.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tracker/llm/chat.hpp>

namespace tracker::llm {

// The estimate the rate limiter spends and the budget is measured in: about four bytes of
// UTF-8 a token, plus each message's framing. Rough for Korean (a syllable is 3 bytes and
// often a token), which the server's x-ratelimit-remaining-tokens then corrects.
std::uint64_t estimate_tokens(std::string_view text);
std::uint64_t estimate_prompt_tokens(const std::vector<Message>& messages);
// What a request counts against a TPM limit: the prompt plus the completion it may write.
std::uint64_t estimate_request_tokens(const ChatRequest& request);

struct StudyLogLine {
  std::string time;  // local "HH:MM"
  std::string text;
  std::optional<int> minutes;
  std::vector<std::string> topics;
};

struct PromptInput {
  std::string day;                 // YYYY-MM-DD, the person's local day
  std::string time_zone;           // IANA name
  std::vector<StudyLogLine> logs;  // oldest first
  int total_minutes = 0;
  int streak_days = 0;       // consecutive days with logs, this one included
  int previous_minutes = 0;  // the day before
  int previous_logs = 0;
  std::string language = "en";  // "ko" when the logs are mostly Korean
};

struct Prompt {
  std::vector<Message> messages;
  std::size_t logs_included = 0;
  std::size_t logs_trimmed = 0;  // oldest logs left out to fit the budget
  std::uint64_t estimated_tokens = 0;
};

// The system message's rules, exposed for tests and documentation.
std::string_view system_instructions();

Prompt build_prompt(const PromptInput& input, std::uint64_t budget_tokens);

// Cuts `text` to at most `max_bytes` bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace tracker::llm
