#include <tracker/slack/signature.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <new>
#include <stdexcept>

namespace tracker::slack {

namespace {

constexpr std::string_view kVersion = "v0=";
constexpr std::size_t kHexLength = 64;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes "v0=<64 hex>"; std::nullopt when the shape is wrong.
std::optional<std::array<unsigned char, 32>> decode(std::string_view signature) {
  if (!signature.starts_with(kVersion) || signature.size() != kVersion.size() + kHexLength) {
    return std::nullopt;
  }
  std::array<unsigned char, 32> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(signature[kVersion.size() + 2 * i]);
    const int low = hex_value(signature[kVersion.size() + 2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return out;
}

bool matches(const std::array<unsigned char, 32>& expected, const HmacKey& key,
             std::string_view timestamp, std::string_view body) {
  const auto actual = key.slack_v0(timestamp, body);
  return CRYPTO_memcmp(expected.data(), actual.data(), actual.size()) == 0;
}

}  // namespace

HmacKey::HmacKey(std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  EVP_MAC_CTX* context = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (context == nullptr ||
      // Never a null key (which would mean "keep the key set before"): an empty key is "".
      EVP_MAC_init(context, reinterpret_cast<const unsigned char*>(key.empty() ? "" : key.data()),
                   key.size(), params) != 1) {
    EVP_MAC_CTX_free(context);
    throw std::runtime_error("cannot key HMAC-SHA256");
  }
  context_ = context;
}

HmacKey::~HmacKey() {
  EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(context_));
}

std::array<unsigned char, 32> HmacKey::slack_v0(std::string_view timestamp,
                                                std::string_view body) const {
  std::array<unsigned char, 32> digest{};
  EVP_MAC_CTX* context = EVP_MAC_CTX_dup(static_cast<const EVP_MAC_CTX*>(context_));
  if (context == nullptr) throw std::bad_alloc();
  std::size_t length = 0;
  const auto feed = [context](std::string_view piece) {
    return EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(piece.data()),
                          piece.size()) == 1;
  };
  const bool ok = feed("v0:") && feed(timestamp) && feed(":") && feed(body) &&
                  EVP_MAC_final(context, digest.data(), &length, digest.size()) == 1 &&
                  length == digest.size();
  EVP_MAC_CTX_free(context);
  if (!ok) throw std::runtime_error("HMAC-SHA256 failed");
  return digest;
}

std::string_view to_string(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::ok: return "ok";
    case SignatureCheck::missing_timestamp: return "missing_timestamp";
    case SignatureCheck::malformed_timestamp: return "malformed_timestamp";
    case SignatureCheck::stale_timestamp: return "stale_timestamp";
    case SignatureCheck::future_timestamp: return "future_timestamp";
    case SignatureCheck::missing_signature: return "missing_signature";
    case SignatureCheck::malformed_signature: return "malformed_signature";
    case SignatureCheck::mismatch: return "mismatch";
  }
  return "mismatch";
}

std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto digest = HmacKey(secret).slack_v0(timestamp, body);
  std::string out(kVersion);
  for (unsigned char byte : digest) {
    out.push_back(kHex[byte >> 4U]);
    out.push_back(kHex[byte & 0x0FU]);
  }
  return out;
}

SignatureVerifier::SignatureVerifier(config::Secret secret, config::Secret previous_secret,
                                     WallClock clock, std::chrono::seconds tolerance)
    : key_(std::make_shared<const HmacKey>(secret.reveal())),
      previous_key_(previous_secret.empty()
                        ? nullptr
                        : std::make_shared<const HmacKey>(previous_secret.reveal())),
      clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }),
      tolerance_(tolerance) {}

SignatureCheck SignatureVerifier::verify(std::string_view timestamp, std::string_view signature,
                                         std::string_view body) const {
  if (timestamp.empty()) return SignatureCheck::missing_timestamp;
  std::int64_t seconds = 0;
  const auto parsed =
      std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (parsed.ec != std::errc{} || parsed.ptr != timestamp.data() + timestamp.size() ||
      seconds <= 0) {
    return SignatureCheck::malformed_timestamp;
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_().time_since_epoch()).count();
  if (now - seconds > tolerance_.count()) return SignatureCheck::stale_timestamp;
  if (seconds - now > tolerance_.count()) return SignatureCheck::future_timestamp;

  if (signature.empty()) return SignatureCheck::missing_signature;
  const auto expected = decode(signature);
  if (!expected) return SignatureCheck::malformed_signature;
  if (matches(*expected, *key_, timestamp, body)) return SignatureCheck::ok;
  if (previous_key_ && matches(*expected, *previous_key_, timestamp, body)) {
    return SignatureCheck::ok;
  }
  return SignatureCheck::mismatch;
}

}  // namespace tracker::slack
