#include "tracker/llm/batch_api.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace tracker::llm {

namespace bh = http::beast_http;

BatchApi::BatchApi(asio::any_io_executor executor, http::Client& http, config::Secret api_key,
                   int max_attempts)
    : executor_(executor), http_(http), api_key_(std::move(api_key)), max_attempts_(max_attempts) {}

asio::awaitable<BatchApiResult<http::Response>> BatchApi::send(bh::verb method, std::string target,
                                                               std::string body,
                                                               std::string content_type) {
  BatchApiResult<http::Response> out;
  const http::BackoffPolicy backoff{.initial = std::chrono::milliseconds{500},
                                    .max = std::chrono::milliseconds{5'000},
                                    .multiplier = 2.0,
                                    .jitter = 0.5};
  for (int attempt = 1; attempt <= max_attempts_; ++attempt) {
    http::Headers headers{{"Authorization", "Bearer " + api_key_.reveal()}};
    if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
    std::string payload = body;
    std::string where = target;
    auto reply =
        co_await http_.send(method, std::move(where), std::move(payload), std::move(headers));
    if (reply) {
      const unsigned status = reply->result_int();
      if (status < 300) {
        out.value = std::move(*reply);
        co_return out;
      }
      out.error.status = status;
      out.error.message = api_error_message(status, reply->body());
      if (status != 429 && status < 500 && status != 408 && status != 409) co_return out;
    } else {
      out.error.status = 0;
      out.error.message = reply.error().describe();
      if (reply.error().kind == http::ClientError::shut_down ||
          reply.error().kind == http::ClientError::aborted) {
        co_return out;
      }
    }
    if (attempt == max_attempts_) break;
    asio::steady_timer pause(executor_, http::backoff_delay(backoff, attempt, rng_));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return out;
}

namespace {

template <typename T>
BatchApiResult<T> failed(BatchApiError error) {
  BatchApiResult<T> out;
  out.error = std::move(error);
  return out;
}

BatchApiResult<BatchStatus> batch_of(const http::Response& response) {
  BatchApiResult<BatchStatus> out;
  try {
    out.value = parse_batch(nlohmann::json::parse(response.body()));
  } catch (const std::exception& error) {
    out.error = {response.result_int(), std::string("unreadable batch object: ") + error.what()};
  }
  return out;
}

}  // namespace

asio::awaitable<BatchApiResult<std::string>> BatchApi::upload(std::string jsonl,
                                                              std::string filename) {
  auto form = file_upload("batch", filename, jsonl);
  auto reply =
      co_await send(bh::verb::post, "/files", std::move(form.body), std::move(form.content_type));
  if (!reply) co_return failed<std::string>(reply.error);
  const auto parsed = nlohmann::json::parse(reply.value->body(), nullptr, false);
  if (!parsed.is_object() || !parsed.contains("id") || !parsed["id"].is_string()) {
    co_return failed<std::string>({reply.value->result_int(), "the file object has no id"});
  }
  BatchApiResult<std::string> out;
  out.value = parsed["id"].get<std::string>();
  co_return out;
}

asio::awaitable<BatchApiResult<BatchStatus>> BatchApi::create(std::string input_file_id) {
  const nlohmann::json body{{"input_file_id", input_file_id},
                            {"endpoint", "/v1/chat/completions"},
                            {"completion_window", "24h"}};
  auto reply = co_await send(bh::verb::post, "/batches", body.dump(), "application/json");
  if (!reply) co_return failed<BatchStatus>(reply.error);
  co_return batch_of(*reply.value);
}

asio::awaitable<BatchApiResult<BatchStatus>> BatchApi::get(std::string batch_id) {
  auto reply = co_await send(bh::verb::get, "/batches/" + batch_id, "", "");
  if (!reply) co_return failed<BatchStatus>(reply.error);
  co_return batch_of(*reply.value);
}

asio::awaitable<BatchApiResult<std::string>> BatchApi::content(std::string file_id) {
  auto reply = co_await send(bh::verb::get, "/files/" + file_id + "/content", "", "");
  if (!reply) co_return failed<std::string>(reply.error);
  BatchApiResult<std::string> out;
  out.value = std::move(reply.value->body());
  co_return out;
}

}  // namespace tracker::llm
