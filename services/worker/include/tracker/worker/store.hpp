#pragma once
// Writes a batch of decoded events to PostgreSQL in one transaction:
//   1. their event_ids go into processed_events; ids already there are duplicates (a Slack
//      retry, a Kafka redelivery or a replay) and change nothing;
//   2. authors not yet in users get a row with the configured defaults;
//   3. the remaining changes are folded per message (the newest version wins, as in the
//      database) and upserted into study_logs, each only if newer than the row's version.
// Every statement is set-based (one JSON parameter per statement), so a batch of 1,000 events
// costs three round trips.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/pg/error.hpp>
#include <tracker/pg/pool.hpp>

#include <tracker/worker/batch_store.hpp>
#include <tracker/worker/event.hpp>

namespace tracker::worker {

struct UserDefaults {
  std::string time_zone = "Asia/Seoul";
  int summary_hour = 21;
};

class Store final : public BatchStore {
 public:
  Store(pg::Pool& pool, UserDefaults defaults) : pool_(pool), defaults_(std::move(defaults)) {}

  // `events` hold MessageWrite or MessageDeletion actions only. Retries serialization failures
  // and deadlocks (pg::in_transaction); any other error rolls the whole batch back.
  boost::asio::awaitable<pg::Result<BatchOutcome>> write(std::vector<const Event*> events) override;

  // Deletes up to `limit` processed_events rows older than `retention`; returns how many.
  boost::asio::awaitable<pg::Result<std::size_t>> prune_processed(
      std::chrono::milliseconds retention, std::size_t limit) override;

  [[nodiscard]] bool reachable() const noexcept override { return pool_.reachable(); }
  [[nodiscard]] pg::PoolStats pool_stats() const noexcept override { return pool_.stats(); }

  // Checks that PostgreSQL knows `time_zone` (the IANA database it uses for the users' local
  // days); an error names the zone.
  boost::asio::awaitable<pg::Result<void>> check_time_zone(std::string time_zone);

 private:
  pg::Pool& pool_;
  UserDefaults defaults_;
};

}  // namespace tracker::worker
