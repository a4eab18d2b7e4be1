// The OpenAI simulator answers as OpenAI does: bodies, error shapes, rate-limit headers, files
// and batches; driven over HTTP through the project's own client.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <tracker/http/client.hpp>

#include "openai_simulator.hpp"
#include "run.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using nlohmann::json;
using tracker::loadtest::OpenAiSimulatorOptions;
using tracker::loadtest::OpenAiSimulatorThread;
using tracker::testing::run;

namespace {

struct SimReply {
  unsigned status = 0;
  json body;         // null if the body is not JSON
  std::string text;  // the raw body
  tracker::http::Response raw;
  [[nodiscard]] std::string header(const std::string& name) const { return std::string(raw[name]); }
  [[nodiscard]] bool has(const std::string& name) const { return raw.find(name) != raw.end(); }
};

struct OpenAiSimulatorTest : ::testing::Test {
  asio::io_context io;

  SimReply send(const std::string& base_url, bh::verb method, const std::string& target,
                const std::string& body, tracker::http::Headers headers) {
    tracker::http::Client client(io.get_executor(), {.base_url = base_url});
    SimReply reply;
    run(io, [&]() -> asio::awaitable<void> {
      std::string request_target = target;
      std::string request_body = body;
      auto result = co_await client.send(method, std::move(request_target), std::move(request_body),
                                         std::move(headers));
      reply.raw = std::move(result.value());
    }());
    reply.status = reply.raw.result_int();
    reply.text = reply.raw.body();
    reply.body = json::parse(reply.text, nullptr, false);
    if (reply.body.is_discarded()) reply.body = nullptr;
    return reply;
  }
  SimReply api(OpenAiSimulatorThread& sim, bh::verb method, const std::string& target,
               const std::string& body = "", const std::string& content_type = "application/json",
               const std::string& key = "sk-simulated") {
    tracker::http::Headers headers;
    if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
    if (!body.empty()) headers.emplace_back("Content-Type", content_type);
    return send(sim.base_url(), method, target, body, std::move(headers));
  }
  SimReply chat(OpenAiSimulatorThread& sim, const json& request,
                const std::string& key = "sk-simulated") {
    return api(sim, bh::verb::post, "/chat/completions", request.dump(), "application/json", key);
  }
  SimReply control(OpenAiSimulatorThread& sim, bh::verb method, const std::string& target,
                   const std::string& body = "") {
    return send("http://127.0.0.1:" + std::to_string(sim.port()), method, target, body,
                {{"Content-Type", "application/json"}});
  }

  // POST /files as a multipart form, the way curl -F sends one.
  SimReply upload(OpenAiSimulatorThread& sim, const std::string& content,
                  const std::string& purpose = "batch", const std::string& filename = "in.jsonl") {
    const std::string boundary = "------------------------sim0123456789";
    std::string body;
    if (!purpose.empty()) {
      body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" +
              purpose + "\r\n";
    }
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            filename + "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + "\r\n";
    body += "--" + boundary + "--\r\n";
    return api(sim, bh::verb::post, "/files", body, "multipart/form-data; boundary=" + boundary);
  }

  // Polls a batch until it reaches `status` (or a second has passed).
  json await_batch(OpenAiSimulatorThread& sim, const std::string& id, const std::string& status) {
    json batch;
    for (int i = 0; i < 100; ++i) {
      batch = api(sim, bh::verb::get, "/batches/" + id).body;
      if (batch.value("status", "") == status) break;
      std::this_thread::sleep_for(20ms);
    }
    return batch;
  }

  std::vector<json> jsonl(const std::string& text) {
    std::vector<json> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(json::parse(line));
    }
    return lines;
  }
};

json chat_request(const std::string& text, std::optional<int> max_tokens = std::nullopt) {
  json request = {{"model", "gpt-4o-mini"},
                  {"messages",
                   {{{"role", "system"}, {"content", "You are a coach."}},
                    {{"role", "user"}, {"content", text}}}}};
  if (max_tokens) request["max_completion_tokens"] = *max_tokens;
  return request;
}

std::string batch_line(const std::string& custom_id, const std::string& text) {
  return json{{"custom_id", custom_id},
              {"method", "POST"},
              {"url", "/v1/chat/completions"},
              {"body", chat_request(text, 50)}}
      .dump();
}

}  // namespace

TEST_F(OpenAiSimulatorTest, AnswersAChatCompletionWithUsageAndHeaders) {
  OpenAiSimulatorThread sim({.requests_per_minute = 100, .tokens_per_minute = 100'000});
  json request = chat_request("hello", 100);
  request["user"] = "U1";
  // "You are a coach." is 16 bytes: 4 + 4; "hello" 5 bytes: 2 + 4; plus 3.
  EXPECT_EQ(tracker::loadtest::estimate_prompt_tokens(request), 17U);
  EXPECT_EQ(tracker::loadtest::estimate_request_tokens(request), 117U);
  EXPECT_EQ(tracker::loadtest::estimate_request_tokens(chat_request("hello")), 1'017U);

  const SimReply reply = chat(sim, request);
  ASSERT_EQ(reply.status, 200U) << reply.text;
  EXPECT_EQ(reply.body["object"], "chat.completion");
  EXPECT_TRUE(reply.body["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(reply.body["model"], "gpt-4o-mini");
  const json& choice = reply.body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], "Simulated feedback: hello ...");
  EXPECT_TRUE(choice["message"]["refusal"].is_null());
  EXPECT_EQ(reply.body["usage"]["prompt_tokens"], 17);
  EXPECT_EQ(reply.body["usage"]["completion_tokens"], 100);  // capped by the request
  EXPECT_EQ(reply.body["usage"]["total_tokens"], 117);

  EXPECT_EQ(reply.header("x-ratelimit-limit-requests"), "100");
  EXPECT_EQ(reply.header("x-ratelimit-remaining-requests"), "99");
  EXPECT_EQ(reply.header("x-ratelimit-reset-requests"), "600ms");  // one request at 100/min
  EXPECT_EQ(reply.header("x-ratelimit-limit-tokens"), "100000");
  EXPECT_NEAR(std::stod(reply.header("x-ratelimit-remaining-tokens")), 100'000 - 117, 5);
  EXPECT_TRUE(reply.header("x-ratelimit-reset-tokens").ends_with("ms"));
  EXPECT_FALSE(reply.header("x-request-id").empty());
  EXPECT_TRUE(reply.has("openai-processing-ms"));

  const auto stats = sim.simulator().stats();
  EXPECT_EQ(stats.completions, 1U);
  EXPECT_EQ(stats.completed, 1U);
  EXPECT_EQ(stats.prompt_tokens, 17U);
  EXPECT_EQ(stats.completion_tokens, 100U);
  EXPECT_EQ(stats.by_user.at("U1"), 1U);
  EXPECT_EQ(stats.by_status.at(200), 1U);

  // Without limits there are no x-ratelimit headers; without a cap the option's 150 tokens.
  OpenAiSimulatorThread unlimited;
  const SimReply plain = chat(unlimited, chat_request("hi"));
  ASSERT_EQ(plain.status, 200U);
  EXPECT_FALSE(plain.has("x-ratelimit-limit-requests"));
  EXPECT_EQ(plain.body["usage"]["completion_tokens"], 150);
  EXPECT_EQ(unlimited.simulator().stats().by_user.at(""), 1U);
}

TEST_F(OpenAiSimulatorTest, RefusesAWrongOrMissingKeyWith401) {
  OpenAiSimulatorThread sim;
  for (const std::string& key : std::vector<std::string>{"sk-wrong", ""}) {
    const SimReply reply = chat(sim, chat_request("x"), key);
    ASSERT_EQ(reply.status, 401U) << key;
    EXPECT_EQ(reply.body["error"]["code"], "invalid_api_key");
    EXPECT_EQ(reply.body["error"]["type"], "invalid_request_error");
    EXPECT_TRUE(reply.body["error"]["param"].is_null());
    EXPECT_EQ(reply.text.find("sk-wrong"), std::string::npos);  // the key is not echoed
  }
  EXPECT_EQ(sim.simulator().stats().auth_failures, 2U);
  EXPECT_EQ(sim.simulator().stats().completed, 0U);

  OpenAiSimulatorThread open({.api_key = ""});
  EXPECT_EQ(chat(open, chat_request("x"), "").status, 200U);
}

TEST_F(OpenAiSimulatorTest, RefusesAMalformedRequestNamingTheField) {
  OpenAiSimulatorThread sim;
  json no_model = chat_request("x");
  no_model.erase("model");
  json no_messages = chat_request("x");
  no_messages["messages"] = json::array();
  json bad_role = chat_request("x");
  bad_role["messages"][0]["role"] = "robot";
  json bad_content = chat_request("x");
  bad_content["messages"][1]["content"] = 5;
  json bad_cap = chat_request("x", 0);
  const std::vector<std::pair<json, std::string>> cases = {{no_model, "model"},
                                                           {no_messages, "messages"},
                                                           {bad_role, "messages[0].role"},
                                                           {bad_content, "messages[1].content"},
                                                           {bad_cap, "max_completion_tokens"}};
  for (const auto& [request, param] : cases) {
    const SimReply reply = chat(sim, request);
    ASSERT_EQ(reply.status, 400U) << param;
    EXPECT_EQ(reply.body["error"]["type"], "invalid_request_error");
    EXPECT_EQ(reply.body["error"]["param"], param);
    EXPECT_TRUE(reply.body["error"]["code"].is_null());
    EXPECT_FALSE(reply.body["error"]["message"].get<std::string>().empty());
  }
  const SimReply not_json =
      api(sim, bh::verb::post, "/chat/completions", "{not json", "application/json");
  EXPECT_EQ(not_json.status, 400U);
  EXPECT_TRUE(not_json.body["error"]["param"].is_null());
  EXPECT_EQ(sim.simulator().stats().bad_requests, 6U);

  const SimReply unknown = api(sim, bh::verb::get, "/models/gpt-5");
  EXPECT_EQ(unknown.status, 404U);
  EXPECT_EQ(unknown.body["error"]["type"], "invalid_request_error");
}

TEST_F(OpenAiSimulatorTest, LimitsRequestsPerMinuteWith429AndRetryAfter) {
  OpenAiSimulatorThread sim({.requests_per_minute = 2});
  EXPECT_EQ(chat(sim, chat_request("1")).status, 200U);
  const SimReply second = chat(sim, chat_request("2"));
  EXPECT_EQ(second.status, 200U);
  EXPECT_EQ(second.header("x-ratelimit-remaining-requests"), "0");
  const SimReply third = chat(sim, chat_request("3"));
  ASSERT_EQ(third.status, 429U) << third.text;
  EXPECT_EQ(third.body["error"]["type"], "requests");
  EXPECT_EQ(third.body["error"]["code"], "rate_limit_exceeded");
  const std::string message = third.body["error"]["message"];
  EXPECT_NE(message.find("Rate limit reached for gpt-4o-mini in organization org-sim on requests "
                         "per min (RPM): Limit 2, Used 2, Requested 1. Please try again in"),
            std::string::npos)
      << message;
  // One request back every 30 s.
  const double retry_ms = std::stod(third.header("retry-after-ms"));
  EXPECT_GT(retry_ms, 29'000);
  EXPECT_LE(retry_ms, 30'001);
  EXPECT_EQ(third.header("retry-after"), "30");
  EXPECT_EQ(third.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(third.header("x-ratelimit-limit-requests"), "2");
  EXPECT_FALSE(third.has("x-ratelimit-limit-tokens"));
  EXPECT_EQ(sim.simulator().stats().limit_429_requests, 1U);
  EXPECT_EQ(sim.simulator().stats().completed, 2U);
}

TEST_F(OpenAiSimulatorTest, LimitsTokensPerMinuteChargingTheEstimate) {
  OpenAiSimulatorThread sim({.tokens_per_minute = 3'000});
  const json request = chat_request("hello", 1'000);  // 1,017 tokens at admission
  EXPECT_EQ(chat(sim, request).status, 200U);
  const SimReply second = chat(sim, request);
  EXPECT_EQ(second.status, 200U);
  EXPECT_LT(std::stod(second.header("x-ratelimit-remaining-tokens")), 1'017);
  const SimReply third = chat(sim, request);
  ASSERT_EQ(third.status, 429U) << third.text;
  EXPECT_EQ(third.body["error"]["type"], "tokens");
  EXPECT_EQ(third.body["error"]["code"], "rate_limit_exceeded");
  EXPECT_NE(
      third.body["error"]["message"].get<std::string>().find("on tokens per min (TPM): Limit 3000"),
      std::string::npos);
  EXPECT_GT(std::stod(third.header("retry-after-ms")), 0);
  EXPECT_TRUE(third.has("retry-after"));
  EXPECT_EQ(third.header("x-ratelimit-limit-tokens"), "3000");

  // More than the whole limit can never be admitted.
  const SimReply too_large = chat(sim, chat_request("hello", 5'000));
  EXPECT_EQ(too_large.status, 429U);
  EXPECT_EQ(too_large.body["error"]["type"], "tokens");
  EXPECT_FALSE(too_large.has("retry-after"));
  EXPECT_EQ(sim.simulator().stats().limit_429_tokens, 2U);
}

TEST_F(OpenAiSimulatorTest, QuotaExhaustedAnswersInsufficientQuota) {
  OpenAiSimulatorThread sim({.quota_exhausted = true});
  const SimReply reply = chat(sim, chat_request("x"));
  ASSERT_EQ(reply.status, 429U);
  EXPECT_EQ(reply.body["error"]["type"], "insufficient_quota");
  EXPECT_EQ(reply.body["error"]["code"], "insufficient_quota");
  EXPECT_FALSE(reply.has("retry-after"));
  EXPECT_EQ(sim.simulator().stats().injected_quota, 1U);
}

TEST_F(OpenAiSimulatorTest, InjectsFaultsConfiguredAtRunTime) {
  OpenAiSimulatorThread sim;
  sim.simulator().configure({{"inject_500_rate", 1.0}});
  const SimReply failed = chat(sim, chat_request("x"));
  ASSERT_EQ(failed.status, 500U);
  EXPECT_EQ(failed.body["error"]["type"], "server_error");
  EXPECT_EQ(failed.body["error"]["message"],
            "The server had an error while processing your request. Sorry about that!");
  sim.simulator().configure({{"inject_500_rate", 0}, {"inject_503_rate", 1}});
  EXPECT_EQ(chat(sim, chat_request("x")).status, 503U);
  sim.simulator().configure({{"inject_503_rate", 0}, {"inject_429_rate", 1}});
  const SimReply limited = chat(sim, chat_request("x"));
  EXPECT_EQ(limited.status, 429U);
  EXPECT_EQ(limited.body["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(limited.header("retry-after-ms"), "200");
  EXPECT_EQ(limited.header("retry-after"), "1");
  sim.simulator().configure({{"inject_429_rate", 0}});
  EXPECT_EQ(chat(sim, chat_request("x")).status, 200U);
  const auto stats = sim.simulator().stats();
  EXPECT_EQ(stats.injected_500, 1U);
  EXPECT_EQ(stats.injected_503, 1U);
  EXPECT_EQ(stats.injected_429, 1U);
  EXPECT_EQ(stats.completed, 1U);
}

TEST_F(OpenAiSimulatorTest, AnInjectedTimeoutHoldsTheAnswerThenCloses) {
  OpenAiSimulatorThread sim({.inject_timeout_rate = 1, .timeout_hold = 100ms});
  const auto started = std::chrono::steady_clock::now();
  const SimReply reply = chat(sim, chat_request("x"));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
  EXPECT_EQ(reply.status, 504U);
  EXPECT_FALSE(reply.raw.keep_alive());
  EXPECT_EQ(sim.simulator().stats().injected_timeouts, 1U);
}

TEST_F(OpenAiSimulatorTest, FormatsResetDurationsAsOpenAiDoes) {
  using tracker::loadtest::format_reset_duration;
  EXPECT_EQ(format_reset_duration(0ms), "0s");
  EXPECT_EQ(format_reset_duration(12ms), "12ms");
  EXPECT_EQ(format_reset_duration(1500us), "2ms");  // rounded up
  EXPECT_EQ(format_reset_duration(1s), "1s");
  EXPECT_EQ(format_reset_duration(1500ms), "1.5s");
  EXPECT_EQ(format_reset_duration(59'577ms), "59.577s");
  EXPECT_EQ(format_reset_duration(6min), "6m0s");
  EXPECT_EQ(format_reset_duration(6min + 30s), "6m30s");
  EXPECT_EQ(format_reset_duration(1h), "1h0m0s");
}

TEST_F(OpenAiSimulatorTest, UploadsAFileAndServesItsContent) {
  OpenAiSimulatorThread sim;
  const std::string content = "{\"a\":1}\r\n{\"b\":\"--not a boundary\"}\n\x01\x02";
  const SimReply uploaded = upload(sim, content, "batch", "requests.jsonl");
  ASSERT_EQ(uploaded.status, 200U) << uploaded.text;
  const std::string id = uploaded.body["id"];
  EXPECT_TRUE(id.starts_with("file-"));
  EXPECT_EQ(uploaded.body["object"], "file");
  EXPECT_EQ(uploaded.body["bytes"], content.size());
  EXPECT_EQ(uploaded.body["filename"], "requests.jsonl");
  EXPECT_EQ(uploaded.body["purpose"], "batch");

  const SimReply object = api(sim, bh::verb::get, "/files/" + id);
  EXPECT_EQ(object.status, 200U);
  EXPECT_EQ(object.body["id"], id);
  const SimReply bytes = api(sim, bh::verb::get, "/files/" + id + "/content");
  EXPECT_EQ(bytes.status, 200U);
  EXPECT_EQ(bytes.text, content);

  const SimReply missing = api(sim, bh::verb::get, "/files/file-x/content");
  EXPECT_EQ(missing.status, 404U);
  EXPECT_EQ(missing.body["error"]["message"], "No such File object: file-x");
  EXPECT_EQ(missing.body["error"]["param"], "id");

  const SimReply no_purpose = upload(sim, content, "");
  EXPECT_EQ(no_purpose.status, 400U);
  EXPECT_EQ(no_purpose.body["error"]["param"], "purpose");
  const SimReply not_multipart = api(sim, bh::verb::post, "/files", "{}", "application/json");
  EXPECT_EQ(not_multipart.status, 400U);
  const SimReply unterminated =
      api(sim, bh::verb::post, "/files",
          "--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch",
          "multipart/form-data; boundary=b");
  EXPECT_EQ(unterminated.status, 400U);
  EXPECT_NE(unterminated.body["error"]["message"].get<std::string>().find("multipart"),
            std::string::npos);
  EXPECT_EQ(sim.simulator().stats().files_uploaded, 1U);
}

TEST_F(OpenAiSimulatorTest, RunsABatchToCompletion) {
  OpenAiSimulatorThread sim({.batch_duration = 100ms});
  const std::string input = batch_line("r1", "first") + "\n" + batch_line("r2", "second") + "\n" +
                            batch_line("r3", "third") + "\n";
  const std::string file_id = upload(sim, input).body["id"];
  const json create = {{"input_file_id", file_id},
                       {"endpoint", "/v1/chat/completions"},
                       {"completion_window", "24h"},
                       {"metadata", {{"day", "2026-01-05"}}}};
  const SimReply created = api(sim, bh::verb::post, "/batches", create.dump());
  ASSERT_EQ(created.status, 200U) << created.text;
  EXPECT_EQ(created.body["object"], "batch");
  EXPECT_EQ(created.body["status"], "validating");
  EXPECT_TRUE(created.body["output_file_id"].is_null());
  EXPECT_EQ(created.body["metadata"]["day"], "2026-01-05");
  const std::string id = created.body["id"];
  EXPECT_TRUE(id.starts_with("batch_"));

  const json done = await_batch(sim, id, "completed");
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"], json({{"total", 3}, {"completed", 3}, {"failed", 0}}));
  EXPECT_TRUE(done["error_file_id"].is_null());
  EXPECT_FALSE(done["completed_at"].is_null());
  const SimReply output =
      api(sim, bh::verb::get, "/files/" + done["output_file_id"].get<std::string>() + "/content");
  ASSERT_EQ(output.status, 200U);
  const auto lines = jsonl(output.text);
  ASSERT_EQ(lines.size(), 3U);
  const std::map<std::string, std::string> texts = {
      {"r1", "first"}, {"r2", "second"}, {"r3", "third"}};
  for (const auto& line : lines) {
    EXPECT_TRUE(line["id"].get<std::string>().starts_with("batch_req_"));
    EXPECT_TRUE(line["error"].is_null());
    EXPECT_EQ(line["response"]["status_code"], 200);
    const json& body = line["response"]["body"];
    EXPECT_EQ(body["object"], "chat.completion");
    EXPECT_EQ(body["choices"][0]["message"]["content"],
              "Simulated feedback: " + texts.at(line["custom_id"]) + " ...");
    EXPECT_EQ(body["usage"]["completion_tokens"], 50);
  }
  // Batch requests are not charged to the chat limits.
  EXPECT_EQ(sim.simulator().stats().completed, 0U);
  EXPECT_EQ(sim.simulator().stats().batch_lines, 3U);
}

TEST_F(OpenAiSimulatorTest, ABatchFailRateOfOneSendsEveryLineToTheErrorFile) {
  OpenAiSimulatorThread sim({.batch_duration = 100ms, .batch_fail_rate = 1});
  const std::string input =
      batch_line("a", "x") + "\n" + batch_line("b", "y") + "\n" + batch_line("c", "z");
  const std::string file_id = upload(sim, input).body["id"];
  const std::string id = api(sim, bh::verb::post, "/batches",
                             json{{"input_file_id", file_id},
                                  {"endpoint", "/v1/chat/completions"},
                                  {"completion_window", "24h"}}
                                 .dump())
                             .body["id"];
  const json done = await_batch(sim, id, "completed");
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"], json({{"total", 3}, {"completed", 0}, {"failed", 3}}));
  ASSERT_TRUE(done["error_file_id"].is_string());
  const auto errors = jsonl(
      api(sim, bh::verb::get, "/files/" + done["error_file_id"].get<std::string>() + "/content")
          .text);
  ASSERT_EQ(errors.size(), 3U);
  std::set<std::string> ids;
  for (const auto& line : errors) {
    ids.insert(line["custom_id"].get<std::string>());
    EXPECT_EQ(line["response"]["status_code"], 500);
    EXPECT_EQ(line["response"]["body"]["error"]["type"], "server_error");
  }
  EXPECT_EQ(ids, (std::set<std::string>{"a", "b", "c"}));
  const auto output =
      api(sim, bh::verb::get, "/files/" + done["output_file_id"].get<std::string>() + "/content");
  EXPECT_EQ(output.text, "");
}

TEST_F(OpenAiSimulatorTest, AMalformedBatchInputFailsTheBatch) {
  OpenAiSimulatorThread sim({.batch_duration = 100ms});
  const std::string input = batch_line("ok", "x") + "\nnot json\n" +
                            R"({"method":"POST","url":"/v1/chat/completions","body":{}})" + "\n";
  const std::string file_id = upload(sim, input).body["id"];
  const SimReply created = api(sim, bh::verb::post, "/batches",
                               json{{"input_file_id", file_id},
                                    {"endpoint", "/v1/chat/completions"},
                                    {"completion_window", "24h"}}
                                   .dump());
  ASSERT_EQ(created.status, 200U);
  const json failed = await_batch(sim, created.body["id"], "failed");
  ASSERT_EQ(failed["status"], "failed") << failed.dump();
  EXPECT_FALSE(failed["failed_at"].is_null());
  const json& data = failed["errors"]["data"];
  ASSERT_EQ(data.size(), 2U);
  EXPECT_EQ(data[0]["code"], "invalid_json_line");
  EXPECT_EQ(data[0]["line"], 2);
  EXPECT_EQ(data[1]["code"], "missing_required_parameter");
  EXPECT_EQ(data[1]["line"], 3);

  // The request itself: unknown file, wrong endpoint.
  const SimReply unknown = api(sim, bh::verb::post, "/batches",
                               json{{"input_file_id", "file-nope"},
                                    {"endpoint", "/v1/chat/completions"},
                                    {"completion_window", "24h"}}
                                   .dump());
  EXPECT_EQ(unknown.status, 404U);
  const SimReply endpoint = api(
      sim, bh::verb::post, "/batches",
      json{{"input_file_id", file_id}, {"endpoint", "/v1/embeddings"}, {"completion_window", "24h"}}
          .dump());
  EXPECT_EQ(endpoint.status, 400U);
  EXPECT_EQ(endpoint.body["error"]["param"], "endpoint");
}

TEST_F(OpenAiSimulatorTest, ABatchCanBeCancelled) {
  OpenAiSimulatorThread sim({.batch_duration = 10s});
  const std::string file_id = upload(sim, batch_line("a", "x")).body["id"];
  const std::string id = api(sim, bh::verb::post, "/batches",
                             json{{"input_file_id", file_id},
                                  {"endpoint", "/v1/chat/completions"},
                                  {"completion_window", "24h"}}
                                 .dump())
                             .body["id"];
  const SimReply cancelled = api(sim, bh::verb::post, "/batches/" + id + "/cancel");
  EXPECT_EQ(cancelled.status, 200U);
  EXPECT_EQ(cancelled.body["status"], "cancelled");
  EXPECT_EQ(api(sim, bh::verb::get, "/batches/" + id).body["status"], "cancelled");
}

TEST_F(OpenAiSimulatorTest, ConfigRejectsAnUnknownKeyAndChangesNothing) {
  OpenAiSimulatorThread sim;
  EXPECT_THROW(sim.simulator().configure({{"inject_500_rate", 1.0}, {"inject_5xx_rate", 1.0}}),
               std::invalid_argument);
  EXPECT_EQ(sim.simulator().config()["inject_500_rate"], 0.0);
  EXPECT_THROW(sim.simulator().configure({{"inject_500_rate", 2}}), std::invalid_argument);

  const SimReply refused = control(sim, bh::verb::post, "/_sim/config", R"({"bogus": 1})");
  EXPECT_EQ(refused.status, 400U);
  EXPECT_NE(refused.text.find("bogus"), std::string::npos);
  const SimReply changed = control(sim, bh::verb::post, "/_sim/config",
                                   R"({"requests_per_minute": 60, "timeout_hold_ms": 5})");
  EXPECT_EQ(changed.status, 200U);
  EXPECT_EQ(changed.body["requests_per_minute"], 60.0);
  EXPECT_EQ(changed.body["timeout_hold_ms"], 5);
  EXPECT_EQ(chat(sim, chat_request("x")).header("x-ratelimit-limit-requests"), "60");

  const SimReply stats = control(sim, bh::verb::get, "/_sim/stats");
  EXPECT_EQ(stats.body["completed"], 1);
  EXPECT_EQ(control(sim, bh::verb::post, "/_sim/reset").status, 200U);
  EXPECT_EQ(sim.simulator().stats().completed, 0U);
  EXPECT_EQ(sim.simulator().config()["requests_per_minute"], 60.0);  // reset keeps the config
}

TEST_F(OpenAiSimulatorTest, SumsUpAStudyTrackerPrompt) {
  OpenAiSimulatorThread sim;
  const json data{{"day", "2026-12-01"},
                  {"streak_days", 3},
                  {"logs", json::array({{{"time", "09:10"},
                                         {"text", "카프카 컨슈머 그룹 2시간 #kafka"},
                                         {"minutes", 120},
                                         {"topics", {"kafka"}}},
                                        {{"time", "14:00"},
                                         {"text", "read about sql joins"},
                                         {"minutes", 45},
                                         {"topics", {"sql", "kafka"}}}})}};
  const SimReply reply = chat(sim, chat_request(data.dump()));
  ASSERT_EQ(reply.status, 200U) << reply.text;
  EXPECT_EQ(reply.body["choices"][0]["message"]["content"],
            "Simulated feedback: 2 logs, 2h 45m in all (#kafka, #sql). First: \"카프카 컨슈머 "
            "그룹 2시간 #kafka\". Streak: 3 days. Keep it up!");
}

TEST_F(OpenAiSimulatorTest, TruncatesTheFeedbackOnCharacterBoundaries) {
  OpenAiSimulatorThread sim;
  std::string korean;
  for (int i = 0; i < 100; ++i) korean += "공부";  // 200 characters, 3 bytes each
  const SimReply reply = chat(sim, chat_request(korean));
  ASSERT_EQ(reply.status, 200U) << reply.text;  // parsed, so valid UTF-8
  std::string expected = "Simulated feedback: ";
  for (int i = 0; i < 40; ++i) expected += "공부";
  EXPECT_EQ(reply.body["choices"][0]["message"]["content"], expected + " ...");
  // The prompt estimate counts bytes: 600 / 4 + 4 for the Korean message.
  EXPECT_EQ(reply.body["usage"]["prompt_tokens"], 8 + 154 + 3);
}
