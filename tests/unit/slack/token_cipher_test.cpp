// Bot tokens sealed at rest: AES-256-GCM round trips, every way a sealed token can fail to
// open, key rotation, and the key setting's errors (which never show a key).
#include <gtest/gtest.h>

#include <tracker/slack/token_cipher.hpp>

using tracker::slack::OpenFailure;
using tracker::slack::TokenCipher;

namespace {

const std::string kOld = tracker::slack::generate_key("k1");
const std::string kNew = tracker::slack::generate_key("k2");
constexpr const char* kToken = "xoxb-1234-5678-abcdefghijklmnop";

}  // namespace

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(tracker::slack::base64_encode(plain), encoded);
    std::string decoded;
    ASSERT_TRUE(tracker::slack::base64_decode(encoded, decoded)) << encoded;
    EXPECT_EQ(decoded, plain);
  }
  std::string out;
  EXPECT_FALSE(tracker::slack::base64_decode("Zm9", out));       // not a multiple of 4
  EXPECT_FALSE(tracker::slack::base64_decode("Zm=v", out));      // '=' inside
  EXPECT_FALSE(tracker::slack::base64_decode("Zm9v!A==", out));  // not the alphabet
  EXPECT_FALSE(tracker::slack::base64_decode("Zg==Zg==", out));  // padding then more
}

TEST(Base64, UrlSafeFormHasNoPaddingAndRoundTrips) {
  const std::string bytes("\xfb\xff\xfe\x00\x01", 5);
  const std::string encoded = tracker::slack::base64url_encode(bytes);
  EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos) << encoded;
  std::string decoded;
  ASSERT_TRUE(tracker::slack::base64url_decode(encoded, decoded));
  EXPECT_EQ(decoded, bytes);
  EXPECT_FALSE(tracker::slack::base64url_decode("a+b/", decoded));
  EXPECT_FALSE(tracker::slack::base64url_decode("abcde", decoded));  // 5 % 4 == 1
}

TEST(TokenCipher, SealsAndOpensWithTheWorkspaceAsAssociatedData) {
  const auto cipher = TokenCipher::parse(kOld);
  const auto sealed = cipher.seal(kToken, "T1");
  EXPECT_EQ(sealed.key_id, "k1");
  EXPECT_EQ(sealed.bytes.size(), 12 + std::string_view(kToken).size() + 16);
  EXPECT_EQ(sealed.bytes.find("abcdefghijklmnop"), std::string::npos);
  const auto opened = cipher.open(sealed, "T1");
  ASSERT_TRUE(opened) << tracker::slack::to_string(opened.error().kind);
  EXPECT_EQ(opened->reveal(), kToken);
  // A fresh nonce every time: the same token never seals to the same bytes.
  EXPECT_NE(cipher.seal(kToken, "T1").bytes, sealed.bytes);
}

TEST(TokenCipher, RefusesAnotherWorkspacesRowChangedBytesAndUnknownKeys) {
  const auto cipher = TokenCipher::parse(kOld);
  const auto sealed = cipher.seal(kToken, "T1");
  auto moved = cipher.open(sealed, "T2");
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().kind, OpenFailure::Kind::tampered);

  for (std::size_t at : {std::size_t{0}, std::size_t{14}, sealed.bytes.size() - 1}) {
    auto changed = sealed;
    changed.bytes[at] = static_cast<char>(changed.bytes[at] ^ 0x01);
    auto opened = cipher.open(changed, "T1");
    ASSERT_FALSE(opened) << "byte " << at;
    EXPECT_EQ(opened.error().kind, OpenFailure::Kind::tampered) << "byte " << at;
  }
  auto short_one = sealed;
  short_one.bytes.resize(20);
  EXPECT_EQ(cipher.open(short_one, "T1").error().kind, OpenFailure::Kind::malformed);

  auto unknown = sealed;
  unknown.key_id = "k9";
  EXPECT_EQ(cipher.open(unknown, "T1").error().kind, OpenFailure::Kind::unknown_key);

  // Another key under the same id (a key replaced instead of rotated) does not open it either.
  const auto other = TokenCipher::parse("k1:" + kNew.substr(3));
  EXPECT_EQ(other.open(sealed, "T1").error().kind, OpenFailure::Kind::tampered);
  EXPECT_THROW((void)cipher.open(unknown, "T1").value(), tracker::slack::OpenException);
}

TEST(TokenCipher, RotationSealsWithTheFirstKeyAndOpensWithAny) {
  const auto before = TokenCipher::parse(kOld);
  const auto sealed_before = before.seal(kToken, "T1");
  const auto during = TokenCipher::parse(kNew + ", " + kOld);
  EXPECT_EQ(during.current_key_id(), "k2");
  EXPECT_TRUE(during.knows("k1"));
  ASSERT_TRUE(during.open(sealed_before, "T1"));
  const auto sealed_during = during.seal(kToken, "T1");
  EXPECT_EQ(sealed_during.key_id, "k2");
  const auto after = TokenCipher::parse(kNew);
  EXPECT_EQ(after.open(sealed_during, "T1")->reveal(), kToken);
  EXPECT_EQ(after.open(sealed_before, "T1").error().kind, OpenFailure::Kind::unknown_key);
}

TEST(TokenCipher, SettingErrorsSayWhatIsWrongAndNeverShowTheKey) {
  const std::string material = kOld.substr(3);
  const std::pair<std::string, std::string> cases[] = {
      {"", "key 1 is empty"},
      {material, "key 1 is not \"<id>:<base64 of 32 bytes>\""},
      {"k1:" + material + ",", "key 2 is empty"},
      {"k1:" + material + ",k1:" + material, "key id \"k1\" is used twice"},
      {"k1:not-base64!", "key \"k1\" is not base64"},
      {"k1:" + tracker::slack::base64_encode("sixteen bytes!!!"),
       "key \"k1\" is 16 bytes; AES-256 needs 32"},
      {"bad id:" + material, "key 1's id must be 1 to 32 letters"},
  };
  for (const auto& [setting, expected] : cases) {
    try {
      (void)TokenCipher::parse(setting);
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const std::invalid_argument& error) {
      const std::string what = error.what();
      EXPECT_NE(what.find(expected), std::string::npos) << what;
      EXPECT_EQ(what.find(material), std::string::npos) << what;
    }
  }
}

TEST(TokenCipher, DerivedKeysDependOnTheKeyAndThePurpose) {
  const auto cipher = TokenCipher::parse(kNew + "," + kOld);
  const auto state = cipher.derive("oauth-state");
  ASSERT_EQ(state.size(), 2U);
  EXPECT_EQ(state[0].reveal().size(), 32U);
  EXPECT_NE(state[0].reveal(), state[1].reveal());
  EXPECT_EQ(cipher.derive("oauth-state")[0].reveal(), state[0].reveal());
  EXPECT_NE(cipher.derive("other")[0].reveal(), state[0].reveal());
  EXPECT_EQ(TokenCipher::parse(kOld).derive("oauth-state")[0].reveal(), state[1].reveal());
}
