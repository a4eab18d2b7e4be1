#include "tracker/llm/batch.hpp"

#include "json_fields.hpp"

#include <cstdint>
#include <random>
#include <stdexcept>

namespace tracker::llm {

std::string batch_input_line(std::string_view custom_id, const ChatRequest& request) {
  const nlohmann::json line{{"custom_id", custom_id},
                            {"method", "POST"},
                            {"url", "/v1/chat/completions"},
                            {"body", request.to_json()}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Multipart file_upload(std::string_view purpose, std::string_view filename,
                      std::string_view content) {
  std::random_device device;
  std::string boundary = "tracker-";
  for (int i = 0; i < 4; ++i) boundary += std::to_string(device());
  Multipart out;
  out.content_type = "multipart/form-data; boundary=" + boundary;
  std::string& body = out.body;
  body.reserve(content.size() + 512);
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n";
  body += purpose;
  body += "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"";
  body += filename;
  body += "\"\r\nContent-Type: application/jsonl\r\n\r\n";
  body += content;
  body += "\r\n--" + boundary + "--\r\n";
  return out;
}

bool BatchStatus::finished() const {
  return status == "completed" || status == "failed" || status == "expired" ||
         status == "cancelled";
}

std::string api_error_message(unsigned status, std::string_view body) {
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  std::string message =
      parsed.is_object() ? detail::string_field(parsed.value("error", nlohmann::json{}), "message")
                         : std::string{};
  return message.empty() ? "HTTP " + std::to_string(status) : message;
}

BatchStatus parse_batch(const nlohmann::json& batch) {
  if (!batch.is_object() || !batch.contains("id") || !batch["id"].is_string() ||
      !batch.contains("status") || !batch["status"].is_string()) {
    throw std::invalid_argument("not a batch object (no id or status)");
  }
  BatchStatus status;
  status.id = batch["id"].get<std::string>();
  status.status = batch["status"].get<std::string>();
  if (batch.contains("output_file_id") && batch["output_file_id"].is_string()) {
    status.output_file_id = batch["output_file_id"].get<std::string>();
  }
  if (batch.contains("error_file_id") && batch["error_file_id"].is_string()) {
    status.error_file_id = batch["error_file_id"].get<std::string>();
  }
  if (batch.contains("request_counts") && batch["request_counts"].is_object()) {
    const auto& counts = batch["request_counts"];
    status.total = detail::count_field(counts, "total");
    status.completed = detail::count_field(counts, "completed");
    status.failed = detail::count_field(counts, "failed");
  }
  if (batch.contains("errors") && batch["errors"].is_object() && batch["errors"].contains("data") &&
      batch["errors"]["data"].is_array()) {
    for (const auto& error : batch["errors"]["data"]) {
      if (!status.errors.empty()) status.errors += "; ";
      const std::string message = detail::string_field(error, "message");
      status.errors += message.empty() ? std::string("?") : message;
    }
  }
  return status;
}

std::vector<BatchResult> parse_batch_results(std::string_view jsonl, int& bad_lines) {
  std::vector<BatchResult> results;
  bad_lines = 0;
  while (!jsonl.empty()) {
    const std::size_t end = jsonl.find('\n');
    const std::string_view line = jsonl.substr(0, end);
    jsonl.remove_prefix(end == std::string_view::npos ? jsonl.size() : end + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("custom_id") ||
        !parsed["custom_id"].is_string()) {
      ++bad_lines;
      continue;
    }
    BatchResult out;
    out.custom_id = parsed["custom_id"].get<std::string>();
    const auto response = parsed.find("response");
    if (response != parsed.end() && response->is_object()) {
      // Type-checked: json::value() throws for a status that is not a number.
      const auto code = response->find("status_code");
      const unsigned status =
          code != response->end() && code->is_number_unsigned() && code->get<std::uint64_t>() <= 999
              ? static_cast<unsigned>(code->get<std::uint64_t>())
              : 0U;
      const nlohmann::json body =
          response->contains("body") ? (*response)["body"] : nlohmann::json::object();
      out.result = interpret_chat_body(status, body);
    } else {
      // {"response": null, "error": {"code": ..., "message": ...}}: the request never ran.
      out.result.outcome = Outcome::retryable;
      out.result.error_code = "batch_error";
      const auto error = parsed.find("error");
      out.result.message =
          error != parsed.end() ? detail::string_field(*error, "message") : std::string{};
      if (out.result.message.empty()) out.result.message = "batch request failed";
    }
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace tracker::llm
