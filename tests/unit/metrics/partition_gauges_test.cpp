// PartitionGauges: one series per partition held, the others removed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <tracker/metrics/partition_gauges.hpp>

namespace {

struct HeldLag {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t messages = 0;
};

std::string lag_exposition(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace

TEST(PartitionGaugesTest, KeepsASeriesPerPartitionHeldAndRemovesTheRevokedOnes) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildGauge().Name("t_lag_messages").Help("lag").Register(registry);
  tracker::metrics::PartitionGauges gauges(family);

  gauges.update(std::vector<HeldLag>{{"events", 0, 5}, {"events", 1, 0}, {"events", 2, 12}});
  EXPECT_EQ(gauges.size(), 3U);
  std::string text = lag_exposition(registry);
  EXPECT_NE(text.find(R"(t_lag_messages{partition="0",topic="events"} 5)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(t_lag_messages{partition="2",topic="events"} 12)"), std::string::npos);

  // Partition 0 revoked, partition 3 assigned, partition 2 caught up.
  gauges.update(std::vector<HeldLag>{{"events", 1, 0}, {"events", 2, 0}, {"events", 3, 7}});
  EXPECT_EQ(gauges.size(), 3U);
  text = lag_exposition(registry);
  EXPECT_EQ(text.find(R"(partition="0")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(t_lag_messages{partition="2",topic="events"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(t_lag_messages{partition="3",topic="events"} 7)"), std::string::npos);

  // Everything revoked: no series at all, rather than stale numbers.
  gauges.update(std::vector<HeldLag>{});
  EXPECT_EQ(gauges.size(), 0U);
  EXPECT_EQ(lag_exposition(registry).find("t_lag_messages{"), std::string::npos);
}
