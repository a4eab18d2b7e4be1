#include <tracker/notifier/ledger.hpp>

#include <tracker/pg/transaction.hpp>

namespace tracker::notifier {

namespace {

const pg::Statement kClaim{"notifier_claim", R"sql(
  WITH inserted AS (
    INSERT INTO slack_deliveries (delivery_id, team_id, channel, parts, source_partition,
                                  source_offset)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING state, array_to_string(part_ts, ',') AS part_ts, posted_channel, attempts,
              last_error)
  SELECT * FROM inserted
  UNION ALL
  SELECT state, array_to_string(part_ts, ','), posted_channel, attempts, last_error
  FROM slack_deliveries WHERE delivery_id = $1
  LIMIT 1)sql"};

// $2 the instance, $3 the lease in seconds. The lease is taken when it is free, this instance's
// own, or run out; taking it marks the attempts left without an outcome interrupted: this
// instance has none in flight when it asks (each of its attempts is finished before the next
// lease), so such an attempt was cut short in another process, or in an earlier run of this one.
// Not taken: the row as the statement's snapshot saw it, with who holds the lease and for how
// many milliseconds still (a lease taken concurrently may not show yet: the caller looks again).
const pg::Statement kLease{"notifier_lease", R"sql(
  WITH leased AS (
    UPDATE slack_deliveries
    SET leased_by = $2, lease_until = now() + make_interval(secs => $3::double precision),
        updated_at = now()
    WHERE delivery_id = $1 AND state = 'pending'
      AND (leased_by IS NULL OR leased_by = $2 OR lease_until < now())
    RETURNING state, array_to_string(part_ts, ',') AS part_ts, posted_channel, attempts,
              last_error),
  interrupted AS (
    UPDATE slack_delivery_attempts SET outcome = 'interrupted', finished_at = now()
    WHERE delivery_id = $1 AND outcome IS NULL AND EXISTS (SELECT 1 FROM leased)
    RETURNING 1)
  SELECT true, state, part_ts, posted_channel, attempts, last_error,
         (SELECT count(*) FROM interrupted), NULL::text, NULL::double precision
  FROM leased
  UNION ALL
  SELECT false, state, array_to_string(part_ts, ','), posted_channel, attempts, last_error, 0,
         leased_by, EXTRACT(EPOCH FROM (lease_until - now())) * 1000
  FROM slack_deliveries WHERE delivery_id = $1 AND NOT EXISTS (SELECT 1 FROM leased))sql"};

const pg::Statement kRenew{"notifier_renew", R"sql(
  UPDATE slack_deliveries
  SET lease_until = now() + make_interval(secs => $3::double precision), updated_at = now()
  WHERE delivery_id = $1 AND leased_by = $2 AND state = 'pending')sql"};

const pg::Statement kRelease{"notifier_release", R"sql(
  UPDATE slack_deliveries SET leased_by = NULL, lease_until = NULL
  WHERE delivery_id = $1 AND leased_by = $2 AND state = 'pending')sql"};

const pg::Statement kState{"notifier_state", R"sql(
  SELECT state FROM slack_deliveries WHERE delivery_id = $1)sql"};

const pg::Statement kAttemptStarted{"notifier_attempt_started", R"sql(
  WITH attempt AS (
    INSERT INTO slack_delivery_attempts (delivery_id, attempt, part) VALUES ($1, $2, $3)
    ON CONFLICT (delivery_id, attempt) DO NOTHING)
  UPDATE slack_deliveries SET attempts = GREATEST(attempts, $2), updated_at = now()
  WHERE delivery_id = $1)sql"};

// $8: the part's ts when it was posted, else NULL. The cardinality guard keeps a part from
// being appended twice.
const pg::Statement kAttemptFinished{"notifier_attempt_finished", R"sql(
  WITH attempt AS (
    UPDATE slack_delivery_attempts
    SET finished_at = now(), outcome = $3, http_status = $4, error = $5, retry_after_ms = $6,
        latency_ms = $7
    WHERE delivery_id = $1 AND attempt = $2 AND outcome IS NULL)
  UPDATE slack_deliveries SET
    part_ts = CASE WHEN $8::text IS NULL THEN part_ts ELSE part_ts || $8::text END,
    posted_channel = CASE WHEN $8::text IS NULL THEN posted_channel
                          ELSE COALESCE(posted_channel, $9) END,
    state = CASE WHEN $8::text IS NOT NULL AND cardinality(part_ts) + 1 = parts THEN 'posted'
                 ELSE state END,
    finished_at = CASE WHEN $8::text IS NOT NULL AND cardinality(part_ts) + 1 = parts THEN now()
                       ELSE finished_at END,
    last_error = CASE WHEN $8::text IS NULL THEN $5 ELSE last_error END,
    updated_at = now()
  WHERE delivery_id = $1 AND ($8::text IS NULL OR cardinality(part_ts) = $10))sql"};

const pg::Statement kFailed{"notifier_failed", R"sql(
  UPDATE slack_deliveries
  SET state = 'failed', last_error = $2, finished_at = now(), updated_at = now()
  WHERE delivery_id = $1 AND state = 'pending')sql"};

const pg::Statement kPrune{"notifier_prune", R"sql(
  DELETE FROM slack_deliveries WHERE delivery_id IN (
    SELECT delivery_id FROM slack_deliveries
    WHERE finished_at < now() - make_interval(secs => $1::double precision)
    ORDER BY finished_at LIMIT $2))sql"};

DeliveryState state_of(std::string_view state) {
  return state == "posted"   ? DeliveryState::posted
         : state == "failed" ? DeliveryState::failed
                             : DeliveryState::pending;
}

double seconds_of(std::chrono::milliseconds duration) {
  return static_cast<double>(duration.count()) / 1000.0;
}

// The delivery columns of a claim or lease row, starting at column `first`: state, part_ts,
// posted_channel, attempts, last_error.
Claim claim_of(const pg::Rows& rows, int first) {
  Claim claim;
  claim.state = state_of(rows.text(0, first));
  claim.part_ts = pg::split_joined(rows.text(0, first + 1));
  claim.posted_channel = rows.get<std::optional<std::string>>(0, first + 2).value_or("");
  claim.attempts = rows.get<int>(0, first + 3);
  claim.last_error = rows.get<std::optional<std::string>>(0, first + 4).value_or("");
  return claim;
}

}  // namespace

std::string_view outcome_name(slack::PostOutcome outcome) {
  switch (outcome) {
    case slack::PostOutcome::posted: return "posted";
    case slack::PostOutcome::rate_limited: return "rate_limited";
    case slack::PostOutcome::retryable: return "retryable";
    case slack::PostOutcome::permanent: return "permanent";
  }
  return "permanent";
}

asio::awaitable<pg::Result<Claim>> DeliveryLedger::claim(const messages::OutboxMessage& message,
                                                         int parts, std::int32_t partition,
                                                         std::int64_t offset) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  auto rows = co_await (*lease)->execute(
      kClaim,
      pg::Params{message.delivery_id, message.team_id, message.channel, parts, partition, offset});
  if (!rows) co_return rows.error();
  if (rows->empty()) {
    co_return pg::Error{.kind = pg::Error::Kind::query, .message = "claim returned no row"};
  }
  co_return claim_of(*rows, 0);
}

asio::awaitable<pg::Result<LeaseResult>> DeliveryLedger::lease(const std::string& delivery_id,
                                                               const std::string& instance,
                                                               std::chrono::milliseconds duration) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)
                  ->execute(kLease, pg::Params{delivery_id, instance, seconds_of(duration)});
  if (!rows) co_return rows.error();
  if (rows->empty()) {
    co_return pg::Error{.kind = pg::Error::Kind::query, .message = "lease found no delivery"};
  }
  LeaseResult result;
  result.delivery = claim_of(*rows, 1);
  if (rows->get<bool>(0, 0)) {
    result.outcome = LeaseOutcome::held;
    result.delivery.interrupted_attempts = static_cast<int>(rows->get<std::int64_t>(0, 6));
  } else if (result.delivery.state != DeliveryState::pending) {
    result.outcome = LeaseOutcome::finished;
  } else {
    result.outcome = LeaseOutcome::busy;
    result.holder = rows->get<std::optional<std::string>>(0, 7).value_or("");
    if (const auto left = rows->get<std::optional<double>>(0, 8)) {
      result.lease_left = std::chrono::milliseconds{static_cast<std::int64_t>(*left)};
    }
  }
  co_return result;
}

asio::awaitable<pg::Result<bool>> DeliveryLedger::renew(const std::string& delivery_id,
                                                        const std::string& instance,
                                                        std::chrono::milliseconds duration) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)
                  ->execute(kRenew, pg::Params{delivery_id, instance, seconds_of(duration)});
  if (!rows) co_return rows.error();
  co_return rows->affected() == 1;
}

asio::awaitable<pg::Result<void>> DeliveryLedger::release(const std::string& delivery_id,
                                                          const std::string& instance) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kRelease, pg::Params{delivery_id, instance});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<DeliveryState>> DeliveryLedger::state(const std::string& delivery_id) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kState, pg::Params{delivery_id});
  if (!rows) co_return rows.error();
  if (rows->empty()) {
    co_return pg::Error{.kind = pg::Error::Kind::query, .message = "no such delivery"};
  }
  co_return state_of(rows->text(0, 0));
}

asio::awaitable<pg::Result<void>> DeliveryLedger::attempt_started(const std::string& delivery_id,
                                                                  int attempt, int part) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  auto rows = co_await (*lease)->execute(kAttemptStarted, pg::Params{delivery_id, attempt, part});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> DeliveryLedger::attempt_finished(const std::string& delivery_id,
                                                                   const AttemptRecord& record) {
  const auto& result = record.result;
  const bool posted = result.outcome == slack::PostOutcome::posted;
  std::optional<std::int64_t> retry_after;
  if (result.retry_after) retry_after = result.retry_after->count();
  std::optional<int> http_status;
  if (result.http_status != 0) http_status = static_cast<int>(result.http_status);
  std::optional<std::string> error;
  if (!result.error.empty()) error = result.error;
  std::optional<std::string> ts;
  if (posted) ts = result.ts;  // empty if Slack left it out: later parts then start no thread
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  auto rows = co_await (*lease)->execute(
      kAttemptFinished,
      pg::Params{delivery_id, record.attempt, std::string(outcome_name(result.outcome)),
                 http_status, error, retry_after, record.latency_ms, ts, result.channel,
                 record.part});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> DeliveryLedger::failed(const std::string& delivery_id,
                                                         const std::string& error) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  auto rows = co_await (*lease)->execute(kFailed, pg::Params{delivery_id, error});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<std::int64_t>> DeliveryLedger::prune(std::chrono::milliseconds retention,
                                                                int limit) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const double seconds = static_cast<double>(retention.count()) / 1000.0;
  auto rows = co_await (*lease)->execute(kPrune, pg::Params{seconds, limit});
  if (!rows) co_return rows.error();
  co_return rows->affected();
}

}  // namespace tracker::notifier
