-- As storage/migrations/sqlite/0008_prompt_kinds.sql: what a reply to a ForceReply prompt asks
-- for, an extension ('extend') or a soundtrack ('audio').
ALTER TABLE extend_prompts ADD COLUMN kind TEXT NOT NULL DEFAULT 'extend';
