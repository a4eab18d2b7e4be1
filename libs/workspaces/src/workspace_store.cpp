#include <tracker/workspaces/workspace_store.hpp>

namespace tracker::workspaces {

namespace {

const pg::Statement kUseState{"workspaces_use_state", R"sql(
  INSERT INTO slack_oauth_states (nonce, expires_at) VALUES ($1, to_timestamp($2::double precision))
  ON CONFLICT (nonce) DO NOTHING)sql"};

// A reinstall takes the new token and ends any revocation and its scheduled deletion.
const pg::Statement kSave{"workspaces_save", R"sql(
  INSERT INTO slack_workspaces (team_id, team_name, enterprise_id, app_id, bot_user_id, scope,
                                installer_user_id, token_key_id, token_sealed)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, decode($9, 'base64'))
  ON CONFLICT (team_id) DO UPDATE SET
    team_name = EXCLUDED.team_name, enterprise_id = EXCLUDED.enterprise_id,
    app_id = EXCLUDED.app_id, bot_user_id = EXCLUDED.bot_user_id, scope = EXCLUDED.scope,
    installer_user_id = EXCLUDED.installer_user_id, token_key_id = EXCLUDED.token_key_id,
    token_sealed = EXCLUDED.token_sealed, installed_at = now(), updated_at = now(),
    revoked_at = NULL, revoke_reason = NULL, delete_after = NULL)sql"};

const pg::Statement kToken{"workspaces_token", R"sql(
  SELECT token_key_id, encode(token_sealed, 'base64'), revoked_at IS NOT NULL
  FROM slack_workspaces WHERE team_id = $1)sql"};

const pg::Statement kFind{"workspaces_find", R"sql(
  SELECT team_id, team_name, bot_user_id, token_sealed IS NOT NULL
  FROM slack_workspaces WHERE team_id = $1)sql"};

const pg::Statement kSealedElsewhere{"workspaces_sealed_elsewhere", R"sql(
  SELECT team_id, token_key_id, encode(token_sealed, 'base64')
  FROM slack_workspaces WHERE token_key_id IS NOT NULL AND token_key_id <> $1)sql"};

// Only if the row still holds what was opened: an install in between wins.
const pg::Statement kReseal{"workspaces_reseal", R"sql(
  UPDATE slack_workspaces SET token_key_id = $2, token_sealed = decode($3, 'base64'),
                              updated_at = now()
  WHERE team_id = $1 AND token_key_id = $4 AND token_sealed = decode($5, 'base64'))sql"};

const pg::Statement kPruneStates{"workspaces_prune_states", R"sql(
  DELETE FROM slack_oauth_states
  WHERE expires_at < now() - make_interval(secs => $1::double precision))sql"};

const pg::Statement kRevoke{"workspaces_revoke", R"sql(
  UPDATE slack_workspaces
  SET token_sealed = NULL, token_key_id = NULL, revoked_at = now(), revoke_reason = $2,
      delete_after = now() + make_interval(secs => $4::double precision), updated_at = now()
  WHERE team_id = $1 AND revoked_at IS NULL
    AND installed_at <= to_timestamp($3::double precision))sql"};

// One workspace at a time, each in its own transaction (see purge_expired).
const pg::Statement kExpired{"workspaces_expired", R"sql(
  SELECT team_id FROM slack_workspaces
  WHERE delete_after IS NOT NULL AND delete_after < now() ORDER BY delete_after LIMIT 100)sql"};

const pg::Statement kPurge{"workspaces_purge", R"sql(
  WITH gone AS (
    DELETE FROM slack_workspaces
    WHERE team_id = $1 AND delete_after IS NOT NULL AND delete_after < now()
    RETURNING team_id),
  logs AS (DELETE FROM study_logs WHERE team_id IN (SELECT team_id FROM gone) RETURNING 1),
  people AS (DELETE FROM users WHERE team_id IN (SELECT team_id FROM gone) RETURNING 1),
  jobs AS (DELETE FROM summary_jobs WHERE team_id IN (SELECT team_id FROM gone) RETURNING 1),
  deliveries AS (DELETE FROM slack_deliveries WHERE team_id IN (SELECT team_id FROM gone)
                 RETURNING 1)
  SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM logs), (SELECT count(*) FROM people),
         (SELECT count(*) FROM jobs), (SELECT count(*) FROM deliveries))sql"};

std::string sealed_base64(const slack::SealedToken& sealed) {
  return slack::base64_encode(sealed.bytes);
}

}  // namespace

asio::awaitable<pg::Result<bool>> WorkspaceStore::use_state(
    std::string nonce, std::chrono::system_clock::time_point expires) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  const double expires_s = std::chrono::duration<double>(expires.time_since_epoch()).count();
  auto rows = co_await (*connection)->execute(kUseState, pg::Params{nonce, expires_s});
  if (!rows) co_return rows.error();
  co_return rows->affected() == 1;
}

asio::awaitable<pg::Result<void>> WorkspaceStore::save(const slack::Installation& installation) {
  const auto sealed = cipher_.seal(installation.bot_token.reveal(), installation.team_id);
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  const auto optional_text = [](const std::string& text) {
    return text.empty() ? std::optional<std::string>{} : std::optional<std::string>{text};
  };
  pg::Params params{installation.team_id,
                    installation.team_name,
                    optional_text(installation.enterprise_id),
                    installation.app_id,
                    installation.bot_user_id,
                    installation.scope,
                    optional_text(installation.installer_user_id),
                    sealed.key_id,
                    sealed_base64(sealed)};
  auto rows = co_await (*connection)->execute(kSave, params);
  if (!rows) co_return rows.error();
  co_return boost::system::result<void, pg::Error>{};
}

asio::awaitable<pg::Result<TokenLookup>> WorkspaceStore::token_for(std::string team_id) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kToken, pg::Params{team_id});
  if (!rows) co_return rows.error();
  TokenLookup lookup;
  if (rows->empty()) co_return lookup;
  if (rows->get<bool>(0, 2) || rows->is_null(0, 0)) {
    lookup.state = TokenLookup::State::revoked;
    co_return lookup;
  }
  slack::SealedToken sealed{rows->get<std::string>(0, 0), {}};
  // encode(..., 'base64') wraps lines at 76 characters.
  std::string text = rows->get<std::string>(0, 1);
  std::erase(text, '\n');
  if (!slack::base64_decode(text, sealed.bytes)) {
    lookup.state = TokenLookup::State::unreadable;
    lookup.detail = "stored token is not base64";
    co_return lookup;
  }
  auto opened = cipher_.open(sealed, team_id);
  if (!opened) {
    lookup.state = TokenLookup::State::unreadable;
    lookup.detail = "sealed token does not open (" +
                    std::string(slack::to_string(opened.error().kind)) + ", key \"" +
                    sealed.key_id + "\")";
    co_return lookup;
  }
  lookup.state = TokenLookup::State::installed;
  lookup.token = std::move(*opened);
  co_return lookup;
}

asio::awaitable<config::Secret> WorkspaceStore::token_or(std::string team_id,
                                                         const config::Secret& fallback) {
  auto found = co_await token_for(std::move(team_id));
  if (!found) co_return config::Secret{};
  if (found->state == TokenLookup::State::installed) co_return std::move(found->token);
  if (found->state == TokenLookup::State::unknown) co_return fallback;
  co_return config::Secret{};
}

asio::awaitable<pg::Result<std::optional<Workspace>>> WorkspaceStore::find(std::string team_id) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows = co_await (*connection)->execute(kFind, pg::Params{team_id});
  if (!rows) co_return rows.error();
  if (rows->empty()) co_return std::optional<Workspace>{};
  co_return Workspace{rows->get<std::string>(0, 0), rows->get<std::string>(0, 1),
                      rows->get<std::string>(0, 2), rows->get<bool>(0, 3)};
}

asio::awaitable<pg::Result<WorkspaceStore::Resealed>> WorkspaceStore::reseal() {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows =
      co_await (*connection)->execute(kSealedElsewhere, pg::Params{cipher_.current_key_id()});
  if (!rows) co_return rows.error();
  Resealed result;
  for (int row = 0; row < rows->size(); ++row) {
    const auto team_id = rows->get<std::string>(row, 0);
    slack::SealedToken old{rows->get<std::string>(row, 1), {}};
    std::string text = rows->get<std::string>(row, 2);
    std::erase(text, '\n');
    if (!slack::base64_decode(text, old.bytes)) {
      ++result.unreadable;
      continue;
    }
    auto opened = cipher_.open(old, team_id);
    if (!opened) {
      ++result.unreadable;
      continue;
    }
    const auto fresh = cipher_.seal(opened->reveal(), team_id);
    auto updated = co_await (*connection)
                       ->execute(kReseal, pg::Params{team_id, fresh.key_id, sealed_base64(fresh),
                                                     old.key_id, text});
    if (!updated) co_return updated.error();
    result.resealed += static_cast<int>(updated->affected());
  }
  co_return result;
}

asio::awaitable<pg::Result<bool>> WorkspaceStore::revoke(std::string team_id, std::string reason,
                                                         std::chrono::system_clock::time_point at,
                                                         std::chrono::seconds retention) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  const double at_s = std::chrono::duration<double>(at.time_since_epoch()).count();
  auto rows = co_await (*connection)
                  ->execute(kRevoke, pg::Params{team_id, reason, at_s,
                                                static_cast<double>(retention.count())});
  if (!rows) co_return rows.error();
  co_return rows->affected() == 1;
}

asio::awaitable<pg::Result<std::vector<std::string>>> WorkspaceStore::purge_expired() {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto expired = co_await (*connection)->execute(kExpired);
  if (!expired) co_return expired.error();
  std::vector<std::string> purged;
  for (int row = 0; row < expired->size(); ++row) {
    // One statement per workspace: its rows go together or not at all, and a reinstall that
    // cleared delete_after meanwhile keeps everything.
    const auto team_id = expired->get<std::string>(row, 0);
    auto deleted = co_await (*connection)->execute(kPurge, pg::Params{team_id});
    if (!deleted) co_return deleted.error();
    if (deleted->get<std::int64_t>(0, 0) == 1) purged.push_back(team_id);
  }
  co_return purged;
}

asio::awaitable<pg::Result<std::int64_t>> WorkspaceStore::prune_states(std::chrono::seconds after) {
  auto connection = co_await pool_.acquire();
  if (!connection) co_return connection.error();
  auto rows =
      co_await (*connection)->execute(kPruneStates, pg::Params{static_cast<double>(after.count())});
  if (!rows) co_return rows.error();
  co_return rows->affected();
}

}  // namespace tracker::workspaces
