"""What `/healthz` and `/metrics` report: the database and the video API, and job counts.

The API check is cached briefly: load balancers probe often, and each probe would otherwise be
a request to the provider.
"""

from __future__ import annotations

import time
from typing import Any

from bot.luma import VideoApiClient
from bot.metrics import Metrics
from storage.base import Repository

API_CHECK_SECONDS = 15.0


class Health:
    def __init__(self, *, repository: Repository, client: VideoApiClient, metrics: Metrics) -> None:
        self._repo = repository
        self._client = client
        self._metrics = metrics
        self._api: tuple[float, str] | None = None

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """Whether the bot can work, and the details: {"database": ..., "api": ...}."""
        database = await self._database()
        api = await self._api_state()
        healthy = database == "ok" and api == "ok"
        status = "ok" if healthy else "degraded"
        return healthy, {"status": status, "database": database, "api": api}

    async def metrics_text(self) -> bytes:
        self._metrics.set_jobs(await self._repo.jobs_by_state())
        return self._metrics.render()

    async def _database(self) -> str:
        try:
            await self._repo.ping()
        except Exception as error:  # any driver's error means the same thing here
            return f"unreachable ({type(error).__name__})"
        return "ok"

    async def _api_state(self) -> str:
        now = time.monotonic()
        if self._api is None or now - self._api[0] > API_CHECK_SECONDS:
            self._api = (now, await self._client.ping())
        return self._api[1]
