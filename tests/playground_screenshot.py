"""A picture of the playground's chat for the README:

    .venv/bin/python -m tests.playground_screenshot docs/

saves docs/playground.png (1280x800): Ann's private chat with a finished video and a second one
on its way (its status message), and the emulator panel. The setup is the browser test's
(tests/test_playground_browser.py): the real bot, the fake Bot API and the emulator, the chat
room serving its page, and Debian's Chromium under Playwright typing into it.

The emulator's videos are all the same test card, so the finished one is given a clip of its
own (tests/gallery_screenshots.py draws it) before the page is loaded again.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import build_application
from bot.config import load_settings
from emulator import EmulatorConfig, run_emulator
from playground.chat import ANN_ID, ChatRoom
from playground.fake_telegram import FakeTelegram
from playground.run import BOT_NAME, BOT_USERNAME, local_token
from tests.browser import chromium
from tests.conftest import API_KEY, RunningBot, free_port
from tests.gallery_screenshots import clip

SCREEN = {"width": 1280, "height": 800}
FIRST = "/video a glass jellyfish drifting through a neon reef"
SECOND = "/video a paper boat on a calm lake at dawn, slow dolly in"
# The clip of the first video: a night sea, a pink glow, dark water.
PALETTE = ("#0b1a3a", "#2c5d8a", "#ff9ecf", "#071226")


async def type_and_send(page: Any, words: str) -> None:
    await page.get_by_test_id("composer-text").fill(words)
    await page.get_by_test_id("composer-text").press("Enter")


async def shoot(tg: FakeTelegram, emulator: Any, url: str, folder: Path, path: Path) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=SCREEN, device_scale_factor=1)
        page = await context.new_page()
        await page.goto(url)
        await type_and_send(page, FIRST)
        await page.locator("video").wait_for()
        (video,) = [m for m in tg.bot_messages(ANN_ID) if "video" in m]
        stored = tg.file(video["video"]["file_id"])
        assert stored is not None
        stored.data = await asyncio.to_thread(clip, PALETTE, folder)
        stored.size = len(stored.data)
        await page.wait_for_timeout(300)  # the "ready" notice
        # The second video takes a while, so its status message shows its progress.
        emulator.config.queue_seconds, emulator.config.dream_seconds = 1.0, 14.0
        await type_and_send(page, SECOND)
        await page.get_by_test_id("messages").get_by_text("Dreaming").wait_for()
        await page.reload()
        await page.wait_for_function(
            "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 2)"
        )
        await page.get_by_test_id("messages").get_by_text("Dreaming").wait_for()
        await page.wait_for_timeout(500)
        await page.screenshot(path=str(path))
        await context.close()


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="playground-screenshot-") as temporary:
        folder = Path(temporary)
        timings = {"queue_seconds": 0.5, "dream_seconds": 1.0, "long_poll_seconds": 0.5}
        async with (
            FakeTelegram(local_token(), BOT_USERNAME, bot_first_name=BOT_NAME) as tg,
            run_emulator(EmulatorConfig(**timings), port=0) as emulator,
        ):
            room = ChatRoom(tg, emulator)
            runner = web.AppRunner(room.app())
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            settings = load_settings(
                _env_file=None,
                telegram_bot_token=tg.token,
                telegram_api_url=tg.root,
                luma_api_key=API_KEY,
                luma_api_url=emulator.url,
                database_url=f"sqlite:///{folder / 'bot.sqlite3'}",
                luma_long_poll_seconds=0.5,
                progress_interval=0.5,
                telegram_private_chat_burst=0,
                port=0,
            )
            bot = await RunningBot(build_application(settings)).start()
            try:
                path = out / "playground.png"
                await shoot(tg, emulator, f"http://127.0.0.1:{port}/", folder, path)
                print(path)
            finally:
                await bot.stop()
                await room.close()
                await runner.cleanup()


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(folder))
