-- What the worker keeps per study log beyond the text, and how it orders changes.
--
-- version_at is the Slack time of the change a row shows: the post for a new message, the edit
-- for an edited one, the deletion for a deleted one. A change is applied only when it is newer
-- than the row's version, so events may arrive in any order (an edit before its message, a
-- replay of last week) and the row still ends as the latest change made it. Rows written
-- without a version lose to any versioned change.
ALTER TABLE study_logs
  ADD COLUMN version_at       timestamptz NOT NULL DEFAULT '-infinity',
  ADD COLUMN duration_minutes integer CHECK (duration_minutes BETWEEN 0 AND 1440),
  ADD COLUMN topics           text[]      NOT NULL DEFAULT '{}',
  ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

-- A deleted message keeps its row as a tombstone (so that a late copy of the message cannot
-- bring it back) but loses its text and hints.
ALTER TABLE study_logs
  ADD CONSTRAINT study_logs_tombstone_empty
  CHECK (deleted_at IS NULL OR (body = '' AND duration_minutes IS NULL AND topics = '{}'));

-- Defaults for people who have not chosen otherwise; the worker inserts its configured values.
ALTER TABLE users
  ALTER COLUMN time_zone SET DEFAULT 'Asia/Seoul',
  ADD COLUMN opted_out boolean NOT NULL DEFAULT false;
