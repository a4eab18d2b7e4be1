// summary-requests records: what the scheduler writes, the summarizer reads.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include <tracker/messages/summary_request.hpp>

using tracker::messages::decode_summary_request;
using tracker::messages::encode_summary_request;
using tracker::messages::SummaryRequest;

namespace {

SummaryRequest request_sample() {
  SummaryRequest r;
  r.job_id = "T1:U1:2026-12-01:v1";
  r.team_id = "T1";
  r.user_id = "U1";
  r.day = "2026-12-01";
  r.time_zone = "Asia/Seoul";
  r.period_start = std::chrono::system_clock::time_point{std::chrono::milliseconds{1764504000000}};
  r.period_end = r.period_start + std::chrono::hours{24};
  r.reason = "scheduled";
  r.requested_at = r.period_end;
  return r;
}

std::string reason_of(const std::string& value) {
  const auto decoded = decode_summary_request(value);
  return decoded.has_error() ? decoded.error().reason : "ok";
}

}  // namespace

TEST(SummaryRequest, RoundTrips) {
  const SummaryRequest r = request_sample();
  const auto decoded = decode_summary_request(encode_summary_request(r));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  const SummaryRequest& back = *decoded;
  EXPECT_EQ(back.job_id, r.job_id);
  EXPECT_EQ(back.day, r.day);
  EXPECT_EQ(back.period_start, r.period_start);
  EXPECT_EQ(back.period_end, r.period_end);
  EXPECT_EQ(back.publish, 1);
  EXPECT_EQ(back.key(), "T1:U1");
}

TEST(SummaryRequest, NamesWhatIsWrong) {
  auto record = nlohmann::json::parse(encode_summary_request(request_sample()));
  EXPECT_EQ(reason_of("not json"), "invalid_json");
  auto other = record;
  other["schema"] = "summary-request/v9";
  EXPECT_EQ(reason_of(other.dump()), "unknown_schema");
  auto missing = record;
  missing.erase("job_id");
  EXPECT_EQ(reason_of(missing.dump()), "missing_field");
  auto bad_day = record;
  bad_day["day"] = "01/12/2026";
  EXPECT_EQ(reason_of(bad_day.dump()), "invalid_field");
  auto bad_reason = record;
  bad_reason["reason"] = "because";
  EXPECT_EQ(reason_of(bad_reason.dump()), "invalid_field");
  auto backwards = record;
  backwards["period_end"] = backwards["period_start"];
  EXPECT_EQ(reason_of(backwards.dump()), "invalid_field");
  auto bad_version = record;
  bad_version["version"] = 0;
  EXPECT_EQ(reason_of(bad_version.dump()), "invalid_field");
}

TEST(SummaryRequest, MatchesItsJsonSchemaFile) {
  // The schema file lists every field the encoder writes as required, and nothing else.
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) +
                   "/schemas/messages/summary-request.v1.schema.json");
  ASSERT_TRUE(in);
  const auto schema = nlohmann::json::parse(in);
  const auto record = nlohmann::json::parse(encode_summary_request(request_sample()));
  std::set<std::string> required(schema["required"].begin(), schema["required"].end());
  std::set<std::string> written;
  for (const auto& [key, value] : record.items()) written.insert(key);
  EXPECT_EQ(required, written);
  for (const auto& key : written) EXPECT_TRUE(schema["properties"].contains(key)) << key;
}
