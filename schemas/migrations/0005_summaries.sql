-- Daily summaries: the scheduler's claims (summary_jobs) and the summarizer's results
-- (summaries).
--
-- A job is one summary of one person's day. (team_id, user_id, day, version) is unique, so
-- scheduler replicas that find the same person due at the same moment claim the day once: the
-- second INSERT finds the row and does nothing. A manual trigger with `force` claims a new
-- version of a day already claimed.
--
-- A job's period is the 24 hours (23 or 25 across a DST change) that end at the person's
-- summary hour on that day, in their time zone, so consecutive days' periods neither overlap
-- nor leave a gap. A trigger before the summary hour ends the period when it fired.
CREATE TABLE summary_jobs (
  job_id        text        PRIMARY KEY,  -- team:user:day:vN
  team_id       text        NOT NULL,
  user_id       text        NOT NULL,
  day           date        NOT NULL,     -- the person's local day
  version       integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
  time_zone     text        NOT NULL,
  period_start  timestamptz NOT NULL,
  period_end    timestamptz NOT NULL CHECK (period_end > period_start),
  reason        text        NOT NULL CHECK (reason IN ('scheduled', 'catch_up', 'trigger')),
  state         text        NOT NULL DEFAULT 'claimed'
                            CHECK (state IN ('claimed', 'published', 'done', 'failed')),
  publishes     integer     NOT NULL DEFAULT 0,  -- times sent to summary-requests
  claimed_by    text        NOT NULL,
  claimed_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz,
  finished_at   timestamptz,
  last_error    text,
  UNIQUE (team_id, user_id, day, version)
);
-- The sweep for jobs published but never finished (or claimed and never published).
CREATE INDEX summary_jobs_open ON summary_jobs (claimed_at) WHERE state IN ('claimed', 'published');

-- One summary per job, written once: a redelivered request finds it and does not call the
-- model again.
CREATE TABLE summaries (
  job_id            text        PRIMARY KEY REFERENCES summary_jobs ON DELETE CASCADE,
  team_id           text        NOT NULL,
  user_id           text        NOT NULL,
  day               date        NOT NULL,
  channel           text        NOT NULL,  -- where it is posted
  text              text        NOT NULL,
  provider          text        NOT NULL,  -- openai, offline
  model             text        NOT NULL,
  prompt_tokens     integer,
  completion_tokens integer,
  logs              integer     NOT NULL,  -- study logs it was written from
  attempts          integer     NOT NULL,  -- model calls it took (0 offline)
  latency_ms        double precision NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX summaries_user_day ON summaries (team_id, user_id, day);

-- When the scheduler last finished a tick, so that after downtime it knows which due times it
-- slept through (and counts those older than its catch-up window as skipped).
CREATE TABLE scheduler_state (
  name       text        PRIMARY KEY,
  last_tick  timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Batch API runs (TRACKER_SUMMARIZER_BATCH): scheduled jobs sent together as one JSONL file
-- and answered within the API's 24 h completion window. A job is acknowledged to Kafka once the
-- batch holding it is recorded here; whichever summarizer replica leases a batch next polls it
-- and applies its results, so a restart loses no batch.
CREATE TABLE summary_batches (
  batch_id      text        PRIMARY KEY,  -- the API's id
  input_file_id text        NOT NULL,
  jobs          integer     NOT NULL CHECK (jobs >= 1),
  state         text        NOT NULL DEFAULT 'submitted'
                            CHECK (state IN ('submitted', 'applied')),
  api_status    text,                     -- validating, in_progress, completed, failed, ...
  polls         integer     NOT NULL DEFAULT 0,
  next_poll_at  timestamptz NOT NULL DEFAULT now(),
  leased_until  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  last_error    text
);
CREATE INDEX summary_batches_open ON summary_batches (next_poll_at) WHERE state = 'submitted';
ALTER TABLE summary_jobs ADD COLUMN batch_id text REFERENCES summary_batches;
CREATE INDEX summary_jobs_batch ON summary_jobs (batch_id) WHERE batch_id IS NOT NULL;
