#include <tracker/ingest/ingest_handler.hpp>

#include <charconv>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

#include <tracker/messages/command.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/metrics/declare.hpp>
#include <tracker/slack/request.hpp>
#include <tracker/slack/study_command.hpp>

namespace tracker::ingest {

namespace bh = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

std::string_view header(const http::Request& request, std::string_view name) {
  auto it = request.find(name);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}

// The retries metric's label: one of the reasons Slack documents for X-Slack-Retry-Reason,
// "unknown" when the header is missing or empty, and "other" for anything else. The header is not
// covered by the signature: its text must not become a label of its own (one time series each).
std::string_view retry_reason_label(std::string_view reason) {
  static constexpr std::string_view kDocumented[] = {"http_timeout",      "too_many_redirects",
                                                     "connection_failed", "ssl_error",
                                                     "http_error",        "unknown_error"};
  return metrics::known_or_other(reason, kDocumented, "unknown");
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

// The media type without parameters, lower-cased: "application/json; charset=utf-8" -> ...
std::string media_type(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

http::Response ephemeral(std::string_view text, unsigned version) {
  return http::json_response(bh::status::ok,
                             nlohmann::json{{"response_type", "ephemeral"}, {"text", text}}.dump(
                                 -1, ' ', false, nlohmann::json::error_handler_t::replace),
                             version);
}

http::Response no_retry(http::Response response) {
  response.set("x-slack-no-retry", "1");
  return response;
}

}  // namespace

IngestHandler::IngestHandler(slack::SignatureVerifier verifier, EventPublisher& publisher,
                             std::string topic, prometheus::Registry& registry, log::Logger& logger,
                             slack::WallClock clock, std::size_t max_record_bytes,
                             std::string command_topic)
    : verifier_(std::move(verifier)),
      publisher_(publisher),
      topic_(std::move(topic)),
      max_record_bytes_(max_record_bytes),
      command_topic_(std::move(command_topic)),
      logger_(logger),
      clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }),
      signature_failures_(metrics::counters(registry, "tracker_ingest_signature_failures_total",
                                            "Requests refused with 401, by what was wrong.")),
      publish_results_(
          metrics::counters(registry, "tracker_ingest_publish_total",
                            "Events offered to Kafka, by outcome (published, queue_full, "
                            "broker_down, timed_out, broker_unreachable, rejected, "
                            "too_large, invalid).")),
      published_(publish_results_.Add({{"outcome", "published"}})),
      retries_seen_(
          metrics::counters(registry, "tracker_ingest_slack_retries_total",
                            "Event deliveries Slack marked as retries, by x-slack-retry-reason "
                            "(a documented reason, unknown when absent, or other).")),
      app_rate_limited_(
          metrics::counter(registry, "tracker_ingest_app_rate_limited_total",
                           "app_rate_limited notices: Slack is dropping events for us.")),
      publish_seconds_(metrics::histogram(
          registry, "tracker_ingest_publish_duration_seconds",
          "Time from handing an event to Kafka to the broker's answer.",
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0})),
      commands_(metrics::counters(registry, "tracker_ingest_commands_total",
                                  "Slash commands by outcome (help, refused: a mistake answered "
                                  "at once, published, not_published).")),
      interactions_(metrics::counters(registry, "tracker_ingest_interactions_total",
                                      "App Home button presses by outcome (published, refused, "
                                      "not_published).")) {}

std::optional<http::Response> IngestHandler::refuse_unsigned(const http::Request& request) {
  const auto check = verifier_.verify(header(request, "x-slack-request-timestamp"),
                                      header(request, "x-slack-signature"), request.body());
  if (check == slack::SignatureCheck::ok) return std::nullopt;
  signature_failures_.Add({{"reason", std::string(slack::to_string(check))}}).Increment();
  logger_.warn("signature_rejected",
               {{"reason", slack::to_string(check)}, {"path", path_of(request.target())}});
  return http::error_response(bh::status::unauthorized, "invalid_signature",
                              std::string(slack::to_string(check)), request.version());
}

std::string IngestHandler::route_label(std::string_view target) {
  const auto path = path_of(target);
  if (path == kEventsPath || path == kCommandsPath || path == kInteractivityPath) {
    return std::string(path);
  }
  return "other";
}

boost::asio::awaitable<http::Response> IngestHandler::handle(http::Request& request) {
  const unsigned version = request.version();
  if (path_of(request.target()) == kCommandsPath) co_return co_await command(request);
  if (path_of(request.target()) == kInteractivityPath) co_return co_await interaction(request);
  if (path_of(request.target()) != kEventsPath) {
    co_return http::error_response(bh::status::not_found, "not_found",
                                   "no such path; Slack events go to /slack/events, slash "
                                   "commands to /slack/commands, interactions to "
                                   "/slack/interactivity",
                                   version);
  }
  if (request.method() != bh::verb::post) {
    co_return http::method_not_allowed("POST", version);
  }
  const std::string type = media_type(header(request, "content-type"));
  slack::BodyFormat format = slack::BodyFormat::json;
  if (type == "application/x-www-form-urlencoded") {
    format = slack::BodyFormat::form;
  } else if (type != "application/json") {
    co_return http::error_response(bh::status::unsupported_media_type, "unsupported_media_type",
                                   "expected application/json", version);
  }

  // The signature covers the raw body: check it before parsing anything.
  if (auto refused = refuse_unsigned(request)) co_return std::move(*refused);

  const auto classified = slack::classify(request.body(), format);
  if (const auto* event = std::get_if<slack::EventCallback>(&classified)) {
    co_return co_await publish(*event, request);
  }
  if (const auto* verification = std::get_if<slack::UrlVerification>(&classified)) {
    co_return http::json_response(
        bh::status::ok, nlohmann::json{{"challenge", verification->challenge}}.dump(), version);
  }
  if (std::holds_alternative<slack::SslCheck>(classified)) {
    co_return http::empty_response(bh::status::ok, version);
  }
  if (const auto* limited = std::get_if<slack::AppRateLimited>(&classified)) {
    app_rate_limited_.Increment();
    logger_.warn("slack_app_rate_limited", {{"team_id", limited->team_id},
                                            {"minute_rate_limited", limited->minute_rate_limited}});
    co_return http::empty_response(bh::status::ok, version);
  }
  const auto& malformed = std::get<slack::Malformed>(classified);
  logger_.warn("signed_request_malformed", {{"reason", malformed.reason}});
  co_return no_retry(
      http::error_response(bh::status::bad_request, "bad_request", malformed.reason, version));
}

boost::asio::awaitable<http::Response> IngestHandler::publish(const slack::EventCallback& event,
                                                              const http::Request& request) {
  const unsigned version = request.version();
  messages::Delivery delivery{.received_at = clock_()};
  if (const auto retry = header(request, "x-slack-retry-num"); !retry.empty()) {
    int number = 0;
    const auto parsed = std::from_chars(retry.data(), retry.data() + retry.size(), number);
    if (parsed.ec != std::errc{} || parsed.ptr != retry.data() + retry.size() || number < 0) {
      co_return no_retry(http::error_response(bh::status::bad_request, "bad_request",
                                              "x-slack-retry-num is not a number", version));
    }
    delivery.retry_num = number;
    delivery.retry_reason = std::string(header(request, "x-slack-retry-reason"));
    retries_seen_.Add({{"reason", std::string(retry_reason_label(*delivery.retry_reason))}})
        .Increment();
  }

  kafka::OutgoingMessage message{.topic = topic_,
                                 .key = messages::partition_key(event),
                                 .value = messages::make_envelope(event, request.body(), delivery)};
  message.headers.push_back({"schema", std::string(messages::kEnvelopeSchema)});
  // Lets a reader that wants a few event types (the app's lifecycle events) skip the rest
  // without parsing them.
  message.headers.push_back({"event_type", event.event_type});
  if (const std::size_t size = kafka::record_size(message); size > max_record_bytes_) {
    // No retry can store it: say so before the producer is asked, and tell Slack not to retry.
    publish_results_.Add({{"outcome", std::string(to_string(PublishOutcome::too_large))}})
        .Increment();
    logger_.warn("event_too_large", {{"event_id", event.event_id},
                                     {"record_bytes", size},
                                     {"max_record_bytes", max_record_bytes_}});
    co_return no_retry(http::error_response(
        bh::status::payload_too_large, "event_too_large",
        "the event's record would be " + std::to_string(size) + " bytes; at most " +
            std::to_string(max_record_bytes_) + " can be stored",
        version));
  }
  const auto started = Clock::now();
  const PublishOutcome outcome = co_await publisher_.publish(std::move(message));
  publish_seconds_.Observe(std::chrono::duration<double>(Clock::now() - started).count());
  if (outcome == PublishOutcome::published) {
    published_.Increment();
    co_return http::empty_response(bh::status::ok, version);
  }
  publish_results_.Add({{"outcome", std::string(to_string(outcome))}}).Increment();
  const bool permanent = outcome == PublishOutcome::too_large ||
                         outcome == PublishOutcome::invalid || outcome == PublishOutcome::rejected;
  logger_.log(permanent ? log::Level::error : log::Level::warn, "event_not_published",
              {{"outcome", to_string(outcome)},
               {"event_id", event.event_id},
               {"retry_num", delivery.retry_num}});
  if (outcome == PublishOutcome::too_large) {
    co_return no_retry(http::error_response(bh::status::payload_too_large, "event_too_large",
                                            "the broker refuses a record this large", version));
  }
  if (outcome == PublishOutcome::invalid) {
    // The broker finds the record itself invalid: a retry would fail the same way.
    co_return no_retry(http::error_response(bh::status::internal_server_error, "not_storable",
                                            "Kafka refuses this event's record as invalid",
                                            version));
  }
  // No x-slack-no-retry: Slack's retry is how this event still gets in.
  auto response = http::error_response(
      bh::status::service_unavailable, "not_durable",
      "event not stored (" + std::string(to_string(outcome)) + "); retry later", version);
  response.set(bh::field::retry_after, "1");
  co_return response;
}

std::optional<http::Response> IngestHandler::refuse_form(const http::Request& request) {
  const unsigned version = request.version();
  if (request.method() != bh::verb::post) return http::method_not_allowed("POST", version);
  if (media_type(header(request, "content-type")) != "application/x-www-form-urlencoded") {
    return http::error_response(bh::status::unsupported_media_type, "unsupported_media_type",
                                "expected application/x-www-form-urlencoded", version);
  }
  return refuse_unsigned(request);
}

boost::asio::awaitable<PublishOutcome> IngestHandler::publish_command(
    const messages::CommandRecord& record) {
  kafka::OutgoingMessage message{.topic = command_topic_,
                                 .key = messages::command_key(record),
                                 .value = messages::encode_command(record)};
  message.headers.push_back({"schema", std::string(messages::kCommandSchema)});
  co_return co_await publisher_.publish(std::move(message));
}

boost::asio::awaitable<http::Response> IngestHandler::interaction(const http::Request& request) {
  const unsigned version = request.version();
  if (auto refused = refuse_form(request)) co_return std::move(*refused);
  const auto read = slack::read_block_action(request.body());
  if (const auto* malformed = std::get_if<slack::Malformed>(&read)) {
    interactions_.Add({{"outcome", "refused"}}).Increment();
    logger_.warn("signed_request_malformed",
                 {{"reason", malformed->reason}, {"path", kInteractivityPath}});
    co_return http::error_response(bh::status::bad_request, "bad_request", malformed->reason,
                                   version);
  }
  const auto& action = std::get<slack::BlockAction>(read);
  const messages::CommandRecord record{.team_id = action.team_id,
                                       .user_id = action.user_id,
                                       .command = "/study",
                                       .text = action.text,
                                       .received_at = clock_(),
                                       .origin = std::string(messages::kOriginAppHome)};
  const PublishOutcome outcome = co_await publish_command(record);
  if (outcome != PublishOutcome::published) {
    interactions_.Add({{"outcome", "not_published"}}).Increment();
    logger_.warn("interaction_not_published", {{"outcome", to_string(outcome)},
                                               {"team_id", action.team_id},
                                               {"action_id", action.action_id}});
    // Slack does not send an interaction again; the person sees the button fail and may press
    // it again.
    co_return http::error_response(bh::status::service_unavailable, "not_durable",
                                   "the press was not stored; press again", version);
  }
  interactions_.Add({{"outcome", "published"}}).Increment();
  http::Response accepted{bh::status::ok, version};
  accepted.prepare_payload();
  co_return accepted;
}

boost::asio::awaitable<http::Response> IngestHandler::command(const http::Request& request) {
  const unsigned version = request.version();
  if (auto refused = refuse_form(request)) co_return std::move(*refused);
  const auto read = slack::read_slash_command(request.body());
  if (const auto* malformed = std::get_if<slack::Malformed>(&read)) {
    logger_.warn("signed_request_malformed",
                 {{"reason", malformed->reason}, {"path", kCommandsPath}});
    co_return http::error_response(bh::status::bad_request, "bad_request", malformed->reason,
                                   version);
  }
  const auto& slash = std::get<slack::SlashCommand>(read);
  const auto parsed = slack::parse_study_command(slash.text);
  if (!parsed) {
    commands_.Add({{"outcome", "refused"}}).Increment();
    co_return ephemeral(parsed.error().message, version);
  }
  if (parsed->kind == slack::StudyCommand::Kind::help) {
    commands_.Add({{"outcome", "help"}}).Increment();
    co_return ephemeral(slack::study_help(parsed->language), version);
  }
  const bool korean = parsed->language == slack::Language::ko;
  const messages::CommandRecord record{.team_id = slash.team_id,
                                       .user_id = slash.user_id,
                                       .channel_id = slash.channel_id,
                                       .command = slash.command,
                                       .text = slash.text,
                                       .response_url = slash.response_url,
                                       .received_at = clock_()};
  const PublishOutcome outcome = co_await publish_command(record);
  if (outcome != PublishOutcome::published) {
    commands_.Add({{"outcome", "not_published"}}).Increment();
    logger_.warn("command_not_published", {{"outcome", to_string(outcome)},
                                           {"team_id", slash.team_id},
                                           {"subcommand", slack::to_string(parsed->kind)}});
    co_return ephemeral(korean ? "지금은 명령을 받을 수 없습니다. 잠시 뒤에 다시 해 주세요."
                               : "The tracker cannot take commands right now; try again in a "
                                 "minute.",
                        version);
  }
  commands_.Add({{"outcome", "published"}}).Increment();
  co_return ephemeral(korean ? "확인하고 있습니다…" : "Working on it…", version);
}

}  // namespace tracker::ingest
