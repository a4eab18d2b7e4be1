#pragma once
// The summarizer's consume loop: summary-requests records -> a bounded queue -> up to
// max_in_flight jobs at once -> the summary (offline, or the Chat Completions API through
// llm::ChatClient) -> summaries (once per job) -> slack-outbox -> job done -> stored offset.
//
// Effectively once: a job that has a stored summary is never sent to the model again; its
// outbox message is published again instead (the notifier posts a delivery_id once), so a crash
// anywhere between storing and acknowledging repeats only idempotent steps. A job marked done
// or failed is acknowledged as a duplicate.
//
// Offsets advance in partition order over finished records (kafka::OffsetTracker). A record
// that cannot be a request goes to the dead-letter topic; a job the model refuses (quota, 400)
// or that runs out of attempts is marked failed with the reason. A database outage is waited
// out with capped backoff while the consumer is paused; nothing is dropped. A statement the
// database refuses (pg::Disposition data or fatal) is not retried: the job's record is
// dead-lettered with the reason. While the circuit breaker is open the consumer is paused as
// well; one async::PauseGate holds the reasons (queue, database, circuit, batch, dead_letter).
//
// Threads: everything runs on one executor (a single-threaded io_context).
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

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
#include <tracker/kafka/offset_tracker.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/llm/batch_api.hpp>
#include <tracker/llm/chat_client.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/summary_request.hpp>

#include <tracker/summarizer/store.hpp>

namespace tracker::summarizer {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

enum class Destination { channel, dm };

// The slack-outbox record of a stored summary, made at `now`: the message to post, keyed by
// its workspace (messages::outbox_key), not by its channel, so that one notifier owns each
// workspace's posts.
kafka::OutgoingMessage outbox_record(const std::string& topic,
                                     const messages::SummaryRequest& request,
                                     const SummaryRecord& summary,
                                     std::chrono::system_clock::time_point now);

struct SummarizerOptions {
  std::string outbox_topic = "slack-outbox";
  std::string dlq_topic = "summary-requests.dlq";
  std::size_t max_in_flight = 64;  // jobs at once
  std::size_t max_queued = 1'000;  // records fetched and not yet started; past it, pause
  std::chrono::milliseconds poll_wait{100};
  std::chrono::milliseconds job_deadline{std::chrono::minutes{10}};
  // The model: "openai" or "offline"; with openai a ChatClient is given.
  std::string provider = "offline";
  std::string model = "gpt-4o-mini";
  int max_completion_tokens = 400;
  std::uint64_t prompt_token_budget = 3'000;
  Destination destination = Destination::channel;
  // Batch mode (with a BatchApi): scheduled and catch-up jobs go to the Batch API together;
  // triggers, and jobs a batch did not answer, are called directly.
  bool batch = false;
  std::size_t batch_max_jobs = 10'000;             // lines per batch file (the API allows 50,000)
  std::chrono::milliseconds batch_linger{60'000};  // a batch is sent this long after its first job
  std::chrono::milliseconds batch_poll_initial{10'000};
  std::chrono::milliseconds batch_poll_max{300'000};
  std::chrono::milliseconds db_retry_initial{100};
  std::chrono::milliseconds db_retry_max{5'000};
};

class Summarizer {
 public:
  // `chat` may be null for the offline provider; `batches` is needed for batch mode only.
  Summarizer(asio::any_io_executor executor, kafka::Consumer& consumer, kafka::Producer& producer,
             Store& store, llm::ChatClient* chat, llm::BatchApi* batches,
             prometheus::Registry& registry, log::Logger& logger, SummarizerOptions options);
  ~Summarizer();
  Summarizer(const Summarizer&) = delete;
  Summarizer& operator=(const Summarizer&) = delete;

  // Consumes until stop(), then lets the jobs in flight finish. False when the consumer failed
  // beyond recovery.
  asio::awaitable<bool> run();
  // Stops taking records; jobs in flight go on for up to `grace`, then are abandoned (left
  // unacknowledged for the partition's next owner).
  void stop(std::chrono::milliseconds grace);

  [[nodiscard]] bool ready() const noexcept;
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }

 private:
  struct Metrics;
  // How a job ended. Beyond the toolkit's outcomes (done: acknowledge; refused: dead-letter with
  // `reason` and `detail`, then acknowledge; exhausted or abandoned: leave unacknowledged) a job
  // can be `batched`: its record moved into the pending batch, whose submission acknowledges it.
  // That is neither done nor refused (the caller must neither acknowledge nor dead-letter the
  // record, which it no longer has), so it is a flag of its own. A request for a job the
  // database does not know is refused ("unknown_job").
  struct JobEnd {
    async::Outcome outcome = async::Outcome::done;
    bool batched = false;
    std::string reason;  // refused: the dead letter's reason
    std::string detail;  // refused: and its detail
  };
  struct Pending {
    kafka::Message record;
    std::string job_id;
    std::string line;  // the batch input line
  };
  // A database step's value, or how the step ended without one (refused or abandoned).
  template <typename Op>
  using Stored =
      async::Retried<typename std::invoke_result_t<Op&>::value_type::value_type, pg::Error>;

  asio::awaitable<void> on_abandon();
  asio::awaitable<void> work();
  asio::awaitable<void> handle(kafka::Message& record);
  // Everything but the offset. With `record`, a batchable job may be moved into the pending
  // batch instead (batched); with `batch_result`, that answer is used unless it failed, in which
  // case the model is called directly.
  asio::awaitable<JobEnd> run_job(const messages::SummaryRequest& request, kafka::Message* record,
                                  const llm::ChatResult* batch_result);
  asio::awaitable<void> run_batches();
  asio::awaitable<void> submit_batch();
  asio::awaitable<void> poll_batches();
  asio::awaitable<void> apply_batch(std::string batch_id, const llm::BatchStatus& status);
  asio::awaitable<async::Outcome> dead_letter(const kafka::Message& record,
                                              const std::string& reason, const std::string& detail);
  asio::awaitable<async::Outcome> publish(const messages::SummaryRequest& request,
                                          const SummaryRecord& summary);
  // Runs a database step, waiting out an outage; a refused statement is not retried.
  template <typename Op>
  asio::awaitable<Stored<Op>> durably(const char* what, Op op);
  void finish(const kafka::Message& record);
  // Holds or releases the gate's reasons that follow a condition (queue, circuit, batch).
  void hold_for_limits();
  void update_gauges();
  [[nodiscard]] std::string destination_of(const messages::SummaryRequest& request,
                                           const StudyContext& context) const;

  asio::any_io_executor executor_;
  kafka::Consumer& consumer_;
  kafka::Producer& producer_;
  Store& store_;
  llm::ChatClient* chat_;
  llm::BatchApi* batches_;
  log::Logger& logger_;
  SummarizerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  kafka::OffsetTracker offsets_;
  std::deque<kafka::Message> queue_;
  std::vector<Pending> pending_;  // batchable jobs not yet in a submitted batch
  Clock::time_point pending_since_{};
  Clock::time_point last_lag_update_{};  // update_gauges() reads the lag at most once a second
  std::set<std::string> direct_;         // jobs whose batch could not be submitted: call directly
  std::size_t in_flight_ = 0;
  async::GracefulStop stop_;
  async::PauseGate gate_;
  kafka::DeadLetterSender dead_letters_;
  async::Event work_ready_;    // records queued: pulsed for the idle workers
  async::WaitGroup workers_;   // the workers running
  async::WaitGroup batching_;  // run_batches() running
  async::Event ended_;         // run() has returned: on_abandon() need not wait any more
};

}  // namespace tracker::summarizer
