-- Where a person's time zone came from: 'default' (TRACKER_DEFAULT_TIME_ZONE, until Slack says),
-- 'slack' (users.info when they first appeared, or a user_change event), or 'user' (set with
-- /study settings tz, which Slack's later changes do not override).
ALTER TABLE users
  ADD COLUMN time_zone_source text NOT NULL DEFAULT 'default'
    CHECK (time_zone_source IN ('default', 'slack', 'user'));
