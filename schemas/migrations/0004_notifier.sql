-- What the notifier has delivered to Slack, so that an outbox message delivered twice by Kafka
-- (a restart, a rebalance, a replay) is posted once.
--
-- One row per outbox message, by its delivery_id. A message too long for one Slack message is
-- posted in parts (the first in the channel, the rest as replies in its thread); part_ts holds
-- the ts Slack returned for each part posted so far, so a delivery interrupted between parts
-- resumes at the next part, in the same thread.
CREATE TABLE slack_deliveries (
  delivery_id      text        PRIMARY KEY,
  team_id          text        NOT NULL,
  channel          text        NOT NULL,  -- as requested: a channel id, or a user id for a DM
  state            text        NOT NULL DEFAULT 'pending'
                               CHECK (state IN ('pending', 'posted', 'failed')),
  parts            integer     NOT NULL CHECK (parts >= 1),
  part_ts          text[]      NOT NULL DEFAULT '{}',
  posted_channel   text,                  -- as Slack answered: a DM's D... id
  attempts         integer     NOT NULL DEFAULT 0,
  last_error       text,
  source_partition integer,
  source_offset    bigint,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  CHECK (cardinality(part_ts) <= parts),
  CHECK ((state = 'posted') = (cardinality(part_ts) = parts))
);
CREATE INDEX slack_deliveries_finished ON slack_deliveries (finished_at)
  WHERE finished_at IS NOT NULL;

-- Every request sent to chat.postMessage and what came of it. A row is written before the
-- request goes out; one whose outcome is still NULL when its delivery is taken up again was
-- cut short by a crash, and Slack may or may not have posted it.
CREATE TABLE slack_delivery_attempts (
  delivery_id    text        NOT NULL REFERENCES slack_deliveries ON DELETE CASCADE,
  attempt        integer     NOT NULL CHECK (attempt >= 1),
  part           integer     NOT NULL CHECK (part >= 0),
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  outcome        text        CHECK (outcome IN ('posted', 'rate_limited', 'retryable', 'permanent',
                                                'interrupted')),
  http_status    integer,
  error          text,
  retry_after_ms bigint,
  latency_ms     double precision,
  PRIMARY KEY (delivery_id, attempt)
);
