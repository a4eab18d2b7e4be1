#pragma once
// Each person's time zone as Slack knows it, unless they chose one with /study settings tz:
//   - the first time a person appears (a message event from someone whose zone is still the
//     default), users.info is asked with the workspace's token; its `tz` is kept;
//   - a user_change event carries the person's profile: a changed `tz` is kept at once.
// Their Slack locale (users.info with include_locale, or a user_change that has one) is kept as
// well: the App Home's language.
// Lookups are remembered for the process's life (a person is asked about once) and paced per
// workspace below Slack's Tier 4 limit for users.info (TRACKER_SLACK_USERS_INFO_PER_MINUTE,
// 90), never by waiting: a person met while the pace is spent, or while a 429's Retry-After
// closes the workspace's lookups, is asked at a later message. A person whose lookup fails is
// asked again at their next message, at most 3 times.
#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/async/token_bucket.hpp>
#include <tracker/config/secret.hpp>
#include <tracker/kafka/message.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/slack/web_api.hpp>
#include <tracker/workspaces/workspace_store.hpp>

#include <tracker/app/study_store.hpp>

namespace tracker::app {

struct TimeZoneOptions {
  double lookups_per_minute = 90;
  int max_attempts = 3;
  std::size_t remembered = 100'000;  // people remembered as settled, then forgotten all at once
};

class TimeZones {
 public:
  TimeZones(StudyStore& study, workspaces::WorkspaceStore& workspaces, slack::WebApi& slack,
            config::Secret fallback_token, async::GracefulStop& stop, TimeZoneOptions options,
            prometheus::Registry& registry, log::Logger& logger);

  // A slack-events record of type `event_type` (message, user_change): learns what it says.
  // False when the stop was abandoned first.
  boost::asio::awaitable<bool> handle(const kafka::Message& record, std::string_view event_type);

 private:
  boost::asio::awaitable<bool> first_appearance(const std::string& team_id,
                                                const std::string& user_id);
  boost::asio::awaitable<void> remember_locale(const std::string& team_id,
                                               const std::string& user_id,
                                               const std::string& locale);
  boost::asio::awaitable<bool> learn(const std::string& team_id, const std::string& user_id,
                                     const std::string& zone, const char* from);

  StudyStore& study_;
  workspaces::WorkspaceStore& workspaces_;
  slack::WebApi& slack_;
  config::Secret fallback_token_;
  async::GracefulStop& stop_;
  TimeZoneOptions options_;
  log::Logger& logger_;
  prometheus::Family<prometheus::Counter>& lookups_;
  prometheus::Family<prometheus::Counter>& learned_;
  std::unordered_set<std::string> settled_;                     // team:user
  std::unordered_map<std::string, int> attempts_;               // team:user -> failed lookups
  std::unordered_map<std::string, async::TokenBucket> pacing_;  // per workspace
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> closed_until_;
};

}  // namespace tracker::app
