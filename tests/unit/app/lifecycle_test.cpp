// Which slack-events records are the app's lifecycle events, and what they say.
#include <gtest/gtest.h>

#include <tracker/app/lifecycle.hpp>

using tracker::app::read_lifecycle;

namespace {

tracker::messages::Envelope envelope(const std::string& event, const std::string& extra = "") {
  tracker::messages::Envelope out;
  out.event_id = "Ev1";
  out.team_id = "T1";
  out.payload = nlohmann::json::parse(R"({"type":"event_callback","team_id":"T1","event":)" +
                                      event + extra + "}");
  return out;
}

}  // namespace

TEST(Lifecycle, AnUninstallRevokesAtItsEventTime) {
  const auto read =
      read_lifecycle(envelope(R"({"type":"app_uninstalled"})", R"(,"event_time":1800000000)"));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->team_id, "T1");
  EXPECT_EQ(read->reason, "app_uninstalled");
  EXPECT_EQ(read->at, std::chrono::system_clock::time_point{std::chrono::seconds{1'800'000'000}});
}

TEST(Lifecycle, RevokedTokensMatterOnlyWhenABotTokenIsAmongThem) {
  const auto bot = read_lifecycle(
      envelope(R"({"type":"tokens_revoked","tokens":{"oauth":["U1"],"bot":["U0BOT"]}})"));
  ASSERT_TRUE(bot);
  EXPECT_EQ(bot->reason, "tokens_revoked");
  EXPECT_FALSE(
      read_lifecycle(envelope(R"({"type":"tokens_revoked","tokens":{"oauth":["U1"],"bot":[]}})")));
  EXPECT_FALSE(read_lifecycle(envelope(R"({"type":"tokens_revoked","tokens":{"oauth":["U1"]}})")));
  EXPECT_FALSE(read_lifecycle(envelope(R"({"type":"tokens_revoked"})")));
}

TEST(Lifecycle, EverythingElseIsLeftAlone) {
  EXPECT_FALSE(read_lifecycle(envelope(R"({"type":"message","text":"SQL 1h","user":"U1"})")));
  EXPECT_FALSE(read_lifecycle(envelope(R"({"type":"app_home_opened","user":"U1"})")));
  EXPECT_FALSE(read_lifecycle(envelope(R"("not an object")")));
  EXPECT_TRUE(tracker::app::is_lifecycle_type("app_uninstalled"));
  EXPECT_FALSE(tracker::app::is_lifecycle_type("message"));
}
