-- Credits (issue 17). A job costs `cost` credits (the product of its options' prices): the
-- payer's free daily credits pay `paid_daily` of it, the persistent balance `paid_credits`.
-- Existing jobs cost 1, paid as they were.
ALTER TABLE generations ADD COLUMN cost INTEGER NOT NULL DEFAULT 1;
ALTER TABLE generations ADD COLUMN paid_daily INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generations ADD COLUMN paid_credits INTEGER NOT NULL DEFAULT 0;
UPDATE generations SET paid_daily = 1 WHERE paid_with = 'daily';
UPDATE generations SET paid_credits = 1 WHERE paid_with = 'credit';

-- Every movement of a persistent balance (credits.balance), one row each, written in the same
-- transaction as the balance: a purchase, its refund, a grant, a promo code, a referral bonus,
-- a job paid from the balance and its refund. (reason, ref) is unique, so a movement that
-- arrives twice (a re-sent update, two replicas) happens once.
CREATE TABLE credit_ledger (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payer_id    INTEGER NOT NULL,
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    ref         TEXT NOT NULL,
    created_at  REAL NOT NULL,
    UNIQUE (reason, ref)
);
CREATE INDEX credit_ledger_by_payer ON credit_ledger (payer_id, id);

-- Telegram Stars purchases, one row per telegram_payment_charge_id.
CREATE TABLE payments (
    charge_id    TEXT PRIMARY KEY,
    payer_id     INTEGER NOT NULL,
    credits      INTEGER NOT NULL,
    stars        INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    created_at   REAL NOT NULL,
    refunded_at  REAL
);
CREATE INDEX payments_by_time ON payments (created_at);

-- Promo codes (/promo) and who redeemed them: once per identity.
CREATE TABLE promo_codes (
    code        TEXT PRIMARY KEY,
    credits     INTEGER NOT NULL CHECK (credits > 0),
    uses_left   INTEGER,
    expires_at  REAL,
    created_by  INTEGER,
    created_at  REAL NOT NULL
);
CREATE TABLE promo_redemptions (
    code         TEXT NOT NULL,
    payer_id     INTEGER NOT NULL,
    redeemed_at  REAL NOT NULL,
    PRIMARY KEY (code, payer_id)
);

-- Who referred whom (the first referral link a user started the bot with); the referrer is
-- credited once, on the referred user's first purchase (ledger reason 'referral', ref = user).
CREATE TABLE referrals (
    user_id      INTEGER PRIMARY KEY,
    referrer_id  INTEGER NOT NULL,
    created_at   REAL NOT NULL
);
