#pragma once
// Command line of slack-load. Every value is checked here, so the run itself never meets a
// malformed setting; a bad value throws UsageError, which main turns into exit status 2.
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace tracker::loadtest {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  boost::asio::ip::tcp::endpoint target;
  std::string target_text;  // as given, for the report
  std::string path = "/slack/events";
  int connections = 50;
  long requests = 10'000;
  double time_limit_s = 120;
  double request_timeout_s = 10;
  double ramp_s = 0;
  // Requests per second over the whole run (open model); 0: each connection sends its next
  // request as soon as the previous response arrived (closed model).
  double rate = 0;
  bool keepalive = true;
  int users = 200;
  int threads = 1;
  std::string label = "slack-events";
  std::string json_path;
  bool self_test = false;
  bool help = false;
};

Options parse_options(int argc, char** argv);
std::string usage();

// "127.0.0.1:8080" or "[::1]:8080". Anything outside 127.0.0.0/8 and ::1 is refused: this tool
// only ever loads services on the same machine.
boost::asio::ip::tcp::endpoint parse_loopback_target(std::string_view text);

}  // namespace tracker::loadtest
