// The topic names the services use are the ones of schemas/topics.json.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include <tracker/messages/topics.hpp>

TEST(Topics, ConstantsNameEveryTopicOfTheTopicsFile) {
  std::ifstream in(std::string(TRACKER_SOURCE_DIR) + "/schemas/topics.json");
  const auto file = nlohmann::json::parse(in);
  std::set<std::string> names;
  for (const auto& topic : file.at("topics")) {
    names.insert(topic.at("name").get<std::string>());
    EXPECT_GT(topic.at("partitions").get<int>(), 0);
    EXPECT_GT(topic.at("retention_ms").get<std::int64_t>(), 0);
  }
  namespace t = tracker::messages::topics;
  for (auto name : {t::kSlackEvents, t::kSlackEventsDeadLetters, t::kSummaryRequests,
                    t::kSummaryRequestsDeadLetters, t::kSlackOutbox, t::kSlackOutboxDeadLetters,
                    t::kSlackCommands}) {
    EXPECT_TRUE(names.contains(std::string(name))) << name;
  }
  EXPECT_EQ(names.size(), 7U);
}
