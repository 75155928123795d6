"""Collecting an album (media group) into one request.

Telegram sends each photo of an album as its own update, with a shared `media_group_id` and no
count or end marker. Items are stored in the database as they arrive; once no new item has come
for `wait` seconds, the album is taken (atomically, so it is handled once) and handed over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from storage.base import AlbumItem, Repository

log = logging.getLogger(__name__)

OnAlbum = Callable[[list[AlbumItem]], Awaitable[None]]


class AlbumCollector:
    def __init__(self, *, repository: Repository, wait: float, on_complete: OnAlbum) -> None:
        self._repo = repository
        self._wait = wait
        self._on_complete = on_complete
        self._deadlines: dict[tuple[int, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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
        # Each new item pushes the deadline back; wait until it stops moving.
        while (remaining := self._deadlines[key] - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining)
        del self._deadlines[key]
        items = await self._repo.take_album(*key)
        if items:
            try:
                await self._on_complete(items)
            except Exception:
                log.exception("handling album %s failed", key[1])

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
