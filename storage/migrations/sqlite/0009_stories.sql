-- /story: a story is a job of its own; each of its shots is a job with the story's id and its
-- place in it (from 0). Older rows are no shots.
ALTER TABLE generations ADD COLUMN story_job_id INTEGER;
ALTER TABLE generations ADD COLUMN shot INTEGER;
CREATE INDEX generations_story ON generations (story_job_id, shot);
