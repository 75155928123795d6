"""The bot's memory does not grow with the videos it delivers (issue 18): `python -m bot`, as its
own process, delivers three 40 MB videos at once, and its peak resident memory (the kernel's
VmHWM, so no peak is missed between samples) grows by less than one video. Holding each video
in memory, as the bot once did, costs at least two copies of every video delivered at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from emulator.assets import video_bytes
from playground.fake_telegram import FakeTelegram
from tests.conftest import became_healthy, free_port
from tests.processes import BotProcess, bot_environment
from tests.test_delivery import result_host

MB = 1024 * 1024
VIDEO_SIZE = 40 * MB
USERS = (1001, 1002, 1003)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the peak RSS from /proc"
)


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def test_three_40_mb_videos_at_once_grow_the_peak_rss_by_less_than_one_video(
    tg: FakeTelegram, emulator: Any, tmp_path: Path
) -> None:
    video = video_bytes(VIDEO_SIZE)

    async def serve(request: web.Request, hit: int) -> web.StreamResponse:
        return web.Response(body=video, content_type="video/mp4")

    async with result_host(serve) as (cdn, asked):
        emulator.config.public_url = cdn
        emulator.config.dream_seconds = 2.0  # all three finish at about the same moment
        port = free_port()
        database = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        environment = bot_environment(tg.root, emulator.url, database, PORT=str(port))
        bot = BotProcess(environment, tmp_path / "bot.log")
        await bot.start()
        try:
            assert bot.process is not None
            assert await became_healthy(f"http://127.0.0.1:{port}", bot.process)
            pid = bot.process.pid
            for user in USERS:
                tg.user_sends("/video a jellyfish in space", user_id=user)
            await tg.wait_until(lambda: len(emulator.generations) == len(USERS), timeout=20)
            before = memory_kb(pid, "VmRSS")  # started, and all three jobs under way
            await tg.wait_until(lambda: len(tg.videos()) == len(USERS), timeout=60)
            peak = memory_kb(pid, "VmHWM")
        finally:
            await bot.stop()
    assert len(asked) == len(USERS)
    assert all(v.files["video"] == video for v in tg.videos())
    moved = len(USERS) * VIDEO_SIZE * 2  # each video downloaded, then uploaded
    growth = (peak - before) * 1024
    assert growth < VIDEO_SIZE, f"peak RSS grew {growth / MB:.0f} MB moving {moved / MB:.0f} MB"
