"""Prometheus metrics, served at `GET /metrics` (bot/web.py).

One registry per application (not prometheus-client's global one), so tests can build many bots
in one process. Counters and histograms are per process: with several replicas, Prometheus scrapes
each and sums them. `jobs` is read from the database at scrape time, so every replica reports the
same figures for it (use max(), not sum(), across replicas).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from aiolimiter import AsyncLimiter
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_PRIVATE_LIMITERS = 10_000
# Capacity cosmetic calls leave free for essential ones: two thirds of the 30/s overall (at
# 10 requests a second, status messages and videos alone take 20/s), one of a private chat's
# burst of 3, a quarter of a group's 20/min.
OVERALL_RESERVE = 20
PRIVATE_RESERVE = 1
GROUP_RESERVE = 5
# Video-API calls range from a few ms (reads) to the 30 s long-poll.
_API_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 35.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "luma_bot_jobs", "Jobs in the database by state.", ["state"], registry=self.registry
        )
        self.api_requests = Counter(
            "luma_bot_api_requests",
            "Video-API requests by family, operation and outcome.",
            ["family", "operation", "outcome"],
            registry=self.registry,
        )
        self.api_latency = Histogram(
            "luma_bot_api_request_seconds",
            "Video-API request latency by family, operation and outcome.",
            ["family", "operation", "outcome"],
            buckets=_API_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "luma_bot_deliveries",
            "Videos delivered, as a video or as a link (too large to upload).",
            ["kind"],
            registry=self.registry,
        )
        self.failures = Counter(
            "luma_bot_job_failures",
            "Jobs that ended without a video, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.telegram_retries = Counter(
            "luma_bot_telegram_retries",
            "Telegram requests answered 429 (flood control) and retried after the wait.",
            registry=self.registry,
        )
        self.updates = Counter(
            "luma_bot_updates",
            "Telegram updates received, by outcome (handled, duplicate, busy).",
            ["outcome"],
            registry=self.registry,
        )

    def api_request(self, family: str, operation: str, outcome: str, seconds: float) -> None:
        self.api_requests.labels(family, operation, outcome).inc()
        self.api_latency.labels(family, operation, outcome).observe(seconds)

    def set_jobs(self, counts: dict[str, int]) -> None:
        self.jobs.clear()
        for state, count in counts.items():
            self.jobs.labels(state).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CountingRateLimiter(AIORateLimiter):
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
