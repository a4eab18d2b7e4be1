#include <tracker/app/home.hpp>

#include <tracker/app/commands.hpp>
#include <tracker/messages/envelope.hpp>
#include <tracker/metrics/declare.hpp>
#include <tracker/slack/request.hpp>

namespace tracker::app {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

json section(const std::string& text) {
  return {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}};
}

json header(const std::string& text) {
  return {{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", text}}}};
}

// Slack's limit for a section's text.
std::string clip(std::string text, std::size_t most = 2'900) {
  if (text.size() <= most) return text;
  std::size_t cut = most;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "…";
}

}  // namespace

int streak_of(const std::vector<StudyDay>& days) {
  int streak = 0;
  auto it = days.rbegin();
  if (it != days.rend() && it->logs == 0) ++it;  // today may still come
  for (; it != days.rend() && it->logs > 0; ++it) ++streak;
  return streak;
}

json home_view(const HomeContent& content) {
  // The language of the App Home is the person's Slack locale (ko-KR: Korean); until Slack has
  // said, their time zone stands in for it (Asia/Seoul: Korean).
  const bool ko = content.person.locale.empty() ? content.person.time_zone == "Asia/Seoul"
                                                : content.person.locale.starts_with("ko");
  const auto language = ko ? slack::Language::ko : slack::Language::en;
  json blocks = json::array();
  blocks.push_back(header(ko ? "공부 기록" : "Your study"));
  blocks.push_back(section(render_week(language, content.person, content.week)));
  std::vector<std::string> topics;
  for (const auto& day : content.week) {
    for (const auto& topic : day.topics) {
      if (std::find(topics.begin(), topics.end(), topic) == topics.end()) topics.push_back(topic);
    }
  }
  std::string topic_text;
  for (const auto& topic : topics) topic_text += (topic_text.empty() ? "" : ", ") + topic;
  blocks.push_back(
      section(ko ? "*주제*: " + (topic_text.empty() ? std::string("아직 없음") : topic_text) +
                       "\n*연속 기록*: " + std::to_string(content.streak) + "일"
                 : "*Topics*: " + (topic_text.empty() ? std::string("none yet") : topic_text) +
                       "\n*Streak*: " + std::to_string(content.streak) +
                       (content.streak == 1 ? " day" : " days")));
  blocks.push_back({{"type", "divider"}});
  blocks.push_back(section(render_settings(language, content.person)));
  // The one setting a button changes (the others take a value: /study settings ...).
  const bool paused = content.person.paused;
  blocks.push_back(
      {{"type", "actions"},
       {"elements",
        json::array({{{"type", "button"},
                      {"action_id", paused ? slack::kResumeAction : slack::kPauseAction},
                      {"text",
                       {{"type", "plain_text"},
                        {"text", paused ? (ko ? "피드백 다시 받기" : "Resume feedback")
                                        : (ko ? "피드백 멈추기" : "Pause feedback")}}}}})}});
  blocks.push_back({{"type", "divider"}});
  if (content.latest_feedback.empty()) {
    blocks.push_back(section(ko ? "*최근 피드백*: 아직 없습니다. 공부한 내용을 채널에 올려 보세요."
                                : "*Latest feedback*: none yet. Post what you studied in the "
                                  "study channel."));
  } else {
    blocks.push_back(section(clip((ko ? "*최근 피드백* (" : "*Latest feedback* (") +
                                  content.latest_feedback_day + ")\n" + content.latest_feedback)));
  }
  blocks.push_back(
      {{"type", "context"},
       {"elements", json::array({{{"type", "mrkdwn"},
                                  {"text", ko ? "`/study 도움말`: 명령 안내"
                                              : "`/study help`: what you can ask"}}})}});
  return {{"type", "home"}, {"blocks", blocks}};
}

AppHome::AppHome(StudyStore& study, workspaces::WorkspaceStore& workspaces, slack::WebApi& slack,
                 config::Secret fallback_token, std::chrono::milliseconds min_interval,
                 prometheus::Registry& registry, log::Logger& logger)
    : study_(study),
      workspaces_(workspaces),
      slack_(slack),
      fallback_token_(std::move(fallback_token)),
      min_interval_(min_interval),
      logger_(logger),
      published_(metrics::counters(registry, "tracker_app_home_published_total",
                                   "App Home views by outcome (published, recent, failed, "
                                   "no_token).")) {}

asio::awaitable<void> AppHome::handle(const kafka::Message& record) {
  auto envelope = messages::decode_envelope(record.value());
  if (!envelope) co_return;
  const auto event = envelope->payload.find("event");
  if (event == envelope->payload.end() || !event->is_object()) co_return;
  if (event->value("tab", "home") != "home") co_return;
  const std::string user_id = event->value("user", "");
  if (user_id.empty()) co_return;
  const std::string team_id = envelope->team_id;
  const std::string key = team_id + ":" + user_id;
  const auto now = Clock::now();
  if (auto last = last_.find(key); last != last_.end() && now - last->second < min_interval_) {
    published_.Add({{"outcome", "recent"}}).Increment();
    co_return;
  }
  // A replay of last week's events is not a person opening the tab now.
  if (record.timestamp() &&
      std::chrono::system_clock::now() - *record.timestamp() > std::chrono::minutes{10}) {
    co_return;
  }
  co_await publish(team_id, user_id);
}

asio::awaitable<void> AppHome::publish(const std::string& team_id, const std::string& user_id) {
  const std::string key = team_id + ":" + user_id;
  config::Secret token = co_await workspaces_.token_or(team_id, fallback_token_);
  if (token.empty()) {
    published_.Add({{"outcome", "no_token"}}).Increment();
    co_return;
  }
  HomeContent content;
  auto who = co_await study_.person(team_id, user_id);
  if (!who) {
    published_.Add({{"outcome", "failed"}}).Increment();
    logger_.warn("app_home_failed", {{"team_id", team_id}, {"error", who.error().describe()}});
    co_return;
  }
  auto days = co_await study_.days(team_id, user_id, who->time_zone, 30);
  auto feedback = co_await study_.latest_feedback(team_id, user_id);
  if (!days || !feedback) {
    published_.Add({{"outcome", "failed"}}).Increment();
    logger_.warn("app_home_failed", {{"team_id", team_id}, {"error", "database unavailable"}});
    co_return;
  }
  content.person = *who;
  content.streak = streak_of(*days);
  content.week.assign(days->end() - std::min<std::ptrdiff_t>(7, std::ssize(*days)), days->end());
  content.latest_feedback_day = feedback->first;
  content.latest_feedback = feedback->second;
  const json view = home_view(content);
  auto published = co_await slack_.views_publish(user_id, view, token);
  if (!published) {
    published_.Add({{"outcome", "failed"}}).Increment();
    logger_.warn("app_home_failed", {{"team_id", team_id}, {"error", published.error().error}});
    co_return;
  }
  if (last_.size() >= 100'000) last_.clear();
  last_[key] = Clock::now();
  published_.Add({{"outcome", "published"}}).Increment();
}

}  // namespace tracker::app
