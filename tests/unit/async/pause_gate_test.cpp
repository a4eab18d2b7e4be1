// async::PauseGate: counted reasons, pause and resume on the edges only.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <tracker/async/pause_gate.hpp>

using tracker::async::PauseGate;

namespace {

struct Recorder {
  std::vector<std::string> calls;
  PauseGate gate{[this] { calls.emplace_back("pause"); }, [this] { calls.emplace_back("resume"); }};
};

}  // namespace

TEST(PauseGate, PausesOnTheFirstHoldAndResumesOnTheLastRelease) {
  Recorder r;
  r.gate.hold("database");
  r.gate.hold("database");
  r.gate.hold("dead_letter");
  EXPECT_EQ(r.calls, (std::vector<std::string>{"pause"}));
  EXPECT_EQ(r.gate.count("database"), 2U);
  EXPECT_EQ(r.gate.describe(), "database,dead_letter");
  EXPECT_TRUE(r.gate.release("database"));
  EXPECT_TRUE(r.gate.release("dead_letter"));
  EXPECT_TRUE(r.gate.held());
  EXPECT_EQ(r.gate.reasons(), (std::vector<std::string>{"database"}));
  EXPECT_EQ(r.calls, (std::vector<std::string>{"pause"}));
  EXPECT_TRUE(r.gate.release("database"));
  EXPECT_FALSE(r.gate.held());
  EXPECT_EQ(r.gate.describe(), "");
  EXPECT_EQ(r.calls, (std::vector<std::string>{"pause", "resume"}));
}

TEST(PauseGate, ReleasingAReasonNotHeldChangesNothing) {
  Recorder r;
  EXPECT_FALSE(r.gate.release("database"));
  r.gate.hold("stalled");
  EXPECT_FALSE(r.gate.release("database"));
  EXPECT_TRUE(r.gate.holds("stalled"));
  EXPECT_FALSE(r.gate.holds("database"));
  EXPECT_EQ(r.calls, (std::vector<std::string>{"pause"}));
}

TEST(PauseGate, PausesAgainAfterAResume) {
  Recorder r;
  r.gate.hold("a");
  r.gate.release("a");
  r.gate.hold("b");
  EXPECT_EQ(r.calls, (std::vector<std::string>{"pause", "resume", "pause"}));
}

TEST(PauseGate, AWatcherSeesItsReasonsFirstHoldAndLastReleaseOnly) {
  Recorder r;
  std::vector<bool> database;
  r.gate.watch("database", [&database](bool held) { database.push_back(held); });
  r.gate.hold("database");
  r.gate.hold("database");  // a second lane in the same outage
  r.gate.hold("stalled");
  r.gate.release("database");
  EXPECT_EQ(database, (std::vector<bool>{true}));
  r.gate.release("database");
  r.gate.release("stalled");
  EXPECT_EQ(database, (std::vector<bool>{true, false}));
  EXPECT_FALSE(r.gate.release("database"));
  EXPECT_EQ(database, (std::vector<bool>{true, false})) << "a release of nothing is no change";
}
