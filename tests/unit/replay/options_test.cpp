// tracker-replay's command line, time parsing and pacing: no servers.
#include <gtest/gtest.h>

#include "options.hpp"
#include "sinks.hpp"

namespace {

using namespace std::chrono_literals;
using tracker::replay::due_time;
using tracker::replay::Options;
using tracker::replay::parse_options;
using tracker::replay::parse_time;
using tracker::replay::Sink;
using tracker::replay::UsageError;

Options parse(std::vector<std::string_view> args) {
  return parse_options(args);
}

std::string replay_error_of(std::vector<std::string_view> args) {
  try {
    parse_options(args);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

TEST(ReplayOptions, ReadsARangeAPaceAndASink) {
  const auto o = parse({"--topic", "slack-events", "--partition", "2", "--partition", "4",
                        "--from-offset", "10", "--to-offset", "20", "--speed", "60", "--to-ingest",
                        "127.0.0.1:3000", "--max-records", "500"});
  EXPECT_EQ(o.topic, "slack-events");
  EXPECT_EQ(o.partitions, (std::vector<std::int32_t>{2, 4}));
  EXPECT_EQ(o.from_offset, 10);
  EXPECT_EQ(o.to_offset, 20);
  EXPECT_DOUBLE_EQ(o.speed, 60);
  EXPECT_EQ(o.sink, Sink::ingest);
  EXPECT_EQ(o.ingest_host, "127.0.0.1");
  EXPECT_EQ(o.ingest_port, 3000);
  EXPECT_EQ(o.max_records, 500U);

  const auto t = parse({"--from-time", "2026-12-01T09:00:00Z", "--to-time",
                        "2026-12-01T19:00:00+09:00", "--rate", "50", "--to-topic", "copy"});
  EXPECT_EQ(t.sink, Sink::topic);
  EXPECT_EQ(t.target_topic, "copy");
  EXPECT_DOUBLE_EQ(t.rate, 50);
  EXPECT_DOUBLE_EQ(t.speed, 0);
  EXPECT_EQ(epoch_ms(*t.to_time) - epoch_ms(*t.from_time), 3'600'000) << "19:00+09:00 is 10:00Z";
  EXPECT_EQ(parse({"--dry-run", "--speed", "max"}).speed, 0);
}

TEST(ReplayOptions, NamesWhatIsWrong) {
  EXPECT_EQ(replay_error_of({"--speed", "2"}),
            "say where to: --dry-run, --to-ingest 127.0.0.1:PORT or --to-topic NAME");
  EXPECT_NE(replay_error_of({"--to-ingest", "10.1.2.3:3000"}).find("not a 127.0.0.0/8 address"),
            std::string::npos);
  EXPECT_NE(replay_error_of({"--to-ingest", "localhost:3000"}).find("not a 127.0.0.0/8 address"),
            std::string::npos);
  EXPECT_NE(replay_error_of({"--to-ingest", "127.0.0.1:70000"}).find("out of range"),
            std::string::npos);
  EXPECT_EQ(replay_error_of({"--dry-run", "--to-topic", "x"}),
            "choose one of --dry-run, --to-ingest, --to-topic");
  EXPECT_EQ(replay_error_of({"--dry-run", "--from-offset", "5", "--from-time", "1000"}),
            "a range is by offsets or by time, not both");
  EXPECT_EQ(replay_error_of({"--dry-run", "--from-offset", "5", "--to-offset", "5"}),
            "--to-offset must be after --from-offset (it is exclusive)");
  EXPECT_EQ(replay_error_of({"--dry-run", "--rate", "10", "--speed", "2"}),
            "--rate and --speed do not combine");
  EXPECT_EQ(replay_error_of({"--to-topic", "slack-events"}),
            "--to-topic: the range's own topic would grow while it is read");
  EXPECT_NE(replay_error_of({"--dry-run", "--speed", "0"}).find("--speed"), std::string::npos);
  EXPECT_EQ(replay_error_of({"--dry-run", "--bogus"}), "unknown option '--bogus' (see --help)");
  EXPECT_EQ(replay_error_of({"--dry-run", "--topic"}), "--topic: needs a value");
  EXPECT_TRUE(parse({"--help"}).help);
}

TEST(ReplayOptions, ReadsTimesWithAZoneOrAsEpochMilliseconds) {
  EXPECT_EQ(epoch_ms(parse_time("t", "1764579600000")), 1764579600000);
  EXPECT_EQ(epoch_ms(parse_time("t", "2025-12-01T09:00:00Z")), 1764579600000);
  EXPECT_EQ(epoch_ms(parse_time("t", "2025-12-01T18:00:00.250+09:00")), 1764579600250);
  EXPECT_EQ(epoch_ms(parse_time("t", "2025-12-01T04:30:00-04:30")), 1764579600000);
  for (const char* bad : {"2025-12-01T09:00:00", "2025-12-01 09:00:00Z", "2025-13-01T09:00:00Z",
                          "2025-02-30T09:00:00Z", "yesterday", "2025-12-01T09:00:00.Z", ""}) {
    EXPECT_THROW(parse_time("--from-time", bad), UsageError) << bad;
  }
}

// Found by fuzz/replay_options: "3026-12-01T09:00:00.123456-05:30" (and epoch milliseconds up to
// 10^14) overflowed system_clock's 64-bit nanoseconds instead of being a usage error.
TEST(ReplayOptions, RefusesTimesTheClockCannotHold) {
  for (const char* bad :
       {"3026-12-01T09:00:00.123456-05:30", "2262-04-12T00:00:00Z", "1677-09-21T00:00:00Z",
        "0000-01-01T00:00:00Z", "9223372036855", "100000000000000"}) {
    EXPECT_THROW(parse_time("--from-time", bad), UsageError) << bad;
  }
  EXPECT_EQ(epoch_ms(parse_time("t", "9223372036854")), 9223372036854);
  EXPECT_EQ(epoch_ms(parse_time("t", "2262-04-11T00:00:00Z")), 9223286400000);
  EXPECT_EQ(epoch_ms(parse_time("t", "1677-09-22T00:00:00Z")), -9223286400000);
}

// Found by fuzz/replay_options: --speed 1e-300 passes the (0, 1000000] check, and the spacing
// divided by it overflowed steady_clock's nanoseconds (undefined behaviour).
TEST(ReplayOptions, ATinySpeedDelaysAYearAtMost) {
  const auto options = parse({"--dry-run", "--speed", "1e-300"});
  const auto start = std::chrono::steady_clock::time_point{};
  const auto first = std::chrono::system_clock::time_point{std::chrono::hours{1}};
  EXPECT_EQ(due_time(options, start, first, first + 1h, 1), start + std::chrono::hours{24 * 365});
}

TEST(ReplayOptions, PacesBySpeedOrRate) {
  const auto start = std::chrono::steady_clock::time_point{} + 100s;
  const auto first = std::chrono::system_clock::time_point{} + 1'000s;
  Options o;
  o.speed = 60;  // an hour a minute
  EXPECT_EQ(due_time(o, start, first, first, 0), start);
  EXPECT_EQ(due_time(o, start, first, first + 3'600s, 7), start + 60s);
  EXPECT_EQ(due_time(o, start, first, first - 5s, 1), start) << "earlier than the first: at once";
  o.speed = 0;
  EXPECT_EQ(due_time(o, start, first, first + 3'600s, 7), start);
  o.rate = 4;
  EXPECT_EQ(due_time(o, start, first, first + 3'600s, 0), start);
  EXPECT_EQ(due_time(o, start, first, first, 10), start + 2'500ms);
}
