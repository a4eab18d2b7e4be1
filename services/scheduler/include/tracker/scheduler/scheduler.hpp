#pragma once
// The scheduler: finds the people whose daily summary is due, claims each (team, user, day) once
// in PostgreSQL, and publishes a summary request for it. It never waits on AI work: a tick is a
// few statements and a burst of Kafka sends.
//
// Claims are one INSERT ... SELECT ... ON CONFLICT DO NOTHING against the unique key of
// summary_jobs, so replicas ticking at the same moment claim each day once between them: the
// loser's insert finds the winner's row and returns nothing. A job is published after its claim
// commits; one claimed but never published (a crash in between) or published but not finished
// within job_timeout is published again by whichever replica's sweep takes it first (FOR UPDATE
// SKIP LOCKED), at most max_publishes times in all, then marked failed with the reason.
//
// After downtime the first tick claims every day whose summary time fell within the catch-up
// window (reason catch_up) and counts the older ones it skips; scheduler_state keeps when the
// last tick ran, so the skipped count covers exactly the time asleep.
//
// Threads: one executor (a single-threaded io_context) for the pool, the producer's completions
// and this object.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <tracker/async/graceful_stop.hpp>
#include <tracker/http/responses.hpp>
#include <tracker/kafka/producer.hpp>
#include <tracker/log/logger.hpp>
#include <tracker/messages/summary_request.hpp>
#include <tracker/pg/pool.hpp>

namespace tracker::scheduler {

namespace asio = boost::asio;
using SystemClock = std::chrono::system_clock;

struct SchedulerOptions {
  std::string topic = "summary-requests";
  std::string instance = "scheduler";  // claimed_by
  std::chrono::milliseconds tick_interval{60'000};
  std::chrono::milliseconds catch_up_window{std::chrono::hours{36}};
  bool require_activity = true;      // only people who logged something in the period
  std::size_t claim_batch = 10'000;  // claims per statement; a tick repeats until done
  std::chrono::milliseconds publish_grace{120'000};  // claimed, not published: re-publish after
  std::chrono::milliseconds job_timeout{1'800'000};  // published, not finished: re-publish after
  int max_publishes = 3;
  std::size_t publish_window = 10'000;  // sends awaiting the broker at once
  std::chrono::milliseconds db_retry_max{5'000};
};

struct TickReport {
  std::uint64_t due = 0;       // due and not yet claimed, as this tick found them
  std::uint64_t claimed = 0;   // claimed by this tick (the rest went to another replica)
  std::uint64_t catch_up = 0;  // of those, days missed while no scheduler ran
  std::uint64_t skipped = 0;   // due times older than the catch-up window, slept through
  std::uint64_t published = 0;
  std::uint64_t publish_failed = 0;
  std::uint64_t republished = 0;
  std::uint64_t timed_out = 0;  // jobs marked failed: max_publishes reached
  double seconds = 0;
  // Where the time went: the claim statements, the sends until acknowledged, marking them
  // published, and the sweep (with the catch-up bookkeeping).
  double claim_seconds = 0;
  double publish_seconds = 0;
  double mark_seconds = 0;
  double sweep_seconds = 0;
};

struct TriggerRequest {
  std::optional<std::string> team_id;  // none: everyone
  std::optional<std::string> user_id;  // needs team_id
  std::optional<std::string> day;      // YYYY-MM-DD; none: each person's running period's day
  bool force = false;                  // a new version even if the day was claimed
  std::optional<bool> require_activity;
};

// The answer to POST /trigger lists at most this many job ids (about 40 bytes each), enough for
// a load client to tell every post of a team-wide trigger apart.
inline constexpr std::size_t kTriggerJobsListed = 10'000;

struct TriggerReport {
  std::uint64_t matched = 0;  // people in scope with a day to summarize
  std::uint64_t claimed = 0;
  std::uint64_t already_claimed = 0;  // the day had a job and force was not asked
  std::uint64_t published = 0;
  std::vector<std::string> jobs;  // the first kTriggerJobsListed claimed
};

class Scheduler {
 public:
  Scheduler(asio::any_io_executor executor, pg::Pool& pool, kafka::Producer& producer,
            prometheus::Registry& registry, log::Logger& logger, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One tick at `now`: claim what is due, publish it, sweep unfinished jobs.
  asio::awaitable<pg::Result<TickReport>> tick(SystemClock::time_point now);
  // Claims and publishes now for the trigger's scope.
  asio::awaitable<pg::Result<TriggerReport>> trigger(TriggerRequest request,
                                                     SystemClock::time_point now);
  // POST /trigger: {"team_id":..., "user_id":..., "day":..., "force":...}; the caller checked
  // the admin token.
  asio::awaitable<http::Response> handle_trigger(const http::Request& request);

  // Ticks every tick_interval until stop(); a failed tick (database down) is retried sooner,
  // with capped backoff. Returns true (a failing database is waited out, never a failure).
  asio::awaitable<bool> run();
  // Ends run() at once: `grace` is ignored (a tick holds nothing to finish; what a stopped tick
  // did not publish, the next one's sweep does).
  void stop(std::chrono::milliseconds grace);

  [[nodiscard]] bool ready() const noexcept { return last_tick_ok_; }

 private:
  struct Metrics;
  struct Claimed;
  asio::awaitable<pg::Result<std::uint64_t>> count_skipped(SystemClock::time_point now);
  // Sends `jobs` and records each one the broker acknowledged as published at `now`.
  asio::awaitable<pg::Result<std::uint64_t>> publish(std::vector<messages::SummaryRequest> jobs,
                                                     SystemClock::time_point now,
                                                     TickReport* timing = nullptr);
  asio::awaitable<pg::Result<void>> sweep(SystemClock::time_point now, TickReport& report);
  void tick_failed(const pg::Error& error, std::chrono::milliseconds retry_in);

  asio::any_io_executor executor_;
  pg::Pool& pool_;
  kafka::Producer& producer_;
  log::Logger& logger_;
  SchedulerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  async::GracefulStop stop_;
  bool last_tick_ok_ = false;
};

// Reads the JSON body of POST /trigger; throws std::invalid_argument naming the bad field.
TriggerRequest parse_trigger(std::string_view body);

}  // namespace tracker::scheduler
