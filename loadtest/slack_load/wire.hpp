#pragma once
// What slack-load and loadgen share on the wire: a signed Events API request written as one
// buffer, and why a request failed, from the error its socket operation ended with.
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "report.hpp"
#include "signer.hpp"

namespace tracker::loadtest {

// The request line and the headers that are the same for every request to `target` + `path`.
std::string request_head(const boost::asio::ip::tcp::endpoint& target, std::string_view path,
                         bool keepalive, std::string_view user_agent);

// `head` followed by the timestamp, the signature of `body` at that timestamp, Content-Length
// and the body. Written as one buffer rather than through Beast's serializer: the header is fixed
// apart from three values, and Beast's field container and buffer-sequence iteration made the
// client about a third more expensive per request (perf: 28 against 20 µs of CPU at 1,000
// connections), CPU that the server under test on the same two cores then lacks.
std::string signed_request(std::string_view head, const SlackSigner& signer,
                           std::string_view timestamp, std::string_view body);

// `deadline_is_run_limit`: the operation's deadline was the run's end rather than its own
// timeout, so a timeout is reported as time_limit.
Cause classify(const boost::system::error_code& ec, bool deadline_is_run_limit);

std::int64_t unix_now();

// Every connection is a descriptor; this many more are left for the process's own.
inline constexpr long kSpareDescriptors = 64;

// Raises the open-file limit to the hard limit. Returns whether `connections` plus the spare
// descriptors fit; if not, says so on stderr as `tool`, with how to raise the hard limit.
bool raise_descriptor_limit(long connections, std::string_view tool);

}  // namespace tracker::loadtest
