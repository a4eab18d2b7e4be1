#pragma once
// Sends records that cannot be processed to the dead-letter topic (as kafka::dead_letter_of
// makes them), retrying with the given policy until the broker acknowledges them. While sends
// fail, the pause gate is held ("dead_letter" by default; once per failing send or batch), so
// consumption pauses, and the service can report itself not ready (failing() > 0). Each
// acknowledged dead letter counts in `dead_letters{reason}`; a send logs `dead_lettered` (warn)
// once, with the record for one and the counts by reason for a batch; each failed attempt logs
// `dead_letter_failed` (warn).
//
//   kafka::DeadLetterSender dlq(producer, gate, stop, metrics.dead_letters, logger,
//                               {.topic = "slack-events.dlq", .failed_by = "worker",
//                                .retry = {... max_attempts, max_elapsed ...}});
//   switch (co_await dlq.send(record, "undecodable", error)) {
//     case async::Outcome::done: store the record's offset; ...
//     default: leave it unacknowledged (exhausted: the policy's bound; abandoned: the grace)
//   }
//
// A flood of bad records goes as fast as good ones with send_all: every dead letter of a batch
// is produced at once and their acknowledgements awaited together (one broker round trip, not
// one per record); those that failed are sent again together, with the policy. `done` only
// once every one is durable, so the caller stores the offsets after it, as after send():
//
//   std::vector<kafka::DeadLetter> letters;  // {&record, reason, error} for each bad record
//   if (co_await dlq.send_all(letters) != async::Outcome::done) co_return;  // none acknowledged
//
// A dead letter is never refused on its own: every send failure is retried (a topic that
// rejects the record for good keeps the gate held until the policy's bound or the grace).
// The original record must outlive the send; it is only read.
//
// Threads: the gate, the stop and the counters belong to the caller's executor, where send()
// must run (the producer posts its completions there).
#include <span>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/async/outcome.hpp>
#include <tracker/async/pause_gate.hpp>
#include <tracker/async/retry.hpp>
#include <tracker/kafka/message.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>

namespace tracker::kafka {

struct DeadLetterOptions {
  std::string topic;      // the dead-letter topic
  std::string failed_by;  // x-failed-by: the service
  async::RetryPolicy retry;
  std::string gate_reason = "dead_letter";
};

// One record for send_all(): the original (which must outlive the send), why it is refused (a
// short code, the metric label), and the detail.
struct DeadLetter {
  const Message* original = nullptr;
  std::string reason;
  std::string error;
};

class DeadLetterSender {
 public:
  DeadLetterSender(Producer& producer, async::PauseGate& gate, async::GracefulStop& stop,
                   prometheus::Family<prometheus::Counter>& dead_letters, log::Logger& logger,
                   DeadLetterOptions options);
  DeadLetterSender(const DeadLetterSender&) = delete;
  DeadLetterSender& operator=(const DeadLetterSender&) = delete;

  // done: acknowledged by the broker; exhausted: the retry policy's bound was reached;
  // abandoned: the stop's grace ended first. `reason` is a short code (a metric label),
  // `error` the detail (cut to 1,000 bytes in the header).
  boost::asio::awaitable<async::Outcome> send(const Message& original, std::string reason,
                                              std::string error);

  // Every letter at once, as above: done once all are acknowledged (at once for none). On
  // another outcome some may have been written; the caller acknowledges none of the originals,
  // and their next reader dead-letters them again (a dead-letter topic may hold a record twice).
  boost::asio::awaitable<async::Outcome> send_all(std::span<const DeadLetter> letters);

  // Sends failing now (each holds the gate once).
  [[nodiscard]] int failing() const noexcept { return failing_; }

 private:
  Producer& producer_;
  async::PauseGate& gate_;
  async::GracefulStop& stop_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  log::Logger& logger_;
  DeadLetterOptions options_;
  int failing_ = 0;
};

}  // namespace tracker::kafka
