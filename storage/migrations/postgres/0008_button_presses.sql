-- As storage/migrations/sqlite/0011_button_presses.sql: the button a job was asked for with.
ALTER TABLE generations ADD COLUMN press TEXT;
