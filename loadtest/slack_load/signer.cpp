#include "signer.hpp"

#include <array>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/params.h>

namespace tracker::loadtest {

SlackSigner::SlackSigner(std::string_view secret) : mac_(EVP_MAC_fetch(nullptr, "HMAC", nullptr)) {
  if (!mac_) throw std::runtime_error("OpenSSL: HMAC is not available");
  keyed_.reset(EVP_MAC_CTX_new(mac_.get()));
  if (!keyed_) throw std::runtime_error("OpenSSL: EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  const std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(keyed_.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params.data()) != 1) {
    throw std::runtime_error("OpenSSL: EVP_MAC_init failed");
  }
}

std::string SlackSigner::sign(std::string_view timestamp, std::string_view body) const {
  const std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_dup(keyed_.get()));
  if (!ctx) throw std::runtime_error("OpenSSL: EVP_MAC_CTX_dup failed");
  const auto update = [&](std::string_view part) {
    if (EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(part.data()),
                       part.size()) != 1) {
      throw std::runtime_error("OpenSSL: EVP_MAC_update failed");
    }
  };
  update("v0:");
  update(timestamp);
  update(":");
  update(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  std::size_t length = 0;
  if (EVP_MAC_final(ctx.get(), digest.data(), &length, digest.size()) != 1) {
    throw std::runtime_error("OpenSSL: EVP_MAC_final failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "v0=";
  out.reserve(3 + 2 * length);
  for (std::size_t i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
  return out;
}

std::string signer_self_test() {
  // Slack's documented example request (a slash command), with its documented signature.
  constexpr std::string_view kSecret = "8f742231b10e8888abcd99yyyzzz85a5";
  constexpr std::string_view kTimestamp = "1531420618";
  constexpr std::string_view kBody =
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
      "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
      "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"
      "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
      "803a0bc887a14d10d2c447fce8b6703c";
  constexpr std::string_view kExpected =
      "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
  const SlackSigner signer(kSecret);
  const std::string got = signer.sign(kTimestamp, kBody);
  if (got != kExpected) {
    return "signature of Slack's example is " + got + ", expected " + std::string(kExpected);
  }
  // The signature must depend on every part of the base string.
  if (signer.sign("1531420619", kBody) == got || SlackSigner("x").sign(kTimestamp, kBody) == got) {
    return "signature does not depend on the timestamp or the secret";
  }
  return {};
}

}  // namespace tracker::loadtest
