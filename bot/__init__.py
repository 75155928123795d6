"""The Luma video bot. Layers, top to bottom (each imports only those below it; the rules are
written once in pyproject.toml's [tool.importlinter] and checked in CI):

- `__main__` (`python -m bot`) and `app` (the composition root: builds the PTB Application,
  starts and stops every service) above everything; `handlers/` (Telegram updates in) and
  `runtime` (typed handles on the services) under them;
- `web/` (the bot's own HTTP server) and `storage/` (SQL), the edges;
- `worker/` (carries each job to one ending), `domain/` (what a request is and may be);
- `luma/` (the video API's client) and `telegram/` (Telegram plumbing);
- shared leaves at this folder's root: `config`, `texts` + `locales/`, `links`, `metrics`,
  `numbers`, `logs`.
"""

import os

# PTB reads this when time periods (RetryAfter.retry_after, Video.duration) are accessed; without
# it every access warns. Opt in to the timedelta behaviour PTB will make the default.
os.environ.setdefault("PTB_TIMEDELTA", "true")
