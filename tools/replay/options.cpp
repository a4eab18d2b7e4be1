#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <type_traits>

#include <boost/asio/ip/address.hpp>

#include <tracker/config/number.hpp>

namespace tracker::replay {

namespace {

template <typename T>
T parse_number(std::string_view name, std::string_view text, T min, T max) {
  std::string error;
  if (auto value = config::parse_number(name, text, min, max, error)) return *value;
  throw UsageError(error);
}

int digits(std::string_view option, std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) throw UsageError(std::string(option) + ": too short");
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      throw UsageError(std::string(option) + ": expected a digit at position " +
                       std::to_string(i + 1) + " of '" + std::string(text) + "'");
    }
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

void expect(std::string_view option, std::string_view text, std::size_t at, char c) {
  if (at >= text.size() || text[at] != c) {
    throw UsageError(std::string(option) + ": expected '" + std::string(1, c) + "' at position " +
                     std::to_string(at + 1) + " of '" + std::string(text) +
                     "' (YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM), or epoch milliseconds)");
  }
}

}  // namespace

std::chrono::system_clock::time_point parse_time(std::string_view option, std::string_view text) {
  using namespace std::chrono;
  // system_clock counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11): a time outside that
  // is refused here rather than overflowing when converted.
  constexpr auto kEarliest = time_point_cast<microseconds>(system_clock::time_point::min());
  constexpr auto kLatest = time_point_cast<microseconds>(system_clock::time_point::max());
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    return system_clock::time_point{milliseconds{parse_number<std::int64_t>(
        option, text, 0, duration_cast<milliseconds>(kLatest.time_since_epoch()).count())}};
  }
  const int y = digits(option, text, 0, 4);
  expect(option, text, 4, '-');
  const int mo = digits(option, text, 5, 2);
  expect(option, text, 7, '-');
  const int d = digits(option, text, 8, 2);
  expect(option, text, 10, 'T');
  const int h = digits(option, text, 11, 2);
  expect(option, text, 13, ':');
  const int mi = digits(option, text, 14, 2);
  expect(option, text, 16, ':');
  const int s = digits(option, text, 17, 2);
  std::size_t at = 19;
  microseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    ++at;
    int scale = 100'000;
    std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (scale > 0) fraction += microseconds{(text[at] - '0') * scale};
      scale /= 10;
      ++at;
    }
    if (at == start) throw UsageError(std::string(option) + ": no digits after '.'");
  }
  minutes offset{0};
  if (at < text.size() && text[at] == 'Z' && at + 1 == text.size()) {
    // UTC
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-') && at + 6 == text.size()) {
    const int oh = digits(option, text, at + 1, 2);
    expect(option, text, at + 3, ':');
    const int om = digits(option, text, at + 4, 2);
    offset = minutes{(oh * 60 + om) * (text[at] == '-' ? -1 : 1)};
  } else {
    throw UsageError(std::string(option) + ": '" + std::string(text) +
                     "' needs a zone: Z or +HH:MM (times are not read in a local zone)");
  }
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || s > 60) {
    throw UsageError(std::string(option) + ": '" + std::string(text) + "' is not a valid time");
  }
  const sys_time<microseconds> time =
      sys_days{date} + hours{h} + minutes{mi} + seconds{s} + fraction - offset;
  if (time < kEarliest || time > kLatest) {
    throw UsageError(std::string(option) + ": '" + std::string(text) +
                     "' is outside the times this tool can hold (1678 to 2262)");
  }
  return time_point_cast<system_clock::duration>(time);
}

Options parse_options(const std::vector<std::string_view>& args) {
  Options o;
  bool have_speed = false;
  bool have_sink = false;
  const auto set_sink = [&](Sink sink) {
    if (have_sink) throw UsageError("choose one of --dry-run, --to-ingest, --to-topic");
    have_sink = true;
    o.sink = sink;
  };
  const std::map<std::string_view, std::function<void(std::string_view)>> with_value{
      {"--topic",
       [&](std::string_view v) {
         if (v.empty()) throw UsageError("--topic: empty");
         o.topic = v;
       }},
      {"--partition",
       [&](std::string_view v) {
         o.partitions.push_back(parse_number<std::int32_t>("--partition", v, 0, 100'000));
       }},
      {"--from-offset",
       [&](std::string_view v) {
         o.from_offset = parse_number<std::int64_t>("--from-offset", v, 0, INT64_MAX);
       }},
      {"--to-offset",
       [&](std::string_view v) {
         o.to_offset = parse_number<std::int64_t>("--to-offset", v, 0, INT64_MAX);
       }},
      {"--from-time", [&](std::string_view v) { o.from_time = parse_time("--from-time", v); }},
      {"--to-time", [&](std::string_view v) { o.to_time = parse_time("--to-time", v); }},
      {"--speed",
       [&](std::string_view v) {
         have_speed = true;
         if (v == "max") {
           o.speed = 0;
           return;
         }
         double value = 0;
         const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
         if (ec != std::errc{} || ptr != v.data() + v.size() || !(value > 0) || value > 1e6) {
           throw UsageError("--speed: expected a factor in (0, 1000000] or 'max', not '" +
                            std::string(v) + "'");
         }
         o.speed = value;
       }},
      {"--rate",
       [&](std::string_view v) {
         o.rate = parse_number<std::uint32_t>("--rate", v, 1, 1'000'000);
       }},
      {"--to-ingest",
       [&](std::string_view v) {
         set_sink(Sink::ingest);
         const auto colon = v.rfind(':');
         if (colon == std::string_view::npos) throw UsageError("--to-ingest: expected HOST:PORT");
         const std::string host(v.substr(0, colon));
         boost::system::error_code ec;
         const auto address = boost::asio::ip::make_address(host, ec);
         if (ec || !address.is_v4() || (address.to_v4().to_uint() >> 24) != 127) {
           throw UsageError("--to-ingest: '" + host +
                            "' is not a 127.0.0.0/8 address; replays only go to this machine");
         }
         o.ingest_host = host;
         o.ingest_port =
             parse_number<std::uint16_t>("--to-ingest port", v.substr(colon + 1), 1, 65535);
       }},
      {"--path",
       [&](std::string_view v) {
         if (!v.starts_with('/')) throw UsageError("--path: must start with '/'");
         o.ingest_path = v;
       }},
      {"--to-topic",
       [&](std::string_view v) {
         set_sink(Sink::topic);
         if (v.empty()) throw UsageError("--to-topic: empty");
         o.target_topic = v;
       }},
      {"--max-records",
       [&](std::string_view v) {
         o.max_records = parse_number<std::uint64_t>("--max-records", v, 1, 100'000'000);
       }},
      {"--time-limit",
       [&](std::string_view v) {
         o.time_limit = std::chrono::seconds{
             parse_number<std::int64_t>("--time-limit (seconds)", v, 1, 7 * 86'400)};
       }},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      return o;
    }
    if (arg == "--dry-run") {
      set_sink(Sink::dry_run);
      continue;
    }
    if (arg == "--quiet") {
      o.quiet = true;
      continue;
    }
    const auto handler = with_value.find(arg);
    if (handler == with_value.end()) {
      throw UsageError("unknown option '" + std::string(arg) + "' (see --help)");
    }
    if (i + 1 >= args.size()) throw UsageError(std::string(arg) + ": needs a value");
    handler->second(args[++i]);
  }
  if (!have_sink) {
    throw UsageError("say where to: --dry-run, --to-ingest 127.0.0.1:PORT or --to-topic NAME");
  }
  if ((o.from_offset || o.to_offset) && (o.from_time || o.to_time)) {
    throw UsageError("a range is by offsets or by time, not both");
  }
  if (o.from_offset && o.to_offset && *o.to_offset <= *o.from_offset) {
    throw UsageError("--to-offset must be after --from-offset (it is exclusive)");
  }
  if (o.from_time && o.to_time && *o.to_time <= *o.from_time) {
    throw UsageError("--to-time must be after --from-time (it is exclusive)");
  }
  if (o.rate > 0 && have_speed) throw UsageError("--rate and --speed do not combine");
  if (o.rate > 0) o.speed = 0;
  if (o.sink == Sink::topic && o.target_topic == o.topic) {
    throw UsageError("--to-topic: the range's own topic would grow while it is read");
  }
  return o;
}

std::chrono::steady_clock::time_point due_time(const Options& options,
                                               std::chrono::steady_clock::time_point start,
                                               std::chrono::system_clock::time_point first_time,
                                               std::chrono::system_clock::time_point record_time,
                                               std::uint64_t index) {
  using namespace std::chrono;
  if (options.rate > 0) {
    return start + duration_cast<steady_clock::duration>(
                       duration<double>(static_cast<double>(index) / options.rate));
  }
  if (options.speed <= 0 || record_time <= first_time) return start;
  // At most a year: a tiny --speed ("1e-300") would make the delay larger than steady_clock's
  // 64-bit nanoseconds hold; a run stops after --time-limit (a week at most) anyway.
  constexpr duration<double> kLongest = hours{24 * 365};
  const duration<double> spacing = record_time - first_time;
  return start + duration_cast<steady_clock::duration>(std::min(spacing / options.speed, kLongest));
}

std::string usage() {
  return R"(tracker-replay: replays a range of a Kafka topic (slack-events) into ingest or a topic.

  tracker-replay [range] [pacing] (--dry-run | --to-ingest 127.0.0.1:PORT | --to-topic NAME)

Range (offsets and times are exclusive at the end; the end is at most where the topic was when
the run started, so a replay always stops):
  --topic NAME           topic to read (slack-events)
  --partition N          only this partition (repeatable; default every partition)
  --from-offset N        first offset of each partition read
  --to-offset N          offset after the last one read
  --from-time T          first record at or after T: 2026-12-01T09:00:00Z, ...+09:00, or epoch ms
  --to-time T            records before T only
Pacing (records go in the order of their timestamps, across partitions):
  --speed X              X times the original spacing (1: as recorded; 60: an hour a minute);
                         'max': as fast as the sink takes them (default 1)
  --rate N               N records a second, whatever the original spacing
Where to:
  --dry-run              print each record and when (+seconds) it would be sent, at once;
                         send nothing
  --to-ingest H:P        POST each event's Slack body to http://H:P/slack/events (loopback only),
                         signed anew with SLACK_SIGNING_SECRET and the current timestamp
  --path /p              another path for --to-ingest
  --to-topic NAME        produce each record (key, value, headers) to NAME (acks=all)
Bounds:
  --max-records N        stop after N records (1000000)
  --time-limit S         stop after S seconds (3600)
  --quiet                no progress lines

KAFKA_BROKERS names the brokers. Exit status: 0 when every record in the range was sent and
accepted (or printed), 1 when some were refused or failed, 2 for a usage or setup error.
)";
}

}  // namespace tracker::replay
