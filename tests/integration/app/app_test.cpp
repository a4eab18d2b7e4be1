// The app binary against the real PostgreSQL and the Slack simulator: installs into two
// workspaces through a browser's steps (install link, Slack's authorize page, the redirect with
// its cookie), each workspace's token sealed in its own row; a replayed, tampered or expired
// state stores nothing; a key rotation re-seals every token at the next start; no token, client
// secret or key ever reaches a log line.
#include <gtest/gtest.h>

#include <thread>

#include <tracker/http/form.hpp>
#include <tracker/slack/token_cipher.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "environment.hpp"
#include "pg_schema.hpp"
#include "run.hpp"
#include "service_process.hpp"
#include "slack_simulator.hpp"

using namespace std::chrono_literals;
using tracker::testing::ScratchSchema;
using tracker::testing::ServiceProcess;
using tracker::testkit::blocking_request;

namespace {

const std::string kKey1 = tracker::slack::generate_key("k1");
const std::string kKey2 = tracker::slack::generate_key("k2");
constexpr const char* kClientSecret = "sim-client-secret";

class AppProcess : public ServiceProcess {
 public:
  AppProcess(const std::string& schema, const std::string& slack_url, std::uint16_t slack_port,
             std::uint16_t port, std::uint16_t ops_port, const std::string& keys,
             const std::string& output)
      : ServiceProcess(
            TRACKER_APP_BINARY,
            {"DATABASE_URL=" + tracker::testing::test_database_url(), "TRACKER_DB_SCHEMA=" + schema,
             "TRACKER_APP_ADDRESS=127.0.0.1", "TRACKER_APP_PORT=" + std::to_string(port),
             "TRACKER_APP_PUBLIC_URL=http://127.0.0.1:" + std::to_string(port),
             "TRACKER_OPS_ADDRESS=127.0.0.1", "TRACKER_OPS_PORT=" + std::to_string(ops_port),
             "SLACK_CLIENT_ID=1111111111.2222222222",
             std::string("SLACK_CLIENT_SECRET=") + kClientSecret,
             "TRACKER_TOKEN_ENCRYPTION_KEY=" + keys, "SLACK_API_BASE_URL=" + slack_url,
             "SLACK_AUTHORIZE_URL=http://127.0.0.1:" + std::to_string(slack_port) +
                 "/oauth/v2/authorize",
             "TRACKER_OAUTH_STATE_TTL=3s", "TRACKER_DB_RETRY_MAX_INTERVAL=1s",
             "TRACKER_LOG_LEVEL=debug"}) {
    capture_output(output);
    start();
  }
};

struct AppBinary : ::testing::Test {
  ScratchSchema schema;
  tracker::loadtest::SimulatorThread slack;
  std::uint16_t port = tracker::testkit::free_loopback_port();
  std::uint16_t ops_port = tracker::testkit::free_loopback_port();
  std::string output = "/tmp/" + tracker::testing::unique_name("app-log") + ".log";

  ~AppBinary() override { std::remove(output.c_str()); }

  std::unique_ptr<AppProcess> start_app(const std::string& keys) {
    auto app = std::make_unique<AppProcess>(schema.name(), slack.base_url(), slack.port(), port,
                                            ops_port, keys, output);
    const auto [status, body] = tracker::testing::wait_ready(ops_port, 30s);
    EXPECT_EQ(status, 200U) << body << "\n" << app->output();
    return app;
  }

  struct Started {
    std::string authorize_target;  // on the simulator
    std::string cookie;
  };
  Started open_install_link() {
    const auto answer = blocking_request("127.0.0.1", port, "GET", "/slack/install");
    EXPECT_EQ(answer.status, 302U) << answer.body;
    const auto location = answer.header("location");
    const auto cookie = answer.header("set-cookie");
    return {location.substr(location.find("/oauth/v2/authorize")),
            cookie.substr(0, cookie.find(';'))};
  }
  // Slack's authorize page, the person choosing Allow in `team`: where Slack sends the browser.
  std::string allow(const Started& started, const std::string& team) {
    const auto answer = blocking_request("127.0.0.1", slack.port(), "GET",
                                         started.authorize_target + "&team=" + team);
    EXPECT_EQ(answer.status, 302U) << answer.body;
    const auto location = answer.header("location");
    return location.substr(location.find("/slack/oauth_redirect"));
  }
  tracker::testkit::HttpResult follow(const std::string& target, const std::string& cookie) {
    return blocking_request("127.0.0.1", port, "GET", target, {{"Cookie", cookie}});
  }
  tracker::testkit::HttpResult install(const std::string& team) {
    const auto started = open_install_link();
    return follow(allow(started, team), started.cookie);
  }

  std::string sql(const std::string& query) {
    return ScratchSchema::exec("SET search_path TO " + schema.name() + "; " + query);
  }
  // The token Slack issued to `team` last.
  std::string token_of(const std::string& team) {
    std::string token;
    for (const auto& issued : slack.simulator().issued_tokens()) {
      if (issued.team_id == team) token = issued.token;
    }
    return token;
  }
  // The workspace's token as stored, opened with `keys`.
  std::string stored_token(const std::string& team, const std::string& keys) {
    tracker::slack::SealedToken sealed{
        sql("SELECT token_key_id FROM slack_workspaces WHERE team_id = '" + team + "'"), {}};
    std::string text =
        sql("SELECT translate(encode(token_sealed, 'base64'), E'\\n', '') FROM slack_workspaces "
            "WHERE team_id = '" +
            team + "'");
    EXPECT_TRUE(tracker::slack::base64_decode(text, sealed.bytes));
    auto opened = tracker::slack::TokenCipher::parse(keys).open(sealed, team);
    return opened ? opened->reveal() : "(does not open)";
  }
};

}  // namespace

TEST_F(AppBinary, InstallsTwoWorkspacesEachWithItsOwnTokenSealedAtRest) {
  auto app = start_app(kKey1);
  const auto first = install("T1");
  ASSERT_EQ(first.status, 200U) << first.body << app->output();
  const auto second = install("T2");
  ASSERT_EQ(second.status, 200U) << second.body;
  EXPECT_EQ(sql("SELECT count(*) FROM slack_workspaces"), "2");
  ASSERT_FALSE(token_of("T1").empty());
  EXPECT_NE(token_of("T1"), token_of("T2"));
  for (const char* team : {"T1", "T2"}) {
    EXPECT_EQ(sql(std::string("SELECT token_key_id FROM slack_workspaces WHERE team_id = '") +
                  team + "'"),
              "k1");
    EXPECT_EQ(stored_token(team, kKey1), token_of(team));
    // The token's bytes are nowhere in the row.
    EXPECT_EQ(
        sql("SELECT position(convert_to('" + token_of(team) +
            "', 'UTF8') in token_sealed) FROM slack_workspaces WHERE team_id = '" + team + "'"),
        "0");
  }
  EXPECT_EQ(sql("SELECT bot_user_id || ' ' || team_name FROM slack_workspaces WHERE team_id = "
                "'T2'"),
            "U0BOTT2 Workspace T2");

  // Reinstalling takes the new token.
  ASSERT_EQ(install("T1").status, 200U);
  EXPECT_EQ(sql("SELECT count(*) FROM slack_workspaces"), "2");
  EXPECT_EQ(stored_token("T1", kKey1), token_of("T1"));

  EXPECT_EQ(app->terminate(), 0);
  const std::string logged = app->output();
  EXPECT_NE(logged.find("\"installed\""), std::string::npos) << logged;
  for (const auto& issued : slack.simulator().issued_tokens()) {
    EXPECT_EQ(logged.find(issued.token), std::string::npos) << "a token reached the log";
    EXPECT_EQ(logged.find(issued.token.substr(5)), std::string::npos);
  }
  EXPECT_EQ(logged.find(kClientSecret), std::string::npos);
  EXPECT_EQ(logged.find(kKey1.substr(3)), std::string::npos);
}

TEST_F(AppBinary, AReplayedATamperedAndAnExpiredStateStoreNothing) {
  auto app = start_app(kKey1);
  const auto started = open_install_link();
  const std::string redirect = allow(started, "T1");
  ASSERT_EQ(follow(redirect, started.cookie).status, 200U);
  const auto replayed = follow(redirect, started.cookie);
  EXPECT_EQ(replayed.status, 400U);
  EXPECT_NE(replayed.body.find("used already"), std::string::npos) << replayed.body;
  EXPECT_EQ(sql("SELECT count(*) FROM slack_oauth_states"), "1");
  EXPECT_EQ(slack.simulator().issued_tokens().size(), 1U);

  const auto second = open_install_link();
  std::string tampered = allow(second, "T2");
  const auto at = tampered.find("state=") + 8;
  tampered[at] = tampered[at] == 'Q' ? 'R' : 'Q';
  const auto refused = follow(tampered, second.cookie);
  EXPECT_EQ(refused.status, 400U) << refused.body;

  const auto third = open_install_link();
  const std::string late = allow(third, "T3");
  std::this_thread::sleep_for(3500ms);  // TRACKER_OAUTH_STATE_TTL=3s
  const auto expired = follow(late, third.cookie);
  EXPECT_EQ(expired.status, 400U);
  EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired.body;

  EXPECT_EQ(sql("SELECT string_agg(team_id, ',') FROM slack_workspaces"), "T1");
  EXPECT_EQ(slack.simulator().issued_tokens().size(), 1U);
  const auto metrics = tracker::testkit::blocking_get("127.0.0.1", ops_port, "/metrics");
  for (const char* outcome :
       {"installed\"} 1", "replayed_state\"} 1", "bad_state\"} 1", "expired_state\"} 1"}) {
    EXPECT_NE(metrics.body.find(std::string("tracker_app_installs_total{outcome=\"") + outcome),
              std::string::npos)
        << outcome << "\n"
        << metrics.body;
  }
}

TEST_F(AppBinary, AKeyRotationResealsEveryTokenAtTheNextStart) {
  auto app = start_app(kKey1);
  ASSERT_EQ(install("T1").status, 200U);
  ASSERT_EQ(install("T2").status, 200U);
  ASSERT_EQ(app->terminate(), 0);

  app = start_app(kKey2 + "," + kKey1);
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (sql("SELECT count(*) FROM slack_workspaces WHERE token_key_id = 'k2'") != "2" &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  for (const char* team : {"T1", "T2"}) {
    EXPECT_EQ(stored_token(team, kKey2), token_of(team)) << team;  // the old key is not needed
  }
  EXPECT_NE(app->output().find("\"tokens_resealed\""), std::string::npos) << app->output();
  EXPECT_EQ(app->terminate(), 0);
}

TEST_F(AppBinary, ABadKeySettingIsRefusedByNameWithoutShowingTheKey) {
  const std::string short_key = "k1:" + tracker::slack::base64_encode("only sixteen b..");
  AppProcess app(schema.name(), slack.base_url(), slack.port(), port, ops_port, short_key, output);
  EXPECT_EQ(app.wait_exit(10s), 2);
  const std::string logged = app.output();
  EXPECT_NE(logged.find("TRACKER_TOKEN_ENCRYPTION_KEY"), std::string::npos) << logged;
  EXPECT_NE(logged.find("is 16 bytes; AES-256 needs 32"), std::string::npos) << logged;
  EXPECT_EQ(logged.find(short_key.substr(3)), std::string::npos) << logged;
}
