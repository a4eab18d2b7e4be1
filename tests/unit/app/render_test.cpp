// What /study answers look like.
#include <gtest/gtest.h>

#include <tracker/app/commands.hpp>

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
