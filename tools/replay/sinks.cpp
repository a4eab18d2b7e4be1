#include "sinks.hpp"

#include <array>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <tracker/messages/envelope.hpp>
#include <tracker/slack/signature.hpp>

namespace tracker::replay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;

std::uint64_t Tally::failures() const {
  std::uint64_t total = 0;
  for (const auto& [cause, count] : failed) total += count;
  return total;
}

// ---------------------------------------------------------------------------------------------

IngestSink::IngestSink(std::string host, std::uint16_t port, std::string path,
                       config::Secret secret)
    : host_(std::move(host)), port_(port), path_(std::move(path)), secret_(std::move(secret)) {}

bool IngestSink::connect() {
  stream_ = std::make_unique<beast::tcp_stream>(io_);
  stream_->expires_after(5s);
  boost::system::error_code result = asio::error::timed_out;
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host_), port_);
  stream_->async_connect(endpoint, [&](boost::system::error_code ec) { result = ec; });
  io_.restart();
  io_.run();
  if (result) stream_.reset();
  return !result;
}

// One request on the kept-alive connection; the status, or nullopt when the connection failed
// (it is then closed, and the next request opens a new one).
std::optional<unsigned> IngestSink::post(std::string_view body) {
  if (!stream_ && !connect()) return std::nullopt;
  const std::string timestamp =
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  bh::request<bh::string_body> request(bh::verb::post, path_, 11);
  request.set(bh::field::host, host_);
  request.set(bh::field::content_type, "application/json");
  request.set("X-Slack-Request-Timestamp", timestamp);
  request.set("X-Slack-Signature", slack::sign(secret_.reveal(), timestamp, body));
  request.keep_alive(true);
  request.body() = std::string(body);
  request.prepare_payload();

  beast::flat_buffer buffer;
  bh::response<bh::string_body> response;
  boost::system::error_code result = asio::error::timed_out;
  stream_->expires_after(10s);  // the whole exchange
  bh::async_write(*stream_, request, [&](boost::system::error_code ec, std::size_t) {
    if (ec) {
      result = ec;
      return;
    }
    bh::async_read(*stream_, buffer, response,
                   [&](boost::system::error_code read_ec, std::size_t) { result = read_ec; });
  });
  io_.restart();
  io_.run();
  if (result) {
    stream_.reset();
    return std::nullopt;
  }
  if (!response.keep_alive()) stream_.reset();
  return response.result_int();
}

void IngestSink::send(const kafka::Message& record, Tally& tally) {
  const auto body = messages::raw_payload(record.value());
  if (!body) {
    ++tally.failed["not_an_envelope"];
    return;
  }
  std::string last = "connection_failed";
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const auto status = post(*body);
    if (status && *status >= 200 && *status < 300) {
      ++tally.accepted;
      return;
    }
    last = status ? "http_" + std::to_string(*status) : "connection_failed";
    if (status && *status != 503) break;  // final: ingest refused this request
    std::this_thread::sleep_for(std::chrono::milliseconds{200 << attempt});
  }
  ++tally.failed[last];
}

// ---------------------------------------------------------------------------------------------

// Delivery reports arrive on the thread that polls the producer: this one.
struct TopicSink::Reports {
  Tally tally;

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    Tally& tally = static_cast<Reports*>(opaque)->tally;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++tally.accepted;
    } else {
      ++tally.failed[rd_kafka_err2name(message->err)];
    }
  }
};

TopicSink::TopicSink(const std::string& brokers, std::string topic)
    : reports_(std::make_unique<Reports>()), topic_(std::move(topic)) {
  auto conf = kafka::make_conf({{"bootstrap.servers", brokers},
                                {"enable.idempotence", "true"},
                                {"acks", "all"},
                                {"linger.ms", "5"},
                                {"queue.buffering.max.messages", "100000"},
                                {"message.timeout.ms", "30000"},
                                {"log_level", "3"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Reports::on_delivery);
  // reports_ is declared before client_, so it outlives the client and its last callbacks.
  rd_kafka_conf_set_opaque(conf.get(), reports_.get());
  client_ = kafka::make_client(RD_KAFKA_PRODUCER, std::move(conf));
}

TopicSink::~TopicSink() = default;

void TopicSink::send(const kafka::Message& record, Tally& tally, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  rd_kafka_headers_t* source = nullptr;
  const bool has_headers =
      rd_kafka_message_headers(record.raw(), &source) == RD_KAFKA_RESP_ERR_NO_ERROR;
  const auto key = record.key();
  const auto value = record.value();
  for (;;) {
    // The producer takes ownership of the headers only when the record is queued.
    rd_kafka_headers_t* headers = has_headers ? rd_kafka_headers_copy(source) : nullptr;
    std::array<rd_kafka_vu_t, 5> values{};
    values[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    values[0].u.cstr = topic_.c_str();
    values[1].vtype = RD_KAFKA_VTYPE_KEY;
    values[1].u.mem = {const_cast<char*>(key.data()), key.size()};
    values[2].vtype = RD_KAFKA_VTYPE_VALUE;
    values[2].u.mem = {const_cast<char*>(value.data()), value.size()};
    values[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    values[3].u.i = RD_KAFKA_MSG_F_COPY;
    values[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    values[4].u.headers = headers;
    const std::size_t count = headers != nullptr ? 5 : 4;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (rd_kafka_error_t* error = rd_kafka_produceva(client_.get(), values.data(), count)) {
      err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++queued_;  // the headers now belong to the message
      break;
    }
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= until) {
      ++tally.failed[rd_kafka_err2name(err)];
      return;
    }
    rd_kafka_poll(client_.get(), 100);
  }
  rd_kafka_poll(client_.get(), 0);
}

void TopicSink::flush(Tally& tally, std::chrono::milliseconds limit) {
  rd_kafka_flush(client_.get(), static_cast<int>(limit.count()));
  rd_kafka_poll(client_.get(), 0);
  Tally& reported = reports_->tally;
  const std::uint64_t answered = reported.accepted + reported.failures();
  tally.accepted += reported.accepted;
  for (const auto& [cause, count] : reported.failed) tally.failed[cause] += count;
  if (queued_ > answered) tally.failed["unacknowledged"] += queued_ - answered;
  reported = Tally{};
  queued_ = 0;
}

}  // namespace tracker::replay
