-- A failed job whose user has not been told yet: the notice is part of the job, so a crash
-- between "failed and refunded" and "told" is carried on by the next worker.
ALTER TABLE generations ADD COLUMN notice_pending INTEGER NOT NULL DEFAULT 0;
