#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include <tracker/kafka/limits.hpp>

#include <tracker/pg/migrations.hpp>
#include <tracker/schema/migrations.hpp>

TEST(BundledMigrations, AreNumberedOneUpwardWithoutGaps) {
  const auto& all = tracker::schema::migrations();
  ASSERT_FALSE(all.empty());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i + 1)) << all[i].name;
  }
}

TEST(BundledMigrations, MatchTheFilesInSchemas) {
  const auto on_disk =
      tracker::pg::load_migrations(std::string(TRACKER_SOURCE_DIR) + "/schemas/migrations");
  const auto& bundled = tracker::schema::migrations();
  ASSERT_EQ(on_disk.size(), bundled.size());
  for (std::size_t i = 0; i < bundled.size(); ++i) {
    EXPECT_EQ(bundled[i].checksum(), on_disk[i].checksum()) << bundled[i].name;
  }
}

// One record limit end to end: the topics, the broker, and the constants the producers,
// consumers and ingest's body limit are built on.
TEST(Topics, RecordLimitsAreTheOnesTheClientsUse) {
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) + "/schemas/topics.json");
  const auto file = nlohmann::json::parse(in);
  for (const auto& topic : file.at("topics")) {
    const auto name = topic.at("name").get<std::string>();
    const auto expected = name.ends_with(".dlq") ? tracker::kafka::kMaxDeadLetterBytes
                                                 : tracker::kafka::kMaxRecordBytes;
    EXPECT_EQ(topic.at("max_message_bytes").get<std::size_t>(), expected) << name;
  }
  std::ifstream broker(std::string(TRACKER_SOURCE_DIR) + "/deploy/local/server.properties.in");
  std::string line;
  bool found = false;
  while (std::getline(broker, line)) {
    if (line.starts_with("message.max.bytes=")) {
      found = true;
      EXPECT_EQ(line, "message.max.bytes=" + std::to_string(tracker::kafka::kMaxDeadLetterBytes));
    }
  }
  EXPECT_TRUE(found) << "the broker's message.max.bytes is set";
  EXPECT_LE(1024U * 1024U, tracker::kafka::kMaxEventBodyBytes)
      << "ingest's default body limit (1 MiB) fits in a record";
}
