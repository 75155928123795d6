"""AlbumCollector across replicas: two collectors on one database stand for two processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.albums import AlbumCollector
from bot.domain.model import AlbumItem
from tests.test_storage import BACKENDS, Database, album_item, empty_database

WAIT = 0.3


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with empty_database(request.param, tmp_path) as database:
        yield database


class Completed:
    """Every album handed over, by any replica, and when."""

    def __init__(self) -> None:
        self.albums: list[list[int]] = []
        self.at: list[float] = []
        self._any = asyncio.Event()

    async def __call__(self, items: list[AlbumItem]) -> None:
        self.albums.append([item.message_id for item in items])
        self.at.append(time.time())
        self._any.set()

    async def first(self) -> None:
        async with asyncio.timeout(5):
            await self._any.wait()


async def test_an_album_split_across_replicas_is_handled_once(database: Database) -> None:
    completed = Completed()
    first, second = [
        AlbumCollector(repository=await database.connect(), wait=WAIT, on_complete=completed)
        for _ in range(2)
    ]
    await first.add(album_item(1))
    await asyncio.sleep(0.2)
    await second.add(album_item(2))  # first's own timer alone would settle without this one
    await asyncio.sleep(0.2)
    await first.add(album_item(3))  # and second's without this one
    try:
        await completed.first()
        await asyncio.sleep(2 * WAIT)  # time for a second (wrong) hand-over
        assert completed.albums == [[1, 2, 3]]
    finally:
        await first.stop()
        await second.stop()


async def test_an_album_whose_collector_died_is_swept_by_another_replica(
    database: Database,
) -> None:
    completed = Completed()
    dying = AlbumCollector(repository=await database.connect(), wait=WAIT, on_complete=completed)
    survivor = AlbumCollector(
        repository=await database.connect(),
        wait=WAIT,
        on_complete=completed,
        grace=0.2,
        sweep_every=0.1,
    )
    await survivor.start()
    try:
        started = time.time()
        await dying.add(album_item(1))
        await dying.add(album_item(2))
        await dying.stop()  # its process died before the album settled
        await completed.first()
        assert completed.albums == [[1, 2]]
        assert completed.at[0] - started >= WAIT + 0.2  # only once quiet for wait + grace
    finally:
        await survivor.stop()
    assert not survivor._tasks and survivor._sweeper is None
