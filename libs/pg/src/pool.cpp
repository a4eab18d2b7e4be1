#include <tracker/pg/pool.hpp>

#include <algorithm>
#include <atomic>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/log/redaction.hpp>

namespace tracker::pg {

struct Waiter;

// State shared by the Pool and the handles it lends, so a handle outliving its Pool is safe.
// Touched only on the pool's executor.
//
// `open` counts slots: connections idle, lent out, or being opened. A slot is given up only
// through free_slot(), which passes it straight to the first waiter if there is one.
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

  void free_slot();
  void release(std::unique_ptr<Connection> connection);
  asio::awaitable<Result<std::unique_ptr<Connection>>> connect();
};

// A coroutine parked in acquire(). release() hands it a connection, or free_slot() a slot to
// open one in, and cancels its timer to wake it. Whatever it was handed and did not take (its
// coroutine was cancelled or destroyed meanwhile) goes back to the pool with it.
struct Waiter {
  explicit Waiter(std::shared_ptr<PooledConnection::Shared> pool)
      : shared(std::move(pool)), timer(shared->executor) {}
  ~Waiter() {
    auto queued = std::find(shared->waiters.begin(), shared->waiters.end(), this);
    if (queued != shared->waiters.end()) shared->waiters.erase(queued);
    if (handed) shared->release(std::move(handed));
    if (slot_freed) shared->free_slot();
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  std::shared_ptr<PooledConnection::Shared> shared;
  asio::steady_timer timer;
  std::unique_ptr<Connection> handed;
  bool slot_freed = false;
};

// Holds one of the pool's slots while a connection is opened in it; gives the slot up unless a
// connection came to occupy it, also when the opening coroutine is cancelled mid-way.
class SlotReservation {
 public:
  explicit SlotReservation(std::shared_ptr<PooledConnection::Shared> pool)
      : shared_(std::move(pool)) {}
  ~SlotReservation() {
    if (held_) shared_->free_slot();
  }
  SlotReservation(const SlotReservation&) = delete;
  SlotReservation& operator=(const SlotReservation&) = delete;
  void occupied() noexcept { held_ = false; }

 private:
  std::shared_ptr<PooledConnection::Shared> shared_;
  bool held_ = true;
};

void PooledConnection::Shared::free_slot() {
  if (!waiters.empty() && !closed) {
    Waiter* waiter = waiters.front();
    waiters.pop_front();
    waiter->slot_freed = true;  // the slot passes on: `open` is unchanged
    waiter->timer.cancel();
    return;
  }
  --open;
}

void PooledConnection::Shared::release(std::unique_ptr<Connection> connection) {
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
  free_slot();
}

asio::awaitable<Result<std::unique_ptr<Connection>>> PooledConnection::Shared::connect() {
  auto connection = co_await Connection::connect(executor, options.connect);
  if (!connection) {
    reachable.store(false);
    logger.warn("pg_connect_failed",
                {{"error", connection.error().message},
                 {"conninfo", log::redact_connection_string(options.connect.conninfo)}});
    co_return connection.error();
  }
  reachable.store(true);
  co_return std::move(*connection);
}

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
  if (auto password = conninfo_password(shared_->options.connect.conninfo)) {
    shared_->logger.redact(*password);
  }
}

Pool::~Pool() {
  close();
}

namespace {

// Opens a connection in a slot the caller already counted in `open`.
asio::awaitable<Result<PooledConnection>> open_in_slot(
    std::shared_ptr<PooledConnection::Shared> shared) {
  SlotReservation slot(shared);
  auto connection = co_await shared->connect();
  if (!connection) co_return connection.error();
  slot.occupied();
  co_return PooledConnection::lend(shared, std::move(*connection));
}

}  // namespace

asio::awaitable<Result<PooledConnection>> Pool::acquire() {
  auto shared = shared_;
  if (shared->closed) co_return Error{Error::Kind::pool, "", "pool is closed"};
  while (!shared->idle.empty()) {
    auto connection = std::move(shared->idle.front());
    shared->idle.pop_front();
    if (connection->reusable()) co_return PooledConnection::lend(shared, std::move(connection));
    --shared->open;  // died while idle (server restart): drop it and try the next
  }
  if (shared->open < shared->options.max_connections) {
    ++shared->open;
    co_return co_await open_in_slot(shared);
  }
  if (shared->waiters.size() >= shared->options.max_waiters) {
    co_return Error{
        Error::Kind::pool, "",
        "too many waiting for a connection (" + std::to_string(shared->waiters.size()) + ")"};
  }

  Waiter waiter(shared);
  waiter.timer.expires_after(shared->options.acquire_timeout);
  shared->waiters.push_back(&waiter);
  co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (waiter.handed) co_return PooledConnection::lend(shared, std::move(waiter.handed));
  if (waiter.slot_freed) {
    waiter.slot_freed = false;  // open_in_slot owns it now
    co_return co_await open_in_slot(shared);
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
