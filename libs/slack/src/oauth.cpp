#include <tracker/slack/oauth.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <tracker/http/form.hpp>
#include <tracker/slack/token_cipher.hpp>
#include <tracker/slack/web_api.hpp>

namespace tracker::slack {

namespace {

constexpr std::string_view kStateVersion = "1";
constexpr std::size_t kNonceBytes = 16;

std::string mac(const config::Secret& key, std::string_view payload) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.reveal().data(), static_cast<int>(key.reveal().size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), digest.data(),
       &length);
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

const std::string* string_at(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

std::string string_or_empty(const nlohmann::json& object, const char* key) {
  const auto* value = string_at(object, key);
  return value ? *value : std::string{};
}

}  // namespace

std::string_view to_string(StateFailure::Kind kind) {
  switch (kind) {
    case StateFailure::Kind::malformed: return "malformed";
    case StateFailure::Kind::tampered: return "tampered";
    case StateFailure::Kind::expired: return "expired";
    case StateFailure::Kind::other_browser: return "other_browser";
    case StateFailure::Kind::replayed: return "replayed";
  }
  return "unknown";
}

StateSigner::StateSigner(std::vector<config::Secret> keys, std::chrono::seconds lifetime)
    : keys_(std::move(keys)), lifetime_(lifetime) {
  if (keys_.empty()) throw std::invalid_argument("StateSigner needs a key");
}

IssuedState StateSigner::issue(std::chrono::system_clock::time_point now) const {
  IssuedState issued;
  issued.nonce = base64url_encode(random_bytes(kNonceBytes));
  issued.expires = now + lifetime_;
  const auto expires_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(issued.expires.time_since_epoch())
          .count();
  const std::string payload =
      std::string(kStateVersion) + "." + issued.nonce + "." + std::to_string(expires_ms);
  issued.state = base64url_encode(payload) + "." + base64url_encode(mac(keys_.front(), payload));
  return issued;
}

boost::system::result<std::string, StateFailure> StateSigner::check(
    std::string_view state, std::string_view cookie_nonce,
    std::chrono::system_clock::time_point now) const {
  const auto malformed = StateFailure{StateFailure::Kind::malformed};
  const auto dot = state.find('.');
  if (state.size() > 512 || dot == std::string_view::npos) return malformed;
  std::string payload;
  std::string signature;
  if (!base64url_decode(state.substr(0, dot), payload) ||
      !base64url_decode(state.substr(dot + 1), signature) || signature.size() != 32) {
    return malformed;
  }
  bool signed_by_us = false;
  for (const auto& key : keys_) {
    const std::string expected = mac(key, payload);
    signed_by_us = signed_by_us || CRYPTO_memcmp(expected.data(), signature.data(), 32) == 0;
  }
  if (!signed_by_us) return StateFailure{StateFailure::Kind::tampered};

  // Signed by us, so well-formed unless a future version changed the layout.
  const auto first = payload.find('.');
  const auto second = payload.find('.', first == std::string::npos ? first : first + 1);
  if (first == std::string::npos || second == std::string::npos ||
      payload.substr(0, first) != kStateVersion) {
    return malformed;
  }
  std::string nonce = payload.substr(first + 1, second - first - 1);
  std::int64_t expires_ms = 0;
  const char* begin = payload.data() + second + 1;
  const char* end = payload.data() + payload.size();
  if (auto parsed = std::from_chars(begin, end, expires_ms);
      parsed.ec != std::errc{} || parsed.ptr != end) {
    return malformed;
  }
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  if (now_ms > expires_ms) return StateFailure{StateFailure::Kind::expired};
  if (cookie_nonce.size() != nonce.size() ||
      CRYPTO_memcmp(cookie_nonce.data(), nonce.data(), nonce.size()) != 0) {
    return StateFailure{StateFailure::Kind::other_browser};
  }
  return nonce;
}

std::string authorize_url(std::string_view authorize_base, std::string_view client_id,
                          std::string_view scopes, std::string_view redirect_uri,
                          std::string_view state) {
  std::string url(authorize_base);
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += http::form_body({{"client_id", std::string(client_id)},
                          {"scope", std::string(scopes)},
                          {"redirect_uri", std::string(redirect_uri)},
                          {"state", std::string(state)}});
  return url;
}

void throw_exception_from_error(const OAuthFailure& failure, const boost::source_location&) {
  throw std::runtime_error("oauth.v2.access failed: " + failure.error +
                           (failure.detail.empty() ? "" : " (" + failure.detail + ")"));
}

boost::system::result<Installation, OAuthFailure> interpret_oauth_access(unsigned http_status,
                                                                         std::string_view body) {
  if (http_status == 429 || http_status >= 500) {
    return OAuthFailure{"http_" + std::to_string(http_status), "", true};
  }
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  const bool slack_answer =
      parsed.is_object() && parsed.contains("ok") && parsed["ok"].is_boolean();
  if (http_status < 200 || http_status >= 300) {
    return OAuthFailure{"http_" + std::to_string(http_status), "", false};
  }
  if (!slack_answer) return OAuthFailure{"invalid_response", "not Slack's JSON", true};
  if (!parsed["ok"].get<bool>()) {
    std::string error = string_or_empty(parsed, "error");
    if (error.empty()) error = "unknown_error";
    return OAuthFailure{error, "", classify_error(error) != PostOutcome::permanent};
  }
  Installation installation;
  const std::string token_type = string_or_empty(parsed, "token_type");
  const std::string token = string_or_empty(parsed, "access_token");
  if (token_type != "bot" || !token.starts_with("xoxb-")) {
    return OAuthFailure{"not_a_bot_token", "token_type \"" + token_type + "\"", false};
  }
  installation.bot_token = config::Secret(token);
  installation.scope = string_or_empty(parsed, "scope");
  installation.bot_user_id = string_or_empty(parsed, "bot_user_id");
  installation.app_id = string_or_empty(parsed, "app_id");
  if (auto team = parsed.find("team"); team != parsed.end() && team->is_object()) {
    installation.team_id = string_or_empty(*team, "id");
    installation.team_name = string_or_empty(*team, "name");
  }
  if (auto enterprise = parsed.find("enterprise");
      enterprise != parsed.end() && enterprise->is_object()) {
    installation.enterprise_id = string_or_empty(*enterprise, "id");
  }
  if (auto user = parsed.find("authed_user"); user != parsed.end() && user->is_object()) {
    installation.installer_user_id = string_or_empty(*user, "id");
  }
  if (installation.team_id.empty()) {
    // An org-wide Enterprise Grid install has no team: this app is installed per workspace.
    return OAuthFailure{"no_team", "an organisation-wide install; install into a workspace", false};
  }
  return installation;
}

std::string oauth_access_body(std::string_view client_id, std::string_view client_secret,
                              std::string_view code, std::string_view redirect_uri) {
  return http::form_body({{"client_id", std::string(client_id)},
                          {"client_secret", std::string(client_secret)},
                          {"code", std::string(code)},
                          {"redirect_uri", std::string(redirect_uri)}});
}

boost::asio::awaitable<boost::system::result<Installation, OAuthFailure>> OAuthClient::exchange(
    std::string code, std::string redirect_uri) {
  http::Headers headers;
  headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  std::string body = oauth_access_body(client_id_, client_secret_.reveal(), code, redirect_uri);
  auto reply = co_await client_.send(http::beast_http::verb::post, "/oauth.v2.access",
                                     std::move(body), std::move(headers));
  if (!reply) {
    const auto& failure = reply.error();
    co_return OAuthFailure{std::string(http::to_string(failure.kind)), failure.describe(), true};
  }
  co_return interpret_oauth_access(reply->result_int(), reply->body());
}

}  // namespace tracker::slack
