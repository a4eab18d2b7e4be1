// What /study answers look like.
#include <gtest/gtest.h>

#include <tracker/app/commands.hpp>
#include <tracker/app/home.hpp>

using tracker::app::Person;
using tracker::app::StudyDay;
using tracker::slack::Language;

TEST(StudyAnswers, TodayGivesTimeLogsAndTopics) {
  const Person person{"Asia/Seoul", 21, false, true};
  EXPECT_EQ(
      tracker::app::render_today(Language::en, person, {"2026-12-05", 3, 150, {"kafka", "sql"}}),
      "*Today (2026-12-05, Asia/Seoul)*: 3 logs, 2h 30m\nTopics: kafka, sql");
  EXPECT_EQ(tracker::app::render_today(Language::ko, person, {"2026-12-05", 1, 45, {}}),
            "*오늘 (2026-12-05, Asia/Seoul)*: 기록 1개, 45분");
  EXPECT_NE(tracker::app::render_today(Language::en, person, {"2026-12-05", 0, 0, {}})
                .find("Nothing logged today"),
            std::string::npos);
}

TEST(StudyAnswers, TheWeekIsABarChartScaledToTheBusiestDay) {
  const Person person{"UTC", 21, false, true};
  // 30 minutes more each day, nothing on the fourth.
  const char* dates[] = {"2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02",
                         "2026-12-03", "2026-12-04", "2026-12-05"};
  std::vector<StudyDay> days;
  for (int d = 1; d <= 7; ++d) {
    days.push_back({dates[d - 1], d == 4 ? 0 : 1, d == 4 ? 0 : d * 30, {}});
  }
  days[6].topics = {"kafka"};
  const std::string week = tracker::app::render_week(Language::en, person, days);
  EXPECT_NE(week.find("11-29 Sun ██·········· 0h 30m · 1 log\n"), std::string::npos) << week;
  EXPECT_NE(week.find("12-02 Wed ············ 0h 00m · 0 logs\n"), std::string::npos) << week;
  EXPECT_NE(week.find("12-05 Sat ████████████ 3h 30m · 1 log · kafka\n"), std::string::npos)
      << week;
  EXPECT_NE(week.find("In all: 12h 00m, 6 logs"), std::string::npos) << week;
  const std::string korean = tracker::app::render_week(Language::ko, person, days);
  EXPECT_NE(korean.find("12-05 토 ████████████ 3시간 30분 · 1개 · kafka\n"), std::string::npos)
      << korean;
}

TEST(StudyAnswers, SettingsSayWhetherFeedbackIsPaused) {
  EXPECT_EQ(tracker::app::render_settings(Language::en, {"Europe/Berlin", 7, true, true}),
            "*Your settings*\n• Time zone: Europe/Berlin\n• Feedback hour: 07:00 every day\n"
            "• Feedback: paused (`/study resume`)");
  EXPECT_NE(
      tracker::app::render_settings(Language::ko, {"Asia/Seoul", 21, false, true}).find("받는 중"),
      std::string::npos);
}

TEST(AppHomeView, StreakCountsBackFromTodayOrYesterday) {
  const auto days = [](std::vector<int> logs) {
    std::vector<StudyDay> out;
    for (int n : logs) out.push_back({"2026-12-01", n, n * 10, {}});
    return out;
  };
  EXPECT_EQ(tracker::app::streak_of(days({1, 0, 1, 1, 1})), 3);
  EXPECT_EQ(tracker::app::streak_of(days({1, 1, 1, 1, 0})), 4) << "today may still come";
  EXPECT_EQ(tracker::app::streak_of(days({1, 1, 0, 0})), 0);
  EXPECT_EQ(tracker::app::streak_of({}), 0);
}

TEST(AppHomeView, HoldsTheWeekTopicsStreakSettingsAndLatestFeedback) {
  tracker::app::HomeContent content;
  content.person = {"Europe/Berlin", 20, false, true};
  for (int d = 1; d <= 7; ++d) {
    content.week.push_back({"2026-12-0" + std::to_string(d), 1, 30, {d == 7 ? "kafka" : "sql"}});
  }
  content.streak = 7;
  content.latest_feedback = "Good steady week <3";
  content.latest_feedback_day = "2026-12-06";
  const auto view = tracker::app::home_view(content);
  EXPECT_EQ(view["type"], "home");
  const std::string text = view.dump();
  for (const char* part :
       {"The last 7 days", "*Topics*: sql, kafka", "*Streak*: 7 days", "Time zone: Europe/Berlin",
        "Feedback hour: 20:00", "*Latest feedback* (2026-12-06)", "Good steady week"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
  }
  EXPECT_LE(view["blocks"].size(), 100U);
  // One button: pause while the feedback is on, resume while it is paused.
  EXPECT_NE(text.find(R"("action_id":"study_pause")"), std::string::npos) << text;
  EXPECT_NE(text.find("Pause feedback"), std::string::npos) << text;
  content.person.paused = true;
  const std::string paused = tracker::app::home_view(content).dump();
  EXPECT_NE(paused.find(R"("action_id":"study_resume")"), std::string::npos) << paused;
  EXPECT_EQ(paused.find("study_pause"), std::string::npos) << paused;
  content.person.paused = false;
  content.person.time_zone = "Asia/Seoul";
  content.latest_feedback.clear();
  const std::string korean = tracker::app::home_view(content).dump();
  EXPECT_NE(korean.find("최근 7일"), std::string::npos) << korean;
  EXPECT_NE(korean.find("아직 없습니다"), std::string::npos) << korean;
  // Slack's locale, once known, decides: English in Seoul, Korean in Berlin.
  content.person.locale = "en-US";
  EXPECT_NE(tracker::app::home_view(content).dump().find("The last 7 days"), std::string::npos);
  content.person.time_zone = "Europe/Berlin";
  content.person.locale = "ko-KR";
  EXPECT_NE(tracker::app::home_view(content).dump().find("최근 7일"), std::string::npos);
}
