-- Workspaces that installed the Slack app (OAuth v2), with their bot token sealed: AES-256-GCM
-- under the key named by token_key_id (TRACKER_TOKEN_ENCRYPTION_KEY), the team_id as associated
-- data, so the token in a backup or a dump is unreadable without the key.
--
-- An uninstall (app_uninstalled) or a revoked token (tokens_revoked) removes the token at once
-- and sets revoked_at; the workspace's data is deleted when delete_after has passed (the
-- retention a setting gives). Installing again clears both.
CREATE TABLE slack_workspaces (
  team_id           text        PRIMARY KEY,
  team_name         text        NOT NULL DEFAULT '',
  enterprise_id     text,
  app_id            text        NOT NULL DEFAULT '',
  bot_user_id       text        NOT NULL DEFAULT '',
  scope             text        NOT NULL DEFAULT '',
  installer_user_id text,
  token_key_id      text,
  token_sealed      bytea,
  installed_at      timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  revoked_at        timestamptz,
  revoke_reason     text,
  delete_after      timestamptz,
  CHECK ((token_sealed IS NULL) = (token_key_id IS NULL)),
  CHECK (revoked_at IS NULL OR token_sealed IS NULL)
);
CREATE INDEX slack_workspaces_delete_after ON slack_workspaces (delete_after)
  WHERE delete_after IS NOT NULL;

-- OAuth states already used: a state is good once. A row outlives its state's expiry only until
-- the app's next prune.
CREATE TABLE slack_oauth_states (
  nonce      text        PRIMARY KEY,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_oauth_states_expires ON slack_oauth_states (expires_at);
