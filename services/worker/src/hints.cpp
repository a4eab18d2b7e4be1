// One forward pass over the bytes of a message; nothing is allocated except the topics returned.
//
// Durations
// - A duration is a number ("2", "1.5", "0.25") and a unit, with optional spaces or tabs between.
//   Hours: h, hr, hrs, hour, hours, 시간. Minutes: m, min, mins, minute, minutes, 분. English units
//   are matched case-insensitively and only as a whole run of letters, so "3 months", "3 meters"
//   and "30 mph" are not minutes; a capital "M" alone is a million or a megabyte ("1M rows").
// - A clock time is not a duration: "2시 30분" and "2시30분" are half past two, so in
//   "9시 30분 기상, 3시간 공부" only the 3 hours count.
// - Hours followed by minutes form one duration: "1h30m", "1h 30m", "1 hour 20 minutes",
//   "2시간30분", "1시간 30분". So do "1h30" (two digits, under 60) and "1시간 반" (half an hour).
// - Fractions round to the nearest minute, halves up: "1.5 hours" is 90, "1.5 min" is 2.
// - A number is not read when it is stuck to the end of a word or a value ("abc2h", "v1.5", "mp3",
//   "k8s", "h2"), follows '.', ':', '/', '\', '=', '@', '#', '_' or a currency sign ("10:30m",
//   "t=30m", "$30m", "£5m"), or is a version or grouped number ("1.2.3h", "1,500m"). A '_' that
//   opens or closes mrkdwn italics is not stuck to anything ("_2h_"). An English
//   unit must not run into a letter, '_', '/', '²' or '³' ("2hx", "5 m/s", "30m²"), and a unit
//   may only run into digits that are the minutes of an hours duration ("1m30s", "2h2" are not
//   read at all). Non-ASCII text right before a number is fine ("공부2시간"): Korean often
//   leaves out that space.
// - Korean units may be followed by particles ("30분동안", "2시간을"), but not by the syllables
//   that turn them into other words: "3분기" (a quarter), "2분반" (a class section), "3분의 1"
//   (a fraction), "1시간당" (per hour) and the like.
// - A range written without spaces counts its upper end: "2h-3h", "2시간~3시간" and "2~3시간" are
//   3 hours. With spaces ("2h - 30m") both durations count.
// - Durations add up. One duration over 24 hours is ignored as implausible; the sum is capped at
//   24 hours. A duration of zero ("0m") still counts as a duration: minutes is 0, not nullopt.
//
// Topics
// - '#' at the start of the text, after whitespace (also no-break and ideographic spaces), '(',
//   '[', ',', ';', a mrkdwn mark ('*', '_', '~'), or right after another topic ("#kafka,#spark",
//   "#카프카#스트림"), followed by ASCII letters, digits, '_', '-' and any valid
//   non-ASCII character except punctuation, symbols and emoji ("#카프카", "#kafka-streams").
//   So "C#", "page#anchor" and "<#C024BE91L|general>" are not topics, and "#kafka's" is "kafka".
// - A closing run of '+' belongs to the tag ("#c++" is "c++"); trailing '-' and '_' do not.
// - Tags without a letter are issue numbers, not topics ("#1", "#2024").
// - Invalid or truncated UTF-8 ends a tag, so topics are always valid UTF-8. Tags longer than
//   100 bytes are dropped, and at most 32 topics are kept, which bounds the duplicate check.
//
// Slack markup and URLs
// - "<...>" (links, user and channel mentions, <!here>) is skipped whole. Slack escapes a literal
//   '<' as "&lt;", so a '<' with no '>' after it is treated as ordinary text.
// - A URL ("scheme://..." or "www....") is skipped up to the next whitespace, '<' or '>'.
#include <tracker/worker/hints.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace tracker::worker {

namespace {

// Nobody studies for more than a day in one go, nor more than a day in one day.
constexpr std::int64_t kMaxMinutes = 24 * 60;
// Any whole part this large is over a day in either unit; saturating here keeps the arithmetic
// below far from overflow.
constexpr std::int64_t kWholeCap = 10'000'000;
// Digits past the sixth decimal cannot change a value rounded to the minute.
constexpr int kMaxFractionDigits = 6;
constexpr std::size_t kMaxTopics = 32;
constexpr std::size_t kMaxTopicBytes = 100;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

constexpr std::string_view kHangulHours = "시간";
constexpr std::string_view kHangulClock = "시";  // o'clock; checked after 시간
constexpr std::string_view kHangulMinutes = "분";
constexpr std::string_view kHangulHalf = "반";
// Syllables after the unit that make it part of another word: 시간표 (timetable), 시간제
// (part-time), 시간당 (per hour); 분기 (quarter), 분야 (field), 분반 (section), 분의/분수
// (fractions), 분석, 분량, 분류, 분배, 분리, 분포, 분해, 분할, 분자, 분모, 분열, 분노, 분명,
// 분위기, 분말, 분필.
constexpr std::u32string_view kNotAfterHours = U"표제당";
constexpr std::u32string_view kNotAfterMinutes = U"기야반의수석량류배리포해할자모열노명위말필";
// Particles that may follow "반" in "1시간 반": 동안, 을, 은, 이, 의, 정도, 쯤, 가량, 만, 씩, 째,
// 도, 간, 까지. Anything else ("1시간 반복") means 반 starts another word.
constexpr std::u32string_view kAfterHalf = U"동을은이의정쯤가만씩째도간까";

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(unsigned char c) {
  return (c | 0x20U) >= 'a' && (c | 0x20U) <= 'z';
}
bool is_alnum(unsigned char c) {
  return is_digit(c) || is_alpha(c);
}
bool is_blank(unsigned char c) {
  return c == ' ' || c == '\t';
}
bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
unsigned char to_lower(unsigned char c) {
  return is_alpha(c) ? static_cast<unsigned char>(c | 0x20U) : c;
}

bool equals_ignoring_case(std::string_view text, std::string_view lower_word) {
  if (text.size() != lower_word.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (to_lower(static_cast<unsigned char>(text[i])) != static_cast<unsigned char>(lower_word[i]))
      return false;
  }
  return true;
}

// Length of the well-formed UTF-8 sequence starting at i, or 0 when it is invalid or cut short
// (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3;
    low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    length = 3;
  } else if (lead == 0xED) {
    length = 3;
    high = 0x9F;
  } else if (lead == 0xF0) {
    length = 4;
    low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4;
    high = 0x8F;
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  const auto second = static_cast<unsigned char>(text[i + 1]);
  if (second < low || second > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if (next < 0x80 || next > 0xBF) return 0;
  }
  return length;
}

// Decodes a sequence utf8_length has already accepted.
char32_t decode_utf8(std::string_view text, std::size_t i, std::size_t length) {
  const auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + k]));
  };
  std::uint32_t code = 0;
  switch (length) {
    case 1: code = byte(0); break;
    case 2: code = ((byte(0) & 0x1FU) << 6) | (byte(1) & 0x3FU); break;
    case 3: code = ((byte(0) & 0x0FU) << 12) | ((byte(1) & 0x3FU) << 6) | (byte(2) & 0x3FU); break;
    default:
      code = ((byte(0) & 0x07U) << 18) | ((byte(1) & 0x3FU) << 12) | ((byte(2) & 0x3FU) << 6) |
             (byte(3) & 0x3FU);
      break;
  }
  return static_cast<char32_t>(code);
}

// Non-ASCII characters that end a hashtag: punctuation, symbols, spaces and emoji, so that
// "#kafka’s", "#카프카。" and "#kafka🎉" give the word alone.
struct CodeRange {
  char32_t first;
  char32_t last;
};
constexpr CodeRange kHashtagEnds[] = {
    {0x80, 0xBF},        // C1 controls, no-break space, Latin-1 punctuation
    {0xD7, 0xD7},        // ×
    {0xF7, 0xF7},        // ÷
    {0x2000, 0x2BFF},    // general punctuation, currency, arrows, math, symbols, dingbats
    {0x3000, 0x303F},    // CJK punctuation (、。「」) and the ideographic space
    {0xFE00, 0xFE0F},    // variation selectors that follow emoji
    {0xFEFF, 0xFEFF},    // byte order mark
    {0xFF01, 0xFF0F},    // fullwidth ！＂＃ ... ／
    {0xFF1A, 0xFF20},    // fullwidth ：；＜＝＞？＠
    {0xFF3B, 0xFF40},    // fullwidth ［＼］＾＿｀
    {0xFF5B, 0xFF65},    // fullwidth ｛｜｝～ and halfwidth CJK punctuation
    {0x1F000, 0x1FAFF},  // emoji
};

bool ends_hashtag(char32_t code) {
  for (const CodeRange& range : kHashtagEnds) {
    if (code >= range.first && code <= range.last) return true;
  }
  return false;
}

enum class Unit { hours, minutes };

struct Component {
  Unit unit = Unit::minutes;
  std::int64_t minutes = 0;
  std::size_t end = 0;
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  StudyHints run() {
    const std::size_t n = text_.size();
    std::size_t i = 0;
    while (i < n) {
      const unsigned char c = at(i);
      if (c == '<') {
        i = skip_markup(i);
      } else if (c == ':' && url_scheme_ends_at(i)) {
        i = skip_url(i);
      } else if ((c == 'w' || c == 'W') && url_www_starts_at(i)) {
        i = skip_url(i);
      } else if (c == '#' && hashtag_may_start(i)) {
        i = scan_hashtag(i);
      } else if (is_digit(c) && number_may_start(i)) {
        i = scan_duration(i);
      } else {
        // Every byte that starts something above is ASCII, and ASCII bytes never occur inside a
        // multi-byte sequence, so stepping one byte at a time cannot split a character.
        ++i;
      }
    }
    if (seen_duration_) hints_.minutes = static_cast<int>(std::min(total_minutes_, kMaxMinutes));
    return std::move(hints_);
  }

 private:
  unsigned char at(std::size_t i) const { return static_cast<unsigned char>(text_[i]); }
  bool digit_at(std::size_t i) const { return i < text_.size() && is_digit(at(i)); }
  bool starts_with_at(std::size_t i, std::string_view prefix) const {
    return i <= text_.size() && text_.size() - i >= prefix.size() &&
           text_.compare(i, prefix.size(), prefix) == 0;
  }
  bool ends_with_before(std::size_t i, std::string_view suffix) const {
    return i >= suffix.size() && text_.compare(i - suffix.size(), suffix.size(), suffix) == 0;
  }
  std::size_t skip_blanks(std::size_t i) const {
    while (i < text_.size() && is_blank(at(i))) ++i;
    return i;
  }
  // The Hangul syllable at i, if there is one.
  char32_t hangul_at(std::size_t i) const {
    if (i >= text_.size() || utf8_length(text_, i) != 3) return 0;
    const char32_t code = decode_utf8(text_, i, 3);
    return code >= 0xAC00 && code <= 0xD7A3 ? code : 0;
  }

  // --- Slack markup and URLs ---

  std::size_t skip_markup(std::size_t i) {
    if (!closing_bracket_ahead_) return i + 1;
    const std::size_t close = text_.find('>', i + 1);
    if (close == std::string_view::npos) {
      // Remembered so that many stray '<' cannot make the pass quadratic.
      closing_bracket_ahead_ = false;
      return i + 1;
    }
    return close + 1;
  }

  bool url_scheme_ends_at(std::size_t i) const {
    return i > 0 && is_alpha(at(i - 1)) && starts_with_at(i, "://");
  }

  bool url_www_starts_at(std::size_t i) const {
    if (i > 0) {
      const unsigned char before = at(i - 1);
      if (is_alnum(before) || before == '.' || before == '_' || before == '-' || before == '/')
        return false;
    }
    return i + 4 <= text_.size() && equals_ignoring_case(text_.substr(i, 4), "www.");
  }

  std::size_t skip_url(std::size_t i) const {
    while (i < text_.size() && !is_space(at(i)) && at(i) != '<' && at(i) != '>') ++i;
    return i;
  }

  // --- Topics ---

  bool hashtag_may_start(std::size_t i) const {
    if (i == 0) return true;
    if (i == last_topic_end_) return true;
    const unsigned char before = at(i - 1);
    switch (before) {
      case '(':
      case '[':
      case ',':
      case ';':
      case '*':
      case '_':
      case '~': return true;
      default: break;
    }
    if (is_space(before)) return true;
    return ends_with_before(i, "\xC2\xA0") || ends_with_before(i, "\xE3\x80\x80");
  }

  std::size_t scan_hashtag(std::size_t i) {
    const std::size_t n = text_.size();
    const std::size_t begin = i + 1;
    std::size_t j = begin;
    bool has_letter = false;
    while (j < n) {
      const unsigned char c = at(j);
      if (is_alpha(c)) {
        has_letter = true;
        ++j;
      } else if (is_digit(c) || c == '_' || c == '-') {
        ++j;
      } else if (c >= 0x80) {
        const std::size_t length = utf8_length(text_, j);
        if (length == 0 || ends_hashtag(decode_utf8(text_, j, length))) break;
        has_letter = true;
        j += length;
      } else {
        break;
      }
    }
    std::size_t end = j;
    std::size_t plus = j;
    while (plus < n && at(plus) == '+') ++plus;
    if (plus > j && (plus == n || !is_alnum(at(plus)))) {
      end = plus;
    } else {
      while (end > begin && (at(end - 1) == '-' || at(end - 1) == '_')) --end;
    }
    if (has_letter) {
      add_topic(text_.substr(begin, end - begin));
      last_topic_end_ = end;
    }
    return std::max(j, end);
  }

  void add_topic(std::string_view tag) {
    if (tag.size() > kMaxTopicBytes || hints_.topics.size() >= kMaxTopics) return;
    for (const std::string& topic : hints_.topics) {
      if (equals_ignoring_case(tag, topic)) return;
    }
    std::string topic(tag);
    for (char& c : topic) c = static_cast<char>(to_lower(static_cast<unsigned char>(c)));
    hints_.topics.push_back(std::move(topic));
  }

  // --- Durations ---

  bool number_may_start(std::size_t i) const {
    if (i == 0) return true;
    const unsigned char before = at(i - 1);
    if (is_alnum(before)) return false;
    if (before == '_') return opens_italics(i - 1);
    switch (before) {
      case '.':
      case ':':
      case '/':
      case '\\':
      case '=':
      case '@':
      case '#':
      case '$': return false;
      default: break;
    }
    if (before < 0x80) return true;
    return !(ends_with_before(i, "£") || ends_with_before(i, "¥") || ends_with_before(i, "€") ||
             ends_with_before(i, "₩"));
  }

  // A '_' at i that starts mrkdwn italics: at the start of the text or after whitespace.
  bool opens_italics(std::size_t i) const { return i == 0 || is_space(at(i - 1)); }
  // A '_' at i that ends mrkdwn italics: at the end of the text or before whitespace or
  // punctuation.
  bool closes_italics(std::size_t i) const {
    return i + 1 == text_.size() || (at(i + 1) < 0x80 && !is_alnum(at(i + 1)) && at(i + 1) != '_');
  }

  // Past "[blanks] <digits> [blanks] 분" at i (the minutes of a clock time such as "2시 30분"),
  // or i itself when there are none.
  std::size_t past_clock_minutes(std::size_t i) const {
    std::size_t j = skip_blanks(i);
    if (!digit_at(j)) return i;
    while (digit_at(j)) ++j;
    j = skip_blanks(j);
    return starts_with_at(j, kHangulMinutes) ? j + kHangulMinutes.size() : i;
  }

  // Reads "<number> [blanks] <unit>" at i. On failure *resume is where the pass goes on: past the
  // whole number, so that its later digits are not read as a number of their own.
  std::optional<Component> parse_component(std::size_t i, std::size_t* resume) const {
    const std::size_t n = text_.size();
    std::int64_t whole = 0;
    std::int64_t fraction = 0;
    std::int64_t scale = 1;
    std::size_t j = i;
    for (; j < n && is_digit(at(j)); ++j) whole = std::min(whole * 10 + (at(j) - '0'), kWholeCap);
    if (j + 1 < n && at(j) == '.' && is_digit(at(j + 1))) {
      int kept = 0;
      for (++j; j < n && is_digit(at(j)); ++j) {
        if (kept == kMaxFractionDigits) continue;
        fraction = fraction * 10 + (at(j) - '0');
        scale *= 10;
        ++kept;
      }
    }
    bool plain = true;
    while (j + 1 < n && (at(j) == '.' || at(j) == ',') && is_digit(at(j + 1))) {
      plain = false;
      for (j += 2; j < n && is_digit(at(j));) ++j;
    }
    *resume = j;
    if (!plain) return std::nullopt;

    std::int64_t half_hour = 0;
    std::optional<Unit> unit;
    std::size_t end = skip_blanks(j);
    if (end < n && is_alpha(at(end))) {
      const std::size_t word = end;
      while (end < n && is_alpha(at(end))) ++end;
      unit = english_unit(text_.substr(word, end - word));
      if (end < n && at(end) == '/') return std::nullopt;
      if (end < n && at(end) == '_' && !closes_italics(end)) return std::nullopt;
      if (starts_with_at(end, "²") || starts_with_at(end, "³")) return std::nullopt;
    } else if (starts_with_at(end, kHangulHours)) {
      end += kHangulHours.size();
      if (kNotAfterHours.find(hangul_at(end)) != std::u32string_view::npos) return std::nullopt;
      unit = Unit::hours;
      const std::size_t half = skip_blanks(end);
      if (starts_with_at(half, kHangulHalf)) {
        const char32_t next = hangul_at(half + kHangulHalf.size());
        if (next == 0 || kAfterHalf.find(next) != std::u32string_view::npos) {
          half_hour = 30;
          end = half + kHangulHalf.size();
        }
      }
    } else if (starts_with_at(end, kHangulClock)) {
      // "2시 30분": a time of day, whose minutes are not a duration either.
      *resume = past_clock_minutes(end + kHangulClock.size());
      return std::nullopt;
    } else if (starts_with_at(end, kHangulMinutes)) {
      end += kHangulMinutes.size();
      if (kNotAfterMinutes.find(hangul_at(end)) != std::u32string_view::npos) return std::nullopt;
      unit = Unit::minutes;
    }
    if (!unit) return std::nullopt;
    // Minutes times scale, then rounded half up to whole minutes; at most about 6e14, no overflow.
    const std::int64_t per_unit = *unit == Unit::hours ? 60 : 1;
    const std::int64_t minutes = ((whole * scale + fraction) * per_unit + scale / 2) / scale;
    return Component{*unit, minutes + half_hour, end};
  }

  static std::optional<Unit> english_unit(std::string_view word) {
    if (word == "M") return std::nullopt;
    for (const std::string_view name : {"h", "hr", "hrs", "hour", "hours"}) {
      if (equals_ignoring_case(word, name)) return Unit::hours;
    }
    for (const std::string_view name : {"m", "min", "mins", "minute", "minutes"}) {
      if (equals_ignoring_case(word, name)) return Unit::minutes;
    }
    return std::nullopt;
  }

  // The minutes of a duration that continues at i, right after an hours component.
  std::optional<Component> minutes_after_hours(std::size_t i) const {
    std::size_t ignored = 0;
    std::optional<Component> next = parse_component(i, &ignored);
    if (next && next->unit == Unit::minutes && !digit_at(next->end)) return next;
    return std::nullopt;
  }

  // "1h30": exactly two digits, under 60, ending the word.
  std::optional<Component> compact_minutes(std::size_t i) const {
    const std::size_t end = i + 2;
    if (!digit_at(i) || !digit_at(i + 1) || end > text_.size()) return std::nullopt;
    if (end < text_.size()) {
      const unsigned char after = at(end);
      if (is_alnum(after) || after == '_') return std::nullopt;
      if ((after == '.' || after == ',') && digit_at(end + 1)) return std::nullopt;
    }
    const std::int64_t minutes = (at(i) - '0') * 10 + (at(i + 1) - '0');
    if (minutes >= 60) return std::nullopt;
    return Component{Unit::minutes, minutes, end};
  }

  std::size_t scan_duration(std::size_t i) {
    std::size_t resume = i + 1;
    const std::optional<Component> first = parse_component(i, &resume);
    if (!first) return resume;
    std::int64_t minutes = first->minutes;
    std::size_t end = first->end;
    if (digit_at(end)) {
      // Digits stuck to a unit are only ever the minutes of "1h30m" or "1h30".
      if (first->unit != Unit::hours) return end;
      std::optional<Component> rest = minutes_after_hours(end);
      if (!rest) rest = compact_minutes(end);
      if (!rest) return end;
      minutes += rest->minutes;
      end = rest->end;
    } else if (first->unit == Unit::hours) {
      // "1 hour 20 minutes" and "1시간 30분" are one duration, so the 24-hour limit applies to
      // the whole of it.
      const std::size_t next = skip_blanks(end);
      if (next > end && digit_at(next)) {
        if (const std::optional<Component> rest = minutes_after_hours(next)) {
          minutes += rest->minutes;
          end = rest->end;
        }
      }
    }
    record(i, end, minutes);
    return end;
  }

  void record(std::size_t begin, std::size_t end, std::int64_t minutes) {
    if (minutes > kMaxMinutes) {
      last_end_ = kNone;
      return;
    }
    // "2h-3h", "2시간~3시간": a range, of which the upper end replaces the lower.
    if (last_end_ != kNone && last_end_ + 1 == begin &&
        (at(last_end_) == '-' || at(last_end_) == '~')) {
      total_minutes_ -= last_minutes_;
    }
    total_minutes_ += minutes;
    seen_duration_ = true;
    last_end_ = end;
    last_minutes_ = minutes;
  }

  std::string_view text_;
  StudyHints hints_;
  bool closing_bracket_ahead_ = true;
  bool seen_duration_ = false;
  // Each duration is at most a day and there is at most one per two bytes of text: no overflow.
  std::int64_t total_minutes_ = 0;
  std::size_t last_end_ = kNone;        // where the last counted duration ended
  std::size_t last_topic_end_ = kNone;  // where the last topic ended
  std::int64_t last_minutes_ = 0;
};

}  // namespace

StudyHints parse_hints(std::string_view text) {
  return Scanner(text).run();
}

}  // namespace tracker::worker
