#include <tracker/slack/envelope.hpp>

#include <nlohmann/json.hpp>

#include <tracker/log/timestamp.hpp>

namespace tracker::slack {

namespace {

std::string json_string(std::string_view text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
  out.append(R"(,"received_at":)").append(json_string(log::iso8601_utc(delivery.received_at)));
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
