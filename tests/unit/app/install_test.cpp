// The OAuth install flow of the app's port, against the Slack simulator's authorize page and
// oauth.v2.access, with the store faked: what a person sees for each way an install can end,
// and that nothing is stored unless it succeeded.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <tracker/http/client.hpp>
#include <tracker/http/form.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include <tracker/app/install.hpp>
#include "run.hpp"
#include "slack_simulator.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using tracker::testing::run;

namespace {

const auto kStart = std::chrono::system_clock::time_point{std::chrono::seconds{1'800'000'000}};
constexpr const char* kRedirect = "https://tracker.example.com/slack/oauth_redirect";

class FakeInstallations final : public tracker::workspaces::Installations {
 public:
  asio::awaitable<tracker::pg::Result<bool>> use_state(
      std::string nonce, std::chrono::system_clock::time_point) override {
    if (down)
      co_return tracker::pg::Error{.kind = tracker::pg::Error::Kind::connection,
                                   .message = "connection refused"};
    co_return used.insert(nonce).second;
  }
  asio::awaitable<tracker::pg::Result<void>> save(
      const tracker::slack::Installation& installation) override {
    saved.push_back(installation);
    co_return tracker::pg::Result<void>{};
  }
  bool down = false;
  std::set<std::string> used;
  std::vector<tracker::slack::Installation> saved;
};

struct Install : ::testing::Test {
  tracker::loadtest::SimulatorThread slack;
  asio::io_context io;
  tracker::http::Client client{io.get_executor(), {.base_url = slack.base_url()}};
  tracker::slack::OAuthClient oauth{client, "1111111111.2222222222",
                                    tracker::config::Secret("sim-client-secret")};
  FakeInstallations store;
  prometheus::Registry registry;
  std::chrono::system_clock::time_point now = kStart;
  tracker::app::InstallHandler handler{
      {.client_id = "1111111111.2222222222",
       .authorize_url = "http://127.0.0.1:" + std::to_string(slack.port()) + "/oauth/v2/authorize",
       .redirect_uri = kRedirect},
      tracker::slack::StateSigner({tracker::config::Secret(std::string(32, 'k'))}, 600s),
      oauth,
      store,
      registry,
      tracker::log::null_logger(),
      [this] { return now; }};

  tracker::http::Response get(const std::string& target, const std::string& cookie = "") {
    tracker::http::Request request{bh::verb::get, target, 11};
    if (!cookie.empty()) request.set(bh::field::cookie, cookie);
    return run(io, handler.handle(request));
  }

  struct Started {
    std::string state;
    std::string cookie;  // "tracker_oauth_nonce=..."
    std::string authorize_target;
  };
  Started start() {
    const auto response = get("/slack/install");
    EXPECT_EQ(response.result(), bh::status::found);
    const std::string location(response[bh::field::location]);
    const auto fields = tracker::http::parse_form(tracker::http::query_of(location));
    const std::string set_cookie(response[bh::field::set_cookie]);
    return {tracker::http::form_value(*fields, "state").value_or(""),
            set_cookie.substr(0, set_cookie.find(';')),
            location.substr(location.find("/oauth/v2/authorize"))};
  }
  // The person chooses Allow in `team`: the code Slack sends back.
  std::string allow(const Started& started, const std::string& team,
                    const std::string& team_name = "") {
    const auto answer = tracker::testkit::blocking_request(
        "127.0.0.1", slack.port(), "GET",
        started.authorize_target + "&team=" + team + "&team_name=" +
            tracker::http::form_encode(team_name.empty() ? "Team " + team : team_name));
    EXPECT_EQ(answer.status, 302U) << answer.body;
    const auto location = answer.header("location");
    EXPECT_TRUE(location.starts_with(kRedirect)) << location;
    return tracker::http::form_value(*tracker::http::parse_form(tracker::http::query_of(location)),
                                     "code")
        .value_or("");
  }
  tracker::http::Response finish(const std::string& code, const std::string& state,
                                 const std::string& cookie) {
    return get(
        "/slack/oauth_redirect?" + tracker::http::form_body({{"code", code}, {"state", state}}),
        cookie);
  }
};

}  // namespace

TEST_F(Install, StartsWithARedirectToSlackAndACookieForTheRedirectPath) {
  const auto response = get("/slack/install");
  ASSERT_EQ(response.result(), bh::status::found);
  const std::string location(response[bh::field::location]);
  const auto fields = *tracker::http::parse_form(tracker::http::query_of(location));
  EXPECT_EQ(tracker::http::form_value(fields, "client_id"), "1111111111.2222222222");
  EXPECT_EQ(tracker::http::form_value(fields, "scope"), std::string(tracker::slack::kBotScopes));
  EXPECT_EQ(tracker::http::form_value(fields, "redirect_uri"), kRedirect);
  const std::string cookie(response[bh::field::set_cookie]);
  EXPECT_TRUE(cookie.starts_with("tracker_oauth_nonce=")) << cookie;
  for (const char* attribute :
       {"Path=/slack/oauth_redirect", "Max-Age=600", "HttpOnly", "SameSite=Lax", "Secure"}) {
    EXPECT_NE(cookie.find(attribute), std::string::npos) << cookie;
  }
}

TEST_F(Install, ExchangesTheCodeAndKeepsTheWorkspacesBotToken) {
  const auto started = start();
  const auto code = allow(started, "T1", "Study <Club>");
  const auto response = finish(code, started.state, started.cookie);
  ASSERT_EQ(response.result(), bh::status::ok) << response.body();
  EXPECT_NE(response.body().find("Study &lt;Club&gt;"), std::string::npos) << response.body();
  EXPECT_EQ(response.body().find("<Club>"), std::string::npos);
  ASSERT_EQ(store.saved.size(), 1U);
  EXPECT_EQ(store.saved[0].team_id, "T1");
  EXPECT_EQ(store.saved[0].team_name, "Study <Club>");
  EXPECT_EQ(store.saved[0].bot_user_id, "U0BOTT1");
  const auto tokens = slack.simulator().issued_tokens();
  ASSERT_EQ(tokens.size(), 1U);
  EXPECT_EQ(store.saved[0].bot_token.reveal(), tokens[0].token);
  EXPECT_EQ(response.body().find(tokens[0].token), std::string::npos);
  EXPECT_NE(std::string(response[bh::field::set_cookie]).find("Max-Age=0"), std::string::npos);
}

TEST_F(Install, AReplayedStateIsRefusedWithoutAskingSlackAgain) {
  const auto started = start();
  const auto code = allow(started, "T1");
  ASSERT_EQ(finish(code, started.state, started.cookie).result(), bh::status::ok);
  const auto replay = finish(code, started.state, started.cookie);
  EXPECT_EQ(replay.result(), bh::status::bad_request);
  EXPECT_NE(replay.body().find("used already"), std::string::npos) << replay.body();
  EXPECT_EQ(store.saved.size(), 1U);
  EXPECT_EQ(slack.simulator().issued_tokens().size(), 1U);
}

TEST_F(Install, ATamperedStateIsRefusedAndNothingIsStored) {
  const auto started = start();
  const auto code = allow(started, "T1");
  std::string tampered = started.state;
  tampered[3] = tampered[3] == 'x' ? 'y' : 'x';
  const auto response = finish(code, tampered, started.cookie);
  EXPECT_EQ(response.result(), bh::status::bad_request);
  EXPECT_NE(response.body().find("not one this app issued"), std::string::npos) << response.body();
  EXPECT_TRUE(store.saved.empty());
  EXPECT_TRUE(store.used.empty());
}

TEST_F(Install, AnExpiredStateIsRefusedAndNothingIsStored) {
  const auto started = start();
  const auto code = allow(started, "T1");
  now += 601s;
  const auto response = finish(code, started.state, started.cookie);
  EXPECT_EQ(response.result(), bh::status::bad_request);
  EXPECT_NE(response.body().find("expired"), std::string::npos) << response.body();
  EXPECT_TRUE(store.saved.empty());
}

TEST_F(Install, AStateFromAnotherBrowserIsRefused) {
  const auto started = start();
  const auto code = allow(started, "T1");
  EXPECT_EQ(finish(code, started.state, "").result(), bh::status::bad_request);
  const auto other = finish(code, started.state, start().cookie);
  EXPECT_EQ(other.result(), bh::status::bad_request);
  EXPECT_NE(other.body().find("another browser"), std::string::npos) << other.body();
  EXPECT_TRUE(store.saved.empty());
}

TEST_F(Install, ACancelledInstallAndACodeSlackRefusesStoreNothing) {
  const auto cancelled = get("/slack/oauth_redirect?error=access_denied&state=x");
  EXPECT_EQ(cancelled.result(), bh::status::bad_request);
  EXPECT_NE(cancelled.body().find("not allowed"), std::string::npos) << cancelled.body();

  const auto started = start();
  const auto refused = finish("no-such-code", started.state, started.cookie);
  EXPECT_EQ(refused.result(), bh::status::bad_request);
  EXPECT_NE(refused.body().find("invalid_code"), std::string::npos) << refused.body();
  EXPECT_TRUE(store.saved.empty());
}

TEST_F(Install, TheDatabaseAwayIsATryAgainLaterPage) {
  const auto started = start();
  const auto code = allow(started, "T1");
  store.down = true;
  const auto response = finish(code, started.state, started.cookie);
  EXPECT_EQ(response.result(), bh::status::service_unavailable);
  EXPECT_TRUE(store.saved.empty());
  // The code was not spent: the same person can finish once the database is back.
  store.down = false;
  EXPECT_EQ(finish(code, started.state, started.cookie).result(), bh::status::ok);
}

TEST_F(Install, OtherPathsAndMethodsAreRefused) {
  EXPECT_EQ(get("/").result(), bh::status::not_found);
  tracker::http::Request post{bh::verb::post, "/slack/install", 11};
  EXPECT_EQ(run(io, handler.handle(post)).result(), bh::status::method_not_allowed);
}

TEST(InstallCookies, FindsTheCookieAmongOthers) {
  EXPECT_EQ(tracker::app::cookie_value("a=1; tracker_oauth_nonce=xyz; b=2", "tracker_oauth_nonce"),
            "xyz");
  EXPECT_EQ(tracker::app::cookie_value("tracker_oauth_nonce_other=1", "tracker_oauth_nonce"), "");
  EXPECT_EQ(tracker::app::cookie_value("", "tracker_oauth_nonce"), "");
}
