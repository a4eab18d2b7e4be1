#pragma once
// The App Home tab: on app_home_opened (tab "home"), views.publish of the person's week (the
// /study week chart), their topics, their streak (consecutive days with a log, up to today or
// yesterday), their settings, and their latest feedback. Published with the workspace's token,
// at most once per person per TRACKER_APP_HOME_MIN_INTERVAL (Slack sends app_home_opened each
// time the tab is opened). Its button pauses or resumes the daily feedback (ingest's
// /slack/interactivity turns the press into a /study pause or resume on slack-commands).
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/kafka/message.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/slack/web_api.hpp>
#include <tracker/workspaces/workspace_store.hpp>

#include <tracker/app/study_store.hpp>

namespace tracker::app {

struct HomeContent {
  Person person;
  std::vector<StudyDay> week;  // the last 7 days, today last
  int streak = 0;
  std::string latest_feedback;      // empty: none yet
  std::string latest_feedback_day;  // YYYY-MM-DD
};

// The Block Kit view ({"type": "home", "blocks": [...]}) for `content`, in English and Korean.
nlohmann::json home_view(const HomeContent& content);
// Consecutive days with at least one log, ending today, or yesterday when today has none yet;
// `days` is oldest first.
int streak_of(const std::vector<StudyDay>& days);

class AppHome {
 public:
  AppHome(StudyStore& study, workspaces::WorkspaceStore& workspaces, slack::WebApi& slack,
          config::Secret fallback_token, std::chrono::milliseconds min_interval,
          prometheus::Registry& registry, log::Logger& logger);

  // An app_home_opened record: publishes the person's home (never throws; failures are logged).
  boost::asio::awaitable<void> handle(const kafka::Message& record);
  // Publishes the person's home now, whenever it was last published (after a button of it
  // changed a setting).
  boost::asio::awaitable<void> publish(const std::string& team_id, const std::string& user_id);

 private:
  StudyStore& study_;
  workspaces::WorkspaceStore& workspaces_;
  slack::WebApi& slack_;
  config::Secret fallback_token_;
  std::chrono::milliseconds min_interval_;
  log::Logger& logger_;
  prometheus::Family<prometheus::Counter>& published_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_;  // team:user
};

}  // namespace tracker::app
