#include <tracker/testkit/blocking_client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tracker::testkit {

namespace asio = boost::asio;
namespace beast = boost::beast;

GetResult blocking_get(const std::string& address, std::uint16_t port, std::string_view target,
                       std::chrono::milliseconds timeout) {
  auto result = blocking_request(address, port, "GET", target, {}, {}, timeout);
  return {result.status, std::move(result.body)};
}

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

HttpResult blocking_request(const std::string& address, std::uint16_t port, std::string_view method,
                            std::string_view target,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string body, std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return {};
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  stream.connect({ip, port}, ec);
  if (ec) return {};
  beast::http::request<beast::http::string_body> request(beast::http::string_to_verb(method),
                                                         target, 11);
  request.set(beast::http::field::host, address);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  request.prepare_payload();
  beast::http::write(stream, request, ec);
  if (ec) return {};
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> response;
  beast::http::read(stream, buffer, response, ec);
  if (ec) return {};
  HttpResult result{response.result_int(), {}, std::move(response.body())};
  for (const auto& field : response) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    result.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  return result;
}

std::uint16_t free_loopback_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

}  // namespace tracker::testkit
