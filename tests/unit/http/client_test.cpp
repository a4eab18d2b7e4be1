// tracker::http::Client over loopback: keep-alive reuse, the connection bound, deadlines, a
// server closing an idle connection, and TLS with peer and host-name verification.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <tracker/http/backoff.hpp>
#include <tracker/http/client.hpp>
#include <tracker/http/server.hpp>
#include <tracker/testkit/blocking_client.hpp>

#include "run.hpp"

namespace asio = boost::asio;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using tracker::http::Client;
using tracker::http::ClientError;
using tracker::http::Origin;
using tracker::testing::run;

TEST(Origin, ParsesBaseUrls) {
  const auto slack = Origin::parse("https://slack.com/api/");
  EXPECT_TRUE(slack.tls);
  EXPECT_EQ(slack.host, "slack.com");
  EXPECT_EQ(slack.port, 443);
  EXPECT_EQ(slack.base_path, "/api");
  EXPECT_EQ(slack.to_string(), "https://slack.com/api");

  const auto local = Origin::parse("http://127.0.0.1:8081");
  EXPECT_FALSE(local.tls);
  EXPECT_EQ(local.port, 8081);
  EXPECT_EQ(local.base_path, "");

  const auto v6 = Origin::parse("http://[::1]:9000/v1");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.to_string(), "http://[::1]:9000/v1");
}

TEST(Origin, RejectsWhatIsNotABaseUrl) {
  struct Case {
    const char* url;
    const char* mentions;
  };
  for (const Case c :
       {Case{"ftp://x", "scheme"}, Case{"slack.com/api", "scheme"}, Case{"https://", "host"},
        Case{"https://x:0", "port"}, Case{"https://x:70000", "port"}, Case{"https://x:ab", "port"},
        Case{"https://x/api?token=1", "query"}, Case{"https://user:pw@x", "credentials"}}) {
    try {
      (void)Origin::parse(c.url);
      ADD_FAILURE() << c.url << " was accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find(c.mentions), std::string::npos) << error.what();
    }
  }
}

TEST(BackoffDelay, DoublesToTheCapWithinTheJitter) {
  std::mt19937_64 rng(7);
  const tracker::http::BackoffPolicy policy{.initial = 500ms, .max = 8s, .jitter = 0.5};
  const long long expected[] = {500, 1000, 2000, 4000, 8000, 8000, 8000};
  for (int retry = 1; retry <= 7; ++retry) {
    for (int draw = 0; draw < 50; ++draw) {
      const auto delay = tracker::http::backoff_delay(policy, retry, rng).count();
      EXPECT_LE(delay, expected[retry - 1]);
      EXPECT_GE(delay, expected[retry - 1] / 2);
    }
  }
  const tracker::http::BackoffPolicy exact{.initial = 100ms, .max = 1s, .jitter = 0};
  EXPECT_EQ(tracker::http::backoff_delay(exact, 3, rng).count(), 400);
}

TEST(ParseRetryAfter, SecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // 2015-10-21 07:28:00
  EXPECT_EQ(tracker::http::parse_retry_after("30", now), 30s);
  EXPECT_EQ(tracker::http::parse_retry_after(" 0 ", now), 0s);
  EXPECT_EQ(tracker::http::parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now), 10s);
  EXPECT_EQ(tracker::http::parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), 0s);
  EXPECT_EQ(tracker::http::parse_retry_after("99999999", now), 86'400s);  // capped at a day
  // More digits than a long long holds are a day too, not "no Retry-After".
  EXPECT_EQ(tracker::http::parse_retry_after("99999999999999999999999", now), 86'400s);
  for (const char* bad : {"", "-1", "1.5", "soon", "Wed, 21 Oct 2015"}) {
    EXPECT_FALSE(tracker::http::parse_retry_after(bad, now).has_value()) << bad;
  }
}

// Found by fuzz/slack_web_api and fuzz/llm_response: strptime takes years up to 9999, and the
// date was converted to system_clock (64-bit nanoseconds, up to 2262) before being compared:
// signed overflow, from a header any server may send.
TEST(ParseRetryAfter, DatesSystemClockCannotHoldAreADayOrNothingToWait) {
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // 2015-10-21 07:28:00
  EXPECT_EQ(tracker::http::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), 86'400s);
  EXPECT_EQ(tracker::http::parse_retry_after("Sat, 01 Jan 2000 00:00:00 GMT", now), 0s);
  EXPECT_EQ(tracker::http::parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", now), 0s);
  EXPECT_EQ(tracker::http::parse_retry_after("Thu, 22 Oct 2015 07:27:59 GMT", now), 86'399s);
}

namespace {

using Reply = boost::system::result<tracker::http::Response, tracker::http::Failure>;

// One request; the arguments are named here because GCC 12 mishandles braced temporaries and
// string literals passed straight to a coroutine.
asio::awaitable<Reply> fetch(Client& client, std::string target, std::string body = {},
                             bh::verb method = bh::verb::get) {
  tracker::http::Headers headers;
  headers.emplace_back("Content-Type", "application/json");
  co_return co_await client.send(method, std::move(target), std::move(body), std::move(headers));
}

struct HttpClient : ::testing::Test {
  asio::io_context io;
  prometheus::Registry registry;
  std::unique_ptr<tracker::http::Server> server;
  std::chrono::milliseconds handler_delay{0};
  int handled = 0;

  void start(tracker::http::ServerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    server = std::make_unique<tracker::http::Server>(
        io.get_executor(), options,
        [this](tracker::http::Request& request) -> asio::awaitable<tracker::http::Response> {
          ++handled;
          if (handler_delay.count() > 0) {
            asio::steady_timer wait(co_await asio::this_coro::executor, handler_delay);
            co_await wait.async_wait(asio::use_awaitable);
          }
          co_return tracker::http::json_response(
              bh::status::ok, R"({"target":")" + std::string(request.target()) + R"(","body":")" +
                                  request.body() + "\"}");
        },
        registry, tracker::log::null_logger());
    server->start();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(server->port()) + "/api"; }
};

}  // namespace

TEST_F(HttpClient, SendsToTheBasePathAndReusesTheConnection) {
  start();
  Client client(io.get_executor(), {.base_url = base()});
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      auto reply =
          co_await fetch(client, "/chat.postMessage", "x" + std::to_string(i), bh::verb::post);
      EXPECT_TRUE(reply.has_value());
      if (!reply) co_return;
      EXPECT_EQ(reply->result_int(), 200U);
      EXPECT_EQ(reply->body(),
                R"({"target":"/api/chat.postMessage","body":"x)" + std::to_string(i) + "\"}");
    }
  }());
  EXPECT_EQ(client.connections_opened(), 1U);
  EXPECT_EQ(client.open_connections(), 1U);
}

TEST_F(HttpClient, OpensNoMoreConnectionsThanItsBound) {
  start();
  handler_delay = 50ms;
  Client client(io.get_executor(), {.base_url = base(), .max_connections = 2});
  int ok = 0;
  run(io, [&]() -> asio::awaitable<void> {
    auto one = [&]() -> asio::awaitable<void> {
      auto reply = co_await fetch(client, "/x");
      if (reply && reply->result_int() == 200U) ++ok;
      EXPECT_LE(client.in_flight(), 2U);
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (one() && one() && one() && one() && one() && one());
  }());
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(client.connections_opened(), 2U);
}

TEST_F(HttpClient, ADeadlineEndsASlowRequest) {
  start();
  handler_delay = 2s;
  Client client(io.get_executor(), {.base_url = base(), .request_timeout = 200ms});
  const auto kind = run(io, [&]() -> asio::awaitable<ClientError> {
    auto reply = co_await fetch(client, "/slow");
    co_return reply ? ClientError{} : reply.error().kind;
  }());
  EXPECT_EQ(kind, ClientError::timeout);
}

TEST_F(HttpClient, ARequestThatNeverGotAConnectionSaysSo) {
  start();
  handler_delay = 500ms;
  Client client(io.get_executor(), {.base_url = base(), .max_connections = 1});
  std::vector<ClientError> kinds;
  run(io, [&]() -> asio::awaitable<void> {
    // The first holds the only connection for 500 ms; the second may wait 100 ms for it.
    auto first = [&]() -> asio::awaitable<void> {
      auto reply = co_await fetch(client, "/slow");
      kinds.push_back(reply ? ClientError{} : reply.error().kind);
    };
    auto second = [&]() -> asio::awaitable<void> {
      tracker::http::Headers headers;
      auto reply = co_await client.send(bh::verb::get, "/quick", "", std::move(headers), 100ms);
      kinds.push_back(reply ? ClientError{} : reply.error().kind);
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (first() && second());
  }());
  // The second never left (safe to retry, unlike a timeout); the first was answered.
  EXPECT_EQ(kinds, (std::vector<ClientError>{ClientError::no_connection, ClientError{}}));
}

TEST_F(HttpClient, AbortEndsTheRequestsInFlightAtOnce) {
  start();
  handler_delay = 5s;  // the server sits on the request
  Client client(io.get_executor(), {.base_url = base(), .request_timeout = 30'000ms});
  std::vector<ClientError> kinds;
  std::chrono::steady_clock::duration took{};
  run(io, [&]() -> asio::awaitable<void> {
    const auto started = std::chrono::steady_clock::now();
    auto one = [&]() -> asio::awaitable<void> {
      auto reply = co_await fetch(client, "/slow");
      kinds.push_back(reply ? ClientError{} : reply.error().kind);
    };
    auto abort_soon = [&]() -> asio::awaitable<void> {
      asio::steady_timer wait(co_await asio::this_coro::executor, 200ms);
      co_await wait.async_wait(asio::use_awaitable);
      EXPECT_EQ(client.in_flight(), 2U);
      client.abort();
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (one() && one() && abort_soon());
    took = std::chrono::steady_clock::now() - started;
    // Nothing new goes out either.
    auto after = co_await fetch(client, "/after");
    kinds.push_back(after ? ClientError{} : after.error().kind);
  }());
  // The two were sent (they may have reached the server); the third never left.
  EXPECT_EQ(kinds, (std::vector<ClientError>{ClientError::aborted, ClientError::aborted,
                                             ClientError::shut_down}));
  EXPECT_LT(took, 2s) << "the requests ended when aborted, not at the server's 5 s answer";
  EXPECT_EQ(client.open_connections(), 0U);
  EXPECT_EQ(client.in_flight(), 0U);
}

TEST_F(HttpClient, AbortWhileARequestIsStillConnectingSendsNothing) {
  start();
  handler_delay = 5s;
  Client client(io.get_executor(), {.base_url = base(), .request_timeout = 30'000ms});
  std::vector<ClientError> kinds;
  std::chrono::steady_clock::duration took{};
  run(io, [&]() -> asio::awaitable<void> {
    const auto started = std::chrono::steady_clock::now();
    auto one = [&]() -> asio::awaitable<void> {
      auto reply = co_await fetch(client, "/never");
      kinds.push_back(reply ? ClientError{} : reply.error().kind);
    };
    auto abort_now = [&]() -> asio::awaitable<void> {
      // One turn of the loop: the request is resolving its host or connecting.
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      client.abort();
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (one() && abort_now());
    took = std::chrono::steady_clock::now() - started;
  }());
  EXPECT_EQ(kinds, std::vector<ClientError>{ClientError::shut_down});
  EXPECT_EQ(handled, 0) << "nothing reached the server";
  EXPECT_LT(took, 2s);
}

TEST_F(HttpClient, AConnectionTheServerClosedWhileIdleIsReplacedUnnoticed) {
  start({.idle_timeout = 100ms});
  Client client(io.get_executor(), {.base_url = base()});
  run(io, [&]() -> asio::awaitable<void> {
    auto first = co_await fetch(client, "/1");
    EXPECT_TRUE(first.has_value());
    asio::steady_timer wait(co_await asio::this_coro::executor, 400ms);
    co_await wait.async_wait(asio::use_awaitable);  // the server closes the idle connection
    auto second = co_await fetch(client, "/2");
    EXPECT_TRUE(second.has_value()) << (second ? "" : second.error().describe());
  }());
  EXPECT_EQ(client.connections_opened(), 2U);
  EXPECT_EQ(handled, 2);
}

TEST_F(HttpClient, ARefusedConnectionIsReportedAsSuch) {
  const auto port = tracker::testkit::free_loopback_port();
  Client client(io.get_executor(),
                {.base_url = "http://127.0.0.1:" + std::to_string(port), .request_timeout = 2s});
  const auto kind = run(io, [&]() -> asio::awaitable<ClientError> {
    auto reply = co_await fetch(client, "/");
    co_return reply ? ClientError{} : reply.error().kind;
  }());
  EXPECT_EQ(kind, ClientError::connect_failed);
}

namespace {

// A self-signed certificate for DNS:localhost, as PEM files in the temp directory.
struct TestCertificate {
  std::string cert_file;
  std::string key_file;

  TestCertificate() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost");
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    X509_EXTENSION* ca =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert, ca, -1);
    X509_EXTENSION_free(ca);
    X509_sign(cert, key, EVP_sha256());

    const std::string stem = ::testing::TempDir() + tracker::testing::unique_name("tls");
    cert_file = stem + "-cert.pem";
    key_file = stem + "-key.pem";
    FILE* out = std::fopen(cert_file.c_str(), "w");
    PEM_write_X509(out, cert);
    std::fclose(out);
    out = std::fopen(key_file.c_str(), "w");
    PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(out);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~TestCertificate() {
    std::remove(cert_file.c_str());
    std::remove(key_file.c_str());
  }
};

// Answers every request on every connection with 200 "secure", over TLS.
asio::awaitable<void> serve_tls(tcp::acceptor& acceptor, asio::ssl::context& tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    asio::co_spawn(
        acceptor.get_executor(),
        [&tls, s = std::move(socket)]() mutable -> asio::awaitable<void> {
          asio::ssl::stream<tcp::socket> stream(std::move(s), tls);
          auto [handshake] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                             asio::as_tuple(asio::use_awaitable));
          if (handshake) co_return;
          boost::beast::flat_buffer buffer;
          for (;;) {
            bh::request<bh::string_body> request;
            auto [read, n] = co_await bh::async_read(stream, buffer, request,
                                                     asio::as_tuple(asio::use_awaitable));
            if (read) co_return;
            bh::response<bh::string_body> response(bh::status::ok, 11);
            response.body() = "secure";
            response.prepare_payload();
            auto [write, m] =
                co_await bh::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
            if (write) co_return;
          }
        },
        asio::detached);
  }
}

}  // namespace

TEST(HttpsClient, VerifiesThePeerAndItsHostName) {
  const TestCertificate certificate;
  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_server);
  tls.use_certificate_chain_file(certificate.cert_file);
  tls.use_private_key_file(certificate.key_file, asio::ssl::context::pem);
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string port = std::to_string(acceptor.local_endpoint().port());
  asio::co_spawn(io, serve_tls(acceptor, tls), asio::detached);

  Client trusted(io.get_executor(), {.base_url = "https://localhost:" + port,
                                     .request_timeout = 5s,
                                     .ca_file = certificate.cert_file});
  Client system_cas(io.get_executor(),
                    {.base_url = "https://localhost:" + port, .request_timeout = 5s});
  Client wrong_name(io.get_executor(), {.base_url = "https://127.0.0.1:" + port,
                                        .request_timeout = 5s,
                                        .ca_file = certificate.cert_file});
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto reply = co_await fetch(trusted, "/");
      EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().describe());
      if (reply) {
        EXPECT_EQ(reply->body(), "secure");
      }
    }
    auto untrusted = co_await fetch(system_cas, "/");
    EXPECT_FALSE(untrusted.has_value());
    if (!untrusted) {
      EXPECT_EQ(untrusted.error().kind, ClientError::tls_failed);
    }
    auto mismatch = co_await fetch(wrong_name, "/");
    EXPECT_FALSE(mismatch.has_value());
    if (!mismatch) {
      EXPECT_EQ(mismatch.error().kind, ClientError::tls_failed);
    }
  }());
  EXPECT_EQ(trusted.connections_opened(), 1U);
}
