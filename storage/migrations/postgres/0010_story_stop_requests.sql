-- As storage/migrations/sqlite/0013_story_stop_requests.sql: when a story was asked to stop.
ALTER TABLE generations ADD COLUMN stop_requested_at DOUBLE PRECISION;
