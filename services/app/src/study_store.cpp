#include <tracker/app/study_store.hpp>

namespace tracker::app {

namespace asio = boost::asio;

namespace {

const pg::Statement kPerson{"app_person", R"sql(
  SELECT time_zone, summary_hour, opted_out, coalesce(locale, '') FROM users
  WHERE team_id = $1 AND user_id = $2)sql"};

// $3 the person's time zone, $4 days. Each local day from today - ($4 - 1) to today, with the
// live (not deleted) logs posted in it.
const pg::Statement kDays{"app_days", R"sql(
  WITH bounds AS (
    SELECT g::date AS day,
           (g::date)::timestamp AT TIME ZONE $3 AS day_start,
           (g::date + 1)::timestamp AT TIME ZONE $3 AS day_end
    FROM generate_series((now() AT TIME ZONE $3)::date - ($4::int - 1),
                         (now() AT TIME ZONE $3)::date, interval '1 day') AS g)
  SELECT to_char(b.day, 'YYYY-MM-DD'), count(l.id),
         coalesce(sum(l.duration_minutes), 0),
         coalesce((SELECT string_agg(DISTINCT t, ',' ORDER BY t)
                   FROM study_logs l2, unnest(l2.topics) AS t
                   WHERE l2.team_id = $1 AND l2.user_id = $2 AND l2.deleted_at IS NULL
                     AND l2.posted_at >= b.day_start AND l2.posted_at < b.day_end), '')
  FROM bounds b
  LEFT JOIN study_logs l
    ON l.team_id = $1 AND l.user_id = $2 AND l.deleted_at IS NULL
   AND l.posted_at >= b.day_start AND l.posted_at < b.day_end
  GROUP BY b.day, b.day_start, b.day_end ORDER BY b.day)sql"};

const pg::Statement kLatestFeedback{"app_latest_feedback", R"sql(
  SELECT to_char(day, 'YYYY-MM-DD'), text FROM summaries
  WHERE team_id = $1 AND user_id = $2 ORDER BY day DESC, created_at DESC LIMIT 1)sql"};

const pg::Statement kZoneKnown{"app_zone_known", R"sql(
  SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1))sql"};

const pg::Statement kSetZone{"app_set_zone", R"sql(
  INSERT INTO users (team_id, user_id, time_zone, summary_hour, time_zone_source)
  VALUES ($1, $2, $3, $4, 'user')
  ON CONFLICT (team_id, user_id) DO UPDATE SET time_zone = EXCLUDED.time_zone,
                                               time_zone_source = 'user', updated_at = now())sql"};

// A time zone Slack gave ($3, from users.info or user_change): kept unless the person chose one.
// $4 the default hour for a new row. Returns whether the row now has it.
const pg::Statement kLearnZone{"app_learn_zone", R"sql(
  INSERT INTO users (team_id, user_id, time_zone, summary_hour, time_zone_source)
  SELECT $1, $2, $3, $4, 'slack' WHERE EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $3)
  ON CONFLICT (team_id, user_id) DO UPDATE SET time_zone = EXCLUDED.time_zone,
                                               time_zone_source = 'slack', updated_at = now()
  WHERE users.time_zone_source <> 'user' AND users.time_zone <> EXCLUDED.time_zone
     OR users.time_zone_source = 'default')sql"};

// $3 the locale, $4 the default zone and $5 the default hour for a new row.
const pg::Statement kLearnLocale{"app_learn_locale", R"sql(
  INSERT INTO users (team_id, user_id, time_zone, summary_hour, locale) VALUES ($1, $2, $4, $5, $3)
  ON CONFLICT (team_id, user_id) DO UPDATE SET locale = EXCLUDED.locale, updated_at = now()
  WHERE users.locale IS DISTINCT FROM EXCLUDED.locale)sql"};

const pg::Statement kZoneSource{"app_zone_source", R"sql(
  SELECT time_zone_source FROM users WHERE team_id = $1 AND user_id = $2)sql"};

const pg::Statement kSetHour{"app_set_hour", R"sql(
  INSERT INTO users (team_id, user_id, time_zone, summary_hour) VALUES ($1, $2, $4, $3)
  ON CONFLICT (team_id, user_id) DO UPDATE SET summary_hour = EXCLUDED.summary_hour,
                                               updated_at = now())sql"};

const pg::Statement kSetPaused{"app_set_paused", R"sql(
  INSERT INTO users (team_id, user_id, time_zone, summary_hour, opted_out) VALUES ($1, $2, $4, $5, $3)
  ON CONFLICT (team_id, user_id) DO UPDATE SET opted_out = EXCLUDED.opted_out, updated_at = now())sql"};

}  // namespace

asio::awaitable<pg::Result<Person>> StudyStore::person(std::string team_id, std::string user_id) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kPerson, pg::Params{team_id, user_id});
  if (!rows) co_return rows.error();
  if (rows->empty()) co_return Person{defaults_.time_zone, defaults_.summary_hour, false, false};
  co_return Person{rows->get<std::string>(0, 0), rows->get<int>(0, 1), rows->get<bool>(0, 2), true,
                   rows->get<std::string>(0, 3)};
}

asio::awaitable<pg::Result<std::vector<StudyDay>>> StudyStore::days(std::string team_id,
                                                                    std::string user_id,
                                                                    std::string time_zone,
                                                                    int count) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows =
      co_await (*connection)->execute(kDays, pg::Params{team_id, user_id, time_zone, count});
  if (!rows) co_return rows.error();
  std::vector<StudyDay> out;
  for (int row = 0; row < rows->size(); ++row) {
    out.push_back(
        {rows->get<std::string>(row, 0), static_cast<int>(rows->get<std::int64_t>(row, 1)),
         static_cast<int>(rows->get<std::int64_t>(row, 2)), pg::split_joined(rows->text(row, 3))});
  }
  co_return out;
}

asio::awaitable<pg::Result<std::pair<std::string, std::string>>> StudyStore::latest_feedback(
    std::string team_id, std::string user_id) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kLatestFeedback, pg::Params{team_id, user_id});
  if (!rows) co_return rows.error();
  if (rows->empty()) co_return std::pair<std::string, std::string>{};
  co_return std::pair<std::string, std::string>{rows->get<std::string>(0, 0),
                                                rows->get<std::string>(0, 1)};
}

asio::awaitable<pg::Result<bool>> StudyStore::set_time_zone(std::string team_id,
                                                            std::string user_id, std::string zone) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto known = co_await (*connection)->execute(kZoneKnown, pg::Params{zone});
  if (!known) co_return known.error();
  if (!known->get<bool>(0, 0)) co_return false;
  auto rows = co_await (*connection)
                  ->execute(kSetZone, pg::Params{team_id, user_id, zone, defaults_.summary_hour});
  if (!rows) co_return rows.error();
  co_return true;
}

asio::awaitable<pg::Result<bool>> StudyStore::learn_time_zone(std::string team_id,
                                                              std::string user_id,
                                                              std::string zone) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)
                  ->execute(kLearnZone, pg::Params{team_id, user_id, zone, defaults_.summary_hour});
  if (!rows) co_return rows.error();
  co_return rows->affected() == 1;
}

asio::awaitable<pg::Result<void>> StudyStore::learn_locale(std::string team_id, std::string user_id,
                                                           std::string locale) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)
                  ->execute(kLearnLocale, pg::Params{team_id, user_id, locale, defaults_.time_zone,
                                                     defaults_.summary_hour});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<std::string>> StudyStore::time_zone_source(std::string team_id,
                                                                      std::string user_id) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kZoneSource, pg::Params{team_id, user_id});
  if (!rows) co_return rows.error();
  co_return rows->empty() ? std::string{} : rows->get<std::string>(0, 0);
}

asio::awaitable<pg::Result<void>> StudyStore::set_summary_hour(std::string team_id,
                                                               std::string user_id, int hour) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)
                  ->execute(kSetHour, pg::Params{team_id, user_id, hour, defaults_.time_zone});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

asio::awaitable<pg::Result<void>> StudyStore::set_paused(std::string team_id, std::string user_id,
                                                         bool paused) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)
                  ->execute(kSetPaused, pg::Params{team_id, user_id, paused, defaults_.time_zone,
                                                   defaults_.summary_hour});
  if (!rows) co_return rows.error();
  co_return pg::Result<void>{};
}

}  // namespace tracker::app
