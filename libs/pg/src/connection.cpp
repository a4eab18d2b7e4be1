#include <tracker/pg/connection.hpp>

#include <algorithm>
#include <cctype>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/async/deadline.hpp>

namespace tracker::pg {

namespace {

using Clock = std::chrono::steady_clock;
using stream_descriptor = asio::posix::stream_descriptor;

std::string trimmed(const char* text) {
  std::string out = text ? text : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Error result_error(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  std::string message = primary ? primary : trimmed(PQresultErrorMessage(result));
  if (detail) message += std::string(" (") + detail + ")";
  return Error{Error::Kind::query, state ? state : "", std::move(message)};
}

// Waits for one of: readable, writable (when asked), or the timer. Returns the index that won.
asio::awaitable<std::size_t> race(stream_descriptor& socket, asio::steady_timer& timer,
                                  bool writable) {
  using namespace asio::experimental::awaitable_operators;
  auto readable =
      socket.async_wait(stream_descriptor::wait_read, asio::as_tuple(asio::use_awaitable));
  auto expired = timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!writable) {
    auto won = co_await (std::move(readable) || std::move(expired));
    co_return won.index() == 0 ? 0U : 2U;
  }
  auto can_write =
      socket.async_wait(stream_descriptor::wait_write, asio::as_tuple(asio::use_awaitable));
  auto won = co_await (std::move(readable) || std::move(can_write) || std::move(expired));
  co_return won.index();
}

std::string milliseconds_text(Clock::duration duration) {
  return std::to_string(std::chrono::ceil<std::chrono::milliseconds>(duration).count()) + " ms";
}

// The addresses of one host name, found before `deadline`.
asio::awaitable<Result<std::vector<asio::ip::address>>> look_up(ResolveHost resolve,
                                                                std::string host,
                                                                Clock::time_point deadline) {
  const auto budget = std::max(deadline - Clock::now(), Clock::duration::zero());
  auto found = co_await async::with_timeout(resolve(host), budget);
  if (!found) {
    co_return Error{Error::Kind::connection, "",
                    "resolving " + host + ": timed out after " + milliseconds_text(budget)};
  }
  if (!*found) {
    co_return Error{Error::Kind::connection, "",
                    "resolving " + host + ": " + found->error().message()};
  }
  if (found->value().empty()) {
    co_return Error{Error::Kind::connection, "", "resolving " + host + ": no addresses"};
  }
  co_return std::move(found->value());
}

// libpq's parameters for a conninfo whose host names were looked up, and what was found. Given
// `hostaddr`, libpq's own messages show the address only ("connection to server at
// "10.0.0.1"..."), so a failure to connect adds what each name was looked up as.
struct LookedUp {
  HostParameters parameters;
  bool port_per_host = false;
  std::string found;  // "a.example is 10.0.0.1, 10.0.0.2; resolving b.example: Host not found..."
};

// Looks up the conninfo's host names in turn. An error when no host is left to try.
asio::awaitable<Result<std::optional<LookedUp>>> look_up_hosts(const ConnectOptions& options,
                                                               Clock::time_point deadline) {
  auto hosts = hosts_to_look_up(options.conninfo);
  if (!hosts) co_return std::optional<LookedUp>();
  const ResolveHost resolve =
      options.resolve ? options.resolve : ResolveHost(resolve_with_getaddrinfo);
  std::vector<std::vector<asio::ip::address>> addresses(hosts->targets.size());
  std::string found;
  std::string failures;
  bool any_left = false;
  for (std::size_t i = 0; i < hosts->targets.size(); ++i) {
    const HostTarget& target = hosts->targets[i];
    if (!target.needs_lookup) {
      any_left = true;
      continue;
    }
    auto addresses_of = co_await look_up(resolve, target.host, deadline);
    if (!found.empty()) found += "; ";
    if (!addresses_of) {
      if (!failures.empty()) failures += "; ";
      failures += addresses_of.error().message;
      found += addresses_of.error().message;
      continue;
    }
    found += target.host + " is ";
    for (std::size_t a = 0; a < addresses_of->size(); ++a) {
      found += (a > 0 ? ", " : "") + (*addresses_of)[a].to_string();
    }
    addresses[i] = std::move(*addresses_of);
    any_left = true;
  }
  if (!any_left) co_return Error{Error::Kind::connection, "", failures};
  LookedUp looked_up;
  looked_up.parameters = host_parameters(*hosts, addresses);
  looked_up.port_per_host = hosts->port_per_host;
  looked_up.found = std::move(found);
  co_return std::optional<LookedUp>(std::move(looked_up));
}

}  // namespace

std::optional<std::string> conninfo_password(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return std::nullopt;
  std::optional<std::string> password;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::string_view(option->keyword) == "password" && option->val != nullptr &&
        *option->val != '\0') {
      password = option->val;
    }
  }
  PQconninfoFree(options);
  return password;
}

Connection::Connection(asio::any_io_executor executor, PGconn* conn)
    : conn_(conn), socket_(executor), timer_(executor) {}

Connection::~Connection() {
  // libpq owns the socket: take it back from Asio before PQfinish closes it.
  if (socket_.is_open()) static_cast<void>(socket_.release());
  PQfinish(conn_);
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Connection::connect(
    asio::any_io_executor executor, ConnectOptions options) {
  std::string server_options =
      "-c statement_timeout=" + std::to_string(options.query_timeout.count());
  if (!options.jit) server_options += " -c jit=off";
  if (!options.search_path.empty()) {
    const bool plain = std::all_of(
        options.search_path.begin(), options.search_path.end(),
        [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
    if (!plain) {
      co_return Error{Error::Kind::usage, "",
                      "search_path must be letters, digits and underscores"};
    }
    server_options += " -c search_path=" + options.search_path;
  }
  const auto deadline = Clock::now() + options.connect_timeout;
  auto looked_up = co_await look_up_hosts(options, deadline);
  if (!looked_up) co_return looked_up.error();
  // With expand_dbname the conninfo is parsed first and the keywords after it override it.
  std::vector<const char*> keywords = {"dbname", "application_name", "options"};
  std::vector<const char*> values = {options.conninfo.c_str(), options.application_name.c_str(),
                                     server_options.c_str()};
  std::string looked_up_as;
  if (looked_up->has_value()) {
    const LookedUp& hosts = **looked_up;
    keywords.insert(keywords.end(), {"host", "hostaddr"});
    values.insert(values.end(), {hosts.parameters.host.c_str(), hosts.parameters.hostaddr.c_str()});
    if (hosts.port_per_host) {
      keywords.push_back("port");
      values.push_back(hosts.parameters.port.c_str());
    }
    looked_up_as = " (" + hosts.found + ")";
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectStartParams(keywords.data(), values.data(), 1);
  if (raw == nullptr) co_return Error{Error::Kind::connection, "", "out of memory"};
  std::unique_ptr<Connection> connection(new Connection(executor, raw));
  // libpq prints NOTICEs ("... already exists, skipping") to stderr by default; they are not
  // errors, and a service's stderr carries JSON log lines only.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  connection->query_timeout_ = options.query_timeout;
  // A failure also says what the host names were looked up as.
  auto failed = [&](Error error) {
    error.message += looked_up_as;
    return error;
  };
  if (PQstatus(raw) == CONNECTION_BAD) co_return failed(connection->connection_error("connect"));

  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  for (;;) {
    // libpq may close its socket and open another (next address of a host, next host, SSL
    // fallback), often under the same descriptor number, so register afresh every time: a
    // stale registration would never report the new socket ready.
    const int fd = PQsocket(raw);
    if (fd < 0) co_return failed(connection->connection_error("connect"));
    if (connection->socket_.is_open()) static_cast<void>(connection->socket_.release());
    connection->socket_.assign(fd);
    if (status == PGRES_POLLING_OK) break;
    if (status == PGRES_POLLING_FAILED) co_return failed(connection->connection_error("connect"));
    auto ready = co_await connection->wait_socket(status == PGRES_POLLING_WRITING, deadline);
    if (!ready) {
      co_return failed(Error{Error::Kind::connection, "",
                             "connect: no answer from the server within " +
                                 std::to_string(options.connect_timeout.count()) + "ms"});
    }
    status = PQconnectPoll(raw);
  }
  if (PQsetnonblocking(raw, 1) != 0) co_return connection->connection_error("set non-blocking");
  co_return std::move(connection);
}

Error Connection::connection_error(std::string_view what) {
  broken_ = true;
  return Error{Error::Kind::connection, "",
               std::string(what) + ": " + trimmed(PQerrorMessage(conn_))};
}

std::string Connection::host() const {
  const char* host = PQhost(conn_);
  return host != nullptr ? host : "";
}

std::string Connection::host_address() const {
  const char* address = PQhostaddr(conn_);
  return address != nullptr ? address : "";
}

bool Connection::healthy() const noexcept {
  return !broken_ && PQstatus(conn_) == CONNECTION_OK;
}

bool Connection::reusable() const noexcept {
  return healthy() && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

Result<std::string> Connection::quote_identifier(std::string_view name) const {
  char* quoted = PQescapeIdentifier(conn_, name.data(), name.size());
  if (quoted == nullptr) {
    return Error{Error::Kind::usage, "",
                 "cannot quote identifier: " + trimmed(PQerrorMessage(conn_))};
  }
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

asio::awaitable<Result<bool>> Connection::wait_socket(bool writable, Clock::time_point deadline) {
  if (Clock::now() >= deadline) {
    broken_ = true;
    co_return Error{Error::Kind::timeout, "", "no answer from the server before the deadline"};
  }
  timer_.expires_at(deadline);
  const std::size_t won = co_await race(socket_, timer_, writable);
  if (won == 2) {
    broken_ = true;  // the exchange is half done; this connection cannot be reused
    co_return Error{Error::Kind::timeout, "", "no answer from the server before the deadline"};
  }
  co_return won == 0;  // true: readable
}

template <typename Send>
asio::awaitable<Result<Rows>> Connection::exchange(Send send) {
  if (!healthy()) co_return Error{Error::Kind::connection, "", "connection is not usable"};
  const auto deadline = Clock::now() + query_timeout_;
  if (!send(conn_)) co_return connection_error("send");

  // Flush the request; if the server talks meanwhile, read so neither side stalls.
  for (;;) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) co_return connection_error("flush");
    auto readable = co_await wait_socket(true, deadline);
    if (!readable) co_return readable.error();
    if (*readable && PQconsumeInput(conn_) == 0) co_return connection_error("read");
  }

  ResultPtr kept;
  std::optional<Error> failure;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      auto readable = co_await wait_socket(false, deadline);
      if (!readable) co_return readable.error();
      if (PQconsumeInput(conn_) == 0) co_return connection_error("read");
    }
    ResultPtr result(PQgetResult(conn_));
    if (!result) break;
    switch (PQresultStatus(result.get())) {
      case PGRES_FATAL_ERROR:
      case PGRES_BAD_RESPONSE:
      case PGRES_NONFATAL_ERROR:
        if (!failure) failure = result_error(result.get());
        break;
      case PGRES_COPY_IN:
      case PGRES_COPY_OUT:
      case PGRES_COPY_BOTH:
        broken_ = true;
        co_return Error{Error::Kind::usage, "", "COPY is not supported on this connection"};
      default:
        kept = std::move(result);  // a script's last result, or a query's only one
        break;
    }
  }
  if (failure) co_return std::move(*failure);
  co_return Rows(std::move(kept));
}

asio::awaitable<Result<Rows>> Connection::query(std::string_view sql, const Params& params) {
  const std::string text(sql);
  const auto values = params.pointers();
  co_return co_await exchange([&](PGconn* conn) {
    return PQsendQueryParams(conn, text.c_str(), params.size(), nullptr, values.data(), nullptr,
                             nullptr, 0) == 1;
  });
}

asio::awaitable<Result<Rows>> Connection::execute(const Statement& statement,
                                                  const Params& params) {
  auto known = prepared_.find(statement.name);
  if (known != prepared_.end() && known->second != statement.sql) {
    co_return Error{Error::Kind::usage, "",
                    "statement " + statement.name + " was prepared with different SQL"};
  }
  if (known == prepared_.end()) {
    auto prepared = co_await exchange([&](PGconn* conn) {
      return PQsendPrepare(conn, statement.name.c_str(), statement.sql.c_str(), 0, nullptr) == 1;
    });
    if (!prepared) co_return prepared.error();
    prepared_.emplace(statement.name, statement.sql);
  }
  const auto values = params.pointers();
  co_return co_await exchange([&](PGconn* conn) {
    return PQsendQueryPrepared(conn, statement.name.c_str(), params.size(), values.data(), nullptr,
                               nullptr, 0) == 1;
  });
}

asio::awaitable<Result<void>> Connection::execute_script(std::string_view sql) {
  const std::string text(sql);
  auto result =
      co_await exchange([&](PGconn* conn) { return PQsendQuery(conn, text.c_str()) == 1; });
  if (!result) co_return result.error();
  co_return Result<void>{};
}

}  // namespace tracker::pg
