// The simulator's wiring: its HTTP server and route labels, and the way through one request —
// the control endpoints (control.cpp), or an API endpoint named by the end of its path,
// authenticated, answered by its route (chat_completion.cpp, files.cpp, batches.cpp) under the
// lock, given the headers every OpenAI answer carries, and held for its latency outside the
// lock. Also OpenAiSimulatorThread, which runs one for a test.
#include "openai_simulator.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "openai_wire.hpp"
#include "simulator_records.hpp"

namespace tracker::loadtest {

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using Clock = std::chrono::steady_clock;
using openai::kOrganization;
using openai::openai_error;

OpenAiSimulator::OpenAiSimulator(asio::any_io_executor executor, OpenAiSimulatorOptions options,
                                 log::Logger& logger)
    : executor_(std::move(executor)),
      logger_(logger),
      options_(std::move(options)),
      rng_(options_.seed),
      requests_bucket_(options_.requests_per_minute / 60.0, options_.requests_per_minute,
                       Clock::now()),
      tokens_bucket_(options_.tokens_per_minute / 60.0, options_.tokens_per_minute, Clock::now()) {}

OpenAiSimulator::~OpenAiSimulator() = default;

void OpenAiSimulator::start() {
  http::ServerOptions server_options;
  server_options.address = options_.address;
  server_options.port = options_.port;
  // Batch input files reach 200 MB at OpenAI; uploads of that size must get through.
  server_options.body_limit = 200ULL * 1024 * 1024;
  server_options.body_timeout = std::chrono::milliseconds{60'000};
  server_options.route_label = [](std::string_view target) -> std::string {
    if (target.starts_with("/_sim/")) return "control";
    if (target.find("/chat/completions") != std::string_view::npos) return "chat.completions";
    if (target.find("/files") != std::string_view::npos) return "files";
    if (target.find("/batches") != std::string_view::npos) return "batches";
    return "other";
  };
  server_ = std::make_unique<http::Server>(
      executor_, server_options,
      [this](http::Request& request) -> asio::awaitable<http::Response> { return handle(request); },
      registry_, logger_);
  server_->start();
}

std::uint16_t OpenAiSimulator::port() const {
  return server_ ? server_->port() : 0;
}

asio::awaitable<void> OpenAiSimulator::shutdown() {
  if (server_) co_await server_->shutdown(std::chrono::milliseconds{500});
}

std::string OpenAiSimulator::next_request_id() {
  char id[40];
  std::snprintf(id, sizeof id, "req_sim%025llu", static_cast<unsigned long long>(next_request_++));
  return id;
}

http::Response OpenAiSimulator::api_request(const http::Request& request, const std::string& path,
                                            Decision& decision) {
  const unsigned version = request.version();
  const auto method = request.method();
  http::Response response;
  // The API, under any prefix: the last path segments name the endpoint.
  std::vector<std::string> segments;
  for (std::size_t at = 0; at < path.size();) {
    const std::size_t slash = path.find('/', at);
    const std::size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > at) segments.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  const std::size_t n = segments.size();
  const auto last = [&](std::size_t i) -> const std::string& { return segments[n - 1 - i]; };
  enum class Route { unknown, chat, files, file, file_content, batches, batch, batch_cancel };
  Route route = Route::unknown;
  std::string id;
  if (n >= 3 && last(2) == "files" && last(0) == "content") {
    route = Route::file_content;
    id = last(1);
  } else if (n >= 3 && last(2) == "batches" && last(0) == "cancel") {
    route = Route::batch_cancel;
    id = last(1);
  } else if (n >= 2 && last(1) == "chat" && last(0) == "completions") {
    route = Route::chat;
  } else if (n >= 2 && last(1) == "files") {
    route = Route::file;
    id = last(0);
  } else if (n >= 2 && last(1) == "batches") {
    route = Route::batch;
    id = last(0);
  } else if (n >= 1 && last(0) == "files") {
    route = Route::files;
  } else if (n >= 1 && last(0) == "batches") {
    route = Route::batches;
  }
  const bool get = method == bh::verb::get;
  const bool post = method == bh::verb::post;
  const bool known = (route == Route::chat && post) || (route == Route::files && post) ||
                     (route == Route::file && (get || method == bh::verb::delete_)) ||
                     (route == Route::file_content && get) ||
                     (route == Route::batches && (get || post)) || (route == Route::batch && get) ||
                     (route == Route::batch_cancel && post);
  {
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    if (route == Route::chat && post) ++stats_.completions;
    const std::string authorization(request[bh::field::authorization]);
    if (!known) {
      response =
          openai_error(bh::status::not_found,
                       "Invalid URL (" + std::string(request.method_string()) + " " + path + ")",
                       "invalid_request_error", nullptr, nullptr, version);
    } else if (!options_.api_key.empty() && !authorization.starts_with("Bearer ")) {
      ++stats_.auth_failures;
      response = openai_error(
          bh::status::unauthorized,
          "You didn't provide an API key. You need to provide your API key in an Authorization "
          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
          "field (with blank username) if you're accessing the API from your browser and are "
          "prompted for a username and password. You can obtain an API key from "
          "https://platform.openai.com/account/api-keys.",
          "invalid_request_error", nullptr, "invalid_api_key", version);
    } else if (!options_.api_key.empty() && authorization.substr(7) != options_.api_key) {
      // The key itself is never echoed: answers end up in logs.
      ++stats_.auth_failures;
      response = openai_error(bh::status::unauthorized,
                              "Incorrect API key provided. You can find your API key at "
                              "https://platform.openai.com/account/api-keys.",
                              "invalid_request_error", nullptr, "invalid_api_key", version);
    } else if (route == Route::chat) {
      response = chat_completion(request, decision);
      decision.counted = true;
      ++stats_.in_flight;
      stats_.max_in_flight = std::max(stats_.max_in_flight, stats_.in_flight);
      set_rate_limit_headers(response, decision.admitted_at);
    } else if (route == Route::files) {
      response = upload_file(request);
    } else if (route == Route::file || route == Route::file_content) {
      response = file_request(request, id, route == Route::file_content);
    } else if (route == Route::batches && post) {
      response = create_batch(request);
    } else if (route == Route::batches) {
      response = list_batches(version);
    } else {
      response = batch_request(request, id, route == Route::batch_cancel);
    }
    response.set("x-request-id", next_request_id());
    response.set("openai-organization", kOrganization);
    response.set("openai-processing-ms", std::to_string(decision.delay.count()));
    ++stats_.by_status[response.result_int()];
    if (response.result() == bh::status::bad_request) ++stats_.bad_requests;
  }
  return response;
}

asio::awaitable<http::Response> OpenAiSimulator::handle(http::Request& request) {
  const std::string target(request.target());
  const std::string path = target.substr(0, target.find('?'));
  if (path.starts_with("/_sim/")) co_return control_request(request, path);
  Decision decision;
  http::Response response = api_request(request, path, decision);
  if (decision.delay > std::chrono::milliseconds::zero()) {
    asio::steady_timer wait(co_await asio::this_coro::executor, decision.delay);
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // The server reads keep-alive from the request: this makes it close once the answer is out.
  if (decision.close) request.keep_alive(false);
  if (decision.counted) {
    std::lock_guard lock(mutex_);
    --stats_.in_flight;
  }
  co_return response;
}

OpenAiSimulatorThread::OpenAiSimulatorThread(OpenAiSimulatorOptions options) {
  options.address = "127.0.0.1";
  options.port = 0;
  simulator_ =
      std::make_unique<OpenAiSimulator>(io_.get_executor(), std::move(options), log::null_logger());
  simulator_->start();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

OpenAiSimulatorThread::~OpenAiSimulatorThread() {
  asio::co_spawn(io_, simulator_->shutdown(), [this](const std::exception_ptr&) { io_.stop(); });
  thread_.join();
}

std::string OpenAiSimulatorThread::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/v1";
}

}  // namespace tracker::loadtest
