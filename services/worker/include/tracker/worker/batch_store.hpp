#pragma once
// What the worker's consume loop needs of the database: write a batch of events in one
// transaction, prune the idempotency keys, and say whether the database answers. Store is the
// PostgreSQL one; a test gives the worker a store that fails, refuses data or hangs.
#include <chrono>
#include <cstddef>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/pg/error.hpp>
#include <tracker/pg/pool.hpp>

#include <tracker/worker/event.hpp>

namespace tracker::worker {

struct BatchOutcome {
  std::vector<bool> applied_mask;  // per input event: new (true) or a duplicate (false)
  std::size_t applied = 0;         // events new to processed_events
  std::size_t duplicates = 0;      // events already processed
  std::size_t rows_changed = 0;    // study_logs rows inserted or updated
  std::size_t users_created = 0;   // first messages of new users
};

class BatchStore {
 public:
  virtual ~BatchStore() = default;

  // `events` hold MessageWrite or MessageDeletion actions only; all of them are written, or
  // none. Each call ends within its own deadline (the pool's query timeout): the worker's
  // grace counts on it. An error of pg::Disposition::data is the batch's fault (the worker
  // then writes its events one at a time and dead-letters the one refused); any other is the
  // database's, waited out.
  virtual boost::asio::awaitable<pg::Result<BatchOutcome>> write(
      std::vector<const Event*> events) = 0;

  // Deletes up to `limit` processed_events rows older than `retention`; returns how many.
  virtual boost::asio::awaitable<pg::Result<std::size_t>> prune_processed(
      std::chrono::milliseconds retention, std::size_t limit) = 0;

  // For readiness: false while connections to the database fail.
  [[nodiscard]] virtual bool reachable() const noexcept = 0;
  // For the pool gauges.
  [[nodiscard]] virtual pg::PoolStats pool_stats() const noexcept = 0;

 protected:
  BatchStore() = default;
  BatchStore(const BatchStore&) = default;
  BatchStore& operator=(const BatchStore&) = default;
};

}  // namespace tracker::worker
