"""Collecting an album (media group) into one request.

Telegram sends each photo of an album as its own update, with a shared `media_group_id` and no
count or end marker. Items are stored in the database as they arrive; once no new item has come
for `wait` seconds, the album is taken (atomically, so it is handled once) and handed over.

The photos of one album may reach different replicas, so "no new item" is decided from the
database, not from what this process saw. And the process collecting an album may die before
it settles: a sweeper in every process settles albums that have been quiet for longer than
`wait` + `grace`, whoever collected them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.domain.model import AlbumItem
from bot.domain.stores import AlbumStore

log = logging.getLogger(__name__)

OnAlbum = Callable[[list[AlbumItem]], Awaitable[None]]

# How much longer than `wait` an album must be quiet before the sweeper takes it: the
# collecting process, if alive, gets there first.
DEFAULT_GRACE = 2.0


class AlbumCollector:
    def __init__(
        self,
        *,
        repository: AlbumStore,
        wait: float,
        on_complete: OnAlbum,
        grace: float = DEFAULT_GRACE,
        sweep_every: float | None = None,
    ) -> None:
        self._repo = repository
        self._wait = wait
        self._on_complete = on_complete
        self._grace = grace
        self._sweep_every = sweep_every if sweep_every is not None else max(wait, 1.0) * 2
        self._deadlines: dict[tuple[int, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start sweeping up albums whose collecting process died (idempotent)."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="album-sweeper")

    async def add(self, item: AlbumItem) -> None:
        await self._repo.add_album_item(item, time.time())
        key = (item.chat_id, item.media_group_id)
        first = key not in self._deadlines
        self._deadlines[key] = time.monotonic() + self._wait
        if first:
            task = asyncio.create_task(self._settle(key), name=f"album-{key[1]}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _settle(self, key: tuple[int, str]) -> None:
        try:
            # Each item arriving here pushes the deadline back; wait until it stops moving.
            while (remaining := self._deadlines[key] - time.monotonic()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(remaining)
            # Items may also have reached other replicas: the newest stored one decides.
            while True:
                newest = await self._repo.latest_album_item_at(*key)
                if newest is None:
                    return  # another process took it
                remaining = newest + self._wait - time.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(remaining)
        except Exception:
            # The sweeper (here or in another process) settles it later.
            log.exception("waiting for album %s failed", key[1])
            return
        finally:
            del self._deadlines[key]
        await self._take(key)

    async def _take(self, key: tuple[int, str]) -> None:
        items = await self._repo.take_album(*key)
        if items:
            try:
                await self._on_complete(items)
            except Exception:
                log.exception("handling album %s failed", key[1])

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping albums failed")

    async def sweep(self) -> None:
        """Settle every album quiet for longer than `wait` + `grace` (its collector died)."""
        for key in await self._repo.unsettled_albums(time.time() - self._wait - self._grace):
            if key not in self._deadlines:  # albums this process is settling are left to it
                await self._take(key)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        if self._sweeper is not None:
            tasks.append(self._sweeper)
            self._sweeper = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
