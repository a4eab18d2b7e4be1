#include <gtest/gtest.h>

#include <atomic>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/metrics/process_collector.hpp>

#include "run.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tracker::metrics::OpsEndpoint;

namespace {

http::request<http::string_body> get(const std::string& target) {
  http::request<http::string_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "localhost");
  return request;
}

struct Fixture : ::testing::Test {
  asio::io_context io;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  OpsEndpoint endpoint{io.get_executor(),
                       registry,
                       {.address = "127.0.0.1", .port = 0},
                       tracker::log::null_logger()};
};

}  // namespace

TEST_F(Fixture, MetricsServesRegisteredFamiliesInTextFormat) {
  auto& family = prometheus::BuildCounter()
                     .Name("tracker_test_events_total")
                     .Help("Test.")
                     .Register(*registry);
  family.Add({{"result", "ok"}}).Increment(3);
  auto response = endpoint.respond(get("/metrics"));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_NE(response[http::field::content_type].find("text/plain; version=0.0.4"),
            std::string::npos);
  EXPECT_NE(response.body().find("tracker_test_events_total{result=\"ok\"} 3"), std::string::npos);
  EXPECT_NE(response.body().find("process_resident_memory_bytes "), std::string::npos);
}

TEST_F(Fixture, ProcessCollectorReportsNonZeroMemory) {
  tracker::metrics::ProcessCollector collector;
  bool found = false;
  for (const auto& family : collector.Collect()) {
    if (family.name == "process_resident_memory_bytes") {
      found = true;
      EXPECT_GT(family.metric.at(0).gauge.value, 1024.0 * 1024.0);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(Fixture, HealthzIsAlwaysOk) {
  EXPECT_EQ(endpoint.respond(get("/healthz")).result(), http::status::ok);
}

TEST_F(Fixture, ReadyzFailsWhileAnyCheckFailsAndNamesIt) {
  std::atomic<bool> kafka_up{false};
  endpoint.add_readiness_check("kafka", [&] { return kafka_up.load(); });
  endpoint.add_readiness_check("postgresql", [] { return true; });
  auto not_ready = endpoint.respond(get("/readyz"));
  EXPECT_EQ(not_ready.result(), http::status::service_unavailable);
  EXPECT_NE(not_ready.body().find(R"("kafka":"failing")"), std::string::npos);
  EXPECT_NE(not_ready.body().find(R"("postgresql":"ok")"), std::string::npos);
  // The same checks are a gauge on /metrics, for alerts that name the failing one.
  const std::string metrics = endpoint.respond(get("/metrics")).body();
  EXPECT_NE(metrics.find("tracker_readiness_check{check=\"kafka\"} 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tracker_readiness_check{check=\"postgresql\"} 1"), std::string::npos);
  kafka_up = true;
  EXPECT_EQ(endpoint.respond(get("/readyz")).result(), http::status::ok);
  EXPECT_NE(
      endpoint.respond(get("/metrics")).body().find("tracker_readiness_check{check=\"kafka\"} 1"),
      std::string::npos);
}

TEST_F(Fixture, UnknownPathIs404AndOtherMethodsAre405) {
  auto missing = endpoint.respond(get("/nope"));
  EXPECT_EQ(missing.result(), http::status::not_found);
  EXPECT_EQ(missing[http::field::content_type], "application/json");
  auto post = get("/metrics");
  post.method(http::verb::post);
  auto refused = endpoint.respond(post);
  EXPECT_EQ(refused.result(), http::status::method_not_allowed);
  EXPECT_EQ(refused[http::field::allow], "GET, HEAD");
}

TEST_F(Fixture, ServesOverLoopbackWithKeepAlive) {
  endpoint.start();
  ASSERT_NE(endpoint.port(), 0);
  auto statuses = tracker::testing::run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    co_await stream.async_connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), endpoint.port()),
        asio::use_awaitable);
    std::vector<unsigned> out;
    beast::flat_buffer buffer;
    for (const char* target :
         {"/healthz", "/metrics", "/readyz"}) {  // one connection, three requests
      auto request = get(target);
      co_await http::async_write(stream, request, asio::use_awaitable);
      http::response<http::string_body> response;
      co_await http::async_read(stream, buffer, response, asio::use_awaitable);
      out.push_back(response.result_int());
    }
    endpoint.stop();
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 200}));
}

TEST(OpsEndpointOptions, ListensOnLoopbackUnlessTold) {
  EXPECT_EQ(tracker::metrics::OpsEndpointOptions{}.address, "127.0.0.1");
}

// Idle or trickling connections, as many as the cap and more, must not keep a probe out: in
// Kubernetes a probe that cannot connect restarts the pod.
TEST_F(Fixture, ProbesAreAnsweredWhileIdleAndTricklingConnectionsHoldEverySlot) {
  endpoint.start();
  const asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), endpoint.port());
  auto statuses = tracker::testing::run(io, [&]() -> asio::awaitable<std::vector<unsigned>> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<asio::ip::tcp::socket> held;
    for (int i = 0; i < 80; ++i) {  // the cap is 64
      asio::ip::tcp::socket socket(executor);
      co_await socket.async_connect(at, asio::use_awaitable);
      if (i % 4 == 0) {  // a quarter start a request and never finish it
        co_await asio::async_write(socket, asio::buffer(std::string("GET /metrics HTTP/1.1\r\n")),
                                   asio::use_awaitable);
      }
      held.push_back(std::move(socket));
    }
    std::vector<unsigned> out;
    for (const char* target : {"/healthz", "/readyz", "/metrics", "/healthz"}) {
      beast::tcp_stream stream(executor);
      stream.expires_after(std::chrono::seconds(2));
      co_await stream.async_connect(at, asio::use_awaitable);
      auto request = get(target);
      co_await http::async_write(stream, request, asio::use_awaitable);
      beast::flat_buffer buffer;
      http::response<http::string_body> response;
      auto read =
          co_await http::async_read(stream, buffer, response, asio::as_tuple(asio::use_awaitable));
      out.push_back(std::get<0>(read) ? 0U : response.result_int());
    }
    endpoint.stop();
    co_return out;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 200, 200}));
  // The probe port's own metrics are in the service's registry, evictions among them.
  const std::string text = endpoint.respond(get("/metrics")).body();
  const auto found = text.find("\ntracker_ops_http_connections_evicted_total ");
  ASSERT_NE(found, std::string::npos) << text;
  EXPECT_GE(std::stod(text.substr(found + 44)), 16.0) << "at least 16 connections made way";
}

TEST(OpsEndpointTimeouts, IdleConnectionIsClosedAtTheIdleTimeout) {
  asio::io_context io;
  auto registry = std::make_shared<prometheus::Registry>();
  OpsEndpoint endpoint(io.get_executor(), registry,
                       {.port = 0,
                        .idle_timeout = std::chrono::milliseconds(200),
                        .request_timeout = std::chrono::milliseconds(200)},
                       tracker::log::null_logger());
  endpoint.start();
  const auto waited =
      tracker::testing::run(io, [&]() -> asio::awaitable<std::chrono::milliseconds> {
        asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
        co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), endpoint.port()},
                                      asio::use_awaitable);
        const auto started = std::chrono::steady_clock::now();
        char byte = 0;
        co_await socket.async_read_some(asio::buffer(&byte, 1),
                                        asio::as_tuple(asio::use_awaitable));
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        endpoint.stop();
        co_return took;
      }());
  EXPECT_GE(waited.count(), 150);
  EXPECT_LT(waited.count(), 2000);
}

TEST_F(Fixture, HeadIsAnsweredWithoutABody) {
  endpoint.start();
  auto result =
      tracker::testing::run(io, [&]() -> asio::awaitable<std::pair<unsigned, std::string>> {
        beast::tcp_stream stream(co_await asio::this_coro::executor);
        co_await stream.async_connect(
            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), endpoint.port()),
            asio::use_awaitable);
        auto head = get("/healthz");
        head.method(http::verb::head);
        co_await http::async_write(stream, head, asio::use_awaitable);
        auto next = get("/nope");
        next.method(http::verb::head);
        co_await http::async_write(stream, next, asio::use_awaitable);
        auto last = get("/healthz");
        co_await http::async_write(stream, last, asio::use_awaitable);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> first;
        first.skip(true);
        co_await http::async_read(stream, buffer, first, asio::use_awaitable);
        http::response_parser<http::string_body> second;
        second.skip(true);
        co_await http::async_read(stream, buffer, second, asio::use_awaitable);
        http::response<http::string_body> third;
        co_await http::async_read(stream, buffer, third, asio::use_awaitable);
        endpoint.stop();
        co_return std::make_pair(first.get().result_int() * 1000 + second.get().result_int(),
                                 third.body());
      }());
  EXPECT_EQ(result.first, 200U * 1000 + 404U);
  EXPECT_EQ(result.second, "{\"status\":\"ok\"}\n") << "the responses to HEAD carried no body";
}

TEST_F(Fixture, AServicesOwnRouteIsServedBesideTheProbesAndCountedUnderItsPrefix) {
  tracker::metrics::OpsEndpoint api{
      io.get_executor(),
      registry,
      {.address = "127.0.0.1", .port = 0, .metric_prefix = "api_http"},
      tracker::log::null_logger()};
  int calls = 0;
  api.add_route(
      "/trigger",
      [&calls](http::request<http::string_body>& request)
          -> asio::awaitable<http::response<http::string_body>> {
        ++calls;
        http::response<http::string_body> response{http::status::accepted, request.version()};
        response.body() = std::string(request.method_string());
        response.prepare_payload();
        co_return response;
      });
  api.start();
  auto answers = tracker::testing::run(
      io, [&]() -> asio::awaitable<std::vector<std::pair<unsigned, std::string>>> {
        beast::tcp_stream stream(co_await asio::this_coro::executor);
        co_await stream.async_connect(
            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), api.port()),
            asio::use_awaitable);
        std::vector<std::pair<unsigned, std::string>> out;
        beast::flat_buffer buffer;
        for (const char* target : {"/trigger?force=true", "/triggers", "/healthz"}) {
          auto request = get(target);
          request.method(http::verb::post);
          if (std::string_view(target) == "/healthz") request.method(http::verb::get);
          co_await http::async_write(stream, request, asio::use_awaitable);
          http::response<http::string_body> response;
          co_await http::async_read(stream, buffer, response, asio::use_awaitable);
          out.emplace_back(response.result_int(), response.body());
        }
        api.stop();
        co_return out;
      }());
  ASSERT_EQ(answers.size(), 3U);
  EXPECT_EQ(answers[0], (std::pair<unsigned, std::string>{202, "POST"}))
      << "the query string is not part of the route's path";
  EXPECT_EQ(answers[1].first, 404U) << "routes match exactly";
  EXPECT_EQ(answers[2].first, 200U);
  EXPECT_EQ(calls, 1);
  const std::string metrics = endpoint.respond(get("/metrics")).body();
  EXPECT_NE(metrics.find("api_http_requests_total{"), std::string::npos);
  EXPECT_NE(metrics.find("route=\"/trigger\""), std::string::npos);
}
