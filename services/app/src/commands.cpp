#include <tracker/app/commands.hpp>

#include <algorithm>

#include <nlohmann/json.hpp>

#include <tracker/async/retry.hpp>
#include <tracker/messages/command.hpp>
#include <tracker/metrics/declare.hpp>

namespace tracker::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using slack::Language;
using Kind = slack::StudyCommand::Kind;

namespace {

constexpr std::string_view kWeekdaysEn[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kWeekdaysKo[] = {"일", "월", "화", "수", "목", "금", "토"};

// Day of the week of "YYYY-MM-DD" (0 = Sunday), by Sakamoto's method.
int weekday(const std::string& day) {
  int y = std::stoi(day.substr(0, 4));
  const int m = std::stoi(day.substr(5, 2));
  const int d = std::stoi(day.substr(8, 2));
  static constexpr int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
  if (m < 3) y -= 1;
  return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string two_digits(int value) {
  return (value < 10 ? "0" : "") + std::to_string(value);
}

std::string hour_text(int hour) {
  return two_digits(hour) + ":00";
}

}  // namespace

std::string render_minutes(Language language, int minutes) {
  const int hours = minutes / 60;
  const int rest = minutes % 60;
  if (language == Language::ko) {
    if (hours == 0) return std::to_string(rest) + "분";
    return std::to_string(hours) + "시간" + (rest == 0 ? "" : " " + std::to_string(rest) + "분");
  }
  return std::to_string(hours) + "h " + two_digits(rest) + "m";
}

std::string render_today(Language language, const Person& person, const StudyDay& day) {
  const bool ko = language == Language::ko;
  if (day.logs == 0) {
    return ko ? "오늘(" + day.day + ", " + person.time_zone +
                    ")은 아직 기록이 없습니다. 공부한 내용을 채널에 올려 주세요."
              : "Nothing logged today (" + day.day + ", " + person.time_zone +
                    ") yet. Post what you studied in the study channel.";
  }
  std::string out =
      ko ? "*오늘 (" + day.day + ", " + person.time_zone + ")*: 기록 " + std::to_string(day.logs) +
               "개, " + render_minutes(language, day.minutes)
         : "*Today (" + day.day + ", " + person.time_zone + ")*: " + std::to_string(day.logs) +
               (day.logs == 1 ? " log, " : " logs, ") + render_minutes(language, day.minutes);
  if (!day.topics.empty()) out += (ko ? "\n주제: " : "\nTopics: ") + join(day.topics);
  return out;
}

std::string render_week(Language language, const Person& person,
                        const std::vector<StudyDay>& days) {
  const bool ko = language == Language::ko;
  int most = 0;
  int total = 0;
  int logs = 0;
  for (const auto& day : days) {
    most = std::max(most, day.minutes);
    total += day.minutes;
    logs += day.logs;
  }
  std::string out = ko ? "*최근 7일* (" + person.time_zone + ")\n```\n"
                       : "*The last 7 days* (" + person.time_zone + ")\n```\n";
  constexpr int kWidth = 12;
  for (const auto& day : days) {
    const int filled = most == 0 ? 0 : (day.minutes * kWidth + most - 1) / most;
    std::string bar;
    for (int i = 0; i < kWidth; ++i) bar += i < filled ? "█" : "·";
    const int dow = weekday(day.day);
    out += day.day.substr(5) + " " + std::string(ko ? kWeekdaysKo[dow] : kWeekdaysEn[dow]) + " " +
           bar + " " + render_minutes(language, day.minutes) + " · " + std::to_string(day.logs) +
           (ko ? "개" : (day.logs == 1 ? " log" : " logs")) +
           (day.topics.empty() ? "" : " · " + join(day.topics)) + "\n";
  }
  out += "```\n";
  out += ko ? "합계: " + render_minutes(language, total) + ", 기록 " + std::to_string(logs) + "개"
            : "In all: " + render_minutes(language, total) + ", " + std::to_string(logs) +
                  (logs == 1 ? " log" : " logs");
  return out;
}

std::string render_settings(Language language, const Person& person) {
  if (language == Language::ko) {
    return "*내 설정*\n• 시간대: " + person.time_zone + "\n• 피드백 시각: 매일 " +
           hour_text(person.summary_hour) +
           "\n• 피드백: " + (person.paused ? "일시정지 중 (`/study 재개`)" : "받는 중");
  }
  return "*Your settings*\n• Time zone: " + person.time_zone +
         "\n• Feedback hour: " + hour_text(person.summary_hour) +
         " every day\n• Feedback: " + (person.paused ? "paused (`/study resume`)" : "on");
}

Commands::Commands(StudyStore& store, http::Client& responses, SummaryClaim claim,
                   HomeRefresh refresh_home, async::GracefulStop& stop,
                   prometheus::Registry& registry, log::Logger& logger)
    : store_(store),
      responses_(responses),
      claim_(std::move(claim)),
      refresh_home_(std::move(refresh_home)),
      stop_(stop),
      logger_(logger),
      runs_(metrics::counters(registry, "tracker_app_commands_total",
                              "/study commands run, by subcommand and outcome (answered, "
                              "refused, unreadable).")),
      responses_sent_(metrics::counters(registry, "tracker_app_command_responses_total",
                                        "Answers posted to response_url, by outcome (posted, "
                                        "failed, foreign_url).")) {}

asio::awaitable<pg::Result<std::string>> Commands::answer(const slack::StudyCommand& command,
                                                          const std::string& team_id,
                                                          const std::string& user_id) {
  const Language language = command.language;
  const bool ko = language == Language::ko;
  switch (command.kind) {
    case Kind::today:
    case Kind::week: {
      auto who = co_await store_.person(team_id, user_id);
      if (!who) co_return who.error();
      auto days = co_await store_.days(team_id, user_id, who->time_zone,
                                       command.kind == Kind::today ? 1 : 7);
      if (!days) co_return days.error();
      if (days->empty()) co_return std::string{};
      if (command.kind == Kind::today) co_return render_today(language, *who, days->back());
      co_return render_week(language, *who, *days);
    }
    case Kind::settings_show: {
      auto who = co_await store_.person(team_id, user_id);
      if (!who) co_return who.error();
      co_return render_settings(language, *who);
    }
    case Kind::settings_tz: {
      auto set = co_await store_.set_time_zone(team_id, user_id, command.zone);
      if (!set) co_return set.error();
      if (!*set) {
        co_return ko ? "“" + command.zone +
                           "”은(는) 알 수 없는 시간대입니다. Asia/Seoul, America/New_York 처럼 "
                           "적어 주세요."
                     : "“" + command.zone +
                           "” is not a time zone the tracker knows; use one like Asia/Seoul or "
                           "America/New_York.";
      }
      auto who = co_await store_.person(team_id, user_id);
      if (!who) co_return who.error();
      co_return ko
          ? "시간대를 " + command.zone + "(으)로 바꿨습니다. 다음 피드백은 그곳 시각으로 " +
                hour_text(who->summary_hour) + "에 옵니다."
          : "Time zone set to " + command.zone + ": your next feedback comes at " +
                hour_text(who->summary_hour) + " there.";
    }
    case Kind::settings_hour: {
      auto set = co_await store_.set_summary_hour(team_id, user_id, command.hour);
      if (!set) co_return set.error();
      auto who = co_await store_.person(team_id, user_id);
      if (!who) co_return who.error();
      co_return ko
          ? "이제 피드백은 매일 " + hour_text(command.hour) + " (" + who->time_zone + ")에 옵니다."
          : "Your feedback now comes at " + hour_text(command.hour) + " (" + who->time_zone +
                ") every day.";
    }
    case Kind::pause:
    case Kind::resume: {
      const bool pause = command.kind == Kind::pause;
      auto set = co_await store_.set_paused(team_id, user_id, pause);
      if (!set) co_return set.error();
      if (pause) {
        co_return ko
            ? "피드백을 멈췄습니다. 공부 기록은 계속 남습니다. 다시 받으려면 `/study 재개`."
            : "Feedback paused. Your study logs are still kept; `/study resume` to "
              "restart it.";
      }
      auto who = co_await store_.person(team_id, user_id);
      if (!who) co_return who.error();
      co_return ko ? "피드백을 다시 받습니다. 다음은 " + hour_text(who->summary_hour) + " (" +
                         who->time_zone + ")."
                   : "Feedback resumed: next at " + hour_text(who->summary_hour) + " (" +
                         who->time_zone + ").";
    }
    case Kind::summary: co_return co_await summary(command, team_id, user_id);
    case Kind::help: co_return slack::study_help(language);
  }
  co_return std::string{};
}

asio::awaitable<pg::Result<std::string>> Commands::summary(const slack::StudyCommand& command,
                                                           const std::string& team_id,
                                                           const std::string& user_id) {
  const bool ko = command.language == Language::ko;
  auto who = co_await store_.person(team_id, user_id);
  if (!who) co_return who.error();
  if (who->paused) {
    co_return ko ? "피드백이 일시정지 중입니다. 받으려면 먼저 `/study 재개`."
                 : "Your feedback is paused; `/study resume` first.";
  }
  scheduler::TriggerRequest request;
  request.team_id = team_id;
  request.user_id = user_id;
  request.force = command.again;
  auto claimed = co_await claim_(std::move(request));
  if (!claimed) co_return claimed.error();
  if (claimed->claimed > 0) {
    logger_.info("summary_claimed", {{"team_id", team_id},
                                     {"user_id", user_id},
                                     {"jobs", claimed->jobs},
                                     {"published", claimed->published}});
    co_return ko ? "오늘의 피드백을 쓰고 있습니다. 곧 도착합니다."
                 : "Your feedback for today is being written; it will arrive shortly.";
  }
  if (claimed->already_claimed > 0) {
    co_return ko ? "오늘의 피드백은 이미 쓰였습니다. 새로 받으려면 `/study 요약 다시`."
                 : "Today's feedback was already written; `/study summary again` for a fresh one.";
  }
  co_return ko ? "아직 피드백을 쓸 기록이 없습니다. 공부한 내용을 채널에 올려 주세요."
               : "There is nothing to write feedback on yet: post what you studied first.";
}

asio::awaitable<bool> Commands::run(const kafka::Message& record) {
  auto decoded = messages::decode_command(record.value());
  if (!decoded) {
    runs_.Add({{"subcommand", "unknown"}, {"outcome", "unreadable"}}).Increment();
    logger_.error("command_unreadable", {{"reason", decoded.error().reason},
                                         {"detail", decoded.error().detail},
                                         {"partition", record.partition()},
                                         {"offset", record.offset()}});
    co_return true;
  }
  const auto& command_record = *decoded;
  const auto parsed = slack::parse_study_command(command_record.text);
  std::string text;
  std::string subcommand = "invalid";
  if (!parsed) {
    // Ingest answers these itself; a record written by another producer may still hold one.
    text = parsed.error().message;
    runs_.Add({{"subcommand", subcommand}, {"outcome", "refused"}}).Increment();
  } else {
    subcommand = std::string(slack::to_string(parsed->kind));
    // A command is answered once its database work is done: an outage is waited out (the record
    // stays unacknowledged), bounded by the stop's grace.
    const async::RetryPolicy policy{.initial = 100ms,
                                    .max_delay = 5s,
                                    .max_attempts = async::kUnlimitedAttempts,
                                    .max_elapsed = async::kUnlimitedTime};
    const async::RetryHooks<pg::Error> hooks{.failed = [&](const pg::Error& error, int attempt,
                                                           std::chrono::milliseconds) {
      if (attempt == 1) {
        logger_.warn("database_unavailable", {{"step", "command"}, {"error", error.describe()}});
      }
    }};
    const auto work = [&] {
      return answer(*parsed, command_record.team_id, command_record.user_id);
    };
    const auto retryable = [](const pg::Error& error) {
      return pg::classify(error) == pg::Disposition::retryable;
    };
    auto answered = co_await async::retry(stop_, policy, hooks, work, retryable);
    if (!answered) {
      if (answered.error().outcome != async::Outcome::refused) co_return false;
      logger_.error("command_failed",
                    {{"subcommand", subcommand}, {"error", answered.error().error.describe()}});
      text = parsed->language == Language::ko
                 ? "명령을 처리하지 못했습니다. 관리자에게 알려 주세요."
                 : "The tracker could not do that; please tell its operators.";
      runs_.Add({{"subcommand", subcommand}, {"outcome", "failed"}}).Increment();
    } else {
      text = std::move(*answered);
      runs_.Add({{"subcommand", subcommand}, {"outcome", "answered"}}).Increment();
    }
  }
  if (command_record.origin == messages::kOriginAppHome) {
    co_await refresh_home_(command_record.team_id, command_record.user_id);
  } else {
    co_await respond(command_record.response_url, text);
  }
  logger_.info("command_answered", {{"team_id", command_record.team_id},
                                    {"user_id", command_record.user_id},
                                    {"subcommand", subcommand},
                                    {"origin", command_record.origin}});
  co_return true;
}

asio::awaitable<void> Commands::respond(const std::string& response_url, const std::string& text) {
  // Only the configured origin is ever called: a command's response_url is data from outside.
  const http::Origin& origin = responses_.origin();
  std::string target;
  try {
    const http::Origin url = http::Origin::parse(response_url);
    if (url.tls == origin.tls && url.host == origin.host && url.port == origin.port &&
        url.base_path.starts_with(origin.base_path + "/")) {
      target = url.base_path.substr(origin.base_path.size());
    }
  } catch (const std::invalid_argument&) {
  }
  if (target.empty()) {
    responses_sent_.Add({{"outcome", "foreign_url"}}).Increment();
    logger_.error("response_url_refused", {{"origin", origin.to_string()},
                                           {"detail", "the command's response_url is elsewhere"}});
    co_return;
  }
  const std::string body = nlohmann::json{
      {"response_type", "ephemeral"},
      {"replace_original", false},
      {"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const async::RetryPolicy policy{
      .initial = 200ms, .max_delay = 2s, .max_attempts = 3, .max_elapsed = 10s};
  const async::RetryHooks<std::string> hooks{};
  const auto post = [&]() -> asio::awaitable<boost::system::result<void, std::string>> {
    http::Headers headers;
    headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    std::string copy = body;
    auto reply = co_await responses_.send(http::beast_http::verb::post, target, std::move(copy),
                                          std::move(headers));
    if (!reply) co_return reply.error().describe();
    const unsigned status = reply->result_int();
    if (status >= 200 && status < 300) co_return boost::system::result<void, std::string>{};
    co_return "http_" + std::to_string(status);
  };
  const auto retryable = [](const std::string& error) {
    return error != "http_404" && error != "http_410" && error != "http_400";
  };
  auto posted = co_await async::retry(stop_, policy, hooks, post, retryable);
  if (posted) {
    responses_sent_.Add({{"outcome", "posted"}}).Increment();
  } else {
    responses_sent_.Add({{"outcome", "failed"}}).Increment();
    logger_.warn("response_failed",
                 {{"error", posted.error().error}, {"attempts", posted.error().attempts}});
  }
}

}  // namespace tracker::app
