#include "options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include <tracker/config/number.hpp>

namespace tracker::loadtest {
namespace {

template <typename T>
T parse_number(std::string_view name, std::string_view text, T min, T max) {
  std::string error;
  if (auto value = config::parse_number(name, text, min, max, error)) return *value;
  throw UsageError(error);
}

}  // namespace

boost::asio::ip::tcp::endpoint parse_loopback_target(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) throw UsageError("--target: expected [::1]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) throw UsageError("--target: expected 127.0.0.1:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) {
    throw UsageError("--target: '" + std::string(host) +
                     "' is not an IP address (host names are not resolved)");
  }
  const bool loopback = address.is_v4()
                            ? (address.to_v4().to_uint() >> 24) == 127
                            : address.to_v6() == boost::asio::ip::address_v6::loopback();
  if (!loopback) {
    throw UsageError("--target: " + address.to_string() +
                     " is not a loopback address; slack-load only targets 127.0.0.0/8 or ::1");
  }
  const auto port_number = parse_number<unsigned>("--target port", port, 1, 65535);
  return {address, static_cast<unsigned short>(port_number)};
}

std::string usage() {
  return R"(usage: slack-load --target 127.0.0.1:PORT [options]
  --target ADDR:PORT      loopback only (127.0.0.0/8 or [::1])
  --path PATH             request path (default /slack/events)
  --connections N         concurrent connections (default 50)
  --requests N            total requests, split across connections (default 10000)
  --time-limit S          bound on the whole run in seconds (default 120)
  --request-timeout S     per request, connect/write/read (default 10)
  --ramp-seconds S        start the connections evenly over S seconds (default 0)
  --rate N                open model: N requests/s over the whole run (1 to 1000000), request i
                          due at start + i/N on the next free connection; latency runs from
                          that due time, so queueing shows (default: closed model, each
                          connection sends when its previous response arrived)
  --no-keepalive          a new connection for every request
  --users N               distinct Slack users the events rotate over (default 200)
  --threads N             threads running the io_context (default 1)
  --label NAME            the table's label (default slack-events)
  --json FILE             also write the numbers as JSON
  --self-test             check the request signing against Slack's published example, then exit
environment: SLACK_SIGNING_SECRET (required for a run)
)";
}

Options parse_options(int argc, char** argv) {
  Options o;
  bool have_target = false;
  using Setter = std::function<void(std::string_view)>;
  const std::map<std::string_view, Setter> with_value{
      {"--target",
       [&](std::string_view v) {
         o.target = parse_loopback_target(v);
         o.target_text = v;
         have_target = true;
       }},
      {"--path",
       [&](std::string_view v) {
         if (!v.starts_with('/')) throw UsageError("--path: must start with '/'");
         for (char c : v) {
           if (c <= ' ' || c == '\x7f') throw UsageError("--path: no spaces or control characters");
         }
         o.path = v;
       }},
      {"--connections",
       [&](std::string_view v) { o.connections = parse_number("--connections", v, 1, 100'000); }},
      {"--requests",
       [&](std::string_view v) { o.requests = parse_number("--requests", v, 1L, 100'000'000L); }},
      {"--time-limit",
       [&](std::string_view v) {
         o.time_limit_s = parse_number("--time-limit", v, 0.1, 86'400.0);
       }},
      {"--request-timeout",
       [&](std::string_view v) {
         o.request_timeout_s = parse_number("--request-timeout", v, 0.001, 3'600.0);
       }},
      {"--ramp-seconds",
       [&](std::string_view v) { o.ramp_s = parse_number("--ramp-seconds", v, 0.0, 3'600.0); }},
      {"--rate", [&](std::string_view v) { o.rate = parse_number("--rate", v, 1.0, 1'000'000.0); }},
      {"--users", [&](std::string_view v) { o.users = parse_number("--users", v, 1, 9'999); }},
      {"--threads", [&](std::string_view v) { o.threads = parse_number("--threads", v, 1, 64); }},
      {"--label",
       [&](std::string_view v) {
         if (v.empty() || v.find('|') != std::string_view::npos) {
           throw UsageError("--label: must be non-empty and contain no '|'");
         }
         o.label = v;
       }},
      {"--json", [&](std::string_view v) { o.json_path = v; }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--no-keepalive") {
      o.keepalive = false;
      continue;
    }
    if (arg == "--self-test") {
      o.self_test = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      continue;
    }
    std::string_view value;
    bool inline_value = false;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    const auto setter = with_value.find(arg);
    if (setter == with_value.end()) throw UsageError("unknown option: " + std::string(arg));
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError(std::string(arg) + ": needs a value");
      value = argv[++i];
    }
    setter->second(value);
  }
  if (!have_target && !o.self_test && !o.help) throw UsageError("--target is required");
  // With a rate the schedule alone decides when each request starts; a ramp would either be
  // ignored or skew the schedule, so the combination is refused rather than half-honoured.
  if (o.rate > 0 && o.ramp_s > 0) throw UsageError("--rate and --ramp-seconds do not combine");
  return o;
}

}  // namespace tracker::loadtest
