#include <tracker/slack/envelope.hpp>

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace tracker::slack {

namespace {

std::string json_string(std::string_view text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string iso8601(std::chrono::system_clock::time_point tp) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof buffer - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buffer;
}

}  // namespace

std::string make_envelope(const EventCallback& event, std::string_view raw_body,
                          const Delivery& delivery) {
  std::string out;
  out.reserve(raw_body.size() + 256);
  out.append(R"({"schema":)").append(json_string(kEnvelopeSchema));
  out.append(R"(,"event_id":)").append(json_string(event.event_id));
  out.append(R"(,"team_id":)").append(json_string(event.team_id));
  out.append(R"(,"user_id":)").append(json_string(event.user_id));
  out.append(R"(,"event_type":)").append(json_string(event.event_type));
  out.append(R"(,"received_at":)").append(json_string(iso8601(delivery.received_at)));
  out.append(R"(,"retry_num":)").append(std::to_string(delivery.retry_num));
  out.append(R"(,"retry_reason":)")
      .append(delivery.retry_reason ? json_string(*delivery.retry_reason) : "null");
  out.append(R"(,"payload":)").append(raw_body).append("}");
  return out;
}

std::string partition_key(const EventCallback& event) {
  return event.team_id + ":" + event.user_id;
}

}  // namespace tracker::slack
