#pragma once
// POST /slack/events: verify Slack's signature on the raw body, then answer
//   url_verification -> 200 {"challenge": ...}
//   ssl_check=1      -> 200, empty
//   app_rate_limited -> 200, counted and logged (Slack is dropping our events)
//   event_callback   -> 200 only once Kafka acknowledged the envelope (acks=all); 503 when it
//                       cannot yet (queue full, broker down or unreachable, deadline, a topic
//                       or permission missing), so Slack retries; 413 + x-slack-no-retry when
//                       the envelope is larger than a record may be, and 500 + x-slack-no-retry
//                       when Kafka finds the record invalid, so that Slack does not retry what
//                       can never be stored.
//                       Never 200 for an event that is not durable.
// Errors: 401 bad signature (nothing published), 415 content type, 400 + x-slack-no-retry for a
// signed but unusable body, 404 path, 405 method. Error bodies are small JSON.
//
// POST /slack/commands: the /study slash command, form-encoded and signed like events (the same
// 401, 415 and 400). Answered at once with an ephemeral message, from what needs no database:
// help and every mistake in the command's text (slack/study_command.hpp) are answered here;
// anything else is published to slack-commands (acks=all) and acknowledged ("working on it"),
// and the app answers through the command's response_url. A command that cannot be published
// now is answered with an ephemeral "try again" (Slack does not retry slash commands).
#include <chrono>
#include <optional>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>

#include <tracker/http/responses.hpp>
#include <tracker/kafka/limits.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/command.hpp>
#include <tracker/messages/topics.hpp>
#include <tracker/slack/request.hpp>
#include <tracker/slack/signature.hpp>

#include <tracker/ingest/publisher.hpp>

namespace tracker::ingest {

inline constexpr std::string_view kEventsPath = "/slack/events";
inline constexpr std::string_view kCommandsPath = "/slack/commands";
// The App Home's buttons (block_actions), published to slack-commands as the /study command each
// stands for; answered 200 with no body once the broker has it.
inline constexpr std::string_view kInteractivityPath = "/slack/interactivity";

class IngestHandler {
 public:
  // `max_record_bytes`: the largest record the topic takes (kafka::kMaxRecordBytes).
  IngestHandler(slack::SignatureVerifier verifier, EventPublisher& publisher, std::string topic,
                prometheus::Registry& registry, log::Logger& logger, slack::WallClock clock = {},
                std::size_t max_record_bytes = kafka::kMaxRecordBytes,
                std::string command_topic = std::string(messages::topics::kSlackCommands));

  boost::asio::awaitable<http::Response> handle(http::Request& request);

  // The route label for request metrics: the events path, or "other".
  static std::string route_label(std::string_view target);

 private:
  boost::asio::awaitable<http::Response> publish(const slack::EventCallback& event,
                                                 const http::Request& request);
  boost::asio::awaitable<http::Response> command(const http::Request& request);
  boost::asio::awaitable<http::Response> interaction(const http::Request& request);
  // The rules /slack/commands and /slack/interactivity share: POST (405), form-encoded (415),
  // signed (401).
  std::optional<http::Response> refuse_form(const http::Request& request);
  boost::asio::awaitable<PublishOutcome> publish_command(const messages::CommandRecord& record);
  // 401 for a request whose v0 signature does not verify (counted and logged), else nothing.
  std::optional<http::Response> refuse_unsigned(const http::Request& request);

  slack::SignatureVerifier verifier_;
  EventPublisher& publisher_;
  std::string topic_;
  std::size_t max_record_bytes_;
  std::string command_topic_;
  log::Logger& logger_;
  slack::WallClock clock_;

  prometheus::Family<prometheus::Counter>& signature_failures_;
  prometheus::Family<prometheus::Counter>& publish_results_;
  prometheus::Counter& published_;  // publish_results_{outcome="published"}, the usual one
  prometheus::Family<prometheus::Counter>& retries_seen_;
  prometheus::Counter& app_rate_limited_;
  prometheus::Histogram& publish_seconds_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Counter>& interactions_;
};

}  // namespace tracker::ingest
