#include <tracker/messages/summary_request.hpp>

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include <tracker/log/timestamp.hpp>

namespace tracker::messages {

using nlohmann::json;

namespace {

bool valid_day(std::string_view day) {
  if (day.size() != 10 || day[4] != '-' || day[7] != '-') return false;
  for (std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U}) {
    if (day[i] < '0' || day[i] > '9') return false;
  }
  const int month = (day[5] - '0') * 10 + (day[6] - '0');
  const int dom = (day[8] - '0') * 10 + (day[9] - '0');
  return month >= 1 && month <= 12 && dom >= 1 && dom <= 31;
}

}  // namespace

std::string encode_summary_request(const SummaryRequest& r) {
  const json record{{"schema", kSummaryRequestSchema},
                    {"job_id", r.job_id},
                    {"team_id", r.team_id},
                    {"user_id", r.user_id},
                    {"day", r.day},
                    {"version", r.version},
                    {"time_zone", r.time_zone},
                    {"period_start", log::iso8601_utc(r.period_start)},
                    {"period_end", log::iso8601_utc(r.period_end)},
                    {"reason", r.reason},
                    {"publish", r.publish},
                    {"requested_at", log::iso8601_utc(r.requested_at)}};
  return record.dump();
}

DecodeResult<SummaryRequest> decode_summary_request(std::string_view value) {
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return DecodeError{"invalid_json", "the record is not a JSON object"};
  }
  auto text = [&](const char* name, std::string& out) -> std::optional<DecodeError> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || it->is_null()) {
      return DecodeError{"missing_field", std::string(name) + " is missing"};
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return DecodeError{"invalid_field", std::string(name) + " is not a non-empty string"};
    }
    out = it->get<std::string>();
    return std::nullopt;
  };
  auto integer = [&](const char* name, int& out) -> std::optional<DecodeError> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || it->is_null()) {
      return DecodeError{"missing_field", std::string(name) + " is missing"};
    }
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 1'000'000) {
      return DecodeError{"invalid_field", std::string(name) + " is not a positive integer"};
    }
    out = it->get<int>();
    return std::nullopt;
  };
  auto time = [&](const char* name,
                  std::chrono::system_clock::time_point& out) -> std::optional<DecodeError> {
    std::string raw;
    if (auto error = text(name, raw)) return error;
    const auto parsed_time = log::parse_iso8601_utc(raw);
    if (!parsed_time) {
      return DecodeError{"invalid_field", std::string(name) + " is not an RFC 3339 UTC time"};
    }
    out = *parsed_time;
    return std::nullopt;
  };

  std::string schema;
  if (auto error = text("schema", schema)) return *error;
  if (schema != kSummaryRequestSchema) {
    return DecodeError{"unknown_schema", "schema \"" + schema.substr(0, 64) + "\" is not " +
                                             std::string(kSummaryRequestSchema)};
  }
  SummaryRequest r;
  for (auto [name, target] :
       {std::pair{"job_id", &r.job_id}, std::pair{"team_id", &r.team_id},
        std::pair{"user_id", &r.user_id}, std::pair{"day", &r.day},
        std::pair{"time_zone", &r.time_zone}, std::pair{"reason", &r.reason}}) {
    if (auto error = text(name, *target)) return *error;
  }
  if (!valid_day(r.day)) return DecodeError{"invalid_field", "day is not YYYY-MM-DD"};
  if (r.reason != "scheduled" && r.reason != "catch_up" && r.reason != "trigger") {
    return DecodeError{"invalid_field", "reason is not scheduled, catch_up or trigger"};
  }
  if (auto error = integer("version", r.version)) return *error;
  if (auto error = integer("publish", r.publish)) return *error;
  if (auto error = time("period_start", r.period_start)) return *error;
  if (auto error = time("period_end", r.period_end)) return *error;
  if (auto error = time("requested_at", r.requested_at)) return *error;
  if (r.period_end <= r.period_start) {
    return DecodeError{"invalid_field", "period_end is not after period_start"};
  }
  return r;
}

}  // namespace tracker::messages
