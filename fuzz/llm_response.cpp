// OpenAI-compatible answers (libs/llm): a chat completion with its rate-limit headers and
// retry-after / retry-after-ms (chat.cpp, rate_headers.cpp), Go-style durations, and the Batch
// API's objects and result files (batch.cpp). The input is an HTTP response; one Beast cannot
// read is taken as the body of a 200. The body is also read as a batch object and as a JSONL
// result file, and each header value as a duration.
//
// Checked: nothing throws but parse_batch's documented std::invalid_argument; ok only for a 200
// with content; a 429 is rate_limited or quota; every duration, retry_after and batch count is
// non-negative; parse_batch_results accounts for each non-blank line once (a result or a bad
// line); an error answer of the Files or Batch API always has a message.
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include <tracker/llm/batch.hpp>
#include <tracker/llm/chat.hpp>
#include <tracker/llm/rate_headers.hpp>

#include "fuzz_support.hpp"

namespace {

using tracker::fuzz::require;
namespace llm = tracker::llm;

void check_duration(const std::optional<std::chrono::milliseconds>& wait, const char* what) {
  if (wait) require(wait->count() >= 0, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = tracker::fuzz::as_text(data, size);
  auto parsed = tracker::fuzz::parse_message<tracker::http::Response, false>(input);
  tracker::http::Response response;
  if (parsed) {
    response = std::move(*parsed);
  } else {
    response.result(200);
    response.body() = std::string(input);
  }

  const auto result = llm::interpret_chat_response(response);
  require(result.status == response.result_int(), "status");
  if (result.outcome == llm::Outcome::ok) {
    require(result.status == 200 && !result.content.empty(), "ok without a 200 with content");
  }
  if (result.status == 429) {
    require(result.outcome == llm::Outcome::rate_limited || result.outcome == llm::Outcome::quota,
            "429 neither rate limited nor quota");
  }
  check_duration(result.retry_after, "negative retry_after");
  check_duration(result.limits.reset_requests, "negative reset_requests");
  check_duration(result.limits.reset_tokens, "negative reset_tokens");
  check_duration(llm::read_retry_after(response), "negative read_retry_after");
  for (const auto& field : response) {
    check_duration(
        llm::parse_duration(std::string_view(field.value().data(), field.value().size())),
        "negative duration");
  }

  const std::string_view body = response.body();
  int bad_lines = -1;
  const auto results = llm::parse_batch_results(body, bad_lines);
  std::size_t lines = 0;
  for (std::string_view rest = body; !rest.empty();) {
    const auto end = rest.find('\n');
    if (rest.substr(0, end).find_first_not_of(" \t\r") != std::string_view::npos) ++lines;
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  }
  require(bad_lines >= 0 && results.size() + static_cast<std::size_t>(bad_lines) == lines,
          "parse_batch_results lost or double-counted a line");
  for (const auto& line : results) {
    check_duration(line.result.retry_after, "negative batch retry_after");
  }

  require(!llm::api_error_message(result.status, body).empty(), "empty API error message");

  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_discarded()) {
    try {
      const auto batch = llm::parse_batch(json);
      require(!batch.id.empty() || json.at("id") == "", "batch id");
      require(batch.total >= 0 && batch.completed >= 0 && batch.failed >= 0, "negative count");
    } catch (const std::invalid_argument&) {
      // documented: not a batch object
    }
  }
  return 0;
}
