#pragma once
// A bounded pool of PostgreSQL connections for coroutines.
//
//   auto conn = co_await pool.acquire();            // waits at most acquire_timeout
//   if (!conn) { /* conn.error().kind == Error::Kind::pool: all busy */ }
//   auto rows = co_await (*conn)->execute(kInsertLog, Params{team, user, text});
//
// The connection goes back when the handle is destroyed, and only if it is healthy and outside
// a transaction (as taopq does); anything else is closed and its slot freed. Connections are
// opened lazily up to max_connections.
//
// Threads: the pool and its connections belong to the executor given to the constructor, which
// must be a strand or a single-threaded io_context, and every coroutine using the pool runs on
// it. Services that run several io_context threads give each thread its own pool.
#include <cstddef>
#include <deque>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/log/logger.hpp>
#include <tracker/pg/connection.hpp>

namespace tracker::pg {

struct PoolOptions {
  ConnectOptions connect;
  std::size_t max_connections = 8;
  std::chrono::milliseconds acquire_timeout{5'000};
  // Coroutines allowed to wait for a connection at once; past it acquire() fails at once.
  std::size_t max_waiters = 1'024;
};

struct PoolStats {
  std::size_t open = 0;  // connections that exist (idle + in use + being opened)
  std::size_t idle = 0;
  std::size_t waiting = 0;  // coroutines waiting in acquire()
};

class Pool;

// A connection on loan from a Pool.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(PooledConnection&&) noexcept = default;
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection();

  Connection* operator->() const noexcept { return connection_.get(); }
  Connection& operator*() const noexcept { return *connection_; }

  struct Shared;  // defined in pool.cpp
  static PooledConnection lend(std::shared_ptr<Shared> pool,
                               std::unique_ptr<Connection> connection) {
    PooledConnection lease;
    lease.pool_ = std::move(pool);
    lease.connection_ = std::move(connection);
    return lease;
  }

 private:
  void give_back() noexcept;

  std::shared_ptr<Shared> pool_;
  std::unique_ptr<Connection> connection_;
};

class Pool {
 public:
  Pool(asio::any_io_executor executor, PoolOptions options, log::Logger& logger);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  asio::awaitable<Result<PooledConnection>> acquire();

  [[nodiscard]] PoolStats stats() const noexcept;
  // False after a connection attempt failed, until one succeeds; for /readyz.
  [[nodiscard]] bool reachable() const noexcept;
  // Closes idle connections and makes further acquire() calls fail at once.
  void close();

 private:
  std::shared_ptr<PooledConnection::Shared> shared_;
};

}  // namespace tracker::pg
