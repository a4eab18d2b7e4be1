#include <tracker/notifier/notifier.hpp>

#include <algorithm>
#include <optional>
#include <span>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <tracker/metrics/declare.hpp>
#include <tracker/metrics/partition_gauges.hpp>
#include <tracker/slack/text_split.hpp>

namespace tracker::notifier {

using namespace std::chrono_literals;

namespace {

constexpr std::string_view kBuffer = "buffer";
constexpr std::string_view kDatabase = "database";
constexpr std::string_view kDeadLetter = "dead_letter";

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// 429s one delivery may meet before it is given up (besides the delivery deadline).
constexpr int kMaxRateLimitedAnswers = 100;

// A metrics label from a Slack error code: Slack's codes are short snake_case words; anything
// else (a proxy's text) is folded into "other" so that a label cannot grow without bound.
std::string error_label(std::string_view error) {
  const bool word =
      !error.empty() && error.size() <= 48 && std::all_of(error.begin(), error.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  return word ? std::string(error) : "other";
}

prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

prometheus::Histogram::BucketBoundaries wait_buckets() {
  return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
}

}  // namespace

struct Notifier::Item {
  kafka::Message record;
  messages::DecodeResult<messages::OutboxMessage> decoded;
  bool leased = false;  // this notifier has taken the delivery's lease at least once
  std::string refusal;  // the ledger step the database refused, and why (for the dead letter)
};

struct Notifier::ChannelQueue {
  std::deque<Item> items;
  bool running = false;
  prometheus::Gauge* depth = nullptr;
};

// A workspace's channels held by its shared limits, by ticket in arrival order; `turn` wakes
// them all whenever the front one leaves.
struct Notifier::WorkspaceTurns {
  std::deque<std::uint64_t> queue;
  async::Event turn;
};

struct Notifier::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : consumed(metrics::counter(registry, "tracker_notifier_consumed_total",
                                  "slack-outbox records consumed")),
        posted(metrics::counter(registry, "tracker_notifier_posted_total",
                                "Outbox messages delivered to Slack (every part posted)")),
        parts_posted(metrics::counter(registry, "tracker_notifier_parts_posted_total",
                                      "Slack messages posted (a long message is posted in parts)")),
        duplicates(metrics::counter(registry, "tracker_notifier_duplicates_total",
                                    "Records whose delivery the ledger already had finished")),
        attempts(metrics::counters(registry, "tracker_notifier_attempts_total",
                                   "chat.postMessage requests by outcome")),
        retries(metrics::counters(registry, "tracker_notifier_retries_total",
                                  "Requests repeated, by the cause of the failure before them")),
        rate_limited(metrics::counter(registry, "tracker_notifier_rate_limited_total",
                                      "HTTP 429 answers from Slack")),
        in_doubt(metrics::counters(
            registry, "tracker_notifier_in_doubt_total",
            "Requests Slack may have acted on without our knowing (a timeout after "
            "sending, or a crash mid-request); repeating them may post twice")),
        lease_waits(
            metrics::counters(registry, "tracker_notifier_lease_waits_total",
                              "Deliveries this notifier waited for instead of posting: another "
                              "notifier held their lease, or their partition had moved")),
        dead_letters(metrics::counters(registry, "tracker_notifier_dead_letters_total",
                                       "Records sent to the dead-letter topic, by error")),
        pacing_wait(metrics::histograms(
            registry, "tracker_notifier_pacing_wait_seconds",
            "Time a post waited for the rate limits, by the limit that held it")),
        post_latency(metrics::histograms(registry, "tracker_notifier_post_seconds",
                                         "chat.postMessage request latency, by outcome")),
        delivery_latency(
            metrics::histogram(registry, "tracker_notifier_delivery_seconds",
                               "From the outbox record's timestamp to its last part posted",
                               metrics::kEndToEndBuckets)),
        in_flight(metrics::gauge(registry, "tracker_notifier_in_flight",
                                 "chat.postMessage requests in flight")),
        buffered(metrics::gauge(registry, "tracker_notifier_buffered",
                                "Records held in channel queues")),
        channels(metrics::gauge(registry, "tracker_notifier_channels_active",
                                "Channels with messages queued")),
        queue_depth(
            metrics::gauges(registry, "tracker_notifier_channel_queue_depth",
                            "Records queued per channel (channels with none are not listed)")),
        workspace_closed(
            metrics::gauge(registry, "tracker_notifier_workspace_closed",
                           "Workspaces whose chat.postMessage a Retry-After keeps closed")),
        paused(metrics::gauge(registry, "tracker_notifier_consumer_paused",
                              "1 while consumption is paused (buffer full, database or DLQ down)")),
        db_unavailable(metrics::gauge(registry, "tracker_notifier_db_unavailable",
                                      "1 while the delivery ledger cannot be written")),
        lag(metrics::gauges(registry, "tracker_notifier_consumer_lag_messages",
                            "Records of assigned partitions not yet read, per partition")),
        lag_gauges(lag) {}

  prometheus::Counter& consumed;
  prometheus::Counter& posted;
  prometheus::Counter& parts_posted;
  prometheus::Counter& duplicates;
  prometheus::Family<prometheus::Counter>& attempts;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Counter& rate_limited;
  prometheus::Family<prometheus::Counter>& in_doubt;
  prometheus::Family<prometheus::Counter>& lease_waits;
  prometheus::Family<prometheus::Counter>& dead_letters;
  prometheus::Family<prometheus::Histogram>& pacing_wait;
  prometheus::Family<prometheus::Histogram>& post_latency;
  prometheus::Histogram& delivery_latency;
  prometheus::Gauge& in_flight;
  prometheus::Gauge& buffered;
  prometheus::Gauge& channels;
  prometheus::Family<prometheus::Gauge>& queue_depth;
  prometheus::Gauge& workspace_closed;
  prometheus::Gauge& paused;
  prometheus::Gauge& db_unavailable;
  prometheus::Family<prometheus::Gauge>& lag;
  metrics::PartitionGauges lag_gauges;
};

Notifier::Notifier(asio::any_io_executor executor, kafka::Consumer& consumer,
                   kafka::Producer& producer, slack::WebApi& slack, Tokens& tokens, Ledger& ledger,
                   prometheus::Registry& registry, log::Logger& logger, NotifierOptions options)
    : executor_(executor),
      consumer_(consumer),
      producer_(producer),
      slack_(slack),
      tokens_(tokens),
      ledger_(ledger),
      logger_(logger),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      pacer_(options_.pacing),
      rng_(options_.seed),
      stop_(executor),
      gate_(
          [this] {
            if (!consumer_.paused()) consumer_.pause();
            metrics_->paused.Set(1);
            logger_.debug("consumer_paused", {{"buffered", buffered_},
                                              {"database_unavailable", gate_.holds(kDatabase)},
                                              {"dead_letters_failing", gate_.holds(kDeadLetter)}});
          },
          [this] {
            // Once stopping, consumption stays paused: what is fetched now is not worked on.
            if (stop_.requested() || polling_done_ || !consumer_.paused()) return;
            consumer_.resume();
            metrics_->paused.Set(0);
            logger_.debug("consumer_resumed", {{"buffered", buffered_}});
          }),
      dlq_counted_("tracker_notifier_dead_letters_by_reason", "Dead letters by reason", {}),
      // A dead letter's record cannot be acknowledged until the broker has it: it is retried for
      // as long as that takes, bounded by the stop's grace (abandoned then, left unacknowledged).
      dead_letters_(producer, gate_, stop_, dlq_counted_, logger,
                    {.topic = options_.dlq_topic,
                     .failed_by = "notifier",
                     .retry = {.initial = options_.db_retry_initial,
                               .max_delay = options_.db_retry_max,
                               .max_attempts = async::kUnlimitedAttempts,
                               .max_elapsed = async::kUnlimitedTime},
                     .gate_reason = std::string(kDeadLetter)}) {
  gate_.watch(kDatabase, [this](bool held) {
    metrics_->db_unavailable.Set(held ? 1 : 0);
    if (!held) logger_.info("database_available");
  });
}

Notifier::~Notifier() = default;

bool Notifier::ready() const noexcept {
  return !gate_.holds(kDatabase) && dead_letters_.failing() == 0;
}

void Notifier::stop(std::chrono::milliseconds grace) {
  stop_.request(grace);
}

void Notifier::abandon(const char* why) {
  abandon_reason_ = why;
  stop_.abandon();
}

asio::awaitable<void> Notifier::on_abandon() {
  using namespace asio::experimental::awaitable_operators;
  co_await (stop_.wait_abandoned() || ended_.wait());
  if (!stop_.abandoned()) co_return;
  // Retry pauses and sleeps wake through stop_; the workspace lines are woken here.
  for (auto& entry : workspace_turns_) entry.second->turn.notify_all();
  // Posts in flight end now rather than at their request timeout. Their attempts keep no
  // outcome: the partition's next owner marks them interrupted (in doubt) and posts again.
  if (in_flight_ > 0) {
    logger_.warn("posts_cut_off", {{"posts", in_flight_}, {"why", abandon_reason_}});
  }
  slack_.abort();
}

asio::awaitable<bool> Notifier::run() {
  // The pruner is waited for like a channel: run() returns only once nothing uses the ledger.
  channel_tasks_.add();
  asio::co_spawn(executor_, run_pruner(),
                 [this](const std::exception_ptr&) { channel_tasks_.done(); });
  asio::co_spawn(executor_, on_abandon(), asio::detached);
  bool healthy = true;
  while (!stop_.requested()) {
    auto batch = co_await consumer_.poll_batch(500, options_.poll_wait);
    if (!batch) {
      logger_.error("consumer_failed", {{"error", batch.error().message()}});
      healthy = false;
      break;
    }
    assigned_ = consumer_.assignment();
    for (kafka::Message& record : *batch) dispatch(std::move(record));
    limit_buffer();
    update_gauges();
  }
  polling_done_ = true;
  if (!healthy) abandon("consumer_failed");
  co_await channel_tasks_.wait();
  stop_.finish();
  ended_.set();
  update_gauges();
  co_return healthy && !channel_failed_;
}

void Notifier::dispatch(kafka::Message record) {
  metrics_->consumed.Increment();
  offsets_.add(record.partition(), record.offset());
  auto decoded = messages::decode_outbox(record.value());
  // Undecodable records have no channel; they share one queue, which only dead-letters.
  std::string key;
  if (decoded.has_value()) key = decoded->channel;
  auto& slot = channels_[key];
  if (!slot) {
    slot = std::make_unique<ChannelQueue>();
    slot->depth = &metrics_->queue_depth.Add({{"channel", key.empty() ? "(invalid)" : key}});
  }
  ChannelQueue& queue = *slot;
  queue.items.push_back(Item{std::move(record), std::move(decoded)});
  queue.depth->Set(static_cast<double>(queue.items.size()));
  ++buffered_;
  if (!queue.running) {
    queue.running = true;
    channel_tasks_.add();
    asio::co_spawn(executor_, run_channel(key), [this](const std::exception_ptr& error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        // A bug, not an outage: stop the service rather than leave a channel unserved, at
        // once (a grace already running is cut short), and report it failed.
        logger_.error("channel_failed", {{"error", e.what()}});
      }
      channel_failed_ = true;
      channel_tasks_.done();
      stop(0ms);
      abandon("channel_failed");
    });
  }
}

asio::awaitable<void> Notifier::run_channel(std::string key) {
  ChannelQueue& queue = *channels_.at(key);
  while (!queue.items.empty()) {
    if (queue.items.front().decoded.has_error()) {
      // Undecodable records (they share one queue) go to the dead-letter topic together, so
      // that a flood of them drains at the speed of good records.
      if (co_await dead_letter_undecodable(queue) != async::Outcome::done) break;
      continue;
    }
    Item& item = queue.items.front();
    // Anything but done (abandoned, or a bound reached) leaves the record and those behind it
    // unacknowledged, for the partition's next owner.
    if (co_await handle(item) != async::Outcome::done) break;
    finish(item);
    queue.items.pop_front();
    queue.depth->Set(static_cast<double>(queue.items.size()));
    limit_buffer();
  }
  queue.running = false;
  if (queue.items.empty()) {
    metrics_->queue_depth.Remove(queue.depth);
    channels_.erase(key);  // `queue` is gone from here on
  }
  channel_tasks_.done();
}

asio::awaitable<async::Outcome> Notifier::dead_letter_undecodable(ChannelQueue& queue) {
  constexpr std::size_t kMaxLetters = 500;  // a poll's worth
  // The undecodable records at the front of the queue. References to a deque's elements
  // survive records being appended behind them meanwhile.
  std::size_t count = 0;
  while (count < queue.items.size() && count < kMaxLetters &&
         queue.items[count].decoded.has_error()) {
    ++count;
  }
  std::vector<kafka::DeadLetter> letters;
  letters.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Item& item = queue.items[i];
    const messages::DecodeError& error = item.decoded.error();
    letters.push_back({.original = &item.record, .reason = error.reason, .error = error.detail});
  }
  const std::span<const kafka::DeadLetter> all(letters);
  const async::Outcome sent = co_await dead_letters_.send_all(all);
  if (sent != async::Outcome::done) co_return sent;
  for (std::size_t i = 0; i < count; ++i) {
    metrics_->dead_letters.Add({{"error", error_label(letters[i].reason)}}).Increment();
    finish(queue.items.front());
    queue.items.pop_front();
  }
  queue.depth->Set(static_cast<double>(queue.items.size()));
  limit_buffer();
  co_return async::Outcome::done;
}

void Notifier::finish(Item& item) {
  --buffered_;
  const auto next = offsets_.finish(item.record.partition(), item.record.offset());
  if (!next) return;
  const auto ec = consumer_.store_offset(
      kafka::TopicPartition{std::string(item.record.topic()), item.record.partition(), *next});
  if (ec) {
    // The partition was revoked meanwhile; its new owner will see these records again, and the
    // ledger makes that harmless.
    logger_.debug("offset_not_stored",
                  {{"partition", item.record.partition()}, {"error", ec.message()}});
  }
}

asio::awaitable<async::Outcome> Notifier::handle(Item& item) {
  if (item.decoded.has_error()) {
    const messages::DecodeError& error = item.decoded.error();
    co_return co_await dead_letter(item, error.reason, error.detail);
  }
  const auto& message = *item.decoded;
  const async::Outcome outcome = co_await deliver(item, message);
  if (outcome == async::Outcome::refused) {
    // The database refused a ledger step for this delivery's data: it can never be recorded,
    // so retrying would hold the channel for good. Nothing is posted again for it (deliver()
    // stopped there); the dead letter keeps the message and the reason, and the record is
    // acknowledged once the broker has it.
    std::string reason = "ledger_rejected";
    std::string detail = item.refusal;
    co_return co_await give_up(item, message.delivery_id, std::move(reason), std::move(detail));
  }
  if (outcome == async::Outcome::abandoned && item.leased && !gate_.holds(kDatabase)) {
    // Stopping: the lease goes with this notifier, so that the partition's next owner need not
    // wait it out. A post cut off in flight keeps its attempt without an outcome; the next
    // holder marks it interrupted (in doubt), as it would once the lease had run out.
    co_await release_lease(item, message.delivery_id);
  }
  co_return outcome;
}

asio::awaitable<void> Notifier::release_lease(Item& item, const std::string& delivery_id) {
  item.leased = false;
  // One try: an unreleased lease only makes the next holder wait until it runs out.
  auto released = co_await ledger_.release(delivery_id, options_.instance);
  if (!released) logger_.debug("lease_not_released", {{"error", released.error().describe()}});
}

bool Notifier::holds_partition(const kafka::Message& record) const {
  return std::any_of(assigned_.begin(), assigned_.end(), [&](const kafka::TopicPartition& tp) {
    return tp.partition == record.partition() && tp.topic == record.topic();
  });
}

asio::awaitable<Notifier::Leased> Notifier::take_lease(Item& item,
                                                       const messages::OutboxMessage& message) {
  int looks = 0;
  const char* waited_for = nullptr;
  std::optional<Clock::time_point> moved_since;
  for (;;) {
    if (stop_.abandoned()) co_return Leased{};
    std::optional<Clock::duration> lease_left;
    const char* waiting_for = nullptr;
    std::string holder;
    // Deferring to the partition's new owner is bounded by one lease: a channel whose records
    // sit on two partitions (records keyed by channel from before the workspace key, or a DM
    // channel shared across workspaces) could otherwise have two notifiers wait for each other
    // for good. After that, the lease alone keeps the delivery to one notifier at a time.
    const bool partition_moved = !holds_partition(item.record);
    if (!partition_moved) {
      moved_since.reset();
    } else if (!moved_since) {
      moved_since = Clock::now();
    }
    if (partition_moved && Clock::now() - *moved_since < options_.lease.duration()) {
      // A rebalance gave the partition to another member, which reads this record again: it is
      // that member's to post. Spending this workspace's rate on it here would make two
      // notifiers pace one workspace.
      auto state =
          co_await durably("state", item, [&] { return ledger_.state(message.delivery_id); });
      if (!state) co_return Leased{.ended_with = state.error().outcome};
      if (*state != DeliveryState::pending) {
        co_return Leased{.kind = Leased::Kind::finished, .delivery = Claim{.state = *state}};
      }
      waiting_for = "partition_moved";
      // Held from an attempt before the rebalance (now waiting out a backoff or a Retry-After):
      // the new owner would otherwise wait for it to run out.
      if (item.leased) co_await release_lease(item, message.delivery_id);
    } else {
      const Clock::time_point asked_at = Clock::now();
      auto leased = co_await durably("lease", item, [&] {
        return ledger_.lease(message.delivery_id, options_.instance, options_.lease.duration());
      });
      if (!leased) co_return Leased{.ended_with = leased.error().outcome};
      LeaseResult& lease = *leased;
      if (lease.outcome == LeaseOutcome::held) {
        item.leased = true;
        co_return Leased{.kind = Leased::Kind::held,
                         .delivery = std::move(lease.delivery),
                         .taken_at = asked_at};
      }
      if (lease.outcome == LeaseOutcome::finished) {
        co_return Leased{.kind = Leased::Kind::finished, .delivery = std::move(lease.delivery)};
      }
      waiting_for = "held";
      holder = lease.holder;
      lease_left = lease.lease_left;
    }
    if (waiting_for != waited_for) {
      waited_for = waiting_for;
      metrics_->lease_waits.Add({{"reason", waiting_for}}).Increment();
      logger_.debug("delivery_waits", {{"delivery_id", message.delivery_id},
                                       {"reason", waiting_for},
                                       {"holder", holder},
                                       {"partition", item.record.partition()}});
    }
    // Stopping: the record stays unacknowledged for whoever owns its partition next.
    if (stop_.requested()) co_return Leased{};
    const Clock::time_point look_at = Clock::now() + options_.lease.next_look(looks++, lease_left);
    if (!holds_partition(item.record)) {
      // The partition may come back (an eager rebalance revokes everything first): then the
      // record is this notifier's again at once, not at the next look.
      while (!stop_.requested() && !holds_partition(item.record) && Clock::now() < look_at) {
        co_await stop_.sleep_in_grace(
            std::min<Clock::duration>(look_at - Clock::now(), options_.lease.look_initial));
      }
    } else {
      co_await stop_.sleep_in_grace(look_at - Clock::now());
    }
  }
}

template <typename Op>
asio::awaitable<Notifier::Stored<Op>> Notifier::durably(const char* what, Item& item, Op op) {
  // A delivery cannot move on past a ledger step (recording it is what keeps a post from being
  // made twice), so an outage is waited out for as long as it lasts, with the consumer paused
  // and nothing acknowledged: no count or time bound here, the stop's grace bounds it (abandoned
  // then, the record left for the partition's next owner).
  const async::RetryPolicy policy{.initial = options_.db_retry_initial,
                                  .max_delay = options_.db_retry_max,
                                  .max_attempts = async::kUnlimitedAttempts,
                                  .max_elapsed = async::kUnlimitedTime};
  // The outage's first failure is logged as it begins (the gate's watch logs its end).
  const async::RetryHooks<pg::Error> hooks = async::holding<pg::Error>(
      gate_, kDatabase, [&](const pg::Error& error, int attempt, std::chrono::milliseconds) {
        if (attempt > 1 || gate_.count(kDatabase) > 1) return;
        logger_.error("database_unavailable", {{"step", what},
                                               {"error", error.describe()},
                                               {"action", "pausing consumption, retrying"}});
      });
  // Only the request's own data is refused (see the class comment): a fatal error is waited out.
  const auto retryable = [](const pg::Error& error) {
    return pg::classify(error) != pg::Disposition::data;
  };
  auto stored = co_await async::retry(stop_, policy, hooks, std::move(op), retryable);
  if (!stored && stored.error().outcome == async::Outcome::refused) {
    item.refusal = std::string(what) + ": " + stored.error().error.describe();
    logger_.error("ledger_rejected", {{"step", what},
                                      {"error", stored.error().error.describe()},
                                      {"partition", item.record.partition()},
                                      {"offset", item.record.offset()}});
  }
  co_return stored;
}

asio::awaitable<async::Outcome> Notifier::deliver(Item& item,
                                                  const messages::OutboxMessage& message) {
  // With blocks, text is only the notification fallback: one part, cut to size.
  std::vector<std::string> parts =
      message.blocks
          ? std::vector<std::string>{slack::split_message(message.text, options_.part_characters)
                                         .front()}
          : slack::split_message(message.text, options_.part_characters);
  const int part_count = static_cast<int>(parts.size());

  auto claimed = co_await durably("claim", item, [&] {
    return ledger_.claim(message, part_count, item.record.partition(), item.record.offset());
  });
  if (!claimed) co_return claimed.error().outcome;
  const Claim& claim = *claimed;
  const auto already_delivered = [&](DeliveryState state) {
    metrics_->duplicates.Increment();
    logger_.debug("already_delivered",
                  {{"delivery_id", message.delivery_id},
                   {"state", state == DeliveryState::posted ? "posted" : "failed"}});
  };
  if (claim.state != DeliveryState::pending) {
    already_delivered(claim.state);
    co_return async::Outcome::done;
  }

  // Where the delivery stands, as the ledger had it at the last lease: another notifier may
  // have made attempts, or posted parts, while this one did not hold it.
  int part = 0;
  int attempt = 0;
  std::string reply_channel;
  std::string thread;
  std::string last_error;
  const auto catch_up = [&](const Claim& delivery) {
    part = static_cast<int>(delivery.part_ts.size());
    attempt = delivery.attempts;
    reply_channel = delivery.posted_channel.empty() ? message.channel : delivery.posted_channel;
    thread = message.thread_ts;
    if (thread.empty() && !delivery.part_ts.empty()) thread = delivery.part_ts.front();
    if (!delivery.last_error.empty()) last_error = delivery.last_error;
  };
  catch_up(claim);

  // The workspace's token, looked up for every delivery: an uninstall stops the next post.
  auto token = co_await durably("token", item, [&] { return tokens_.token_for(message.team_id); });
  if (!token) co_return token.error().outcome;
  if (token->kind != WorkspaceToken::Kind::token) {
    std::string reason(to_string(token->kind));
    std::string detail = "workspace " + message.team_id +
                         (token->kind == WorkspaceToken::Kind::uninstalled
                              ? " uninstalled the app or revoked its token"
                              : " never installed the app");
    const async::Outcome given_up =
        co_await give_up(item, message.delivery_id, std::move(reason), std::move(detail));
    co_return given_up;
  }
  const config::Secret bot_token = std::move(token->token);
  int failures = 0;
  // Attempts Slack answered 429 here: a 429 says Slack posted nothing, so it does not use up an
  // attempt (a storm of them would otherwise dead-letter messages Slack never saw). They are
  // bounded by the delivery deadline, each after its Retry-After, and in count by
  // kMaxRateLimitedAnswers.
  int rate_limited = 0;
  // From the first lease: time spent waiting for another notifier is not this one's delivery.
  std::optional<Clock::time_point> deadline;
  const auto attempts_used = [&] { return attempt - rate_limited; };
  const auto exhausted = [&] {
    return attempts_used() >= options_.max_attempts || rate_limited >= kMaxRateLimitedAnswers ||
           (deadline && Clock::now() >= *deadline);
  };
  const auto give_up_exhausted = [&]() -> asio::awaitable<async::Outcome> {
    const std::string why =
        attempts_used() >= options_.max_attempts || rate_limited >= kMaxRateLimitedAnswers
            ? "gave up after " + std::to_string(attempt) + " attempts (" +
                  std::to_string(rate_limited) + " answered 429)"
            : "gave up at the delivery deadline";
    // Arguments named before the co_await: GCC 12 destroys some temporaries of a co_await
    // expression twice.
    std::string reason = "retries_exhausted";
    std::string detail = why + "; last error: " + last_error;
    const async::Outcome outcome =
        co_await give_up(item, message.delivery_id, std::move(reason), std::move(detail));
    co_return outcome;
  };

  while (part < part_count) {
    if (stop_.abandoned()) co_return async::Outcome::abandoned;
    // Whether the delivery is exhausted is decided only while holding its lease (below): the
    // attempts and the deadline known here may be stale, and another notifier may be posting it
    // right now (its last attempt in flight, or this one slept through a backoff longer than the
    // lease); giving up here would dead-letter and fail a message that is being posted.
    // Wait for the limits, take the lease, record the attempt, then spend the token just before
    // sending: the database writes' varying latency must not bunch posts up on their way to
    // Slack (which would meet Slack's limit and close the workspace for a second). Another
    // channel may take the token meanwhile; the second wait is then a short one.
    if (!co_await pace(message.team_id, message.channel, false)) {
      co_return async::Outcome::abandoned;
    }
    Leased lease = co_await take_lease(item, message);
    if (lease.kind == Leased::Kind::ended) co_return lease.ended_with;
    if (lease.kind == Leased::Kind::finished) {
      // Finished by another notifier (the partition's new owner, or the old one finishing
      // what it had started) while this one waited.
      already_delivered(lease.delivery.state);
      co_return async::Outcome::done;
    }
    catch_up(lease.delivery);
    if (!deadline) deadline = Clock::now() + options_.delivery_deadline;
    if (lease.delivery.interrupted_attempts > 0) {
      metrics_->in_doubt.Add({{"reason", "interrupted"}})
          .Increment(static_cast<double>(lease.delivery.interrupted_attempts));
      logger_.warn("delivery_interrupted",
                   {{"delivery_id", message.delivery_id},
                    {"attempts", lease.delivery.interrupted_attempts},
                    {"detail",
                     "an earlier run stopped mid-request; Slack may have posted that "
                     "part, which is now posted again"}});
    }
    if (exhausted()) co_return co_await give_up_exhausted();
    ++attempt;
    auto started = co_await durably("attempt_started", item, [&] {
      return ledger_.attempt_started(message.delivery_id, attempt, part);
    });
    if (!started) co_return started.error().outcome;
    if (!co_await pace(message.team_id, message.channel, true)) {
      co_return async::Outcome::abandoned;
    }
    if (!options_.lease.covers_request(lease.taken_at, Clock::now())) {
      // The token came late: the lease must outlast the request, so it is extended first.
      const Clock::time_point asked_at = Clock::now();
      auto renewed = co_await durably("renew", item, [&] {
        return ledger_.renew(message.delivery_id, options_.instance, options_.lease.duration());
      });
      if (!renewed) co_return renewed.error().outcome;
      if (!*renewed || !options_.lease.covers_request(asked_at, Clock::now())) {
        // Lost meanwhile (it had run out and another notifier took it), or the database was
        // too slow to keep it: nothing was sent, and the lease is asked for again. The attempt
        // stays without an outcome and is counted in doubt by the next holder.
        logger_.warn("lease_lost_before_request",
                     {{"delivery_id", message.delivery_id}, {"attempt", attempt}});
        continue;
      }
    }
    slack::PostMessage post;
    post.channel = part == 0 ? message.channel : reply_channel;
    post.text = parts[static_cast<std::size_t>(part)];
    if (part == 0) post.blocks = message.blocks;
    post.thread_ts = thread;
    post.metadata =
        nlohmann::json{{"event_type", "study_tracker_delivery"},
                       {"event_payload", {{"delivery_id", message.delivery_id}, {"part", part}}}};

    ++in_flight_;
    metrics_->in_flight.Set(static_cast<double>(in_flight_));
    const Clock::time_point sent_at = Clock::now();
    slack::PostResult result = co_await slack_.post_message(post, bot_token);
    const double latency = seconds(Clock::now() - sent_at);
    --in_flight_;
    metrics_->in_flight.Set(static_cast<double>(in_flight_));
    // Cut off by the end of the shutdown grace: the attempt stays without an outcome.
    if (stop_.abandoned() && result.outcome != slack::PostOutcome::posted) {
      co_return async::Outcome::abandoned;
    }

    const std::string outcome(outcome_name(result.outcome));
    metrics_->attempts.Add({{"outcome", outcome}}).Increment();
    metrics_->post_latency.Add({{"outcome", outcome}}, latency_buckets()).Observe(latency);
    const AttemptRecord record{
        .attempt = attempt, .part = part, .result = result, .latency_ms = latency * 1000};
    auto recorded = co_await durably("attempt_finished", item, [&] {
      return ledger_.attempt_finished(message.delivery_id, record);
    });
    if (!recorded) {
      if (recorded.error().outcome == async::Outcome::refused &&
          result.outcome == slack::PostOutcome::posted) {
        // Posted but not recorded: the dead letter says so, and nothing here posts it again.
        item.refusal += "; part " + std::to_string(part) + " was posted (ts " + result.ts + ")";
      }
      co_return recorded.error().outcome;
    }

    if (result.outcome == slack::PostOutcome::posted) {
      metrics_->parts_posted.Increment();
      if (part == 0) {
        if (!result.channel.empty()) reply_channel = result.channel;
        if (thread.empty()) thread = result.ts;
      }
      failures = 0;
      ++part;
      continue;
    }
    last_error = result.error;
    if (result.outcome == slack::PostOutcome::permanent) {
      std::string reason = result.error;
      std::string detail = result.detail.empty() ? "Slack answered " + result.error : result.detail;
      const async::Outcome given_up =
          co_await give_up(item, message.delivery_id, std::move(reason), std::move(detail));
      co_return given_up;
    }
    ++failures;
    metrics_->retries.Add({{"cause", error_label(result.error)}}).Increment();
    if (result.in_doubt) metrics_->in_doubt.Add({{"reason", result.error}}).Increment();
    if (result.outcome == slack::PostOutcome::rate_limited) {
      ++rate_limited;
      metrics_->rate_limited.Increment();
      const auto told =
          result.retry_after.value_or(http::backoff_delay(options_.backoff, failures, rng_));
      std::uniform_int_distribution<long long> jitter(0, options_.retry_after_jitter.count());
      const auto wait =
          std::min(told, options_.retry_after_max) + std::chrono::milliseconds{jitter(rng_)};
      pacer_.close_until(message.team_id, Clock::now() + wait);
      logger_.warn("slack_rate_limited", {{"team_id", message.team_id},
                                          {"channel", message.channel},
                                          {"retry_after_ms", told.count()},
                                          {"waiting_ms", wait.count()},
                                          {"attempt", attempt}});
    } else {
      const auto wait = http::backoff_delay(options_.backoff, failures, rng_);
      logger_.warn("slack_post_failed", {{"channel", message.channel},
                                         {"delivery_id", message.delivery_id},
                                         {"error", result.error},
                                         {"detail", result.detail},
                                         {"http_status", result.http_status},
                                         {"attempt", attempt},
                                         {"retry_in_ms", wait.count()}});
      co_await stop_.sleep_in_grace(wait);
    }
  }
  metrics_->posted.Increment();
  if (auto at = item.record.timestamp()) {
    metrics_->delivery_latency.Observe(std::max(
        0.0, std::chrono::duration<double>(std::chrono::system_clock::now() - *at).count()));
  }
  co_return async::Outcome::done;
}

asio::awaitable<async::Outcome> Notifier::give_up(Item& item, const std::string& delivery_id,
                                                  std::string reason, std::string detail) {
  // Dead-lettered first, then marked failed: a crash between the two posts nothing twice and
  // at worst dead-letters twice; the other order could lose the dead letter.
  const async::Outcome sent = co_await dead_letter(item, reason, detail);
  if (sent != async::Outcome::done) co_return sent;
  const std::string error = reason + ": " + detail;
  auto marked =
      co_await durably("failed", item, [&] { return ledger_.failed(delivery_id, error); });
  // Refused: the ledger cannot record the failure, but the dead letter holds the message and
  // the reason, so the record is acknowledged; a redelivery would find the delivery pending.
  if (!marked && marked.error().outcome != async::Outcome::refused) {
    co_return marked.error().outcome;
  }
  co_return async::Outcome::done;
}

asio::awaitable<async::Outcome> Notifier::dead_letter(const Item& item, const std::string& reason,
                                                      const std::string& detail) {
  // Named before the co_await: GCC 12 destroys some temporaries of a co_await expression twice.
  std::string why = reason;
  std::string what = detail;
  const async::Outcome sent =
      co_await dead_letters_.send(item.record, std::move(why), std::move(what));
  if (sent == async::Outcome::done) {
    metrics_->dead_letters.Add({{"error", error_label(reason)}}).Increment();
  }
  co_return sent;
}

asio::awaitable<bool> Notifier::pace(const std::string& team, const std::string& channel,
                                     bool take) {
  const Clock::time_point started = Clock::now();
  PaceLimit held_by = PaceLimit::none;
  // Channels held by their workspace's shared limits (its rate, a Retry-After) take their turns
  // in the order they arrived, so that every channel progresses alike and none is left to finish
  // alone at its own channel's rate. `turns` is this workspace's line while this post stands in
  // it; the line goes when its last post leaves.
  WorkspaceTurns* turns = nullptr;
  std::uint64_t ticket = 0;
  const auto leave_queue = [&] {
    if (turns == nullptr) return;
    std::erase(turns->queue, ticket);
    turns->turn.notify_all();
    if (turns->queue.empty()) workspace_turns_.erase(team);
    turns = nullptr;
  };
  for (;;) {
    if (stop_.abandoned()) {
      leave_queue();
      co_return false;
    }
    const Clock::time_point now = Clock::now();
    const PaceDecision decision = pacer_.check(team, channel, now);
    metrics_->workspace_closed.Set(static_cast<double>(pacer_.closed_workspaces(now)));
    const bool my_turn = !take || turns == nullptr || turns->queue.front() == ticket;
    const auto line = workspace_turns_.find(team);
    const bool others_first =
        take && turns == nullptr && line != workspace_turns_.end() && !line->second->queue.empty();
    if (decision.wait <= Clock::duration::zero() && my_turn && !others_first) {
      if (take) pacer_.take(team, channel, now);
      leave_queue();
      if (take && held_by != PaceLimit::none) {
        const char* label = held_by == PaceLimit::channel     ? "channel"
                            : held_by == PaceLimit::workspace ? "workspace"
                                                              : "retry_after";
        metrics_->pacing_wait.Add({{"limit", label}}, wait_buckets())
            .Observe(seconds(now - started));
      }
      co_return true;
    }
    const bool shared_limit = decision.limit == PaceLimit::workspace ||
                              decision.limit == PaceLimit::retry_after || others_first;
    if (take && turns == nullptr && shared_limit) {
      auto& slot = workspace_turns_[team];
      if (!slot) slot = std::make_unique<WorkspaceTurns>();
      turns = slot.get();
      ticket = next_ticket_++;
      turns->queue.push_back(ticket);
    }
    if (decision.limit != PaceLimit::none) held_by = decision.limit;
    if (turns != nullptr && turns->queue.front() != ticket) {
      // Not this channel's turn: wait for the one ahead to go.
      co_await turns->turn.wait();
    } else {
      co_await stop_.sleep_in_grace(decision.wait);
    }
  }
}

asio::awaitable<void> Notifier::run_pruner() {
  if (options_.prune_interval <= 0ms) co_return;
  while (co_await stop_.sleep(options_.prune_interval)) {
    std::int64_t total = 0;
    for (;;) {
      auto deleted = co_await ledger_.prune(options_.retention, 10'000);
      if (!deleted) {
        logger_.warn("prune_failed", {{"error", deleted.error().describe()}});
        break;
      }
      total += *deleted;
      if (*deleted < 10'000 || stop_.requested()) break;
    }
    if (total > 0) logger_.info("deliveries_pruned", {{"deleted", total}});
  }
}

void Notifier::limit_buffer() {
  if (buffered_ >= options_.max_buffered) {
    if (!gate_.holds(kBuffer)) gate_.hold(kBuffer);
  } else if (buffered_ <= options_.max_buffered / 2) {
    gate_.release(kBuffer);
  }
  metrics_->buffered.Set(static_cast<double>(buffered_));
}

void Notifier::update_gauges() {
  const Clock::time_point now = Clock::now();
  if (now - last_gauges_ < 1s) return;
  last_gauges_ = now;
  metrics_->lag_gauges.update(consumer_.lag());
  metrics_->channels.Set(static_cast<double>(channels_.size()));
  metrics_->buffered.Set(static_cast<double>(buffered_));
  metrics_->workspace_closed.Set(static_cast<double>(pacer_.closed_workspaces(now)));
}

}  // namespace tracker::notifier
