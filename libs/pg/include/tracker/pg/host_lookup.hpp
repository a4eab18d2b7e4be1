#pragma once
// Host names of a connection string, looked up without blocking the io thread.
//
// Given `host=db.example`, libpq resolves the name with a blocking getaddrinfo inside
// PQconnectPoll, on the thread that also serves Kafka and HTTP; a slow DNS answer during a
// reconnect would stall all of it. Connection::connect therefore looks such names up itself first
// (Asio's resolver runs getaddrinfo on a thread of its own) and gives libpq the addresses as
// `hostaddr`, keeping `host` as the name: TLS still verifies the name, and .pgpass, GSSAPI and
// PQhost() still see it. IP literals, socket directories and a conninfo that already has
// `hostaddr` go to libpq as they are.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/result.hpp>

namespace tracker::pg {

// The addresses of one host name, or the resolver's error (host_not_found, ...).
using HostAddresses = boost::system::result<std::vector<boost::asio::ip::address>>;

// Looks up one host name. It must honour cancellation: the connect deadline cancels it.
using ResolveHost = std::function<boost::asio::awaitable<HostAddresses>(std::string host)>;

// The default ResolveHost: Asio's TCP resolver (getaddrinfo on Asio's resolver thread, IPv4 and
// IPv6, as libpq asks for them). A cancelled lookup returns operation_aborted at once; the
// abandoned getaddrinfo finishes on its own thread.
boost::asio::awaitable<HostAddresses> resolve_with_getaddrinfo(std::string host);

// A name libpq would resolve: not empty, not a socket directory ('/...', or '@...' for Linux's
// abstract namespace) and not an IPv4 or IPv6 literal.
[[nodiscard]] bool is_host_name(std::string_view host);

// One entry of a conninfo's comma-separated host list.
struct HostTarget {
  std::string host;  // as written: a name, an IP literal, a socket directory, or empty
  std::string port;  // this entry's port; empty unless the conninfo gives one port per host
  bool needs_lookup = false;
};

struct HostList {
  std::vector<HostTarget> targets;
  bool port_per_host = false;  // the conninfo lists a port for each host (port=1,2)
};

// The conninfo's hosts when at least one is a name to look up; std::nullopt when none is: no
// `host`, only IP literals and sockets, `hostaddr` already given, as many ports as libpq would
// refuse, or a conninfo libpq cannot parse (it reports that itself when connecting).
[[nodiscard]] std::optional<HostList> hosts_to_look_up(const std::string& conninfo);

// libpq's `host`, `hostaddr` and `port` values (comma-separated, one entry per address).
struct HostParameters {
  std::string host;
  std::string hostaddr;
  std::string port;  // only meaningful when HostList::port_per_host
};

// The parameters that make libpq connect to the addresses found: a looked-up entry is repeated
// once per address, in the resolver's order (libpq tries them in turn, as it does with the
// addresses of a name it resolves itself); an entry that was not looked up keeps an empty
// `hostaddr`, so libpq treats it as before. `addresses[i]` belongs to `hosts.targets[i]`; a
// looked-up entry without addresses (its lookup failed) is left out.
[[nodiscard]] HostParameters host_parameters(
    const HostList& hosts, const std::vector<std::vector<boost::asio::ip::address>>& addresses);

}  // namespace tracker::pg
