#pragma once
// Slack's request signing, version 0: X-Slack-Signature is "v0=" + hex(HMAC-SHA256(signing
// secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)), and the timestamp must be within
// five minutes of now. https://api.slack.com/authentication/verifying-requests-from-slack
//
// During a secret rotation a previous secret is accepted too. Comparison is constant-time.
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <tracker/config/secret.hpp>

namespace tracker::slack {

enum class SignatureCheck {
  ok,
  missing_timestamp,
  malformed_timestamp,
  stale_timestamp,   // older than the tolerance
  future_timestamp,  // further ahead than the tolerance
  missing_signature,
  malformed_signature,  // not "v0=" followed by 64 hex digits (another version, say)
  mismatch,
};

std::string_view to_string(SignatureCheck check);

using WallClock = std::function<std::chrono::system_clock::time_point()>;

// HMAC-SHA256 under one key, keyed once: each signature is computed on a copy of the keyed
// context (EVP_MAC_CTX_dup), which skips the algorithm lookup and key setup a one-shot HMAC()
// repeats for every request. The keyed context is only read after construction, so one key
// serves every thread.
class HmacKey {
 public:
  explicit HmacKey(std::string_view key);
  ~HmacKey();
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  // The MAC of "v0:<timestamp>:<body>", fed in pieces (the body is not copied).
  [[nodiscard]] std::array<unsigned char, 32> slack_v0(std::string_view timestamp,
                                                       std::string_view body) const;

 private:
  void* context_ = nullptr;  // EVP_MAC_CTX
};

class SignatureVerifier {
 public:
  SignatureVerifier(config::Secret secret, config::Secret previous_secret = {},
                    WallClock clock = {},
                    std::chrono::seconds tolerance = std::chrono::seconds{300});

  [[nodiscard]] SignatureCheck verify(std::string_view timestamp, std::string_view signature,
                                      std::string_view body) const;

 private:
  std::shared_ptr<const HmacKey> key_;
  std::shared_ptr<const HmacKey> previous_key_;  // null when there is no previous secret
  WallClock clock_;
  std::chrono::seconds tolerance_;
};

// "v0=" + hex HMAC-SHA256 of "v0:<timestamp>:<body>"; used by the verifier and by clients that
// sign like Slack (load tools, tests).
std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body);

}  // namespace tracker::slack
