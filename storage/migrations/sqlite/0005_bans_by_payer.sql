-- Bans hold for any identity that pays: a user, or a group or channel acting as itself
-- (an anonymous admin, a post as a channel, a channel post). Those are not users.
ALTER TABLE bans RENAME COLUMN user_id TO payer_id;
