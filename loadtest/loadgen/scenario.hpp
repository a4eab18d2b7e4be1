#pragma once
// A load scenario as written in loadtest/scenarios/*.json: phases of signed Slack events sent on a
// schedule, and scheduler triggers whose effect (the Slack posts they lead to) is timed. Parsing
// checks every field, so a run never meets a malformed scenario; a bad one throws ScenarioError
// naming the field.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tracker::loadtest {

struct ScenarioError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// When request i of a phase is due, in seconds from the phase's start.
struct Schedule {
  enum class Kind {
    // A total rate that ramps linearly from `rate_from` to `rate_to` over `ramp_s`, then holds.
    kRate,
    // Each open connection sends one request every `interval_s` (JMeter threads with a constant
    // timer): the total rate follows the connection ramp, connections / interval.
    kPerConnection,
    // Rounds: every `interval_s` each of the scenario's users sends one message, the round's
    // messages spread evenly over `spread_s`.
    kRounds,
  };
  Kind kind = Kind::kRate;
  double rate_from = 0;
  double rate_to = 0;
  double ramp_s = 0;
  double interval_s = 0;
  double spread_s = 0;
};

struct Connections {
  int from = 1;
  int to = 1;
  double ramp_s = 0;  // from `from` open at the phase's start to `to` open after ramp_s
};

struct EventsPhase {
  std::string label = "slack events";
  double start_s = 0;  // from the scenario's start
  long requests = 0;
  Schedule schedule;
  Connections connections;
  bool keepalive = true;
  double request_timeout_s = 10;
};

struct Triggers {
  std::string label = "scheduler trigger";
  double start_s = 0;
  double interval_s = 60;
  int count = 0;
  bool force = true;       // a new summary version each time, as a scheduler firing again would
  double timeout_s = 300;  // trigger to every post; a trigger not done by then failed
  // The users' zone offset and summary hour (the worker's defaults for new users) pick the day
  // whose period contains now, so each trigger summarises the events just sent.
  double utc_offset_hours = 9;
  int summary_hour = 21;
};

struct Scenario {
  std::string name;
  std::string description;
  int users = 1;
  int channels = 1;
  double time_limit_s = 600;  // the whole run, however far it got
  std::vector<EventsPhase> phases;
  std::optional<Triggers> triggers;

  // The last moment anything is scheduled, in seconds from the start.
  [[nodiscard]] double planned_s() const;
  // Requests over every phase.
  [[nodiscard]] long total_requests() const;
};

Scenario parse_scenario(const nlohmann::json& document);
Scenario load_scenario(const std::string& path);

// Shrinks a scenario for a quick run: start times, ramps, trigger intervals and every count
// (requests, rounds, triggers) are multiplied by `factor` (0 < factor <= 1), counts rounded up
// and at least 1; users, channels, connections and the intervals that set a rate (a
// connection's, a round's) stay, so rates and concurrency stay those of the full run. The time
// limit shrinks too, but leaves at least 60 s after the last scheduled send or trigger.
Scenario scaled(Scenario scenario, double factor);

// Due time of request `index` (0-based) of `phase`, in seconds from the phase's start.
double due_s(const EventsPhase& phase, int users, long index);
// Connections open `t` seconds into the phase, and when connection `c` (0-based) opens.
int connections_at(const Connections& connections, double t);
double connection_opens_s(const Connections& connections, int c);

// The day whose summary period contains `now` for people in a zone `utc_offset_hours` from UTC
// whose summary hour is `summary_hour`: the period of day D runs from D-1 at that hour to D at
// that hour, so it is the local date of now + (24 - hour) hours.
std::string summary_day(std::chrono::system_clock::time_point now, double utc_offset_hours,
                        int summary_hour);

// One line per phase and for the triggers: what the scenario will do.
std::string describe(const Scenario& scenario);

}  // namespace tracker::loadtest
