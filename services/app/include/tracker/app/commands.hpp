#pragma once
// Runs the /study commands ingest published to slack-commands and answers each through its
// response_url (an ephemeral message, in the language the command was given in); a command from
// an App Home button (pause, resume) is answered by publishing that home again:
//   today, week      the person's logs per local day: time (from the duration hints), logs,
//                    topics; the week as a text bar chart;
//   settings         time zone, feedback hour, paused or not;
//   settings tz Z    a zone PostgreSQL knows (else a specific error), used from the next summary;
//   settings hour H  the local hour of the daily feedback;
//   pause, resume    no feedback while paused; the logs are still kept;
//   summary [again]  today's feedback now, claimed with the scheduler's own claim (the one
//                    every summary goes through, run in this process against summary_jobs and
//                    the summary-requests topic): once a day, a new version when asked again.
// A database outage is waited out (consumption paused, the command not acknowledged), bounded by
// the stop's grace. The answer is posted at most 3 times within 10 s; a response_url outside
// SLACK_RESPONSE_URL_ORIGIN (https://hooks.slack.com) is never called.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/http/client.hpp>
#include <tracker/kafka/message.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/scheduler/scheduler.hpp>
#include <tracker/slack/study_command.hpp>

#include <tracker/app/study_store.hpp>

namespace tracker::app {

// The answers, as Slack mrkdwn.
std::string render_today(slack::Language language, const Person& person, const StudyDay& day);
std::string render_week(slack::Language language, const Person& person,
                        const std::vector<StudyDay>& days);
std::string render_settings(slack::Language language, const Person& person);
// "2h 05m" / "2시간 5분".
std::string render_minutes(slack::Language language, int minutes);

// Claims summaries now and publishes them: scheduler::Scheduler::trigger, the claim POST /trigger
// and every tick go through. The app runs it in its own process (services talk through Kafka
// and PostgreSQL only, never to each other).
using SummaryClaim = std::function<boost::asio::awaitable<pg::Result<scheduler::TriggerReport>>(
    scheduler::TriggerRequest)>;

// Publishes a person's App Home again (team_id, user_id): how a command from one of its
// buttons is answered.
using HomeRefresh =
    std::function<boost::asio::awaitable<void>(const std::string&, const std::string&)>;

class Commands {
 public:
  // `responses`: an HTTP client whose origin is SLACK_RESPONSE_URL_ORIGIN.
  Commands(StudyStore& store, http::Client& responses, SummaryClaim claim, HomeRefresh refresh_home,
           async::GracefulStop& stop, prometheus::Registry& registry, log::Logger& logger);

  // One slack-commands record: true once it is answered (or can never be), false when the stop
  // was abandoned first (left unacknowledged).
  boost::asio::awaitable<bool> run(const kafka::Message& record);
  // The answer's text for one command (the database's part of run()).
  boost::asio::awaitable<pg::Result<std::string>> answer(const slack::StudyCommand& command,
                                                         const std::string& team_id,
                                                         const std::string& user_id);

 private:
  boost::asio::awaitable<void> respond(const std::string& response_url, const std::string& text);
  boost::asio::awaitable<pg::Result<std::string>> summary(const slack::StudyCommand& command,
                                                          const std::string& team_id,
                                                          const std::string& user_id);

  StudyStore& store_;
  http::Client& responses_;
  SummaryClaim claim_;
  HomeRefresh refresh_home_;
  async::GracefulStop& stop_;
  log::Logger& logger_;
  prometheus::Family<prometheus::Counter>& runs_;
  prometheus::Family<prometheus::Counter>& responses_sent_;
};

}  // namespace tracker::app
