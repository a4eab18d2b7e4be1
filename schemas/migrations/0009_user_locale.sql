-- The person's Slack locale (users.info with include_locale, e.g. 'ko-KR'): the language of
-- their App Home. NULL until Slack has said.
ALTER TABLE users ADD COLUMN locale text;
