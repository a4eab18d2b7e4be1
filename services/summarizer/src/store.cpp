#include <tracker/summarizer/store.hpp>

#include <nlohmann/json.hpp>

#include <tracker/log/timestamp.hpp>
#include <tracker/pg/transaction.hpp>

namespace tracker::summarizer {

namespace {

const pg::Statement kJob{"summarizer_job", R"sql(
SELECT j.state, coalesce(j.last_error, ''), s.channel, s.text
FROM summary_jobs j LEFT JOIN summaries s ON s.job_id = j.job_id
WHERE j.job_id = $1
)sql"};

//   $1 team, $2 user, $3 start, $4 end, $5 time zone, $6 limit (newest kept)
const pg::Statement kLogs{"summarizer_logs", R"sql(
SELECT channel_id, ts, body, duration_minutes, to_json(topics)::text,
       to_char(posted_at AT TIME ZONE $5, 'HH24:MI'), count(*) OVER ()
FROM study_logs
WHERE team_id = $1 AND user_id = $2 AND posted_at >= $3::timestamptz
  AND posted_at < $4::timestamptz AND deleted_at IS NULL
ORDER BY posted_at DESC, ts DESC
LIMIT $6
)sql"};

//   $1 team, $2 user, $3 start of this period
const pg::Statement kPrevious{"summarizer_previous", R"sql(
SELECT count(*), coalesce(sum(duration_minutes), 0),
       coalesce(to_json(array(SELECT DISTINCT t FROM study_logs l2, unnest(l2.topics) AS t
                              WHERE l2.team_id = $1 AND l2.user_id = $2
                                AND l2.posted_at >= $3::timestamptz - interval '1 day'
                                AND l2.posted_at < $3::timestamptz AND l2.deleted_at IS NULL
                              ORDER BY t LIMIT 20))::text, '[]')
FROM study_logs
WHERE team_id = $1 AND user_id = $2 AND posted_at >= $3::timestamptz - interval '1 day'
  AND posted_at < $3::timestamptz AND deleted_at IS NULL
)sql"};

// The summary days (a log at local time t belongs to the day whose summary hour follows t)
// with logs, newest first, up to the period's end.   $1 team, $2 user, $3 end
const pg::Statement kActiveDays{"summarizer_active_days", R"sql(
SELECT DISTINCT ((l.posted_at AT TIME ZONE u.time_zone)
                 - make_interval(hours => u.summary_hour))::date + 1 AS day
FROM study_logs l JOIN users u ON u.team_id = l.team_id AND u.user_id = l.user_id
WHERE l.team_id = $1 AND l.user_id = $2 AND l.deleted_at IS NULL
  AND l.posted_at < $3::timestamptz AND l.posted_at >= $3::timestamptz - interval '400 days'
ORDER BY day DESC
LIMIT 400
)sql"};

const pg::Statement kSave{"summarizer_save", R"sql(
INSERT INTO summaries (job_id, team_id, user_id, day, channel, text, provider, model,
                       prompt_tokens, completion_tokens, logs, attempts, latency_ms)
VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (job_id) DO NOTHING
)sql"};

const pg::Statement kStored{"summarizer_stored", R"sql(
SELECT channel, text, provider, model, prompt_tokens, completion_tokens, logs, attempts,
       latency_ms
FROM summaries WHERE job_id = $1
)sql"};

const pg::Statement kDone{"summarizer_done", R"sql(
UPDATE summary_jobs SET state = 'done', finished_at = now(), last_error = NULL
WHERE job_id = $1 AND state <> 'done'
)sql"};

const pg::Statement kFailed{"summarizer_failed", R"sql(
UPDATE summary_jobs SET state = 'failed', finished_at = now(), last_error = $2
WHERE job_id = $1 AND state <> 'done'
)sql"};

// A transient failure: the job stays open, so that the scheduler's sweep publishes it again
// after its timeout (a bounded number of times); the reason is kept for that sweep's verdict.
const pg::Statement kDeferred{"summarizer_deferred", R"sql(
UPDATE summary_jobs SET last_error = $2
WHERE job_id = $1 AND state IN ('claimed', 'published')
)sql"};

const pg::Statement kRecordBatch{"summarizer_record_batch", R"sql(
WITH batch AS (
  INSERT INTO summary_batches (batch_id, input_file_id, jobs, next_poll_at)
  VALUES ($1, $2, $3, now() + make_interval(secs => $5::double precision))
  RETURNING batch_id)
UPDATE summary_jobs SET batch_id = (SELECT batch_id FROM batch)
WHERE job_id IN (SELECT jsonb_array_elements_text($4::jsonb))
)sql"};

const pg::Statement kLeaseBatches{"summarizer_lease_batches", R"sql(
UPDATE summary_batches SET leased_until = now() + make_interval(secs => $2::double precision),
                           polls = polls + 1
WHERE batch_id IN (
  SELECT batch_id FROM summary_batches
  WHERE state = 'submitted' AND next_poll_at <= now()
    AND (leased_until IS NULL OR leased_until < now())
  ORDER BY next_poll_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING batch_id
)sql"};

// The next poll backs off: the first interval doubling with every poll (polls counts this one),
// up to the longest.
//   $3 first interval (s), $4 longest interval (s)
const pg::Statement kBatchPolled{"summarizer_batch_polled", R"sql(
UPDATE summary_batches
SET api_status = $2, leased_until = NULL,
    next_poll_at = now() + make_interval(secs => least(
      $3::double precision * power(2::double precision, least(greatest(polls - 1, 0), 30)),
      $4::double precision))
WHERE batch_id = $1
)sql"};

const pg::Statement kBatchApplied{"summarizer_batch_applied", R"sql(
UPDATE summary_batches
SET state = 'applied', api_status = $2, last_error = nullif($3, ''), leased_until = NULL,
    finished_at = now()
WHERE batch_id = $1
)sql"};

const pg::Statement kBatchJobs{"summarizer_batch_jobs", R"sql(
SELECT job_id, team_id, user_id, day::text, version, time_zone,
       (extract(epoch FROM period_start) * 1000)::bigint,
       (extract(epoch FROM period_end) * 1000)::bigint, reason, publishes
FROM summary_jobs WHERE batch_id = $1 AND state NOT IN ('done', 'failed')
)sql"};

std::vector<std::string> string_array(std::string_view json_text) {
  std::vector<std::string> out;
  const auto parsed = nlohmann::json::parse(json_text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& item : parsed) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

asio::awaitable<pg::Result<std::optional<JobState>>> Store::job(std::string job_id) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(job_id);
  auto rows = co_await (*lease)->execute(kJob, params);
  if (!rows) co_return rows.error();
  if (rows->empty()) co_return std::optional<JobState>{};
  JobState state;
  state.state = rows->get<std::string>(0, 0);
  state.last_error = rows->get<std::string>(0, 1);
  state.summary_channel = rows->get<std::optional<std::string>>(0, 2);
  state.summary_text = rows->get<std::optional<std::string>>(0, 3);
  co_return std::optional<JobState>{std::move(state)};
}

asio::awaitable<pg::Result<StudyContext>> Store::context(messages::SummaryRequest request) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  pg::Connection& c = **lease;
  const std::string start = log::iso8601_utc(request.period_start);
  const std::string end = log::iso8601_utc(request.period_end);
  StudyContext context;
  {
    const pg::Params params(request.team_id, request.user_id, start, end, request.time_zone,
                            static_cast<std::int64_t>(max_logs_));
    auto rows = co_await c.execute(kLogs, params);
    if (!rows) co_return rows.error();
    for (int i = rows->size() - 1; i >= 0; --i) {  // newest first from the query
      LogEntry entry;
      entry.channel = rows->get<std::string>(i, 0);
      entry.ts = rows->get<std::string>(i, 1);
      entry.text = rows->get<std::string>(i, 2);
      entry.minutes = rows->get<std::optional<int>>(i, 3);
      entry.topics = string_array(rows->text(i, 4));
      entry.local_time = rows->get<std::string>(i, 5);
      context.logs.push_back(std::move(entry));
    }
    context.logs_total = rows->empty() ? 0 : rows->get<std::size_t>(0, 6);
  }
  {
    const pg::Params params(request.team_id, request.user_id, start);
    auto rows = co_await c.execute(kPrevious, params);
    if (!rows) co_return rows.error();
    context.previous_logs = rows->get<int>(0, 0);
    context.previous_minutes = rows->get<int>(0, 1);
    context.previous_topics = string_array(rows->text(0, 2));
  }
  {
    const pg::Params params(request.team_id, request.user_id, end);
    auto rows = co_await c.execute(kActiveDays, params);
    if (!rows) co_return rows.error();
    for (int i = 0; i < rows->size(); ++i)
      context.active_days.push_back(rows->get<std::string>(i, 0));
  }
  co_return context;
}

asio::awaitable<pg::Result<SummaryRecord>> Store::save(SummaryRecord record) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  pg::Connection& c = **lease;
  const pg::Params params(record.job_id, record.team_id, record.user_id, record.day, record.channel,
                          record.text, record.provider, record.model, record.prompt_tokens,
                          record.completion_tokens, record.logs, record.attempts,
                          record.latency_ms);
  auto inserted = co_await c.execute(kSave, params);
  if (!inserted) co_return inserted.error();
  if (inserted->affected() == 1) co_return record;
  // Another copy of the request stored it first: that one is the summary.
  const pg::Params key(record.job_id);
  auto rows = co_await c.execute(kStored, key);
  if (!rows) co_return rows.error();
  if (rows->empty()) co_return record;  // deleted meanwhile (a cascade): nothing better to say
  record.channel = rows->get<std::string>(0, 0);
  record.text = rows->get<std::string>(0, 1);
  record.provider = rows->get<std::string>(0, 2);
  record.model = rows->get<std::string>(0, 3);
  record.prompt_tokens = rows->get<std::optional<int>>(0, 4);
  record.completion_tokens = rows->get<std::optional<int>>(0, 5);
  record.logs = rows->get<int>(0, 6);
  record.attempts = rows->get<int>(0, 7);
  record.latency_ms = rows->get<double>(0, 8);
  co_return record;
}

asio::awaitable<pg::Result<void>> Store::mark_done(std::string job_id) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(job_id);
  auto done = co_await (*lease)->execute(kDone, params);
  if (!done) co_return done.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> Store::mark_failed(std::string job_id, std::string reason) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(job_id, reason.substr(0, 2'000));
  auto failed = co_await (*lease)->execute(kFailed, params);
  if (!failed) co_return failed.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> Store::defer(std::string job_id, std::string reason) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(job_id, reason.substr(0, 2'000));
  auto deferred = co_await (*lease)->execute(kDeferred, params);
  if (!deferred) co_return deferred.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> Store::record_batch(std::string batch_id,
                                                      std::string input_file_id,
                                                      std::vector<std::string> job_ids) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const nlohmann::json ids = job_ids;
  const pg::Params params(batch_id, input_file_id, static_cast<int>(job_ids.size()), ids.dump(),
                          first_poll_seconds_);
  auto recorded = co_await (*lease)->execute(kRecordBatch, params);
  if (!recorded) co_return recorded.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<std::vector<std::string>>> Store::lease_batches(
    int limit, std::chrono::milliseconds lease_for) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(limit, std::chrono::duration<double>(lease_for).count());
  auto rows = co_await (*lease)->execute(kLeaseBatches, params);
  if (!rows) co_return rows.error();
  std::vector<std::string> ids;
  for (int i = 0; i < rows->size(); ++i) ids.push_back(rows->get<std::string>(i, 0));
  co_return ids;
}

asio::awaitable<pg::Result<void>> Store::batch_polled(std::string batch_id, std::string api_status,
                                                      std::chrono::milliseconds first_interval,
                                                      std::chrono::milliseconds longest_interval) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(batch_id, api_status,
                          std::chrono::duration<double>(first_interval).count(),
                          std::chrono::duration<double>(longest_interval).count());
  auto done = co_await (*lease)->execute(kBatchPolled, params);
  if (!done) co_return done.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> Store::batch_applied(std::string batch_id, std::string api_status,
                                                       std::string error) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(batch_id, api_status, error.substr(0, 2'000));
  auto done = co_await (*lease)->execute(kBatchApplied, params);
  if (!done) co_return done.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<std::vector<messages::SummaryRequest>>> Store::batch_jobs(
    std::string batch_id) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const pg::Params params(batch_id);
  auto rows = co_await (*lease)->execute(kBatchJobs, params);
  if (!rows) co_return rows.error();
  std::vector<messages::SummaryRequest> jobs;
  for (int i = 0; i < rows->size(); ++i) {
    messages::SummaryRequest r;
    r.job_id = rows->get<std::string>(i, 0);
    r.team_id = rows->get<std::string>(i, 1);
    r.user_id = rows->get<std::string>(i, 2);
    r.day = rows->get<std::string>(i, 3);
    r.version = rows->get<int>(i, 4);
    r.time_zone = rows->get<std::string>(i, 5);
    r.period_start = std::chrono::system_clock::time_point{
        std::chrono::milliseconds{rows->get<std::int64_t>(i, 6)}};
    r.period_end = std::chrono::system_clock::time_point{
        std::chrono::milliseconds{rows->get<std::int64_t>(i, 7)}};
    r.reason = rows->get<std::string>(i, 8);
    r.publish = rows->get<int>(i, 9);
    r.requested_at = std::chrono::system_clock::now();
    jobs.push_back(std::move(r));
  }
  co_return jobs;
}

}  // namespace tracker::summarizer
