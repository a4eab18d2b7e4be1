#include "openai_simulator.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::loadtest {

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kDefaultMaxTokens = 1'000;  // OpenAI's admission estimate without a cap
constexpr std::size_t kFeedbackCharacters = 80;
constexpr std::size_t kMaxBatchErrors = 100;  // errors.data listed for a failed batch
constexpr std::int64_t kBatchExpirySeconds = 24 * 60 * 60;
constexpr const char* kOrganization = "org-sim";

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// OpenAI's error body; param and code are strings or null.
http::Response openai_error(bh::status status, const std::string& message, const std::string& type,
                            json param, json code, unsigned version) {
  const json body = {{"error",
                      {{"message", message},
                       {"type", type},
                       {"param", std::move(param)},
                       {"code", std::move(code)}}}};
  return http::json_response(status, dump(body), version);
}

http::Response invalid_request(const std::string& message, json param, unsigned version) {
  return openai_error(bh::status::bad_request, message, "invalid_request_error", std::move(param),
                      nullptr, version);
}

http::Response no_such_file(const std::string& id, const char* param, unsigned version) {
  return openai_error(bh::status::not_found, "No such File object: " + id, "invalid_request_error",
                      param, nullptr, version);
}

// The longest prefix of `text` with at most `characters` code points; never splits a UTF-8
// sequence (a Korean syllable is three bytes).
std::string utf8_prefix(std::string_view text, std::size_t characters) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0U) != 0x80U) {  // the first byte of a code point
      if (seen == characters) return std::string(text.substr(0, i));
      ++seen;
    }
  }
  return std::string(text);
}

// A message's text: a string, or the text parts of an array of content parts.
std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        text += part["text"].get<std::string>();
      }
    }
  }
  return text;
}

// Why a chat request would be refused with 400: {param, message}; nullopt if it is fine.
std::optional<std::pair<json, std::string>> chat_request_problem(const json& body) {
  if (!body.is_object()) return std::pair{json(nullptr), "The request body must be a JSON object."};
  if (!body.contains("model")) {
    return std::pair{json("model"), "Missing required parameter: 'model'."};
  }
  if (!body["model"].is_string() || body["model"].get<std::string>().empty()) {
    return std::pair{json("model"), "Invalid type for 'model': expected a non-empty string."};
  }
  if (!body.contains("messages")) {
    return std::pair{json("messages"), "Missing required parameter: 'messages'."};
  }
  const json& messages = body["messages"];
  if (!messages.is_array()) {
    return std::pair{json("messages"), "Invalid type for 'messages': expected an array."};
  }
  if (messages.empty()) {
    return std::pair{json("messages"),
                     "Invalid 'messages': empty array. Expected an array with "
                     "minimum length 1, but got an empty array instead."};
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const json& message = messages[i];
    if (!message.is_object()) {
      return std::pair{json(at), "Invalid type for '" + at + "': expected an object."};
    }
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      return std::pair{json(at + ".role"), "Missing required parameter: '" + at + ".role'."};
    }
    const std::string role_name = role->get<std::string>();
    if (role_name != "system" && role_name != "user" && role_name != "assistant" &&
        role_name != "developer") {
      return std::pair{json(at + ".role"),
                       "Invalid value: '" + role_name +
                           "'. Supported values are: 'system', 'user', 'assistant' and "
                           "'developer'."};
    }
    const auto content = message.find("content");
    if (content == message.end()) {
      return std::pair{json(at + ".content"), "Missing required parameter: '" + at + ".content'."};
    }
    bool parts_ok = content->is_array() && !content->empty();
    if (parts_ok) {
      for (const auto& part : *content) {
        parts_ok = parts_ok && part.is_object() && part.value("type", "") == "text" &&
                   part.contains("text") && part["text"].is_string();
      }
    }
    if (!content->is_string() && !parts_ok) {
      return std::pair{json(at + ".content"), "Invalid type for '" + at +
                                                  ".content': expected a string or an array of "
                                                  "text parts."};
    }
  }
  for (const char* cap : {"max_completion_tokens", "max_tokens"}) {
    if (!body.contains(cap) || body[cap].is_null()) continue;
    if (!body[cap].is_number_integer() || body[cap].get<std::int64_t>() < 1) {
      return std::pair{json(cap), std::string("Invalid '") + cap +
                                      "': expected an integer >= 1, but got " + dump(body[cap]) +
                                      " instead."};
    }
  }
  if (body.contains("user") && !body["user"].is_string() && !body["user"].is_null()) {
    return std::pair{json("user"), "Invalid type for 'user': expected a string."};
  }
  return std::nullopt;
}

// The cap a request sets on its completion, if any.
std::optional<std::uint64_t> completion_cap(const json& request) {
  for (const char* cap : {"max_completion_tokens", "max_tokens"}) {
    const auto it = request.find(cap);
    if (it != request.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0) {
      return static_cast<std::uint64_t>(it->get<std::int64_t>());
    }
  }
  return std::nullopt;
}

// Feedback a person can read, from a study tracker prompt (a JSON document with "logs", each
// with "text" and maybe "minutes" and "topics"): what the logs add up to, quoting the first.
// Anything else gets nullopt.
std::optional<std::string> study_feedback(const std::string& user_message) {
  const json data = json::parse(user_message, nullptr, false);
  if (!data.is_object() || !data.contains("logs") || !data["logs"].is_array()) return std::nullopt;
  const json& logs = data["logs"];
  std::int64_t minutes = 0;
  std::vector<std::string> topics;
  for (const json& log : logs) {
    if (!log.is_object()) continue;
    if (auto it = log.find("minutes"); it != log.end() && it->is_number_integer()) {
      minutes += it->get<std::int64_t>();
    }
    if (auto it = log.find("topics"); it != log.end() && it->is_array()) {
      for (const json& topic : *it) {
        if (topic.is_string() &&
            std::find(topics.begin(), topics.end(), topic.get<std::string>()) == topics.end()) {
          topics.push_back(topic.get<std::string>());
        }
      }
    }
  }
  std::string out = std::to_string(logs.size()) + (logs.size() == 1 ? " log" : " logs");
  if (minutes > 0) {
    out += ", " + std::to_string(minutes / 60) + "h " + std::to_string(minutes % 60) + "m in all";
  }
  if (!topics.empty()) {
    out += " (";
    for (std::size_t i = 0; i < topics.size() && i < 5; ++i) {
      out += (i == 0 ? "#" : ", #") + topics[i];
    }
    out += ")";
  }
  out += ".";
  if (!logs.empty() && logs.front().is_object() && logs.front().contains("text") &&
      logs.front()["text"].is_string()) {
    const std::string text = logs.front()["text"].get<std::string>();
    const std::string first(utf8_prefix(text, kFeedbackCharacters));
    out += " First: \"" + std::string(first) + (first.size() < text.size() ? "…" : "") + "\".";
  }
  if (auto it = data.find("streak_days");
      it != data.end() && it->is_number_integer() && it->get<std::int64_t>() > 1) {
    out += " Streak: " + std::to_string(it->get<std::int64_t>()) + " days.";
  }
  return out + " Keep it up!";
}

// A chat.completion object answering `request` (already validated). The content is made from the
// last user message so that a test can see the request was read, and is the same for the same
// request.
json completion_object(const json& request, const std::string& id, int completion_tokens) {
  std::string last_user;
  for (const auto& message : request["messages"]) {
    if (message.value("role", "") == "user") last_user = content_text(message["content"]);
  }
  const std::uint64_t prompt = estimate_prompt_tokens(request);
  std::uint64_t completion = static_cast<std::uint64_t>(std::max(0, completion_tokens));
  if (const auto cap = completion_cap(request)) completion = std::min(completion, *cap);
  return {
      {"id", id},
      {"object", "chat.completion"},
      {"created", unix_now_ms() / 1000},
      {"model", request["model"]},
      {"choices",
       json::array({{{"index", 0},
                     {"message",
                      {{"role", "assistant"},
                       {"content",
                        "Simulated feedback: " +
                            study_feedback(last_user).value_or(
                                std::string(utf8_prefix(last_user, kFeedbackCharacters)) + " ...")},
                       {"refusal", nullptr}}},
                     {"logprobs", nullptr},
                     {"finish_reason", "stop"}}})},
      {"usage",
       {{"prompt_tokens", prompt},
        {"completion_tokens", completion},
        {"total_tokens", prompt + completion},
        {"prompt_tokens_details", {{"cached_tokens", 0}}},
        {"completion_tokens_details", {{"reasoning_tokens", 0}}}}},
      {"service_tier", "default"},
      {"system_fingerprint", "fp_sim"}};
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// `type/subtype; name=value; name="quoted; value"` -> lowercased name -> unquoted value.
std::map<std::string, std::string> header_parameters(std::string_view header) {
  std::map<std::string, std::string> out;
  std::size_t i = header.find(';');
  while (i != std::string_view::npos && i < header.size()) {
    ++i;  // past ';'
    const std::size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    const std::string name = lowercase(trim(header.substr(i, eq - i)));
    std::size_t j = eq + 1;
    while (j < header.size() && (header[j] == ' ' || header[j] == '\t')) ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      for (++j; j < header.size() && header[j] != '"'; ++j) {
        if (header[j] == '\\' && j + 1 < header.size()) ++j;
        value += header[j];
      }
      i = header.find(';', j);
    } else {
      const std::size_t end = header.find(';', j);
      value = std::string(trim(header.substr(j, end == std::string_view::npos ? end : end - j)));
      i = end;
    }
    out[name] = value;
  }
  return out;
}

struct FormPart {
  std::string name;
  std::optional<std::string> filename;
  std::string content;
};

// multipart/form-data (RFC 7578): parts between CRLF "--boundary" lines, each with its headers,
// an empty line, and its content. Throws std::invalid_argument saying what is malformed.
std::vector<FormPart> parse_multipart(std::string_view body, const std::string& boundary) {
  const std::string delimiter = "--" + boundary;
  const std::string separator = "\r\n" + delimiter;
  std::size_t at = 0;
  if (!body.starts_with(delimiter)) {  // a preamble before the first delimiter is allowed
    at = body.find(separator);
    if (at == std::string_view::npos) throw std::invalid_argument("no boundary line found");
    at += 2;
  }
  at += delimiter.size();
  std::vector<FormPart> parts;
  for (;;) {
    if (body.substr(at, 2) == "--") return parts;  // the closing delimiter
    while (at < body.size() && (body[at] == ' ' || body[at] == '\t')) ++at;
    if (body.substr(at, 2) != "\r\n") {
      throw std::invalid_argument("a boundary line is not followed by CRLF");
    }
    at += 2;
    const std::size_t headers_end = body.substr(at, 2) == "\r\n" ? at : body.find("\r\n\r\n", at);
    if (headers_end == std::string_view::npos) {
      throw std::invalid_argument("a part's headers do not end with an empty line");
    }
    FormPart part;
    bool has_disposition = false;
    std::string_view headers = body.substr(at, headers_end - at);
    while (!headers.empty()) {
      const std::size_t eol = headers.find("\r\n");
      const std::string_view line = headers.substr(0, eol);
      const std::size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          lowercase(trim(line.substr(0, colon))) == "content-disposition") {
        const std::string_view value = trim(line.substr(colon + 1));
        if (!lowercase(value).starts_with("form-data")) {
          throw std::invalid_argument("a part's Content-Disposition is not form-data");
        }
        const auto parameters = header_parameters(value);
        if (const auto name = parameters.find("name"); name != parameters.end()) {
          part.name = name->second;
        }
        if (const auto file = parameters.find("filename"); file != parameters.end()) {
          part.filename = file->second;
        }
        has_disposition = true;
      }
      if (eol == std::string_view::npos) break;
      headers.remove_prefix(eol + 2);
    }
    if (!has_disposition || part.name.empty()) {
      throw std::invalid_argument("a part has no Content-Disposition with a name");
    }
    const std::size_t content_start = headers_end + 4 - (headers_end == at ? 2 : 0);
    const std::size_t content_end = body.find(separator, content_start);
    if (content_end == std::string_view::npos) {
      throw std::invalid_argument("part \"" + part.name + "\" is not closed by a boundary line");
    }
    part.content = std::string(body.substr(content_start, content_end - content_start));
    parts.push_back(std::move(part));
    at = content_end + separator.size();
  }
}

double get_rate(const json& value, const std::string& key) {
  if (!value.is_number()) throw std::invalid_argument(key + " must be a number");
  const double rate = value.get<double>();
  if (rate < 0 || rate > 1) throw std::invalid_argument(key + " must be between 0 and 1");
  return rate;
}

double get_non_negative(const json& value, const std::string& key) {
  if (!value.is_number() || value.get<double>() < 0) {
    throw std::invalid_argument(key + " must be a number >= 0");
  }
  return value.get<double>();
}

std::chrono::milliseconds get_milliseconds(const json& value, const std::string& key) {
  return std::chrono::milliseconds{std::llround(get_non_negative(value, key))};
}

long long ceil_milliseconds(Clock::duration wait) {
  return static_cast<long long>(
      std::ceil(std::chrono::duration<double, std::milli>(wait).count() - 1e-9));
}

}  // namespace

std::uint64_t estimate_prompt_tokens(const json& chat_request) {
  std::uint64_t tokens = 3;
  const auto messages = chat_request.find("messages");
  if (messages == chat_request.end() || !messages->is_array()) return tokens;
  for (const auto& message : *messages) {
    const std::size_t bytes = message.is_object() && message.contains("content")
                                  ? content_text(message["content"]).size()
                                  : 0;
    tokens += (bytes + 3) / 4 + 4;
  }
  return tokens;
}

std::uint64_t estimate_request_tokens(const json& chat_request) {
  return estimate_prompt_tokens(chat_request) +
         completion_cap(chat_request).value_or(kDefaultMaxTokens);
}

std::string format_reset_duration(std::chrono::nanoseconds duration) {
  if (duration <= std::chrono::nanoseconds::zero()) return "0s";
  // Rounded up: a client that waits this long finds the bucket as described.
  const auto ms = (duration.count() + 999'999) / 1'000'000;
  if (ms < 1'000) return std::to_string(ms) + "ms";
  std::string out;
  const auto hours = ms / 3'600'000;
  const auto minutes = ms / 60'000 % 60;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  const auto seconds_ms = ms % 60'000;
  out += std::to_string(seconds_ms / 1'000);
  if (auto fraction = seconds_ms % 1'000; fraction > 0) {
    char digits[8];
    std::snprintf(digits, sizeof digits, ".%03lld", static_cast<long long>(fraction));
    std::string text = digits;
    while (text.back() == '0') text.pop_back();
    out += text;
  }
  return out + "s";
}

json OpenAiSimulatorStats::to_json() const {
  json statuses = json::object();
  for (const auto& [status, count] : by_status) statuses[std::to_string(status)] = count;
  return {{"requests", requests},
          {"completions", completions},
          {"completed", completed},
          {"limit_429_requests", limit_429_requests},
          {"limit_429_tokens", limit_429_tokens},
          {"injected_429", injected_429},
          {"injected_500", injected_500},
          {"injected_503", injected_503},
          {"injected_timeouts", injected_timeouts},
          {"injected_quota", injected_quota},
          {"bad_requests", bad_requests},
          {"auth_failures", auth_failures},
          {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"files_uploaded", files_uploaded},
          {"batches_created", batches_created},
          {"batch_lines", batch_lines},
          {"in_flight", in_flight},
          {"max_in_flight", max_in_flight},
          {"by_status", statuses},
          {"by_user", by_user}};
}

// What one request gets, decided under the lock; waited and answered outside it.
struct OpenAiSimulator::Decision {
  std::chrono::milliseconds delay{0};
  bool counted = false;  // a chat completion in flight until answered
  bool close = false;    // an injected timeout: the connection closes after the late answer
  // When the limits were checked: the x-ratelimit-* headers describe the buckets as of then, so
  // that time spent building the answer does not show in them.
  std::chrono::steady_clock::time_point admitted_at = std::chrono::steady_clock::now();
};

struct OpenAiSimulator::StoredFile {
  std::string id;
  std::string filename;
  std::string purpose;
  std::string content;
  std::int64_t created_at = 0;  // unix seconds

  [[nodiscard]] json object() const {
    return {{"id", id},
            {"object", "file"},
            {"bytes", content.size()},
            {"created_at", created_at},
            {"filename", filename},
            {"purpose", purpose},
            {"status", "processed"},
            {"status_details", nullptr},
            {"expires_at", nullptr}};
  }
};

struct OpenAiSimulator::Batch {
  struct Line {
    std::string custom_id;
    json body;
    json refused;       // the 400 error body of a request OpenAI would refuse, else null
    bool fail = false;  // drawn at creation from batch_fail_rate
  };
  std::string id;
  std::string input_file_id;
  std::string endpoint;
  std::string completion_window;
  json metadata;
  json errors;  // null, or the validation errors that fail the batch
  std::vector<Line> lines;
  std::int64_t created_at_ms = 0;  // wall clock, for the timestamps shown
  Clock::time_point started;       // steady clock, for the status
  std::chrono::milliseconds duration{0};
  int completion_tokens = 0;
  std::optional<std::int64_t> cancelled_at;  // unix seconds
  bool finished = false;                     // output files written
  std::string output_file_id;
  std::string error_file_id;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
};

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

void OpenAiSimulator::rebuild_buckets() {
  const auto now = Clock::now();
  requests_bucket_ =
      async::TokenBucket(options_.requests_per_minute / 60.0, options_.requests_per_minute, now);
  tokens_bucket_ =
      async::TokenBucket(options_.tokens_per_minute / 60.0, options_.tokens_per_minute, now);
}

std::string OpenAiSimulator::next_request_id() {
  char id[40];
  std::snprintf(id, sizeof id, "req_sim%025llu", static_cast<unsigned long long>(next_request_++));
  return id;
}

// x-ratelimit-* as OpenAI sends them: the limit, what is left (whole units), and how long until
// the bucket is full again. A limit of 0 (none) has no headers.
void OpenAiSimulator::set_rate_limit_headers(http::Response& response, Clock::time_point now) {
  const auto add = [&](const char* kind, double limit, const async::TokenBucket& bucket) {
    if (limit <= 0) return;
    const double tokens = bucket.tokens(now);
    const double seconds_to_full = std::max(0.0, (limit - tokens) / (limit / 60.0));
    response.set(std::string("x-ratelimit-limit-") + kind,
                 std::to_string(static_cast<long long>(std::floor(limit))));
    response.set(std::string("x-ratelimit-remaining-") + kind,
                 std::to_string(static_cast<long long>(std::max(0.0, std::floor(tokens)))));
    response.set(std::string("x-ratelimit-reset-") + kind,
                 format_reset_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::duration<double>(seconds_to_full))));
  };
  add("requests", options_.requests_per_minute, requests_bucket_);
  add("tokens", options_.tokens_per_minute, tokens_bucket_);
}

http::Response OpenAiSimulator::chat_completion(const http::Request& request, Decision& decision) {
  const unsigned version = request.version();
  const json body = json::parse(request.body(), nullptr, false);
  if (body.is_discarded()) {
    return invalid_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
        "sent was not valid JSON.)",
        nullptr, version);
  }
  if (const auto problem = chat_request_problem(body)) {
    return invalid_request(problem->second, problem->first, version);
  }
  const std::string model = body["model"].get<std::string>();
  const auto estimate = estimate_request_tokens(body);

  // Rate limits, checked together at admission: a refused request spends nothing.
  const auto now = Clock::now();
  decision.admitted_at = now;
  const double rpm = options_.requests_per_minute;
  const double tpm = options_.tokens_per_minute;
  const auto refused = [&](const char* kind, double limit, double used, double requested,
                           Clock::duration wait) {
    const bool requests = std::string_view(kind) == "requests";
    const std::string message =
        "Rate limit reached for " + model + " in organization " + kOrganization + " on " +
        (requests ? "requests per min (RPM)" : "tokens per min (TPM)") + ": Limit " +
        std::to_string(std::llround(limit)) + ", Used " + std::to_string(std::llround(used)) +
        ", Requested " + std::to_string(std::llround(requested)) + ". Please try again in " +
        format_reset_duration(wait) +
        ". Visit https://platform.openai.com/account/rate-limits to learn more.";
    http::Response response = openai_error(bh::status::too_many_requests, message, kind, nullptr,
                                           "rate_limit_exceeded", version);
    response.set(bh::field::retry_after, std::to_string(static_cast<long long>(std::ceil(
                                             std::chrono::duration<double>(wait).count() - 1e-9))));
    response.set("retry-after-ms", std::to_string(ceil_milliseconds(wait)));
    return response;
  };
  if (tpm > 0 && static_cast<double>(estimate) > tpm) {
    // Larger than the whole bucket: no wait makes it fit, so no retry-after either.
    ++stats_.limit_429_tokens;
    return openai_error(bh::status::too_many_requests,
                        "Request too large for " + model + " in organization " + kOrganization +
                            " on tokens per min (TPM): Limit " + std::to_string(std::llround(tpm)) +
                            ", Requested " + std::to_string(estimate) +
                            ". The input or output tokens must be reduced in order to run "
                            "successfully. Visit https://platform.openai.com/account/rate-limits "
                            "to learn more.",
                        "tokens", nullptr, "rate_limit_exceeded", version);
  }
  if (const auto wait = requests_bucket_.wait(now); rpm > 0 && wait > Clock::duration::zero()) {
    ++stats_.limit_429_requests;
    return refused("requests", rpm, rpm - requests_bucket_.tokens(now), 1, wait);
  }
  if (const auto wait = tokens_bucket_.wait(now, static_cast<double>(estimate));
      tpm > 0 && wait > Clock::duration::zero()) {
    ++stats_.limit_429_tokens;
    return refused("tokens", tpm, tpm - tokens_bucket_.tokens(now), static_cast<double>(estimate),
                   wait);
  }
  requests_bucket_.take(now);
  tokens_bucket_.take(now, static_cast<double>(estimate));

  // Injected faults, one draw per kind that is enabled, so that enabling one does not change
  // where the others fall.
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto draw = [&](double rate) { return rate > 0 && unit(rng_) < rate; };
  if (options_.quota_exhausted || draw(options_.inject_quota_rate)) {
    ++stats_.injected_quota;
    return openai_error(
        bh::status::too_many_requests,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota", nullptr, "insufficient_quota", version);
  }
  if (draw(options_.inject_429_rate)) {
    ++stats_.injected_429;
    http::Response response = refused("requests", std::max(rpm, 1.0), std::max(rpm, 1.0), 1,
                                      std::chrono::milliseconds{200});
    response.set(bh::field::retry_after, "1");
    response.set("retry-after-ms", "200");
    return response;
  }
  if (draw(options_.inject_500_rate)) {
    ++stats_.injected_500;
    return openai_error(bh::status::internal_server_error,
                        "The server had an error while processing your request. Sorry about that!",
                        "server_error", nullptr, nullptr, version);
  }
  if (draw(options_.inject_503_rate)) {
    ++stats_.injected_503;
    return openai_error(bh::status::service_unavailable,
                        "The engine is currently overloaded, please try again later",
                        "server_error", nullptr, nullptr, version);
  }
  if (draw(options_.inject_timeout_rate)) {
    // The answer is held until a client's timeout has surely passed; the server can only close
    // a connection after answering, so the late answer is a gateway timeout and then the close.
    ++stats_.injected_timeouts;
    decision.delay = options_.timeout_hold;
    decision.close = true;
    return openai_error(bh::status::gateway_timeout, "Gateway timeout.", "server_error", nullptr,
                        nullptr, version);
  }

  if (options_.latency_median_ms > 0) {
    const double median = options_.latency_median_ms;
    const double p99 = std::max(options_.latency_p99_ms, median);
    const double sigma = std::log(p99 / median) / 2.3263;  // z of the 99th percentile
    std::normal_distribution<double> z(0.0, 1.0);
    decision.delay = std::chrono::milliseconds{std::llround(median * std::exp(sigma * z(rng_)))};
  }
  const json answer = completion_object(body, "chatcmpl-sim" + std::to_string(next_completion_++),
                                        options_.completion_tokens);
  ++stats_.completed;
  stats_.prompt_tokens += answer["usage"]["prompt_tokens"].get<std::uint64_t>();
  stats_.completion_tokens += answer["usage"]["completion_tokens"].get<std::uint64_t>();
  const auto user = body.find("user");
  ++stats_.by_user[user != body.end() && user->is_string() ? user->get<std::string>() : ""];
  return http::json_response(bh::status::ok, dump(answer), version);
}

http::Response OpenAiSimulator::upload_file(const http::Request& request) {
  const unsigned version = request.version();
  const std::string content_type(request[bh::field::content_type]);
  if (!lowercase(content_type).starts_with("multipart/form-data")) {
    return invalid_request(
        "Invalid Content-Type header (" + content_type + "), expected multipart/form-data.",
        nullptr, version);
  }
  const auto parameters = header_parameters(content_type);
  const auto boundary = parameters.find("boundary");
  if (boundary == parameters.end() || boundary->second.empty()) {
    return invalid_request("The multipart/form-data Content-Type has no boundary.", nullptr,
                           version);
  }
  std::vector<FormPart> parts;
  try {
    parts = parse_multipart(request.body(), boundary->second);
  } catch (const std::invalid_argument& error) {
    return invalid_request(std::string("Could not parse the multipart form: ") + error.what() + ".",
                           nullptr, version);
  }
  const FormPart* purpose = nullptr;
  const FormPart* file = nullptr;
  for (const auto& part : parts) {
    if (part.name == "purpose") purpose = &part;
    if (part.name == "file") file = &part;
  }
  if (purpose == nullptr) {
    return invalid_request("Missing required parameter: 'purpose'.", "purpose", version);
  }
  static const std::vector<std::string> kPurposes = {"assistants", "batch",     "fine-tune",
                                                     "vision",     "user_data", "evals"};
  if (std::find(kPurposes.begin(), kPurposes.end(), purpose->content) == kPurposes.end()) {
    return invalid_request("Invalid value for 'purpose': '" + purpose->content +
                               "'. Supported values are: 'assistants', 'batch', 'fine-tune', "
                               "'vision', 'user_data' and 'evals'.",
                           "purpose", version);
  }
  if (file == nullptr) {
    return invalid_request("Missing required parameter: 'file'.", "file", version);
  }
  if (!file->filename || file->filename->empty()) {
    return invalid_request("The 'file' part must be a file upload with a filename.", "file",
                           version);
  }
  StoredFile stored;
  stored.id = "file-sim" + std::to_string(next_file_++);
  stored.filename = *file->filename;
  stored.purpose = purpose->content;
  stored.content = file->content;
  stored.created_at = unix_now_ms() / 1000;
  ++stats_.files_uploaded;
  logger_.info(
      "openai_sim_file_uploaded",
      {{"file_id", stored.id}, {"bytes", stored.content.size()}, {"purpose", stored.purpose}});
  const json object = stored.object();
  files_.emplace(stored.id, std::move(stored));
  return http::json_response(bh::status::ok, dump(object), version);
}

http::Response OpenAiSimulator::create_batch(const http::Request& request) {
  const unsigned version = request.version();
  const json body = json::parse(request.body(), nullptr, false);
  if (!body.is_object()) {
    return invalid_request("The request body must be a JSON object.", nullptr, version);
  }
  for (const char* required : {"input_file_id", "endpoint", "completion_window"}) {
    if (!body.contains(required)) {
      return invalid_request(std::string("Missing required parameter: '") + required + "'.",
                             required, version);
    }
    if (!body[required].is_string()) {
      return invalid_request(std::string("Invalid type for '") + required + "': expected a string.",
                             required, version);
    }
  }
  const std::string endpoint = body["endpoint"].get<std::string>();
  if (endpoint != "/v1/chat/completions") {
    return invalid_request("Invalid value for 'endpoint': '" + endpoint +
                               "'. This simulator supports '/v1/chat/completions'.",
                           "endpoint", version);
  }
  const std::string window = body["completion_window"].get<std::string>();
  if (window != "24h") {
    return invalid_request(
        "Invalid value for 'completion_window': '" + window + "'. Supported values are: '24h'.",
        "completion_window", version);
  }
  json metadata = body.value("metadata", json());
  if (!metadata.is_null()) {
    bool valid = metadata.is_object() && metadata.size() <= 16;
    if (valid) {
      for (const auto& [key, value] : metadata.items()) {
        valid = valid && key.size() <= 64 && value.is_string() &&
                value.get<std::string>().size() <= 512;
      }
    }
    if (!valid) {
      return invalid_request(
          "Invalid 'metadata': expected an object of at most 16 string values (keys up to 64 "
          "characters, values up to 512).",
          "metadata", version);
    }
  }
  const std::string input_file_id = body["input_file_id"].get<std::string>();
  const auto input = files_.find(input_file_id);
  if (input == files_.end()) return no_such_file(input_file_id, "input_file_id", version);
  if (input->second.purpose != "batch") {
    return invalid_request("The input file must be uploaded with purpose 'batch', not '" +
                               input->second.purpose + "'.",
                           "input_file_id", version);
  }

  Batch batch;
  batch.id = "batch_sim" + std::to_string(next_batch_);
  batch.input_file_id = input_file_id;
  batch.endpoint = endpoint;
  batch.completion_window = window;
  batch.metadata = metadata;
  batch.created_at_ms = unix_now_ms();
  batch.started = Clock::now();
  batch.duration = options_.batch_duration;
  batch.completion_tokens = options_.completion_tokens;
  // Failures drawn from a generator of this batch's own, so that which lines fail depends on
  // the seed and the batch's number only, not on the chat traffic around it.
  std::mt19937_64 fail_rng(options_.seed ^ (0x9E3779B97F4A7C15ULL * next_batch_));
  ++next_batch_;
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  // Validation as OpenAI's: every line a JSON object {custom_id, method, url, body}; any error
  // fails the whole batch, listing the lines.
  json errors = json::array();
  const auto add_error = [&](const char* code, const std::string& message, json param,
                             std::size_t line) {
    if (errors.size() < kMaxBatchErrors) {
      errors.push_back({{"code", code}, {"message", message}, {"param", param}, {"line", line}});
    }
  };
  std::map<std::string, std::size_t> seen;
  std::string_view content = input->second.content;
  std::size_t line_number = 0;
  while (!content.empty()) {
    ++line_number;
    const std::size_t eol = content.find('\n');
    std::string_view text = content.substr(0, eol);
    content.remove_prefix(eol == std::string_view::npos ? content.size() : eol + 1);
    if (text.ends_with('\r')) text.remove_suffix(1);
    if (trim(text).empty()) continue;
    const json line = json::parse(text, nullptr, false);
    if (!line.is_object()) {
      add_error("invalid_json_line", "This line is not parseable as valid JSON.", nullptr,
                line_number);
      continue;
    }
    const auto custom_id = line.find("custom_id");
    if (custom_id == line.end() || !custom_id->is_string() ||
        custom_id->get<std::string>().empty()) {
      add_error("missing_required_parameter", "Missing required parameter: 'custom_id'.",
                "custom_id", line_number);
      continue;
    }
    if (!seen.emplace(custom_id->get<std::string>(), line_number).second) {
      add_error("duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request. The custom_id "
                "parameter must be unique for each request in a batch.",
                "custom_id", line_number);
      continue;
    }
    if (line.value("method", json()) != "POST") {
      add_error("invalid_method", "Invalid value for 'method': expected 'POST'.", "method",
                line_number);
      continue;
    }
    if (line.value("url", json()) != endpoint) {
      add_error("invalid_url",
                "The URL provided for this request does not match the batch endpoint.", "url",
                line_number);
      continue;
    }
    if (!line.contains("body") || !line["body"].is_object()) {
      add_error("missing_required_parameter", "Missing required parameter: 'body'.", "body",
                line_number);
      continue;
    }
    Batch::Line request_line;
    request_line.custom_id = custom_id->get<std::string>();
    request_line.body = line["body"];
    if (const auto problem = chat_request_problem(request_line.body)) {
      // A well-formed line with a request OpenAI refuses: that request fails with 400, the
      // batch goes on.
      request_line.refused = {{"error",
                               {{"message", problem->second},
                                {"type", "invalid_request_error"},
                                {"param", problem->first},
                                {"code", nullptr}}}};
    } else {
      request_line.fail = options_.batch_fail_rate > 0 && unit(fail_rng) < options_.batch_fail_rate;
    }
    batch.lines.push_back(std::move(request_line));
  }
  if (line_number == 0 || (batch.lines.empty() && errors.empty())) {
    add_error("empty_file", "The batch input file is empty.", nullptr, 0);
    errors.back()["line"] = nullptr;
  }
  if (!errors.empty()) {
    batch.errors = {{"object", "list"}, {"data", errors}};
    batch.lines.clear();
  }
  ++stats_.batches_created;
  stats_.batch_lines += batch.lines.size();
  logger_.info("openai_sim_batch_created", {{"batch_id", batch.id},
                                            {"input_file_id", input_file_id},
                                            {"lines", batch.lines.size()},
                                            {"validation_errors", errors.size()}});
  auto& stored = batches_.emplace(batch.id, std::move(batch)).first->second;
  return http::json_response(bh::status::ok, dump(batch_object(stored)), version);
}

// Writes the output and error files of a batch that has run its course; done at the first look
// after completion, so a batch nobody reads costs nothing.
void OpenAiSimulator::finish_batch(Batch& batch) {
  if (batch.finished) return;
  batch.finished = true;
  std::string output;
  std::string errors;
  for (const auto& line : batch.lines) {
    const std::string request_id = next_request_id();
    json record = {{"id", "batch_req_sim" + std::to_string(next_batch_request_++)},
                   {"custom_id", line.custom_id},
                   {"error", nullptr}};
    if (!line.refused.is_null()) {
      record["response"] = {
          {"status_code", 400}, {"request_id", request_id}, {"body", line.refused}};
      errors += dump(record) + "\n";
      ++batch.failed;
    } else if (line.fail) {
      record["response"] = {
          {"status_code", 500},
          {"request_id", request_id},
          {"body",
           {{"error",
             {{"message",
               "The server had an error while processing your request. Sorry about that!"},
              {"type", "server_error"},
              {"param", nullptr},
              {"code", nullptr}}}}}};
      errors += dump(record) + "\n";
      ++batch.failed;
    } else {
      record["response"] = {
          {"status_code", 200},
          {"request_id", request_id},
          {"body", completion_object(line.body, "chatcmpl-sim" + std::to_string(next_completion_++),
                                     batch.completion_tokens)}};
      output += dump(record) + "\n";
      ++batch.succeeded;
    }
  }
  const std::int64_t completed_at = (batch.created_at_ms + batch.duration.count()) / 1000;
  const auto store = [&](std::string content, const char* kind) {
    StoredFile file;
    file.id = "file-sim" + std::to_string(next_file_++);
    file.filename = batch.id + "_" + kind + ".jsonl";
    file.purpose = "batch_output";
    file.content = std::move(content);
    file.created_at = completed_at;
    const std::string id = file.id;
    files_.emplace(id, std::move(file));
    return id;
  };
  batch.output_file_id = store(std::move(output), "output");
  if (batch.failed > 0) batch.error_file_id = store(std::move(errors), "error");
  logger_.info(
      "openai_sim_batch_completed",
      {{"batch_id", batch.id},
       {"completed", batch.succeeded},
       {"failed", batch.failed},
       {"output_file_id", batch.output_file_id},
       {"error_file_id", batch.error_file_id.empty() ? json() : json(batch.error_file_id)}});
}

// The batch as OpenAI shows it now: its status follows from the time since its creation.
json OpenAiSimulator::batch_object(Batch& batch) {
  const double progress = batch.duration.count() <= 0
                              ? 1.0
                              : std::chrono::duration<double>(Clock::now() - batch.started) /
                                    std::chrono::duration<double>(batch.duration);
  const auto at = [&](double share) -> json {
    return (batch.created_at_ms +
            static_cast<std::int64_t>(share * static_cast<double>(batch.duration.count()))) /
           1000;
  };
  std::string status;
  if (batch.cancelled_at) {
    status = "cancelled";
  } else if (progress < 0.1) {
    status = "validating";
  } else if (!batch.errors.is_null()) {
    status = "failed";
  } else if (progress < 1.0) {
    status = "in_progress";
  } else {
    status = "completed";
    finish_batch(batch);
  }
  json counts = {{"total", 0}, {"completed", 0}, {"failed", 0}};
  if (status == "in_progress" || status == "completed") {
    counts["total"] = batch.lines.size();
  }
  if (status == "in_progress") {
    // Progress as requests finish; which ones fail is known from the start.
    std::uint64_t will_fail = 0;
    for (const auto& line : batch.lines)
      will_fail += (line.fail || !line.refused.is_null()) ? 1U : 0U;
    const double share = (progress - 0.1) / 0.9;
    counts["completed"] =
        static_cast<std::uint64_t>(share * static_cast<double>(batch.lines.size() - will_fail));
    counts["failed"] = static_cast<std::uint64_t>(share * static_cast<double>(will_fail));
  } else if (status == "completed") {
    counts["completed"] = batch.succeeded;
    counts["failed"] = batch.failed;
  }
  const bool started = progress >= 0.1 && batch.errors.is_null();
  return {
      {"id", batch.id},
      {"object", "batch"},
      {"endpoint", batch.endpoint},
      {"errors", batch.errors},
      {"input_file_id", batch.input_file_id},
      {"completion_window", batch.completion_window},
      {"status", status},
      {"output_file_id", status == "completed" ? json(batch.output_file_id) : json()},
      {"error_file_id",
       status == "completed" && !batch.error_file_id.empty() ? json(batch.error_file_id) : json()},
      {"created_at", batch.created_at_ms / 1000},
      {"in_progress_at", started ? at(0.1) : json()},
      {"expires_at", batch.created_at_ms / 1000 + kBatchExpirySeconds},
      {"finalizing_at", status == "completed" ? at(1.0) : json()},
      {"completed_at", status == "completed" ? at(1.0) : json()},
      {"failed_at", status == "failed" ? at(0.1) : json()},
      {"expired_at", nullptr},
      {"cancelling_at", batch.cancelled_at ? json(*batch.cancelled_at) : json()},
      {"cancelled_at", batch.cancelled_at ? json(*batch.cancelled_at) : json()},
      {"request_counts", counts},
      {"metadata", batch.metadata}};
}

http::Response OpenAiSimulator::control_request(const http::Request& request,
                                                std::string_view path) {
  const unsigned version = request.version();
  const auto method = request.method();
  if (path == "/_sim/stats" && method == bh::verb::get) {
    return http::json_response(bh::status::ok, dump(stats().to_json()), version);
  }
  if (path == "/_sim/reset" && method == bh::verb::post) {
    reset();
    return http::json_response(bh::status::ok, R"({"ok":true})", version);
  }
  if (path == "/_sim/config" && method == bh::verb::post) {
    try {
      configure(json::parse(request.body()));
      return http::json_response(bh::status::ok, dump(config()), version);
    } catch (const std::exception& error) {
      return http::error_response(bh::status::bad_request, "invalid_config", error.what(), version);
    }
  }
  if (path == "/_sim/config" && method == bh::verb::get) {
    return http::json_response(bh::status::ok, dump(config()), version);
  }
  return http::error_response(bh::status::not_found, "not_found", "no such simulator endpoint",
                              version);
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
      const auto file = files_.find(id);
      if (file == files_.end()) {
        response = no_such_file(id, "id", version);
      } else if (route == Route::file_content) {
        response = http::Response(bh::status::ok, version);
        response.set(bh::field::content_type, "application/octet-stream");
        response.set(bh::field::content_disposition,
                     "attachment; filename=\"" + file->second.filename + "\"");
        response.body() = file->second.content;
        response.prepare_payload();
      } else if (method == bh::verb::delete_) {
        files_.erase(file);
        response = http::json_response(
            bh::status::ok, dump({{"id", id}, {"object", "file"}, {"deleted", true}}), version);
      } else {
        response = http::json_response(bh::status::ok, dump(file->second.object()), version);
      }
    } else if (route == Route::batches && post) {
      response = create_batch(request);
    } else if (route == Route::batches) {
      json list = json::array();
      for (auto& [batch_id, batch] : batches_) list.push_back(batch_object(batch));
      std::reverse(list.begin(), list.end());  // newest first, as OpenAI lists them
      response = http::json_response(bh::status::ok,
                                     dump({{"object", "list"},
                                           {"data", list},
                                           {"first_id", list.empty() ? json() : list.front()["id"]},
                                           {"last_id", list.empty() ? json() : list.back()["id"]},
                                           {"has_more", false}}),
                                     version);
    } else {
      const auto batch = batches_.find(id);
      if (batch == batches_.end()) {
        response = openai_error(bh::status::not_found, "No batch found with id '" + id + "'.",
                                "invalid_request_error", "batch_id", nullptr, version);
      } else if (route == Route::batch) {
        response = http::json_response(bh::status::ok, dump(batch_object(batch->second)), version);
      } else {
        const json now = batch_object(batch->second);
        const std::string status = now["status"].get<std::string>();
        if (status == "completed" || status == "failed" || status == "expired") {
          response = openai_error(bh::status::conflict,
                                  "Cannot cancel a batch with status '" + status + "'.",
                                  "invalid_request_error", nullptr, nullptr, version);
        } else {
          if (!batch->second.cancelled_at) {
            batch->second.cancelled_at = unix_now_ms() / 1000;
            logger_.info("openai_sim_batch_cancelled", {{"batch_id", id}});
          }
          response =
              http::json_response(bh::status::ok, dump(batch_object(batch->second)), version);
        }
      }
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

OpenAiSimulatorStats OpenAiSimulator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void OpenAiSimulator::reset() {
  std::lock_guard lock(mutex_);
  files_.clear();
  batches_.clear();
  const auto in_flight = stats_.in_flight;
  stats_ = {};
  stats_.in_flight = in_flight;
  rebuild_buckets();
  logger_.info("openai_sim_reset");
}

void OpenAiSimulator::configure(const json& changes) {
  if (!changes.is_object()) throw std::invalid_argument("the config must be a JSON object");
  std::lock_guard lock(mutex_);
  OpenAiSimulatorOptions next = options_;
  bool reseed = false;
  for (const auto& [key, value] : changes.items()) {
    if (key == "api_key") {
      if (!value.is_string()) throw std::invalid_argument("api_key must be a string");
      next.api_key = value.get<std::string>();
    } else if (key == "requests_per_minute") {
      next.requests_per_minute = get_non_negative(value, key);
    } else if (key == "tokens_per_minute") {
      next.tokens_per_minute = get_non_negative(value, key);
    } else if (key == "latency_median_ms") {
      next.latency_median_ms = get_non_negative(value, key);
    } else if (key == "latency_p99_ms") {
      next.latency_p99_ms = get_non_negative(value, key);
    } else if (key == "inject_429_rate") {
      next.inject_429_rate = get_rate(value, key);
    } else if (key == "inject_500_rate") {
      next.inject_500_rate = get_rate(value, key);
    } else if (key == "inject_503_rate") {
      next.inject_503_rate = get_rate(value, key);
    } else if (key == "inject_timeout_rate") {
      next.inject_timeout_rate = get_rate(value, key);
    } else if (key == "timeout_hold_ms") {
      next.timeout_hold = get_milliseconds(value, key);
    } else if (key == "inject_quota_rate") {
      next.inject_quota_rate = get_rate(value, key);
    } else if (key == "quota_exhausted") {
      if (!value.is_boolean()) throw std::invalid_argument("quota_exhausted must be true or false");
      next.quota_exhausted = value.get<bool>();
    } else if (key == "completion_tokens") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > 1'000'000) {
        throw std::invalid_argument("completion_tokens must be an integer from 0 to 1000000");
      }
      next.completion_tokens = value.get<int>();
    } else if (key == "batch_duration_ms") {
      next.batch_duration = get_milliseconds(value, key);
    } else if (key == "batch_fail_rate") {
      next.batch_fail_rate = get_rate(value, key);
    } else if (key == "seed") {
      if (!value.is_number_unsigned()) throw std::invalid_argument("seed must be an integer >= 0");
      next.seed = value.get<std::uint64_t>();
      reseed = true;
    } else {
      throw std::invalid_argument("unknown setting \"" + key + "\"");
    }
  }
  const bool limits_changed = next.requests_per_minute != options_.requests_per_minute ||
                              next.tokens_per_minute != options_.tokens_per_minute;
  options_ = std::move(next);
  if (limits_changed) rebuild_buckets();
  if (reseed) rng_.seed(options_.seed);
  json changed = json::array();
  for (const auto& [key, value] : changes.items()) changed.push_back(key);
  logger_.info("openai_sim_config_changed", {{"settings", changed}});
}

json OpenAiSimulator::config() const {
  std::lock_guard lock(mutex_);
  return {{"api_key", options_.api_key},
          {"requests_per_minute", options_.requests_per_minute},
          {"tokens_per_minute", options_.tokens_per_minute},
          {"latency_median_ms", options_.latency_median_ms},
          {"latency_p99_ms", options_.latency_p99_ms},
          {"inject_429_rate", options_.inject_429_rate},
          {"inject_500_rate", options_.inject_500_rate},
          {"inject_503_rate", options_.inject_503_rate},
          {"inject_timeout_rate", options_.inject_timeout_rate},
          {"timeout_hold_ms", options_.timeout_hold.count()},
          {"inject_quota_rate", options_.inject_quota_rate},
          {"quota_exhausted", options_.quota_exhausted},
          {"completion_tokens", options_.completion_tokens},
          {"batch_duration_ms", options_.batch_duration.count()},
          {"batch_fail_rate", options_.batch_fail_rate},
          {"seed", options_.seed}};
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
