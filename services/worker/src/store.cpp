#include <tracker/worker/store.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include <tracker/pg/transaction.hpp>

namespace tracker::worker {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// Returns the ids that were not there yet: those events are new.
const pg::Statement kClaimEvents{"worker_claim_events", R"sql(
  INSERT INTO processed_events (event_id)
  SELECT jsonb_array_elements_text($1::jsonb)
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id)sql"};

// Sorted by the caller, so concurrent batches lock the same keys in the same order.
const pg::Statement kCreateUsers{"worker_create_users", R"sql(
  INSERT INTO users (team_id, user_id, time_zone, summary_hour)
  SELECT u.team_id, u.user_id, $2, $3::smallint
  FROM jsonb_to_recordset($1::jsonb) AS u(team_id text, user_id text)
  ON CONFLICT (team_id, user_id) DO NOTHING)sql"};

// One row per message (the caller folds a batch's changes per message first: ON CONFLICT DO
// UPDATE may touch a row only once per statement). The WHERE makes an older change a no-op.
const pg::Statement kUpsertLogs{"worker_upsert_logs", R"sql(
  INSERT INTO study_logs AS s (team_id, user_id, channel_id, ts, thread_ts, event_id, body,
                               posted_at, edited_at, deleted_at, version_at, duration_minutes,
                               topics)
  SELECT r.team_id, r.user_id, r.channel_id, r.ts, r.thread_ts, r.event_id, r.body,
         r.posted_at, r.edited_at, r.deleted_at, r.version_at, r.duration_minutes,
         ARRAY(SELECT jsonb_array_elements_text(r.topics))
  FROM jsonb_to_recordset($1::jsonb) AS r(team_id text, user_id text, channel_id text, ts text,
       thread_ts text, event_id text, body text, posted_at timestamptz, edited_at timestamptz,
       deleted_at timestamptz, version_at timestamptz, duration_minutes integer, topics jsonb)
  ON CONFLICT (team_id, channel_id, ts) DO UPDATE SET
    user_id = CASE WHEN EXCLUDED.user_id <> '' THEN EXCLUDED.user_id ELSE s.user_id END,
    thread_ts = COALESCE(EXCLUDED.thread_ts, s.thread_ts),
    event_id = EXCLUDED.event_id,
    body = EXCLUDED.body,
    edited_at = COALESCE(EXCLUDED.edited_at, s.edited_at),
    deleted_at = EXCLUDED.deleted_at,
    version_at = EXCLUDED.version_at,
    duration_minutes = EXCLUDED.duration_minutes,
    topics = EXCLUDED.topics,
    updated_at = now()
  WHERE s.version_at < EXCLUDED.version_at)sql"};

// Oldest first, a bounded number at a time, so that one statement never holds many locks.
const pg::Statement kPruneProcessed{"worker_prune_processed", R"sql(
  DELETE FROM processed_events WHERE event_id IN (
    SELECT event_id FROM processed_events
    WHERE processed_at < now() - make_interval(secs => $1::double precision)
    ORDER BY processed_at LIMIT $2::integer))sql"};

const pg::Statement kCheckTimeZone{"worker_check_time_zone", "SELECT now() AT TIME ZONE $1"};

struct Row {
  const Event* event = nullptr;
  Micros version_at;
  std::optional<std::string> thread_ts;
};

json row_json(const Row& row) {
  json out;
  out["event_id"] = row.event->event_id;
  out["thread_ts"] = row.thread_ts ? json(*row.thread_ts) : json(nullptr);
  out["version_at"] = format_utc(row.version_at);
  if (const auto* write = std::get_if<MessageWrite>(&row.event->action)) {
    out["team_id"] = write->team_id;
    out["user_id"] = write->user_id;
    out["channel_id"] = write->channel_id;
    out["ts"] = write->ts;
    out["body"] = write->text;
    out["posted_at"] = format_utc(write->posted_at);
    out["edited_at"] = write->edited_at ? json(format_utc(*write->edited_at)) : json(nullptr);
    out["deleted_at"] = nullptr;
    out["duration_minutes"] = write->hints.minutes ? json(*write->hints.minutes) : json(nullptr);
    out["topics"] = write->hints.topics;
  } else {
    const auto& deletion = std::get<MessageDeletion>(row.event->action);
    out["team_id"] = deletion.team_id;
    out["user_id"] = deletion.user_id;
    out["channel_id"] = deletion.channel_id;
    out["ts"] = deletion.ts;
    out["body"] = "";
    out["posted_at"] = format_utc(deletion.posted_at);
    out["edited_at"] = nullptr;
    out["deleted_at"] = format_utc(deletion.deleted_at);
    out["duration_minutes"] = nullptr;
    out["topics"] = json::array();
  }
  return out;
}

using MessageKey = std::tuple<std::string_view, std::string_view, std::string_view>;

MessageKey key_of(const Event& event) {
  if (const auto* write = std::get_if<MessageWrite>(&event.action)) {
    return {write->team_id, write->channel_id, write->ts};
  }
  const auto& deletion = std::get<MessageDeletion>(event.action);
  return {deletion.team_id, deletion.channel_id, deletion.ts};
}

Micros version_of(const Event& event) {
  if (const auto* write = std::get_if<MessageWrite>(&event.action)) return write->version_at;
  return std::get<MessageDeletion>(event.action).deleted_at;
}

std::optional<std::string> thread_of(const Event& event) {
  if (const auto* write = std::get_if<MessageWrite>(&event.action)) return write->thread_ts;
  return std::nullopt;
}

// The statements' JSON parameters for the new events of a batch; empty strings when there is
// nothing to write. (A plain function: GCC 12 mishandles structured bindings in coroutines.)
struct Folded {
  std::string users;
  std::string rows;
};

Folded fold(const std::vector<const Event*>& events,
            const std::unordered_set<std::string_view>& fresh) {
  // The newest change per message, as the database would keep it.
  std::map<MessageKey, Row> rows;
  std::set<std::pair<std::string_view, std::string_view>> authors;
  for (const Event* event : events) {
    if (!fresh.contains(event->event_id)) continue;
    if (const auto* write = std::get_if<MessageWrite>(&event->action)) {
      authors.emplace(write->team_id, write->user_id);
    }
    const Micros version = version_of(*event);
    auto [it, inserted] = rows.try_emplace(key_of(*event), Row{event, version, thread_of(*event)});
    if (inserted) continue;
    Row& row = it->second;
    if (version > row.version_at) {
      row.event = event;
      row.version_at = version;
    }
    if (!row.thread_ts) row.thread_ts = thread_of(*event);
  }
  Folded out;
  if (!authors.empty()) {
    json users = json::array();
    for (const auto& [team, user] : authors) {
      users.push_back({{"team_id", team}, {"user_id", user}});
    }
    out.users = users.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (!rows.empty()) {
    json values = json::array();
    for (const auto& entry : rows) values.push_back(row_json(entry.second));
    out.rows = values.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return out;
}

// Per event: its id was claimed by this batch, and it is the id's first occurrence here.
std::vector<bool> applied_mask(const std::vector<const Event*>& events,
                               const std::unordered_set<std::string_view>& fresh) {
  std::vector<bool> mask(events.size(), false);
  std::unordered_set<std::string_view> taken;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string_view id = events[i]->event_id;
    mask[i] = fresh.contains(id) && taken.insert(id).second;
  }
  return mask;
}

}  // namespace

asio::awaitable<pg::Result<BatchOutcome>> Store::write(std::vector<const Event*> events) {
  // A batch may hold the same event twice (Slack retried before ingest's first answer).
  std::vector<const Event*> unique;
  unique.reserve(events.size());
  std::unordered_set<std::string_view> seen;
  for (const Event* event : events) {
    if (seen.insert(event->event_id).second) unique.push_back(event);
  }
  json ids = json::array();
  for (const Event* event : unique) ids.push_back(event->event_id);
  const std::string ids_text = ids.dump();
  const std::size_t in_batch_duplicates = events.size() - unique.size();

  auto work = [&](pg::Connection& connection) -> asio::awaitable<pg::Result<BatchOutcome>> {
    BatchOutcome outcome;
    auto claimed = co_await connection.execute(kClaimEvents, pg::Params{ids_text});
    if (!claimed) co_return claimed.error();
    std::unordered_set<std::string_view> fresh;
    for (int i = 0; i < claimed->size(); ++i) fresh.insert(claimed->text(i, 0));
    outcome.applied = fresh.size();
    outcome.duplicates = in_batch_duplicates + (unique.size() - fresh.size());
    outcome.applied_mask = applied_mask(events, fresh);

    const Folded folded = fold(unique, fresh);
    if (!folded.users.empty()) {
      auto created = co_await connection.execute(
          kCreateUsers, pg::Params{folded.users, defaults_.time_zone, defaults_.summary_hour});
      if (!created) co_return created.error();
      outcome.users_created = static_cast<std::size_t>(created->affected());
    }
    if (!folded.rows.empty()) {
      auto upserted = co_await connection.execute(kUpsertLogs, pg::Params{folded.rows});
      if (!upserted) co_return upserted.error();
      outcome.rows_changed = static_cast<std::size_t>(upserted->affected());
    }
    co_return outcome;
  };
  co_return co_await pg::in_transaction(pool_, work);
}

asio::awaitable<pg::Result<std::size_t>> Store::prune_processed(std::chrono::milliseconds retention,
                                                                std::size_t limit) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  const double seconds = std::chrono::duration<double>(retention).count();
  auto deleted =
      co_await (*lease)->execute(kPruneProcessed, pg::Params{seconds, static_cast<int>(limit)});
  if (!deleted) co_return deleted.error();
  co_return static_cast<std::size_t>(deleted->affected());
}

asio::awaitable<pg::Result<void>> Store::check_time_zone(std::string time_zone) {
  auto lease = co_await pool_.acquire();
  if (!lease) co_return lease.error();
  auto checked = co_await (*lease)->execute(kCheckTimeZone, pg::Params{time_zone});
  if (!checked) {
    pg::Error error = checked.error();
    if (error.kind == pg::Error::Kind::query) {
      error.message = "time zone \"" + time_zone + "\" is unknown to PostgreSQL: " + error.message;
    }
    co_return error;
  }
  co_return pg::Result<void>{};
}

}  // namespace tracker::worker
