#include <tracker/worker/worker.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <utility>

#include <boost/asio/co_spawn.hpp>

#include <tracker/async/retry.hpp>
#include <tracker/metrics/declare.hpp>
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

// Reasons to pause consumption (the dead-letter sender holds its own, "dead_letter").
constexpr std::string_view kDatabase = "database";  // a lane's batch waits for the database
constexpr std::string_view kStalled = "stalled";    // the lanes stayed full for poll_gap_limit
constexpr std::string_view kDraining = "draining";  // paused with more than half max_buffered

}  // namespace

struct Worker::Item {
  kafka::Message message;
  Decoded decoded;
  Clock::time_point arrived;
};

struct Worker::Lane {
  std::deque<Item> queue;
  async::Event wake;  // new records, a full batch, the stop
};

struct Worker::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : consumed(metrics::counter(registry, "tracker_worker_events_consumed_total",
                                  "Records read from the slack-events topic")),
        stored_family(metrics::counters(registry, "tracker_worker_events_stored_total",
                                        "Events written to study_logs, by kind of change")),
        duplicates(metrics::counter(registry, "tracker_worker_events_duplicate_total",
                                    "Events already processed before (Slack retries, redeliveries, "
                                    "replays), skipped")),
        skipped(metrics::counters(registry, "tracker_worker_events_skipped_total",
                                  "Events that are not study logs, by reason (and subtype or event "
                                  "type where that is the reason)")),
        dead_letters(metrics::counters(registry, "tracker_worker_dead_letters_total",
                                       "Records sent to the dead-letter topic, by reason")),
        users_created(metrics::counter(registry, "tracker_worker_users_created_total",
                                       "Users whose first message created their row")),
        pruned(metrics::counter(registry, "tracker_worker_processed_events_pruned_total",
                                "processed_events rows deleted once older than the retention")),
        db_retries(metrics::counter(registry, "tracker_worker_db_retries_total",
                                    "Batch transactions tried again after the database failed")),
        batch_size(metrics::histogram(registry, "tracker_worker_batch_size",
                                      "Events per batch transaction",
                                      {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000})),
        transaction_seconds(metrics::histogram(
            registry, "tracker_worker_transaction_seconds",
            "Time of one successful batch transaction",
            {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        ack_to_commit_seconds(
            metrics::histogram(registry, "tracker_worker_received_to_commit_seconds",
                               "From ingest receiving an event to its study log being committed",
                               {0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2,
                                0.25,  0.3,  0.4,   0.5,  0.75, 1,    2,    5,     10,  30,   60})),
        lag(metrics::gauges(registry, "tracker_worker_consumer_lag_messages",
                            "Messages of assigned partitions not yet read, per partition")),
        lag_gauges(lag),
        buffered(metrics::gauge(registry, "tracker_worker_buffered_events",
                                "Events read and not yet written")),
        paused(metrics::gauge(registry, "tracker_worker_consumer_paused",
                              "1 while consumption is paused (back-pressure or database outage)")),
        outage(metrics::gauge(registry, "tracker_worker_db_unavailable",
                              "1 while batches cannot be written because the database fails")),
        dead_letter_failing(
            metrics::gauge(registry, "tracker_worker_dead_letter_unavailable",
                           "1 while a record cannot be sent to the dead-letter topic")),
        pool_in_use(metrics::gauge(registry, "tracker_worker_db_pool_connections_in_use",
                                   "Pooled PostgreSQL connections lent out")),
        pool_open(metrics::gauge(registry, "tracker_worker_db_pool_connections_open",
                                 "Pooled PostgreSQL connections open")) {
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
               BatchStore& store, prometheus::Registry& registry, log::Logger& logger,
               WorkerOptions options)
    : executor_(std::move(executor)),
      consumer_(consumer),
      store_(store),
      logger_(logger),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      stop_(executor_),
      gate_([this] { pause_consumer(); }, [this] { resume_consumer(); }),
      // A database outage, or a dead-letter topic that takes nothing, is waited out for as long
      // as it lasts: the record cannot be acknowledged before it is durable, so the consumer
      // stays paused and nothing moves on. What bounds the wait is the stop's grace: once it is
      // over the retries end (abandoned) and the records stay unacknowledged for the next owner
      // of their partitions.
      db_retry_{.initial = options_.retry_initial,
                .max_delay = options_.retry_max,
                .max_attempts = async::kUnlimitedAttempts,
                .max_elapsed = async::kUnlimitedTime},
      dead_letters_(producer, gate_, stop_, metrics_->dead_letters, logger_,
                    {.topic = options_.dlq_topic, .failed_by = "worker", .retry = db_retry_}) {
  options_.lanes = std::max(options_.lanes, 1);
  options_.batch_max = std::max<std::size_t>(options_.batch_max, 1);
  options_.max_buffered = std::max(options_.max_buffered, options_.batch_max);
  for (int i = 0; i < options_.lanes; ++i) lanes_.push_back(std::make_unique<Lane>());
}

Worker::~Worker() = default;

bool Worker::ready() const noexcept {
  return !gate_.holds(kDatabase) && dead_letters_.failing() == 0 && store_.reachable();
}

void Worker::stop(std::chrono::milliseconds grace) {
  if (stop_.requested()) return;
  stop_.request(grace);
  for (auto& lane : lanes_) lane->wake.notify_all();
  room_.notify_all();
}

asio::awaitable<bool> Worker::run() {
  if (options_.prune_interval > std::chrono::milliseconds::zero()) {
    // Counted with the lanes, so that run() returns only once it has finished too.
    tasks_.add();
    asio::co_spawn(executor_, run_pruner(), [this](const std::exception_ptr& error) {
      if (error) logger_.error("pruner_failed", {});
      tasks_.done();
    });
  }
  for (auto& lane : lanes_) {
    tasks_.add();
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
      tasks_.done();
    });
  }

  bool healthy = true;
  std::optional<Clock::time_point> full_since;  // since when the lanes hold max_buffered
  while (!stop_.requested()) {
    update_backpressure();
    update_gauges();
    if (buffered_ >= options_.max_buffered && !gate_.held()) {
      // Full: wait for a lane to make room rather than pause (see worker.hpp). A lane's wake-up
      // may leave it full still (a poll overshoots by up to a batch); the limit runs from the
      // moment it filled.
      const Clock::time_point now = Clock::now();
      if (!full_since) full_since = now;
      if (now - *full_since >= options_.poll_gap_limit) {
        logger_.warn(
            "lanes_stalled",
            {{"buffered", buffered_},
             {"full_for_ms",
              std::chrono::duration_cast<std::chrono::milliseconds>(now - *full_since).count()},
             {"action", "pausing consumption"}});
        gate_.hold(kStalled);
        full_since.reset();
        continue;
      }
      co_await room_.wait_until(*full_since + options_.poll_gap_limit);
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
      if (lane.queue.size() == 1 || lane.queue.size() == options_.batch_max) {
        lane.wake.notify_all();
      }
    }
  }
  polling_done_ = true;
  for (auto& lane : lanes_) lane->wake.notify_all();
  co_await tasks_.wait();
  stop_.finish();
  last_gauges_ = {};
  update_gauges();
  co_return healthy && !lane_failed_;
}

asio::awaitable<void> Worker::run_lane(Lane& lane) {
  for (;;) {
    if (stop_.abandoned()) {
      buffered_ -= lane.queue.size();
      lane.queue.clear();
      co_return;
    }
    if (lane.queue.empty()) {
      if (polling_done_) co_return;
      co_await lane.wake.wait();
      continue;
    }
    const Clock::time_point due = lane.queue.front().arrived + options_.batch_linger;
    if (lane.queue.size() < options_.batch_max && !stop_.requested() && Clock::now() < due) {
      co_await lane.wake.wait_until(due);
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
    room_.notify_all();
    update_backpressure();
  }
}

asio::awaitable<void> Worker::run_pruner() {
  constexpr std::size_t kPerStatement = 10'000;
  constexpr int kMaxStatements = 100;  // a million rows per round at most; the rest next round
  while (co_await stop_.sleep(options_.prune_interval)) {
    std::size_t total = 0;
    for (int i = 0; i < kMaxStatements && !stop_.requested(); ++i) {
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
  // The batch's undecodable records go to the dead-letter topic together: a flood of them must
  // drain at the speed of good records, not at a broker round trip each.
  std::vector<kafka::DeadLetter> poison;
  for (const Item& item : batch) {
    if (item.decoded.has_error()) {
      const messages::DecodeError& error = item.decoded.error();
      poison.push_back({.original = &item.message, .reason = error.reason, .error = error.detail});
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
  if (!poison.empty()) {
    const std::span<const kafka::DeadLetter> letters(poison);
    if (co_await dead_letters_.send_all(letters) != async::Outcome::done) co_return;
  }
  if (!writes.empty() && co_await write_events(writes, origins) != async::Outcome::done) co_return;

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

asio::awaitable<async::Outcome> Worker::write_events(std::vector<const Event*> events,
                                                     std::vector<const Item*> origins) {
  const async::RetryHooks<pg::Error> hooks{
      .failed = [this](const pg::Error&, int,
                       std::chrono::milliseconds) { metrics_->db_retries.Increment(); },
      .outage_began =
          [this](const pg::Error& error) {
            if (!gate_.holds(kDatabase)) {
              logger_.error("database_unavailable",
                            {{"error", error.describe()},
                             {"action", "pausing consumption, retrying the batch"}});
            }
            gate_.hold(kDatabase);
            update_backpressure();
            // Paused now: the consume loop, if it waits for room, goes back to polling (which
            // keeps the consumer in its group) instead.
            room_.notify_all();
          },
      .outage_ended =
          [this] {
            gate_.release(kDatabase);
            if (!gate_.holds(kDatabase)) logger_.info("database_available");
            update_backpressure();
          }};
  Clock::time_point started{};
  auto attempt = [&]() -> asio::awaitable<pg::Result<BatchOutcome>> {
    started = Clock::now();
    co_return co_await store_.write(events);
  };
  // Only a data error is the batch's fault (see data_error); anything else is waited out, for
  // as long as db_retry_ says: until the stop's grace.
  auto written = co_await async::retry(stop_, db_retry_, hooks, attempt,
                                       [](const pg::Error& error) { return !data_error(error); });
  if (written) {
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
    co_return async::Outcome::done;
  }
  if (written.error().outcome != async::Outcome::refused) co_return written.error().outcome;
  const pg::Error& error = written.error().error;
  if (events.size() == 1) {
    co_return co_await dead_letters_.send(origins.front()->message, "database", error.describe());
  }
  // The database refused something in the batch: write the events one at a time, so that only
  // the one it refuses goes to the dead-letter topic.
  logger_.warn("batch_refused", {{"events", events.size()}, {"error", error.describe()}});
  for (std::size_t i = 0; i < events.size(); ++i) {
    std::vector<const Event*> one{events[i]};
    std::vector<const Item*> origin{origins[i]};
    const async::Outcome outcome = co_await write_events(std::move(one), std::move(origin));
    if (outcome != async::Outcome::done) co_return outcome;
  }
  co_return async::Outcome::done;
}

void Worker::pause_consumer() {
  consumer_.pause();
  metrics_->paused.Set(1);
  logger_.debug("consumer_paused", {{"buffered", buffered_}, {"reasons", gate_.describe()}});
}

void Worker::resume_consumer() {
  // Once stopping, consumption does not start again: the lanes only finish what they hold.
  if (stop_.requested()) return;
  consumer_.resume();
  metrics_->paused.Set(0);
  logger_.debug("consumer_resumed", {{"buffered", buffered_}});
}

void Worker::update_backpressure() {
  // Whatever paused the consumer, it resumes only once the lanes hold half the limit or less,
  // so that it does not flap around the threshold.
  if (buffered_ <= options_.max_buffered / 2) {
    if (gate_.holds(kStalled)) gate_.release(kStalled);
    if (gate_.holds(kDraining)) gate_.release(kDraining);
  } else if (gate_.held() && !gate_.holds(kDraining)) {
    gate_.hold(kDraining);
  }
  metrics_->paused.Set(consumer_.paused() ? 1 : 0);
  metrics_->outage.Set(gate_.holds(kDatabase) ? 1 : 0);
  metrics_->dead_letter_failing.Set(dead_letters_.failing() > 0 ? 1 : 0);
  metrics_->buffered.Set(static_cast<double>(buffered_));
}

void Worker::update_gauges() {
  const Clock::time_point now = Clock::now();
  if (now - last_gauges_ < 1s) return;
  last_gauges_ = now;
  metrics_->lag_gauges.update(consumer_.lag());
  const pg::PoolStats stats = store_.pool_stats();
  metrics_->pool_open.Set(static_cast<double>(stats.open));
  metrics_->pool_in_use.Set(static_cast<double>(stats.open - stats.idle));
  metrics_->buffered.Set(static_cast<double>(buffered_));
}

}  // namespace tracker::worker
