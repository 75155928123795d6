-- Webhook updates may reach two replicas at once: a replica claims an update (until
-- claimed_until) before handling it, and records handled_at once it has. Rows written before
-- this migration were all handled.
ALTER TABLE processed_updates ADD COLUMN claimed_by TEXT;
ALTER TABLE processed_updates ADD COLUMN claimed_until REAL;
ALTER TABLE processed_updates ADD COLUMN handled_at REAL;
UPDATE processed_updates SET handled_at = received_at;
