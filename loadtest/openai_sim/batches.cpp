// The Batch API: creation, with OpenAI's validation of the input file's lines; a status that
// follows from the time since creation (validating, in_progress, completed; failed, cancelled);
// the output and error files written at the first look after completion; list, retrieve and
// cancel.
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <string_view>

#include "chat_answer.hpp"
#include "chat_request.hpp"
#include "multipart.hpp"
#include "openai_simulator.hpp"
#include "openai_wire.hpp"
#include "simulator_records.hpp"

namespace tracker::loadtest {

namespace bh = boost::beast::http;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using openai::chat_request_problem;
using openai::completion_object;
using openai::dump;
using openai::invalid_request;
using openai::no_such_file;
using openai::openai_error;
using openai::trim;
using openai::unix_now_ms;

namespace {

constexpr std::size_t kMaxBatchErrors = 100;  // errors.data listed for a failed batch
constexpr std::int64_t kBatchExpirySeconds = 24 * 60 * 60;

}  // namespace

http::Response OpenAiSimulator::create_batch(const http::Request& request) {
  const unsigned version = request.version();
  const json body = json::parse(request.body(), nullptr, false);
  if (!body.is_object()) {
    return invalid_request("The request body must be a JSON object.", nullptr, version);
  }
  for (const char* required : {"input_file_id", "endpoint", "completion_window"}) {
    if (!body.contains(required)) {
      return invalid_request(std::string("Missing required parameter: '") + required + "'.",
                             required, version);
    }
    if (!body[required].is_string()) {
      return invalid_request(std::string("Invalid type for '") + required + "': expected a string.",
                             required, version);
    }
  }
  const std::string endpoint = body["endpoint"].get<std::string>();
  if (endpoint != "/v1/chat/completions") {
    return invalid_request("Invalid value for 'endpoint': '" + endpoint +
                               "'. This simulator supports '/v1/chat/completions'.",
                           "endpoint", version);
  }
  const std::string window = body["completion_window"].get<std::string>();
  if (window != "24h") {
    return invalid_request(
        "Invalid value for 'completion_window': '" + window + "'. Supported values are: '24h'.",
        "completion_window", version);
  }
  json metadata = body.value("metadata", json());
  if (!metadata.is_null()) {
    bool valid = metadata.is_object() && metadata.size() <= 16;
    if (valid) {
      for (const auto& [key, value] : metadata.items()) {
        valid = valid && key.size() <= 64 && value.is_string() &&
                value.get<std::string>().size() <= 512;
      }
    }
    if (!valid) {
      return invalid_request(
          "Invalid 'metadata': expected an object of at most 16 string values (keys up to 64 "
          "characters, values up to 512).",
          "metadata", version);
    }
  }
  const std::string input_file_id = body["input_file_id"].get<std::string>();
  const auto input = files_.find(input_file_id);
  if (input == files_.end()) return no_such_file(input_file_id, "input_file_id", version);
  if (input->second.purpose != "batch") {
    return invalid_request("The input file must be uploaded with purpose 'batch', not '" +
                               input->second.purpose + "'.",
                           "input_file_id", version);
  }

  Batch batch;
  batch.id = "batch_sim" + std::to_string(next_batch_);
  batch.input_file_id = input_file_id;
  batch.endpoint = endpoint;
  batch.completion_window = window;
  batch.metadata = metadata;
  batch.created_at_ms = unix_now_ms();
  batch.started = Clock::now();
  batch.duration = options_.batch_duration;
  batch.completion_tokens = options_.completion_tokens;
  // Failures drawn from a generator of this batch's own, so that which lines fail depends on
  // the seed and the batch's number only, not on the chat traffic around it.
  std::mt19937_64 fail_rng(options_.seed ^ (0x9E3779B97F4A7C15ULL * next_batch_));
  ++next_batch_;
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  // Validation as OpenAI's: every line a JSON object {custom_id, method, url, body}; any error
  // fails the whole batch, listing the lines.
  json errors = json::array();
  const auto add_error = [&](const char* code, const std::string& message, json param,
                             std::size_t line) {
    if (errors.size() < kMaxBatchErrors) {
      errors.push_back({{"code", code}, {"message", message}, {"param", param}, {"line", line}});
    }
  };
  std::map<std::string, std::size_t> seen;
  std::string_view content = input->second.content;
  std::size_t line_number = 0;
  while (!content.empty()) {
    ++line_number;
    const std::size_t eol = content.find('\n');
    std::string_view text = content.substr(0, eol);
    content.remove_prefix(eol == std::string_view::npos ? content.size() : eol + 1);
    if (text.ends_with('\r')) text.remove_suffix(1);
    if (trim(text).empty()) continue;
    const json line = json::parse(text, nullptr, false);
    if (!line.is_object()) {
      add_error("invalid_json_line", "This line is not parseable as valid JSON.", nullptr,
                line_number);
      continue;
    }
    const auto custom_id = line.find("custom_id");
    if (custom_id == line.end() || !custom_id->is_string() ||
        custom_id->get<std::string>().empty()) {
      add_error("missing_required_parameter", "Missing required parameter: 'custom_id'.",
                "custom_id", line_number);
      continue;
    }
    if (!seen.emplace(custom_id->get<std::string>(), line_number).second) {
      add_error("duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request. The custom_id "
                "parameter must be unique for each request in a batch.",
                "custom_id", line_number);
      continue;
    }
    if (line.value("method", json()) != "POST") {
      add_error("invalid_method", "Invalid value for 'method': expected 'POST'.", "method",
                line_number);
      continue;
    }
    if (line.value("url", json()) != endpoint) {
      add_error("invalid_url",
                "The URL provided for this request does not match the batch endpoint.", "url",
                line_number);
      continue;
    }
    if (!line.contains("body") || !line["body"].is_object()) {
      add_error("missing_required_parameter", "Missing required parameter: 'body'.", "body",
                line_number);
      continue;
    }
    Batch::Line request_line;
    request_line.custom_id = custom_id->get<std::string>();
    request_line.body = line["body"];
    if (const auto problem = chat_request_problem(request_line.body)) {
      // A well-formed line with a request OpenAI refuses: that request fails with 400, the
      // batch goes on.
      request_line.refused = {{"error",
                               {{"message", problem->second},
                                {"type", "invalid_request_error"},
                                {"param", problem->first},
                                {"code", nullptr}}}};
    } else {
      request_line.fail = options_.batch_fail_rate > 0 && unit(fail_rng) < options_.batch_fail_rate;
    }
    batch.lines.push_back(std::move(request_line));
  }
  if (line_number == 0 || (batch.lines.empty() && errors.empty())) {
    add_error("empty_file", "The batch input file is empty.", nullptr, 0);
    errors.back()["line"] = nullptr;
  }
  if (!errors.empty()) {
    batch.errors = {{"object", "list"}, {"data", errors}};
    batch.lines.clear();
  }
  ++stats_.batches_created;
  stats_.batch_lines += batch.lines.size();
  logger_.info("openai_sim_batch_created", {{"batch_id", batch.id},
                                            {"input_file_id", input_file_id},
                                            {"lines", batch.lines.size()},
                                            {"validation_errors", errors.size()}});
  auto& stored = batches_.emplace(batch.id, std::move(batch)).first->second;
  return http::json_response(bh::status::ok, dump(batch_object(stored)), version);
}

// Writes the output and error files of a batch that has run its course; done at the first look
// after completion, so a batch nobody reads costs nothing.
void OpenAiSimulator::finish_batch(Batch& batch) {
  if (batch.finished) return;
  batch.finished = true;
  std::string output;
  std::string errors;
  for (const auto& line : batch.lines) {
    const std::string request_id = next_request_id();
    json record = {{"id", "batch_req_sim" + std::to_string(next_batch_request_++)},
                   {"custom_id", line.custom_id},
                   {"error", nullptr}};
    if (!line.refused.is_null()) {
      record["response"] = {
          {"status_code", 400}, {"request_id", request_id}, {"body", line.refused}};
      errors += dump(record) + "\n";
      ++batch.failed;
    } else if (line.fail) {
      record["response"] = {
          {"status_code", 500},
          {"request_id", request_id},
          {"body",
           {{"error",
             {{"message",
               "The server had an error while processing your request. Sorry about that!"},
              {"type", "server_error"},
              {"param", nullptr},
              {"code", nullptr}}}}}};
      errors += dump(record) + "\n";
      ++batch.failed;
    } else {
      record["response"] = {
          {"status_code", 200},
          {"request_id", request_id},
          {"body", completion_object(line.body, "chatcmpl-sim" + std::to_string(next_completion_++),
                                     batch.completion_tokens)}};
      output += dump(record) + "\n";
      ++batch.succeeded;
    }
  }
  const std::int64_t completed_at = (batch.created_at_ms + batch.duration.count()) / 1000;
  const auto store = [&](std::string content, const char* kind) {
    StoredFile file;
    file.id = "file-sim" + std::to_string(next_file_++);
    file.filename = batch.id + "_" + kind + ".jsonl";
    file.purpose = "batch_output";
    file.content = std::move(content);
    file.created_at = completed_at;
    const std::string id = file.id;
    files_.emplace(id, std::move(file));
    return id;
  };
  batch.output_file_id = store(std::move(output), "output");
  if (batch.failed > 0) batch.error_file_id = store(std::move(errors), "error");
  logger_.info(
      "openai_sim_batch_completed",
      {{"batch_id", batch.id},
       {"completed", batch.succeeded},
       {"failed", batch.failed},
       {"output_file_id", batch.output_file_id},
       {"error_file_id", batch.error_file_id.empty() ? json() : json(batch.error_file_id)}});
}

// The batch as OpenAI shows it now: its status follows from the time since its creation.
json OpenAiSimulator::batch_object(Batch& batch) {
  const double progress = batch.duration.count() <= 0
                              ? 1.0
                              : std::chrono::duration<double>(Clock::now() - batch.started) /
                                    std::chrono::duration<double>(batch.duration);
  const auto at = [&](double share) -> json {
    return (batch.created_at_ms +
            static_cast<std::int64_t>(share * static_cast<double>(batch.duration.count()))) /
           1000;
  };
  std::string status;
  if (batch.cancelled_at) {
    status = "cancelled";
  } else if (progress < 0.1) {
    status = "validating";
  } else if (!batch.errors.is_null()) {
    status = "failed";
  } else if (progress < 1.0) {
    status = "in_progress";
  } else {
    status = "completed";
    finish_batch(batch);
  }
  json counts = {{"total", 0}, {"completed", 0}, {"failed", 0}};
  if (status == "in_progress" || status == "completed") {
    counts["total"] = batch.lines.size();
  }
  if (status == "in_progress") {
    // Progress as requests finish; which ones fail is known from the start.
    std::uint64_t will_fail = 0;
    for (const auto& line : batch.lines)
      will_fail += (line.fail || !line.refused.is_null()) ? 1U : 0U;
    const double share = (progress - 0.1) / 0.9;
    counts["completed"] =
        static_cast<std::uint64_t>(share * static_cast<double>(batch.lines.size() - will_fail));
    counts["failed"] = static_cast<std::uint64_t>(share * static_cast<double>(will_fail));
  } else if (status == "completed") {
    counts["completed"] = batch.succeeded;
    counts["failed"] = batch.failed;
  }
  const bool started = progress >= 0.1 && batch.errors.is_null();
  return {
      {"id", batch.id},
      {"object", "batch"},
      {"endpoint", batch.endpoint},
      {"errors", batch.errors},
      {"input_file_id", batch.input_file_id},
      {"completion_window", batch.completion_window},
      {"status", status},
      {"output_file_id", status == "completed" ? json(batch.output_file_id) : json()},
      {"error_file_id",
       status == "completed" && !batch.error_file_id.empty() ? json(batch.error_file_id) : json()},
      {"created_at", batch.created_at_ms / 1000},
      {"in_progress_at", started ? at(0.1) : json()},
      {"expires_at", batch.created_at_ms / 1000 + kBatchExpirySeconds},
      {"finalizing_at", status == "completed" ? at(1.0) : json()},
      {"completed_at", status == "completed" ? at(1.0) : json()},
      {"failed_at", status == "failed" ? at(0.1) : json()},
      {"expired_at", nullptr},
      {"cancelling_at", batch.cancelled_at ? json(*batch.cancelled_at) : json()},
      {"cancelled_at", batch.cancelled_at ? json(*batch.cancelled_at) : json()},
      {"request_counts", counts},
      {"metadata", batch.metadata}};
}

http::Response OpenAiSimulator::list_batches(unsigned version) {
  json list = json::array();
  for (auto& [batch_id, batch] : batches_) list.push_back(batch_object(batch));
  std::reverse(list.begin(), list.end());  // newest first, as OpenAI lists them
  return http::json_response(bh::status::ok,
                             dump({{"object", "list"},
                                   {"data", list},
                                   {"first_id", list.empty() ? json() : list.front()["id"]},
                                   {"last_id", list.empty() ? json() : list.back()["id"]},
                                   {"has_more", false}}),
                             version);
}

http::Response OpenAiSimulator::batch_request(const http::Request& request, const std::string& id,
                                              bool cancel) {
  const unsigned version = request.version();
  const auto batch = batches_.find(id);
  if (batch == batches_.end()) {
    return openai_error(bh::status::not_found, "No batch found with id '" + id + "'.",
                        "invalid_request_error", "batch_id", nullptr, version);
  }
  if (!cancel) {
    return http::json_response(bh::status::ok, dump(batch_object(batch->second)), version);
  }
  const json now = batch_object(batch->second);
  const std::string status = now["status"].get<std::string>();
  if (status == "completed" || status == "failed" || status == "expired") {
    return openai_error(bh::status::conflict, "Cannot cancel a batch with status '" + status + "'.",
                        "invalid_request_error", nullptr, nullptr, version);
  }
  if (!batch->second.cancelled_at) {
    batch->second.cancelled_at = unix_now_ms() / 1000;
    logger_.info("openai_sim_batch_cancelled", {{"batch_id", id}});
  }
  return http::json_response(bh::status::ok, dump(batch_object(batch->second)), version);
}

}  // namespace tracker::loadtest
