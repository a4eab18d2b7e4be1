#pragma once
// An OpenAI API server for tests and load experiments: Chat Completions, Files and Batches as
// OpenAI answers them (https://platform.openai.com/docs/api-reference), with its rate limits,
// its error bodies and headers, and injectable faults.
//
//   POST <any prefix>/chat/completions        Authorization: Bearer <api_key>
//   POST <any prefix>/files                   multipart/form-data: purpose, file
//   GET  <any prefix>/files/{id}[/content]    DELETE <any prefix>/files/{id}
//   POST <any prefix>/batches                 GET <any prefix>/batches[/{id}]
//   POST <any prefix>/batches/{id}/cancel
//   GET  /_sim/stats                          counters of everything received
//   GET  /_sim/config, POST /_sim/config      change limits and faults at run time
//   POST /_sim/reset                          forget counters, files and batches (not the config)
//
// Order of checks on a chat completion, as OpenAI's: auth, then the request itself, then the
// rate limits (requests and tokens per minute, charged at admission with the estimate OpenAI
// uses; a refused request spends nothing), then the injected faults, then the latency.
//
// Threads: the server runs on the executor given; the accessors lock, so a test may call them
// from its own thread.
//
// Files: openai_simulator.cpp (server wiring, routing, auth), control.cpp (/_sim/),
// chat_request.* (validation, token estimates), rate_limits.* (RPM/TPM, x-ratelimit-*),
// faults.cpp (injected errors), chat_completion.cpp (the route), chat_answer.* (the answer's
// content), files.cpp and multipart.* (Files API), batches.cpp (Batch API), openai_wire.*
// (error bodies), simulator_records.hpp (the records they share).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
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

struct OpenAiSimulatorOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;                // 0: any free port
  std::string api_key = "sk-simulated";  // Authorization: Bearer <api_key>; "" accepts any
  // Rate limits of the organization (0: none), as token buckets that refill continuously and
  // hold a minute's worth, which is how OpenAI's x-ratelimit-reset-* headers behave.
  double requests_per_minute = 0;
  double tokens_per_minute = 0;
  // Latency of a chat completion answered 200, log-normal with this median and 99th
  // percentile (0: none).
  double latency_median_ms = 0;
  double latency_p99_ms = 0;
  // Faults, each a probability per admitted chat completion, drawn in this order.
  double inject_429_rate = 0;      // 429 rate_limit_exceeded whatever the limits say
  double inject_500_rate = 0;      // 500 server_error
  double inject_503_rate = 0;      // 503 engine overloaded
  double inject_timeout_rate = 0;  // holds the answer for timeout_hold, then closes
  std::chrono::milliseconds timeout_hold{30'000};
  double inject_quota_rate = 0;  // 429 insufficient_quota (drawn first)
  bool quota_exhausted = false;  // every chat completion answers insufficient_quota
  int completion_tokens = 150;   // usage.completion_tokens of an answer (capped by the request)
  // A batch goes validating -> in_progress -> completed over this, measured from its creation.
  std::chrono::milliseconds batch_duration{2'000};
  double batch_fail_rate = 0;  // share of batch lines that go to the error file (status 500)
  std::uint64_t seed = 1;
};

struct OpenAiSimulatorStats {
  std::uint64_t requests = 0;            // every API request (not /_sim/)
  std::uint64_t completions = 0;         // POST chat/completions received
  std::uint64_t completed = 0;           // chat completions answered 200
  std::uint64_t limit_429_requests = 0;  // refused by the RPM limit
  std::uint64_t limit_429_tokens = 0;    // refused by the TPM limit
  std::uint64_t injected_429 = 0;
  std::uint64_t injected_500 = 0;
  std::uint64_t injected_503 = 0;
  std::uint64_t injected_timeouts = 0;
  std::uint64_t injected_quota = 0;  // injected or quota_exhausted
  std::uint64_t bad_requests = 0;    // 400s of any endpoint
  std::uint64_t auth_failures = 0;
  std::uint64_t prompt_tokens = 0;      // usage of the chat completions answered 200
  std::uint64_t completion_tokens = 0;  //   (batches not included)
  std::uint64_t files_uploaded = 0;
  std::uint64_t batches_created = 0;
  std::uint64_t batch_lines = 0;  // request lines of the batches created
  std::uint64_t in_flight = 0;    // chat completions admitted and not yet answered
  std::uint64_t max_in_flight = 0;
  std::map<unsigned, std::uint64_t> by_status;   // API responses by HTTP status
  std::map<std::string, std::uint64_t> by_user;  // completions answered 200, by "user" ("" if none)
  [[nodiscard]] nlohmann::json to_json() const;
};

class OpenAiSimulator {
 public:
  OpenAiSimulator(boost::asio::any_io_executor executor, OpenAiSimulatorOptions options,
                  log::Logger& logger);
  ~OpenAiSimulator();
  OpenAiSimulator(const OpenAiSimulator&) = delete;
  OpenAiSimulator& operator=(const OpenAiSimulator&) = delete;

  void start();  // binds; throws if the address is taken
  [[nodiscard]] std::uint16_t port() const;
  boost::asio::awaitable<void> shutdown();

  [[nodiscard]] OpenAiSimulatorStats stats() const;
  // Changes settings by name, as POST /_sim/config does (durations in ms: timeout_hold_ms,
  // batch_duration_ms); throws std::invalid_argument naming an unknown key or a bad value (and
  // then changes nothing).
  void configure(const nlohmann::json& changes);
  [[nodiscard]] nlohmann::json config() const;
  void reset();  // counters, files and batches; not the config

 private:
  struct Decision;  // simulator_records.hpp, with the two below
  struct StoredFile;
  struct Batch;
  // openai_simulator.cpp: the way through one request.
  boost::asio::awaitable<http::Response> handle(http::Request& request);
  http::Response api_request(const http::Request& request, const std::string& path,
                             Decision& decision);
  std::string next_request_id();
  // control.cpp
  http::Response control_request(const http::Request& request, std::string_view path);
  // chat_completion.cpp, and the two steps it takes on an admissible request: rate_limits.cpp
  // (nullopt: admitted and charged) and faults.cpp (nullopt: no fault drawn).
  http::Response chat_completion(const http::Request& request, Decision& decision);
  std::optional<http::Response> admit(const std::string& model, std::uint64_t estimate,
                                      unsigned version, Decision& decision);
  void set_rate_limit_headers(http::Response& response, std::chrono::steady_clock::time_point now);
  void rebuild_buckets();
  std::optional<http::Response> inject_fault(const std::string& model, unsigned version,
                                             Decision& decision);
  // files.cpp: `content` asks for GET .../content.
  http::Response upload_file(const http::Request& request);
  http::Response file_request(const http::Request& request, const std::string& id, bool content);
  // batches.cpp: `cancel` asks for POST .../cancel.
  http::Response create_batch(const http::Request& request);
  http::Response list_batches(unsigned version);
  http::Response batch_request(const http::Request& request, const std::string& id, bool cancel);
  nlohmann::json batch_object(Batch& batch);
  void finish_batch(Batch& batch);

  boost::asio::any_io_executor executor_;
  log::Logger& logger_;
  prometheus::Registry registry_;
  std::unique_ptr<http::Server> server_;

  mutable std::mutex mutex_;  // guards everything below
  OpenAiSimulatorOptions options_;
  std::mt19937_64 rng_;
  async::TokenBucket requests_bucket_;
  async::TokenBucket tokens_bucket_;
  std::map<std::string, StoredFile> files_;
  std::map<std::string, Batch> batches_;
  OpenAiSimulatorStats stats_;
  // Sequence numbers of ids; kept across reset() so that an id is never given out twice.
  std::uint64_t next_completion_ = 1;
  std::uint64_t next_file_ = 1;
  std::uint64_t next_batch_ = 1;
  std::uint64_t next_batch_request_ = 1;
  std::uint64_t next_request_ = 1;
};

// An OpenAiSimulator on 127.0.0.1 (any free port) with its own io_context thread, for tests.
class OpenAiSimulatorThread {
 public:
  explicit OpenAiSimulatorThread(OpenAiSimulatorOptions options = {});
  ~OpenAiSimulatorThread();
  OpenAiSimulatorThread(const OpenAiSimulatorThread&) = delete;
  OpenAiSimulatorThread& operator=(const OpenAiSimulatorThread&) = delete;

  [[nodiscard]] std::uint16_t port() const { return simulator_->port(); }
  // The API root to give a client: http://127.0.0.1:PORT/v1
  [[nodiscard]] std::string base_url() const;
  OpenAiSimulator& simulator() { return *simulator_; }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<OpenAiSimulator> simulator_;
  std::thread thread_;
};

// The token estimate the simulator charges a request against the TPM limit at admission, as
// OpenAI does: the prompt estimate plus max_completion_tokens (or max_tokens; 1,000 if neither).
std::uint64_t estimate_request_tokens(const nlohmann::json& chat_request);
// The prompt estimate, also the answer's usage.prompt_tokens: the sum over messages of
// ceil(UTF-8 bytes of content / 4) + 4, plus 3 for the reply's priming.
std::uint64_t estimate_prompt_tokens(const nlohmann::json& chat_request);
// A duration as OpenAI's x-ratelimit-reset-* headers write it (Go's time.Duration, to the
// millisecond, rounded up): "0s", "12ms", "1s", "59.577s", "6m0s", "1h0m0s".
std::string format_reset_duration(std::chrono::nanoseconds duration);

}  // namespace tracker::loadtest
