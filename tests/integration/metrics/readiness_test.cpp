// /readyz wired to the real clients the way services wire it: the producer's view of the broker
// and the pool's last connection attempt.
#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include <tracker/kafka/producer.hpp>
#include <tracker/metrics/ops_endpoint.hpp>
#include <tracker/pg/pool.hpp>

#include "kafka_topic.hpp"
#include "pg_schema.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using tracker::testing::run;

namespace {

http::status readyz(const tracker::metrics::OpsEndpoint& endpoint) {
  http::request<http::string_body> request{http::verb::get, "/readyz", 11};
  return endpoint.respond(request).result();
}

}  // namespace

TEST(Readiness, ReadyOnlyOnceTheBrokerAndTheDatabaseHaveAnswered) {
  tracker::testing::ScratchTopic topic(1);
  asio::io_context io;
  tracker::kafka::Producer producer(
      {.brokers = tracker::testing::kafka_brokers(), .statistics_interval = 100ms},
      tracker::log::null_logger());
  tracker::pg::Pool pool(io.get_executor(),
                         {.connect = {.conninfo = tracker::testing::test_database_url()}},
                         tracker::log::null_logger());
  tracker::pg::Pool unreachable(
      io.get_executor(),
      {.connect = {.conninfo = "postgresql://x:y@127.0.0.1:1/db", .connect_timeout = 1s}},
      tracker::log::null_logger());
  tracker::metrics::OpsEndpoint endpoint(
      io.get_executor(), std::make_shared<prometheus::Registry>(),
      {.address = "127.0.0.1", .port = 0}, tracker::log::null_logger());
  endpoint.add_readiness_check("kafka", [&] { return producer.broker_up(); });
  endpoint.add_readiness_check("postgresql", [&] { return pool.reachable(); });

  tracker::kafka::OutgoingMessage message{.topic = topic.name(), .key = "k", .value = "v"};
  auto sent = run(io, producer.async_send(std::move(message), asio::as_tuple(asio::use_awaitable)));
  ASSERT_FALSE(std::get<0>(sent)) << std::get<0>(sent).message();
  auto lease = run(io, pool.acquire());
  ASSERT_TRUE(lease) << lease.error().describe();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!producer.broker_up() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(readyz(endpoint), http::status::ok);

  // A database that cannot be reached turns the answer to 503.
  EXPECT_FALSE(run(io, unreachable.acquire()));
  endpoint.add_readiness_check("second-database", [&] { return unreachable.reachable(); });
  EXPECT_EQ(readyz(endpoint), http::status::service_unavailable);
}
