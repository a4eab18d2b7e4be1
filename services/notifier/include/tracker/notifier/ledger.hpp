#pragma once
// The record of what has been delivered to Slack (tables slack_deliveries and
// slack_delivery_attempts, migration 0004), which makes posting idempotent:
//
//   claim            -> the delivery's row, created pending on first sight; a posted or failed
//                       row means the record is a redelivery and is not posted again;
//   lease            -> before each request: this notifier's lease on the delivery (migration
//                       0006), unless another notifier's lease runs (see lease.hpp);
//   attempt_started  -> written before each request goes out;
//   attempt_finished -> the outcome, and for a posted part its ts, in one statement.
//
// The one window left: a crash after Slack accepted a post and before attempt_finished is
// durable. The delivery is then still pending with an attempt that has no outcome; whoever
// takes the lease next (once the crashed holder's has run out) marks that attempt
// 'interrupted' and reports it, and the part is posted again.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/messages/outbox.hpp>
#include <tracker/pg/pool.hpp>
#include <tracker/slack/web_api.hpp>

namespace tracker::notifier {

namespace asio = boost::asio;

enum class DeliveryState { pending, posted, failed };

struct Claim {
  DeliveryState state = DeliveryState::pending;
  std::vector<std::string> part_ts;  // the ts of each part posted so far, in order
  std::string posted_channel;        // as Slack answered the first part
  int attempts = 0;
  std::string last_error;
  // Set by lease(): attempts of an earlier holder that never recorded an outcome (a crash
  // mid-request), marked interrupted as the lease was taken.
  int interrupted_attempts = 0;
};

enum class LeaseOutcome {
  held,      // this notifier holds the lease; `delivery` is the row as of taking it
  busy,      // another notifier's lease runs (or the row changed under the statement)
  finished,  // the delivery is posted or failed
};

struct LeaseResult {
  LeaseOutcome outcome = LeaseOutcome::busy;
  Claim delivery;
  std::string holder;                                   // busy: the notifier holding it
  std::optional<std::chrono::milliseconds> lease_left;  // busy: how long its lease runs still
};

struct AttemptRecord {
  int attempt = 0;
  int part = 0;
  slack::PostResult result;
  double latency_ms = 0;
};

// The ledger as the notifier uses it; DeliveryLedger keeps it in PostgreSQL, and a unit test
// can stand in for the database with one of its own.
class Ledger {
 public:
  virtual ~Ledger() = default;

  virtual asio::awaitable<pg::Result<Claim>> claim(const messages::OutboxMessage& message,
                                                   int parts, std::int32_t partition,
                                                   std::int64_t offset) = 0;
  // Takes the lease of a pending delivery for `instance` for `duration`, if it is free, already
  // this instance's, or run out; marks attempts without an outcome interrupted as it does.
  virtual asio::awaitable<pg::Result<LeaseResult>> lease(const std::string& delivery_id,
                                                         const std::string& instance,
                                                         std::chrono::milliseconds duration) = 0;
  // Extends this instance's lease; false if the delivery is no longer pending and leased to it.
  virtual asio::awaitable<pg::Result<bool>> renew(const std::string& delivery_id,
                                                  const std::string& instance,
                                                  std::chrono::milliseconds duration) = 0;
  // Gives this instance's lease up (shutdown), so that the next owner need not wait it out.
  virtual asio::awaitable<pg::Result<void>> release(const std::string& delivery_id,
                                                    const std::string& instance) = 0;
  // The delivery's state, without taking anything.
  virtual asio::awaitable<pg::Result<DeliveryState>> state(const std::string& delivery_id) = 0;
  virtual asio::awaitable<pg::Result<void>> attempt_started(const std::string& delivery_id,
                                                            int attempt, int part) = 0;
  // For a posted part, also appends its ts (and completes the delivery after its last part).
  virtual asio::awaitable<pg::Result<void>> attempt_finished(const std::string& delivery_id,
                                                             const AttemptRecord& record) = 0;
  virtual asio::awaitable<pg::Result<void>> failed(const std::string& delivery_id,
                                                   const std::string& error) = 0;
  // Deletes up to `limit` deliveries finished longer than `retention` ago; returns how many.
  virtual asio::awaitable<pg::Result<std::int64_t>> prune(std::chrono::milliseconds retention,
                                                          int limit) = 0;
};

class DeliveryLedger final : public Ledger {
 public:
  explicit DeliveryLedger(pg::Pool& pool) : pool_(pool) {}

  asio::awaitable<pg::Result<Claim>> claim(const messages::OutboxMessage& message, int parts,
                                           std::int32_t partition, std::int64_t offset) override;
  asio::awaitable<pg::Result<LeaseResult>> lease(const std::string& delivery_id,
                                                 const std::string& instance,
                                                 std::chrono::milliseconds duration) override;
  asio::awaitable<pg::Result<bool>> renew(const std::string& delivery_id,
                                          const std::string& instance,
                                          std::chrono::milliseconds duration) override;
  asio::awaitable<pg::Result<void>> release(const std::string& delivery_id,
                                            const std::string& instance) override;
  asio::awaitable<pg::Result<DeliveryState>> state(const std::string& delivery_id) override;
  asio::awaitable<pg::Result<void>> attempt_started(const std::string& delivery_id, int attempt,
                                                    int part) override;
  asio::awaitable<pg::Result<void>> attempt_finished(const std::string& delivery_id,
                                                     const AttemptRecord& record) override;
  asio::awaitable<pg::Result<void>> failed(const std::string& delivery_id,
                                           const std::string& error) override;
  asio::awaitable<pg::Result<std::int64_t>> prune(std::chrono::milliseconds retention,
                                                  int limit) override;

 private:
  pg::Pool& pool_;
};

std::string_view outcome_name(slack::PostOutcome outcome);

}  // namespace tracker::notifier
