#pragma once
// A Slack Web API server for tests and load experiments: chat.postMessage as Slack answers it
// (https://api.slack.com/methods/chat.postMessage), with its rate limits and injectable
// faults, and endpoints that show what was posted.
//
//   POST <any prefix>/chat.postMessage   JSON (Content-Type application/json) or form-encoded;
//                                        Authorization: Bearer <token> or a `token` field
//   GET  /_sim/messages[?channel=C1]     what was posted, in order
//   GET  /_sim/stats                     counters of everything received
//   GET  /_sim/responses                 the answers posted to response_urls, in order
//   GET  /_sim/config, POST /_sim/config change limits and faults at run time
//   POST /_sim/reset                     forget messages and counters (not the config)
//   GET  /oauth/v2/authorize?...         the install page, as if its visitor chose Allow at
//                                        once: 302 to redirect_uri with a code and the state
//                                        (&team=T1&team_name=..&user=U1 pick the workspace;
//                                        &deny=1 answers error=access_denied as Cancel does)
//   POST <any prefix>/oauth.v2.access    exchanges a code (once, within 10 minutes, with the
//                                        same redirect_uri) for a bot token of that workspace
//                                        (https://api.slack.com/methods/oauth.v2.access)
//
//   POST <any prefix>/users.info         a person (https://api.slack.com/methods/users.info):
//                                        id, name, tz (user_time_zones, else
//                                        default_user_time_zone), tz_offset 0
//   POST <any prefix>/views.publish      a person's App Home (JSON: user_id, view of type
//                                        home, at most 100 blocks): recorded (home_views())
//   POST /commands/...                   a slash command's response_url: the answer is recorded
//                                        (responses()) and acknowledged as Slack does
//
// Tokens: `token` stands for the app in every workspace (the one-workspace mode); a token
// issued by oauth.v2.access belongs to its workspace, and its posts count against that
// workspace's limit. revoke(team) ends every token of a workspace: it then answers
// token_revoked, as Slack does after an uninstall.
//
// Order of checks, as Slack's: auth, then the request itself, then the rate limits (a refused
// request spends no token), then the injected faults. The workspace limit is per workspace:
// `channel_workspaces` says which workspace a channel belongs to (Slack knows it from the token;
// here one token stands for the app in every workspace), the rest belong to `default_workspace`. A
// post is recorded when it is accepted, before the (simulated) latency, so a client that gives up
// waiting may post twice - the case a real timeout creates.
//
// Threads: the server runs on the executor given; the accessors lock, so a test may call them
// from its own thread.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <tracker/async/token_bucket.hpp>
#include <tracker/http/server.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::loadtest {

struct SimulatorOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port
  std::string token = "xoxb-simulated";
  // Rate limits (0: none). Slack: about 1 per second per channel with short bursts; the
  // workspace limit for the method (each workspace its own) is configurable here.
  double channel_per_second = 1.0;
  double channel_burst = 3;
  double workspace_per_minute = 600;
  double workspace_burst = 20;
  std::map<std::string, std::string> channel_workspaces;  // channel -> team_id
  std::string default_workspace = "T0SIM";                // of every other channel
  // Faults, each a probability per accepted request.
  double inject_429_rate = 0;
  int inject_retry_after_s = 1;                 // Retry-After of an injected 429 (0 allowed)
  double inject_5xx_rate = 0;                   // 500 and 503 alternately
  std::map<std::string, double> inject_errors;  // ok:false error code -> probability
  double inject_timeout_rate = 0;               // posts, then holds the answer for timeout_hold
  std::chrono::milliseconds timeout_hold{30'000};
  // Latency of every answer, log-normal with this median and 99th percentile (0: none).
  double latency_median_ms = 0;
  double latency_p99_ms = 0;
  std::map<std::string, std::string> channel_errors;  // channel -> ok:false error code
  std::uint64_t seed = 1;
  // users.info's tz per user id, and for everyone else.
  std::map<std::string, std::string> user_time_zones;
  std::string default_user_time_zone = "America/Los_Angeles";
  // users.info's locale (with include_locale=true) per user id, and for everyone else.
  std::map<std::string, std::string> user_locales;
  std::string default_user_locale = "en-US";
  // The app's credentials that oauth.v2.access accepts.
  std::string client_id = "1111111111.2222222222";
  std::string client_secret = "sim-client-secret";
};

// An answer posted to a response_url.
struct CommandResponse {
  std::string path;  // /commands/...
  nlohmann::json body;
};

// A view published to a person's App Home.
struct HomeView {
  std::string user_id;
  std::string workspace;  // of the token it was published with ("" for the app-wide token)
  nlohmann::json view;
};

// A token oauth.v2.access issued.
struct IssuedToken {
  std::string token;
  std::string team_id;
  bool revoked = false;
};

struct PostedMessage {
  std::uint64_t sequence = 0;  // 1, 2, ... in the order accepted
  std::string channel;         // as recorded: a DM's D... id for a U.../W... user id
  std::string workspace;       // the team_id whose limit it counted against
  std::string token;           // the token it was posted with
  std::string ts;
  std::string thread_ts;
  std::string text;
  nlohmann::json blocks;    // null if none
  nlohmann::json metadata;  // null if none
  std::chrono::system_clock::time_point received_at;
};

// A request refused by a rate limit (HTTP 429 with Retry-After), in the order received.
struct LimitedRequest {
  std::string workspace;
  std::string channel;
  std::string limit;  // "channel" or "workspace"
  std::chrono::system_clock::time_point received_at;
};

struct SimulatorStats {
  std::uint64_t requests = 0;  // chat.postMessage requests
  std::uint64_t posted = 0;
  std::uint64_t limit_429_channel = 0;
  std::uint64_t limit_429_workspace = 0;
  std::uint64_t injected_429 = 0;
  std::uint64_t injected_5xx = 0;
  std::uint64_t injected_errors = 0;
  std::uint64_t injected_timeouts = 0;
  std::uint64_t auth_failures = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t max_in_flight = 0;
  std::map<unsigned, std::uint64_t> by_status;
  std::map<std::string, std::uint64_t> by_error;
  std::map<std::string, std::uint64_t> posted_by_workspace;
  std::map<std::string, std::uint64_t> limit_429_by_workspace;  // either limit
  [[nodiscard]] nlohmann::json to_json() const;
};

class SlackSimulator {
 public:
  SlackSimulator(boost::asio::any_io_executor executor, SimulatorOptions options,
                 log::Logger& logger);
  ~SlackSimulator();
  SlackSimulator(const SlackSimulator&) = delete;
  SlackSimulator& operator=(const SlackSimulator&) = delete;

  void start();  // binds; throws if the address is taken
  [[nodiscard]] std::uint16_t port() const;
  boost::asio::awaitable<void> shutdown();

  [[nodiscard]] std::vector<PostedMessage> messages() const;
  [[nodiscard]] std::vector<PostedMessage> messages(const std::string& channel) const;
  [[nodiscard]] std::vector<LimitedRequest> refused() const;
  [[nodiscard]] SimulatorStats stats() const;
  // Changes settings by name, as POST /_sim/config does; throws std::invalid_argument naming
  // an unknown key or a bad value (and then changes nothing).
  void configure(const nlohmann::json& changes);
  [[nodiscard]] nlohmann::json config() const;
  void reset();

  // Sets the tz users.info gives for `user_id` (a person moving, as user_change reports).
  void set_user_time_zone(const std::string& user_id, const std::string& time_zone);
  void set_user_locale(const std::string& user_id, const std::string& locale);
  // users.info requests answered, by user id.
  [[nodiscard]] std::map<std::string, int> users_info_requests() const;

  // App Home views published, in order.
  [[nodiscard]] std::vector<HomeView> home_views() const;

  // Answers posted to response_urls, in order.
  [[nodiscard]] std::vector<CommandResponse> responses() const;

  // Tokens issued by oauth.v2.access, in order.
  [[nodiscard]] std::vector<IssuedToken> issued_tokens() const;
  // Revokes every token issued to `team_id` (an uninstall); true if there was one.
  bool revoke(const std::string& team_id);

 private:
  struct Decision;
  struct IssuedCode {
    std::string team_id;
    std::string team_name;
    std::string user_id;
    std::string redirect_uri;
    std::string scope;
    std::chrono::steady_clock::time_point expires;
    bool used = false;
  };
  boost::asio::awaitable<http::Response> handle(http::Request& request);
  http::Response post_message(const http::Request& request, Decision& decision);
  http::Response authorize(std::string_view query, unsigned version);
  http::Response oauth_access(const http::Request& request);
  http::Response users_info(const http::Request& request);
  http::Response views_publish(const http::Request& request);
  // The workspace a token belongs to: "" for the app-wide `token`; std::nullopt when unknown.
  // `revoked` is set for a revoked issued token.
  [[nodiscard]] std::optional<std::string> token_workspace(const std::string& token,
                                                           bool& revoked) const;
  std::string next_ts();
  [[nodiscard]] const std::string& workspace_of(const std::string& requested,
                                                const std::string& recorded) const;

  boost::asio::any_io_executor executor_;
  log::Logger& logger_;
  prometheus::Registry registry_;
  std::unique_ptr<http::Server> server_;

  mutable std::mutex mutex_;  // guards everything below
  SimulatorOptions options_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, async::TokenBucket> workspaces_;
  std::unordered_map<std::string, async::TokenBucket> channels_;
  std::vector<PostedMessage> posted_;
  std::vector<LimitedRequest> limited_;
  std::unordered_map<std::string, std::vector<std::string>> ts_by_channel_;
  SimulatorStats stats_;
  std::uint64_t last_ts_micros_ = 0;
  std::uint64_t fault_turn_ = 0;
  std::unordered_map<std::string, IssuedCode> codes_;
  std::vector<IssuedToken> tokens_;
  std::vector<CommandResponse> responses_;
  std::map<std::string, int> users_info_requests_;
  std::vector<HomeView> home_views_;
};

// A SlackSimulator on 127.0.0.1 (any free port) with its own io_context thread, for tests.
class SimulatorThread {
 public:
  explicit SimulatorThread(SimulatorOptions options = {});
  ~SimulatorThread();
  SimulatorThread(const SimulatorThread&) = delete;
  SimulatorThread& operator=(const SimulatorThread&) = delete;

  [[nodiscard]] std::uint16_t port() const { return simulator_->port(); }
  // The API root to give a client: http://127.0.0.1:PORT/api
  [[nodiscard]] std::string base_url() const;
  SlackSimulator& simulator() { return *simulator_; }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<SlackSimulator> simulator_;
  std::thread thread_;
};

}  // namespace tracker::loadtest
