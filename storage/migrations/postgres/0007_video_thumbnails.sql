-- As storage/migrations/sqlite/0010_video_thumbnails.sql: Telegram's thumbnail of the video.
ALTER TABLE generations ADD COLUMN video_thumbnail_file_id TEXT;
