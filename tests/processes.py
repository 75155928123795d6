"""`python -m bot` as its own process, configured only through its environment as an operator
runs it: for the tests that kill it, run several, start it wrongly or measure it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bot.config import Settings
from storage import open_repository
from storage.repository import Repository
from tests.conftest import API_KEY, BOT_TOKEN, free_port

ROOT = Path(__file__).parent.parent
_SETTINGS = {name.upper() for name in Settings.model_fields}


def without_bot_settings() -> dict[str, str]:
    """This process's environment minus every variable the bot reads (a developer's own
    TELEGRAM_BOT_TOKEN or DATABASE_URL must not reach a bot under test)."""
    return {key: value for key, value in os.environ.items() if key not in _SETTINGS}


def bot_environment(telegram_url: str, api_url: str, database_url: str, **extra: str) -> dict:
    """A bot's environment for the fakes at these addresses, quick timings, and `extra`."""
    return {
        **without_bot_settings(),
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_URL": telegram_url,
        "LUMA_API_KEY": API_KEY,
        "LUMA_API_URL": api_url,
        "DATABASE_URL": database_url,
        "LUMA_LONG_POLL_SECONDS": "0.5",
        "LUMA_POLL_INTERVAL": "0.05",
        "PROGRESS_INTERVAL": "0.3",
        **extra,
    }


class BotProcess:
    """One `python -m bot` process; its output goes to `log`."""

    def __init__(self, environment: dict[str, str], log: Path) -> None:
        self._environment = environment
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                env=self._environment,
                cwd=ROOT,
                stdout=sink,
                stderr=sink,
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.process.wait()
            except TimeoutError:
                await self.kill()


@asynccontextmanager
async def bot_processes(
    environment: dict[str, str], database_url: str, logs: Path
) -> AsyncIterator[tuple[Callable[[], Awaitable[BotProcess]], Repository]]:
    """`start()` starts one more bot on its own port (logs in `logs/bot-N.log`), all on one
    database; the repository reads it beside them. Every bot is stopped at the end."""
    started: list[BotProcess] = []

    async def start() -> BotProcess:
        log = logs / f"bot-{len(started) + 1}.log"
        bot = BotProcess({**environment, "PORT": str(free_port())}, log)
        await bot.start()
        started.append(bot)
        return bot

    # Opening the database first creates the schema; the bots then share it (WAL on SQLite).
    repository = await open_repository(database_url)
    try:
        yield start, repository
    finally:
        for bot in started:
            await bot.stop()
        await repository.close()
