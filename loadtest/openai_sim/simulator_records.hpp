#pragma once
// The OpenAI simulator's own records, shared by the files that make up OpenAiSimulator: the
// decision on one request, the files it stores and the batches it runs. Guarded by the
// simulator's mutex like everything else it holds.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai_simulator.hpp"

namespace tracker::loadtest {

// What one request gets, decided under the lock; waited and answered outside it.
struct OpenAiSimulator::Decision {
  std::chrono::milliseconds delay{0};
  bool counted = false;  // a chat completion in flight until answered
  bool close = false;    // an injected timeout: the connection closes after the late answer
  // When the limits were checked: the x-ratelimit-* headers describe the buckets as of then, so
  // that time spent building the answer does not show in them.
  std::chrono::steady_clock::time_point admitted_at = std::chrono::steady_clock::now();
};

struct OpenAiSimulator::StoredFile {
  std::string id;
  std::string filename;
  std::string purpose;
  std::string content;
  std::int64_t created_at = 0;  // unix seconds

  [[nodiscard]] nlohmann::json object() const {
    return {{"id", id},
            {"object", "file"},
            {"bytes", content.size()},
            {"created_at", created_at},
            {"filename", filename},
            {"purpose", purpose},
            {"status", "processed"},
            {"status_details", nullptr},
            {"expires_at", nullptr}};
  }
};

struct OpenAiSimulator::Batch {
  struct Line {
    std::string custom_id;
    nlohmann::json body;
    nlohmann::json refused;  // the 400 error body of a request OpenAI would refuse, else null
    bool fail = false;       // drawn at creation from batch_fail_rate
  };
  std::string id;
  std::string input_file_id;
  std::string endpoint;
  std::string completion_window;
  nlohmann::json metadata;
  nlohmann::json errors;  // null, or the validation errors that fail the batch
  std::vector<Line> lines;
  std::int64_t created_at_ms = 0;                 // wall clock, for the timestamps shown
  std::chrono::steady_clock::time_point started;  // steady clock, for the status
  std::chrono::milliseconds duration{0};
  int completion_tokens = 0;
  std::optional<std::int64_t> cancelled_at;  // unix seconds
  bool finished = false;                     // output files written
  std::string output_file_id;
  std::string error_file_id;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
};

}  // namespace tracker::loadtest
