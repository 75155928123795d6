-- /cancel on a story whose shots are under way asks it to stop: no shot is sent to the video
-- API after this moment, the shots made are delivered as the story, and those never made are
-- given back. Stored, so a restarted process honours it. NULL: nobody asked.
ALTER TABLE generations ADD COLUMN stop_requested_at REAL;
