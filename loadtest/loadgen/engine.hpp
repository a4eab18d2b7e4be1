#pragma once
// Runs a scenario against services on this machine: each events phase sends its signed requests
// at their scheduled times over its connections; triggers call the scheduler's POST /trigger and
// are timed to the last Slack post they lead to, watched on the Slack simulator. Every wait is
// bounded by the scenario's time limit, so a run ends by itself.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "event_body.hpp"
#include "results.hpp"
#include "scenario.hpp"
#include "signer.hpp"

namespace tracker::loadtest {

struct Targets {
  boost::asio::ip::tcp::endpoint ingest;
  std::string path = "/slack/events";
  std::optional<boost::asio::ip::tcp::endpoint> scheduler;  // ops port, for POST /trigger
  std::optional<boost::asio::ip::tcp::endpoint> slack_sim;  // its /_sim/messages
  std::string admin_token;                                  // bearer token of /trigger
  std::string team;                                         // whose summaries are triggered
};

struct RunSummary {
  std::chrono::system_clock::time_point started;  // wall time of the schedule's zero
  double wall_s = 0;
  bool time_limit_hit = false;
  std::int64_t connects = 0;
  std::map<std::string, std::int64_t> connect_failures;  // keep-alive connects before requests
  int peak_connections = 0;                              // open at once
  std::int64_t posts_seen = 0;                           // summary posts the watcher saw
};

// Called about every `progress_every` with a one-line account of the run so far.
using Progress = std::function<void(const std::string&)>;

RunSummary run_scenario(const Scenario& scenario, const Targets& targets, const SlackSigner& signer,
                        const EventFactory& events, Results& results, const Progress& progress,
                        std::chrono::seconds progress_every = std::chrono::seconds(10));

}  // namespace tracker::loadtest
