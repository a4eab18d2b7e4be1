#pragma once
// The Batch API (https://platform.openai.com/docs/guides/batch): many chat completions in one
// JSONL file, uploaded with purpose "batch", run within a 24 h completion window at a lower
// price and outside the per-minute limits; results come back as output and error files whose
// lines carry the request's custom_id.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <tracker/llm/chat.hpp>

namespace tracker::llm {

// One input line: {"custom_id":...,"method":"POST","url":"/v1/chat/completions","body":...}
std::string batch_input_line(std::string_view custom_id, const ChatRequest& request);

// A multipart/form-data body uploading `content` as a file for the Files API.
struct Multipart {
  std::string content_type;  // multipart/form-data; boundary=...
  std::string body;
};
Multipart file_upload(std::string_view purpose, std::string_view filename,
                      std::string_view content);

struct BatchStatus {
  std::string id;
  std::string status;  // validating, in_progress, finalizing, completed, failed, expired,
                       // cancelling, cancelled
  std::string output_file_id;
  std::string error_file_id;
  int total = 0;
  int completed = 0;
  int failed = 0;
  std::string errors;                   // errors.data[*].message, joined
  [[nodiscard]] bool finished() const;  // nothing more will change
};
// The message of an error answer of the Files or Batch API ({"error": {"message": ...}}), or
// "HTTP <status>" when the body has none of type string.
std::string api_error_message(unsigned status, std::string_view body);

// Reads a batch object; throws std::invalid_argument when it is not one.
BatchStatus parse_batch(const nlohmann::json& batch);

struct BatchResult {
  std::string custom_id;
  ChatResult result;
};
// Reads an output or error file; a line that is not a result is reported in `bad_lines`.
std::vector<BatchResult> parse_batch_results(std::string_view jsonl, int& bad_lines);

}  // namespace tracker::llm
