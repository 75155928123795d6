-- Users seen by the bot (for language, history and admin tools).
CREATE TABLE users (
    user_id        INTEGER PRIMARY KEY,
    username       TEXT,
    first_name     TEXT,
    language_code  TEXT,
    first_seen_at  REAL NOT NULL,
    last_seen_at   REAL NOT NULL
);

-- One row per requested video: the durable record the worker carries to its end.
-- Quota use is recorded here too: a row with charged_day set and refunded = 0 counts
-- against its user's allowance for that UTC day.
CREATE TABLE generations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    family              TEXT NOT NULL,
    kind                TEXT NOT NULL DEFAULT 'text',
    user_id             INTEGER,
    chat_id             INTEGER NOT NULL,
    thread_id           INTEGER,
    request_message_id  INTEGER NOT NULL,
    -- What started the job, unique: 'msg:<chat>:<message>', 'album:<chat>:<group>',
    -- 'cb:<callback query id>'. The same update delivered twice makes one job.
    request_key         TEXT NOT NULL UNIQUE,
    parent_job_id       INTEGER REFERENCES generations (id),
    status_message_id   INTEGER,
    prompt              TEXT NOT NULL,
    params              TEXT NOT NULL,
    state               TEXT NOT NULL,
    remote_id           TEXT,
    remote_state        TEXT,
    failure_code        TEXT,
    failure_reason      TEXT,
    video_url           TEXT,
    thumbnail_url       TEXT,
    video_message_id    INTEGER,
    video_file_id       TEXT,
    charged_day         TEXT,
    refunded            INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     REAL,
    lease_owner         TEXT,
    lease_until         REAL,
    deadline_at         REAL NOT NULL,
    created_at          REAL NOT NULL,
    updated_at          REAL NOT NULL,
    submitted_at        REAL,
    completed_at        REAL,
    finished_at         REAL
);

CREATE INDEX generations_active ON generations (state, next_attempt_at);
CREATE INDEX generations_user_day ON generations (user_id, charged_day);
CREATE INDEX generations_remote ON generations (remote_id);
CREATE INDEX generations_video_message ON generations (chat_id, video_message_id);

-- Photos of an album (media group) waiting for the album to be complete. Telegram sends each
-- photo as its own update; they are collected here and taken as one request.
CREATE TABLE album_items (
    chat_id         INTEGER NOT NULL,
    media_group_id  TEXT NOT NULL,
    message_id      INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    received_at     REAL NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

CREATE INDEX album_items_group ON album_items (chat_id, media_group_id);

-- "Extend" button prompts: a reply to one of these messages continues that job's video.
CREATE TABLE extend_prompts (
    chat_id         INTEGER NOT NULL,
    message_id      INTEGER NOT NULL,
    parent_job_id   INTEGER NOT NULL REFERENCES generations (id),
    user_id         INTEGER,
    created_at      REAL NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

-- Telegram may deliver an update more than once (webhook retries, a restart before the offset
-- was confirmed): each update_id is handled once. Pruned after two days.
CREATE TABLE processed_updates (
    update_id    INTEGER PRIMARY KEY,
    received_at  REAL NOT NULL
);
