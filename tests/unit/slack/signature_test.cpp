#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <tracker/slack/signature.hpp>

#include "fixtures.hpp"

using namespace std::chrono_literals;
using tracker::config::Secret;
using tracker::slack::SignatureCheck;
using tracker::slack::SignatureVerifier;

namespace {

struct Vector {
  std::string secret, timestamp, body, signature;
};

Vector published_vector() {
  const auto json = nlohmann::json::parse(tracker::testing::fixture("slack/signature-vector.json"));
  return {json.at("signing_secret"), json.at("timestamp"), json.at("body"),
          json.at("expected_signature")};
}

tracker::slack::WallClock at(std::int64_t unix_seconds) {
  return [unix_seconds] {
    return std::chrono::system_clock::time_point{std::chrono::seconds{unix_seconds}};
  };
}

SignatureVerifier verifier_at(const Vector& v, std::int64_t now, Secret previous = {}) {
  return SignatureVerifier(Secret(v.secret), std::move(previous), at(now));
}

}  // namespace

TEST(Signature, SignsThePublishedVector) {
  const auto v = published_vector();
  EXPECT_EQ(tracker::slack::sign(v.secret, v.timestamp, v.body), v.signature);
}

TEST(Signature, AcceptsThePublishedVectorAtItsOwnTime) {
  const auto v = published_vector();
  EXPECT_EQ(verifier_at(v, 1531420618).verify(v.timestamp, v.signature, v.body),
            SignatureCheck::ok);
}

TEST(Signature, RejectsThePublishedVectorWithTheRealClock) {
  const auto v = published_vector();
  SignatureVerifier real(Secret(v.secret));
  EXPECT_EQ(real.verify(v.timestamp, v.signature, v.body), SignatureCheck::stale_timestamp);
}

TEST(Signature, RejectsATamperedBody) {
  const auto v = published_vector();
  std::string body = v.body;
  body[body.size() / 2] ^= 1;
  EXPECT_EQ(verifier_at(v, 1531420618).verify(v.timestamp, v.signature, body),
            SignatureCheck::mismatch);
}

TEST(Signature, RejectsTimestampOlderThanFiveMinutes) {
  const auto v = published_vector();
  EXPECT_EQ(verifier_at(v, 1531420618 + 300).verify(v.timestamp, v.signature, v.body),
            SignatureCheck::ok);
  EXPECT_EQ(verifier_at(v, 1531420618 + 301).verify(v.timestamp, v.signature, v.body),
            SignatureCheck::stale_timestamp);
}

TEST(Signature, RejectsTimestampMoreThanFiveMinutesAhead) {
  const auto v = published_vector();
  EXPECT_EQ(verifier_at(v, 1531420618 - 300).verify(v.timestamp, v.signature, v.body),
            SignatureCheck::ok);
  EXPECT_EQ(verifier_at(v, 1531420618 - 301).verify(v.timestamp, v.signature, v.body),
            SignatureCheck::future_timestamp);
}

TEST(Signature, RejectsAnotherVersionPrefix) {
  const auto v = published_vector();
  std::string other = v.signature;
  other[1] = '1';  // "v1=..."
  EXPECT_EQ(verifier_at(v, 1531420618).verify(v.timestamp, other, v.body),
            SignatureCheck::malformed_signature);
}

struct HeaderCase {
  const char* timestamp;
  const char* signature;
  SignatureCheck expected;
};

class SignatureHeaders : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(SignatureHeaders, MissingOrMalformedHeadersAreNamed) {
  const auto v = published_vector();
  const std::string timestamp = GetParam().timestamp ? GetParam().timestamp : v.timestamp;
  const std::string signature = GetParam().signature ? GetParam().signature : v.signature;
  EXPECT_EQ(verifier_at(v, 1531420618).verify(timestamp, signature, v.body), GetParam().expected)
      << timestamp << " " << signature;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SignatureHeaders,
    ::testing::Values(
        HeaderCase{"", nullptr, SignatureCheck::missing_timestamp},
        HeaderCase{"15314206l8", nullptr, SignatureCheck::malformed_timestamp},
        HeaderCase{"-1531420618", nullptr, SignatureCheck::malformed_timestamp},
        HeaderCase{"1531420618.5", nullptr, SignatureCheck::malformed_timestamp},
        HeaderCase{nullptr, "", SignatureCheck::missing_signature},
        HeaderCase{nullptr, "v0=", SignatureCheck::malformed_signature},
        HeaderCase{nullptr, "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                   SignatureCheck::malformed_signature},
        HeaderCase{nullptr, "v0=z2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                   SignatureCheck::malformed_signature},
        HeaderCase{nullptr, "v0=b2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                   SignatureCheck::mismatch}));

TEST(Signature, AcceptsThePreviousSecretDuringRotation) {
  const auto v = published_vector();
  SignatureVerifier rotated(Secret("a-brand-new-secret-0000000000000"), Secret(v.secret),
                            at(1531420618));
  EXPECT_EQ(rotated.verify(v.timestamp, v.signature, v.body), SignatureCheck::ok);
  SignatureVerifier without(Secret("a-brand-new-secret-0000000000000"), Secret{}, at(1531420618));
  EXPECT_EQ(without.verify(v.timestamp, v.signature, v.body), SignatureCheck::mismatch);
}

TEST(Signature, OneVerifierServesManyThreadsAtOnce) {
  // The keyed HMAC context is shared and only read: every thread verifies every request right.
  const auto v = published_vector();
  const auto verifier = verifier_at(v, 1531420618, Secret("an-older-secret"));
  const std::string other_body = v.body + "&x=1";
  const std::string other = tracker::slack::sign("an-older-secret", v.timestamp, other_body);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2'000; ++i) {
        if (verifier.verify(v.timestamp, v.signature, v.body) != SignatureCheck::ok) ++wrong;
        if (verifier.verify(v.timestamp, other, other_body) != SignatureCheck::ok) ++wrong;
        if (verifier.verify(v.timestamp, v.signature, other_body) != SignatureCheck::mismatch) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Signature, AnEmptySecretStillSigns) {
  // HMAC with an empty key is defined (RFC 2104): a key of zero bytes, not "no key".
  EXPECT_EQ(tracker::slack::sign("", "1", "x"),
            "v0=a543c419d61402082e0a576bc6c0738b90e6f115e79ba89294769ec44a970629");
}
