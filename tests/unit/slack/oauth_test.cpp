// The OAuth v2 pieces: signed states (tampered, expired, another browser's, a rotated key),
// the authorize URL, and what oauth.v2.access answers.
#include <gtest/gtest.h>

#include <fstream>

#include <tracker/http/form.hpp>
#include <tracker/slack/oauth.hpp>
#include <tracker/slack/token_cipher.hpp>

using namespace std::chrono_literals;
using tracker::config::Secret;
using tracker::slack::StateFailure;
using tracker::slack::StateSigner;

namespace {

const auto kNow = std::chrono::system_clock::time_point{std::chrono::seconds{1'800'000'000}};

std::vector<Secret> keys(std::initializer_list<const char*> values) {
  std::vector<Secret> out;
  for (const char* value : values) out.emplace_back(std::string(32, value[0]));
  return out;
}

}  // namespace

TEST(OAuthState, ChecksTheSignatureTheExpiryAndTheBrowser) {
  const StateSigner signer(keys({"a"}), 600s);
  const auto issued = signer.issue(kNow);
  EXPECT_EQ(issued.expires, kNow + 600s);
  const auto ok = signer.check(issued.state, issued.nonce, kNow + 599s);
  ASSERT_TRUE(ok) << tracker::slack::to_string(ok.error().kind);
  EXPECT_EQ(*ok, issued.nonce);

  EXPECT_EQ(signer.check(issued.state, issued.nonce, kNow + 601s).error().kind,
            StateFailure::Kind::expired);
  EXPECT_EQ(signer.check(issued.state, "", kNow).error().kind, StateFailure::Kind::other_browser);
  EXPECT_EQ(signer.check(issued.state, signer.issue(kNow).nonce, kNow).error().kind,
            StateFailure::Kind::other_browser);

  // Any changed character of the payload or the signature.
  for (std::size_t at : {std::size_t{0}, issued.state.size() / 2, issued.state.size() - 2}) {
    std::string changed = issued.state;
    changed[at] = changed[at] == 'A' ? 'B' : 'A';
    const auto checked = signer.check(changed, issued.nonce, kNow);
    ASSERT_FALSE(checked) << changed;
    EXPECT_TRUE(checked.error().kind == StateFailure::Kind::tampered ||
                checked.error().kind == StateFailure::Kind::malformed)
        << tracker::slack::to_string(checked.error().kind);
  }
  EXPECT_EQ(signer.check("nonsense", issued.nonce, kNow).error().kind,
            StateFailure::Kind::malformed);
  EXPECT_EQ(signer.check("", issued.nonce, kNow).error().kind, StateFailure::Kind::malformed);
  // Signed by a key this app does not have.
  const StateSigner foreign(keys({"z"}), 600s);
  const auto forged = foreign.issue(kNow);
  EXPECT_EQ(signer.check(forged.state, forged.nonce, kNow).error().kind,
            StateFailure::Kind::tampered);
}

TEST(OAuthState, AStateSignedBeforeAKeyRotationStillChecks) {
  const StateSigner before(keys({"a"}), 600s);
  const auto issued = before.issue(kNow);
  const StateSigner after(keys({"b", "a"}), 600s);
  EXPECT_TRUE(after.check(issued.state, issued.nonce, kNow));
  const StateSigner dropped(keys({"b"}), 600s);
  EXPECT_EQ(dropped.check(issued.state, issued.nonce, kNow).error().kind,
            StateFailure::Kind::tampered);
}

TEST(OAuthAuthorize, TheUrlCarriesEveryParameterEncoded) {
  const std::string url = tracker::slack::authorize_url(
      "https://slack.com/oauth/v2/authorize", "123.456", tracker::slack::kBotScopes,
      "https://tracker.example.com/slack/oauth_redirect", "abc.def");
  EXPECT_EQ(url,
            "https://slack.com/oauth/v2/authorize?client_id=123.456"
            "&scope=channels%3Ahistory%2Cgroups%3Ahistory%2Cchat%3Awrite%2Ccommands%2Cusers%3Aread"
            "&redirect_uri=https%3A%2F%2Ftracker.example.com%2Fslack%2Foauth_redirect"
            "&state=abc.def");
  const auto fields = tracker::http::parse_form(tracker::http::query_of(url));
  ASSERT_TRUE(fields);
  EXPECT_EQ(tracker::http::form_value(*fields, "scope"), std::string(tracker::slack::kBotScopes));
}

TEST(OAuthAccess, ReadsABotInstallation) {
  // The shape of https://api.slack.com/methods/oauth.v2.access's example response.
  const auto installed = tracker::slack::interpret_oauth_access(200, R"({
    "ok": true, "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "token_type": "bot", "scope": "commands,incoming-webhook",
    "bot_user_id": "U0KRQLJ9H", "app_id": "A0KRD7HC3",
    "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
    "enterprise": {"name": "slack-sports", "id": "E12345678"},
    "authed_user": {"id": "U1234", "scope": "chat:write", "access_token": "xoxp-1234",
                    "token_type": "user"}})");
  ASSERT_TRUE(installed) << installed.error().error;
  EXPECT_EQ(installed->team_id, "T9TK3CUKW");
  EXPECT_EQ(installed->team_name, "Slack Softball Team");
  EXPECT_EQ(installed->enterprise_id, "E12345678");
  EXPECT_EQ(installed->bot_user_id, "U0KRQLJ9H");
  EXPECT_EQ(installed->app_id, "A0KRD7HC3");
  EXPECT_EQ(installed->installer_user_id, "U1234");
  EXPECT_EQ(installed->scope, "commands,incoming-webhook");
  EXPECT_EQ(installed->bot_token.reveal(), "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy");
}

TEST(OAuthAccess, SaysWhetherAFailureIsWorthAnotherTry) {
  using tracker::slack::interpret_oauth_access;
  const auto refused = interpret_oauth_access(200, R"({"ok":false,"error":"invalid_code"})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error, "invalid_code");
  EXPECT_FALSE(refused.error().retryable);
  EXPECT_EQ(
      interpret_oauth_access(200, R"({"ok":false,"error":"code_already_used"})").error().error,
      "code_already_used");
  EXPECT_TRUE(interpret_oauth_access(503, "").error().retryable);
  EXPECT_TRUE(interpret_oauth_access(429, "").error().retryable);
  EXPECT_TRUE(
      interpret_oauth_access(200, R"({"ok":false,"error":"internal_error"})").error().retryable);
  const auto portal = interpret_oauth_access(200, "<html>captive portal</html>");
  EXPECT_EQ(portal.error().error, "invalid_response");
  EXPECT_TRUE(portal.error().retryable);
  EXPECT_EQ(interpret_oauth_access(404, "").error().error, "http_404");
  EXPECT_EQ(interpret_oauth_access(200, R"({"ok":true,"access_token":"xoxp-1","token_type":"user",
                                             "team":{"id":"T1"}})")
                .error()
                .error,
            "not_a_bot_token");
  EXPECT_EQ(interpret_oauth_access(200, R"({"ok":true,"access_token":"xoxb-1","token_type":"bot",
                                             "team":null,"enterprise":{"id":"E1"}})")
                .error()
                .error,
            "no_team");
}

TEST(OAuthAccess, TheRequestBodyIsFormEncoded) {
  EXPECT_EQ(tracker::slack::oauth_access_body("1.2", "s+cret/=", "c 1", "https://x/r?a=b"),
            "client_id=1.2&client_secret=s%2Bcret%2F%3D&code=c%201"
            "&redirect_uri=https%3A%2F%2Fx%2Fr%3Fa%3Db");
}

// deploy/slack/manifest.yaml asks Slack for the scopes the install asks for, no more.
TEST(OAuthAuthorize, TheManifestListsTheSameBotScopes) {
  std::ifstream manifest(std::string(TRACKER_SOURCE_DIR) + "/deploy/slack/manifest.yaml");
  ASSERT_TRUE(manifest) << "deploy/slack/manifest.yaml";
  std::string line;
  std::string scopes;
  bool in_bot = false;
  while (std::getline(manifest, line)) {
    if (line == "    bot:") {
      in_bot = true;
    } else if (in_bot && line.starts_with("      - ")) {
      scopes += (scopes.empty() ? "" : ",") + line.substr(8);
    } else if (in_bot && !line.starts_with("    #")) {
      in_bot = false;
    }
  }
  EXPECT_EQ(scopes, tracker::slack::kBotScopes);
}
