"""The one place where video-API calls are retried.

Policy:
- Reads (fetch, long-poll) are idempotent: they are retried on rate limits, 5xx, connection
  errors and timeouts with capped, jittered exponential backoff, for as long as the job's
  deadline allows (not a fixed number of attempts). A 429's Retry-After wins over the backoff.
- Creates cost money and are NOT retried here. A create that got no answer (timeout, dropped
  connection, unreadable body) may already be charged; the worker never re-sends it blindly
  (see bot/worker/ for what happens instead). Only errors that prove the request was refused
  (429, a connection that never opened, 500/503) let the worker submit again later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.luma.errors import RETRYABLE, DeadlineExceeded, RateLimitError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, capped; `delay(0)` is the first wait."""

    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 20))
        # Jitter in [ceiling/2, ceiling] spreads retries from many jobs without starving any.
        return ceiling * random.uniform(0.5, 1.0)


async def retry_until_deadline(
    call: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    backoff: Backoff,
    what: str,
    clock: Callable[[], float] = time.time,
) -> T:
    """Run `call`, retrying retryable errors until `deadline` (epoch seconds) would pass."""
    attempt = 0
    while True:
        try:
            return await call()
        except RETRYABLE as error:
            delay = backoff.delay(attempt)
            if isinstance(error, RateLimitError) and error.retry_after is not None:
                delay = max(error.retry_after, 0.0)
            if clock() + delay >= deadline:
                raise DeadlineExceeded(f"{what}: deadline reached after {error!r}") from error
            log.warning("%s failed (%s); retry %d in %.1fs", what, error, attempt + 1, delay)
            await asyncio.sleep(delay)
            attempt += 1
