-- As storage/migrations/sqlite/0006_billable.sql: billable jobs count toward GLOBAL_DAILY_QUOTA
-- (the provider's bill), refunded to their payer or not.
ALTER TABLE generations ADD COLUMN billable BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE generations SET billable = FALSE WHERE refunded;
