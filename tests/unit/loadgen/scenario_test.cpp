// loadgen's scenarios: the files in loadtest/scenarios parse to the report's shapes, bad ones are
// refused naming the field, schedules put each request where the shape says, and --scale keeps
// rates while shrinking the run.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "scenario.hpp"

namespace lt = tracker::loadtest;
using nlohmann::json;

namespace {

lt::Scenario scenario_file(const std::string& name) {
  return lt::load_scenario(std::string(TRACKER_SOURCE_DIR) + "/loadtest/scenarios/" + name);
}

json minimal_scenario() {
  return json::parse(R"({"name": "T", "users": 4, "time_limit_s": 100,
    "events": [{"requests": 10, "schedule": {"kind": "rate", "rate": 1}, "connections": 2}]})");
}

std::string scenario_error_of(const json& document) {
  try {
    lt::parse_scenario(document);
  } catch (const lt::ScenarioError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST(LoadgenScenarioTest, TheReportsScenariosParseToTheirShapes) {
  const auto sc1 = scenario_file("sc1.json");
  EXPECT_EQ(sc1.total_requests(), 33'600);
  EXPECT_EQ(sc1.phases[0].connections.from, 100);
  EXPECT_EQ(sc1.phases[0].connections.to, 5'000);
  EXPECT_FALSE(sc1.triggers);

  const auto sc1b = scenario_file("sc1b.json");
  EXPECT_EQ(sc1b.total_requests(), 60'000);
  EXPECT_FALSE(sc1b.phases[0].keepalive);
  EXPECT_EQ(sc1b.phases[0].connections.to, 5'000);

  const auto sc2 = scenario_file("sc2.json");
  EXPECT_EQ(sc2.users, 1);
  EXPECT_EQ(sc2.total_requests(), 300);
  EXPECT_NEAR(lt::due_s(sc2.phases[0], 1, 299), 299.0, 1e-9);  // 300 messages in 5 minutes
  ASSERT_TRUE(sc2.triggers);
  EXPECT_EQ(sc2.triggers->count, 20);
  EXPECT_EQ(sc2.triggers->interval_s, 60);

  const auto sc3 = scenario_file("sc3.json");
  EXPECT_EQ(sc3.total_requests(), 60'000);  // 200 people x 300 messages
  ASSERT_TRUE(sc3.triggers);
  EXPECT_EQ(sc3.triggers->count, 10);

  const auto sc4 = scenario_file("sc4.json");
  EXPECT_EQ(sc4.total_requests(), 150);                       // 50 people x 3 messages
  EXPECT_NEAR(lt::due_s(sc4.phases[0], 50, 50), 60.0, 1e-9);  // a minute apart
  ASSERT_TRUE(sc4.triggers);
  EXPECT_EQ(sc4.triggers->count, 1);
  EXPECT_EQ(sc4.triggers->start_s, 900);  // after 15 minutes
}

TEST(LoadgenScenarioTest, RefusesABadScenarioNamingTheField) {
  auto d = minimal_scenario();
  d["events"][0]["schedule"]["kind"] = "burst";
  EXPECT_NE(scenario_error_of(d).find("events[0].schedule.kind must be \"rate\""),
            std::string::npos)
      << scenario_error_of(d);

  d = minimal_scenario();
  d["events"][0]["conections"] = 3;
  EXPECT_EQ(scenario_error_of(d), "events[0].conections is not a known setting");

  d = minimal_scenario();
  d["users"] = 0;
  EXPECT_EQ(scenario_error_of(d), "users must be between 1 and 100000 (got 0)");

  d = minimal_scenario();
  d["events"][0]["connections"] = json{{"from", 10}, {"to", 5}};
  EXPECT_EQ(scenario_error_of(d), "events[0].connections.to must not be below from");

  d = minimal_scenario();
  d["time_limit_s"] = 5;  // the 10th request is due at 9 s
  EXPECT_NE(scenario_error_of(d).find("must be longer than the scenario's schedule (9 s)"),
            std::string::npos)
      << scenario_error_of(d);

  d = minimal_scenario();
  d.erase("name");
  EXPECT_EQ(scenario_error_of(d), "name is required");

  d = minimal_scenario();
  d["events"] = json::array();
  EXPECT_EQ(scenario_error_of(d), "events must be a non-empty list of phases");

  d = minimal_scenario();
  d["triggers"] = json{{"interval_s", 10}};
  EXPECT_EQ(scenario_error_of(d), "triggers.count is required");

  d = minimal_scenario();
  d["events"][0]["schedule"] = json{{"kind", "rounds"}, {"interval_s", 1}, {"spread_s", 2}};
  EXPECT_EQ(scenario_error_of(d), "events[0].schedule.spread_s must not be longer than interval_s");

  EXPECT_THROW(lt::load_scenario("/nonexistent/scenario.json"), lt::ScenarioError);
}

TEST(LoadgenScenarioTest, ARampedRateSendsWhatItsIntegralSays) {
  lt::EventsPhase p;
  p.requests = 34'000;
  p.schedule.kind = lt::Schedule::Kind::kPerConnection;
  p.schedule.interval_s = 4.5;
  p.connections = {.from = 100, .to = 5'000, .ramp_s = 60};
  // (100 + 5,000) / 2 connections on average over 60 s, one request each 4.5 s: 34,000.
  EXPECT_EQ(lt::due_s(p, 1, 0), 0);
  EXPECT_NEAR(lt::due_s(p, 1, 34'000), 60.0, 1e-6);
  // The first requests come at 100 / 4.5 per second, the last at 5,000 / 4.5.
  EXPECT_NEAR(lt::due_s(p, 1, 1), 4.5 / 100, 1e-3);
  EXPECT_NEAR(lt::due_s(p, 1, 34'001) - lt::due_s(p, 1, 34'000), 4.5 / 5'000, 1e-9);
  double previous = -1;
  for (long i = 0; i < 40'000; i += 7) {
    const double t = lt::due_s(p, 1, i);
    ASSERT_GT(t, previous) << i;
    previous = t;
  }

  lt::EventsPhase flat;
  flat.schedule = {.kind = lt::Schedule::Kind::kRate, .rate_from = 250, .rate_to = 250};
  EXPECT_NEAR(lt::due_s(flat, 1, 1'000), 4.0, 1e-9);
}

TEST(LoadgenScenarioTest, RoundsSpreadEachUsersMessagesOverTheRound) {
  lt::EventsPhase p;
  p.schedule = {.kind = lt::Schedule::Kind::kRounds, .interval_s = 10, .spread_s = 2};
  EXPECT_EQ(lt::due_s(p, 4, 0), 0);
  EXPECT_NEAR(lt::due_s(p, 4, 1), 0.5, 1e-9);
  EXPECT_NEAR(lt::due_s(p, 4, 5), 10.5, 1e-9);  // round 1, second user
}

TEST(LoadgenScenarioTest, ConnectionsOpenAlongTheirRamp) {
  const lt::Connections c{.from = 100, .to = 5'000, .ramp_s = 60};
  EXPECT_EQ(lt::connection_opens_s(c, 0), 0);
  EXPECT_EQ(lt::connection_opens_s(c, 99), 0);
  EXPECT_GT(lt::connection_opens_s(c, 100), 0);
  EXPECT_NEAR(lt::connection_opens_s(c, 4'999), 60.0, 1e-9);
  EXPECT_EQ(lt::connections_at(c, 0), 100);
  EXPECT_EQ(lt::connections_at(c, 30), 2'550);
  EXPECT_EQ(lt::connections_at(c, 61), 5'000);
}

TEST(LoadgenScenarioTest, ScalingShrinksTheRunButKeepsItsRates) {
  const auto sc2 = lt::scaled(scenario_file("sc2.json"), 0.05);
  EXPECT_EQ(sc2.total_requests(), 15);
  EXPECT_EQ(sc2.phases[0].schedule.interval_s, 1);  // still one message a second
  ASSERT_TRUE(sc2.triggers);
  EXPECT_EQ(sc2.triggers->count, 1);
  EXPECT_NEAR(sc2.triggers->start_s, 18, 1e-9);
  EXPECT_EQ(sc2.triggers->timeout_s, 300);  // the services' latency does not shrink
  EXPECT_GE(sc2.time_limit_s, sc2.planned_s() + 60);

  const auto sc3 = lt::scaled(scenario_file("sc3.json"), 0.02);
  EXPECT_EQ(sc3.total_requests() % 200, 0);  // whole rounds: everyone sends alike
  EXPECT_EQ(sc3.total_requests(), 1'200);

  const auto sc1 = lt::scaled(scenario_file("sc1.json"), 0.1);
  EXPECT_EQ(sc1.total_requests(), 3'360);
  EXPECT_EQ(sc1.phases[0].schedule.interval_s, 4.5);
  EXPECT_NEAR(sc1.phases[0].connections.ramp_s, 6, 1e-9);
  EXPECT_EQ(sc1.phases[0].connections.to, 5'000);

  EXPECT_EQ(lt::scaled(scenario_file("sc4.json"), 1).total_requests(), 150);
  EXPECT_THROW(lt::scaled(scenario_file("sc4.json"), 0), lt::ScenarioError);
  EXPECT_THROW(lt::scaled(scenario_file("sc4.json"), 1.5), lt::ScenarioError);
}

TEST(LoadgenScenarioTest, TheTriggeredDayIsTheOneWhosePeriodHoldsNow) {
  using namespace std::chrono;
  const auto at = [](int h, int m) {
    return sys_days{year{2026} / 12 / 2} + hours{h} + minutes{m};
  };
  // Seoul (+9), summary at 21: 11:59 UTC is 20:59 there, still 2 December's period.
  EXPECT_EQ(lt::summary_day(at(11, 59), 9, 21), "2026-12-02");
  // 12:00 UTC is 21:00 in Seoul: 3 December's period has begun.
  EXPECT_EQ(lt::summary_day(at(12, 0), 9, 21), "2026-12-03");
  EXPECT_EQ(lt::summary_day(at(23, 30), 0, 21), "2026-12-03");
  EXPECT_EQ(lt::summary_day(at(1, 0), -5, 0), "2026-12-02");  // 20:00 on 1 Dec in -5, hour 0
}
