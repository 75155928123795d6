-- A ForceReply prompt asks for an extension ('extend') or a soundtrack ('audio', 🔊 Add sound):
-- a reply to it starts that. Existing prompts were all Extend's.
ALTER TABLE extend_prompts ADD COLUMN kind TEXT NOT NULL DEFAULT 'extend';
