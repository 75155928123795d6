-- A job a button asked for (Again, an upscale size) records the button's data, so the same
-- button pressed again moments later by the same payer is recognised as the same request.
ALTER TABLE generations ADD COLUMN press TEXT;
