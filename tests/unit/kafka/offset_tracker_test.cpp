// Offsets finished out of order are committed in order.
#include <gtest/gtest.h>

#include <tracker/kafka/offset_tracker.hpp>

using tracker::kafka::OffsetTracker;

TEST(OffsetTracker, AdvancesOnlyOverARunOfFinishedRecords) {
  OffsetTracker tracker;
  for (std::int64_t offset = 10; offset < 15; ++offset) tracker.add(0, offset);
  EXPECT_EQ(tracker.finish(0, 12), std::nullopt);  // 10 and 11 still open
  EXPECT_EQ(tracker.finish(0, 11), std::nullopt);
  EXPECT_EQ(tracker.finish(0, 10), 13);  // 10, 11, 12 done: commit 13
  EXPECT_EQ(tracker.finish(0, 14), std::nullopt);
  EXPECT_EQ(tracker.finish(0, 13), 15);
  EXPECT_EQ(tracker.pending(), 0U);
}

TEST(OffsetTracker, PartitionsAreIndependent) {
  OffsetTracker tracker;
  tracker.add(0, 5);
  tracker.add(1, 7);
  tracker.add(1, 8);
  EXPECT_EQ(tracker.finish(1, 7), 8);
  EXPECT_EQ(tracker.finish(0, 5), 6);
  EXPECT_EQ(tracker.pending(), 1U);
}

TEST(OffsetTracker, ARecordFetchedTwiceIsDoneWhenBothCopiesAre) {
  OffsetTracker tracker;
  tracker.add(2, 100);
  tracker.add(2, 100);  // the partition came back after a rebalance
  EXPECT_EQ(tracker.finish(2, 100), std::nullopt);
  EXPECT_EQ(tracker.finish(2, 100), 101);
  EXPECT_EQ(tracker.finish(2, 100), std::nullopt);  // unknown now: ignored
}
