"""Composition root and the non-Telegram core of the Luma video bot."""

import os

# PTB reads this when time periods (RetryAfter.retry_after, Video.duration) are accessed; without
# it every access warns. Opt in to the timedelta behaviour PTB will make the default.
os.environ.setdefault("PTB_TIMEDELTA", "true")
