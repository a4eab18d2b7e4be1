#pragma once
// The Files and Batches endpoints the summarizer's batch mode uses, over an http::Client:
// upload a JSONL file (purpose "batch"), create a batch (completion_window "24h"), read a
// batch, download a file. Each call is retried a few times on 5xx, 429 and failures before an
// answer (bounded), never on other 4xx.
#include <chrono>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/config/secret.hpp>
#include <tracker/http/backoff.hpp>
#include <tracker/http/client.hpp>
#include <tracker/llm/batch.hpp>

namespace tracker::llm {

namespace asio = boost::asio;

struct BatchApiError {
  unsigned status = 0;  // 0: no answer
  std::string message;
};

template <typename T>
struct BatchApiResult {
  std::optional<T> value;
  BatchApiError error;
  explicit operator bool() const noexcept { return value.has_value(); }
};

class BatchApi {
 public:
  BatchApi(asio::any_io_executor executor, http::Client& http, config::Secret api_key,
           int max_attempts = 3);

  asio::awaitable<BatchApiResult<std::string>> upload(std::string jsonl, std::string filename);
  asio::awaitable<BatchApiResult<BatchStatus>> create(std::string input_file_id);
  asio::awaitable<BatchApiResult<BatchStatus>> get(std::string batch_id);
  asio::awaitable<BatchApiResult<std::string>> content(std::string file_id);

 private:
  asio::awaitable<BatchApiResult<http::Response>> send(http::beast_http::verb method,
                                                       std::string target, std::string body,
                                                       std::string content_type);

  asio::any_io_executor executor_;
  http::Client& http_;
  config::Secret api_key_;
  int max_attempts_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace tracker::llm
