#include <tracker/app/lifecycle.hpp>

#include <tracker/async/retry.hpp>
#include <tracker/metrics/declare.hpp>
#include <tracker/pg/error.hpp>

namespace tracker::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

bool is_lifecycle_type(std::string_view event_type) {
  return event_type == "app_uninstalled" || event_type == "tokens_revoked";
}

std::optional<LifecycleEvent> read_lifecycle(const messages::Envelope& envelope) {
  const auto& payload = envelope.payload;
  auto event = payload.find("event");
  if (event == payload.end() || !event->is_object()) return std::nullopt;
  const std::string type = event->value("type", "");
  if (!is_lifecycle_type(type)) return std::nullopt;
  if (type == "tokens_revoked") {
    // {"tokens": {"oauth": [user ids], "bot": [bot user ids]}}: only a bot token matters here.
    auto tokens = event->find("tokens");
    if (tokens == event->end() || !tokens->is_object()) return std::nullopt;
    auto bot = tokens->find("bot");
    if (bot == tokens->end() || !bot->is_array() || bot->empty()) return std::nullopt;
  }
  LifecycleEvent out{envelope.team_id, type, std::chrono::system_clock::now()};
  if (auto time = payload.find("event_time"); time != payload.end() && time->is_number()) {
    out.at = std::chrono::system_clock::time_point{std::chrono::seconds{time->get<std::int64_t>()}};
  } else if (envelope.received_at) {
    out.at = *envelope.received_at;
  }
  return out;
}

Lifecycle::Lifecycle(kafka::Consumer& consumer, workspaces::WorkspaceStore& store,
                     async::GracefulStop& stop, std::chrono::seconds retention,
                     prometheus::Registry& registry, log::Logger& logger)
    : consumer_(consumer),
      store_(store),
      stop_(stop),
      retention_(retention),
      logger_(logger),
      events_(metrics::counters(registry, "tracker_app_lifecycle_events_total",
                                "Workspace lifecycle events by reason (app_uninstalled, "
                                "tokens_revoked) and outcome (revoked, unchanged).")) {}

asio::awaitable<bool> Lifecycle::apply(const LifecycleEvent& event) {
  // Waited out for as long as the database is away: the event is not acknowledged before it
  // is applied; bounded by the stop's grace (abandoned then, left for the next owner).
  const async::RetryPolicy policy{.initial = 100ms,
                                  .max_delay = 5s,
                                  .max_attempts = async::kUnlimitedAttempts,
                                  .max_elapsed = async::kUnlimitedTime};
  const async::RetryHooks<pg::Error> hooks{
      .failed =
          [&](const pg::Error& error, int attempt, std::chrono::milliseconds retry_in) {
            if (attempt == 1 || attempt % 20 == 0) {
              logger_.warn("database_unavailable", {{"step", "revoke"},
                                                    {"error", error.describe()},
                                                    {"retry_in_ms", retry_in.count()}});
            }
          },
      .outage_began = [&](const pg::Error&) { consumer_.pause(); },
      .outage_ended = [&] { consumer_.resume(); }};
  const auto write = [&] {
    return store_.revoke(event.team_id, event.reason, event.at, retention_);
  };
  const auto retryable = [](const pg::Error& error) {
    return pg::classify(error) != pg::Disposition::data;
  };
  auto revoked = co_await async::retry(stop_, policy, hooks, write, retryable);
  if (!revoked) {
    if (revoked.error().outcome != async::Outcome::refused) co_return false;
    logger_.error("revoke_refused",
                  {{"team_id", event.team_id}, {"error", revoked.error().error.describe()}});
    co_return true;  // this event can never be applied: skipped
  }
  events_.Add({{"reason", event.reason}, {"outcome", *revoked ? "revoked" : "unchanged"}})
      .Increment();
  logger_.log(*revoked ? log::Level::warn : log::Level::info,
              *revoked ? "workspace_revoked" : "workspace_revocation_ignored",
              {{"team_id", event.team_id},
               {"reason", event.reason},
               {"data_deleted_in_s", retention_.count()}});
  co_return true;
}

asio::awaitable<bool> Lifecycle::handle(const kafka::Message& record) {
  const auto type = record.header("event_type");
  if (type && !is_lifecycle_type(*type)) co_return true;
  // A record without the header (written before ingest set it) is read to find out.
  auto envelope = messages::decode_envelope(record.value());
  if (!envelope) co_return true;  // the worker dead-letters what does not decode
  const auto event = read_lifecycle(*envelope);
  if (!event) co_return true;
  co_return co_await apply(*event);
}

}  // namespace tracker::app
