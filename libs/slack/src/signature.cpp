#include <tracker/slack/signature.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <cstdint>

namespace tracker::slack {

namespace {

constexpr std::string_view kVersion = "v0=";
constexpr std::size_t kHexLength = 64;

std::array<unsigned char, 32> hmac(std::string_view secret, std::string_view timestamp,
                                   std::string_view body) {
  std::string base;
  base.reserve(3 + timestamp.size() + 1 + body.size());
  base.append("v0:").append(timestamp).append(":").append(body);
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(base.data()), base.size(), digest.data(), &length);
  return digest;
}

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

bool matches(const std::array<unsigned char, 32>& expected, std::string_view secret,
             std::string_view timestamp, std::string_view body) {
  const auto actual = hmac(secret, timestamp, body);
  return CRYPTO_memcmp(expected.data(), actual.data(), actual.size()) == 0;
}

}  // namespace

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
  const auto digest = hmac(secret, timestamp, body);
  std::string out(kVersion);
  for (unsigned char byte : digest) {
    out.push_back(kHex[byte >> 4U]);
    out.push_back(kHex[byte & 0x0FU]);
  }
  return out;
}

SignatureVerifier::SignatureVerifier(config::Secret secret, config::Secret previous_secret,
                                     WallClock clock, std::chrono::seconds tolerance)
    : secret_(std::move(secret)),
      previous_(std::move(previous_secret)),
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
  if (matches(*expected, secret_.reveal(), timestamp, body)) return SignatureCheck::ok;
  if (!previous_.empty() && matches(*expected, previous_.reveal(), timestamp, body)) {
    return SignatureCheck::ok;
  }
  return SignatureCheck::mismatch;
}

}  // namespace tracker::slack
