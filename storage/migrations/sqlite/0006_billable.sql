-- A failed job may give its payer's unit back yet still count toward GLOBAL_DAILY_QUOTA, which
-- stands for the provider's bill: billable = 1 while the provider billed it or may have (every
-- job until a failure says otherwise; see docs/reliability.md, "Refunds"). Until now every
-- refund also left the bill.
ALTER TABLE generations ADD COLUMN billable INTEGER NOT NULL DEFAULT 1;
UPDATE generations SET billable = 0 WHERE refunded;
