-- As storage/migrations/sqlite/0012_purchase_confirmations.sql: whether (and by whom, for now)
-- each purchase's buyer was told.
ALTER TABLE payments ADD COLUMN told_at DOUBLE PRECISION;
ALTER TABLE payments ADD COLUMN telling_until DOUBLE PRECISION;
UPDATE payments SET told_at = created_at;
CREATE INDEX payments_untold ON payments (telling_until) WHERE told_at IS NULL;
