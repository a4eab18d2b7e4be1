#include <gtest/gtest.h>

#include <unistd.h>

#include <tracker/service/settings.hpp>

namespace tracker::service {
namespace {

using namespace std::chrono_literals;

config::Env env_of(std::map<std::string, std::string> values) {
  return config::Env(config::fixed_environment(std::move(values)));
}

TEST(ServiceSettings, DefaultsAreEachServicesOwnAndTheDatabaseComesWithThem) {
  auto env = env_of(
      {{"KAFKA_BROKERS", "127.0.0.1:9092"}, {"DATABASE_URL", "postgresql://u:p@db/tracker"}});
  const Settings s =
      load_common(env, {.ops_port = 9466, .db_pool_size = 4, .db_query_timeout = 30s});
  env.finish();
  EXPECT_EQ(s.brokers, "127.0.0.1:9092");
  EXPECT_EQ(s.ops_address, "127.0.0.1");
  EXPECT_EQ(s.ops_port, 9466);
  EXPECT_EQ(s.shutdown_grace, 10s);
  EXPECT_EQ(s.log_level, log::Level::info);
  EXPECT_EQ(s.io_threads, 1);
  ASSERT_TRUE(s.database.has_value());
  EXPECT_EQ(s.database->url, "postgresql://u:p@db/tracker");
  EXPECT_EQ(s.database->schema, "");
  EXPECT_EQ(s.database->pool_size, 4U);
  EXPECT_EQ(s.database->query_timeout, 30s);
  EXPECT_EQ(s.database->retry_max, 5s);
  EXPECT_TRUE(s.database->migrate);
}

TEST(ServiceSettings, AServiceWithoutADatabaseNeitherReadsNorNeedsDatabaseUrl) {
  auto env = env_of({{"KAFKA_BROKERS", "127.0.0.1:9092"}, {"TRACKER_OPS_PORT", "0"}});
  const Settings s = load_common(env, {.ops_port = 9464, .database = false});
  EXPECT_NO_THROW(env.finish());
  EXPECT_FALSE(s.database.has_value());
  EXPECT_EQ(s.ops_port, 0);
}

TEST(ServiceSettings, EveryBadVariableIsNamedAtOnce) {
  auto env = env_of({{"KAFKA_BROKERS", "nohost"},
                     {"TRACKER_DB_POOL_SIZE", "0"},
                     {"TRACKER_DB_RETRY_MAX_INTERVAL", "5"},
                     {"TRACKER_LOG_LEVEL", "loud"},
                     {"TRACKER_SHUTDOWN_GRACE", "1h"}});
  static_cast<void>(load_common(env, {.ops_port = 9468}));
  try {
    env.finish();
    FAIL() << "bad settings were accepted";
  } catch (const config::ConfigError& error) {
    const std::string what = error.what();
    for (const char* name :
         {"KAFKA_BROKERS", "DATABASE_URL", "TRACKER_DB_POOL_SIZE", "TRACKER_DB_RETRY_MAX_INTERVAL",
          "TRACKER_LOG_LEVEL", "TRACKER_SHUTDOWN_GRACE"}) {
      EXPECT_NE(what.find(name), std::string::npos) << name << " is not named in:\n" << what;
    }
  }
}

TEST(ServiceSettings, APoolSizeOfZeroIsLeftForTheServiceToDeriveWhenItSaysSo) {
  auto env = env_of({{"KAFKA_BROKERS", "127.0.0.1:9092"}, {"DATABASE_URL", "dbname=tracker"}});
  const Settings s = load_common(env, {.ops_port = 9465, .db_pool_size = 0, .db_pool_min = 0});
  env.finish();
  EXPECT_EQ(s.database->pool_size, 0U);
}

}  // namespace
}  // namespace tracker::service

namespace tracker::service {
namespace {

TEST(ServiceSettings, ABaseUrlIsCheckedAndNamedWhenItIsNotOne) {
  auto env = env_of({{"OPENAI_BASE_URL", "ftp://example.com"}});
  EXPECT_EQ(load_base_url(env, "SLACK_API_BASE_URL", "https://slack.com/api"),
            "https://slack.com/api");
  static_cast<void>(load_base_url(env, "OPENAI_BASE_URL", "https://api.openai.com/v1"));
  try {
    env.finish();
    FAIL() << "ftp:// was accepted";
  } catch (const config::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("OPENAI_BASE_URL"), std::string::npos);
    EXPECT_EQ(std::string(error.what()).find("SLACK_API_BASE_URL"), std::string::npos);
  }
}

TEST(ServiceSettings, AnInstanceIsNamedAfterTheHostAndTheProcess) {
  const std::string name = default_instance("scheduler");
  EXPECT_TRUE(name.ends_with("-" + std::to_string(::getpid()))) << name;
  EXPECT_GT(name.size(), std::to_string(::getpid()).size() + 1);
}

}  // namespace
}  // namespace tracker::service
