// slack-load: sends Slack Events API `message` events, signed as Slack signs them, to a service
// on this machine, and prints JMeter's summary table for the run.
//
//   SLACK_SIGNING_SECRET=... slack-load --target 127.0.0.1:8080 --connections 1000
//       --requests 50000 [--rate 2000] [--time-limit 120] [--no-keepalive] [--json out.json]
//   slack-load --self-test
//
// Latency is measured from the start of the request's write to the end of its response (with
// --no-keepalive from the start of the connect, as JMeter's elapsed time includes it); with
// --rate from the time the request was due to be sent, so that queueing is not hidden. Failures
// are non-2xx statuses and transport errors, counted by cause. Exit status: 0 when the run was
// measured (whatever its error rate), 1 when the self-check fails, 2 for a usage or setup error.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "event_body.hpp"
#include "load_run.hpp"
#include "options.hpp"
#include "report.hpp"
#include "signer.hpp"
#include "wire.hpp"

namespace lt = tracker::loadtest;

namespace {

bool self_test() {
  for (const auto& failure : {lt::signer_self_test(), lt::event_body_self_test()}) {
    if (!failure.empty()) {
      std::fprintf(stderr, "slack-load: self-test failed: %s\n", failure.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  lt::Options options;
  try {
    options = lt::parse_options(argc, argv);
  } catch (const lt::UsageError& e) {
    std::fprintf(stderr, "slack-load: %s (--help for usage)\n", e.what());
    return 2;
  }
  if (options.help) {
    std::printf("%s", lt::usage().c_str());
    return 0;
  }
  if (!self_test()) return 1;
  if (options.self_test) {
    std::printf(
        "self-test passed: Slack's example request signs to its published signature; "
        "event bodies are valid event_callback JSON\n");
    return 0;
  }

  const char* secret = std::getenv("SLACK_SIGNING_SECRET");
  if (secret == nullptr || *secret == '\0') {
    std::fprintf(stderr, "slack-load: SLACK_SIGNING_SECRET is required (the service's secret)\n");
    return 2;
  }
  if (!lt::raise_descriptor_limit(std::min<long>(options.connections, options.requests),
                                  "slack-load")) {
    return 2;
  }

  const lt::SlackSigner signer(secret);
  const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const lt::EventFactory events(lt::make_run_id(), options.users, unix_now);
  std::array<char, 160> pacing{};
  if (options.rate > 0) {
    // The schedule's length next to the time limit shows at once whether the limit will cut it.
    std::snprintf(pacing.data(), pacing.size(),
                  "rate-paced at %.1f requests/s (open model, schedule %.2f s)", options.rate,
                  static_cast<double>(options.requests) / options.rate);
  } else {
    std::snprintf(pacing.data(), pacing.size(), "ramp %.1f s", options.ramp_s);
  }
  std::printf(
      "slack-load: POST http://%s%s, %d connections%s, %ld requests, %d users, "
      "time limit %.0f s, request timeout %.1f s, %s, %d thread%s, run %s\n\n",
      options.target_text.c_str(), options.path.c_str(), options.connections,
      options.keepalive ? " (keep-alive)" : " (new connection per request)", options.requests,
      options.users, options.time_limit_s, options.request_timeout_s, pacing.data(),
      options.threads, options.threads == 1 ? "" : "s", events.run_id().c_str());
  std::fflush(stdout);

  const auto usage_before = lt::process_usage();
  auto load = lt::run_load(options, signer, events);
  const auto usage_after = lt::process_usage();
  const double wall_s = std::chrono::duration<double>(lt::Clock::now() - load.start).count();

  const lt::Report report(
      lt::RunInfo{.label = options.label,
                  .target = options.target_text,
                  .path = options.path,
                  .connections = options.connections,
                  .requests = options.requests,
                  .keepalive = options.keepalive,
                  .threads = options.threads,
                  .target_rate = options.rate,
                  .connect_phase_s = load.connect_phase_s,
                  .wall_s = wall_s,
                  .usage = {.user_s = usage_after.user_s - usage_before.user_s,
                            .system_s = usage_after.system_s - usage_before.system_s,
                            .peak_rss_mib = usage_after.peak_rss_mib},
                  .time_limit_hit = load.time_limit_hit},
      load.workers);
  std::printf("%s", report.markdown().c_str());
  if (!options.json_path.empty()) {
    std::ofstream file(options.json_path);
    file << report.json().dump(2) << '\n';
    if (!file) {
      std::fprintf(stderr, "slack-load: could not write %s\n", options.json_path.c_str());
      return 2;
    }
  }
  return 0;
}
