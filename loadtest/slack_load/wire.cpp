#include "wire.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include <boost/asio/error.hpp>
#include <boost/asio/experimental/channel_error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace tracker::loadtest {

namespace asio = boost::asio;
namespace beast = boost::beast;

std::string request_head(const asio::ip::tcp::endpoint& target, std::string_view path,
                         bool keepalive, std::string_view user_agent) {
  const auto& address = target.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  std::string head = "POST ";
  head += path;
  head += " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(target.port()) + "\r\nUser-Agent: ";
  head += user_agent;
  head += "\r\nContent-Type: application/json\r\n";
  if (!keepalive) head += "Connection: close\r\n";
  return head;
}

std::string signed_request(std::string_view head, const SlackSigner& signer,
                           std::string_view timestamp, std::string_view body) {
  std::string text;
  text.reserve(head.size() + body.size() + 160);
  text += head;
  text += "X-Slack-Request-Timestamp: ";
  text += timestamp;
  text += "\r\nX-Slack-Signature: ";
  text += signer.sign(timestamp, body);
  text += "\r\nContent-Length: ";
  text += std::to_string(body.size());
  text += "\r\n\r\n";
  text += body;
  return text;
}

Cause classify(const boost::system::error_code& ec, bool deadline_is_run_limit) {
  if (ec == beast::error::timeout)
    return deadline_is_run_limit ? Cause::kTimeLimit : Cause::kTimeout;
  if (ec == asio::error::connection_refused) return Cause::kConnectRefused;
  if (ec == asio::error::connection_reset) return Cause::kReset;
  if (ec == asio::error::broken_pipe) return Cause::kBrokenPipe;
  if (ec == beast::http::error::end_of_stream || ec == asio::error::eof) {
    return Cause::kClosedByServer;
  }
  if (ec == boost::system::errc::address_not_available || ec == asio::error::address_in_use) {
    return Cause::kNoEphemeralPort;
  }
  if (ec == asio::error::no_descriptors) return Cause::kFdLimit;
  if (ec == asio::experimental::error::channel_cancelled) return Cause::kTimeLimit;
  return Cause::kOther;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool raise_descriptor_limit(long connections, std::string_view tool) {
  const auto needed = static_cast<rlim_t>(connections + kSpareDescriptors);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur >= needed) return true;
  std::fprintf(stderr,
               "%.*s: open-file limit is %llu (hard limit %llu) but %ld connections need %llu; "
               "raise the hard limit (ulimit -Hn, /etc/security/limits.conf)\n",
               static_cast<int>(tool.size()), tool.data(),
               static_cast<unsigned long long>(limit.rlim_cur),
               static_cast<unsigned long long>(limit.rlim_max), connections,
               static_cast<unsigned long long>(needed));
  return false;
}

}  // namespace tracker::loadtest
