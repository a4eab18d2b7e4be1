#pragma once
// The /study slash command's text, read the same way by ingest (which answers help and every
// mistake at once, without the database) and by the app (which does the rest):
//
//   today | week | settings | settings tz <Area/City> | settings hour <0-23> | pause | resume |
//   help
//
// in English or Korean (오늘, 주간, 설정, 설정 시간대 <zone>, 설정 시각 <hour>, 일시정지, 재개,
// 도움말): the answer comes in the language the command was given in. An empty text is help.
#include <string>
#include <string_view>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace tracker::slack {

enum class Language { en, ko };
std::string_view to_string(Language language);

struct StudyCommand {
  enum class Kind {
    today,
    week,
    summary,
    settings_show,
    settings_tz,
    settings_hour,
    pause,
    resume,
    help
  };
  Kind kind = Kind::help;
  Language language = Language::en;
  std::string zone;    // settings_tz: an IANA name (whether it exists is the database's to say)
  int hour = 0;        // settings_hour
  bool again = false;  // summary again: a new version of a day already summarized
};

std::string_view to_string(StudyCommand::Kind kind);

// A command that cannot be run as given; `message` is the ephemeral answer, in `language`.
struct StudyCommandError {
  Language language = Language::en;
  std::string message;
};

[[noreturn]] void throw_exception_from_error(const StudyCommandError& error,
                                             const boost::source_location& location);

boost::system::result<StudyCommand, StudyCommandError> parse_study_command(std::string_view text);

// What `/study help` answers.
std::string study_help(Language language);

}  // namespace tracker::slack
