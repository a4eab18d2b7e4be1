#pragma once
// One PostgreSQL connection driven by libpq's non-blocking API: the socket is registered with
// Asio, so a coroutine waiting for the server suspends instead of blocking its thread. A
// connection serves one coroutine at a time (the Pool guarantees it); it lives on the executor
// it was connected on.
//
// Host names are looked up before libpq sees them (host_lookup.hpp), because libpq would resolve
// them with a blocking getaddrinfo: `host=db.example` becomes `host=db.example
// hostaddr=<its addresses>`, so libpq connects to the addresses and still uses the name for TLS,
// .pgpass and GSSAPI. Each name of a multi-host conninfo (host=a,b port=1,2) is looked up in
// turn. A name that cannot be resolved is a Kind::connection error naming it ("resolving
// db.example: Host not found (authoritative)", or "... timed out after 5000 ms": the lookups
// share connect_timeout with connecting); in a multi-host conninfo the other hosts are still
// tried, as libpq does. A failure to connect ends with what each name was looked up as
// ("(db.example is 10.0.0.1)"), since libpq's message then shows only the address. IP literals,
// socket directories, a conninfo with `hostaddr`, and a host coming from PGHOST or a service file
// go to libpq unchanged.
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <tracker/pg/error.hpp>
#include <tracker/pg/host_lookup.hpp>
#include <tracker/pg/rows.hpp>

namespace tracker::pg {

namespace asio = boost::asio;

struct ConnectOptions {
  std::string conninfo;  // a libpq URL or key=value string
  std::string application_name = "study-tracker";
  // Covers looking the host names up and connecting (every address, every host).
  std::chrono::milliseconds connect_timeout{5'000};
  // Client-side deadline per statement; past it the connection is dropped. The server is told
  // the same limit (statement_timeout) so that it stops working on a statement nobody awaits.
  std::chrono::milliseconds query_timeout{30'000};
  // Schema searched first for unqualified names (one schema per test, or TRACKER_DB_SCHEMA);
  // empty: the server's default. Letters, digits and underscores only.
  std::string search_path;
  // PostgreSQL's JIT compiles plans it estimates expensive. For the services' statements the
  // estimate is often far off (a set-returning function per row) and the compile alone took
  // 600 ms of a 1 s scheduler tick whose work was 250 ms; off unless asked for.
  bool jit = false;
  // Looks up the conninfo's host names; empty: resolve_with_getaddrinfo. Tests give a slow or
  // failing one.
  ResolveHost resolve;
};

// The password inside a libpq connection string or URL, if it has one, so that it can be
// registered with the logger (libpq's own error messages may quote parts of the conninfo).
std::optional<std::string> conninfo_password(const std::string& conninfo);

// A named statement, prepared on each connection the first time it is used there (and again
// on a new connection after a reconnect).
struct Statement {
  std::string name;
  std::string sql;
};

class Connection {
 public:
  // Takes its options by value: a coroutine must not keep references to its caller's objects.
  static asio::awaitable<Result<std::unique_ptr<Connection>>> connect(
      asio::any_io_executor executor, ConnectOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with parameters ($1, $2, ...), extended protocol.
  asio::awaitable<Result<Rows>> query(std::string_view sql, const Params& params = Params{});
  // A prepared statement; prepared here on first use.
  asio::awaitable<Result<Rows>> execute(const Statement& statement,
                                        const Params& params = Params{});
  // Several statements without parameters (a migration file), simple protocol.
  asio::awaitable<Result<void>> execute_script(std::string_view sql);

  // Quotes an identifier (a schema name) for the rare statement that cannot take a parameter.
  [[nodiscard]] Result<std::string> quote_identifier(std::string_view name) const;

  // Usable: connected and not left mid-exchange by a timeout or a broken socket.
  [[nodiscard]] bool healthy() const noexcept;
  // Healthy and outside any transaction: safe to hand to someone else.
  [[nodiscard]] bool reusable() const noexcept;
  [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(conn_); }
  // The host as the conninfo names it (libpq's PQhost), also when its address was looked up here.
  [[nodiscard]] std::string host() const;
  // The address connected to (libpq's PQhostaddr), e.g. "127.0.0.1"; empty for a Unix socket.
  [[nodiscard]] std::string host_address() const;
  void set_query_timeout(std::chrono::milliseconds timeout) noexcept { query_timeout_ = timeout; }
  [[nodiscard]] std::chrono::milliseconds query_timeout() const noexcept { return query_timeout_; }

 private:
  Connection(asio::any_io_executor executor, PGconn* conn);

  // Sends with `send`, flushes, and collects every result until libpq reports the end.
  template <typename Send>
  asio::awaitable<Result<Rows>> exchange(Send send);
  // Waits until the socket is readable (or writable too, if `writable`), or the deadline.
  asio::awaitable<Result<bool>> wait_socket(bool writable,
                                            std::chrono::steady_clock::time_point deadline);
  Error connection_error(std::string_view what);

  PGconn* conn_;
  asio::posix::stream_descriptor socket_;
  asio::steady_timer timer_;
  std::chrono::milliseconds query_timeout_{30'000};
  bool broken_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // name -> SQL
};

}  // namespace tracker::pg
