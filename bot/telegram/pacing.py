"""Pacing the bot's Telegram calls: Telegram's flood limits, and essential calls first.

PTB's AIORateLimiter paces the overall rate (30/s) and each group (20/min) and waits out 429s.
This adds what it leaves out: each private chat's limit (a short burst, then about one a second),
`has_room` so cosmetic calls (progress edits, the "ready" notice) go out only with headroom to
spare, and a count of the 429s it waited out (for /metrics).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from bot.metrics import Metrics

MAX_PRIVATE_LIMITERS = 10_000
# Capacity cosmetic calls leave free for essential ones: two thirds of the 30/s overall (at
# 10 requests a second, status messages and videos alone take 20/s), one of a private chat's
# burst of 3, a quarter of a group's 20/min.
OVERALL_RESERVE = 20
PRIVATE_RESERVE = 1
GROUP_RESERVE = 5


class PacingRateLimiter(AIORateLimiter):
    """PTB's limiter (30/s overall, 20/min per group, retries on 429), plus what PTB leaves out:
    Telegram's limit for one private chat (about one message a second, with a short burst), and
    a count of every 429 it waits out (for /metrics)."""

    def __init__(self, metrics: Metrics, *, private_burst: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics
        self._private_burst = private_burst  # 0: private chats are not paced
        self._private: OrderedDict[int, AsyncLimiter] = OrderedDict()

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        limiter = self._private_limiter(data.get("chat_id"))
        if limiter is None:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        async with limiter:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

    def has_room(self, chat_id: int) -> bool:
        """Whether a cosmetic call (a progress edit, the "ready" notice) may go to this chat now
        and still leave headroom for the calls that matter (status messages, videos): those
        never wait behind something that could have been skipped."""
        if not self._retry_after_event.is_set():
            return False  # Telegram told us to wait
        if self._base_limiter is not None and not self._base_limiter.has_capacity(
            1 + OVERALL_RESERVE
        ):
            return False
        if chat_id < 0:
            return self._get_group_limiter(chat_id).has_capacity(1 + GROUP_RESERVE)
        private = self._private_limiter(chat_id)
        return private is None or private.has_capacity(1 + PRIVATE_RESERVE)

    def _private_limiter(self, chat_id: object) -> AsyncLimiter | None:
        try:
            chat = int(chat_id)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return None
        if chat <= 0 or self._private_burst == 0:
            return None  # groups and channels: PTB's own group limiter
        limiter = self._private.get(chat)
        if limiter is None:
            burst = self._private_burst
            limiter = self._private[chat] = AsyncLimiter(burst, burst)
            if len(self._private) > MAX_PRIVATE_LIMITERS:
                self._private.popitem(last=False)  # long idle: its bucket is full anyway
        self._private.move_to_end(chat)
        return limiter

    async def _run_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._run_request(*args, **kwargs)
        except RetryAfter:
            self._metrics.telegram_retries.inc()
            raise
