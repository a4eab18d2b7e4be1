#include "scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

namespace tracker::loadtest {
namespace {

using nlohmann::json;

// Reads the object `where` field by field; every key must be known, every value of its type and
// range, and errors name the path ("phases[0].schedule.interval_s").
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) fail("", "must be an object");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ScenarioError(path(key) + " " + what);
  }

  std::string path(const std::string& key) const {
    if (key.empty()) return where_.empty() ? "the scenario" : where_;
    return where_.empty() ? key : where_ + "." + key;
  }

  const json* find(const std::string& key) {
    seen_.insert(key);
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  double number(const std::string& key, double fallback, double min, double max) {
    const json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_number()) fail(key, "must be a number");
    const double n = value->get<double>();
    if (!std::isfinite(n) || n < min || n > max) {
      fail(key, "must be between " + text(min) + " and " + text(max) + " (got " + text(n) + ")");
    }
    return n;
  }

  long integer(const std::string& key, long fallback, long min, long max) {
    const json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_number_integer()) fail(key, "must be a whole number");
    const auto n = value->get<long>();
    if (n < min || n > max) {
      fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                    " (got " + std::to_string(n) + ")");
    }
    return n;
  }

  std::string string(const std::string& key, std::string fallback) {
    const json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_string() || value->get<std::string>().empty()) {
      fail(key, "must be a non-empty string");
    }
    return value->get<std::string>();
  }

  bool boolean(const std::string& key, bool fallback) {
    const json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) fail(key, "must be true or false");
    return value->get<bool>();
  }

  const json& required(const std::string& key) {
    const json* value = find(key);
    if (value == nullptr) fail(key, "is required");
    return *value;
  }

  // Call last: a key nobody asked for is a typo or a setting this version does not have.
  void no_others() const {
    for (const auto& item : object_.items()) {
      if (!seen_.contains(item.key())) fail(item.key(), "is not a known setting");
    }
  }

  static std::string text(double n) {
    std::ostringstream out;
    out << n;
    return out.str();
  }

 private:
  const json& object_;
  std::string where_;
  std::set<std::string> seen_;
};

constexpr double kLongest = 86'400;  // no duration in a scenario is longer than a day
constexpr long kMostRequests = 10'000'000;

Schedule parse_schedule(const json& object, const std::string& where) {
  Fields f(object, where);
  Schedule s;
  const std::string kind = f.string("kind", "");
  if (kind == "rate") {
    s.kind = Schedule::Kind::kRate;
    if (f.find("rate") != nullptr) {
      s.rate_from = s.rate_to = f.number("rate", 0, 0.001, 1e6);
    } else {
      s.rate_from = f.number("from", 0, 0, 1e6);
      s.rate_to = f.number("to", 0, 0.001, 1e6);
      s.ramp_s = f.number("ramp_s", 0, 0, kLongest);
      if (f.find("from") == nullptr || f.find("to") == nullptr) {
        f.fail("rate", "is required (or from, to and ramp_s)");
      }
    }
  } else if (kind == "per_connection") {
    s.kind = Schedule::Kind::kPerConnection;
    s.interval_s = f.number("interval_s", 0, 0.001, kLongest);
    if (f.find("interval_s") == nullptr) f.fail("interval_s", "is required");
  } else if (kind == "rounds") {
    s.kind = Schedule::Kind::kRounds;
    s.interval_s = f.number("interval_s", 0, 0.001, kLongest);
    if (f.find("interval_s") == nullptr) f.fail("interval_s", "is required");
    s.spread_s = f.number("spread_s", 0, 0, kLongest);
    if (s.spread_s > s.interval_s) f.fail("spread_s", "must not be longer than interval_s");
  } else {
    f.fail("kind", "must be \"rate\", \"per_connection\" or \"rounds\" (got \"" + kind + "\")");
  }
  f.no_others();
  return s;
}

Connections parse_connections(const json& value, const std::string& where) {
  Connections c;
  if (value.is_number_integer()) {
    const auto n = value.get<long>();
    if (n < 1 || n > 60'000) throw ScenarioError(where + " must be between 1 and 60000");
    c.from = c.to = static_cast<int>(n);
    return c;
  }
  Fields f(value, where);
  c.from = static_cast<int>(f.integer("from", 1, 1, 60'000));
  c.to = static_cast<int>(f.integer("to", c.from, 1, 60'000));
  c.ramp_s = f.number("ramp_s", 0, 0, kLongest);
  if (c.to < c.from) f.fail("to", "must not be below from");
  f.no_others();
  return c;
}

EventsPhase parse_phase(const json& object, const std::string& where, int users) {
  Fields f(object, where);
  EventsPhase p;
  p.label = f.string("label", p.label);
  p.start_s = f.number("start_s", 0, 0, kLongest);
  p.schedule = parse_schedule(f.required("schedule"), f.path("schedule"));
  if (p.schedule.kind == Schedule::Kind::kRounds && f.find("messages_per_user") != nullptr) {
    p.requests = f.integer("messages_per_user", 0, 1, kMostRequests) * users;
    if (f.find("requests") != nullptr)
      f.fail("requests", "and messages_per_user exclude each other");
  } else {
    p.requests = f.integer("requests", 0, 1, kMostRequests);
    if (f.find("requests") == nullptr) f.fail("requests", "is required");
  }
  p.connections = parse_connections(f.required("connections"), f.path("connections"));
  p.keepalive = f.boolean("keepalive", true);
  p.request_timeout_s = f.number("request_timeout_s", p.request_timeout_s, 0.01, 600);
  f.no_others();
  return p;
}

Triggers parse_triggers(const json& object, const std::string& where) {
  Fields f(object, where);
  Triggers t;
  t.label = f.string("label", t.label);
  t.start_s = f.number("start_s", 0, 0, kLongest);
  t.interval_s = f.number("interval_s", t.interval_s, 0.01, kLongest);
  t.count = static_cast<int>(f.integer("count", 0, 1, 10'000));
  if (f.find("count") == nullptr) f.fail("count", "is required");
  t.force = f.boolean("force", t.force);
  t.timeout_s = f.number("timeout_s", t.timeout_s, 1, kLongest);
  t.utc_offset_hours = f.number("utc_offset_hours", t.utc_offset_hours, -12, 14);
  t.summary_hour = static_cast<int>(f.integer("summary_hour", t.summary_hour, 0, 23));
  f.no_others();
  return t;
}

// When arrival number `n` (0-based, arrival 0 at t = 0) is due for a rate that goes linearly
// from r0 to r1 over `ramp` and then holds at r1.
double arrival_time(double r0, double r1, double ramp, double n) {
  if (n <= 0) return 0;
  const double ramped = ramp > 0 ? (r0 + r1) / 2 * ramp : 0;
  if (ramp <= 0 || n >= ramped) return std::max(ramp, 0.0) + (n - ramped) / r1;
  const double a = (r1 - r0) / (2 * ramp);
  if (std::abs(a) < 1e-12) return n / r0;
  // a t^2 + r0 t - n = 0, the positive root, written to stay exact when r0 is large.
  return 2 * n / (r0 + std::sqrt(r0 * r0 + 4 * a * n));
}

}  // namespace

double Scenario::planned_s() const {
  double last = 0;
  for (const auto& p : phases) {
    last = std::max(last, p.start_s + due_s(p, users, p.requests - 1));
  }
  if (triggers)
    last = std::max(last, triggers->start_s + triggers->interval_s * (triggers->count - 1));
  return last;
}

long Scenario::total_requests() const {
  long n = 0;
  for (const auto& p : phases) n += p.requests;
  return n;
}

Scenario parse_scenario(const json& document) {
  Fields f(document, "");
  Scenario s;
  s.name = f.string("name", "");
  if (s.name.empty()) f.fail("name", "is required");
  s.description = f.string("description", "");
  s.users = static_cast<int>(f.integer("users", 1, 1, 100'000));
  s.channels = static_cast<int>(f.integer("channels", 1, 1, 999));
  s.time_limit_s = f.number("time_limit_s", s.time_limit_s, 1, kLongest);
  const json& phases = f.required("events");
  if (!phases.is_array() || phases.empty()) f.fail("events", "must be a non-empty list of phases");
  for (std::size_t i = 0; i < phases.size(); ++i) {
    s.phases.push_back(parse_phase(phases[i], "events[" + std::to_string(i) + "]", s.users));
  }
  if (const json* triggers = f.find("triggers")) {
    s.triggers = parse_triggers(*triggers, "triggers");
  }
  f.no_others();
  if (s.planned_s() >= s.time_limit_s) {
    throw ScenarioError("time_limit_s (" + Fields::text(s.time_limit_s) +
                        ") must be longer than the scenario's schedule (" +
                        Fields::text(s.planned_s()) + " s)");
  }
  return s;
}

Scenario load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ScenarioError("cannot read scenario file " + path);
  json document = json::parse(in, nullptr, false, /*ignore_comments=*/true);
  if (document.is_discarded()) throw ScenarioError(path + " is not valid JSON");
  try {
    return parse_scenario(document);
  } catch (const ScenarioError& e) {
    throw ScenarioError(path + ": " + e.what());
  }
}

Scenario scaled(Scenario s, double factor) {
  if (!(factor > 0 && factor <= 1)) throw ScenarioError("scale must be above 0 and at most 1");
  if (factor == 1) return s;
  const auto count = [factor](long n) {
    return std::max(1L, static_cast<long>(std::ceil(static_cast<double>(n) * factor - 1e-9)));
  };
  for (auto& p : s.phases) {
    p.start_s *= factor;
    p.schedule.ramp_s *= factor;
    // Intervals stay: a connection's own (the ramp shrinks, the rate it sets stays) and that of
    // rounds (fewer rounds, each as dense as in the full run).
    p.connections.ramp_s *= factor;
    if (p.schedule.kind == Schedule::Kind::kRounds) {
      // Whole rounds: every user still sends the same number of messages as every other.
      p.requests = count(p.requests / s.users) * s.users;
    } else {
      p.requests = count(p.requests);
    }
  }
  if (s.triggers) {
    s.triggers->start_s *= factor;
    s.triggers->interval_s *= factor;
    s.triggers->count = static_cast<int>(count(s.triggers->count));
  }
  // Time for the last trigger's posts (timeouts are not scaled: they bound the services'
  // latency, which does not shrink with the scenario).
  s.time_limit_s = std::max(s.time_limit_s * factor, s.planned_s() + 60);
  return s;
}

double due_s(const EventsPhase& phase, int users, long index) {
  const Schedule& s = phase.schedule;
  const auto n = static_cast<double>(index);
  switch (s.kind) {
    case Schedule::Kind::kRate: return arrival_time(s.rate_from, s.rate_to, s.ramp_s, n);
    case Schedule::Kind::kPerConnection: {
      const Connections& c = phase.connections;
      return arrival_time(c.from / s.interval_s, c.to / s.interval_s, c.ramp_s, n);
    }
    case Schedule::Kind::kRounds: {
      const long round = index / users;
      const long within = index % users;
      return static_cast<double>(round) * s.interval_s +
             static_cast<double>(within) * s.spread_s / users;
    }
  }
  return 0;
}

int connections_at(const Connections& c, double t) {
  if (c.ramp_s <= 0 || t >= c.ramp_s) return c.to;
  if (t <= 0) return c.from;
  return c.from + static_cast<int>(std::floor((c.to - c.from) * t / c.ramp_s));
}

double connection_opens_s(const Connections& c, int index) {
  if (index < c.from || c.ramp_s <= 0 || c.to == c.from) return 0;
  return c.ramp_s * static_cast<double>(index - c.from + 1) / static_cast<double>(c.to - c.from);
}

std::string summary_day(std::chrono::system_clock::time_point now, double utc_offset_hours,
                        int summary_hour) {
  const auto shifted =
      now +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double, std::ratio<3600>>(utc_offset_hours + 24 - summary_hour));
  const std::chrono::year_month_day date{std::chrono::floor<std::chrono::days>(shifted)};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

std::string describe(const Scenario& s) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%s: %s\n  %d user%s in %d channel%s; time limit %.0f s\n",
                s.name.c_str(), s.description.c_str(), s.users, s.users == 1 ? "" : "s", s.channels,
                s.channels == 1 ? "" : "s", s.time_limit_s);
  out += line;
  for (const auto& p : s.phases) {
    const double last = p.start_s + due_s(p, s.users, p.requests - 1);
    std::string conns = std::to_string(p.connections.from);
    if (p.connections.to != p.connections.from) {
      conns += " -> " + std::to_string(p.connections.to) + " over " +
               Fields::text(p.connections.ramp_s) + " s";
    }
    std::snprintf(line, sizeof line,
                  "  \"%s\": %ld requests from %.1f s to %.1f s (%.1f/s on average), %s "
                  "connection%s%s\n",
                  p.label.c_str(), p.requests, p.start_s, last,
                  last > p.start_s ? static_cast<double>(p.requests - 1) / (last - p.start_s) : 0.0,
                  conns.c_str(), p.connections.to == 1 ? "" : "s",
                  p.keepalive ? " (keep-alive)" : ", a new one per request");
    out += line;
  }
  if (s.triggers) {
    const auto& t = *s.triggers;
    std::snprintf(line, sizeof line,
                  "  \"%s\": %d trigger%s from %.1f s, every %.1f s%s; each timed to its last "
                  "Slack post (at most %.0f s)\n",
                  t.label.c_str(), t.count, t.count == 1 ? "" : "s", t.start_s, t.interval_s,
                  t.force ? ", forced (a new summary each time)" : "", t.timeout_s);
    out += line;
  }
  return out;
}

}  // namespace tracker::loadtest
