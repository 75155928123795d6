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
    status_message_id   INTEGER,
    prompt              TEXT NOT NULL,
    params              TEXT NOT NULL,
    state               TEXT NOT NULL,
    remote_id           TEXT,
    remote_state        TEXT,
    failure_code        TEXT,
    failure_reason      TEXT,
    video_url           TEXT,
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
    finished_at         REAL,
    UNIQUE (chat_id, request_message_id)
);

CREATE INDEX generations_active ON generations (state, next_attempt_at);
CREATE INDEX generations_user_day ON generations (user_id, charged_day);
CREATE INDEX generations_remote ON generations (remote_id);
CREATE INDEX generations_video_message ON generations (chat_id, video_message_id);
