#include <tracker/summarizer/offline.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>

#include <tracker/llm/prompt.hpp>

namespace tracker::summarizer {

namespace {

// Hangul syllables (U+AC00..U+D7A3) and jamo (U+1100..U+11FF, U+3130..U+318F) against Latin
// letters: the language most of the text is in.
std::string language_of(const StudyContext& context) {
  std::size_t hangul = 0;
  std::size_t latin = 0;
  for (const LogEntry& log : context.logs) {
    const std::string& s = log.text;
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) ++latin;
        ++i;
        continue;
      }
      std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (length == 3 && i + 2 < s.size()) {
        const unsigned code = ((c & 0x0Fu) << 12) |
                              ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                              (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
        if ((code >= 0xAC00 && code <= 0xD7A3) || (code >= 0x1100 && code <= 0x11FF) ||
            (code >= 0x3130 && code <= 0x318F)) {
          hangul += 2;  // a syllable says about as much as two Latin letters
        }
      }
      i += length;
    }
  }
  return hangul > latin ? "ko" : "en";
}

// Days as YYYY-MM-DD, compared by calendar arithmetic.
std::optional<std::chrono::sys_days> parse_day(const std::string& day) {
  if (day.size() != 10) return std::nullopt;
  try {
    const std::chrono::year_month_day ymd{std::chrono::year{std::stoi(day.substr(0, 4))},
                                          std::chrono::month{unsigned(std::stoi(day.substr(5, 2)))},
                                          std::chrono::day{unsigned(std::stoi(day.substr(8, 2)))}};
    if (!ymd.ok()) return std::nullopt;
    return std::chrono::sys_days{ymd};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string one_line(std::string_view text, std::size_t max_bytes) {
  std::string flat(text);
  std::replace_if(
      flat.begin(), flat.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  const std::string_view cut = llm::utf8_prefix(flat, max_bytes);
  std::string out(cut);
  if (cut.size() < flat.size()) out += "…";
  return out;
}

}  // namespace

std::string slack_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_minutes(int minutes, const std::string& language) {
  const int h = minutes / 60;
  const int m = minutes % 60;
  if (language == "ko") {
    if (h == 0) return std::to_string(m) + "분";
    return std::to_string(h) + "시간" + (m ? " " + std::to_string(m) + "분" : "");
  }
  if (h == 0) return std::to_string(m) + " min";
  return std::to_string(h) + " h" + (m ? " " + std::to_string(m) + " min" : "");
}

DayFacts facts_of(const messages::SummaryRequest& request, const StudyContext& context) {
  DayFacts facts;
  facts.logs = static_cast<int>(context.logs_total);
  std::set<std::string> seen;
  for (const LogEntry& log : context.logs) {
    if (log.minutes) facts.total_minutes += *log.minutes;
    for (const std::string& topic : log.topics) {
      if (seen.insert(topic).second) facts.topics.push_back(topic);
    }
  }
  const std::set<std::string> before(context.previous_topics.begin(),
                                     context.previous_topics.end());
  for (const std::string& topic : facts.topics) {
    if (!before.contains(topic)) facts.new_topics.push_back(topic);
  }
  // The streak: this day (if it has logs) and each day before it that has logs.
  if (facts.logs > 0) {
    if (auto day = parse_day(request.day)) {
      std::set<std::chrono::sys_days> active;
      for (const std::string& d : context.active_days) {
        if (auto parsed = parse_day(d)) active.insert(*parsed);
      }
      active.insert(*day);
      auto cursor = *day;
      while (active.contains(cursor) && facts.streak_days < 400) {
        ++facts.streak_days;
        cursor -= std::chrono::days{1};
      }
    }
  }
  facts.language = language_of(context);
  return facts;
}

std::string offline_summary(const messages::SummaryRequest& request, const StudyContext& context) {
  const DayFacts f = facts_of(request, context);
  const bool ko = f.language == "ko";
  // FNV-1a of the job id: the same job always gets the same encouragement, on any build.
  std::uint64_t pick = 14695981039346656037ULL;
  for (const char c : request.job_id)
    pick = (pick ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  std::string topics;
  for (std::size_t i = 0; i < f.topics.size() && i < 8; ++i) {
    topics += (i ? ", " : "") + std::string(f.topics[i].starts_with('#') ? "" : "#") + f.topics[i];
  }
  std::string text;
  if (ko) {
    text += "*" + request.day + " 학습 요약*\n";
  } else {
    text += "*Study summary for " + request.day + "*\n";
  }
  if (f.logs == 0) {
    text += ko ? "오늘은 기록이 없어요. 내일 짧게라도 시작해 봐요!"
               : "No study logged today. Even 15 minutes tomorrow keeps the habit alive.";
    return text;
  }
  if (ko) {
    text += "오늘 " + std::to_string(f.logs) + "개의 기록";
    text += f.total_minutes > 0 ? ", 총 " + format_minutes(f.total_minutes, "ko") + " 공부했어요."
                                : "을 남겼어요 (시간 기록 없음).";
    if (!topics.empty()) text += " 주제: " + topics;
    text += "\n";
    if (f.streak_days > 1)
      text += "🔥 " + std::to_string(f.streak_days) + "일 연속 기록 중이에요.\n";
  } else {
    text += "You logged " + std::to_string(f.logs) + (f.logs == 1 ? " entry" : " entries");
    text += f.total_minutes > 0 ? ", " + format_minutes(f.total_minutes, "en") + " in total."
                                : " (no durations given).";
    if (!topics.empty()) text += " Topics: " + topics;
    text += "\n";
    if (f.streak_days > 1) text += "🔥 " + std::to_string(f.streak_days) + "-day streak.\n";
  }
  // What changed since the day before.
  const int delta = f.total_minutes - context.previous_minutes;
  if (context.previous_logs == 0) {
    text += ko ? "어제는 기록이 없었는데, 오늘 다시 시작했어요.\n"
               : "Nothing was logged the day before; today you started again.\n";
  } else if (ko) {
    text += "어제(" + format_minutes(context.previous_minutes, "ko") + ", " +
            std::to_string(context.previous_logs) + "개 기록)보다 ";
    text += delta > 0   ? format_minutes(delta, "ko") + " 더 공부했어요.\n"
            : delta < 0 ? format_minutes(-delta, "ko") + " 적게 공부했어요.\n"
                        : "같은 시간 공부했어요.\n";
  } else {
    text += "Since yesterday (" + format_minutes(context.previous_minutes, "en") + ", " +
            std::to_string(context.previous_logs) +
            (context.previous_logs == 1 ? " entry): " : " entries): ");
    text += delta > 0   ? "+" + format_minutes(delta, "en") + ".\n"
            : delta < 0 ? "-" + format_minutes(-delta, "en") + ".\n"
                        : "the same time.\n";
  }
  if (!f.new_topics.empty() && context.previous_logs > 0) {
    std::string fresh;
    for (std::size_t i = 0; i < f.new_topics.size() && i < 5; ++i) {
      fresh += (i ? ", " : "") + std::string(f.new_topics[i].starts_with('#') ? "" : "#") +
               f.new_topics[i];
    }
    text += (ko ? "새 주제: " : "New topics: ") + fresh + "\n";
  }
  // Highlights: the longest sessions, shown in the order they were logged.
  std::vector<std::size_t> order(context.logs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return context.logs[a].minutes.value_or(0) > context.logs[b].minutes.value_or(0);
  });
  order.resize(std::min<std::size_t>(order.size(), 5));
  std::sort(order.begin(), order.end());
  for (std::size_t i : order) {
    const LogEntry& log = context.logs[i];
    text += "• " + log.local_time + " " + slack_escape(one_line(log.text, 120));
    if (log.minutes) text += " (" + format_minutes(*log.minutes, f.language) + ")";
    text += "\n";
  }
  if (context.logs_total > order.size()) {
    // More entries than shown: say so rather than pretend the list is complete.
    const std::size_t hidden = context.logs_total - order.size();
    text += ko ? "…외 " + std::to_string(hidden) + "개\n"
               : "…and " + std::to_string(hidden) + " more\n";
  }
  static const std::vector<std::string> cheers_en{
      "Steady work compounds. See you tomorrow!", "Nice focus today. Keep the momentum going!",
      "Every session counts. Well done!", "Good progress. Rest well and come back strong!"};
  static const std::vector<std::string> cheers_ko{
      "꾸준함이 실력이 돼요. 내일도 화이팅!", "오늘도 집중력 좋았어요. 이 흐름 이어가요!",
      "한 걸음 한 걸음이 쌓이고 있어요. 수고했어요!", "잘했어요! 푹 쉬고 내일 또 만나요."};
  text += ko ? cheers_ko[pick % cheers_ko.size()] : cheers_en[pick % cheers_en.size()];
  return text;
}

}  // namespace tracker::summarizer
