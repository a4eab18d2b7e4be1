#include "event_body.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <random>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tracker::loadtest {
namespace {

// Texts are plain ASCII without quotes or backslashes, so they go into the JSON unescaped.
constexpr std::array<std::string_view, 5> kTexts{
    "Studied Kafka for 25 minutes #kafka",
    "Read about PostgreSQL MVCC for 40 minutes #postgres",
    "Practised C++ coroutines for 1h #cpp",
    "Reviewed Asio strands for 15 minutes #asio",
    "Studied Kafka consumer groups for 2h #kafka",
};

}  // namespace

EventFactory::EventFactory(std::string run_id, int users, std::int64_t ts_base, EventShape shape)
    : run_id_(std::move(run_id)),
      msg_id_prefix_(run_id_),
      users_(users),
      ts_base_(ts_base),
      shape_(std::move(shape)) {
  // client_msg_id is a UUID, which Slack writes in lower case.
  for (char& c : msg_id_prefix_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string EventFactory::event_id(std::int64_t seq) const {
  std::array<char, 64> id{};
  std::snprintf(id.data(), id.size(), "EvLOAD%s%09lld", run_id_.c_str(),
                static_cast<long long>(seq));
  return id.data();
}

std::string EventFactory::body(std::int64_t seq, std::int64_t now_unix) const {
  const long long user_index = static_cast<long long>(seq % users_);
  std::array<char, 64> user{};
  std::snprintf(user.data(), user.size(), "ULOAD%04lld", user_index + 1);
  std::array<char, 32> channel{};
  if (shape_.channels > 1) {
    std::snprintf(channel.data(), channel.size(), "CLOAD%03lld", user_index % shape_.channels + 1);
  } else {
    std::snprintf(channel.data(), channel.size(), "CLOAD");
  }
  // Slack's ts is "<seconds>.<6 digits>" and unique per channel: one microsecond step per request.
  std::array<char, 64> ts{};
  std::snprintf(ts.data(), ts.size(), "%lld.%06lld",
                static_cast<long long>(ts_base_ + seq / 1'000'000),
                static_cast<long long>(seq % 1'000'000));
  std::array<char, 64> msg_id{};
  std::snprintf(msg_id.data(), msg_id.size(), "%s-0000-4000-8000-%012llx", msg_id_prefix_.c_str(),
                static_cast<unsigned long long>(seq));
  const std::string_view text = kTexts[static_cast<std::size_t>(seq) % kTexts.size()];

  std::string b;
  b.reserve(720);
  b += R"({"token":"XXYYZZ","team_id":")";
  b += shape_.team;
  b += R"(","api_app_id":"ALOAD","event":{"type":"message","channel":")";
  b += channel.data();
  b += R"(","user":")";
  b += user.data();
  b += R"(","text":")";
  b += text;
  b += R"(","ts":")";
  b += ts.data();
  b += R"(","event_ts":")";
  b += ts.data();
  b += R"(","channel_type":"channel","client_msg_id":")";
  b += msg_id.data();
  b += R"("},"type":"event_callback","authorizations":[{"enterprise_id":null,"team_id":")";
  b += shape_.team;
  b += R"(","user_id":"ULOADBOT","is_bot":true,"is_enterprise_install":false}],"event_id":")";
  b += event_id(seq);
  b += R"(","event_time":)";
  b += std::to_string(now_unix);
  b += '}';
  return b;
}

std::string make_run_id() {
  std::random_device random;
  std::array<char, 16> id{};
  std::snprintf(id.data(), id.size(), "%08X", static_cast<unsigned>(random()));
  return id.data();
}

std::string event_body_self_test() {
  const EventFactory events("0123ABCD", 200, 1'731'974'400);
  const auto body = nlohmann::json::parse(events.body(1'000'201, 1'731'974'401), nullptr, false);
  if (body.is_discarded()) return "event body is not valid JSON";
  try {
    const auto& event = body.at("event");
    const bool ok = body.at("type") == "event_callback" && body.at("team_id") == "TLOAD" &&
                    body.at("event_id") == "EvLOAD0123ABCD001000201" &&
                    body.at("event_time") == 1'731'974'401 && event.at("type") == "message" &&
                    event.at("user") == "ULOAD0002" && event.at("channel") == "CLOAD" &&
                    event.at("ts") == "1731974401.000201" && event.at("event_ts") == event.at("ts");
    if (!ok) return "event body fields differ from what was expected: " + body.dump();
  } catch (const nlohmann::json::exception& e) {
    return std::string("event body lacks a field: ") + e.what();
  }
  return {};
}

}  // namespace tracker::loadtest
