// ingest's handler (services/ingest ingest_handler.cpp): signature check, classification and
// envelope building for /slack/events, /slack/commands and /slack/interactivity. The input is an
// HTTP request (parsed by Beast as the server would); unless it carries X-Slack-Signature of its
// own it is signed with the handler's secret, so that the fuzzer reaches what lies behind the
// signature check. X-Fuzz-Outcome: <n> picks what the broker answers (default: published).
//
// Checked, the promise "never 200 for an event that is not durable" and nothing lost on the way:
//   - the handler returns a response (no exception escapes) with a status it documents;
//   - an unsigned or wrongly signed request publishes nothing and gets 401;
//   - a 200 for an event_callback published exactly one record, the broker took it, and the
//     record decodes (messages::decode_envelope) to the event's ids, with the request body
//     embedded byte for byte (raw_payload; a leading byte order mark left out) and equal as JSON;
//   - an answer other than 200 on /slack/events published nothing that the broker took;
//   - every published command record decodes back to itself.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <tracker/ingest/ingest_handler.hpp>
#include <tracker/messages/command.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/slack/request.hpp>
#include <tracker/slack/signature.hpp>

#include "fuzz_support.hpp"

namespace {

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using tracker::fuzz::require;
using tracker::ingest::PublishOutcome;

constexpr std::int64_t kNow = 1731974400;
constexpr const char* kSecret = "8f742231b10e8888abcd99yyyzzz85a5";

std::chrono::system_clock::time_point now() {
  return std::chrono::system_clock::time_point{std::chrono::seconds{kNow}};
}

class RecordingPublisher final : public tracker::ingest::EventPublisher {
 public:
  asio::awaitable<PublishOutcome> publish(tracker::kafka::OutgoingMessage message) override {
    published.push_back(std::move(message));
    co_return outcome;
  }
  [[nodiscard]] bool ready() const override { return true; }

  PublishOutcome outcome = PublishOutcome::published;
  std::vector<tracker::kafka::OutgoingMessage> published;
};

std::string_view header(const tracker::http::Request& request, std::string_view name) {
  auto it = request.find(name);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}

void check_event_record(const tracker::kafka::OutgoingMessage& message,
                        const tracker::http::Request& request) {
  const auto event = tracker::slack::classify(request.body(), tracker::slack::BodyFormat::json);
  const auto* callback = std::get_if<tracker::slack::EventCallback>(&event);
  require(callback != nullptr, "a record was published for a body that is not an event_callback");
  require(message.key == tracker::messages::partition_key(*callback), "record key");
  const auto decoded = tracker::messages::decode_envelope(message.value);
  require(decoded.has_value(), "the published envelope does not decode:",
          decoded.has_value() ? "" : decoded.error().detail);
  require(decoded->event_id == callback->event_id, "envelope event_id");
  require(decoded->team_id == callback->team_id, "envelope team_id");
  require(decoded->user_id == callback->user_id, "envelope user_id");
  require(decoded->event_type == callback->event_type, "envelope event_type");
  require(decoded->payload == nlohmann::json::parse(request.body()), "envelope payload");
  // Byte for byte, less a UTF-8 byte order mark the JSON parser skipped.
  std::string_view body = request.body();
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  const auto raw = tracker::messages::raw_payload(message.value);
  require(raw.has_value() && *raw == body, "raw_payload does not give back the request body",
          message.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = tracker::fuzz::parse_message<tracker::http::Request, true>(
      tracker::fuzz::as_text(data, size));
  if (!parsed) return 0;
  tracker::http::Request& request = *parsed;
  const bool fuzzer_signed = request.find("x-slack-signature") != request.end();
  if (!fuzzer_signed) {
    if (request.find("x-slack-request-timestamp") == request.end()) {
      request.set("x-slack-request-timestamp", std::to_string(kNow));
    }
    request.set("x-slack-signature",
                tracker::slack::sign(kSecret, header(request, "x-slack-request-timestamp"),
                                     request.body()));
  }
  RecordingPublisher publisher;
  if (const auto outcome = header(request, "x-fuzz-outcome"); !outcome.empty()) {
    publisher.outcome = static_cast<PublishOutcome>(static_cast<unsigned char>(outcome[0]) % 8);
  }

  asio::io_context io;
  prometheus::Registry registry;
  tracker::ingest::IngestHandler handler(
      tracker::slack::SignatureVerifier(tracker::config::Secret(kSecret), {}, now), publisher,
      "slack-events", registry, tracker::log::null_logger(), now);
  const auto response = tracker::fuzz::run(io, handler.handle(request));

  const unsigned status = response.result_int();
  require(status == 200 || status == 400 || status == 401 || status == 404 || status == 405 ||
              status == 413 || status == 415 || status == 500 || status == 503,
          "unexpected status", std::to_string(status));
  if (status == 401) require(publisher.published.empty(), "published a request answered 401");
  if (fuzzer_signed) {
    const auto check = tracker::slack::SignatureVerifier(tracker::config::Secret(kSecret), {}, now)
                           .verify(header(request, "x-slack-request-timestamp"),
                                   header(request, "x-slack-signature"), request.body());
    if (check != tracker::slack::SignatureCheck::ok) {
      require(publisher.published.empty(), "published a request whose signature does not verify");
    }
  }
  require(publisher.published.size() <= 1, "one request published more than one record");
  const std::string_view path = request.target().substr(0, request.target().find('?'));
  for (const auto& message : publisher.published) {
    if (message.topic == "slack-events") {
      require(path == tracker::ingest::kEventsPath, "an event published from another path");
      check_event_record(message, request);
    } else {
      const auto record = tracker::messages::decode_command(message.value);
      require(record.has_value(), "the published command does not decode");
      require(tracker::messages::encode_command(*record) == message.value,
              "the published command does not encode back to itself");
    }
  }
  const bool took = !publisher.published.empty() && publisher.outcome == PublishOutcome::published;
  if (path == tracker::ingest::kEventsPath && status == 200) {
    // 200 for an event: durable. 200 with nothing published is for the requests that are not
    // events (url_verification, ssl_check, app_rate_limited).
    if (!publisher.published.empty()) require(took, "200 for an event the broker did not take");
  }
  if (path == tracker::ingest::kEventsPath && status != 200) {
    require(!took, "an event the broker took was not answered 200");
  }
  return 0;
}
