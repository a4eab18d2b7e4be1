#include "slack_simulator.hpp"

#include "../common/config_values.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/http/form.hpp>
#include <tracker/log/timestamp.hpp>
#include <tracker/slack/text_split.hpp>

namespace tracker::loadtest {

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxTextCharacters = 40'000;
constexpr std::size_t kMaxBlocks = 50;

// application/x-www-form-urlencoded -> fields; JSON-valued fields (blocks, metadata) parsed.
// Throws on a bad %-escape or bad JSON: invalid_form_data.
json parse_form(std::string_view body) {
  const auto fields = http::parse_form(body);
  if (!fields) throw std::invalid_argument("bad percent escape");
  json out = json::object();
  for (const auto& [name, value] : *fields) {
    if (name == "blocks" || name == "metadata") {
      out[name] = json::parse(value);
    } else if (!name.empty()) {
      out[name] = value;
    }
  }
  return out;
}

std::string string_field(const json& fields, const char* name) {
  const auto it = fields.find(name);
  return it != fields.end() && it->is_string() ? it->get<std::string>() : std::string();
}

http::Response slack_answer(json body, unsigned version) {
  return http::json_response(bh::status::ok,
                             body.dump(-1, ' ', false, json::error_handler_t::replace), version);
}

http::Response slack_error(const std::string& error, unsigned version) {
  return slack_answer({{"ok", false}, {"error", error}}, version);
}

http::Response rate_limited(int retry_after_s, unsigned version) {
  http::Response response = http::json_response(bh::status::too_many_requests,
                                                R"({"ok":false,"error":"ratelimited"})", version);
  response.set(bh::field::retry_after, std::to_string(retry_after_s));
  return response;
}

}  // namespace

json SimulatorStats::to_json() const {
  json statuses = json::object();
  for (const auto& [status, count] : by_status) statuses[std::to_string(status)] = count;
  return {{"requests", requests},
          {"posted", posted},
          {"limit_429_channel", limit_429_channel},
          {"limit_429_workspace", limit_429_workspace},
          {"injected_429", injected_429},
          {"injected_5xx", injected_5xx},
          {"injected_errors", injected_errors},
          {"injected_timeouts", injected_timeouts},
          {"auth_failures", auth_failures},
          {"in_flight", in_flight},
          {"max_in_flight", max_in_flight},
          {"by_status", statuses},
          {"by_error", by_error},
          {"posted_by_workspace", posted_by_workspace},
          {"limit_429_by_workspace", limit_429_by_workspace}};
}

// What one request gets, decided under the lock; waited and answered outside it.
struct SlackSimulator::Decision {
  std::chrono::milliseconds delay{0};
  bool counted = false;  // a chat.postMessage request (in flight until answered)
};

SlackSimulator::SlackSimulator(asio::any_io_executor executor, SimulatorOptions options,
                               log::Logger& logger)
    : executor_(std::move(executor)),
      logger_(logger),
      options_(std::move(options)),
      rng_(options_.seed) {}

SlackSimulator::~SlackSimulator() = default;

void SlackSimulator::start() {
  http::ServerOptions server_options;
  server_options.address = options_.address;
  server_options.port = options_.port;
  server_options.body_limit = 4 * 1024 * 1024;
  server_options.route_label = [](std::string_view target) -> std::string {
    if (target.starts_with("/_sim/")) return "control";
    return target.find("chat.postMessage") != std::string_view::npos ? "chat.postMessage" : "other";
  };
  server_ = std::make_unique<http::Server>(
      executor_, server_options,
      [this](http::Request& request) -> asio::awaitable<http::Response> { return handle(request); },
      registry_, logger_);
  server_->start();
}

std::uint16_t SlackSimulator::port() const {
  return server_ ? server_->port() : 0;
}

asio::awaitable<void> SlackSimulator::shutdown() {
  if (server_) co_await server_->shutdown(std::chrono::milliseconds{500});
}

std::string SlackSimulator::next_ts() {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  last_ts_micros_ = std::max<std::uint64_t>(last_ts_micros_ + 1, static_cast<std::uint64_t>(now));
  char out[32];
  std::snprintf(out, sizeof out, "%llu.%06llu",
                static_cast<unsigned long long>(last_ts_micros_ / 1'000'000),
                static_cast<unsigned long long>(last_ts_micros_ % 1'000'000));
  return out;
}

const std::string& SlackSimulator::workspace_of(const std::string& requested,
                                                const std::string& recorded) const {
  for (const std::string* channel : {&requested, &recorded}) {
    if (const auto it = options_.channel_workspaces.find(*channel);
        it != options_.channel_workspaces.end()) {
      return it->second;
    }
  }
  return options_.default_workspace;
}

http::Response SlackSimulator::post_message(const http::Request& request, Decision& decision) {
  const unsigned version = request.version();
  ++stats_.requests;
  decision.counted = true;

  // A token in the header is checked before the body is read, as Slack does.
  const std::string authorization(request[bh::field::authorization]);
  bool revoked = false;
  if (authorization.starts_with("Bearer ") &&
      (!token_workspace(authorization.substr(7), revoked) || revoked)) {
    ++stats_.auth_failures;
    return slack_error(revoked ? "token_revoked" : "invalid_auth", version);
  }
  const std::string content_type(request[bh::field::content_type]);
  const bool is_json = content_type.starts_with("application/json");
  json fields;
  try {
    fields = is_json ? json::parse(request.body()) : parse_form(request.body());
  } catch (const std::exception&) {
    return slack_error(is_json ? "invalid_json" : "invalid_form_data", version);
  }
  if (!fields.is_object()) return slack_error("invalid_json", version);

  // Auth first, as Slack checks it before anything else.
  std::string token;
  if (authorization.starts_with("Bearer ")) token = authorization.substr(7);
  if (token.empty()) token = string_field(fields, "token");
  if (token.empty()) {
    ++stats_.auth_failures;
    return slack_error("not_authed", version);
  }
  const auto token_team = token_workspace(token, revoked);
  if (!token_team || revoked) {
    ++stats_.auth_failures;
    return slack_error(revoked ? "token_revoked" : "invalid_auth", version);
  }

  std::string channel = string_field(fields, "channel");
  if (channel.empty()) return slack_error("channel_not_found", version);
  if (const auto forced = options_.channel_errors.find(channel);
      forced != options_.channel_errors.end()) {
    return slack_error(forced->second, version);
  }
  const std::string requested = channel;
  if (channel.front() == 'U' || channel.front() == 'W') channel = "D" + channel.substr(1);
  const std::string text = string_field(fields, "text");
  const json blocks = fields.contains("blocks") ? fields["blocks"] : json();
  if (text.empty() && (!blocks.is_array() || blocks.empty()))
    return slack_error("no_text", version);
  if (slack::character_count(text) > kMaxTextCharacters)
    return slack_error("msg_too_long", version);
  if (!blocks.is_null() && (!blocks.is_array() || blocks.size() > kMaxBlocks)) {
    return slack_error("invalid_blocks", version);
  }
  const std::string thread_ts = string_field(fields, "thread_ts");
  if (!thread_ts.empty()) {
    const auto& known = ts_by_channel_[channel];
    if (std::find(known.begin(), known.end(), thread_ts) == known.end()) {
      return slack_error("thread_not_found", version);
    }
  }

  // Rate limits: a refused request takes no token.
  const auto now = Clock::now();
  const std::string& workspace =
      token_team->empty() ? workspace_of(requested, channel) : *token_team;
  auto bucket = channels_.find(channel);
  if (bucket == channels_.end()) {
    bucket = channels_
                 .emplace(channel, async::TokenBucket(options_.channel_per_second,
                                                      options_.channel_burst, now))
                 .first;
  }
  const auto seconds_up = [](Clock::duration wait) {
    return std::max(1, static_cast<int>(std::ceil(std::chrono::duration<double>(wait).count())));
  };
  auto team = workspaces_.find(workspace);
  if (team == workspaces_.end()) {
    team = workspaces_
               .emplace(workspace, async::TokenBucket(options_.workspace_per_minute / 60.0,
                                                      options_.workspace_burst, now))
               .first;
  }
  const auto refuse = [&](const char* limit, Clock::duration wait) {
    ++stats_.limit_429_by_workspace[workspace];
    limited_.push_back({.workspace = workspace,
                        .channel = channel,
                        .limit = limit,
                        .received_at = std::chrono::system_clock::now()});
    return rate_limited(seconds_up(wait), version);
  };
  if (const auto wait = bucket->second.wait(now); wait > Clock::duration::zero()) {
    ++stats_.limit_429_channel;
    return refuse("channel", wait);
  }
  if (const auto wait = team->second.wait(now); wait > Clock::duration::zero()) {
    ++stats_.limit_429_workspace;
    return refuse("workspace", wait);
  }
  bucket->second.take(now);
  team->second.take(now);

  // Injected faults, one draw per kind.
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (options_.inject_429_rate > 0 && unit(rng_) < options_.inject_429_rate) {
    ++stats_.injected_429;
    return rate_limited(options_.inject_retry_after_s, version);
  }
  if (options_.inject_5xx_rate > 0 && unit(rng_) < options_.inject_5xx_rate) {
    ++stats_.injected_5xx;
    if (fault_turn_++ % 2 == 0) {
      return http::json_response(bh::status::internal_server_error,
                                 R"({"ok":false,"error":"internal_error"})", version);
    }
    http::Response unavailable(bh::status::service_unavailable, version);
    unavailable.set(bh::field::content_type, "text/html");
    unavailable.body() = "<html><body><h1>503 Service Unavailable</h1></body></html>";
    unavailable.prepare_payload();
    return unavailable;
  }
  for (const auto& [code, rate] : options_.inject_errors) {
    if (rate > 0 && unit(rng_) < rate) {
      ++stats_.injected_errors;
      return slack_error(code, version);
    }
  }
  if (options_.inject_timeout_rate > 0 && unit(rng_) < options_.inject_timeout_rate) {
    ++stats_.injected_timeouts;
    decision.delay += options_.timeout_hold;  // posted, but answered too late
  }

  PostedMessage message;
  message.sequence = posted_.size() + 1;
  message.channel = channel;
  message.workspace = workspace;
  message.token = token;
  message.ts = next_ts();
  message.thread_ts = thread_ts;
  message.text = text;
  message.blocks = blocks;
  message.metadata = fields.contains("metadata") ? fields["metadata"] : json();
  message.received_at = std::chrono::system_clock::now();
  ts_by_channel_[channel].push_back(message.ts);
  ++stats_.posted;
  ++stats_.posted_by_workspace[workspace];

  json answer_message = {{"type", "message"},  {"subtype", "bot_message"}, {"text", text},
                         {"user", "U0SIMBOT"}, {"bot_id", "B0SIMBOT"},     {"app_id", "A0SIMAPP"},
                         {"ts", message.ts}};
  if (!thread_ts.empty()) answer_message["thread_ts"] = thread_ts;
  if (!message.metadata.is_null()) answer_message["metadata"] = message.metadata;
  if (!blocks.is_null()) answer_message["blocks"] = blocks;
  json answer = {
      {"ok", true}, {"channel", channel}, {"ts", message.ts}, {"message", answer_message}};
  if (is_json && content_type.find("charset") == std::string::npos) {
    answer["warning"] = "missing_charset";
    answer["response_metadata"] = {{"warnings", json::array({"missing_charset"})}};
  }
  posted_.push_back(std::move(message));
  return slack_answer(std::move(answer), version);
}

asio::awaitable<http::Response> SlackSimulator::handle(http::Request& request) {
  const unsigned version = request.version();
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view query =
      target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);
  Decision decision;
  http::Response response;
  {
    std::unique_lock lock(mutex_);
    if (path.ends_with("/chat.postMessage") && request.method() == bh::verb::post) {
      response = post_message(request, decision);
      ++stats_.in_flight;
      stats_.max_in_flight = std::max(stats_.max_in_flight, stats_.in_flight);
      ++stats_.by_status[response.result_int()];
      if (response.result() == bh::status::ok) {
        const json body = json::parse(response.body(), nullptr, false);
        if (body.is_object() && body.contains("error"))
          ++stats_.by_error[body["error"].get<std::string>()];
      }
      if (options_.latency_median_ms > 0) {
        const double median = options_.latency_median_ms;
        const double p99 = std::max(options_.latency_p99_ms, median);
        const double sigma = std::log(p99 / median) / 2.3263;  // z of the 99th percentile
        std::normal_distribution<double> z(0.0, 1.0);
        decision.delay += std::chrono::milliseconds{
            static_cast<long long>(std::llround(median * std::exp(sigma * z(rng_))))};
      }
    } else if (path.ends_with("/oauth.v2.access") && request.method() == bh::verb::post) {
      response = oauth_access(request);
    } else if (path.ends_with("/views.publish") && request.method() == bh::verb::post) {
      response = views_publish(request);
    } else if (path.ends_with("/users.info") && request.method() == bh::verb::post) {
      response = users_info(request);
    } else if (path.starts_with("/commands/") && request.method() == bh::verb::post) {
      // https://api.slack.com/interactivity/handling#message_responses: JSON, up to 5 answers
      // within 30 minutes; this records every answer.
      json body = json::parse(request.body(), nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        response = http::error_response(bh::status::bad_request, "invalid_payload",
                                        "not a JSON object", version);
      } else {
        responses_.push_back({std::string(path), std::move(body)});
        response = http::json_response(bh::status::ok, R"({"ok":true})", version);
      }
    } else if (path == "/oauth/v2/authorize" && request.method() == bh::verb::get) {
      response = authorize(query, version);
    } else if (path == "/_sim/messages" && request.method() == bh::verb::get) {
      // ?channel=C1 (percent-decoded) and ?after=N (posts whose sequence is above N, for a
      // watcher that polls), anywhere in the query.
      std::string wanted;
      std::uint64_t after = 0;
      bool bad_after = false;
      for (std::string_view rest = query; !rest.empty();) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        if (pair.starts_with("channel=")) {
          wanted = http::form_decode(pair.substr(8)).value_or(std::string(pair.substr(8)));
        } else if (pair.starts_with("after=")) {
          const std::string_view digits = pair.substr(6);
          const auto [end, ec] =
              std::from_chars(digits.data(), digits.data() + digits.size(), after);
          bad_after = ec != std::errc{} || end != digits.data() + digits.size();
        }
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
      }
      json list = json::array();
      for (const auto& m : posted_) {
        if (bad_after) break;
        if (m.sequence <= after) continue;
        if (!wanted.empty() && m.channel != wanted) continue;
        list.push_back({{"sequence", m.sequence},
                        {"channel", m.channel},
                        {"workspace", m.workspace},
                        {"ts", m.ts},
                        {"thread_ts", m.thread_ts},
                        {"text", m.text},
                        {"blocks", m.blocks},
                        {"metadata", m.metadata},
                        {"received_at", log::iso8601_utc(m.received_at)}});
      }
      response =
          bad_after ? http::error_response(bh::status::bad_request, "invalid_after",
                                           "after must be a post's sequence number", version)
                    : http::json_response(bh::status::ok, json{{"messages", list}}.dump(), version);
    } else if (path == "/_sim/responses" && request.method() == bh::verb::get) {
      json list = json::array();
      for (const auto& r : responses_) list.push_back({{"path", r.path}, {"body", r.body}});
      response = http::json_response(bh::status::ok, json{{"responses", list}}.dump(), version);
    } else if (path == "/_sim/stats" && request.method() == bh::verb::get) {
      response = http::json_response(bh::status::ok, stats_.to_json().dump(), version);
    } else if (path == "/_sim/reset" && request.method() == bh::verb::post) {
      lock.unlock();
      reset();
      response = http::json_response(bh::status::ok, R"({"ok":true})", version);
    } else if (path == "/_sim/config") {
      if (request.method() == bh::verb::post) {
        lock.unlock();
        try {
          configure(json::parse(request.body()));
          response = http::json_response(bh::status::ok, config().dump(), version);
        } catch (const std::exception& error) {
          response = http::error_response(bh::status::bad_request, "invalid_config", error.what(),
                                          version);
        }
      } else {
        lock.unlock();
        response = http::json_response(bh::status::ok, config().dump(), version);
      }
    } else {
      response = http::json_response(bh::status::not_found,
                                     R"({"ok":false,"error":"unknown_method"})", version);
    }
  }
  if (decision.delay > std::chrono::milliseconds::zero()) {
    asio::steady_timer wait(co_await asio::this_coro::executor, decision.delay);
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (decision.counted) {
    std::lock_guard lock(mutex_);
    --stats_.in_flight;
  }
  co_return response;
}

std::vector<PostedMessage> SlackSimulator::messages() const {
  std::lock_guard lock(mutex_);
  return posted_;
}

std::vector<PostedMessage> SlackSimulator::messages(const std::string& channel) const {
  std::lock_guard lock(mutex_);
  std::vector<PostedMessage> out;
  for (const auto& m : posted_) {
    if (m.channel == channel) out.push_back(m);
  }
  return out;
}

std::vector<LimitedRequest> SlackSimulator::refused() const {
  std::lock_guard lock(mutex_);
  return limited_;
}

SimulatorStats SlackSimulator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void SlackSimulator::reset() {
  std::lock_guard lock(mutex_);
  posted_.clear();
  limited_.clear();
  ts_by_channel_.clear();
  channels_.clear();
  workspaces_.clear();
  const auto in_flight = stats_.in_flight;
  stats_ = {};
  stats_.in_flight = in_flight;
}

void SlackSimulator::configure(const json& changes) {
  if (!changes.is_object()) throw std::invalid_argument("the config must be a JSON object");
  std::lock_guard lock(mutex_);
  SimulatorOptions next = options_;
  for (const auto& [key, value] : changes.items()) {
    if (key == "token") {
      if (!value.is_string()) throw std::invalid_argument("token must be a string");
      next.token = value.get<std::string>();
    } else if (key == "channel_per_second") {
      next.channel_per_second = get_non_negative(value, key);
    } else if (key == "channel_burst") {
      next.channel_burst = get_non_negative(value, key);
    } else if (key == "workspace_per_minute") {
      next.workspace_per_minute = get_non_negative(value, key);
    } else if (key == "workspace_burst") {
      next.workspace_burst = get_non_negative(value, key);
    } else if (key == "inject_429_rate") {
      next.inject_429_rate = get_rate(value, key);
    } else if (key == "inject_retry_after_s") {
      next.inject_retry_after_s = static_cast<int>(get_non_negative(value, key));
    } else if (key == "inject_5xx_rate") {
      next.inject_5xx_rate = get_rate(value, key);
    } else if (key == "inject_timeout_rate") {
      next.inject_timeout_rate = get_rate(value, key);
    } else if (key == "timeout_hold_ms") {
      next.timeout_hold =
          std::chrono::milliseconds{static_cast<long long>(get_non_negative(value, key))};
    } else if (key == "latency_median_ms") {
      next.latency_median_ms = get_non_negative(value, key);
    } else if (key == "latency_p99_ms") {
      next.latency_p99_ms = get_non_negative(value, key);
    } else if (key == "inject_errors") {
      if (!value.is_object()) throw std::invalid_argument("inject_errors must be an object");
      next.inject_errors.clear();
      for (const auto& [code, rate] : value.items()) {
        next.inject_errors[code] = get_rate(rate, "inject_errors." + code);
      }
    } else if (key == "channel_workspaces") {
      if (!value.is_object()) throw std::invalid_argument("channel_workspaces must be an object");
      next.channel_workspaces.clear();
      for (const auto& [channel, team] : value.items()) {
        if (!team.is_string() || team.get<std::string>().empty())
          throw std::invalid_argument("channel_workspaces." + channel + " must be a team id");
        next.channel_workspaces[channel] = team.get<std::string>();
      }
    } else if (key == "default_user_time_zone") {
      if (!value.is_string() || value.get<std::string>().empty())
        throw std::invalid_argument("default_user_time_zone must be a time zone name");
      next.default_user_time_zone = value.get<std::string>();
    } else if (key == "default_user_locale") {
      if (!value.is_string() || value.get<std::string>().empty())
        throw std::invalid_argument("default_user_locale must be a locale such as ko-KR");
      next.default_user_locale = value.get<std::string>();
    } else if (key == "default_workspace") {
      if (!value.is_string() || value.get<std::string>().empty())
        throw std::invalid_argument("default_workspace must be a team id");
      next.default_workspace = value.get<std::string>();
    } else if (key == "channel_errors") {
      if (!value.is_object()) throw std::invalid_argument("channel_errors must be an object");
      next.channel_errors.clear();
      for (const auto& [channel, code] : value.items()) {
        if (!code.is_string())
          throw std::invalid_argument("channel_errors." + channel + " must be a string");
        next.channel_errors[channel] = code.get<std::string>();
      }
    } else {
      throw std::invalid_argument("unknown setting \"" + key + "\"");
    }
  }
  const bool limits_changed = next.channel_per_second != options_.channel_per_second ||
                              next.channel_burst != options_.channel_burst ||
                              next.workspace_per_minute != options_.workspace_per_minute ||
                              next.workspace_burst != options_.workspace_burst ||
                              next.channel_workspaces != options_.channel_workspaces ||
                              next.default_workspace != options_.default_workspace;
  options_ = std::move(next);
  if (limits_changed) {
    channels_.clear();
    workspaces_.clear();
  }
}

json SlackSimulator::config() const {
  std::lock_guard lock(mutex_);
  return {{"token", options_.token},
          {"channel_per_second", options_.channel_per_second},
          {"channel_burst", options_.channel_burst},
          {"workspace_per_minute", options_.workspace_per_minute},
          {"workspace_burst", options_.workspace_burst},
          {"channel_workspaces", options_.channel_workspaces},
          {"default_workspace", options_.default_workspace},
          {"default_user_time_zone", options_.default_user_time_zone},
          {"default_user_locale", options_.default_user_locale},
          {"inject_429_rate", options_.inject_429_rate},
          {"inject_retry_after_s", options_.inject_retry_after_s},
          {"inject_5xx_rate", options_.inject_5xx_rate},
          {"inject_errors", options_.inject_errors},
          {"inject_timeout_rate", options_.inject_timeout_rate},
          {"timeout_hold_ms", options_.timeout_hold.count()},
          {"latency_median_ms", options_.latency_median_ms},
          {"latency_p99_ms", options_.latency_p99_ms},
          {"channel_errors", options_.channel_errors}};
}

SimulatorThread::SimulatorThread(SimulatorOptions options) {
  options.address = "127.0.0.1";
  options.port = 0;
  simulator_ =
      std::make_unique<SlackSimulator>(io_.get_executor(), std::move(options), log::null_logger());
  simulator_->start();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

SimulatorThread::~SimulatorThread() {
  asio::co_spawn(io_, simulator_->shutdown(), [this](const std::exception_ptr&) { io_.stop(); });
  thread_.join();
}

std::string SimulatorThread::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/api";
}

}  // namespace tracker::loadtest
