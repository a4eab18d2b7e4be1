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
// Every delivery is bounded: at most max_attempts requests (a 429 counts) within
// delivery_deadline; then it goes to the dead-letter topic with the last error. A permanent
// error goes there at once. So a storm of 429s slows posting down but cannot multiply it.
//
// Memory is bounded: past max_buffered records held, the consumer pauses (and keeps polling so
// that it stays in its group), resuming at half. A database outage is waited out with capped
// backoff while the service reports itself not ready; it never drops a record.
//
// Threads: everything runs on one executor (a single-threaded io_context), the one the
// consumer, the producer, the HTTP client, the pool and this object were given.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <tracker/http/backoff.hpp>
#include <tracker/kafka/consumer.hpp>
#include <tracker/kafka/offset_tracker.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/slack/web_api.hpp>

#include "lease.hpp"
#include "ledger.hpp"
#include "pacer.hpp"

namespace tracker::notifier {

namespace asio = boost::asio;

struct NotifierOptions {
  std::string dlq_topic = "slack-outbox.dlq";
  // This process's name in the ledger's leases: unique among the notifiers running at once.
  std::string instance = "notifier";
  LeasePolicy lease;
  PacingOptions pacing;
  int max_attempts = 6;
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
           slack::WebApi& slack, DeliveryLedger& ledger, prometheus::Registry& registry,
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
  enum class Done { finished, abandoned };
  struct Leased {
    enum class Kind { held, finished, abandoned } kind = Kind::abandoned;
    Claim delivery;                // held: the delivery as the ledger had it then
    Clock::time_point taken_at{};  // held: just before the lease was asked for
  };

  // The shutdown grace is over (or consumption failed): waits end, posts in flight are cut off.
  void abandon(const char* why);
  void dispatch(kafka::Message record);
  asio::awaitable<void> run_channel(std::string key);
  asio::awaitable<Done> handle(Item& item);
  asio::awaitable<Done> deliver(Item& item, const messages::OutboxMessage& message);
  // Waits until this notifier may work on the delivery (its lease taken), or the delivery is
  // finished elsewhere, or the service is stopping.
  asio::awaitable<Leased> take_lease(Item& item, const messages::OutboxMessage& message);
  asio::awaitable<void> release_lease(Item& item, const std::string& delivery_id);
  [[nodiscard]] bool holds_partition(const kafka::Message& record) const;
  asio::awaitable<Done> give_up(Item& item, const std::string& delivery_id, std::string reason,
                                std::string detail);
  asio::awaitable<bool> dead_letter(const Item& item, const std::string& reason,
                                    const std::string& detail);
  // Waits until the limits let a post to `channel` of workspace `team` go; with `take`, spends
  // its tokens.
  asio::awaitable<bool> pace(const std::string& team, const std::string& channel, bool take);
  template <typename Op>
  asio::awaitable<bool> durably(const char* what, Op op);
  asio::awaitable<void> run_pruner();
  asio::awaitable<void> sleep(Clock::duration duration);
  void finish(Item& item);
  void update_pause();
  void update_gauges();

  asio::any_io_executor executor_;
  kafka::Consumer& consumer_;
  kafka::Producer& producer_;
  slack::WebApi& slack_;
  DeliveryLedger& ledger_;
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
  int running_channels_ = 0;
  int db_failing_ = 0;
  int dlq_failing_ = 0;
  bool stopping_ = false;
  bool abandon_ = false;
  bool polling_done_ = false;
  asio::steady_timer channels_done_;
  // Per workspace, its channels waiting for its shared limits (rate, Retry-After), in arrival
  // order; present only while one waits.
  std::unordered_map<std::string, std::unique_ptr<WorkspaceTurns>> workspace_turns_;
  std::uint64_t next_ticket_ = 0;
  asio::steady_timer grace_timer_;
  asio::steady_timer prune_timer_;
  std::set<asio::steady_timer*> sleepers_;  // cancelled when the stop grace runs out
  Clock::time_point last_gauges_{};
};

}  // namespace tracker::notifier
