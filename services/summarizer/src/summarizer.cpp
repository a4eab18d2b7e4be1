#include <tracker/summarizer/summarizer.hpp>

#include <algorithm>
#include <map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <tracker/llm/prompt.hpp>
#include <tracker/messages/outbox.hpp>
#include <tracker/metrics/declare.hpp>
#include <tracker/metrics/partition_gauges.hpp>

#include <tracker/summarizer/offline.hpp>

namespace tracker::summarizer {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {
constexpr std::string_view kQueue = "queue";
constexpr std::string_view kDatabase = "database";
constexpr std::string_view kCircuit = "circuit";
constexpr std::string_view kBatch = "batch";
constexpr std::string_view kDeadLetter = "dead_letter";

// Holds `reason` once while `on`, releases it once it is not.
void hold_while(async::PauseGate& gate, std::string_view reason, bool on) {
  if (on && !gate.holds(reason)) gate.hold(reason);
  if (!on) gate.release(reason);
}
}  // namespace

struct Summarizer::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : consumed(metrics::counter(registry, "tracker_summarizer_consumed_total",
                                  "summary-requests records consumed")),
        jobs(metrics::counters(
            registry, "tracker_summarizer_jobs_total",
            "Records handled, by outcome: done, failed, duplicate (already done or "
            "failed), republished (summary stored before, outbox published again), "
            "deferred (a transient failure: left for the scheduler to publish again), "
            "batched, dead_letter")),
        dead_letters(metrics::counters(registry, "tracker_summarizer_dead_letters_total",
                                       "Records sent to the dead-letter topic, by reason")),
        logs_trimmed(metrics::counter(registry, "tracker_summarizer_prompt_logs_trimmed_total",
                                      "Study logs left out of prompts to fit the token budget")),
        job_seconds(
            metrics::histogram(registry, "tracker_summarizer_job_seconds",
                               "From the request's requested_at to its outbox message published",
                               metrics::kEndToEndBuckets)),
        in_flight(metrics::gauge(registry, "tracker_summarizer_in_flight", "Jobs being worked on")),
        queued(metrics::gauge(registry, "tracker_summarizer_queued",
                              "Records fetched and waiting for a free job slot")),
        paused(metrics::gauge(
            registry, "tracker_summarizer_consumer_paused",
            "1 while consumption is paused (queue full, database down, circuit open)")),
        db_unavailable(metrics::gauge(registry, "tracker_summarizer_db_unavailable",
                                      "1 while a database step is failing and being retried")),
        lag(metrics::gauges(registry, "tracker_summarizer_consumer_lag_messages",
                            "Records of assigned partitions not yet read, per partition")),
        lag_gauges(lag) {}

  prometheus::Counter& consumed;
  prometheus::Family<prometheus::Counter>& jobs;
  prometheus::Family<prometheus::Counter>& dead_letters;
  prometheus::Counter& logs_trimmed;
  prometheus::Histogram& job_seconds;
  prometheus::Gauge& in_flight;
  prometheus::Gauge& queued;
  prometheus::Gauge& paused;
  prometheus::Gauge& db_unavailable;
  prometheus::Family<prometheus::Gauge>& lag;
  metrics::PartitionGauges lag_gauges;
};

Summarizer::Summarizer(asio::any_io_executor executor, kafka::Consumer& consumer,
                       kafka::Producer& producer, Store& store, llm::ChatClient* chat,
                       llm::BatchApi* batches, prometheus::Registry& registry, log::Logger& logger,
                       SummarizerOptions options)
    : executor_(executor),
      consumer_(consumer),
      producer_(producer),
      store_(store),
      chat_(chat),
      batches_(batches),
      logger_(logger),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      stop_(executor),
      gate_(
          [this] {
            if (!consumer_.paused()) consumer_.pause();
            metrics_->paused.Set(1);
            logger_.debug("consumer_paused", {{"queued", queue_.size()},
                                              {"database_unavailable", gate_.holds(kDatabase)},
                                              {"circuit_open", gate_.holds(kCircuit)}});
          },
          [this] {
            // Once stopping, consumption stays paused: what is fetched now is not worked on.
            if (stop_.requested() || !consumer_.paused()) return;
            consumer_.resume();
            metrics_->paused.Set(0);
            logger_.debug("consumer_resumed", {{"queued", queue_.size()}});
          }),
      // A record that cannot be a request is acknowledged only once its dead letter is: the send
      // is retried for as long as that takes, bounded by the stop's grace (abandoned then, the
      // record left unacknowledged for the partition's next owner).
      dead_letters_(producer, gate_, stop_, metrics_->dead_letters, logger,
                    {.topic = options_.dlq_topic,
                     .failed_by = "summarizer",
                     .retry = {.initial = 250ms,
                               .max_delay = options_.db_retry_max,
                               .max_attempts = async::kUnlimitedAttempts,
                               .max_elapsed = async::kUnlimitedTime},
                     .gate_reason = std::string(kDeadLetter)}) {
  gate_.watch(kDatabase, [this](bool held) { metrics_->db_unavailable.Set(held ? 1 : 0); });
}

Summarizer::~Summarizer() = default;

bool Summarizer::ready() const noexcept {
  return !gate_.holds(kDatabase);
}

void Summarizer::stop(std::chrono::milliseconds grace) {
  stop_.request(grace);
  work_ready_.notify_all();
}

asio::awaitable<void> Summarizer::on_abandon() {
  using namespace asio::experimental::awaitable_operators;
  co_await (stop_.wait_abandoned() || ended_.wait());
  if (!stop_.abandoned()) co_return;  // everything finished first
  if (in_flight_ > 0) logger_.warn("shutdown_grace_over", {{"abandoned_jobs", in_flight_}});
  // Retry pauses wake through stop_; a model call in progress ends here.
  if (chat_) chat_->cancel();
}

void Summarizer::update_gauges() {
  metrics_->in_flight.Set(static_cast<double>(in_flight_));
  metrics_->queued.Set(static_cast<double>(queue_.size()));
  // The lag reads the consumer's offsets: at most once a second.
  const Clock::time_point now = Clock::now();
  if (now - last_lag_update_ < 1s) return;
  last_lag_update_ = now;
  metrics_->lag_gauges.update(consumer_.lag());
}

void Summarizer::hold_for_limits() {
  const bool breaker_open = chat_ && chat_->breaker_state() == llm::BreakerState::open;
  hold_while(gate_, kCircuit, breaker_open);
  hold_while(gate_, kBatch, pending_.size() >= options_.batch_max_jobs);
  // From max_queued records until half of that.
  if (queue_.size() >= options_.max_queued) hold_while(gate_, kQueue, true);
  if (queue_.size() <= options_.max_queued / 2) hold_while(gate_, kQueue, false);
  metrics_->paused.Set(consumer_.paused() ? 1 : 0);
}

asio::awaitable<bool> Summarizer::run() {
  asio::co_spawn(executor_, on_abandon(), asio::detached);
  workers_.add(options_.max_in_flight);
  for (std::size_t i = 0; i < options_.max_in_flight; ++i) {
    asio::co_spawn(executor_, work(), asio::detached);
  }
  if (options_.batch && batches_ != nullptr) {
    batching_.add();
    asio::co_spawn(executor_, run_batches(), asio::detached);
  }
  bool healthy = true;
  while (!stop_.requested()) {
    const std::size_t room =
        options_.max_queued > queue_.size() ? options_.max_queued - queue_.size() : 1;
    auto batch =
        co_await consumer_.poll_batch(std::min<std::size_t>(room, 500), options_.poll_wait);
    if (!batch) {
      logger_.error("consumer_failed", {{"error", batch.error().message()}});
      healthy = false;
      break;
    }
    for (kafka::Message& record : *batch) {
      metrics_->consumed.Increment();
      offsets_.add(record.partition(), record.offset());
      queue_.push_back(std::move(record));
    }
    if (!batch->empty()) work_ready_.notify_all();
    hold_for_limits();
    update_gauges();
  }
  // A consumer failure stops the workers as a stop() would; the jobs in flight get a job's
  // deadline as their grace.
  stop_.request(options_.job_deadline);
  work_ready_.notify_all();
  // Records not started stay unacknowledged; jobs in flight finish or are abandoned.
  queue_.clear();
  co_await workers_.wait();
  co_await batching_.wait();
  stop_.finish();
  ended_.set();
  update_gauges();
  co_return healthy;
}

asio::awaitable<void> Summarizer::work() {
  while (!stop_.requested()) {
    if (queue_.empty()) {
      co_await work_ready_.wait();
      continue;
    }
    kafka::Message record = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    hold_for_limits();
    update_gauges();
    try {
      co_await handle(record);
    } catch (const std::exception& error) {
      // A bug, not an outage: leave the record unacknowledged and say so loudly.
      logger_.error("job_crashed", {{"error", error.what()},
                                    {"partition", record.partition()},
                                    {"offset", record.offset()}});
    }
    --in_flight_;
    hold_for_limits();
    update_gauges();
  }
  workers_.done();
}

void Summarizer::finish(const kafka::Message& record) {
  if (auto next = offsets_.finish(record.partition(), record.offset())) {
    const kafka::TopicPartition position{
        .topic = std::string(record.topic()), .partition = record.partition(), .offset = *next};
    if (auto ec = consumer_.store_offset(position); ec) {
      logger_.debug(
          "offset_not_stored",
          {{"partition", record.partition()}, {"offset", *next}, {"error", ec.message()}});
    }
  }
}

template <typename Op>
asio::awaitable<Summarizer::Stored<Op>> Summarizer::durably(const char* what, Op op) {
  // A job cannot be acknowledged before its step is stored, so an outage is waited out for as
  // long as it lasts, with the consumer paused: no count or time bound here, the stop's grace
  // bounds it (abandoned then, the record left for the partition's next owner).
  const async::RetryPolicy policy{.initial = options_.db_retry_initial,
                                  .max_delay = options_.db_retry_max,
                                  .max_attempts = async::kUnlimitedAttempts,
                                  .max_elapsed = async::kUnlimitedTime};
  const async::RetryHooks<pg::Error> hooks = async::holding<pg::Error>(
      gate_, kDatabase,
      [&](const pg::Error& error, int attempt, std::chrono::milliseconds retry_in) {
        logger_.warn("database_unavailable", {{"step", what},
                                              {"error", error.describe()},
                                              {"attempt", attempt},
                                              {"retry_in_ms", retry_in.count()}});
      });
  // The database refused the statement (this record's data, or a schema it does not have):
  // retrying cannot help.
  const auto retryable = [](const pg::Error& error) {
    return pg::classify(error) == pg::Disposition::retryable;
  };
  co_return co_await async::retry(stop_, policy, hooks, std::move(op), retryable);
}

asio::awaitable<async::Outcome> Summarizer::dead_letter(const kafka::Message& record,
                                                        const std::string& reason,
                                                        const std::string& detail) {
  // Named before the co_await: GCC 12 destroys some temporaries of a co_await expression twice.
  std::string why = reason;
  std::string what = detail;
  const async::Outcome sent = co_await dead_letters_.send(record, std::move(why), std::move(what));
  if (sent == async::Outcome::done) metrics_->jobs.Add({{"outcome", "dead_letter"}}).Increment();
  co_return sent;
}

kafka::OutgoingMessage outbox_record(const std::string& topic,
                                     const messages::SummaryRequest& request,
                                     const SummaryRecord& summary,
                                     std::chrono::system_clock::time_point now) {
  messages::OutboxMessage message;
  message.delivery_id = "summary:" + request.job_id;
  message.team_id = request.team_id;
  message.channel = summary.channel;
  message.text = summary.text;
  message.created_at = now;
  message.origin = nlohmann::json{
      {"kind", "summary"},  {"job_id", request.job_id},     {"user_id", request.user_id},
      {"day", request.day}, {"provider", summary.provider}, {"model", summary.model}};
  return {.topic = topic,
          .key = messages::outbox_key(message),
          .value = messages::encode_outbox(message)};
}

asio::awaitable<async::Outcome> Summarizer::publish(const messages::SummaryRequest& request,
                                                    const SummaryRecord& summary) {
  const kafka::OutgoingMessage record =
      outbox_record(options_.outbox_topic, request, summary, std::chrono::system_clock::now());
  // The job is marked done only after its outbox message is published, so the publish is
  // retried for as long as the broker takes, bounded by the stop's grace.
  const async::RetryPolicy policy{.initial = 250ms,
                                  .max_delay = options_.db_retry_max,
                                  .max_attempts = async::kUnlimitedAttempts,
                                  .max_elapsed = async::kUnlimitedTime};
  const async::RetryHooks<boost::system::error_code> hooks{
      .failed = [&](const boost::system::error_code& ec, int attempt,
                    std::chrono::milliseconds retry_in) {
        logger_.warn("outbox_publish_failed", {{"job_id", request.job_id},
                                               {"error", ec.message()},
                                               {"attempt", attempt},
                                               {"retry_in_ms", retry_in.count()}});
      }};
  auto send = [&]() -> asio::awaitable<boost::system::result<kafka::DeliveryReport>> {
    kafka::OutgoingMessage outgoing = record;
    // No structured binding: GCC 12 miscompiles them in lambda coroutines.
    auto sent =
        co_await producer_.async_send(std::move(outgoing), asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(sent)) co_return std::get<0>(sent);
    co_return std::get<1>(std::move(sent));
  };
  auto published = co_await async::retry(stop_, policy, hooks, send);
  co_return published ? async::Outcome::done : published.error().outcome;
}

std::string Summarizer::destination_of(const messages::SummaryRequest& request,
                                       const StudyContext& context) const {
  if (options_.destination == Destination::channel) {
    // Where the person studies in public: the channel of their latest log of the period.
    for (auto it = context.logs.rbegin(); it != context.logs.rend(); ++it) {
      if (!it->channel.empty() && (it->channel.front() == 'C' || it->channel.front() == 'G')) {
        return it->channel;
      }
    }
  }
  return request.user_id;  // a direct message from the app
}

asio::awaitable<void> Summarizer::handle(kafka::Message& record) {
  auto decoded = messages::decode_summary_request(record.value());
  if (decoded.has_error()) {
    const messages::DecodeError& error = decoded.error();
    if (co_await dead_letter(record, error.reason, error.detail) == async::Outcome::done) {
      finish(record);
    }
    co_return;
  }
  const messages::SummaryRequest request = *std::move(decoded);
  const std::int32_t partition = record.partition();
  const std::int64_t offset = record.offset();
  const std::string topic(record.topic());
  const JobEnd end = co_await run_job(request, &record, nullptr);
  if (end.batched) co_return;  // finished once its batch is recorded
  switch (end.outcome) {
    case async::Outcome::done: {
      // `record` may have been moved into a batch attempt that fell back; finish by position.
      if (auto next = offsets_.finish(partition, offset)) {
        const kafka::TopicPartition position{
            .topic = topic, .partition = partition, .offset = *next};
        static_cast<void>(consumer_.store_offset(position));
      }
      break;
    }
    case async::Outcome::refused:
      if (co_await dead_letter(record, end.reason, end.detail) == async::Outcome::done) {
        finish(record);
      }
      break;
    case async::Outcome::exhausted:
    case async::Outcome::abandoned:  // left for the partition's next owner
      break;
  }
}

asio::awaitable<Summarizer::JobEnd> Summarizer::run_job(const messages::SummaryRequest& request,
                                                        kafka::Message* record,
                                                        const llm::ChatResult* batch_result) {
  const auto deadline = Clock::now() + options_.job_deadline;

  const auto ended = [](const async::RetryFailure<pg::Error>& failure, const char* what) {
    return JobEnd{.outcome = failure.outcome,
                  .reason = "database_rejected",
                  .detail = std::string(what) + ": " + failure.error.describe()};
  };
  auto loaded_job = co_await durably("load_job", [&] { return store_.job(request.job_id); });
  if (!loaded_job) co_return ended(loaded_job.error(), "load_job");
  const std::optional<JobState>& state = *loaded_job;
  if (!state) {
    co_return JobEnd{.outcome = async::Outcome::refused,
                     .reason = "unknown_job",
                     .detail = "no summary job " + request.job_id + " in the database"};
  }
  if (state->state == "done" || state->state == "failed") {
    metrics_->jobs.Add({{"outcome", "duplicate"}}).Increment();
    logger_.debug("duplicate_request", {{"job_id", request.job_id}, {"state", state->state}});
    co_return JobEnd{};
  }

  SummaryRecord summary;
  bool republish = false;
  if (state->summary_text && state->summary_channel) {
    // Stored by an earlier delivery that did not get to publish or to mark the job done.
    summary.job_id = request.job_id;
    summary.channel = *state->summary_channel;
    summary.text = *state->summary_text;
    summary.provider = options_.provider;
    summary.model = options_.provider == "offline" ? "offline" : options_.model;
    republish = true;
  } else {
    auto loaded_logs = co_await durably("load_logs", [&] { return store_.context(request); });
    if (!loaded_logs) co_return ended(loaded_logs.error(), "load_logs");
    const StudyContext& context = *loaded_logs;
    const std::string channel = destination_of(request, context);
    const std::string mention = messages::is_user_id(channel) ? "" : "<@" + request.user_id + "> ";
    summary.job_id = request.job_id;
    summary.team_id = request.team_id;
    summary.user_id = request.user_id;
    summary.day = request.day;
    summary.channel = channel;
    summary.logs = static_cast<int>(context.logs_total);
    const auto started = Clock::now();
    if (options_.provider == "offline" || chat_ == nullptr) {
      summary.text = mention + offline_summary(request, context);
      summary.provider = "offline";
      summary.model = "offline";
      summary.attempts = 0;
      summary.latency_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    } else {
      const DayFacts facts = facts_of(request, context);
      llm::PromptInput input;
      input.day = request.day;
      input.time_zone = request.time_zone;
      input.total_minutes = facts.total_minutes;
      input.streak_days = facts.streak_days;
      input.previous_minutes = context.previous_minutes;
      input.previous_logs = context.previous_logs;
      input.language = facts.language;
      for (const LogEntry& log : context.logs) {
        input.logs.push_back({log.local_time, log.text, log.minutes, log.topics});
      }
      llm::Prompt prompt = llm::build_prompt(input, options_.prompt_token_budget);
      if (prompt.logs_trimmed > 0) {
        metrics_->logs_trimmed.Increment(static_cast<double>(prompt.logs_trimmed));
      }
      llm::ChatRequest chat_request;
      chat_request.model = options_.model;
      chat_request.messages = std::move(prompt.messages);
      chat_request.max_completion_tokens = options_.max_completion_tokens;
      chat_request.user = request.team_id + ":" + request.user_id;
      const bool batchable = options_.batch && batches_ != nullptr && record != nullptr &&
                             request.reason != "trigger" && !direct_.contains(request.job_id);
      if (!batchable) direct_.erase(request.job_id);
      if (batchable) {
        if (pending_.empty()) pending_since_ = Clock::now();
        pending_.push_back(Pending{.record = std::move(*record),
                                   .job_id = request.job_id,
                                   .line = llm::batch_input_line(request.job_id, chat_request)});
        hold_for_limits();
        co_return JobEnd{.batched = true};
      }
      llm::CompletionResult call = llm::Completion{.attempts = 1};
      if (batch_result != nullptr && batch_result->outcome == llm::Outcome::ok) {
        call->result = *batch_result;
      } else {
        if (batch_result != nullptr) {
          logger_.info("batch_fallback", {{"job_id", request.job_id},
                                          {"batch_error", batch_result->message.substr(0, 200)}});
        }
        call = co_await chat_->complete(std::move(chat_request), deadline);
      }
      if (stop_.abandoned()) co_return JobEnd{.outcome = async::Outcome::abandoned};
      if (!call) {
        // A refusal fails the job. A transient cause (an outage, the limits) that outlasted the
        // job's deadline leaves it open instead: the scheduler publishes it again after its
        // timeout, up to its publish limit, rather than losing the day.
        const bool deferred = call.error().transient();
        const std::string reason = call.error().reason;
        auto write = [&]() -> asio::awaitable<pg::Result<void>> {
          if (deferred) co_return co_await store_.defer(request.job_id, reason);
          co_return co_await store_.mark_failed(request.job_id, reason);
        };
        // Refused: the job stays open in the database and the record is acknowledged; the
        // scheduler's timeout publishes it again.
        auto written = co_await durably(deferred ? "defer" : "mark_failed", write);
        if (!written && written.error().outcome != async::Outcome::refused) {
          co_return JobEnd{.outcome = written.error().outcome};
        }
        metrics_->jobs.Add({{"outcome", deferred ? "deferred" : "failed"}}).Increment();
        const nlohmann::json fields{{"job_id", request.job_id},
                                    {"attempts", call.error().attempts},
                                    {"publish", request.publish},
                                    {"reason", reason.substr(0, 500)}};
        if (deferred) {
          logger_.warn("summary_deferred", fields);
        } else {
          logger_.error("summary_failed", fields);
        }
        co_return JobEnd{};
      }
      const llm::Completion& completion = *call;
      summary.text = mention + slack_escape(completion.result.content);
      summary.provider = batch_result != nullptr && batch_result->outcome == llm::Outcome::ok
                             ? "openai-batch"
                             : "openai";
      summary.model = completion.result.model.empty() ? options_.model : completion.result.model;
      summary.prompt_tokens = completion.result.prompt_tokens;
      summary.completion_tokens = completion.result.completion_tokens;
      summary.attempts = completion.attempts;
      summary.latency_ms = completion.latency_ms;
    }
    auto saved = co_await durably("save_summary", [&] { return store_.save(summary); });
    if (!saved) co_return ended(saved.error(), "save_summary");
    summary = std::move(*saved);
  }

  const async::Outcome published = co_await publish(request, summary);
  if (published != async::Outcome::done) co_return JobEnd{.outcome = published};
  auto mark_done = [&]() -> asio::awaitable<pg::Result<void>> {
    co_return co_await store_.mark_done(request.job_id);
  };
  // Refused: the summary is stored and published; the job stays open and a repeated request
  // republishes it (the notifier posts a delivery once).
  auto done = co_await durably("mark_done", mark_done);
  if (!done && done.error().outcome != async::Outcome::refused) {
    co_return JobEnd{.outcome = done.error().outcome};
  }
  metrics_->jobs.Add({{"outcome", republish ? "republished" : "done"}}).Increment();
  metrics_->job_seconds.Observe(std::max(
      0.0, std::chrono::duration<double>(std::chrono::system_clock::now() - request.requested_at)
               .count()));
  logger_.info("summary_done", {{"job_id", request.job_id},
                                {"channel", summary.channel},
                                {"provider", summary.provider},
                                {"logs", summary.logs},
                                {"attempts", summary.attempts},
                                {"latency_ms", summary.latency_ms},
                                {"republished", republish}});
  co_return JobEnd{};
}

// Batch mode: one coroutine sends the pending jobs as a batch when there are batch_max_jobs of
// them or the first has waited batch_linger, and polls the batches recorded in the database.
asio::awaitable<void> Summarizer::run_batches() {
  auto next_poll = Clock::now();
  while (!stop_.requested()) {
    const bool full = pending_.size() >= options_.batch_max_jobs;
    const bool lingered =
        !pending_.empty() && Clock::now() - pending_since_ >= options_.batch_linger;
    if (full || lingered) co_await submit_batch();
    if (Clock::now() >= next_poll) {
      co_await poll_batches();
      next_poll =
          Clock::now() + std::min(options_.batch_poll_initial, std::chrono::milliseconds{5'000});
    }
    co_await stop_.sleep(200ms);
  }
  // Jobs collected but not sent stay unacknowledged: the next owner batches them again.
  pending_.clear();
  batching_.done();
}

asio::awaitable<void> Summarizer::submit_batch() {
  std::vector<Pending> taken;
  const std::size_t n = std::min(pending_.size(), options_.batch_max_jobs);
  taken.reserve(n);
  for (std::size_t i = 0; i < n; ++i) taken.push_back(std::move(pending_[i]));
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  if (!pending_.empty()) pending_since_ = Clock::now();
  hold_for_limits();
  std::string jsonl;
  std::vector<std::string> ids;
  for (const Pending& p : taken) {
    jsonl += p.line;
    jsonl += '\n';
    ids.push_back(p.job_id);
  }
  const std::string filename =
      "summaries-" +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()) +
      ".jsonl";
  std::string failure;
  auto file = co_await batches_->upload(std::move(jsonl), filename);
  std::optional<llm::BatchStatus> batch;
  if (!file) {
    failure = "upload: " + file.error.message;
  } else {
    auto created = co_await batches_->create(*file.value);
    if (!created) {
      failure = "create: " + created.error.message;
    } else {
      batch = *created.value;
    }
  }
  if (batch) {
    const std::string batch_id = batch->id;
    const std::string input_file = *file.value;
    auto record = [&]() -> asio::awaitable<pg::Result<void>> {
      co_return co_await store_.record_batch(batch_id, input_file, ids);
    };
    auto recorded = co_await durably("record_batch", record);
    if (recorded) {
      metrics_->jobs.Add({{"outcome", "batched"}}).Increment(static_cast<double>(taken.size()));
      logger_.info("batch_submitted", {{"batch_id", batch_id}, {"jobs", taken.size()}});
      for (const Pending& p : taken) finish(p.record);
      co_return;
    }
    if (recorded.error().outcome != async::Outcome::refused) co_return;
    failure = "record: record_batch: " + recorded.error().error.describe();
  }
  // The batch could not be sent: these jobs go the direct way, first in line.
  logger_.warn("batch_not_submitted", {{"jobs", taken.size()}, {"error", failure.substr(0, 300)}});
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) {
    direct_.insert(it->job_id);
    queue_.push_front(std::move(it->record));
  }
  work_ready_.notify_all();
}

asio::awaitable<void> Summarizer::poll_batches() {
  auto leased = co_await durably("lease_batches",
                                 [&] { return store_.lease_batches(4, std::chrono::minutes{10}); });
  if (!leased) co_return;
  for (const std::string& batch_id : *leased) {
    auto status = co_await batches_->get(batch_id);
    if (!status) {
      logger_.warn("batch_poll_failed", {{"batch_id", batch_id}, {"error", status.error.message}});
      const std::string id = batch_id;
      auto later = [&]() -> asio::awaitable<pg::Result<void>> {
        co_return co_await store_.batch_polled(id, "unknown", options_.batch_poll_initial,
                                               options_.batch_poll_max);
      };
      static_cast<void>(co_await durably("batch_polled", later));
      continue;
    }
    if (!status.value->finished()) {
      const std::string id = batch_id;
      const std::string api_status = status.value->status;
      auto later = [&]() -> asio::awaitable<pg::Result<void>> {
        co_return co_await store_.batch_polled(id, api_status, options_.batch_poll_initial,
                                               options_.batch_poll_max);
      };
      static_cast<void>(co_await durably("batch_polled", later));
      continue;
    }
    co_await apply_batch(batch_id, *status.value);
  }
}

asio::awaitable<void> Summarizer::apply_batch(std::string batch_id,
                                              const llm::BatchStatus& status) {
  std::map<std::string, llm::ChatResult> results;
  std::string error = status.errors;
  for (const std::string& file_id : {status.output_file_id, status.error_file_id}) {
    if (file_id.empty()) continue;
    auto content = co_await batches_->content(file_id);
    if (!content) {
      error += (error.empty() ? "" : "; ") + ("file " + file_id + ": " + content.error.message);
      continue;
    }
    int bad = 0;
    for (auto& line : llm::parse_batch_results(*content.value, bad)) {
      results[line.custom_id] = std::move(line.result);
    }
  }
  auto loaded_jobs = co_await durably("batch_jobs", [&] { return store_.batch_jobs(batch_id); });
  if (!loaded_jobs) co_return;
  const std::vector<messages::SummaryRequest>& jobs = *loaded_jobs;
  // Each job as its own coroutine, at most max_in_flight at once: answered ones are stored and
  // published; the others (failed lines, lines the batch never ran) call the model directly.
  async::WaitGroup running;
  std::size_t answered = 0;
  const llm::ChatResult missing{
      .outcome = llm::Outcome::retryable,
      .error_code = "batch_missing",
      .message = "the batch (" + status.status + ") has no result for it"};
  for (const auto& job : jobs) {
    if (stop_.abandoned()) break;
    co_await running.wait(std::max<std::size_t>(options_.max_in_flight, 1) - 1);
    const auto found = results.find(job.job_id);
    const llm::ChatResult* result = found != results.end() ? &found->second : &missing;
    if (result->outcome == llm::Outcome::ok) ++answered;
    running.add();
    asio::co_spawn(
        executor_,
        [this, job, result, &running]() -> asio::awaitable<void> {
          static_cast<void>(co_await run_job(job, nullptr, result));
          running.done();
        },
        asio::detached);
  }
  co_await running.wait();
  if (stop_.abandoned()) co_return;
  const std::string api_status = status.status;
  auto applied = [&]() -> asio::awaitable<pg::Result<void>> {
    co_return co_await store_.batch_applied(batch_id, api_status, error);
  };
  static_cast<void>(co_await durably("batch_applied", applied));
  logger_.info("batch_applied", {{"batch_id", batch_id},
                                 {"status", status.status},
                                 {"jobs", jobs.size()},
                                 {"answered", answered},
                                 {"direct", jobs.size() - answered}});
}

}  // namespace tracker::summarizer
