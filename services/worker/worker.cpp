#include "worker.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/kafka/dead_letter.hpp>
#include <tracker/metrics/partition_gauges.hpp>

namespace tracker::worker {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A data error (pg::Disposition::data) is the record's fault and retrying cannot help: it is
// dead-lettered. Anything else (a missing table, the server shutting down, too many
// connections) is the database's and is waited out.
bool data_error(const pg::Error& error) {
  return pg::classify(error) == pg::Disposition::data;
}

constexpr std::size_t kMaxSubtypeLabels = 64;

}  // namespace

struct Worker::Item {
  kafka::Message message;
  Decoded decoded;
  Clock::time_point arrived;
};

struct Worker::Lane {
  explicit Lane(const asio::any_io_executor& executor) : wake(executor) {}
  std::deque<Item> queue;
  asio::steady_timer wake;
};

struct Worker::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : consumed(prometheus::BuildCounter()
                     .Name("tracker_worker_events_consumed_total")
                     .Help("Records read from the slack-events topic")
                     .Register(registry)
                     .Add({})),
        stored_family(prometheus::BuildCounter()
                          .Name("tracker_worker_events_stored_total")
                          .Help("Events written to study_logs, by kind of change")
                          .Register(registry)),
        duplicates(prometheus::BuildCounter()
                       .Name("tracker_worker_events_duplicate_total")
                       .Help("Events already processed before (Slack retries, redeliveries, "
                             "replays), skipped")
                       .Register(registry)
                       .Add({})),
        skipped(prometheus::BuildCounter()
                    .Name("tracker_worker_events_skipped_total")
                    .Help("Events that are not study logs, by reason (and subtype or event "
                          "type where that is the reason)")
                    .Register(registry)),
        dead_letters(prometheus::BuildCounter()
                         .Name("tracker_worker_dead_letters_total")
                         .Help("Records sent to the dead-letter topic, by reason")
                         .Register(registry)),
        users_created(prometheus::BuildCounter()
                          .Name("tracker_worker_users_created_total")
                          .Help("Users whose first message created their row")
                          .Register(registry)
                          .Add({})),
        pruned(prometheus::BuildCounter()
                   .Name("tracker_worker_processed_events_pruned_total")
                   .Help("processed_events rows deleted once older than the retention")
                   .Register(registry)
                   .Add({})),
        db_retries(prometheus::BuildCounter()
                       .Name("tracker_worker_db_retries_total")
                       .Help("Batch transactions tried again after the database failed")
                       .Register(registry)
                       .Add({})),
        batch_size(
            prometheus::BuildHistogram()
                .Name("tracker_worker_batch_size")
                .Help("Events per batch transaction")
                .Register(registry)
                .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 25, 50, 100, 250, 500,
                                                                 1000, 2500, 5000})),
        transaction_seconds(
            prometheus::BuildHistogram()
                .Name("tracker_worker_transaction_seconds")
                .Help("Time of one successful batch transaction")
                .Register(registry)
                .Add({},
                     prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        ack_to_commit_seconds(
            prometheus::BuildHistogram()
                .Name("tracker_worker_received_to_commit_seconds")
                .Help("From ingest receiving an event to its study log being committed")
                .Register(registry)
                .Add({},
                     prometheus::Histogram::BucketBoundaries{
                         0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2,
                         0.25,  0.3,  0.4,   0.5,  0.75, 1,    2,    5,     10,  30,   60})),
        lag(prometheus::BuildGauge()
                .Name("tracker_worker_consumer_lag_messages")
                .Help("Messages of assigned partitions not yet read, per partition")
                .Register(registry)),
        lag_gauges(lag),
        buffered(prometheus::BuildGauge()
                     .Name("tracker_worker_buffered_events")
                     .Help("Events read and not yet written")
                     .Register(registry)
                     .Add({})),
        paused(prometheus::BuildGauge()
                   .Name("tracker_worker_consumer_paused")
                   .Help("1 while consumption is paused (back-pressure or database outage)")
                   .Register(registry)
                   .Add({})),
        outage(prometheus::BuildGauge()
                   .Name("tracker_worker_db_unavailable")
                   .Help("1 while batches cannot be written because the database fails")
                   .Register(registry)
                   .Add({})),
        dead_letter_failing(prometheus::BuildGauge()
                                .Name("tracker_worker_dead_letter_unavailable")
                                .Help("1 while a record cannot be sent to the dead-letter topic")
                                .Register(registry)
                                .Add({})),
        pool_in_use(prometheus::BuildGauge()
                        .Name("tracker_worker_db_pool_connections_in_use")
                        .Help("Pooled PostgreSQL connections lent out")
                        .Register(registry)
                        .Add({})),
        pool_open(prometheus::BuildGauge()
                      .Name("tracker_worker_db_pool_connections_open")
                      .Help("Pooled PostgreSQL connections open")
                      .Register(registry)
                      .Add({})) {
    for (Change change : {Change::message, Change::reply, Change::edit, Change::deletion}) {
      stored[static_cast<std::size_t>(change)] =
          &stored_family.Add({{"change", std::string(to_string(change))}});
    }
  }

  void skip(const Skip& reason) {
    std::string subtype = reason.subtype;
    if (!subtype.empty() && !subtype_labels.contains(subtype)) {
      // Subtypes come from Slack; still, a label set must stay bounded.
      if (subtype_labels.size() >= kMaxSubtypeLabels) {
        subtype = "other";
      } else {
        subtype_labels.insert(subtype);
      }
    }
    skipped.Add({{"reason", reason.reason}, {"subtype", subtype}}).Increment();
  }

  prometheus::Counter& consumed;
  prometheus::Family<prometheus::Counter>& stored_family;
  std::array<prometheus::Counter*, 4> stored{};
  prometheus::Counter& duplicates;
  prometheus::Family<prometheus::Counter>& skipped;
  prometheus::Family<prometheus::Counter>& dead_letters;
  prometheus::Counter& users_created;
  prometheus::Counter& pruned;
  prometheus::Counter& db_retries;
  prometheus::Histogram& batch_size;
  prometheus::Histogram& transaction_seconds;
  prometheus::Histogram& ack_to_commit_seconds;
  prometheus::Family<prometheus::Gauge>& lag;
  metrics::PartitionGauges lag_gauges;
  prometheus::Gauge& buffered;
  prometheus::Gauge& paused;
  prometheus::Gauge& outage;
  prometheus::Gauge& dead_letter_failing;
  prometheus::Gauge& pool_in_use;
  prometheus::Gauge& pool_open;
  std::set<std::string> subtype_labels;
};

Worker::Worker(asio::any_io_executor executor, kafka::Consumer& consumer, kafka::Producer& producer,
               Store& store, pg::Pool& pool, prometheus::Registry& registry, log::Logger& logger,
               WorkerOptions options)
    : executor_(std::move(executor)),
      consumer_(consumer),
      producer_(producer),
      store_(store),
      pool_(pool),
      logger_(logger),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      lanes_done_(executor_),
      room_(executor_),
      prune_timer_(executor_),
      grace_timer_(executor_) {
  options_.lanes = std::max(options_.lanes, 1);
  options_.batch_max = std::max<std::size_t>(options_.batch_max, 1);
  options_.max_buffered = std::max(options_.max_buffered, options_.batch_max);
  for (int i = 0; i < options_.lanes; ++i) lanes_.push_back(std::make_unique<Lane>(executor_));
}

Worker::~Worker() = default;

bool Worker::ready() const noexcept {
  return lanes_in_outage_ == 0 && lanes_dead_letter_failing_ == 0 && pool_.reachable();
}

void Worker::stop(std::chrono::milliseconds grace) {
  if (stopping_) return;
  stopping_ = true;
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    abandon_ = true;
    for (auto& lane : lanes_) lane->wake.cancel();
  });
  for (auto& lane : lanes_) lane->wake.cancel();
  room_.cancel();
  prune_timer_.cancel();
}

asio::awaitable<bool> Worker::run() {
  running_lanes_ = static_cast<int>(lanes_.size());
  if (options_.prune_interval > std::chrono::milliseconds::zero()) {
    // Counted with the lanes, so that run() returns only once it has finished too.
    ++running_lanes_;
    asio::co_spawn(executor_, run_pruner(), [this](const std::exception_ptr& error) {
      if (error) logger_.error("pruner_failed", {});
      if (--running_lanes_ == 0) lanes_done_.cancel();
    });
  }
  for (auto& lane : lanes_) {
    asio::co_spawn(executor_, run_lane(*lane), [this](const std::exception_ptr& error) {
      if (error) {
        // Its partitions would go unserved while the process looked healthy: stop instead, so
        // that the worker exits non-zero and its partitions move to a healthy member (nothing
        // the lane held had its offsets stored).
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        logger_.error("lane_failed", {{"error", what}, {"action", "stopping the worker"}});
        lane_failed_ = true;
        stop(options_.retry_max);
      }
      if (--running_lanes_ == 0) lanes_done_.cancel();
    });
  }

  bool healthy = true;
  std::optional<Clock::time_point> full_since;  // since when the lanes hold max_buffered
  while (!stopping_) {
    update_pause();
    update_gauges();
    if (buffered_ >= options_.max_buffered && !consumer_.paused()) {
      // Full: wait for a lane to make room rather than pause (see worker.hpp). A lane's wake-up
      // may leave it full still (a poll overshoots by up to a batch); the limit runs from the
      // moment it filled.
      const Clock::time_point now = Clock::now();
      if (!full_since) full_since = now;
      if (now - *full_since >= options_.poll_gap_limit) {
        stalled_ = true;
        logger_.warn(
            "lanes_stalled",
            {{"buffered", buffered_},
             {"full_for_ms",
              std::chrono::duration_cast<std::chrono::milliseconds>(now - *full_since).count()},
             {"action", "pausing consumption"}});
        full_since.reset();
        continue;
      }
      room_.expires_at(*full_since + options_.poll_gap_limit);
      co_await room_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    full_since.reset();
    auto polled = co_await consumer_.poll_batch(options_.batch_max, options_.poll_wait);
    if (!polled) {
      logger_.error("consumer_failed", {{"error", polled.error().message()}});
      healthy = false;
      stop(options_.retry_max);
      break;
    }
    const Clock::time_point now = Clock::now();
    for (kafka::Message& message : *polled) {
      metrics_->consumed.Increment();
      Lane& lane = *lanes_[static_cast<std::size_t>(message.partition()) % lanes_.size()];
      Decoded decoded = decode(message.value(), options_.filter);
      lane.queue.push_back(Item{std::move(message), std::move(decoded), now});
      ++buffered_;
      // Wake the lane when it has to start its linger clock, or when its batch is full.
      if (lane.queue.size() == 1 || lane.queue.size() == options_.batch_max) lane.wake.cancel();
    }
  }
  polling_done_ = true;
  for (auto& lane : lanes_) lane->wake.cancel();
  while (running_lanes_ > 0) {
    lanes_done_.expires_at(Clock::time_point::max());
    co_await lanes_done_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  grace_timer_.cancel();
  last_gauges_ = {};
  update_gauges();
  co_return healthy && !lane_failed_;
}

asio::awaitable<void> Worker::run_lane(Lane& lane) {
  for (;;) {
    if (abandon_) {
      buffered_ -= lane.queue.size();
      lane.queue.clear();
      co_return;
    }
    if (lane.queue.empty()) {
      if (polling_done_) co_return;
      lane.wake.expires_at(Clock::time_point::max());
      co_await lane.wake.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    const Clock::time_point due = lane.queue.front().arrived + options_.batch_linger;
    if (lane.queue.size() < options_.batch_max && !stopping_ && Clock::now() < due) {
      lane.wake.expires_at(due);
      co_await lane.wake.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    const std::size_t n = std::min(options_.batch_max, lane.queue.size());
    std::vector<Item> batch;
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(lane.queue.front()));
      lane.queue.pop_front();
    }
    co_await process(std::move(batch));
    buffered_ -= n;
    room_.cancel();
    update_pause();
  }
}

asio::awaitable<void> Worker::run_pruner() {
  constexpr std::size_t kPerStatement = 10'000;
  constexpr int kMaxStatements = 100;  // a million rows per round at most; the rest next round
  while (!stopping_) {
    prune_timer_.expires_after(options_.prune_interval);
    co_await prune_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    std::size_t total = 0;
    for (int i = 0; i < kMaxStatements && !stopping_; ++i) {
      auto deleted = co_await store_.prune_processed(options_.processed_retention, kPerStatement);
      if (!deleted) {
        logger_.warn("prune_failed",
                     {{"error", deleted.error().describe()}, {"deleted_before", total}});
        break;
      }
      total += *deleted;
      metrics_->pruned.Increment(static_cast<double>(*deleted));
      if (*deleted < kPerStatement) break;
    }
    if (total > 0) logger_.info("processed_events_pruned", {{"deleted", total}});
  }
}

asio::awaitable<void> Worker::process(std::vector<Item> batch) {
  std::vector<const Event*> writes;
  std::vector<const Item*> origins;
  for (const Item& item : batch) {
    if (item.decoded.has_error()) {
      const messages::DecodeError poison = item.decoded.error();
      if (!co_await dead_letter(item, poison.reason, poison.detail)) co_return;
      continue;
    }
    const Event& event = *item.decoded;
    if (const auto* skip = std::get_if<Skip>(&event.action)) {
      metrics_->skip(*skip);
      continue;
    }
    writes.push_back(&event);
    origins.push_back(&item);
  }
  if (!writes.empty() && !co_await write_events(writes, origins)) co_return;

  // Written (or dead-lettered, or skipped): mark consumed. Offsets are per partition, and a
  // batch is in partition order, so the last record of each partition carries them all.
  std::map<std::int32_t, const Item*> last;
  for (const Item& item : batch) last[item.message.partition()] = &item;
  for (const auto& entry : last) {
    if (auto ec = consumer_.store_offset(entry.second->message)) {
      // The partition was revoked meanwhile; its new owner reads these again, and the writes
      // are idempotent.
      logger_.info("offset_not_stored", {{"partition", entry.first},
                                         {"offset", entry.second->message.offset()},
                                         {"reason", ec.message()}});
    }
  }
}

asio::awaitable<bool> Worker::write_events(std::vector<const Event*> events,
                                           std::vector<const Item*> origins) {
  std::chrono::milliseconds backoff = options_.retry_initial;
  bool failing = false;
  for (;;) {
    const Clock::time_point started = Clock::now();
    auto written = co_await store_.write(events);
    if (written) {
      if (failing) leave_outage();
      const BatchOutcome& outcome = *written;
      metrics_->transaction_seconds.Observe(
          std::chrono::duration<double>(Clock::now() - started).count());
      metrics_->batch_size.Observe(static_cast<double>(events.size()));
      metrics_->duplicates.Increment(static_cast<double>(outcome.duplicates));
      metrics_->users_created.Increment(static_cast<double>(outcome.users_created));
      const auto committed = std::chrono::system_clock::now();
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (!outcome.applied_mask[i]) continue;
        const Event& event = *events[i];
        const Change change = std::holds_alternative<MessageDeletion>(event.action)
                                  ? Change::deletion
                                  : std::get<MessageWrite>(event.action).change;
        metrics_->stored[static_cast<std::size_t>(change)]->Increment();
        if (event.received_at) {
          metrics_->ack_to_commit_seconds.Observe(
              std::chrono::duration<double>(committed - *event.received_at).count());
        }
      }
      co_return true;
    }
    const pg::Error& error = written.error();
    if (data_error(error)) {
      if (failing) leave_outage();
      if (events.size() == 1) {
        co_return co_await dead_letter(*origins.front(), "database", error.describe());
      }
      // The database refused something in the batch: write the events one at a time, so that
      // only the one it refuses goes to the dead-letter topic.
      logger_.warn("batch_refused", {{"events", events.size()}, {"error", error.describe()}});
      for (std::size_t i = 0; i < events.size(); ++i) {
        std::vector<const Event*> one{events[i]};
        std::vector<const Item*> origin{origins[i]};
        if (!co_await write_events(std::move(one), std::move(origin))) co_return false;
      }
      co_return true;
    }
    if (!failing) {
      failing = true;
      enter_outage(error.describe());
    }
    metrics_->db_retries.Increment();
    co_await sleep(backoff);
    if (abandon_) {
      leave_outage();
      co_return false;
    }
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

asio::awaitable<bool> Worker::dead_letter(const Item& item, std::string reason, std::string error) {
  const kafka::Message& original = item.message;
  const kafka::OutgoingMessage message =
      kafka::dead_letter_of(original, options_.dlq_topic, reason, error, "worker");
  std::chrono::milliseconds backoff = options_.retry_initial;
  bool failing = false;
  for (;;) {
    kafka::OutgoingMessage attempt = message;
    auto [ec, report] =
        co_await producer_.async_send(std::move(attempt), asio::as_tuple(asio::use_awaitable));
    if (!ec) {
      if (failing) {
        --lanes_dead_letter_failing_;
        update_pause();
      }
      metrics_->dead_letters.Add({{"reason", reason}}).Increment();
      logger_.warn("dead_lettered", {{"reason", reason},
                                     {"error", error},
                                     {"partition", original.partition()},
                                     {"offset", original.offset()},
                                     {"dlq_partition", report.partition},
                                     {"dlq_offset", report.offset}});
      co_return true;
    }
    logger_.warn("dead_letter_failed", {{"error", ec.message()}, {"retry_in_ms", backoff.count()}});
    if (!failing) {
      // Whatever the cause (the broker gone, the topic refusing the record), this lane cannot
      // move on: pause consumption and report not ready until the dead letter is accepted.
      failing = true;
      ++lanes_dead_letter_failing_;
      update_pause();
    }
    co_await sleep(backoff);
    if (abandon_) break;
    backoff = std::min(backoff * 2, options_.retry_max);
  }
  --lanes_dead_letter_failing_;
  update_pause();
  co_return false;
}

asio::awaitable<void> Worker::sleep(std::chrono::milliseconds duration) {
  // In short steps, so that a stop past its grace is noticed promptly.
  const Clock::time_point until = Clock::now() + duration;
  asio::steady_timer timer(executor_);
  while (!abandon_ && Clock::now() < until) {
    timer.expires_at(std::min(until, Clock::now() + 50ms));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void Worker::enter_outage(const std::string& error) {
  if (lanes_in_outage_++ == 0) {
    logger_.error("database_unavailable",
                  {{"error", error}, {"action", "pausing consumption, retrying the batch"}});
  }
  update_pause();
  // Paused now: the consume loop, if it waits for room, goes back to polling (which keeps the
  // consumer in its group) instead.
  room_.cancel();
}

void Worker::leave_outage() {
  if (lanes_in_outage_ > 0 && --lanes_in_outage_ == 0) logger_.info("database_available");
  update_pause();
}

void Worker::update_pause() {
  // Resume at half the limit, so that the consumer does not flap around the threshold.
  if (stalled_ && buffered_ <= options_.max_buffered / 2) stalled_ = false;
  const bool must_pause = stalled_ || lanes_in_outage_ > 0 || lanes_dead_letter_failing_ > 0;
  const bool may_resume = !must_pause && buffered_ <= options_.max_buffered / 2;
  if (must_pause && !consumer_.paused()) {
    consumer_.pause();
    logger_.debug("consumer_paused", {{"buffered", buffered_},
                                      {"database_unavailable", lanes_in_outage_ > 0},
                                      {"stalled", stalled_}});
  } else if (may_resume && consumer_.paused() && !stopping_) {
    consumer_.resume();
    logger_.debug("consumer_resumed", {{"buffered", buffered_}});
  }
  metrics_->paused.Set(consumer_.paused() ? 1 : 0);
  metrics_->outage.Set(lanes_in_outage_ > 0 ? 1 : 0);
  metrics_->dead_letter_failing.Set(lanes_dead_letter_failing_ > 0 ? 1 : 0);
  metrics_->buffered.Set(static_cast<double>(buffered_));
}

void Worker::update_gauges() {
  const Clock::time_point now = Clock::now();
  if (now - last_gauges_ < 1s) return;
  last_gauges_ = now;
  metrics_->lag_gauges.update(consumer_.lag());
  const pg::PoolStats stats = pool_.stats();
  metrics_->pool_open.Set(static_cast<double>(stats.open));
  metrics_->pool_in_use.Set(static_cast<double>(stats.open - stats.idle));
  metrics_->buffered.Set(static_cast<double>(buffered_));
}

}  // namespace tracker::worker
