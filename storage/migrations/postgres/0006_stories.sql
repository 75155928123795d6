-- As storage/migrations/sqlite/0009_stories.sql: a story's shots are jobs that name it.
ALTER TABLE generations ADD COLUMN story_job_id BIGINT;
ALTER TABLE generations ADD COLUMN shot INTEGER;
CREATE INDEX generations_story ON generations (story_job_id, shot);
