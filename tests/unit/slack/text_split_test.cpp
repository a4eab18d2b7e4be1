// Splitting long messages for Slack: by paragraph, then line, then word, never inside a
// character.
#include <gtest/gtest.h>

#include <string>

#include <tracker/slack/text_split.hpp>

using tracker::slack::character_count;
using tracker::slack::split_message;

namespace {

std::string repeat(const std::string& unit, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += unit;
  return out;
}

// Every part fits, and joining the parts with the breaks dropped gives back the characters.
void expect_fits(const std::vector<std::string>& parts, std::size_t limit) {
  for (const auto& part : parts) {
    EXPECT_LE(character_count(part), limit);
    EXPECT_FALSE(part.empty());
  }
}

}  // namespace

TEST(CharacterCount, CountsCodePointsNotBytes) {
  EXPECT_EQ(character_count(""), 0U);
  EXPECT_EQ(character_count("abc"), 3U);
  EXPECT_EQ(character_count("공부했어요"), 5U);             // 3 bytes each
  EXPECT_EQ(character_count("🎉ok"), 3U);                    // 4 bytes + 2
  EXPECT_EQ(character_count(std::string("\xff\xfe")), 2U);  // stray bytes count one each
}

TEST(SplitMessage, ShortTextIsOnePart) {
  const auto parts = split_message("오늘 Kafka 2시간 공부", 4000);
  ASSERT_EQ(parts.size(), 1U);
  EXPECT_EQ(parts[0], "오늘 Kafka 2시간 공부");
  EXPECT_EQ(split_message(repeat("가", 4000), 4000).size(), 1U);  // exactly at the limit
}

TEST(SplitMessage, PrefersParagraphBreaks) {
  const std::string first = repeat("a", 30);
  const std::string second = repeat("b", 30);
  const std::string third = repeat("c", 30);
  const auto parts = split_message(first + "\n\n" + second + "\n\n" + third, 70);
  ASSERT_EQ(parts.size(), 2U);
  EXPECT_EQ(parts[0], first + "\n\n" + second);
  EXPECT_EQ(parts[1], third);
}

TEST(SplitMessage, FallsBackToLinesThenWords) {
  const auto by_line = split_message(repeat("x", 8) + "\n" + repeat("y", 8), 10);
  ASSERT_EQ(by_line.size(), 2U);
  EXPECT_EQ(by_line[0], repeat("x", 8));
  EXPECT_EQ(by_line[1], repeat("y", 8));

  const auto by_word = split_message("one two three four five", 10);
  expect_fits(by_word, 10);
  EXPECT_EQ(by_word.front(), "one two");
  EXPECT_EQ(by_word.back(), "five");
}

TEST(SplitMessage, KoreanTextIsCutBetweenSyllables) {
  // No spaces at all: a hard cut, which must fall between characters.
  const std::string text = repeat("한국어", 3000);  // 9,000 syllables, 27,000 bytes
  const auto parts = split_message(text, 4000);
  ASSERT_EQ(parts.size(), 3U);
  expect_fits(parts, 4000);
  EXPECT_EQ(character_count(parts[0]), 4000U);
  std::string joined;
  for (const auto& part : parts) joined += part;
  EXPECT_EQ(joined, text);
  for (const auto& part : parts) {
    // Each part is whole UTF-8: it starts with a lead byte.
    EXPECT_NE(static_cast<unsigned char>(part.front()) & 0xC0U, 0x80U);
  }
}

TEST(SplitMessage, KoreanParagraphsKeepTheirOrder) {
  std::string text;
  for (int i = 0; i < 10; ++i) {
    if (i > 0) text += "\n\n";
    text += std::to_string(i) + "번째 문단: " + repeat("공부 기록 ", 100);
  }
  const auto parts = split_message(text, 1500);
  expect_fits(parts, 1500);
  ASSERT_GE(parts.size(), 4U);
  EXPECT_TRUE(parts.front().starts_with("0번째"));
  EXPECT_NE(parts.back().find("9번째"), std::string::npos);
}

TEST(SplitMessage, NeverSeparatesACombiningMarkOrJamo) {
  // "e" + combining acute (U+0301) repeated: a cut between e and its accent would be wrong.
  const std::string accented = repeat("e\xcc\x81", 10);  // 20 code points
  for (const auto& part : split_message(accented, 7)) {
    EXPECT_EQ(part.substr(0, 1), "e");
    EXPECT_EQ(character_count(part) % 2, 0U) << part;
  }
  // Conjoining jamo: ᄒ(U+1112) ᅡ(U+1161) ᆫ(U+11AB) make one syllable on screen.
  const std::string jamo = repeat("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", 6);
  for (const auto& part : split_message(jamo, 5)) {
    EXPECT_TRUE(part.starts_with("\xe1\x84\x92")) << "a part starts with a vowel or final";
  }
}

TEST(SplitMessage, KeepsEmojiSequencesWhole) {
  // Family emoji: man ZWJ woman ZWJ girl (5 code points), repeated.
  const std::string family =
      "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7";
  const auto parts = split_message(repeat(family, 4), 8);
  for (const auto& part : parts) {
    EXPECT_EQ(character_count(part) % 5, 0U);
  }
}

TEST(SplitMessage, DoesNotBreakInsideSlackLinks) {
  // The last space within the first 26 characters is inside the link's label; the cut goes
  // before the link instead, and the link stays whole in the next part.
  const auto parts = split_message("aaaa <https://x.io|two words> bbbb", 26);
  ASSERT_EQ(parts.size(), 3U);
  EXPECT_EQ(parts[0], "aaaa");
  EXPECT_EQ(parts[1], "<https://x.io|two words>");
  EXPECT_EQ(parts[2], "bbbb");
}
