#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <tracker/scheduler/trigger.hpp>

namespace tracker::scheduler {
namespace {

namespace asio = boost::asio;
namespace bh = boost::beast::http;

const config::Secret kToken("0123456789abcdef-token");

struct TriggerRoute : ::testing::Test {
  bool database_ready = true;
  int handled = 0;

  http::Response call(const config::Secret& token, bh::verb method,
                      std::string_view authorization) {
    auto route = trigger_route(
        token, [this] { return database_ready; },
        [this](const http::Request& request) -> asio::awaitable<http::Response> {
          ++handled;
          http::Response response{bh::status::accepted, request.version()};
          response.body() = "claimed";
          co_return response;
        });
    http::Request request{method, "/trigger?force=true", 11};
    if (!authorization.empty()) request.set(bh::field::authorization, authorization);
    asio::io_context io;
    auto answer = asio::co_spawn(io, route(request), asio::use_future);
    io.run();
    return answer.get();
  }
};

TEST_F(TriggerRoute, WithTheTokenTheSchedulerAnswers) {
  const auto response = call(kToken, bh::verb::post, "Bearer 0123456789abcdef-token");
  EXPECT_EQ(response.result(), bh::status::accepted);
  EXPECT_EQ(response.body(), "claimed");
  EXPECT_EQ(handled, 1);
}

TEST_F(TriggerRoute, OtherMethodsAre405WithAllow) {
  const auto response = call(kToken, bh::verb::get, "Bearer 0123456789abcdef-token");
  EXPECT_EQ(response.result(), bh::status::method_not_allowed);
  EXPECT_EQ(response[bh::field::allow], "POST");
  EXPECT_EQ(handled, 0);
}

TEST_F(TriggerRoute, WithoutAnAdminTokenTheRouteIsDisabled) {
  const auto response = call(config::Secret{}, bh::verb::post, "Bearer ");
  EXPECT_EQ(response.result(), bh::status::forbidden);
  EXPECT_NE(response.body().find("trigger_disabled"), std::string::npos);
  EXPECT_EQ(handled, 0);
}

TEST_F(TriggerRoute, AMissingOrWrongTokenIs401) {
  for (const std::string_view authorization :
       {std::string_view{}, std::string_view{"Bearer wrong"},
        std::string_view{"Bearer 0123456789abcdef-tokeN"},
        std::string_view{"Basic 0123456789abcdef-token"},
        std::string_view{"Bearer 0123456789abcdef-token-and-more"}}) {
    const auto response = call(kToken, bh::verb::post, authorization);
    EXPECT_EQ(response.result(), bh::status::unauthorized) << authorization;
    EXPECT_EQ(response[bh::field::www_authenticate], "Bearer");
    EXPECT_EQ(response.body().find("0123456789abcdef"), std::string::npos)
        << "the token is never echoed";
  }
  EXPECT_EQ(handled, 0);
}

TEST_F(TriggerRoute, BeforeTheDatabaseIsReadyItIs503) {
  database_ready = false;
  const auto response = call(kToken, bh::verb::post, "Bearer 0123456789abcdef-token");
  EXPECT_EQ(response.result(), bh::status::service_unavailable);
  EXPECT_NE(response.body().find("starting"), std::string::npos);
  EXPECT_EQ(handled, 0);
}

}  // namespace
}  // namespace tracker::scheduler
