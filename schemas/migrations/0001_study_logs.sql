-- People who post study logs, with what the scheduler needs to know about them.
CREATE TABLE users (
  team_id      text        NOT NULL,
  user_id      text        NOT NULL,
  time_zone    text        NOT NULL DEFAULT 'UTC',
  summary_hour smallint    NOT NULL DEFAULT 21 CHECK (summary_hour BETWEEN 0 AND 23),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, user_id)
);

-- One row per Slack message kept as a study log. A message is identified by its channel and
-- ts; edits and deletions update the row rather than adding one.
CREATE TABLE study_logs (
  id          bigserial   PRIMARY KEY,
  team_id     text        NOT NULL,
  user_id     text        NOT NULL,
  channel_id  text        NOT NULL,
  ts          text        NOT NULL,
  thread_ts   text,
  event_id    text        NOT NULL,
  body        text        NOT NULL,
  posted_at   timestamptz NOT NULL,
  edited_at   timestamptz,
  deleted_at  timestamptz,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (team_id, channel_id, ts)
);
CREATE INDEX study_logs_user_time ON study_logs (team_id, user_id, posted_at);

-- Slack event_ids already processed: a redelivered event (Slack retry, Kafka replay) is a no-op.
CREATE TABLE processed_events (
  event_id     text        PRIMARY KEY,
  processed_at timestamptz NOT NULL DEFAULT now()
);
