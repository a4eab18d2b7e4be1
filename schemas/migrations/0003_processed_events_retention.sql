-- processed_events only has to outlive the redeliveries it guards against (Slack retries within
-- minutes, Kafka replays within the topic's retention); the worker deletes older rows by this
-- index. study_logs stays idempotent without them: (team_id, channel_id, ts) is unique and a
-- change applies only when newer than the row.
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
