-- Who pays for a job: its user, or the chat when nobody in particular sent it (a channel post,
-- an anonymous group admin). How it was paid: 'daily' allowance, a granted 'credit', or
-- 'exempt' (admins). Every job now has its charged_day, so chat and global totals can count
-- all of a day's spend; only 'daily' jobs count against the payer's own allowance.
ALTER TABLE generations ADD COLUMN payer_id INTEGER;
ALTER TABLE generations ADD COLUMN paid_with TEXT NOT NULL DEFAULT 'daily';
UPDATE generations SET payer_id = COALESCE(user_id, chat_id);
UPDATE generations SET paid_with = 'exempt',
                       charged_day = strftime('%Y-%m-%d', created_at, 'unixepoch')
 WHERE charged_day IS NULL;
CREATE INDEX generations_by_day_payer ON generations (charged_day, payer_id);
CREATE INDEX generations_by_day_chat ON generations (charged_day, chat_id);
CREATE INDEX generations_by_user ON generations (user_id, id);

-- Videos granted by admins on top of the daily allowance; kept until used.
CREATE TABLE credits (
    payer_id    INTEGER PRIMARY KEY,
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    updated_at  REAL NOT NULL
);

CREATE TABLE bans (
    user_id    INTEGER PRIMARY KEY,
    banned_by  INTEGER,
    banned_at  REAL NOT NULL
);
