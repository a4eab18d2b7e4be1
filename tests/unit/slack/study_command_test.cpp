// The /study command's text in English and Korean, and every mistake's own answer.
#include <gtest/gtest.h>

#include <tracker/slack/study_command.hpp>

using tracker::slack::Language;
using tracker::slack::parse_study_command;
using Kind = tracker::slack::StudyCommand::Kind;

TEST(StudyCommand, ReadsEverySubcommandInBothLanguages) {
  const std::tuple<const char*, Kind, Language> cases[] = {
      {"", Kind::help, Language::en},
      {"  ", Kind::help, Language::en},
      {"help", Kind::help, Language::en},
      {"HELP", Kind::help, Language::en},
      {"도움말", Kind::help, Language::ko},
      {"today", Kind::today, Language::en},
      {"오늘", Kind::today, Language::ko},
      {" week ", Kind::week, Language::en},
      {"주간", Kind::week, Language::ko},
      {"settings", Kind::settings_show, Language::en},
      {"설정", Kind::settings_show, Language::ko},
      {"pause", Kind::pause, Language::en},
      {"일시정지", Kind::pause, Language::ko},
      {"resume", Kind::resume, Language::en},
      {"재개", Kind::resume, Language::ko},
      {"summary", Kind::summary, Language::en},
      {"요약", Kind::summary, Language::ko},
  };
  for (const auto& [text, kind, language] : cases) {
    const auto command = parse_study_command(text);
    ASSERT_TRUE(command) << text << ": " << command.error().message;
    EXPECT_EQ(command->kind, kind) << text;
    EXPECT_EQ(command->language, language) << text;
  }
}

TEST(StudyCommand, ReadsTheSettings) {
  const auto zone = parse_study_command("settings tz America/New_York");
  ASSERT_TRUE(zone);
  EXPECT_EQ(zone->kind, Kind::settings_tz);
  EXPECT_EQ(zone->zone, "America/New_York");
  const auto ko_zone = parse_study_command("설정 시간대 Asia/Seoul");
  ASSERT_TRUE(ko_zone);
  EXPECT_EQ(ko_zone->zone, "Asia/Seoul");
  EXPECT_EQ(ko_zone->language, Language::ko);
  const auto hour = parse_study_command("settings hour 7");
  ASSERT_TRUE(hour);
  EXPECT_EQ(hour->kind, Kind::settings_hour);
  EXPECT_EQ(hour->hour, 7);
  EXPECT_EQ(parse_study_command("설정 시각 0")->hour, 0);
  EXPECT_EQ(parse_study_command("settings hour 23")->hour, 23);
  EXPECT_FALSE(parse_study_command("summary")->again);
  EXPECT_TRUE(parse_study_command("summary again")->again);
  EXPECT_TRUE(parse_study_command("요약 다시")->again);
}

TEST(StudyCommand, EveryMistakeGetsItsOwnAnswerInTheCommandsLanguage) {
  const std::tuple<const char*, const char*, Language> cases[] = {
      {"dance", "Unknown subcommand “dance”", Language::en},
      {"춤", "알 수 없는 명령 “춤”", Language::ko},
      {"settings hour 25", "“25” is not", Language::en},
      {"settings hour -1", "“-1” is not", Language::en},
      {"settings hour nine", "“nine” is not", Language::en},
      {"settings hour", "from 0 to 23.", Language::en},
      {"설정 시각 24", "“24” 은(는) 아닙니다", Language::ko},
      {"settings tz", "Give one time zone", Language::en},
      {"settings tz Asia/Seoul extra", "Give one time zone", Language::en},
      {"settings tz ../../etc/passwd", "is not a time zone name", Language::en},
      {"settings colour blue", "Unknown setting “colour”", Language::en},
      {"week please", "“week” takes nothing more", Language::en},
      {"summary now", "“summary” takes only “again”", Language::en},
  };
  for (const auto& [text, expected, language] : cases) {
    const auto command = parse_study_command(text);
    ASSERT_FALSE(command) << text;
    EXPECT_NE(command.error().message.find(expected), std::string::npos)
        << text << ": " << command.error().message;
    EXPECT_EQ(command.error().language, language) << text;
  }
}

TEST(StudyCommand, HelpNamesEverySubcommand) {
  for (const char* subcommand :
       {"today", "week", "settings tz", "settings hour", "pause", "resume"}) {
    EXPECT_NE(tracker::slack::study_help(Language::en).find(std::string("/study ") + subcommand),
              std::string::npos)
        << subcommand;
  }
  for (const char* subcommand :
       {"오늘", "주간", "요약", "설정 시간대", "설정 시각", "일시정지", "재개"}) {
    EXPECT_NE(tracker::slack::study_help(Language::ko).find(std::string("/study ") + subcommand),
              std::string::npos)
        << subcommand;
  }
}
