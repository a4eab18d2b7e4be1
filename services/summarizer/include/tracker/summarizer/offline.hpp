#pragma once
// The offline summariser: a deterministic daily summary written from the logs themselves (total
// study time, topics, streak, what changed since the day before, a few highlights and a short
// encouragement), in Korean when the logs are mostly Korean, else in English. It is the provider
// when no OpenAI key is configured, so the whole pipeline runs with no accounts, and the same
// input always gives the same text.
#include <string>

#include <tracker/messages/summary_request.hpp>

#include <tracker/summarizer/store.hpp>

namespace tracker::summarizer {

struct DayFacts {
  int total_minutes = 0;
  int logs = 0;
  int streak_days = 0;                  // consecutive summary days with logs, ending with this one
  std::vector<std::string> topics;      // in first-seen order
  std::vector<std::string> new_topics;  // not in the period before
  std::string language = "en";          // "ko" or "en"
};

DayFacts facts_of(const messages::SummaryRequest& request, const StudyContext& context);

// "2 h 30 min" / "2시간 30분"
std::string format_minutes(int minutes, const std::string& language);

std::string offline_summary(const messages::SummaryRequest& request, const StudyContext& context);

// Escapes &, < and > as Slack's mrkdwn wants, so a log's "<@U123>" or "<!channel>" is shown,
// not acted on.
std::string slack_escape(std::string_view text);

}  // namespace tracker::summarizer
