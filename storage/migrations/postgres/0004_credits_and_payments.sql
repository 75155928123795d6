-- As storage/migrations/sqlite/0007_credits_and_payments.sql: job costs in credits, the credit
-- ledger, Stars payments, promo codes and referrals.
ALTER TABLE generations ADD COLUMN cost INTEGER NOT NULL DEFAULT 1;
ALTER TABLE generations ADD COLUMN paid_daily INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generations ADD COLUMN paid_credits INTEGER NOT NULL DEFAULT 0;
UPDATE generations SET paid_daily = 1 WHERE paid_with = 'daily';
UPDATE generations SET paid_credits = 1 WHERE paid_with = 'credit';

CREATE TABLE credit_ledger (
    id          BIGSERIAL PRIMARY KEY,
    payer_id    BIGINT NOT NULL,
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    ref         TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    UNIQUE (reason, ref)
);
CREATE INDEX credit_ledger_by_payer ON credit_ledger (payer_id, id);

CREATE TABLE payments (
    charge_id    TEXT PRIMARY KEY,
    payer_id     BIGINT NOT NULL,
    credits      INTEGER NOT NULL,
    stars        INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    refunded_at  DOUBLE PRECISION
);
CREATE INDEX payments_by_time ON payments (created_at);

CREATE TABLE promo_codes (
    code        TEXT PRIMARY KEY,
    credits     INTEGER NOT NULL CHECK (credits > 0),
    uses_left   INTEGER,
    expires_at  DOUBLE PRECISION,
    created_by  BIGINT,
    created_at  DOUBLE PRECISION NOT NULL
);
CREATE TABLE promo_redemptions (
    code         TEXT NOT NULL,
    payer_id     BIGINT NOT NULL,
    redeemed_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (code, payer_id)
);

CREATE TABLE referrals (
    user_id      BIGINT PRIMARY KEY,
    referrer_id  BIGINT NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL
);
