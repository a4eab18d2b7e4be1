#include <tracker/scheduler/scheduler.hpp>

#include <algorithm>
#include <stdexcept>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <nlohmann/json.hpp>

#include <tracker/async/retry.hpp>
#include <tracker/kafka/send_all.hpp>
#include <tracker/log/timestamp.hpp>
#include <tracker/metrics/declare.hpp>
#include <tracker/pg/transaction.hpp>

namespace tracker::scheduler {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The two claiming statements end alike: their `claimed` insert returns the new jobs, and the
// answer lists them as JSON (read by jobs_of) after the statement's own counts.
const std::string kReturningJobs = R"sql(
  RETURNING job_id, team_id, user_id, day, version, time_zone, period_start, period_end, reason,
            publishes
)
)sql";
const std::string kJobsAsJson = R"sql(
       coalesce(json_agg(json_build_object(
         'job_id', job_id, 'team_id', team_id, 'user_id', user_id, 'day', day::text,
         'version', version, 'time_zone', time_zone,
         'start_ms', (extract(epoch FROM period_start) * 1000)::bigint,
         'end_ms', (extract(epoch FROM period_end) * 1000)::bigint,
         'reason', reason, 'publishes', publishes)), '[]'::json) AS jobs
FROM claimed
)sql";

// People whose summary time fell within the catch-up window and whose day has no scheduled job
// and no trigger covering its whole period yet. A trigger before the summary hour covered only the
// day so far: the scheduled job is then that day's next version. (A scheduled job counts whatever
// its period, so moving one's summary hour later does not bring a second summary of the day.) Each
// is claimed once, whichever replica's insert gets there first (the version is part of the unique
// key).
//   $1 now, $2 catch-up window (s), $3 require activity, $4 limit, $5 due times before this are
//   catch-up, $6 claimed_by
const pg::Statement kClaimDue{"scheduler_claim_due", R"sql(
WITH due AS (
  SELECT u.team_id, u.user_id, u.time_zone, d.day,
         (d.day + make_interval(hours => u.summary_hour)) AT TIME ZONE u.time_zone AS due_at,
         (d.day - 1 + make_interval(hours => u.summary_hour)) AT TIME ZONE u.time_zone AS start_at
  FROM users u
  CROSS JOIN LATERAL (
    SELECT g::date AS day
    FROM generate_series(
      (($1::timestamptz - make_interval(secs => $2::double precision)) AT TIME ZONE u.time_zone)::date,
      ($1::timestamptz AT TIME ZONE u.time_zone)::date, interval '1 day') AS g) AS d
  WHERE NOT u.opted_out
    -- A workspace that uninstalled the app gets no summaries while its data awaits deletion.
    AND NOT EXISTS (SELECT 1 FROM slack_workspaces w
                    WHERE w.team_id = u.team_id AND w.revoked_at IS NOT NULL)
), open AS (
  SELECT due.*,
         (SELECT max(j.version) FROM summary_jobs j
          WHERE j.team_id = due.team_id AND j.user_id = due.user_id AND j.day = due.day)
           AS last_version
  FROM due
  WHERE due.due_at <= $1::timestamptz
    AND due.due_at > $1::timestamptz - make_interval(secs => $2::double precision)
    AND NOT EXISTS (SELECT 1 FROM summary_jobs j
                    WHERE j.team_id = due.team_id AND j.user_id = due.user_id AND j.day = due.day
                      AND (j.reason <> 'trigger' OR j.period_end >= due.due_at))
    AND (NOT $3::boolean OR EXISTS (
          SELECT 1 FROM study_logs l
          WHERE l.team_id = due.team_id AND l.user_id = due.user_id
            AND l.posted_at >= due.start_at AND l.posted_at < due.due_at AND l.deleted_at IS NULL))
  ORDER BY due.due_at
  LIMIT $4
), claimed AS (
  INSERT INTO summary_jobs (job_id, team_id, user_id, day, version, time_zone, period_start,
                            period_end, reason, claimed_by, claimed_at)
  SELECT team_id || ':' || user_id || ':' || day::text || ':v' || (coalesce(last_version, 0) + 1),
         team_id, user_id, day, coalesce(last_version, 0) + 1, time_zone, start_at, due_at,
         CASE WHEN due_at >= $5::timestamptz THEN 'scheduled' ELSE 'catch_up' END, $6,
         $1::timestamptz
  FROM open
  ON CONFLICT DO NOTHING
)sql" + kReturningJobs + R"sql(
SELECT (SELECT count(*) FROM open) AS due,
)sql" + kJobsAsJson};

// The manual trigger: each person in scope, for the given day or else the day whose period is
// running (a day's period ends at its summary hour: after that hour, what is posted belongs to the
// next day's summary). Without force a day that has a job is left alone; with force it gets the
// next version.
//   $1 now, $2 team or NULL, $3 user or NULL, $4 day or NULL, $5 force, $6 require activity,
//   $7 claimed_by
const pg::Statement kTrigger{"scheduler_trigger", R"sql(
WITH scope AS (
  SELECT u.team_id, u.user_id, u.time_zone, u.summary_hour,
         coalesce($4::date, (($1::timestamptz AT TIME ZONE u.time_zone) -
                             make_interval(hours => u.summary_hour))::date + 1) AS day
  FROM users u
  WHERE NOT u.opted_out AND ($2::text IS NULL OR u.team_id = $2::text)
    AND ($3::text IS NULL OR u.user_id = $3::text)
), periods AS (
  SELECT s.team_id, s.user_id, s.time_zone, s.day,
         (s.day - 1 + make_interval(hours => s.summary_hour)) AT TIME ZONE s.time_zone AS start_at,
         least((s.day + make_interval(hours => s.summary_hour)) AT TIME ZONE s.time_zone,
               $1::timestamptz) AS end_at,
         (SELECT max(j.version) FROM summary_jobs j
          WHERE j.team_id = s.team_id AND j.user_id = s.user_id AND j.day = s.day) AS last_version
  FROM scope s
), wanted AS (
  SELECT * FROM periods p
  WHERE p.end_at > p.start_at
    AND (NOT $6::boolean OR EXISTS (
          SELECT 1 FROM study_logs l
          WHERE l.team_id = p.team_id AND l.user_id = p.user_id
            AND l.posted_at >= p.start_at AND l.posted_at < p.end_at AND l.deleted_at IS NULL))
), claimed AS (
  INSERT INTO summary_jobs (job_id, team_id, user_id, day, version, time_zone, period_start,
                            period_end, reason, claimed_by, claimed_at)
  SELECT team_id || ':' || user_id || ':' || day::text || ':v' || (coalesce(last_version, 0) + 1),
         team_id, user_id, day, coalesce(last_version, 0) + 1, time_zone, start_at, end_at,
         'trigger', $7, $1::timestamptz
  FROM wanted
  WHERE $5::boolean OR last_version IS NULL
  ON CONFLICT DO NOTHING
)sql" + kReturningJobs + R"sql(
SELECT (SELECT count(*) FROM wanted) AS matched,
       (SELECT count(*) FROM wanted WHERE last_version IS NOT NULL AND NOT $5::boolean) AS already,
)sql" + kJobsAsJson};

//   $1 job ids (JSON array), $2 now
const pg::Statement kMarkPublished{"scheduler_mark_published", R"sql(
UPDATE summary_jobs
SET publishes = publishes + 1, published_at = $2::timestamptz,
    state = CASE WHEN state = 'claimed' THEN 'published' ELSE state END
WHERE job_id IN (SELECT jsonb_array_elements_text($1::jsonb))
)sql"};

// Jobs claimed but not published within the grace, or published but not finished within the
// timeout. Each is leased (published_at = now) so that other replicas leave it alone while this
// one publishes it; one that has used up its publishes is failed instead.
//   $1 now, $2 publish grace (s), $3 job timeout (s), $4 limit, $5 max publishes
const pg::Statement kSweep{"scheduler_sweep", R"sql(
WITH stale AS (
  SELECT job_id FROM summary_jobs
  WHERE state IN ('claimed', 'published')
    -- A job in a batch the API is still running is answered within the batch's window, which
    -- is longer than any job timeout; the summarizer applies it (or calls directly) then.
    AND NOT EXISTS (SELECT 1 FROM summary_batches b
                    WHERE b.batch_id = summary_jobs.batch_id AND b.state = 'submitted')
    AND coalesce(published_at, claimed_at) <= $1::timestamptz - make_interval(
          secs => CASE WHEN state = 'claimed' THEN $2::double precision
                       ELSE $3::double precision END)
  ORDER BY claimed_at
  LIMIT $4
  FOR UPDATE SKIP LOCKED
)
UPDATE summary_jobs j
SET state = CASE WHEN j.publishes >= $5 THEN 'failed' ELSE j.state END,
    finished_at = CASE WHEN j.publishes >= $5 THEN $1::timestamptz ELSE j.finished_at END,
    last_error = CASE WHEN j.publishes >= $5
                      THEN 'not finished after ' || j.publishes || ' publishes, each given '
                           || $3::double precision || ' s'
                           || coalesce('; last error: ' || j.last_error, '')
                      ELSE j.last_error END,
    published_at = CASE WHEN j.publishes >= $5 THEN j.published_at ELSE $1::timestamptz END
FROM stale
WHERE j.job_id = stale.job_id
RETURNING j.job_id, j.team_id, j.user_id, j.day::text, j.version, j.time_zone,
          (extract(epoch FROM j.period_start) * 1000)::bigint,
          (extract(epoch FROM j.period_end) * 1000)::bigint, j.reason, j.publishes, j.state
)sql"};

const pg::Statement kLockState{"scheduler_lock_state", R"sql(
SELECT (extract(epoch FROM last_tick) * 1000)::bigint FROM scheduler_state
WHERE name = 'scheduler' FOR UPDATE
)sql"};

const pg::Statement kSaveState{"scheduler_save_state", R"sql(
INSERT INTO scheduler_state (name, last_tick) VALUES ('scheduler', $1::timestamptz)
ON CONFLICT (name) DO UPDATE
SET last_tick = greatest(scheduler_state.last_tick, EXCLUDED.last_tick), updated_at = now()
)sql"};

// Due times in ($1, $2] (slept through and now older than the catch-up window) that would
// have been claimed.  $1 last tick, $2 now - window, $3 require activity
const pg::Statement kCountSkipped{"scheduler_count_skipped", R"sql(
SELECT count(*) FROM (
  SELECT u.team_id, u.user_id,
         (g::date + make_interval(hours => u.summary_hour)) AT TIME ZONE u.time_zone AS due_at,
         (g::date - 1 + make_interval(hours => u.summary_hour)) AT TIME ZONE u.time_zone AS start_at
  FROM users u
  CROSS JOIN LATERAL generate_series(($1::timestamptz AT TIME ZONE u.time_zone)::date,
                                     ($2::timestamptz AT TIME ZONE u.time_zone)::date,
                                     interval '1 day') AS g
  WHERE NOT u.opted_out) AS d
WHERE d.due_at > $1::timestamptz AND d.due_at <= $2::timestamptz
  AND (NOT $3::boolean OR EXISTS (
        SELECT 1 FROM study_logs l
        WHERE l.team_id = d.team_id AND l.user_id = d.user_id
          AND l.posted_at >= d.start_at AND l.posted_at < d.due_at AND l.deleted_at IS NULL))
)sql"};

std::string iso(SystemClock::time_point t) {
  return log::iso8601_utc(t);
}

SystemClock::time_point from_ms(std::int64_t ms) {
  return SystemClock::time_point{std::chrono::milliseconds{ms}};
}

double seconds_of(std::chrono::milliseconds d) {
  return std::chrono::duration<double>(d).count();
}

std::vector<messages::SummaryRequest> jobs_of(std::string_view text, SystemClock::time_point now) {
  std::vector<messages::SummaryRequest> jobs;
  const json list = json::parse(text);
  jobs.reserve(list.size());
  for (const json& j : list) {
    messages::SummaryRequest r;
    r.job_id = j.at("job_id").get<std::string>();
    r.team_id = j.at("team_id").get<std::string>();
    r.user_id = j.at("user_id").get<std::string>();
    r.day = j.at("day").get<std::string>();
    r.version = j.at("version").get<int>();
    r.time_zone = j.at("time_zone").get<std::string>();
    r.period_start = from_ms(j.at("start_ms").get<std::int64_t>());
    r.period_end = from_ms(j.at("end_ms").get<std::int64_t>());
    r.reason = j.at("reason").get<std::string>();
    r.publish = j.at("publishes").get<int>() + 1;
    r.requested_at = now;
    jobs.push_back(std::move(r));
  }
  return jobs;
}

bool valid_day(const std::string& day) {
  if (day.size() != 10 || day[4] != '-' || day[7] != '-') return false;
  for (std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U}) {
    if (day[i] < '0' || day[i] > '9') return false;
  }
  const std::chrono::year_month_day date{std::chrono::year{std::stoi(day.substr(0, 4))},
                                         std::chrono::month{unsigned(std::stoi(day.substr(5, 2)))},
                                         std::chrono::day{unsigned(std::stoi(day.substr(8, 2)))}};
  return date.ok();
}

}  // namespace

struct Scheduler::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : ticks(metrics::counters(registry, "tracker_scheduler_ticks_total",
                                "Scheduler ticks, by outcome")),
        tick_seconds(metrics::histogram(registry, "tracker_scheduler_tick_seconds",
                                        "Time one tick took: claims, publishes and the sweep",
                                        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        due(metrics::counter(
            registry, "tracker_scheduler_due_total",
            "Summaries found due and unclaimed (replicas may each count the same one)")),
        claimed(metrics::counters(registry, "tracker_scheduler_claimed_total",
                                  "Summary jobs claimed by this replica, by reason")),
        published(metrics::counter(registry, "tracker_scheduler_published_total",
                                   "Summary requests acknowledged by Kafka, first publishes and "
                                   "re-publishes")),
        publish_failed(metrics::counter(registry, "tracker_scheduler_publish_failures_total",
                                        "Summary requests Kafka did not acknowledge (the sweep "
                                        "publishes them again)")),
        republished(
            metrics::counter(registry, "tracker_scheduler_republished_total",
                             "Jobs published again: never published, or not finished in time")),
        timed_out(metrics::counter(registry, "tracker_scheduler_jobs_timed_out_total",
                                   "Jobs marked failed after their last publish went unfinished")),
        skipped(metrics::counter(registry, "tracker_scheduler_catch_up_skipped_total",
                                 "Summaries due while no scheduler ran and older than the catch-up "
                                 "window, not claimed")),
        triggers(metrics::counters(registry, "tracker_scheduler_triggers_total",
                                   "POST /trigger requests, by scope and outcome")),
        last_tick(metrics::gauge(registry, "tracker_scheduler_last_tick_timestamp_seconds",
                                 "When the last successful tick ran (Unix time)")) {}

  prometheus::Family<prometheus::Counter>& ticks;
  prometheus::Histogram& tick_seconds;
  prometheus::Counter& due;
  prometheus::Family<prometheus::Counter>& claimed;
  prometheus::Counter& published;
  prometheus::Counter& publish_failed;
  prometheus::Counter& republished;
  prometheus::Counter& timed_out;
  prometheus::Counter& skipped;
  prometheus::Family<prometheus::Counter>& triggers;
  prometheus::Gauge& last_tick;
};

Scheduler::Scheduler(asio::any_io_executor executor, pg::Pool& pool, kafka::Producer& producer,
                     prometheus::Registry& registry, log::Logger& logger, SchedulerOptions options)
    : executor_(executor),
      pool_(pool),
      producer_(producer),
      logger_(logger),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      stop_(executor) {}

Scheduler::~Scheduler() = default;

asio::awaitable<pg::Result<std::uint64_t>> Scheduler::count_skipped(SystemClock::time_point now) {
  const std::string now_text = iso(now);
  const std::string horizon = iso(now - options_.catch_up_window);
  const bool activity = options_.require_activity;
  co_return co_await pg::in_transaction(
      pool_, [&](pg::Connection& c) -> asio::awaitable<pg::Result<std::uint64_t>> {
        auto last = co_await c.execute(kLockState);
        if (!last) co_return last.error();
        std::uint64_t skipped = 0;
        if (!last->empty()) {
          const auto last_tick = from_ms(last->get<std::int64_t>(0, 0));
          // A month asleep is counted; a year is clamped, to bound the statement.
          const auto from = std::max(last_tick, now - std::chrono::hours{24 * 400});
          if (from < now - options_.catch_up_window) {
            const std::string from_text = iso(from);
            const pg::Params params(from_text, horizon, activity);
            auto counted = co_await c.execute(kCountSkipped, params);
            if (!counted) co_return counted.error();
            skipped = counted->get<std::uint64_t>(0, 0);
          }
        }
        const pg::Params save(now_text);
        auto saved = co_await c.execute(kSaveState, save);
        if (!saved) co_return saved.error();
        co_return skipped;
      });
}

asio::awaitable<pg::Result<std::uint64_t>> Scheduler::publish(
    std::vector<messages::SummaryRequest> jobs, SystemClock::time_point now, TickReport* timing) {
  if (jobs.empty()) co_return 0;
  const auto send_started = std::chrono::steady_clock::now();
  const std::string topic = options_.topic;
  auto sent = co_await kafka::send_all(
      producer_, jobs.size(),
      [&jobs, &topic](std::size_t i) {
        return kafka::OutgoingMessage{.topic = topic,
                                      .key = jobs[i].key(),
                                      .value = messages::encode_summary_request(jobs[i])};
      },
      options_.publish_window);
  json ids = json::array();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (sent.delivered[i]) ids.push_back(jobs[i].job_id);
  }
  metrics_->published.Increment(static_cast<double>(sent.acknowledged));
  if (sent.failed > 0) {
    metrics_->publish_failed.Increment(static_cast<double>(sent.failed));
    logger_.warn("publish_failed", {{"failed", sent.failed},
                                    {"acknowledged", sent.acknowledged},
                                    {"error", sent.first_error.message()},
                                    {"retry", "the sweep publishes them again"}});
  }
  const auto mark_started = std::chrono::steady_clock::now();
  if (timing) {
    timing->publish_seconds += std::chrono::duration<double>(mark_started - send_started).count();
  }
  if (!ids.empty()) {
    auto lease = co_await pool_.acquire();
    if (!lease) co_return lease.error();
    const std::string now_text = iso(now);
    const pg::Params params(ids.dump(), now_text);
    auto marked = co_await (*lease)->execute(kMarkPublished, params);
    if (!marked) co_return marked.error();
  }
  if (timing) {
    timing->mark_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - mark_started).count();
  }
  co_return sent.acknowledged;
}

asio::awaitable<pg::Result<void>> Scheduler::sweep(SystemClock::time_point now,
                                                   TickReport& report) {
  for (int round = 0; round < 100 && !stop_.requested(); ++round) {
    std::vector<messages::SummaryRequest> again;
    {
      auto lease = co_await pool_.acquire();
      if (!lease) co_return lease.error();
      const std::string now_text = iso(now);
      const pg::Params params(
          now_text, seconds_of(options_.publish_grace), seconds_of(options_.job_timeout),
          static_cast<std::int64_t>(options_.claim_batch), options_.max_publishes);
      auto rows = co_await (*lease)->execute(kSweep, params);
      if (!rows) co_return rows.error();
      for (int i = 0; i < rows->size(); ++i) {
        const std::string state = rows->get<std::string>(i, 10);
        const int publishes = rows->get<int>(i, 9);
        const std::string job_id = rows->get<std::string>(i, 0);
        if (state == "failed") {
          ++report.timed_out;
          metrics_->timed_out.Increment();
          logger_.warn("job_timed_out", {{"job_id", job_id}, {"publishes", publishes}});
          continue;
        }
        messages::SummaryRequest r;
        r.job_id = job_id;
        r.team_id = rows->get<std::string>(i, 1);
        r.user_id = rows->get<std::string>(i, 2);
        r.day = rows->get<std::string>(i, 3);
        r.version = rows->get<int>(i, 4);
        r.time_zone = rows->get<std::string>(i, 5);
        r.period_start = from_ms(rows->get<std::int64_t>(i, 6));
        r.period_end = from_ms(rows->get<std::int64_t>(i, 7));
        r.reason = rows->get<std::string>(i, 8);
        r.publish = publishes + 1;
        r.requested_at = now;
        again.push_back(std::move(r));
      }
      if (rows->size() == 0) break;
    }
    const std::size_t count = again.size();
    auto published = co_await publish(std::move(again), now);
    if (!published) co_return published.error();
    report.republished += *published;
    metrics_->republished.Increment(static_cast<double>(*published));
    if (count > 0) logger_.info("republished", {{"jobs", count}, {"acknowledged", *published}});
    if (count < options_.claim_batch) break;
  }
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<TickReport>> Scheduler::tick(SystemClock::time_point now) {
  const auto started = std::chrono::steady_clock::now();
  TickReport report;
  const auto state_started = std::chrono::steady_clock::now();
  auto skipped = co_await count_skipped(now);
  const double state_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - state_started).count();
  if (!skipped) co_return skipped.error();
  report.skipped = *skipped;
  if (*skipped > 0) {
    metrics_->skipped.Increment(static_cast<double>(*skipped));
    logger_.warn("catch_up_skipped", {{"summaries", *skipped},
                                      {"catch_up_window_s", seconds_of(options_.catch_up_window)}});
  }
  // A due time more than two ticks old was missed (the scheduler was down): catch_up.
  const SystemClock::time_point scheduled_since = now - 2 * options_.tick_interval;
  for (int round = 0; round < 1'000 && !stop_.requested(); ++round) {
    std::vector<messages::SummaryRequest> jobs;
    std::uint64_t due = 0;
    const auto claim_started = std::chrono::steady_clock::now();
    {
      auto lease = co_await pool_.acquire();
      if (!lease) co_return lease.error();
      const std::string now_text = iso(now);
      const std::string since_text = iso(scheduled_since);
      const pg::Params params(
          now_text, seconds_of(options_.catch_up_window), options_.require_activity,
          static_cast<std::int64_t>(options_.claim_batch), since_text, options_.instance);
      auto rows = co_await (*lease)->execute(kClaimDue, params);
      if (!rows) co_return rows.error();
      due = rows->get<std::uint64_t>(0, 0);
      jobs = jobs_of(rows->text(0, 1), now);
    }
    report.claim_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - claim_started).count();
    report.due += due;
    report.claimed += jobs.size();
    metrics_->due.Increment(static_cast<double>(due));
    const auto catch_up = static_cast<std::uint64_t>(std::count_if(
        jobs.begin(), jobs.end(), [](const auto& job) { return job.reason == "catch_up"; }));
    report.catch_up += catch_up;
    metrics_->claimed.Add({{"reason", "scheduled"}})
        .Increment(static_cast<double>(jobs.size() - catch_up));
    metrics_->claimed.Add({{"reason", "catch_up"}}).Increment(static_cast<double>(catch_up));
    auto published = co_await publish(std::move(jobs), now, &report);
    if (!published) co_return published.error();
    report.published += *published;
    report.publish_failed = report.claimed - report.published;
    if (due < options_.claim_batch) break;
  }
  const auto sweep_started = std::chrono::steady_clock::now();
  if (auto swept = co_await sweep(now, report); !swept) co_return swept.error();
  report.sweep_seconds =
      state_seconds +
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_started).count();
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_->tick_seconds.Observe(report.seconds);
  metrics_->last_tick.Set(std::chrono::duration<double>(now.time_since_epoch()).count());
  co_return report;
}

asio::awaitable<pg::Result<TriggerReport>> Scheduler::trigger(TriggerRequest request,
                                                              SystemClock::time_point now) {
  TriggerReport report;
  std::vector<messages::SummaryRequest> jobs;
  {
    auto lease = co_await pool_.acquire();
    if (!lease) co_return lease.error();
    const std::string now_text = iso(now);
    const bool activity = request.require_activity.value_or(options_.require_activity);
    const pg::Params params(now_text, request.team_id, request.user_id, request.day, request.force,
                            activity, options_.instance);
    auto rows = co_await (*lease)->execute(kTrigger, params);
    if (!rows) co_return rows.error();
    report.matched = rows->get<std::uint64_t>(0, 0);
    report.already_claimed = rows->get<std::uint64_t>(0, 1);
    jobs = jobs_of(rows->text(0, 2), now);
  }
  report.claimed = jobs.size();
  for (std::size_t i = 0; i < jobs.size() && i < kTriggerJobsListed; ++i) {
    report.jobs.push_back(jobs[i].job_id);
  }
  metrics_->claimed.Add({{"reason", "trigger"}}).Increment(static_cast<double>(jobs.size()));
  auto published = co_await publish(std::move(jobs), now);
  if (!published) co_return published.error();
  report.published = *published;
  co_return report;
}

TriggerRequest parse_trigger(std::string_view body) {
  TriggerRequest request;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return request;  // everyone
  const json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    throw std::invalid_argument("the body is not a JSON object");
  }
  for (const auto& [key, value] : parsed.items()) {
    if (key != "team_id" && key != "user_id" && key != "day" && key != "force" &&
        key != "require_activity") {
      throw std::invalid_argument("unknown field \"" + key.substr(0, 40) +
                                  "\" (known: team_id, user_id, day, force, require_activity)");
    }
  }
  auto text = [&](const char* name) -> std::optional<std::string> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || it->is_null()) return std::nullopt;
    if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
        it->get_ref<const std::string&>().size() > 64) {
      throw std::invalid_argument(std::string(name) + " must be a non-empty string");
    }
    return it->get<std::string>();
  };
  auto flag = [&](const char* name) -> std::optional<bool> {
    const auto it = parsed.find(name);
    if (it == parsed.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean())
      throw std::invalid_argument(std::string(name) + " must be true or false");
    return it->get<bool>();
  };
  request.team_id = text("team_id");
  request.user_id = text("user_id");
  request.day = text("day");
  request.force = flag("force").value_or(false);
  request.require_activity = flag("require_activity");
  if (request.user_id && !request.team_id) {
    throw std::invalid_argument("user_id needs team_id");
  }
  if (request.day && !valid_day(*request.day)) {
    throw std::invalid_argument("day must be a date, YYYY-MM-DD");
  }
  return request;
}

asio::awaitable<http::Response> Scheduler::handle_trigger(const http::Request& request) {
  namespace bh = http::beast_http;
  TriggerRequest parsed;
  try {
    parsed = parse_trigger(request.body());
  } catch (const std::invalid_argument& error) {
    metrics_->triggers.Add({{"scope", "invalid"}, {"outcome", "rejected"}}).Increment();
    co_return http::error_response(bh::status::bad_request, "invalid_trigger", error.what(),
                                   request.version());
  }
  const std::string scope = parsed.user_id ? "user" : parsed.team_id ? "team" : "everyone";
  auto report = co_await trigger(parsed, SystemClock::now());
  if (!report) {
    metrics_->triggers.Add({{"scope", scope}, {"outcome", "failed"}}).Increment();
    logger_.warn("trigger_failed", {{"scope", scope}, {"error", report.error().describe()}});
    co_return http::error_response(bh::status::service_unavailable, "database_unavailable",
                                   "the database did not answer; try again", request.version());
  }
  metrics_->triggers.Add({{"scope", scope}, {"outcome", "ok"}}).Increment();
  logger_.info("triggered", {{"scope", scope},
                             {"team_id", parsed.team_id.value_or("")},
                             {"user_id", parsed.user_id.value_or("")},
                             {"day", parsed.day.value_or("")},
                             {"force", parsed.force},
                             {"matched", report->matched},
                             {"claimed", report->claimed},
                             {"already_claimed", report->already_claimed},
                             {"published", report->published}});
  const json body{{"scope", scope},
                  {"matched", report->matched},
                  {"claimed", report->claimed},
                  {"already_claimed", report->already_claimed},
                  {"published", report->published},
                  {"jobs", report->jobs}};
  co_return http::json_response(bh::status::ok, body.dump(), request.version());
}

asio::awaitable<bool> Scheduler::run() {
  // A failed tick (the database down) is tried again sooner than the next tick, with capped
  // backoff, and again until it succeeds: ticking is the scheduler's whole job, and a tick
  // acknowledges nothing, so nothing is lost while it waits. The stop bounds it (stop()
  // abandons at once). Each retry starts a fresh tick at its own time.
  const async::RetryPolicy policy{
      .initial = 250ms,
      .max_delay = std::min(options_.db_retry_max, options_.tick_interval),
      .max_attempts = async::kUnlimitedAttempts,
      .max_elapsed = async::kUnlimitedTime};
  const async::RetryHooks<pg::Error> hooks{
      .failed = [this](const pg::Error& error, int, std::chrono::milliseconds retry_in) {
        tick_failed(error, retry_in);
      }};
  SystemClock::time_point now;
  auto attempt = [this, &now] {
    now = SystemClock::now();
    return tick(now);
  };
  while (!stop_.requested()) {
    auto report = co_await async::retry(stop_, policy, hooks, attempt);
    if (!report) {
      last_tick_ok_ = false;
      break;  // abandoned: stopped
    }
    last_tick_ok_ = true;
    metrics_->ticks.Add({{"outcome", "ok"}}).Increment();
    if (report->claimed > 0 || report->republished > 0 || report->timed_out > 0 ||
        report->skipped > 0) {
      logger_.info("tick", {{"due", report->due},
                            {"claimed", report->claimed},
                            {"catch_up", report->catch_up},
                            {"skipped", report->skipped},
                            {"published", report->published},
                            {"republished", report->republished},
                            {"timed_out", report->timed_out},
                            {"seconds", report->seconds}});
    }
    // The next tick on the interval's grid, so ticks do not drift by their own duration.
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(SystemClock::now() - now);
    co_await stop_.sleep(std::max(std::chrono::milliseconds{0}, options_.tick_interval - elapsed));
  }
  stop_.finish();
  co_return true;
}

void Scheduler::tick_failed(const pg::Error& error, std::chrono::milliseconds retry_in) {
  last_tick_ok_ = false;
  metrics_->ticks.Add({{"outcome", "failed"}}).Increment();
  logger_.warn("tick_failed", {{"error", error.describe()}, {"retry_in_ms", retry_in.count()}});
}

void Scheduler::stop(std::chrono::milliseconds /*grace*/) {
  // No grace: a tick's statements are bounded by the pool's query timeout, and what a tick
  // leaves unpublished the next tick's sweep publishes. The tick in progress ends after its
  // current statement; the pause between ticks (or before a retry) ends at once.
  stop_.abandon();
}

}  // namespace tracker::scheduler
