#include <tracker/pg/host_lookup.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tracker::pg {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// libpq's reading of a comma-separated list: every comma separates, empty entries count.
std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> entries;
  if (list.empty()) return entries;
  for (;;) {
    const auto comma = list.find(',');
    entries.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return entries;
}

std::string joined(const std::vector<std::string>& entries) {
  std::string out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    out += entries[i];
  }
  return out;
}

// Asio's resolver in Boost 1.81 ignores per-operation cancellation, and a lookup that ignores it
// would keep a deadline race waiting for getaddrinfo. So the lookup reports to a timer, whose
// wait does honour cancellation: a cancelled wait cancels the lookup and returns without it. The
// lookup's handler owns this state until getaddrinfo returns; both run on the caller's executor.
struct Lookup {
  explicit Lookup(const asio::any_io_executor& executor) : resolver(executor), done(executor) {}
  tcp::resolver resolver;
  asio::steady_timer done;
  std::optional<HostAddresses> outcome;
};

}  // namespace

asio::awaitable<HostAddresses> resolve_with_getaddrinfo(std::string host) {
  auto lookup = std::make_shared<Lookup>(co_await asio::this_coro::executor);
  lookup->done.expires_at(asio::steady_timer::time_point::max());
  // No flags: libpq asks getaddrinfo for every address family without AI_ADDRCONFIG.
  lookup->resolver.async_resolve(
      host, "", tcp::resolver::flags{},
      [lookup](const boost::system::error_code& error, const tcp::resolver::results_type& found) {
        if (error) {
          lookup->outcome.emplace(error);
        } else {
          std::vector<asio::ip::address> addresses;
          for (const auto& entry : found) {
            const auto address = entry.endpoint().address();
            if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
              addresses.push_back(address);
            }
          }
          lookup->outcome.emplace(std::move(addresses));
        }
        lookup->done.cancel();
      });
  co_await lookup->done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!lookup->outcome) {
    lookup->resolver.cancel();
    co_return HostAddresses(boost::system::error_code(asio::error::operation_aborted));
  }
  co_return std::move(*lookup->outcome);
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.front() == '/' || host.front() == '@') return false;
  boost::system::error_code not_an_address;
  static_cast<void>(asio::ip::make_address(host, not_an_address));
  return static_cast<bool>(not_an_address);
}

std::optional<HostList> hosts_to_look_up(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return std::nullopt;
  std::string host;
  std::string hostaddr;
  std::string port;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const std::string_view keyword(option->keyword);
    if (keyword == "host") host = option->val;
    if (keyword == "hostaddr") hostaddr = option->val;
    if (keyword == "port") port = option->val;
  }
  PQconninfoFree(options);
  if (host.empty() || !hostaddr.empty()) return std::nullopt;

  const auto hosts = split_list(host);
  const auto ports = split_list(port);
  // One port for all hosts, or one per host; anything else libpq refuses with its own message.
  if (ports.size() > 1 && ports.size() != hosts.size()) return std::nullopt;
  HostList list;
  list.port_per_host = ports.size() > 1;
  bool any_name = false;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    HostTarget target;
    target.host = hosts[i];
    if (list.port_per_host) target.port = ports[i];
    target.needs_lookup = is_host_name(target.host);
    any_name = any_name || target.needs_lookup;
    list.targets.push_back(std::move(target));
  }
  if (!any_name) return std::nullopt;
  return list;
}

HostParameters host_parameters(const HostList& hosts,
                               const std::vector<std::vector<asio::ip::address>>& addresses) {
  std::vector<std::string> host;
  std::vector<std::string> hostaddr;
  std::vector<std::string> port;
  for (std::size_t i = 0; i < hosts.targets.size(); ++i) {
    const HostTarget& target = hosts.targets[i];
    if (!target.needs_lookup) {
      host.push_back(target.host);
      hostaddr.emplace_back();  // empty: libpq uses the host entry itself
      port.push_back(target.port);
      continue;
    }
    if (i >= addresses.size()) continue;
    for (const auto& address : addresses[i]) {
      host.push_back(target.host);
      hostaddr.push_back(address.to_string());
      port.push_back(target.port);
    }
  }
  return {joined(host), joined(hostaddr), joined(port)};
}

}  // namespace tracker::pg
