-- The gallery Mini App shows each video's thumbnail: the one Telegram made when the video was
-- sent (its file id, from the sent message). Older rows have none.
ALTER TABLE generations ADD COLUMN video_thumbnail_file_id TEXT;
