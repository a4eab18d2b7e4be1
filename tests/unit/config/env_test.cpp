#include <gtest/gtest.h>

#include <sstream>

#include <tracker/config/env.hpp>

using namespace std::chrono_literals;
using tracker::config::ConfigError;
using tracker::config::Env;
using tracker::config::fixed_environment;

namespace {

Env env_of(std::map<std::string, std::string> values) {
  return Env(fixed_environment(std::move(values)));
}

std::string finish_message(const Env& env) {
  try {
    env.finish();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return {};
}

}  // namespace

TEST(Env, RequiredVariableThatIsMissingIsNamedInTheError) {
  Env env = env_of({});
  EXPECT_EQ(env.required("DATABASE_URL"), "");
  EXPECT_NE(finish_message(env).find("DATABASE_URL: is required but not set"), std::string::npos);
}

TEST(Env, RequiredVariableThatIsEmptyIsReported) {
  Env env = env_of({{"DATABASE_URL", ""}});
  env.required("DATABASE_URL");
  EXPECT_NE(finish_message(env).find("DATABASE_URL: is required but empty"), std::string::npos);
}

TEST(Env, EveryProblemIsReportedAtOnce) {
  Env env = env_of({{"TRACKER_PORT", "http"}, {"TRACKER_DEADLINE", "2"}});
  env.required("KAFKA_BROKERS");
  env.integer("TRACKER_PORT", 80, 1, 65535);
  env.duration("TRACKER_DEADLINE", 1s);
  try {
    env.finish();
    FAIL() << "finish() accepted bad configuration";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.problems().size(), 3U);
    EXPECT_EQ(error.problems()[0].rfind("KAFKA_BROKERS:", 0), 0U);
    EXPECT_EQ(error.problems()[1].rfind("TRACKER_PORT:", 0), 0U);
    EXPECT_EQ(error.problems()[2].rfind("TRACKER_DEADLINE:", 0), 0U);
  }
}

TEST(Env, GoodConfigurationFinishesQuietly) {
  Env env = env_of({{"KAFKA_BROKERS", "127.0.0.1:19092"}, {"TRACKER_WORKERS", "4"}});
  EXPECT_EQ(env.kafka_brokers("KAFKA_BROKERS"), "127.0.0.1:19092");
  EXPECT_EQ(env.integer("TRACKER_WORKERS", 1, 1, 64), 4);
  EXPECT_EQ(env.optional("TRACKER_UNSET", "fallback"), "fallback");
  EXPECT_NO_THROW(env.finish());
}

struct IntegerCase {
  const char* value;
  std::int64_t expected;
  bool ok;
};

class EnvInteger : public ::testing::TestWithParam<IntegerCase> {};

TEST_P(EnvInteger, ParsesWithinBoundsOnly) {
  const auto& c = GetParam();
  Env env = env_of({{"N", c.value}});
  EXPECT_EQ(env.integer("N", -1, 0, 100), c.expected);
  EXPECT_EQ(env.ok(), c.ok) << c.value;
}

INSTANTIATE_TEST_SUITE_P(Table, EnvInteger,
                         ::testing::Values(IntegerCase{"0", 0, true}, IntegerCase{"100", 100, true},
                                           IntegerCase{"101", -1, false},
                                           IntegerCase{"-1", -1, false},
                                           IntegerCase{"12abc", -1, false},
                                           IntegerCase{" 5", -1, false},
                                           IntegerCase{"", -1, true}));

struct DurationCase {
  const char* text;
  std::optional<std::chrono::milliseconds> expected;
};

class ParseDuration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDuration, AcceptsOnlyExplicitUnits) {
  EXPECT_EQ(tracker::config::parse_duration(GetParam().text), GetParam().expected)
      << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseDuration,
    ::testing::Values(DurationCase{"250ms", 250ms}, DurationCase{"2s", 2000ms},
                      DurationCase{"5m", 300'000ms}, DurationCase{"1h", 3'600'000ms},
                      DurationCase{"2", std::nullopt}, DurationCase{"s", std::nullopt},
                      DurationCase{"1.5s", std::nullopt}, DurationCase{"3d", std::nullopt},
                      DurationCase{"-1s", std::nullopt},
                      DurationCase{"99999999999999999999ms", std::nullopt}));

TEST(Env, DurationOutsideItsBoundsIsReported) {
  Env env = env_of({{"TRACKER_DEADLINE", "10s"}});
  EXPECT_EQ(env.duration("TRACKER_DEADLINE", 2s, 100ms, 3s), 2s);
  EXPECT_NE(finish_message(env).find("TRACKER_DEADLINE: must be between 100ms and 3000ms"),
            std::string::npos);
}

TEST(Env, FlagAcceptsCommonSpellingsAndRejectsOthers) {
  Env env = env_of({{"A", "TRUE"}, {"B", "off"}, {"C", "maybe"}});
  EXPECT_TRUE(env.flag("A", false));
  EXPECT_FALSE(env.flag("B", true));
  EXPECT_TRUE(env.flag("C", true));
  EXPECT_NE(finish_message(env).find("C: expected true or false"), std::string::npos);
}

TEST(Env, KafkaBrokersMustBeHostPortPairs) {
  for (const char* bad : {"localhost", "host:notaport", "host:0", "a:1,,b:2", ":9092"}) {
    Env env = env_of({{"KAFKA_BROKERS", bad}});
    env.kafka_brokers("KAFKA_BROKERS");
    EXPECT_FALSE(env.ok()) << bad;
  }
  Env env = env_of({{"KAFKA_BROKERS", "k1.internal:9092,k2.internal:9092,[::1]:9093"}});
  env.kafka_brokers("KAFKA_BROKERS");
  EXPECT_TRUE(env.ok());
}

TEST(Env, OneOfNamesTheAllowedValues) {
  Env env = env_of({{"LEVEL", "loud"}});
  EXPECT_EQ(env.one_of("LEVEL", "info", {"debug", "info"}), "info");
  EXPECT_NE(finish_message(env).find("expected one of debug, info, got \"loud\""),
            std::string::npos);
}

TEST(Env, ListenPortAllowsZeroForTests) {
  Env env = env_of({{"P0", "0"}, {"P1", "8080"}, {"P2", "70000"}});
  EXPECT_EQ(env.listen_port("P0", 1), 0);
  EXPECT_EQ(env.listen_port("P1", 1), 8080);
  EXPECT_EQ(env.listen_port("P2", 1), 1);
  EXPECT_FALSE(env.ok());
}

TEST(Secret, PrintsRedactedAndRevealsOnRequest) {
  Env env = env_of({{"SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"}});
  const auto secret = env.secret("SLACK_SIGNING_SECRET");
  std::ostringstream out;
  out << secret;
  EXPECT_EQ(out.str(), "[redacted]");
  EXPECT_EQ(secret.reveal(), "8f742231b10e8888abcd99yyyzzz85a5");
}

TEST(Secret, OptionalSecretSetButEmptyIsAMistake) {
  Env env = env_of({{"SLACK_SIGNING_SECRET_PREVIOUS", ""}});
  EXPECT_TRUE(env.optional_secret("SLACK_SIGNING_SECRET_PREVIOUS").empty());
  EXPECT_TRUE(env.optional_secret("UNSET_SECRET").empty());
  EXPECT_NE(finish_message(env).find("SLACK_SIGNING_SECRET_PREVIOUS: is set but empty"),
            std::string::npos);
}
