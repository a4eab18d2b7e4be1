// tracker-replay: a range of slack-events (by offsets or by time) replayed at a chosen pace into
// ingest over HTTP (signed anew) or straight into a topic; --dry-run prints what would be sent.
// Progress once a second on stderr, a final count on stdout; it stops at the end of the range,
// after --max-records, after --time-limit, or on SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include <tracker/config/env.hpp>
#include <tracker/log/timestamp.hpp>
#include <tracker/messages/envelope.hpp>

#include "options.hpp"
#include "range_reader.hpp"
#include "sinks.hpp"

namespace {

using namespace tracker::replay;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void request_stop(int) {
  g_stop = 1;
}

// "message", "message_changed" ...: the event's type and subtype, from the envelope.
std::string describe(const tracker::kafka::Message& record) {
  const auto envelope = tracker::messages::decode_envelope(record.value());
  if (envelope.has_error()) return "(not an envelope: " + envelope.error().reason + ")";
  std::string out = envelope->event_id;
  out += " " + (envelope->event_type.empty() ? std::string("?") : envelope->event_type);
  // The payload is part of the envelope just decoded: no second parse of the Slack body.
  const auto& payload = envelope->payload;
  if (payload.contains("event") && payload["event"].is_object()) {
    const auto& event = payload["event"];
    if (event.contains("subtype") && event["subtype"].is_string()) {
      out += "/" + event["subtype"].get<std::string>();
    }
    if (event.contains("text") && event["text"].is_string()) {
      std::string text = event["text"].get<std::string>();
      if (text.size() > 40) {
        std::size_t cut = 40;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text = text.substr(0, cut) + "…";
      }
      out += " \"" + text + "\"";
    }
  }
  return out;
}

int run(const Options& options, const std::string& brokers, const tracker::config::Secret& secret) {
  RangeReader reader(brokers, options);
  const std::uint64_t in_range = reader.size();
  const std::uint64_t planned = std::min<std::uint64_t>(in_range, options.max_records);
  std::cerr << "range: " << options.topic << ", " << in_range << " records";
  for (const auto& r : reader.ranges()) {
    if (r.end > r.begin) std::cerr << " [" << r.partition << ": " << r.begin << "-" << r.end << ")";
  }
  std::cerr << (planned < in_range ? ", the first " + std::to_string(planned) + " of them" : "")
            << std::endl;

  std::optional<IngestSink> ingest;
  std::optional<TopicSink> topic;
  if (options.sink == Sink::ingest) {
    ingest.emplace(options.ingest_host, options.ingest_port, options.ingest_path, secret);
  } else if (options.sink == Sink::topic) {
    topic.emplace(brokers, options.target_topic);
  }

  Tally tally;
  std::uint64_t sent = 0;
  const auto started = Clock::now();
  const auto deadline = started + options.time_limit;
  auto next_progress = started + std::chrono::seconds{1};
  std::optional<std::chrono::system_clock::time_point> first_time;
  Clock::duration max_behind{0};
  bool stopped_early = false;
  while (sent < options.max_records) {
    if (g_stop != 0 || Clock::now() >= deadline) {
      stopped_early = true;
      break;
    }
    auto record = reader.next();
    if (!record) break;
    const auto stamp = record->timestamp().value_or(std::chrono::system_clock::now());
    if (!first_time) first_time = stamp;
    const auto due = due_time(options, started, *first_time, stamp, sent);
    // Wait for the record's time in short steps, so that a signal or the limit ends the wait. A
    // dry run shows the schedule without keeping it.
    while (options.sink != Sink::dry_run && Clock::now() < due && g_stop == 0 &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds{100}));
    }
    if (g_stop != 0 || Clock::now() >= deadline) {
      stopped_early = true;
      break;
    }
    if (options.sink != Sink::dry_run) max_behind = std::max(max_behind, Clock::now() - due);
    if (options.sink == Sink::dry_run) {
      const double at = std::chrono::duration<double>(due - started).count();
      std::printf("+%9.3fs  %s[%d]@%lld  %s  key=%s  %s\n", at,
                  std::string(record->topic()).c_str(), record->partition(),
                  static_cast<long long>(record->offset()),
                  tracker::log::iso8601_utc(stamp).c_str(), std::string(record->key()).c_str(),
                  describe(*record).c_str());
      ++tally.accepted;
    } else if (ingest) {
      ingest->send(*record, tally);
    } else {
      topic->send(*record, tally);
    }
    ++sent;
    if (!options.quiet && Clock::now() >= next_progress) {
      next_progress += std::chrono::seconds{1};
      const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
      std::fprintf(
          stderr, "replayed %llu / %llu (%.0f%%)  %.0f/s  failed %llu\n",
          static_cast<unsigned long long>(sent), static_cast<unsigned long long>(planned),
          planned > 0 ? 100.0 * static_cast<double>(sent) / static_cast<double>(planned) : 100.0,
          elapsed > 0 ? static_cast<double>(sent) / elapsed : 0.0,
          static_cast<unsigned long long>(tally.failures()));
    }
  }
  if (topic) topic->flush(tally);
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("replayed %llu of %llu records in %.3f s (%s): %llu accepted, %llu failed",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(in_range),
              elapsed,
              options.sink == Sink::dry_run ? "dry run"
              : ingest                      ? "into ingest"
                                            : ("into " + options.target_topic).c_str(),
              static_cast<unsigned long long>(tally.accepted),
              static_cast<unsigned long long>(tally.failures()));
  for (const auto& [cause, count] : tally.failed) {
    std::printf(" %s=%llu", cause.c_str(), static_cast<unsigned long long>(count));
  }
  std::printf(
      "; at most %.1f ms behind schedule%s\n",
      std::chrono::duration<double, std::milli>(max_behind).count(),
      stopped_early ? (g_stop != 0 ? "; stopped by a signal" : "; stopped by --time-limit") : "");
  std::fflush(stdout);
  return tally.failures() > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    options = parse_options(args);
  } catch (const UsageError& error) {
    std::cerr << "tracker-replay: " << error.what() << "\n";
    return 2;
  }
  if (options.help) {
    std::cout << usage();
    return 0;
  }
  std::string brokers;
  tracker::config::Secret secret;
  try {
    tracker::config::Env env;
    brokers = env.kafka_brokers("KAFKA_BROKERS");
    if (options.sink == Sink::ingest) secret = env.secret("SLACK_SIGNING_SECRET");
    env.finish();
  } catch (const tracker::config::ConfigError& error) {
    std::cerr << "tracker-replay: " << error.what() << "\n";
    return 2;
  }
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  try {
    return run(options, brokers, secret);
  } catch (const std::exception& error) {
    std::cerr << "tracker-replay: " << error.what() << "\n";
    return 2;
  }
}
