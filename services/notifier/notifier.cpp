#include "notifier.hpp"

#include <algorithm>
#include <optional>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/kafka/dead_letter.hpp>
#include <tracker/metrics/partition_gauges.hpp>
#include <tracker/slack/text_split.hpp>

namespace tracker::notifier {

using namespace std::chrono_literals;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

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
};

struct Notifier::ChannelQueue {
  std::deque<Item> items;
  bool running = false;
  prometheus::Gauge* depth = nullptr;
};

// A workspace's channels held by its shared limits, by ticket in arrival order; `turn` is
// cancelled (waking them all) whenever the front one leaves.
struct Notifier::WorkspaceTurns {
  explicit WorkspaceTurns(const asio::any_io_executor& executor)
      : turn(executor, Clock::time_point::max()) {}
  std::deque<std::uint64_t> queue;
  asio::steady_timer turn;
};

struct Notifier::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : consumed(prometheus::BuildCounter()
                     .Name("tracker_notifier_consumed_total")
                     .Help("slack-outbox records consumed")
                     .Register(registry)
                     .Add({})),
        posted(prometheus::BuildCounter()
                   .Name("tracker_notifier_posted_total")
                   .Help("Outbox messages delivered to Slack (every part posted)")
                   .Register(registry)
                   .Add({})),
        parts_posted(prometheus::BuildCounter()
                         .Name("tracker_notifier_parts_posted_total")
                         .Help("Slack messages posted (a long message is posted in parts)")
                         .Register(registry)
                         .Add({})),
        duplicates(prometheus::BuildCounter()
                       .Name("tracker_notifier_duplicates_total")
                       .Help("Records whose delivery the ledger already had finished")
                       .Register(registry)
                       .Add({})),
        attempts(prometheus::BuildCounter()
                     .Name("tracker_notifier_attempts_total")
                     .Help("chat.postMessage requests by outcome")
                     .Register(registry)),
        retries(prometheus::BuildCounter()
                    .Name("tracker_notifier_retries_total")
                    .Help("Requests repeated, by the cause of the failure before them")
                    .Register(registry)),
        rate_limited(prometheus::BuildCounter()
                         .Name("tracker_notifier_rate_limited_total")
                         .Help("HTTP 429 answers from Slack")
                         .Register(registry)
                         .Add({})),
        in_doubt(prometheus::BuildCounter()
                     .Name("tracker_notifier_in_doubt_total")
                     .Help("Requests Slack may have acted on without our knowing (a timeout after "
                           "sending, or a crash mid-request); repeating them may post twice")
                     .Register(registry)),
        lease_waits(prometheus::BuildCounter()
                        .Name("tracker_notifier_lease_waits_total")
                        .Help("Deliveries this notifier waited for instead of posting: another "
                              "notifier held their lease, or their partition had moved")
                        .Register(registry)),
        dead_letters(prometheus::BuildCounter()
                         .Name("tracker_notifier_dead_letters_total")
                         .Help("Records sent to the dead-letter topic, by error")
                         .Register(registry)),
        pacing_wait(prometheus::BuildHistogram()
                        .Name("tracker_notifier_pacing_wait_seconds")
                        .Help("Time a post waited for the rate limits, by the limit that held it")
                        .Register(registry)),
        post_latency(prometheus::BuildHistogram()
                         .Name("tracker_notifier_post_seconds")
                         .Help("chat.postMessage request latency, by outcome")
                         .Register(registry)),
        delivery_latency(
            prometheus::BuildHistogram()
                .Name("tracker_notifier_delivery_seconds")
                .Help("From the outbox record's timestamp to its last part posted")
                .Register(registry)
                .Add({}, prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                                 10, 30, 60, 300, 900})),
        in_flight(prometheus::BuildGauge()
                      .Name("tracker_notifier_in_flight")
                      .Help("chat.postMessage requests in flight")
                      .Register(registry)
                      .Add({})),
        buffered(prometheus::BuildGauge()
                     .Name("tracker_notifier_buffered")
                     .Help("Records held in channel queues")
                     .Register(registry)
                     .Add({})),
        channels(prometheus::BuildGauge()
                     .Name("tracker_notifier_channels_active")
                     .Help("Channels with messages queued")
                     .Register(registry)
                     .Add({})),
        queue_depth(prometheus::BuildGauge()
                        .Name("tracker_notifier_channel_queue_depth")
                        .Help("Records queued per channel (channels with none are not listed)")
                        .Register(registry)),
        workspace_closed(prometheus::BuildGauge()
                             .Name("tracker_notifier_workspace_closed")
                             .Help("Workspaces whose chat.postMessage a Retry-After keeps closed")
                             .Register(registry)
                             .Add({})),
        paused(prometheus::BuildGauge()
                   .Name("tracker_notifier_consumer_paused")
                   .Help("1 while consumption is paused (buffer full, database or DLQ down)")
                   .Register(registry)
                   .Add({})),
        db_unavailable(prometheus::BuildGauge()
                           .Name("tracker_notifier_db_unavailable")
                           .Help("1 while the delivery ledger cannot be written")
                           .Register(registry)
                           .Add({})),
        lag(prometheus::BuildGauge()
                .Name("tracker_notifier_consumer_lag_messages")
                .Help("Records of assigned partitions not yet read, per partition")
                .Register(registry)),
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
                   kafka::Producer& producer, slack::WebApi& slack, DeliveryLedger& ledger,
                   prometheus::Registry& registry, log::Logger& logger, NotifierOptions options)
    : executor_(executor),
      consumer_(consumer),
      producer_(producer),
      slack_(slack),
      ledger_(ledger),
      logger_(logger),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      pacer_(options_.pacing),
      rng_(options_.seed),
      channels_done_(executor, Clock::time_point::max()),
      grace_timer_(executor),
      prune_timer_(executor) {}

Notifier::~Notifier() = default;

bool Notifier::ready() const noexcept {
  return db_failing_ == 0 && dlq_failing_ == 0;
}

void Notifier::stop(std::chrono::milliseconds grace) {
  if (stopping_) return;
  stopping_ = true;
  prune_timer_.cancel();
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    abandon("shutdown_grace_over");
  });
}

void Notifier::abandon(const char* why) {
  abandon_ = true;
  for (auto* timer : sleepers_) timer->cancel();
  for (auto& [team, turns] : workspace_turns_) turns->turn.cancel();
  // Posts in flight end now rather than at their request timeout. Their attempts keep no
  // outcome: the partition's next owner marks them interrupted (in doubt) and posts again.
  if (in_flight_ > 0) logger_.warn("posts_cut_off", {{"posts", in_flight_}, {"why", why}});
  slack_.abort();
}

asio::awaitable<bool> Notifier::run() {
  asio::co_spawn(executor_, run_pruner(), asio::detached);
  bool healthy = true;
  while (!stopping_) {
    auto batch = co_await consumer_.poll_batch(500, options_.poll_wait);
    if (!batch) {
      logger_.error("consumer_failed", {{"error", batch.error().message()}});
      healthy = false;
      break;
    }
    assigned_ = consumer_.assignment();
    for (kafka::Message& record : *batch) dispatch(std::move(record));
    update_pause();
    update_gauges();
  }
  polling_done_ = true;
  if (!healthy) abandon("consumer_failed");
  while (running_channels_ > 0) {
    co_await channels_done_.async_wait(as_tuple_awaitable);
  }
  grace_timer_.cancel();
  update_gauges();
  co_return healthy;
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
    ++running_channels_;
    asio::co_spawn(executor_, run_channel(key), [this](const std::exception_ptr& error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        // A bug, not an outage: stop the service rather than leave a channel unserved.
        logger_.error("channel_failed", {{"error", e.what()}});
      }
      abandon_ = true;
      stop(0ms);
    });
  }
}

asio::awaitable<void> Notifier::run_channel(std::string key) {
  ChannelQueue& queue = *channels_.at(key);
  while (!queue.items.empty()) {
    Item& item = queue.items.front();
    if (co_await handle(item) == Done::abandoned) break;
    finish(item);
    queue.items.pop_front();
    queue.depth->Set(static_cast<double>(queue.items.size()));
    update_pause();
  }
  queue.running = false;
  if (queue.items.empty()) {
    metrics_->queue_depth.Remove(queue.depth);
    channels_.erase(key);  // `queue` is gone from here on
  }
  if (--running_channels_ == 0) channels_done_.cancel();
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

asio::awaitable<Notifier::Done> Notifier::handle(Item& item) {
  if (item.decoded.has_error()) {
    const messages::DecodeError error = item.decoded.error();
    const bool sent = co_await dead_letter(item, error.reason, error.detail);
    co_return sent ? Done::finished : Done::abandoned;
  }
  const auto& message = *item.decoded;
  const Done done = co_await deliver(item, message);
  if (done == Done::abandoned && item.leased && db_failing_ == 0) {
    // Stopping: the lease goes with this notifier, so that the partition's next owner need not
    // wait it out. A post cut off in flight keeps its attempt without an outcome; the next
    // holder marks it interrupted (in doubt), as it would once the lease had run out.
    co_await release_lease(item, message.delivery_id);
  }
  co_return done;
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
    if (abandon_) co_return Leased{};
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
      DeliveryState state = DeliveryState::pending;
      if (!co_await durably("state", [&]() -> asio::awaitable<pg::Result<void>> {
            auto result = co_await ledger_.state(message.delivery_id);
            if (!result) co_return result.error();
            state = *result;
            co_return pg::Result<void>{};
          })) {
        co_return Leased{};
      }
      if (state != DeliveryState::pending) {
        co_return Leased{.kind = Leased::Kind::finished, .delivery = Claim{.state = state}};
      }
      waiting_for = "partition_moved";
      // Held from an attempt before the rebalance (now waiting out a backoff or a Retry-After):
      // the new owner would otherwise wait for it to run out.
      if (item.leased) co_await release_lease(item, message.delivery_id);
    } else {
      const Clock::time_point asked_at = Clock::now();
      LeaseResult lease;
      if (!co_await durably("lease", [&]() -> asio::awaitable<pg::Result<void>> {
            auto result = co_await ledger_.lease(message.delivery_id, options_.instance,
                                                 options_.lease.duration());
            if (!result) co_return result.error();
            lease = std::move(*result);
            co_return pg::Result<void>{};
          })) {
        co_return Leased{};
      }
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
    if (stopping_) co_return Leased{};
    const Clock::time_point look_at = Clock::now() + options_.lease.next_look(looks++, lease_left);
    if (!holds_partition(item.record)) {
      // The partition may come back (an eager rebalance revokes everything first): then the
      // record is this notifier's again at once, not at the next look.
      while (!abandon_ && !stopping_ && !holds_partition(item.record) && Clock::now() < look_at) {
        co_await sleep(
            std::min<Clock::duration>(look_at - Clock::now(), options_.lease.look_initial));
      }
    } else {
      co_await sleep(look_at - Clock::now());
    }
  }
}

template <typename Op>
asio::awaitable<bool> Notifier::durably(const char* what, Op op) {
  std::chrono::milliseconds backoff = options_.db_retry_initial;
  bool failing = false;
  for (;;) {
    auto result = co_await op();
    if (result) {
      if (failing && --db_failing_ == 0) {
        logger_.info("database_available");
        update_pause();
      }
      co_return true;
    }
    if (!failing) {
      failing = true;
      if (db_failing_++ == 0) {
        logger_.error("database_unavailable", {{"step", what},
                                               {"error", result.error().describe()},
                                               {"action", "pausing consumption, retrying"}});
      }
      update_pause();
    }
    co_await sleep(backoff);
    if (abandon_) {
      if (--db_failing_ == 0) update_pause();
      co_return false;
    }
    backoff = std::min(backoff * 2, options_.db_retry_max);
  }
}

asio::awaitable<Notifier::Done> Notifier::deliver(Item& item,
                                                  const messages::OutboxMessage& message) {
  // With blocks, text is only the notification fallback: one part, cut to size.
  std::vector<std::string> parts =
      message.blocks
          ? std::vector<std::string>{slack::split_message(message.text, options_.part_characters)
                                         .front()}
          : slack::split_message(message.text, options_.part_characters);
  const int part_count = static_cast<int>(parts.size());

  Claim claim;
  const bool claimed = co_await durably("claim", [&]() -> asio::awaitable<pg::Result<void>> {
    auto result =
        co_await ledger_.claim(message, part_count, item.record.partition(), item.record.offset());
    if (!result) co_return result.error();
    claim = std::move(*result);
    co_return pg::Result<void>{};
  });
  if (!claimed) co_return Done::abandoned;
  const auto already_delivered = [&](DeliveryState state) {
    metrics_->duplicates.Increment();
    logger_.debug("already_delivered",
                  {{"delivery_id", message.delivery_id},
                   {"state", state == DeliveryState::posted ? "posted" : "failed"}});
  };
  if (claim.state != DeliveryState::pending) {
    already_delivered(claim.state);
    co_return Done::finished;
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
  int failures = 0;
  // From the first lease: time spent waiting for another notifier is not this one's delivery.
  std::optional<Clock::time_point> deadline;
  const auto exhausted = [&] {
    return attempt >= options_.max_attempts || (deadline && Clock::now() >= *deadline);
  };
  const auto give_up_exhausted = [&]() -> asio::awaitable<Done> {
    const std::string why = attempt >= options_.max_attempts
                                ? "gave up after " + std::to_string(attempt) + " attempts"
                                : "gave up at the delivery deadline";
    // Arguments named before the co_await: GCC 12 destroys some temporaries of a co_await
    // expression twice.
    std::string reason = "retries_exhausted";
    std::string detail = why + "; last error: " + last_error;
    const Done done =
        co_await give_up(item, message.delivery_id, std::move(reason), std::move(detail));
    co_return done;
  };

  while (part < part_count) {
    if (abandon_) co_return Done::abandoned;
    // Whether the delivery is exhausted is decided only while holding its lease (below): the
    // attempts and the deadline known here may be stale, and another notifier may be posting it
    // right now (its last attempt in flight, or this one slept through a backoff longer than the
    // lease); giving up here would dead-letter and fail a message that is being posted.
    // Wait for the limits, take the lease, record the attempt, then spend the token just before
    // sending: the database writes' varying latency must not bunch posts up on their way to
    // Slack (which would meet Slack's limit and close the workspace for a second). Another
    // channel may take the token meanwhile; the second wait is then a short one.
    if (!co_await pace(message.team_id, message.channel, false)) co_return Done::abandoned;
    Leased lease = co_await take_lease(item, message);
    if (lease.kind == Leased::Kind::abandoned) co_return Done::abandoned;
    if (lease.kind == Leased::Kind::finished) {
      // Finished by another notifier (the partition's new owner, or the old one finishing
      // what it had started) while this one waited.
      already_delivered(lease.delivery.state);
      co_return Done::finished;
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
    if (!co_await durably("attempt_started", [&] {
          return ledger_.attempt_started(message.delivery_id, attempt, part);
        })) {
      co_return Done::abandoned;
    }
    if (!co_await pace(message.team_id, message.channel, true)) co_return Done::abandoned;
    if (!options_.lease.covers_request(lease.taken_at, Clock::now())) {
      // The token came late: the lease must outlast the request, so it is extended first.
      const Clock::time_point asked_at = Clock::now();
      bool renewed = false;
      if (!co_await durably("renew", [&]() -> asio::awaitable<pg::Result<void>> {
            auto result = co_await ledger_.renew(message.delivery_id, options_.instance,
                                                 options_.lease.duration());
            if (!result) co_return result.error();
            renewed = *result;
            co_return pg::Result<void>{};
          })) {
        co_return Done::abandoned;
      }
      if (!renewed || !options_.lease.covers_request(asked_at, Clock::now())) {
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
    slack::PostResult result = co_await slack_.post_message(post);
    const double latency = seconds(Clock::now() - sent_at);
    --in_flight_;
    metrics_->in_flight.Set(static_cast<double>(in_flight_));
    // Cut off by the end of the shutdown grace: the attempt stays without an outcome.
    if (abandon_ && result.outcome != slack::PostOutcome::posted) co_return Done::abandoned;

    const std::string outcome(outcome_name(result.outcome));
    metrics_->attempts.Add({{"outcome", outcome}}).Increment();
    metrics_->post_latency.Add({{"outcome", outcome}}, latency_buckets()).Observe(latency);
    const AttemptRecord record{
        .attempt = attempt, .part = part, .result = result, .latency_ms = latency * 1000};
    if (!co_await durably("attempt_finished",
                          [&] { return ledger_.attempt_finished(message.delivery_id, record); })) {
      co_return Done::abandoned;
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
      const Done done =
          co_await give_up(item, message.delivery_id, std::move(reason), std::move(detail));
      co_return done;
    }
    ++failures;
    metrics_->retries.Add({{"cause", error_label(result.error)}}).Increment();
    if (result.in_doubt) metrics_->in_doubt.Add({{"reason", result.error}}).Increment();
    if (result.outcome == slack::PostOutcome::rate_limited) {
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
      co_await sleep(wait);
    }
  }
  metrics_->posted.Increment();
  if (auto at = item.record.timestamp()) {
    metrics_->delivery_latency.Observe(std::max(
        0.0, std::chrono::duration<double>(std::chrono::system_clock::now() - *at).count()));
  }
  co_return Done::finished;
}

asio::awaitable<Notifier::Done> Notifier::give_up(Item& item, const std::string& delivery_id,
                                                  std::string reason, std::string detail) {
  // Dead-lettered first, then marked failed: a crash between the two posts nothing twice and
  // at worst dead-letters twice; the other order could lose the dead letter.
  if (!co_await dead_letter(item, reason, detail)) co_return Done::abandoned;
  const std::string error = reason + ": " + detail;
  if (!co_await durably("failed", [&] { return ledger_.failed(delivery_id, error); })) {
    co_return Done::abandoned;
  }
  co_return Done::finished;
}

asio::awaitable<bool> Notifier::dead_letter(const Item& item, const std::string& reason,
                                            const std::string& detail) {
  const kafka::Message& original = item.record;
  const kafka::OutgoingMessage message =
      kafka::dead_letter_of(original, options_.dlq_topic, reason, detail, "notifier");
  std::chrono::milliseconds backoff = options_.db_retry_initial;
  bool failing = false;
  for (;;) {
    kafka::OutgoingMessage attempt = message;
    auto [ec, report] = co_await producer_.async_send(std::move(attempt), as_tuple_awaitable);
    if (!ec) {
      if (failing && --dlq_failing_ == 0) update_pause();
      metrics_->dead_letters.Add({{"error", error_label(reason)}}).Increment();
      logger_.warn("dead_lettered", {{"reason", reason},
                                     {"error", detail},
                                     {"partition", original.partition()},
                                     {"offset", original.offset()},
                                     {"dlq_partition", report.partition},
                                     {"dlq_offset", report.offset}});
      co_return true;
    }
    logger_.warn("dead_letter_failed", {{"error", ec.message()}, {"retry_in_ms", backoff.count()}});
    if (!failing) {
      failing = true;
      ++dlq_failing_;
      update_pause();
    }
    co_await sleep(backoff);
    if (abandon_) break;
    backoff = std::min(backoff * 2, options_.db_retry_max);
  }
  if (--dlq_failing_ == 0) update_pause();
  co_return false;
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
    turns->turn.cancel();
    if (turns->queue.empty()) workspace_turns_.erase(team);
    turns = nullptr;
  };
  for (;;) {
    if (abandon_) {
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
      if (!slot) slot = std::make_unique<WorkspaceTurns>(executor_);
      turns = slot.get();
      ticket = next_ticket_++;
      turns->queue.push_back(ticket);
    }
    if (decision.limit != PaceLimit::none) held_by = decision.limit;
    if (turns != nullptr && turns->queue.front() != ticket) {
      // Not this channel's turn: wait for the one ahead to go.
      co_await turns->turn.async_wait(as_tuple_awaitable);
    } else {
      co_await sleep(decision.wait);
    }
  }
}

asio::awaitable<void> Notifier::sleep(Clock::duration duration) {
  asio::steady_timer timer(executor_, duration);
  sleepers_.insert(&timer);
  co_await timer.async_wait(as_tuple_awaitable);
  sleepers_.erase(&timer);
}

asio::awaitable<void> Notifier::run_pruner() {
  if (options_.prune_interval <= 0ms) co_return;
  while (!stopping_) {
    prune_timer_.expires_after(options_.prune_interval);
    co_await prune_timer_.async_wait(as_tuple_awaitable);
    if (stopping_) break;
    std::int64_t total = 0;
    for (;;) {
      auto deleted = co_await ledger_.prune(options_.retention, 10'000);
      if (!deleted) {
        logger_.warn("prune_failed", {{"error", deleted.error().describe()}});
        break;
      }
      total += *deleted;
      if (*deleted < 10'000 || stopping_) break;
    }
    if (total > 0) logger_.info("deliveries_pruned", {{"deleted", total}});
  }
}

void Notifier::update_pause() {
  const bool must_pause = buffered_ >= options_.max_buffered || db_failing_ > 0 || dlq_failing_ > 0;
  const bool may_resume =
      !must_pause && buffered_ <= options_.max_buffered / 2 && !stopping_ && !polling_done_;
  if (must_pause && !consumer_.paused()) {
    consumer_.pause();
    logger_.debug("consumer_paused", {{"buffered", buffered_},
                                      {"database_unavailable", db_failing_ > 0},
                                      {"dead_letters_failing", dlq_failing_ > 0}});
  } else if (may_resume && consumer_.paused()) {
    consumer_.resume();
    logger_.debug("consumer_resumed", {{"buffered", buffered_}});
  }
  metrics_->paused.Set(consumer_.paused() ? 1 : 0);
  metrics_->db_unavailable.Set(db_failing_ > 0 ? 1 : 0);
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
