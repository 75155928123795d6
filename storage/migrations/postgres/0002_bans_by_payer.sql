-- As storage/migrations/sqlite/0005_bans_by_payer.sql: bans hold for any paying identity (a
-- user, or a group or channel acting as itself).
ALTER TABLE bans RENAME COLUMN user_id TO payer_id;
