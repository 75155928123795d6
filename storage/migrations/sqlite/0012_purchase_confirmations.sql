-- Every purchase's buyer hears of it, even across a crash or a Telegram outage: `told_at` once
-- the confirmation was sent (or never can be: the buyer blocked the bot), `telling_until` while
-- a process is sending it (a lease: once it lapses, another process tries). Purchases recorded
-- before this were told when they were recorded.
ALTER TABLE payments ADD COLUMN told_at REAL;
ALTER TABLE payments ADD COLUMN telling_until REAL;
UPDATE payments SET told_at = created_at;
CREATE INDEX payments_untold ON payments (telling_until) WHERE told_at IS NULL;
