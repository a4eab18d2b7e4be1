#include <tracker/pg/pool.hpp>

#include <algorithm>
#include <atomic>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/log/redaction.hpp>

namespace tracker::pg {

// A coroutine parked in acquire(). release() hands it a connection (or a free slot) and
// cancels its timer to wake it.
struct Waiter {
  explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  std::unique_ptr<Connection> handed;
  bool slot_freed = false;
};

// State shared by the Pool and the handles it lends, so a handle outliving its Pool is safe.
// Touched only on the pool's executor.
struct PooledConnection::Shared {
  Shared(asio::any_io_executor ex, PoolOptions opts, log::Logger& log)
      : executor(std::move(ex)), options(std::move(opts)), logger(log) {}

  asio::any_io_executor executor;
  PoolOptions options;
  log::Logger& logger;
  std::deque<std::unique_ptr<Connection>> idle;
  std::deque<Waiter*> waiters;
  std::size_t open = 0;
  bool closed = false;
  std::atomic<bool> reachable{true};

  void release(std::unique_ptr<Connection> connection) {
    if (connection && connection->reusable() && !closed) {
      if (!waiters.empty()) {
        Waiter* waiter = waiters.front();
        waiters.pop_front();
        waiter->handed = std::move(connection);
        waiter->timer.cancel();
        return;
      }
      idle.push_back(std::move(connection));
      return;
    }
    connection.reset();
    --open;
    if (!waiters.empty()) {
      Waiter* waiter = waiters.front();
      waiters.pop_front();
      ++open;  // the slot passes to the waiter, which opens a new connection in it
      waiter->slot_freed = true;
      waiter->timer.cancel();
    }
  }

  asio::awaitable<Result<std::unique_ptr<Connection>>> open_connection() {
    auto connection = co_await Connection::connect(executor, options.connect);
    if (!connection) {
      --open;
      reachable.store(false);
      logger.warn("pg_connect_failed",
                  {{"error", connection.error().message},
                   {"conninfo", log::redact_connection_string(options.connect.conninfo)}});
      co_return connection.error();
    }
    reachable.store(true);
    co_return std::move(*connection);
  }
};

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    give_back();
    pool_ = std::move(other.pool_);
    connection_ = std::move(other.connection_);
  }
  return *this;
}

PooledConnection::~PooledConnection() {
  give_back();
}

void PooledConnection::give_back() noexcept {
  if (pool_ && connection_) pool_->release(std::move(connection_));
  pool_.reset();
}

Pool::Pool(asio::any_io_executor executor, PoolOptions options, log::Logger& logger)
    : shared_(std::make_shared<PooledConnection::Shared>(std::move(executor), std::move(options),
                                                         logger)) {
  if (shared_->options.max_connections == 0) {
    throw std::invalid_argument("pg::Pool: max_connections must be at least 1");
  }
}

Pool::~Pool() {
  close();
}

asio::awaitable<Result<PooledConnection>> Pool::acquire() {
  auto shared = shared_;
  if (shared->closed) co_return Error{Error::Kind::pool, "", "pool is closed"};
  while (!shared->idle.empty()) {
    auto connection = std::move(shared->idle.front());
    shared->idle.pop_front();
    if (connection->reusable()) co_return PooledConnection(shared, std::move(connection));
    --shared->open;  // died while idle (server restart): drop it and try the next
  }
  if (shared->open < shared->options.max_connections) {
    ++shared->open;
    auto connection = co_await shared->open_connection();
    if (!connection) co_return connection.error();
    co_return PooledConnection(shared, std::move(*connection));
  }

  Waiter waiter(shared->executor);
  waiter.timer.expires_after(shared->options.acquire_timeout);
  shared->waiters.push_back(&waiter);
  co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  // Still queued means nobody woke us: the deadline passed (or we were cancelled).
  auto queued = std::find(shared->waiters.begin(), shared->waiters.end(), &waiter);
  if (queued != shared->waiters.end()) shared->waiters.erase(queued);
  if (waiter.handed) co_return PooledConnection(shared, std::move(waiter.handed));
  if (waiter.slot_freed) {
    auto connection = co_await shared->open_connection();
    if (!connection) co_return connection.error();
    co_return PooledConnection(shared, std::move(*connection));
  }
  co_return Error{Error::Kind::pool, "",
                  "no connection free within " +
                      std::to_string(shared->options.acquire_timeout.count()) + "ms (" +
                      std::to_string(shared->open) + " open)"};
}

PoolStats Pool::stats() const noexcept {
  return {shared_->open, shared_->idle.size(), shared_->waiters.size()};
}

bool Pool::reachable() const noexcept {
  return shared_->reachable.load();
}

void Pool::close() {
  shared_->closed = true;
  shared_->open -= shared_->idle.size();
  shared_->idle.clear();
  for (Waiter* waiter : shared_->waiters) waiter->timer.cancel();
  shared_->waiters.clear();
}

}  // namespace tracker::pg
