"""What `/healthz` and `/metrics` report: the database and the video API, and job counts.

`/healthz` is public (load balancers probe it), so it says only what is wrong ("unreachable",
"key rejected", "out of credits"); the details, which may name internal hosts, go to the log.
The API check is cached briefly, and so are the job counts: load balancers and scrapers probe
often, and each probe would otherwise be a request to the provider or a count of every job
ever made under the database lock (about 0.1 s at a million jobs on SQLite). Concurrent probes
share one check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from bot.domain.stores import HealthProbe
from bot.luma import VideoApiClient
from bot.metrics import Metrics

log = logging.getLogger(__name__)

API_CHECK_SECONDS = 15.0
JOB_COUNTS_SECONDS = 5.0

T = TypeVar("T")


class _Recent(Generic[T]):
    """A value worked out again at most every `seconds`; concurrent askers share one working."""

    def __init__(self, work_out: Callable[[], Awaitable[T]], seconds: float) -> None:
        self._work_out = work_out
        self._seconds = seconds
        self._value: tuple[float, T] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        async with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._value[0] > self._seconds:
                self._value = (now, await self._work_out())
            return self._value[1]


class Health:
    def __init__(
        self, *, repository: HealthProbe, client: VideoApiClient, metrics: Metrics
    ) -> None:
        self._repo = repository
        self._metrics = metrics
        self._api = _Recent(client.ping, API_CHECK_SECONDS)
        self._job_counts = _Recent(repository.jobs_by_state, JOB_COUNTS_SECONDS)

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """Whether the bot can work, and the details: {"database": ..., "api": ...}."""
        database = await self._database()
        api = await self._api.get()
        healthy = database == "ok" and api == "ok"
        status = "ok" if healthy else "degraded"
        return healthy, {"status": status, "database": database, "api": api}

    async def metrics_text(self) -> bytes:
        try:
            self._metrics.set_jobs(await self._job_counts.get())
        except Exception as error:  # any driver's error: the gauge keeps its last value
            log.warning("metrics: jobs could not be counted: %r", error)
        return self._metrics.render()

    async def _database(self) -> str:
        try:
            await self._repo.ping()
        except Exception as error:  # any driver's error means the same thing here
            log.warning("health check: the database is unreachable: %r", error)
            return "unreachable"
        return "ok"
