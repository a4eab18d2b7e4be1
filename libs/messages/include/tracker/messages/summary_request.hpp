#pragma once
// Records of the summary-requests topic (schemas/messages/summary-request.v1.schema.json): one
// claimed summary job, keyed team_id:user_id. The scheduler encodes them; the summarizer decodes
// them. The job row in summary_jobs is the truth; the record says what to do and for which
// period, so that the summarizer need not read the job to start.
#include <chrono>
#include <string>
#include <string_view>

#include <tracker/messages/decode_error.hpp>

namespace tracker::messages {

inline constexpr std::string_view kSummaryRequestSchema = "summary-request/v1";

struct SummaryRequest {
  std::string job_id;
  std::string team_id;
  std::string user_id;
  std::string day;  // YYYY-MM-DD, local to time_zone
  int version = 1;
  std::string time_zone;
  std::chrono::system_clock::time_point period_start;
  std::chrono::system_clock::time_point period_end;
  std::string reason;  // scheduled, catch_up, trigger
  int publish = 1;     // 1 for the first publish, more for a re-publish of an unfinished job
  std::chrono::system_clock::time_point requested_at;
  [[nodiscard]] std::string key() const { return team_id + ":" + user_id; }
};

std::string encode_summary_request(const SummaryRequest& request);
// Errors: invalid_json, unknown_schema, missing_field, invalid_field.
DecodeResult<SummaryRequest> decode_summary_request(std::string_view value);

}  // namespace tracker::messages
