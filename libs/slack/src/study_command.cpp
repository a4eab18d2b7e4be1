#include <tracker/slack/study_command.hpp>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace tracker::slack {

namespace {

using Kind = StudyCommand::Kind;

// Hangul syllables and jamo start with these UTF-8 lead bytes (U+1100-U+11FF: E1 84-87,
// U+3130-U+318F: E3 84-86, U+AC00-U+D7A3: EA-ED).
bool has_hangul(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0xEA && byte <= 0xED) return true;
    if ((byte == 0xE1 || byte == 0xE3) && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x84 && next <= 0x87) return true;
    }
  }
  return false;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

struct Word {
  std::string_view en;
  std::string_view ko;
};

bool is(const std::string& word, const Word& names, Language& language) {
  if (lower(word) == names.en) {
    language = Language::en;
    return true;
  }
  if (word == names.ko) {
    language = Language::ko;
    return true;
  }
  return false;
}

StudyCommandError error(Language language, std::string en, std::string ko) {
  return {language, language == Language::ko ? std::move(ko) : std::move(en)};
}

bool plausible_zone(std::string_view zone) {
  return !zone.empty() && zone.size() <= 64 && zone.front() != '/' &&
         std::all_of(zone.begin(), zone.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '-' || c == '+';
         });
}

}  // namespace

std::string_view to_string(Language language) {
  return language == Language::ko ? "ko" : "en";
}

std::string_view to_string(StudyCommand::Kind kind) {
  switch (kind) {
    case Kind::today: return "today";
    case Kind::week: return "week";
    case Kind::summary: return "summary";
    case Kind::settings_show: return "settings";
    case Kind::settings_tz: return "settings_tz";
    case Kind::settings_hour: return "settings_hour";
    case Kind::pause: return "pause";
    case Kind::resume: return "resume";
    case Kind::help: return "help";
  }
  return "unknown";
}

void throw_exception_from_error(const StudyCommandError& error, const boost::source_location&) {
  throw std::invalid_argument(error.message);
}

boost::system::result<StudyCommand, StudyCommandError> parse_study_command(std::string_view text) {
  const auto args = words(text);
  StudyCommand command;
  command.language = has_hangul(text) ? Language::ko : Language::en;
  if (args.empty()) return command;  // help
  const std::string& verb = args[0];
  const auto no_more = [&](std::size_t expected) -> bool { return args.size() == expected; };
  const auto extra = [&](Language language) {
    return error(language, "“" + verb + "” takes nothing more. Try /study help.",
                 "“" + verb + "” 뒤에는 아무것도 쓰지 않습니다. /study 도움말 을 보세요.");
  };
  Language language = command.language;
  const std::pair<Word, Kind> simple[] = {
      {{"today", "오늘"}, Kind::today},     {{"week", "주간"}, Kind::week},
      {{"pause", "일시정지"}, Kind::pause}, {{"resume", "재개"}, Kind::resume},
      {{"help", "도움말"}, Kind::help},
  };
  for (const auto& [names, kind] : simple) {
    if (is(verb, names, language)) {
      command.language = language;
      if (!no_more(1)) return extra(language);
      command.kind = kind;
      return command;
    }
  }
  if (is(verb, {"summary", "요약"}, language)) {
    command.language = language;
    command.kind = Kind::summary;
    if (args.size() == 1) return command;
    Language again_language = language;
    if (args.size() == 2 && is(args[1], {"again", "다시"}, again_language)) {
      command.again = true;
      return command;
    }
    return error(language, "“summary” takes only “again”: /study summary again",
                 "“요약” 뒤에는 “다시”만 쓸 수 있습니다: /study 요약 다시");
  }
  if (is(verb, {"settings", "설정"}, language)) {
    command.language = language;
    if (args.size() == 1) {
      command.kind = Kind::settings_show;
      return command;
    }
    Language setting_language = language;
    if (is(args[1], {"tz", "시간대"}, setting_language)) {
      if (args.size() != 3) {
        return error(language, "Give one time zone, e.g. /study settings tz Asia/Seoul",
                     "시간대를 하나 적어 주세요. 예: /study 설정 시간대 Asia/Seoul");
      }
      if (!plausible_zone(args[2])) {
        return error(
            language,
            "“" + args[2] +
                "” is not a time zone name; use one like Asia/Seoul or "
                "America/New_York.",
            "“" + args[2] + "”은(는) 시간대 이름이 아닙니다. Asia/Seoul 처럼 적어 주세요.");
      }
      command.kind = Kind::settings_tz;
      command.zone = args[2];
      return command;
    }
    if (is(args[1], {"hour", "시각"}, setting_language)) {
      int hour = -1;
      const std::string value = args.size() == 3 ? args[2] : "";
      const auto parsed = std::from_chars(value.data(), value.data() + value.size(), hour);
      if (args.size() != 3 || value.empty() || parsed.ec != std::errc{} ||
          parsed.ptr != value.data() + value.size() || hour < 0 || hour > 23) {
        return error(
            language,
            "The hour is a whole number from 0 to 23" +
                (value.empty() ? std::string(".") : "; “" + value + "” is not.") +
                " For 9 pm: /study settings hour 21",
            "시각은 0부터 23까지의 정수입니다" +
                (value.empty() ? std::string(".") : " (“" + value + "” 은(는) 아닙니다).") +
                " 오후 9시라면: /study 설정 시각 21");
      }
      command.kind = Kind::settings_hour;
      command.hour = hour;
      return command;
    }
    return error(language, "Unknown setting “" + args[1] + "”: there are tz and hour.",
                 "알 수 없는 설정 “" + args[1] + "”입니다. 시간대, 시각 이 있습니다.");
  }
  return error(command.language, "Unknown subcommand “" + verb + "”. Try /study help.",
               "알 수 없는 명령 “" + verb + "”입니다. /study 도움말 을 보세요.");
}

std::string study_help(Language language) {
  if (language == Language::ko) {
    return "*공부 기록 봇 사용법*\n"
           "• 봇이 있는 채널에 공부한 내용을 올리면 기록됩니다 (예: `SQL 조인 2시간`).\n"
           "• `/study 오늘`: 오늘의 기록, 시간, 주제\n"
           "• `/study 주간`: 최근 7일, 날마다 시간, 기록 수, 주제\n"
           "• `/study 요약`: 오늘의 피드백을 지금 받기 (하루 한 번, `/study 요약 다시`로 새로)\n"
           "• `/study 설정`: 내 시간대, 피드백 시각, 일시정지 여부\n"
           "• `/study 설정 시간대 Asia/Seoul`: 시간대 바꾸기\n"
           "• `/study 설정 시각 21`: 매일 피드백을 받을 시각 (0-23)\n"
           "• `/study 일시정지` / `/study 재개`: 피드백 멈추기, 다시 받기 (기록은 계속됩니다)\n"
           "• `/study 도움말`: 이 안내";
  }
  return "*Study tracker*\n"
         "• Post what you studied in a channel the bot is in (e.g. `2h SQL joins`): it is logged.\n"
         "• `/study today`: today's logs, time and topics\n"
         "• `/study week`: the last 7 days, per day: time, logs, topics\n"
         "• `/study summary`: today's feedback now (once a day; `/study summary again` for a "
         "fresh one)\n"
         "• `/study settings`: your time zone, feedback hour, and whether feedback is paused\n"
         "• `/study settings tz Asia/Seoul`: change your time zone\n"
         "• `/study settings hour 21`: the hour your daily feedback comes (0-23)\n"
         "• `/study pause` / `/study resume`: stop or restart feedback (logs are still kept)\n"
         "• `/study help`: this";
}

}  // namespace tracker::slack
