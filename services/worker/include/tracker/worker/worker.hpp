#pragma once
// The worker's consume loop: slack-events -> decoded events -> batched transactions ->
// stored offsets.
//
// Records are routed to `lanes` by partition (partition % lanes). A lane writes one batch at a
// time, up to batch_max events or batch_linger after its oldest event, whichever comes first,
// and stores the batch's offsets only after the transaction commits. So:
//   - a fixed number of transactions is in flight (one per lane);
//   - one person's events (one key, so one partition, so one lane) are written in order, and
//     each partition's offsets are stored in order;
//   - a crash loses nothing: what was not committed was not marked consumed.
// Back-pressure: when the lanes hold max_buffered events the worker stops polling until a lane
// makes room; librdkafka's prefetch queue, bounded by queued.max.messages.kbytes, then stops
// fetching too, so memory stays bounded. (Pausing the partitions instead would discard that
// prefetch and cost a fetch round trip, about half a second, at every resume: measured, it cut a
// backlog's drain rate to a tenth.) When the database is unreachable, or the lanes make no room
// for poll_gap_limit, the consumer pauses every partition and goes on polling, so that it stays
// in its group (max.poll.interval.ms), and resumes when the lanes catch up.
// A database outage is waited out: the lane retries its batch with capped exponential backoff
// (one transaction attempt per interval, so an outage costs the database almost nothing), the
// service reports itself not ready, and it never exits because of it. The retries have no count
// or time bound of their own (async::retry with kUnlimitedAttempts/kUnlimitedTime): a record
// may not be acknowledged before it is durable, so the only bound is the stop's grace, after
// which the batch is abandoned, unacknowledged, for the partition's next owner.
// A record that cannot be decoded, or that the database rejects on its own, goes to the
// dead-letter topic with the error and its origin in headers; consumption moves on. While a dead
// letter cannot be sent, the lane retries it with capped backoff and the consumer pauses, as in
// a database outage (kafka::DeadLetterSender, bounded the same way). The pause reasons are named
// in a pause gate: "database", "dead_letter", "stalled", "draining".
//
// Threads: everything runs on one executor (a single-threaded io_context or a strand), the one
// the consumer, the pool and this object were given.
#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/event.hpp>
#include <tracker/async/graceful_stop.hpp>
#include <tracker/async/outcome.hpp>
#include <tracker/async/pause_gate.hpp>
#include <tracker/async/retry.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/dead_letter_sender.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>

#include <tracker/worker/batch_store.hpp>
#include <tracker/worker/event.hpp>

namespace tracker::worker {

namespace asio = boost::asio;

struct WorkerOptions {
  std::string dlq_topic = "slack-events.dlq";
  Filter filter;
  std::size_t batch_max = 500;
  std::chrono::milliseconds batch_linger{20};
  int lanes = 4;
  std::size_t max_buffered = 8'000;
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{5'000};
  std::chrono::milliseconds poll_wait{100};
  // Longest time the consumer goes without polling while the lanes are full; then it pauses.
  std::chrono::milliseconds poll_gap_limit{10'000};
  // processed_events rows older than this are deleted, every prune_interval (0: never). It
  // should outlast the topic's retention, so that a replay of what Kafka still holds counts as
  // duplicates; the rows themselves stay right either way.
  std::chrono::milliseconds processed_retention{std::chrono::hours{24 * 14}};
  std::chrono::milliseconds prune_interval{std::chrono::hours{1}};
};

class Worker {
 public:
  Worker(asio::any_io_executor executor, kafka::Consumer& consumer, kafka::Producer& producer,
         BatchStore& store, prometheus::Registry& registry, log::Logger& logger,
         WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Consumes until stop(), then lets the lanes finish what they hold. Returns false when the
  // consumer failed beyond recovery.
  asio::awaitable<bool> run();
  // Stops consuming. Lanes keep writing what they hold for up to `grace`; whatever is still
  // unwritten then is left unacknowledged, for the next owner of its partition.
  void stop(std::chrono::milliseconds grace);

  // Batches are being written: the database answers.
  [[nodiscard]] bool ready() const noexcept;
  [[nodiscard]] std::size_t buffered() const noexcept { return buffered_; }

 private:
  struct Item;
  struct Lane;
  struct Metrics;

  asio::awaitable<void> run_lane(Lane& lane);
  asio::awaitable<void> run_pruner();
  asio::awaitable<void> process(std::vector<Item> batch);
  // done: written (or the record it refused dead-lettered); otherwise the worker gave up
  // waiting (abandoned: stopped past its grace) and nothing may be acknowledged.
  // `origins[i]` is the record `events[i]` came from.
  asio::awaitable<async::Outcome> write_events(std::vector<const Event*> events,
                                               std::vector<const Item*> origins);
  // The pause gate's edges.
  void pause_consumer();
  void resume_consumer();
  // Holds or releases the buffer's own pause reasons; updates the pause gauges.
  void update_backpressure();
  void update_gauges();

  asio::any_io_executor executor_;
  kafka::Consumer& consumer_;
  BatchStore& store_;
  log::Logger& logger_;
  WorkerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  async::GracefulStop stop_;
  // Why consumption is paused: "database" (per lane in an outage), "dead_letter" (per failing
  // dead letter), "stalled", "draining" (see update_backpressure).
  async::PauseGate gate_;
  async::RetryPolicy db_retry_;  // database writes and dead letters; bounded by the grace
  kafka::DeadLetterSender dead_letters_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::size_t buffered_ = 0;
  bool polling_done_ = false;
  bool lane_failed_ = false;  // a lane ended with an exception: the worker stops, unhealthy
  async::WaitGroup tasks_;    // the lanes and the pruner
  async::Event room_;         // a lane took events out of a full buffer, or the consumer paused
  std::chrono::steady_clock::time_point last_gauges_{};
};

}  // namespace tracker::worker
