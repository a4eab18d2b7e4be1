// parse_hints: durations and topics read from Slack message text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <tracker/worker/hints.hpp>

using tracker::worker::parse_hints;
using tracker::worker::StudyHints;

namespace {

struct Case {
  std::string_view text;
  std::optional<int> minutes;
  std::vector<std::string> topics;
};

void check_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "text: \"" << c.text << "\"");
    const StudyHints hints = parse_hints(c.text);
    EXPECT_EQ(hints.minutes, c.minutes);
    EXPECT_EQ(hints.topics, c.topics);
  }
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      length = 1;
      code = lead;
    } else if ((lead & 0xE0U) == 0xC0) {
      length = 2;
      code = lead & 0x1FU;
    } else if ((lead & 0xF0U) == 0xE0) {
      length = 3;
      code = lead & 0x0FU;
    } else if ((lead & 0xF8U) == 0xF0) {
      length = 4;
      code = lead & 0x07U;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0U) != 0x80) return false;
      code = (code << 6) | (next & 0x3FU);
    }
    const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return false;
    i += length;
  }
  return true;
}

// Parses a copy in a buffer of exactly the text's size, so that AddressSanitizer reports any
// read past the end, then checks what must hold for every input.
void parse_and_check_invariants(std::string_view text) {
  const auto buffer = std::make_unique<char[]>(text.size() + (text.empty() ? 1 : 0));
  std::copy(text.begin(), text.end(), buffer.get());
  const StudyHints hints = parse_hints(std::string_view(buffer.get(), text.size()));
  if (hints.minutes) {
    EXPECT_GE(*hints.minutes, 0);
    EXPECT_LE(*hints.minutes, 24 * 60);
  }
  EXPECT_LE(hints.topics.size(), 32U);
  for (std::size_t i = 0; i < hints.topics.size(); ++i) {
    const std::string& topic = hints.topics[i];
    EXPECT_FALSE(topic.empty());
    EXPECT_LE(topic.size(), 100U);
    EXPECT_TRUE(is_valid_utf8(topic)) << "topic " << i;
    for (const char c : topic) EXPECT_FALSE(c >= 'A' && c <= 'Z') << topic;
    for (std::size_t k = 0; k < i; ++k) EXPECT_NE(hints.topics[k], topic);
  }
}

}  // namespace

TEST(ParseHints, ReadsEnglishDurations) {
  check_cases({
      {"2h", 120, {}},
      {"30m", 30, {}},
      {"1h30m", 90, {}},
      {"1h 30m", 90, {}},
      {"1.5 hours", 90, {}},
      {"2 hrs", 120, {}},
      {"45 mins", 45, {}},
      {"1 hour 20 minutes", 80, {}},
      {"90min", 90, {}},
      {"30min.", 30, {}},
      {"2hours", 120, {}},
      {"30 m", 30, {}},
      {"1 hr", 60, {}},
      {"1 minute", 1, {}},
      {"studied for 2 h today", 120, {}},
      {"2H", 120, {}},
      {"30 MIN", 30, {}},
      {"1 Hour 20 Minutes", 80, {}},
      {"took 45m, then a break", 45, {}},
      {"(30m)", 30, {}},
      {"~2h", 120, {}},
      {"spent 2h!", 120, {}},
  });
}

TEST(ParseHints, ReadsKoreanDurations) {
  check_cases({
      {"90분", 90, {}},
      {"2시간", 120, {}},
      {"1시간 30분", 90, {}},
      {"2시간30분", 150, {}},
      {"1.5시간", 90, {}},
      {"30 분", 30, {}},
      {"오늘 2시간 공부", 120, {}},
      {"공부2시간", 120, {}},
      {"30분동안 복습", 30, {}},
      {"2시간을 썼다", 120, {}},
      {"1시간 반", 90, {}},
      {"2시간반 동안", 150, {}},
      {"1시간 반 정도", 90, {}},
      {"1시간 반복 학습", 60, {}},
      {"2h 동안", 120, {}},
      {"30m공부", 30, {}},
  });
}

TEST(ParseHints, RoundsFractionsToTheNearestMinute) {
  check_cases({
      {"1.5 hours", 90, {}},
      {"0.25h", 15, {}},
      {"1.5 min", 2, {}},
      {"0.4m", 0, {}},
      {"1.999h", 120, {}},
      {"0.1h", 6, {}},
      {"1.0000001h", 60, {}},
      {"2.5시간", 150, {}},
  });
}

TEST(ParseHints, AddsSeparateDurations) {
  check_cases({
      {"2h reading and 40m exercises", 160, {}},
      {"30m 1h", 90, {}},
      {"1h 2h", 180, {}},
      {"2h - 30m", 150, {}},
      {"영어 1시간, 수학 40분", 100, {}},
      {"Kafka 2h + 리뷰 30분", 150, {}},
  });
}

TEST(ParseHints, RangesCountTheirUpperEnd) {
  check_cases({
      {"2h-3h", 180, {}},
      {"2시간~3시간", 180, {}},
      {"2~3시간", 180, {}},
      {"1-2h", 120, {}},
      {"1h30m-2h", 120, {}},
  });
}

TEST(ParseHints, CompactHoursAndMinutes) {
  check_cases({
      {"1h30", 90, {}},
      {"1h30 #kafka", 90, {"kafka"}},
      {"1h05.", 65, {}},
      {"1h5", std::nullopt, {}},
      {"1h75", std::nullopt, {}},
      {"1h300", std::nullopt, {}},
      {"2 h2", std::nullopt, {}},
      {"1m30s", std::nullopt, {}},
  });
}

TEST(ParseHints, DigitsThatAreNotDurations) {
  check_cases({
      {"3 problems", std::nullopt, {}},
      {"chapter 12", std::nullopt, {}},
      {"10:30", std::nullopt, {}},
      {"2024-11-20", std::nullopt, {}},
      {"v1.5", std::nullopt, {}},
      {"v1.5h", std::nullopt, {}},
      {"h2", std::nullopt, {}},
      {"4x4", std::nullopt, {}},
      {"1st", std::nullopt, {}},
      {"page 30", std::nullopt, {}},
      {"mp3", std::nullopt, {}},
      {"k8s", std::nullopt, {}},
      {"100%", std::nullopt, {}},
      {"3 meters", std::nullopt, {}},
      {"3 months", std::nullopt, {}},
      {"30 mph", std::nullopt, {}},
      {"abc2h", std::nullopt, {}},
      {"2hx", std::nullopt, {}},
      {"5 m/s", std::nullopt, {}},
      {"30m²", std::nullopt, {}},
      {"2h_total", std::nullopt, {}},
      {"10:30m", std::nullopt, {}},
      {"timeout=30m", std::nullopt, {}},
      {"$30m raise", std::nullopt, {}},
      {"£5m", std::nullopt, {}},
      {"1.2.3h", std::nullopt, {}},
      {"1,500m swim", std::nullopt, {}},
      {"user@2h", std::nullopt, {}},
      {"12 o'clock", std::nullopt, {}},
      {"3분기 실적", std::nullopt, {}},
      {"2분반 수업", std::nullopt, {}},
      {"3분의 1", std::nullopt, {}},
      {"1시간당 3문제", std::nullopt, {}},
      {"2시간표", std::nullopt, {}},
      {"2시 30분부터 4시까지 공부", std::nullopt, {}},
      {"오후 2시30분에 시작", std::nullopt, {}},
      {"produced 1M messages", std::nullopt, {}},
      {"v_2h", std::nullopt, {}},
  });
}

TEST(ParseHints, ClockTimesBesideDurations) {
  check_cases({
      {"9시 30분 기상, 3시간 공부", 180, {}},
      {"2시부터 1시간 30분 공부", 90, {}},
      {"produced 1M messages in 2h", 120, {}},
      {"30M", std::nullopt, {}},
      {"30m", 30, {}},
  });
}

TEST(ParseHints, MrkdwnItalicsAroundADuration) {
  check_cases({
      {"_2h_", 120, {}},
      {"오늘 _1시간 30분_ 공부", 90, {}},
      {"studied _45 min_, then #rest", 45, {"rest"}},
      {"*2h* ~30m~", 150, {}},
  });
}

TEST(ParseHints, IgnoresSlackMarkupAndUrls) {
  check_cases({
      {"<https://x.y/z|2h talk> 30m", 30, {}},
      {"<https://youtu.be/x?t=30m> watched", std::nullopt, {}},
      {"<@U123> 2h", 120, {}},
      {"<!here> 1h #kafka", 60, {"kafka"}},
      {"<#C024BE91L|general> 40m", 40, {}},
      {"<#C024BE91L> 40m", 40, {}},
      {"https://example.com/videos/2h 30m", 30, {}},
      {"see https://x.y/?t=90m&amp;x=2h", std::nullopt, {}},
      {"www.example.com/2h", std::nullopt, {}},
      {"https://x.y/page#anchor", std::nullopt, {}},
      {"<https://x.y/#kafka|#kafka> #real", std::nullopt, {"real"}},
      // Slack escapes a literal '<', so an unclosed one is ordinary text.
      {"1 &lt; 2h", 120, {}},
      {"a < 2h", 120, {}},
      {"&gt; 2h quoted", 120, {}},
  });
}

TEST(ParseHints, LimitsImplausibleDurations) {
  check_cases({
      {"24h", 1440, {}},
      {"25h", std::nullopt, {}},
      {"1440m", 1440, {}},
      {"1441m", std::nullopt, {}},
      {"25h and 30m", 30, {}},
      {"20h and 10h", 1440, {}},
      {"23h 90m", std::nullopt, {}},
      {"99999999999999999999h", std::nullopt, {}},
      {"25시간", std::nullopt, {}},
  });
}

TEST(ParseHints, ZeroIsADuration) {
  check_cases({
      {"0m", 0, {}},
      {"0h 0m", 0, {}},
      {"0m and 20m", 20, {}},
  });
}

TEST(ParseHints, ReadsHashtags) {
  check_cases({
      {"#kafka", std::nullopt, {"kafka"}},
      {"#카프카", std::nullopt, {"카프카"}},
      {"#Kafka #KAFKA #kafka", std::nullopt, {"kafka"}},
      {"#kafka, #spark.", std::nullopt, {"kafka", "spark"}},
      {"(#kafka)", std::nullopt, {"kafka"}},
      {"*#bold* _#italic_ ~#struck~", std::nullopt, {"bold", "italic", "struck"}},
      {"#kafka-streams #my_topic", std::nullopt, {"kafka-streams", "my_topic"}},
      {"#kafka- #spark_", std::nullopt, {"kafka", "spark"}},
      {"#c++ and #C++", std::nullopt, {"c++"}},
      {"#a+b", std::nullopt, {"a"}},
      {"#k8s", std::nullopt, {"k8s"}},
      {"#2024년", std::nullopt, {"2024년"}},
      {"#Kafka카프카", std::nullopt, {"kafka카프카"}},
      {"#kafka’s #카프카。", std::nullopt, {"kafka", "카프카"}},
      {"#kafka🎉", std::nullopt, {"kafka"}},
      {"line one\n#kafka\t#spark", std::nullopt, {"kafka", "spark"}},
      {"\xC2\xA0#nbsp \xE3\x80\x80#ideographic", std::nullopt, {"nbsp", "ideographic"}},
      {"#b #a #b #c", std::nullopt, {"b", "a", "c"}},
      {"#kafka,#spark", std::nullopt, {"kafka", "spark"}},
      {"#카프카#스트림", std::nullopt, {"카프카", "스트림"}},
      {"[#kafka] #spark;#flink", std::nullopt, {"kafka", "spark", "flink"}},
  });
}

TEST(ParseHints, HashtagsThatAreNotTopics) {
  check_cases({
      {"C#", std::nullopt, {}},
      {"C# and F#", std::nullopt, {}},
      {"#1", std::nullopt, {}},
      {"#2024", std::nullopt, {}},
      {"fixes #123-4", std::nullopt, {}},
      {"#", std::nullopt, {}},
      {"# heading", std::nullopt, {}},
      {"##kafka", std::nullopt, {}},
      {"#-_", std::nullopt, {}},
      {"a#b", std::nullopt, {}},
      {"#🎉", std::nullopt, {}},
  });
}

TEST(ParseHints, MixedMessages) {
  check_cases({
      {"", std::nullopt, {}},
      {"🎉🔥📚", std::nullopt, {}},
      {"오늘 카프카 공부 1시간 30분 #kafka #스터디", 90, {"kafka", "스터디"}},
      {"Studied Kafka consumer groups for 2h #kafka", 120, {"kafka"}},
      {"Also read the librdkafka INTRODUCTION, 40m", 40, {}},
      {"Kafka 스터디 2h + 리뷰 30분 #Kafka #카프카 #kafka", 150, {"kafka", "카프카"}},
      {"<@U123> 오늘은 chapter 12 읽음 (30 pages, 1.5시간) #책", 90, {"책"}},
      {"Read 3 problems in 45 mins, v1.5 docs at https://x.y/v1.5#2h #DSA", 45, {"dsa"}},
  });
}

TEST(ParseHints, InvalidUtf8EndsAHashtag) {
  check_cases({
      {"#ab\xFF"
       "cd",
       std::nullopt,
       {"ab"}},
      {"#\xEC\x8B", std::nullopt, {}},
      {"#카\xEC", std::nullopt, {"카"}},
      {"#\xC0\xAF"
       "x",
       std::nullopt,
       {}},  // overlong '/'
      {"#\xED\xA0\x80"
       "x",
       std::nullopt,
       {}},  // surrogate
      {"\xFF"
       "2h #ok",
       120,
       {"ok"}},
  });
}

TEST(ParseHints, KeepsTopicsBounded) {
  std::string many;
  std::vector<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    const std::string topic = "t" + std::to_string(i);
    many += "#" + topic + " ";
    if (i < 32) expected.push_back(topic);
  }
  EXPECT_EQ(parse_hints(many).topics, expected);

  const std::string longest(100, 'a');
  EXPECT_EQ(parse_hints("#" + longest).topics, std::vector<std::string>{longest});
  EXPECT_TRUE(parse_hints("#" + longest + "a").topics.empty());
}

TEST(ParseHints, SurvivesTruncatedAndInvalidUtf8) {
  const std::vector<std::string_view> sentences = {
      "오늘 카프카 공부 1시간 30분 #kafka #스터디",
      "Kafka 스터디 2h + 리뷰 30분 #Kafka #카프카 <https://x.y|링크> 1시간 반",
      "#c++ 2시간~3시간 (#카프카) 0.25h www.x.y 90분동안 &lt;2h&gt;",
  };
  for (const std::string_view sentence : sentences) {
    SCOPED_TRACE(testing::Message() << "sentence: \"" << sentence << "\"");
    // Every prefix and every suffix cuts multi-byte characters at every possible point.
    for (std::size_t length = 0; length <= sentence.size(); ++length) {
      parse_and_check_invariants(sentence.substr(0, length));
      parse_and_check_invariants(sentence.substr(length));
    }
    // Every byte replaced by each of a set of troublesome values.
    const unsigned char replacements[] = {0x00, '#',  '<',  '>',  '0',  '9',  '.',
                                          'h',  'm',  0x80, 0xBF, 0xC0, 0xC2, 0xE0,
                                          0xEC, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};
    std::string mutated(sentence);
    for (std::size_t i = 0; i < mutated.size(); ++i) {
      const char original = mutated[i];
      for (const unsigned char replacement : replacements) {
        mutated[i] = static_cast<char>(replacement);
        parse_and_check_invariants(mutated);
      }
      mutated[i] = original;
    }
  }
}

TEST(ParseHints, SurvivesRandomBytes) {
  // Drawn mostly from bytes the scanner reacts to, so that inputs reach its deeper paths.
  const std::string_view alphabet =
      "0123456789.,:-~#<>/ hmHM_+*(\xEC\x8B\x9C\xEA\xB0\x84\xEB\xB6\x84\xEB\xB0\x98\xC2\xA0\xFF";
  std::mt19937 random(20241120);
  std::uniform_int_distribution<std::size_t> length_of(0, 48);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::uniform_int_distribution<int> coin(0, 3);
  for (int round = 0; round < 20'000; ++round) {
    std::string text(length_of(random), '\0');
    for (char& c : text) {
      c = coin(random) == 0 ? static_cast<char>(any_byte(random)) : alphabet[pick(random)];
    }
    parse_and_check_invariants(text);
    if (testing::Test::HasFailure()) {
      ADD_FAILURE() << "round " << round;
      return;
    }
  }
}
