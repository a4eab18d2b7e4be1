#pragma once
// The summarizer's view of PostgreSQL: the job a request names, the person's logs for its
// period, and the summary, written once per job.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <tracker/messages/summary_request.hpp>
#include <tracker/pg/pool.hpp>

namespace tracker::summarizer {

namespace asio = boost::asio;

struct JobState {
  std::string state;  // claimed, published, done, failed
  std::string last_error;
  std::optional<std::string> summary_channel;  // set when the summary is stored
  std::optional<std::string> summary_text;
};

struct LogEntry {
  std::string channel;
  std::string ts;
  std::string text;
  std::optional<int> minutes;
  std::vector<std::string> topics;
  std::string local_time;  // HH:MM in the person's time zone
};

struct StudyContext {
  std::vector<LogEntry> logs;  // oldest first, at most max_logs (the newest kept)
  std::size_t logs_total = 0;  // in the period, before the cap
  int previous_minutes = 0;    // the period before
  int previous_logs = 0;
  std::vector<std::string> previous_topics;
  std::vector<std::string> active_days;  // YYYY-MM-DD summary days with logs, newest first
};

struct SummaryRecord {
  std::string job_id;
  std::string team_id;
  std::string user_id;
  std::string day;
  std::string channel;
  std::string text;
  std::string provider;
  std::string model;
  std::optional<int> prompt_tokens;
  std::optional<int> completion_tokens;
  int logs = 0;
  int attempts = 0;
  double latency_ms = 0;
};

class Store {
 public:
  explicit Store(pg::Pool& pool, std::size_t max_logs = 500) : pool_(pool), max_logs_(max_logs) {}
  // How long after its submission a batch is first polled.
  void set_first_poll(std::chrono::milliseconds delay) {
    first_poll_seconds_ = std::chrono::duration<double>(delay).count();
  }

  // std::nullopt: no such job.
  asio::awaitable<pg::Result<std::optional<JobState>>> job(std::string job_id);
  asio::awaitable<pg::Result<StudyContext>> context(messages::SummaryRequest request);
  // Inserts the summary unless the job has one; returns the stored one (channel, text) either
  // way, so a redelivered request publishes the same message.
  asio::awaitable<pg::Result<SummaryRecord>> save(SummaryRecord record);
  asio::awaitable<pg::Result<void>> mark_done(std::string job_id);
  asio::awaitable<pg::Result<void>> mark_failed(std::string job_id, std::string reason);
  // Leaves the job open with `reason` as its last error, for the scheduler to publish again.
  asio::awaitable<pg::Result<void>> defer(std::string job_id, std::string reason);

  // Batch mode. A submitted batch and the jobs it holds, in one transaction.
  asio::awaitable<pg::Result<void>> record_batch(std::string batch_id, std::string input_file_id,
                                                 std::vector<std::string> job_ids);
  // Up to `limit` submitted batches due for a poll, leased to this process for `lease`.
  asio::awaitable<pg::Result<std::vector<std::string>>> lease_batches(
      int limit, std::chrono::milliseconds lease);
  // A poll that found the batch still running: the lease freed and the next poll due after
  // `first_interval` doubled once per poll so far, at most `longest_interval`.
  asio::awaitable<pg::Result<void>> batch_polled(std::string batch_id, std::string api_status,
                                                 std::chrono::milliseconds first_interval,
                                                 std::chrono::milliseconds longest_interval);
  asio::awaitable<pg::Result<void>> batch_applied(std::string batch_id, std::string api_status,
                                                  std::string error);
  // The batch's jobs not yet done or failed, as the requests that claimed them.
  asio::awaitable<pg::Result<std::vector<messages::SummaryRequest>>> batch_jobs(
      std::string batch_id);

 private:
  pg::Pool& pool_;
  std::size_t max_logs_;
  double first_poll_seconds_ = 10;
};

}  // namespace tracker::summarizer
