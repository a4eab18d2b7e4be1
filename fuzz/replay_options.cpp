// tracker-replay's command line (tools/replay options.cpp): options, times and pacing. The input
// is the argument list, one argument a line; the whole input is also read as a time.
//
// Checked: the only exception is UsageError (the tool's exit status 2); options that parse obey
// the rules the parser states (one sink, a range by offsets or by time and ending after it
// starts, a loopback ingest address, rate and speed not both); a time that parses is within what
// system_clock holds; the pacing of a parsed run (due_time) is defined for its range.
#include <string>
#include <vector>

#include <options.hpp>

#include "fuzz_support.hpp"

namespace {

using tracker::fuzz::require;
namespace replay = tracker::replay;
using std::chrono::hours;
using std::chrono::steady_clock;
using std::chrono::system_clock;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = tracker::fuzz::as_text(data, size);
  try {
    static_cast<void>(replay::parse_time("--from-time", input));
  } catch (const replay::UsageError&) {
  }

  std::vector<std::string_view> args;
  for (std::string_view rest = input; !rest.empty();) {
    const auto end = rest.find('\n');
    args.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  }
  replay::Options options;
  try {
    options = replay::parse_options(args);
  } catch (const replay::UsageError&) {
    return 0;
  }
  if (options.help) return 0;
  require(!(options.from_offset || options.to_offset) || !(options.from_time || options.to_time),
          "a range by offsets and by time");
  if (options.from_offset && options.to_offset) {
    require(*options.to_offset > *options.from_offset, "offset range ends before it starts");
  }
  if (options.from_time && options.to_time) {
    require(*options.to_time > *options.from_time, "time range ends before it starts");
  }
  if (options.sink == replay::Sink::ingest) {
    require(options.ingest_host.starts_with("127.") && options.ingest_port > 0,
            "ingest sink not on loopback");
  }
  require(!(options.rate > 0 && options.speed > 0), "rate and speed both set");
  require(options.max_records >= 1, "max_records");

  // Pacing over the run's own range (or an hour), for the last record it may send.
  const auto first = options.from_time.value_or(system_clock::time_point{});
  const auto last = options.to_time.value_or(first + hours{1});
  const auto start = steady_clock::time_point{};
  const auto due = replay::due_time(options, start, first, last, options.max_records);
  require(due >= start, "a record due before the run started");
  return 0;
}
