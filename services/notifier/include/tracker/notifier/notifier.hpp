#pragma once
// The notifier's consume loop: slack-outbox records -> per-channel queues -> chat.postMessage
// at Slack's pace -> recorded deliveries -> stored offsets.
//
// Each channel has its own queue, served in order by one coroutine, so a channel that is slow,
// backed off or limited holds up only itself; channels are served concurrently. What holds up
// a whole workspace is what Slack says holds it up: a 429's Retry-After closes chat.postMessage
// for that workspace, and its channels share the workspace's rate. Workspaces do not hold each
// other up: records are keyed by workspace, so this process owns all of a workspace's posts
// while it holds their partition, and paces each workspace on its own.
//
// A record is acknowledged (its offset stored) only once its delivery is durable in the ledger
// (posted, or dead-lettered and marked failed), and in partition order: OffsetTracker lets a
// partition's offset advance only over a run of finished records.
//
// One notifier at a time works on a delivery, whatever the consumer group does. A rebalance
// (eager: every member gives its partitions back) can leave a record queued here whose
// partition another member now owns and reads again from the last committed offset. So each
// request is made under the delivery's lease in the ledger (lease.hpp); a delivery another
// notifier holds is waited for until it is finished there or that lease runs out. And a record
// whose partition this notifier no longer holds is not taken up at all: it waits until the new
// owner has finished the delivery (then it is acknowledged like any finished record, which the
// revoked partition refuses harmlessly) or until the partition comes back, so that a workspace
// is paced by one notifier again as soon as the rebalance is over. Such a wait looks at the
// ledger with a capped backoff, ends when the service stops, and lasts as long as what it waits
// for: the holder's bounded attempts, or the new owner's progress through the partition.
//
// Every delivery is bounded: at most max_attempts requests that Slack did not answer 429 (a 429
// proves nothing was posted; 100 of them at most) within delivery_deadline; then it goes to the
// dead-letter topic with the last error. A permanent error goes there at once. So a storm of
// 429s slows posting down but can neither multiply it nor make it give up early.
//
// Memory is bounded: past max_buffered records held, the consumer pauses (and keeps polling so
// that it stays in its group), resuming at half. A database outage is waited out with capped
// backoff while the service reports itself not ready; it never drops a record. The consumer's
// pause has several reasons at once (buffer, database, dead_letter): one async::PauseGate holds
// them.
//
// A ledger step the database refuses for the request's data (pg::Disposition::data: it can never
// be stored as it is) would otherwise hold its channel for good: the record is dead-lettered
// with the reason instead (nothing is posted again; see handle()). A fatal error (a missing
// table, a privilege) is waited out like an outage: it concerns every record, and dead-lettering
// the whole outbox during a broken deployment would lose its order and need a replay.
//
// Threads: everything runs on one executor (a single-threaded io_context), the one the
// consumer, the producer, the HTTP client, the pool and this object were given.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/event.hpp>
#include <tracker/async/graceful_stop.hpp>
#include <tracker/async/outcome.hpp>
#include <tracker/async/pause_gate.hpp>
#include <tracker/async/retry.hpp>
#include <tracker/http/backoff.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/dead_letter_sender.hpp>
#include <tracker/kafka/offset_tracker.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/slack/web_api.hpp>

#include <tracker/notifier/lease.hpp>
#include <tracker/notifier/ledger.hpp>
#include <tracker/notifier/pacer.hpp>
#include <tracker/notifier/tokens.hpp>

namespace tracker::notifier {

namespace asio = boost::asio;

struct NotifierOptions {
  std::string dlq_topic = "slack-outbox.dlq";
  // This process's name in the ledger's leases: unique among the notifiers running at once.
  std::string instance = "notifier";
  LeasePolicy lease;
  PacingOptions pacing;
  int max_attempts = 10;
  std::chrono::milliseconds delivery_deadline{std::chrono::minutes{15}};
  http::BackoffPolicy backoff{.initial = std::chrono::seconds{1},
                              .max = std::chrono::seconds{30},
                              .multiplier = 2.0,
                              .jitter = 0.5};
  // A Retry-After longer than this is cut to it (the attempt bound still applies).
  std::chrono::milliseconds retry_after_max{std::chrono::minutes{2}};
  // Added to Retry-After, drawn uniformly up to this, so that waiting channels do not all send
  // in the same millisecond the method reopens.
  std::chrono::milliseconds retry_after_jitter{500};
  std::size_t part_characters = 4'000;
  std::size_t max_buffered = 5'000;
  std::chrono::milliseconds poll_wait{100};
  std::chrono::milliseconds db_retry_initial{100};
  std::chrono::milliseconds db_retry_max{5'000};
  std::chrono::milliseconds retention{std::chrono::hours{24 * 30}};
  std::chrono::milliseconds prune_interval{std::chrono::hours{1}};
  std::uint64_t seed = std::random_device{}();
};

class Notifier {
 public:
  Notifier(asio::any_io_executor executor, kafka::Consumer& consumer, kafka::Producer& producer,
           slack::WebApi& slack, Tokens& tokens, Ledger& ledger, prometheus::Registry& registry,
           log::Logger& logger, NotifierOptions options);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Consumes until stop(), then lets the channels finish what they hold. Returns false when the
  // consumer failed beyond recovery.
  asio::awaitable<bool> run();
  // Stops consuming. Channels go on posting what they hold for up to `grace`; what is left
  // then stays unacknowledged, for the next owner of its partition.
  void stop(std::chrono::milliseconds grace);

  // The ledger's database answers and dead letters are accepted.
  [[nodiscard]] bool ready() const noexcept;
  [[nodiscard]] std::size_t buffered() const noexcept { return buffered_; }

 private:
  struct Item;
  struct ChannelQueue;
  struct WorkspaceTurns;
  struct Metrics;
  struct Leased {
    // held: this notifier may post; finished: delivered elsewhere meanwhile; ended: a ledger
    // step did not complete (`ended_with` says how: refused or abandoned).
    enum class Kind { held, finished, ended } kind = Kind::ended;
    async::Outcome ended_with = async::Outcome::abandoned;
    Claim delivery;                // held: the delivery as the ledger had it then
    Clock::time_point taken_at{};  // held: just before the lease was asked for
  };
  // A ledger step's value, or how the step ended without one (refused or abandoned).
  template <typename Op>
  using Stored =
      async::Retried<typename std::invoke_result_t<Op&>::value_type::value_type, pg::Error>;

  // The shutdown grace is over (or consumption failed): waits end, posts in flight are cut off.
  void abandon(const char* why);
  asio::awaitable<void> on_abandon();
  void dispatch(kafka::Message record);
  asio::awaitable<void> run_channel(std::string key);
  asio::awaitable<async::Outcome> handle(Item& item);
  asio::awaitable<async::Outcome> deliver(Item& item, const messages::OutboxMessage& message);
  // Waits until this notifier may work on the delivery (its lease taken), or the delivery is
  // finished elsewhere, or the service is stopping.
  asio::awaitable<Leased> take_lease(Item& item, const messages::OutboxMessage& message);
  asio::awaitable<void> release_lease(Item& item, const std::string& delivery_id);
  [[nodiscard]] bool holds_partition(const kafka::Message& record) const;
  asio::awaitable<async::Outcome> give_up(Item& item, const std::string& delivery_id,
                                          std::string reason, std::string detail);
  // The undecodable records at the front of `queue`, dead-lettered together, acknowledged, and
  // taken off it.
  asio::awaitable<async::Outcome> dead_letter_undecodable(ChannelQueue& queue);
  asio::awaitable<async::Outcome> dead_letter(const Item& item, const std::string& reason,
                                              const std::string& detail);
  // Waits until the limits let a post to `channel` of workspace `team` go; with `take`, spends
  // its tokens.
  asio::awaitable<bool> pace(const std::string& team, const std::string& channel, bool take);
  // Runs a ledger step until it is stored (see the class comment for what is retried).
  template <typename Op>
  asio::awaitable<Stored<Op>> durably(const char* what, Item& item, Op op);
  asio::awaitable<void> run_pruner();
  void finish(Item& item);
  // Holds the gate's "buffer" reason from max_buffered records until half of that.
  void limit_buffer();
  void update_gauges();

  asio::any_io_executor executor_;
  kafka::Consumer& consumer_;
  kafka::Producer& producer_;
  slack::WebApi& slack_;
  Tokens& tokens_;
  Ledger& ledger_;
  log::Logger& logger_;
  NotifierOptions options_;
  std::unique_ptr<Metrics> metrics_;
  Pacer pacer_;
  kafka::OffsetTracker offsets_;
  // The consumer's assignment after its last poll (rebalances happen inside polls).
  std::vector<kafka::TopicPartition> assigned_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, std::unique_ptr<ChannelQueue>> channels_;
  std::size_t buffered_ = 0;
  std::size_t in_flight_ = 0;
  bool polling_done_ = false;
  bool channel_failed_ = false;  // a channel ended with an exception: the notifier fails
  const char* abandon_reason_ = "shutdown_grace_over";
  async::GracefulStop stop_;
  async::PauseGate gate_;
  // The sender counts dead letters by `reason` into dlq_counted_, which is not exported: the
  // exported tracker_notifier_dead_letters_total is labelled `error` (dashboards and alerts read
  // it), so the notifier counts that one itself.
  prometheus::Family<prometheus::Counter> dlq_counted_;
  kafka::DeadLetterSender dead_letters_;
  async::WaitGroup channel_tasks_;  // the channels' coroutines running
  async::Event ended_;              // run() has returned: on_abandon() need not wait any more
  // Per workspace, its channels waiting for its shared limits (rate, Retry-After), in arrival
  // order; present only while one waits.
  std::unordered_map<std::string, std::unique_ptr<WorkspaceTurns>> workspace_turns_;
  std::uint64_t next_ticket_ = 0;
  Clock::time_point last_gauges_{};
};

}  // namespace tracker::notifier
