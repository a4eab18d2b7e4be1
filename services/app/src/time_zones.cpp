#include <tracker/app/time_zones.hpp>

#include <tracker/messages/envelope.hpp>
#include <tracker/metrics/declare.hpp>

namespace tracker::app {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

TimeZones::TimeZones(StudyStore& study, workspaces::WorkspaceStore& workspaces,
                     slack::WebApi& slack, config::Secret fallback_token, async::GracefulStop& stop,
                     TimeZoneOptions options, prometheus::Registry& registry, log::Logger& logger)
    : study_(study),
      workspaces_(workspaces),
      slack_(slack),
      fallback_token_(std::move(fallback_token)),
      stop_(stop),
      options_(options),
      logger_(logger),
      lookups_(metrics::counters(registry, "tracker_app_users_info_total",
                                 "users.info lookups by outcome (ok, no_tz, rate_limited, "
                                 "failed, no_token, deferred: the workspace's pace spent).")),
      learned_(metrics::counters(registry, "tracker_app_time_zones_learned_total",
                                 "Time zones taken from Slack, by source (users_info, "
                                 "user_change).")) {}

asio::awaitable<bool> TimeZones::handle(const kafka::Message& record, std::string_view event_type) {
  if (event_type == "user_change") {
    auto envelope = messages::decode_envelope(record.value());
    if (!envelope) co_return true;
    const auto event = envelope->payload.find("event");
    if (event == envelope->payload.end() || !event->is_object()) co_return true;
    const auto user = event->find("user");
    if (user == event->end() || !user->is_object()) co_return true;
    const std::string id = user->value("id", "");
    if (const auto locale = user->find("locale");
        !id.empty() && locale != user->end() && locale->is_string() && !locale->empty()) {
      co_await remember_locale(envelope->team_id, id, locale->get<std::string>());
    }
    const auto tz = user->find("tz");
    if (id.empty() || tz == user->end() || !tz->is_string() || tz->get<std::string>().empty()) {
      co_return true;
    }
    co_return co_await learn(envelope->team_id, id, tz->get<std::string>(), "user_change");
  }
  // A message: the key is team_id:user_id, so a person already settled costs no parsing.
  const std::string key(record.key());
  if (settled_.contains(key)) co_return true;
  const auto colon = key.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == key.size()) co_return true;
  co_return co_await first_appearance(key.substr(0, colon), key.substr(colon + 1));
}

asio::awaitable<bool> TimeZones::first_appearance(const std::string& team_id,
                                                  const std::string& user_id) {
  const std::string key = team_id + ":" + user_id;
  const auto settle = [&] {
    if (settled_.size() >= options_.remembered) settled_.clear();
    settled_.insert(key);
    attempts_.erase(key);
  };
  auto source = co_await study_.time_zone_source(team_id, user_id);
  if (!source) co_return true;  // the database away: asked again at the next message
  if (*source == "slack" || *source == "user") {
    settle();
    co_return true;
  }
  // The workspace's token (or the one-workspace token).
  config::Secret token = co_await workspaces_.token_or(team_id, fallback_token_);
  if (token.empty()) {
    lookups_.Add({{"outcome", "no_token"}}).Increment();
    settle();
    co_return true;
  }
  // A workspace whose lookups Slack closed (429): asked again at the person's next message.
  if (auto closed = closed_until_.find(team_id);
      closed != closed_until_.end() && Clock::now() < closed->second) {
    co_return true;
  }
  // Paced per workspace: wait for the bucket (a stop cuts the wait short).
  auto bucket = pacing_.find(team_id);
  if (bucket == pacing_.end()) {
    bucket =
        pacing_
            .emplace(team_id, async::TokenBucket(options_.lookups_per_minute / 60.0,
                                                 std::max(1.0, options_.lookups_per_minute / 10),
                                                 Clock::now()))
            .first;
  }
  // Never waited for: a backlog of first messages must not hold the consumer (an uninstall
  // behind it); a person met while the workspace's lookups are spent is asked at a later one.
  if (bucket->second.wait(Clock::now()) > Clock::duration::zero()) {
    lookups_.Add({{"outcome", "deferred"}}).Increment();
    co_return true;
  }
  bucket->second.take(Clock::now());
  auto info = co_await slack_.users_info(user_id, token);
  if (!info) {
    const auto& failure = info.error();
    if (failure.error == "ratelimited") {
      lookups_.Add({{"outcome", "rate_limited"}}).Increment();
      closed_until_[team_id] =
          Clock::now() + failure.retry_after.value_or(std::chrono::seconds{30});
      co_return true;  // asked again at the person's next message
    }
    lookups_.Add({{"outcome", "failed"}}).Increment();
    logger_.warn("users_info_failed",
                 {{"team_id", team_id}, {"user_id", user_id}, {"error", failure.error}});
    if (!failure.retryable || ++attempts_[key] >= options_.max_attempts) settle();
    co_return true;
  }
  if (!info->locale.empty()) co_await remember_locale(team_id, user_id, info->locale);
  if (info->tz.empty()) {
    lookups_.Add({{"outcome", "no_tz"}}).Increment();
    settle();
    co_return true;
  }
  lookups_.Add({{"outcome", "ok"}}).Increment();
  const bool learned = co_await learn(team_id, user_id, info->tz, "users_info");
  if (learned) settle();
  co_return true;
}

asio::awaitable<void> TimeZones::remember_locale(const std::string& team_id,
                                                 const std::string& user_id,
                                                 const std::string& locale) {
  if (auto saved = co_await study_.learn_locale(team_id, user_id, locale.substr(0, 35)); !saved) {
    logger_.warn("database_unavailable",
                 {{"step", "learn_locale"}, {"error", saved.error().describe()}});
  }
}

asio::awaitable<bool> TimeZones::learn(const std::string& team_id, const std::string& user_id,
                                       const std::string& zone, const char* from) {
  auto changed = co_await study_.learn_time_zone(team_id, user_id, zone);
  if (!changed) {
    logger_.warn("database_unavailable",
                 {{"step", "learn_time_zone"}, {"error", changed.error().describe()}});
    co_return true;  // Slack will say it again: a user_change, or the next first message
  }
  if (*changed) {
    learned_.Add({{"source", from}}).Increment();
    logger_.info("time_zone_learned",
                 {{"team_id", team_id}, {"user_id", user_id}, {"time_zone", zone}, {"from", from}});
  }
  settled_.insert(team_id + ":" + user_id);
  co_return true;
}

}  // namespace tracker::app
