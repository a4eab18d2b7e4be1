// The app binary against the real PostgreSQL and the Slack simulator: installs into two
// workspaces through a browser's steps (install link, Slack's authorize page, the redirect with
// its cookie), each workspace's token sealed in its own row; a replayed, tampered or expired
// state stores nothing; a key rotation re-seals every token at the next start; no token, client
// secret or key ever reaches a log line.
#include <gtest/gtest.h>

#include <thread>

#include <tracker/http/form.hpp>
#include <tracker/log/timestamp.hpp>
#include <tracker/slack/signature.hpp>
#include <tracker/slack/token_cipher.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "../notifier/notifier_process.hpp"
#include "../summaries/in_process_scheduler.hpp"
#include "environment.hpp"
#include "kafka_topic.hpp"
#include "pg_schema.hpp"
#include "run.hpp"
#include "service_process.hpp"
#include "slack_simulator.hpp"
#include "topic_checks.hpp"

#include <tracker/messages/outbox.hpp>

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
             const std::string& output, std::vector<std::string> extra = {})
      : ServiceProcess(
            TRACKER_APP_BINARY,
            with(std::move(extra),
                 {"DATABASE_URL=" + tracker::testing::test_database_url(),
                  "TRACKER_DB_SCHEMA=" + schema, "TRACKER_APP_ADDRESS=127.0.0.1",
                  "TRACKER_APP_PORT=" + std::to_string(port),
                  "TRACKER_APP_PUBLIC_URL=http://127.0.0.1:" + std::to_string(port),
                  "TRACKER_OPS_ADDRESS=127.0.0.1", "TRACKER_OPS_PORT=" + std::to_string(ops_port),
                  "SLACK_CLIENT_ID=1111111111.2222222222",
                  std::string("SLACK_CLIENT_SECRET=") + kClientSecret,
                  "TRACKER_TOKEN_ENCRYPTION_KEY=" + keys, "SLACK_API_BASE_URL=" + slack_url,
                  "SLACK_AUTHORIZE_URL=http://127.0.0.1:" + std::to_string(slack_port) +
                      "/oauth/v2/authorize",
                  "TRACKER_OAUTH_STATE_TTL=3s", "TRACKER_DB_RETRY_MAX_INTERVAL=1s",
                  "TRACKER_LOG_LEVEL=debug"})) {
    capture_output(output);
    start();
  }

 private:
  static std::vector<std::string> with(std::vector<std::string> extra,
                                       std::vector<std::string> env) {
    for (auto& e : extra) env.push_back(std::move(e));
    return env;
  }
};

struct AppBinary : ::testing::Test {
  ScratchSchema schema;
  tracker::loadtest::SimulatorThread slack;
  std::uint16_t port = tracker::testkit::free_loopback_port();
  std::uint16_t ops_port = tracker::testkit::free_loopback_port();
  std::string output = "/tmp/" + tracker::testing::unique_name("app-log") + ".log";
  // The app's own topics and groups unless a test gives others: nothing another test (or the
  // main job) left on the shared topics reaches this test's schema.
  tracker::testing::ScratchTopic app_events{1};
  tracker::testing::ScratchTopic app_commands{1};
  tracker::testing::ScratchTopic app_summaries{1};  // /study summary's claimed jobs
  std::string app_group = tracker::testing::unique_name("app");

  ~AppBinary() override { std::remove(output.c_str()); }

  std::unique_ptr<AppProcess> start_app(const std::string& keys,
                                        std::vector<std::string> extra = {}) {
    extra.insert(
        extra.begin(),
        {"TRACKER_APP_TOPIC=" + app_events.name(),
         "TRACKER_APP_COMMAND_TOPIC=" + app_commands.name(), "TRACKER_APP_GROUP=" + app_group,
         "TRACKER_SCHEDULER_TOPIC=" + app_summaries.name(), "TRACKER_APP_INSTANCE=study-test"});
    auto app = std::make_unique<AppProcess>(schema.name(), slack.base_url(), slack.port(), port,
                                            ops_port, keys, output, std::move(extra));
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

namespace {

tracker::testing::TopicRecord outbox_for(const std::string& team, const std::string& channel,
                                         const std::string& id) {
  tracker::messages::OutboxMessage message{.delivery_id = id,
                                           .team_id = team,
                                           .channel = channel,
                                           .text = "feedback " + id,
                                           .created_at = std::chrono::system_clock::now()};
  return {tracker::messages::outbox_key(message), tracker::messages::encode_outbox(message)};
}

tracker::testing::TopicRecord uninstalled(const std::string& team) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return tracker::testing::record_of(
      R"({"token":"x","team_id":")" + team + R"(","api_app_id":"A0SIMAPP",)" +
      R"("event":{"type":"app_uninstalled"},"type":"event_callback",)" + R"("event_id":"Ev)" +
      team + R"(UNINSTALL","event_time":)" + std::to_string(now) + "}");
}

}  // namespace

// Two workspaces, each posted to with its own token; one that never installed the app gets
// SLACK_BOT_TOKEN's posts (the one-workspace token beside the installs); an uninstall with a
// backlog queued for the workspace: nothing more is posted there, the backlog goes to the
// dead-letter topic, and the workspace's data is deleted after the retention while the other
// workspace's stays. No token reaches a metric.
TEST_F(AppBinary, EachWorkspacePostsWithItsOwnTokenAndAnUninstallStopsItsPosts) {
  tracker::testing::ScratchTopic events{1};
  tracker::testing::ScratchTopic outbox{3};
  tracker::testing::ScratchTopic dlq{1};
  auto app = start_app(kKey1, {"TRACKER_APP_TOPIC=" + events.name(),
                               "TRACKER_APP_GROUP=" + tracker::testing::unique_name("app"),
                               "TRACKER_WORKSPACE_RETENTION=3s", "TRACKER_PRUNE_INTERVAL=1s"});
  ASSERT_EQ(install("T1").status, 200U);
  ASSERT_EQ(install("T2").status, 200U);
  for (const char* team : {"T1", "T2"}) {
    sql(std::string("INSERT INTO users (team_id, user_id) VALUES ('") + team + "', 'U1')");
    sql(std::string("INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, "
                    "posted_at) VALUES ('") +
        team + "', 'U1', 'C1', '1.0', 'Ev" + team + "', 'SQL 1h', now())");
  }
  const std::string group = tracker::testing::unique_name("notifier");
  // SLACK_BOT_TOKEN (xoxb-simulated) stays set: the fallback for workspaces without an install.
  // At debug, every line the notifier can write about a post; all of them are searched for
  // tokens below.
  const std::vector<std::string> multi = {"TRACKER_TOKEN_ENCRYPTION_KEY=" + kKey1,
                                          "TRACKER_LOG_LEVEL=debug"};
  const std::string notifier_log = output + ".notifier";
  auto notifier = std::make_unique<tracker::testing::NotifierProcess>(
      schema.name(), outbox.name(), dlq.name(), group, slack.base_url(), multi, notifier_log);
  ASSERT_EQ(tracker::testing::wait_ready(notifier->ops_port(), 30s).first, 200U);

  tracker::testing::produce(
      outbox.name(),
      {outbox_for("T1", "C1", "d1"), outbox_for("T2", "C2", "d2"), outbox_for("T1", "C1", "d3"),
       outbox_for("T2", "C2", "d4"), outbox_for("T3", "C3", "d5")});
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (slack.simulator().messages().size() < 5 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  const auto posted = slack.simulator().messages();
  ASSERT_EQ(posted.size(), 5U);
  for (const auto& message : posted) {
    if (message.channel == "C3") {
      EXPECT_EQ(message.token, "xoxb-simulated");
      continue;
    }
    EXPECT_EQ(message.token, token_of(message.channel == "C1" ? "T1" : "T2")) << message.channel;
    EXPECT_EQ(message.workspace, message.channel == "C1" ? "T1" : "T2");
  }

  // A backlog for T2 waits in the topic while no notifier runs; then T2 uninstalls.
  ASSERT_EQ(notifier->terminate(), 0);
  tracker::testing::produce(
      outbox.name(),
      {outbox_for("T2", "C2", "d6"), outbox_for("T2", "C2", "d7"), outbox_for("T1", "C1", "d8")});
  tracker::testing::produce(events.name(), {uninstalled("T2")});
  const std::string revoked = tracker::testing::wait_for(
      "SET search_path TO " + schema.name() +
          "; SELECT revoke_reason || ' ' || (token_sealed IS NULL) || ' ' || "
          "(delete_after IS NOT NULL) FROM slack_workspaces WHERE team_id = 'T2'",
      "app_uninstalled true true", 30s);
  ASSERT_EQ(revoked, "app_uninstalled true true");
  std::string logged = notifier->output();
  notifier = std::make_unique<tracker::testing::NotifierProcess>(
      schema.name(), outbox.name(), dlq.name(), group, slack.base_url(), multi, notifier_log + "2");
  const auto letters = tracker::testing::read_dead_letters(dlq.name(), 2);
  ASSERT_EQ(letters.size(), 2U);
  for (const auto& letter : letters) {
    EXPECT_EQ(letter.headers.at("x-error-reason"), "workspace_uninstalled");
  }
  const auto after = std::chrono::steady_clock::now() + 30s;
  while (slack.simulator().messages().size() < 6 && std::chrono::steady_clock::now() < after) {
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(500ms);
  const auto all = slack.simulator().messages();
  ASSERT_EQ(all.size(), 6U);  // d8 for T1, nothing more for T2
  EXPECT_EQ(all.back().channel, "C1");

  // The retention passes: T2's data goes, T1's stays.
  EXPECT_EQ(tracker::testing::wait_for(
                "SET search_path TO " + schema.name() + "; SELECT count(*) FROM slack_workspaces",
                "1", 30s),
            "1");
  EXPECT_EQ(sql("SELECT string_agg(DISTINCT team_id, ',') FROM study_logs"), "T1");
  EXPECT_EQ(sql("SELECT string_agg(DISTINCT team_id, ',') FROM users"), "T1");
  EXPECT_EQ(sql("SELECT count(*) FROM slack_deliveries WHERE team_id = 'T2'"), "0");

  for (const std::uint16_t metrics_port : {ops_port, notifier->ops_port()}) {
    const auto metrics = tracker::testkit::blocking_get("127.0.0.1", metrics_port, "/metrics");
    for (const auto& issued : slack.simulator().issued_tokens()) {
      EXPECT_EQ(metrics.body.find(issued.token.substr(5)), std::string::npos);
    }
  }
  EXPECT_EQ(notifier->terminate(), 0);
  EXPECT_EQ(app->terminate(), 0);
  EXPECT_NE(app->output().find("\"workspace_deleted\""), std::string::npos);
  // Tokens never reach a log line: the app's, and both notifiers' (which posted with them).
  EXPECT_FALSE(logged.empty());  // the first notifier's lines, at debug
  logged += notifier->output() + app->output();
  for (const auto& issued : slack.simulator().issued_tokens()) {
    EXPECT_EQ(logged.find(issued.token.substr(5)), std::string::npos) << "a token reached a log";
  }
  EXPECT_EQ(logged.find("xoxb-simulated"), std::string::npos);
  for (const auto& path : {notifier_log, notifier_log + "2"}) std::remove(path.c_str());
}

// ---- /study, from ingest's endpoint to the answer at the response_url

namespace {

constexpr const char* kSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";

}  // namespace

struct StudyCommand : AppBinary {
  tracker::testing::ScratchTopic events{1};
  tracker::testing::ScratchTopic commands{1};
  std::uint16_t ingest_port = tracker::testkit::free_loopback_port();
  std::uint16_t ingest_ops_port = tracker::testkit::free_loopback_port();
  std::unique_ptr<ServiceProcess> ingest;
  std::unique_ptr<AppProcess> app;

  void SetUp() override {
    ingest = std::make_unique<ServiceProcess>(
        TRACKER_INGEST_BINARY,
        std::vector<std::string>{std::string("SLACK_SIGNING_SECRET=") + kSigningSecret,
                                 "TRACKER_INGEST_ADDRESS=127.0.0.1",
                                 "TRACKER_INGEST_PORT=" + std::to_string(ingest_port),
                                 "TRACKER_OPS_PORT=" + std::to_string(ingest_ops_port),
                                 "TRACKER_INGEST_TOPIC=" + events.name(),
                                 "TRACKER_INGEST_COMMAND_TOPIC=" + commands.name(),
                                 "TRACKER_LOG_LEVEL=error"});
    ingest->start();
    ASSERT_EQ(tracker::testing::wait_ready(ingest_ops_port, 30s).first, 200U);
    app = start_app(
        kKey1,
        {"TRACKER_APP_TOPIC=" + events.name(), "TRACKER_APP_COMMAND_TOPIC=" + commands.name(),
         "TRACKER_APP_GROUP=" + tracker::testing::unique_name("app"),
         "SLACK_RESPONSE_URL_ORIGIN=http://127.0.0.1:" + std::to_string(slack.port()),
         // The one-workspace token, for T1 (which never installed the app).
         "SLACK_BOT_TOKEN=xoxb-simulated"});
  }

  // POSTs `body` to ingest's `path`, signed now as Slack signs it.
  tracker::testkit::HttpResult signed_post(const std::string& path, const std::string& content_type,
                                           const std::string& body) {
    const std::string ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    return blocking_request("127.0.0.1", ingest_port, "POST", path,
                            {{"Content-Type", content_type},
                             {"X-Slack-Request-Timestamp", ts},
                             {"X-Slack-Signature", tracker::slack::sign(kSigningSecret, ts, body)}},
                            body);
  }
  // Sends a signed Events API body to ingest, as Slack does.
  void deliver(const std::string& body) {
    const auto answer = signed_post("/slack/events", "application/json", body);
    ASSERT_EQ(answer.status, 200U) << answer.body;
  }
  static std::string message_event(const std::string& user, int n) {
    return R"({"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback",)"
           R"("event_id":"EvM)" +
           user + std::to_string(n) +
           R"(","event_time":1733400000,)"
           R"("event":{"type":"message","channel":"C1","user":")" +
           user + R"(","text":"SQL 1h","ts":"1733400000.00010)" + std::to_string(n) +
           R"(","channel_type":"channel"}})";
  }
  static std::string user_change(const std::string& user, const std::string& tz, int n) {
    return R"({"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback",)"
           R"("event_id":"EvU)" +
           user + std::to_string(n) +
           R"(","event_time":1733400000,)"
           R"("event":{"type":"user_change","user":{"id":")" +
           user + R"(","tz":")" + tz + R"(","tz_offset":0,"deleted":false}}})";
  }

  // Types `/study <text>` as U1 in T1; returns ingest's immediate answer.
  nlohmann::json type(const std::string& text, const std::string& response_url = "") {
    const std::string body = tracker::http::form_body(
        {{"team_id", "T1"},
         {"channel_id", "C1"},
         {"user_id", "U1"},
         {"command", "/study"},
         {"text", text},
         {"response_url", response_url.empty()
                              ? "http://127.0.0.1:" + std::to_string(slack.port()) +
                                    "/commands/T1/" + std::to_string(++typed)
                              : response_url}});
    const auto answer = signed_post("/slack/commands", "application/x-www-form-urlencoded", body);
    EXPECT_EQ(answer.status, 200U) << answer.body;
    return nlohmann::json::parse(answer.body, nullptr, false);
  }
  // The app's answer to the command typed last.
  std::string answer() {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until) {
      for (const auto& response : slack.simulator().responses()) {
        if (response.path == "/commands/T1/" + std::to_string(typed)) {
          EXPECT_EQ(response.body.value("response_type", ""), "ephemeral");
          return response.body.value("text", "");
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    return "(no answer)";
  }
  int typed = 0;
};

TEST_F(StudyCommand, EverySubcommandIsAnsweredInTheLanguageItWasTypedIn) {
  sql("INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at, "
      "duration_minutes, topics) VALUES ('T1', 'U1', 'C1', '1.1', 'Ev1', 'kafka 90m', "
      "now() - interval '1 minute', 90, '{kafka}'), ('T1', 'U1', 'C1', '1.2', 'Ev2', 'sql 30m', "
      "now() - interval '2 minutes', 30, '{sql}')");

  EXPECT_EQ(type("week").value("text", ""), "Working on it…");
  const std::string week = answer();
  EXPECT_NE(week.find("*The last 7 days* (Asia/Seoul)"), std::string::npos) << week;
  EXPECT_NE(week.find("████████████ 2h 00m · 2 logs · kafka, sql"), std::string::npos) << week;

  EXPECT_EQ(type("오늘").value("text", ""), "확인하고 있습니다…");
  const std::string today = answer();
  EXPECT_NE(today.find("기록 2개, 2시간"), std::string::npos) << today;

  type("settings tz America/New_York");
  EXPECT_EQ(answer(),
            "Time zone set to America/New_York: your next feedback comes at 21:00 there.");
  EXPECT_EQ(sql("SELECT time_zone FROM users WHERE user_id = 'U1'"), "America/New_York");

  type("settings tz Mars/Olympus_Mons");
  EXPECT_NE(answer().find("is not a time zone the tracker knows"), std::string::npos);
  EXPECT_EQ(sql("SELECT time_zone FROM users WHERE user_id = 'U1'"), "America/New_York");

  type("설정 시각 7");
  EXPECT_EQ(answer(), "이제 피드백은 매일 07:00 (America/New_York)에 옵니다.");
  type("pause");
  EXPECT_NE(answer().find("Feedback paused"), std::string::npos);
  EXPECT_EQ(sql("SELECT opted_out || ' ' || summary_hour FROM users WHERE user_id = 'U1'"),
            "true 7");
  type("settings");
  EXPECT_EQ(answer(),
            "*Your settings*\n• Time zone: America/New_York\n• Feedback hour: 07:00 every day\n"
            "• Feedback: paused (`/study resume`)");
  type("resume");
  EXPECT_EQ(answer(), "Feedback resumed: next at 07:00 (America/New_York).");

  // Help and mistakes are ingest's own answers: nothing reaches the app.
  const auto responses = slack.simulator().responses().size();
  EXPECT_NE(type("help").value("text", "").find("/study week"), std::string::npos);
  EXPECT_NE(type("settings hour 25").value("text", "").find("“25” is not"), std::string::npos);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(slack.simulator().responses().size(), responses);

  // A response_url elsewhere than Slack's origin is never called.
  type("week", "https://attacker.example.com/commands/T1/1");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(slack.simulator().responses().size(), responses);
  const auto metrics = tracker::testkit::blocking_get("127.0.0.1", ops_port, "/metrics").body;
  EXPECT_NE(metrics.find(R"(tracker_app_command_responses_total{outcome="foreign_url"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(tracker_app_commands_total{outcome="answered",subcommand="week"} 2)"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(app->terminate(), 0);
  EXPECT_EQ(ingest->terminate(), 0);
}

TEST_F(StudyCommand, ATimeZoneIsLearnedFromSlackChangedByUserChangeAndOverriddenBySettings) {
  slack.simulator().set_user_time_zone("U7", "Europe/Berlin");
  slack.simulator().set_user_locale("U7", "ko-KR");
  const std::string zone_of_u7 =
      "SET search_path TO " + schema.name() +
      "; SELECT time_zone || ' ' || time_zone_source FROM users WHERE user_id = 'U7'";
  deliver(message_event("U7", 1));
  EXPECT_EQ(tracker::testing::wait_for(zone_of_u7, "Europe/Berlin slack", 30s),
            "Europe/Berlin slack");
  deliver(message_event("U7", 2));
  deliver(message_event("U7", 3));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(slack.simulator().users_info_requests()["U7"], 1) << "asked once";
  // The locale came with it (include_locale): U7's App Home is in Korean, wherever U7 lives.
  EXPECT_EQ(sql("SELECT locale FROM users WHERE user_id = 'U7'"), "ko-KR");

  deliver(user_change("U7", "Asia/Tokyo", 1));
  EXPECT_EQ(tracker::testing::wait_for(zone_of_u7, "Asia/Tokyo slack", 30s), "Asia/Tokyo slack");

  // Chosen with /study: Slack's later changes no longer apply.
  const std::string body = tracker::http::form_body(
      {{"team_id", "T1"},
       {"channel_id", "C1"},
       {"user_id", "U7"},
       {"command", "/study"},
       {"text", "settings tz America/Chicago"},
       {"response_url", "http://127.0.0.1:" + std::to_string(slack.port()) + "/commands/T1/u7"}});
  ASSERT_EQ(signed_post("/slack/commands", "application/x-www-form-urlencoded", body).status, 200U);
  EXPECT_EQ(tracker::testing::wait_for(zone_of_u7, "America/Chicago user", 30s),
            "America/Chicago user");
  deliver(user_change("U7", "Europe/Paris", 2));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(sql("SELECT time_zone || ' ' || time_zone_source FROM users WHERE user_id = 'U7'"),
            "America/Chicago user");
  const auto metrics = tracker::testkit::blocking_get("127.0.0.1", ops_port, "/metrics").body;
  EXPECT_NE(metrics.find(R"(tracker_app_time_zones_learned_total{source="user_change"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(tracker_app_users_info_total{outcome="ok"} 1)"), std::string::npos);

  // The next summary comes at 21:00 in the zone chosen last (America/Chicago, UTC-6 in
  // December), not at 21:00 in Tokyo, where Slack last placed U7. A log early on 10 December
  // lies in both zones' periods for that day; a short catch-up window makes each tick claim
  // only what just fell due.
  sql("INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at) "
      "VALUES ('T1', 'U7', 'C1', '9.1', 'EvTz', 'kafka 1h', '2026-12-10T06:00:00Z')");
  tracker::testing::ScratchTopic requests{1};
  tracker::scheduler::SchedulerOptions options;
  options.catch_up_window = 5min;
  tracker::testing::InProcessScheduler scheduler(schema.name(), requests.name(), options);
  const auto at = [](const char* iso) { return *tracker::log::parse_iso8601_utc(iso); };
  EXPECT_EQ(scheduler.tick(at("2026-12-10T12:00:30Z")).claimed, 0U);  // 21:00:30 in Tokyo
  EXPECT_EQ(scheduler.tick(at("2026-12-11T02:59:30Z")).claimed, 0U);  // 20:59:30 in Chicago
  EXPECT_EQ(scheduler.tick(at("2026-12-11T03:00:30Z")).claimed, 1U);  // 21:00:30 in Chicago
  EXPECT_EQ(sql("SELECT day || ' ' || time_zone || ' ' || reason FROM summary_jobs "
                "WHERE user_id = 'U7'"),
            "2026-12-10 America/Chicago scheduled");
}

TEST_F(StudyCommand, OpeningTheAppHomePublishesThePersonsWeekAndItsButtonPausesTheFeedback) {
  sql("INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at, "
      "duration_minutes, topics) VALUES ('T1', 'U1', 'C1', '1.1', 'Ev1', 'kafka 90m', "
      "now() - interval '1 minute', 90, '{kafka}')");
  const std::string opened =
      R"({"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback",)"
      R"("event_id":"EvHOME1","event_time":1733400000,)"
      R"("event":{"type":"app_home_opened","user":"U1","channel":"D1","tab":"home"}})";
  deliver(opened);
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (slack.simulator().home_views().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  const auto views = slack.simulator().home_views();
  ASSERT_EQ(views.size(), 1U);
  EXPECT_EQ(views[0].user_id, "U1");
  const std::string text = views[0].view.dump();
  EXPECT_NE(text.find("1시간 30분"), std::string::npos) << text;  // Asia/Seoul, the default
  EXPECT_NE(text.find("kafka"), std::string::npos) << text;
  // Opened again at once: not published again within TRACKER_APP_HOME_MIN_INTERVAL.
  deliver(R"({"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback",)"
          R"("event_id":"EvHOME2","event_time":1733400001,)"
          R"("event":{"type":"app_home_opened","user":"U1","channel":"D1","tab":"home"}})");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(slack.simulator().home_views().size(), 1U);

  // Its button: Pause. Ingest takes the press, the app pauses U1 and publishes the home again
  // at once (a button's answer), now with Resume.
  ASSERT_NE(text.find("study_pause"), std::string::npos) << text;
  const nlohmann::json press = {{"type", "block_actions"},
                                {"team", {{"id", "T1"}}},
                                {"user", {{"id", "U1"}, {"team_id", "T1"}}},
                                {"container", {{"type", "view"}, {"view_id", "V1"}}},
                                {"actions", {{{"action_id", "study_pause"}, {"type", "button"}}}}};
  const std::string body = tracker::http::form_body({{"payload", press.dump()}});
  const auto pressed =
      signed_post("/slack/interactivity", "application/x-www-form-urlencoded", body);
  ASSERT_EQ(pressed.status, 200U) << pressed.body;
  const auto republished = std::chrono::steady_clock::now() + 30s;
  while (slack.simulator().home_views().size() < 2 &&
         std::chrono::steady_clock::now() < republished) {
    std::this_thread::sleep_for(50ms);
  }
  const auto after = slack.simulator().home_views();
  ASSERT_EQ(after.size(), 2U);
  EXPECT_EQ(sql("SELECT opted_out FROM users WHERE user_id = 'U1'"), "t");
  const std::string paused = after[1].view.dump();
  EXPECT_NE(paused.find("study_resume"), std::string::npos) << paused;
  EXPECT_NE(paused.find("일시정지"), std::string::npos) << paused;  // the settings say paused
  EXPECT_TRUE(slack.simulator().responses().empty()) << "a button has no response_url";
}

TEST_F(StudyCommand, SummaryClaimsTodaysFeedbackWithTheSchedulersClaimOnceUnlessAskedAgain) {
  // The summary hour twelve hours from now in Seoul: the log a minute old is in the running
  // period whatever the time of day the test runs (SchedulerTest covers the hour's edges).
  sql("INSERT INTO users (team_id, user_id, time_zone, summary_hour) VALUES ('T1', 'U1', "
      "'Asia/Seoul', "
      "(extract(hour FROM now() AT TIME ZONE 'Asia/Seoul')::int + 12) % 24); "
      "INSERT INTO study_logs (team_id, user_id, channel_id, ts, event_id, body, posted_at) "
      "VALUES ('T1', 'U1', 'C1', '1.1', 'Ev1', 'kafka 1h', now() - interval '1 minute')");

  type("summary");
  EXPECT_EQ(answer(), "Your feedback for today is being written; it will arrive shortly.");
  EXPECT_EQ(sql("SELECT count(*) || ' ' || max(reason) || ' ' || max(claimed_by) || ' ' || "
                "bool_and(published_at IS NOT NULL) FROM summary_jobs WHERE user_id = 'U1'"),
            "1 trigger study-test true");
  type("요약");
  EXPECT_EQ(answer(), "오늘의 피드백은 이미 쓰였습니다. 새로 받으려면 `/study 요약 다시`.");
  type("summary again");
  EXPECT_EQ(answer(), "Your feedback for today is being written; it will arrive shortly.");
  EXPECT_EQ(sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM summary_jobs "
                "WHERE user_id = 'U1'"),
            "1,2");
  // Each claim is a summary request on the topic the summarizer reads, once.
  const auto requests = tracker::testing::read_records(app_summaries.name(), 2);
  ASSERT_EQ(requests.size(), 2U);
  const auto first = nlohmann::json::parse(requests[0].value);
  const auto second = nlohmann::json::parse(requests[1].value);
  EXPECT_EQ(first.value("user_id", ""), "U1");
  EXPECT_EQ(first.value("reason", ""), "trigger");
  EXPECT_EQ(first.value("version", 0), 1);
  EXPECT_EQ(second.value("version", 0), 2);
  // Paused: no claim, and the person is told why.
  type("pause");
  (void)answer();
  type("summary again");
  EXPECT_EQ(answer(), "Your feedback is paused; `/study resume` first.");
  EXPECT_EQ(sql("SELECT count(*) FROM summary_jobs WHERE user_id = 'U1'"), "2");
}
