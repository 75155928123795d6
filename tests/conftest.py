"""Shared fixtures: the fake Bot API, the video-API emulator, settings, and the running bot.

The bot under test is the real Application from `build_application`, pointed at the fakes over
real HTTP; nothing inside PTB or the client is mocked. Every test that starts a bot runs twice:
on SQLite and on PostgreSQL (skipped unless TEST_DATABASE_URL names a server; `.ci/run` sets it).

Tests marked `unit` (`pytest -m unit`) are the pure ones: they may start nothing, which an
autouse fixture checks before each runs (no fixture that starts something) and while it runs (no
socket connected or bound, no subprocess, no SQLite file).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.app import build_application, running
from bot.config import Settings, load_settings
from bot.domain.model import Job
from bot.runtime import Runtime, runtime_of
from emulator import EmulatorConfig, run_emulator
from playground.fake_telegram import Call, FakeTelegram
from tests.browser import browser  # noqa: F401 - a fixture for the page tests

# `pytest --cov`: coverage by part and the branch floor (README: Run the tests).
pytest_plugins = ["tests.coverage_floor"]

BOT_TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
API_KEY = "test-luma-key-0123456789"

# Emulated generation times small enough that a full /video round trip takes well under a second.
FAST_EMULATOR = {"queue_seconds": 0.05, "dream_seconds": 0.15, "long_poll_seconds": 0.5}


# Fixtures that start the fake Bot API, the emulator, a database, a bot, a server or a process, or
# open connections (here and in test modules): a test marked `unit` may use none of them.
NOT_UNIT_FIXTURES = frozenset(
    {
        *("tg", "emulator", "database", "make_settings", "start_bot"),
        *("bot", "receivers", "emulator_process", "postgres", "repo", "fuzz", "http"),
    }
)


@pytest.fixture(autouse=True)
def _unit_tests_start_nothing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail a test marked `unit` that asks for a fixture that starts something (before that
    fixture starts: autouse fixtures come first), or that connects or binds a socket, starts a
    process or opens a SQLite file, whichever line of its own does it."""
    if request.node.get_closest_marker("unit") is None:
        return
    if starters := sorted(NOT_UNIT_FIXTURES.intersection(request.fixturenames)):
        pytest.fail(f"a test marked unit may not use {', '.join(starters)}: it is not a unit test")

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"a test marked unit may not {what}: it is not a unit test")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "bind", refuse("bind a socket (start a server)"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    monkeypatch.setattr(sqlite3, "connect", refuse("open a database"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def became_healthy(
    url: str, process: asyncio.subprocess.Process | None = None, *, seconds: float = 60.0
) -> bool:
    """Whether a bot started as its own process answers `url/healthz` with 200 in time;
    False at once if `process` exits meanwhile."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds * 10)):
            if process is not None and process.returncode is not None:
                return False
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return True
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    return False


def assert_token_never_sent(emulator: Any) -> None:
    """Nothing the bot sent to the video API may carry the bot token or a Telegram file URL."""
    sent = json.dumps(
        [[r.method, r.path, str(r.query), dict(r.headers), r.body] for r in emulator.requests]
    )
    assert BOT_TOKEN not in sent
    assert BOT_TOKEN.split(":")[1] not in sent
    assert "/file/bot" not in sent


async def ready_notice(tg: FakeTelegram, video: dict) -> Call:
    """The "your video is ready" notice that answers a delivered `video` (a message dict).

    The bot sends it after recording the job as delivered (see RunningBot.delivered, which
    waits for the record itself); wait for it when the next scripted fault must not hit it."""

    def answers_video(call: Call) -> bool:
        replied = (call.params.get("reply_parameters") or {}).get("message_id")
        return str(call.params["chat_id"]) == str(video["chat"]["id"]) and str(replied) == str(
            video["message_id"]
        )

    return await tg.wait_for_call("sendMessage", answers_video)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=BOT_TOKEN, bot_username="LumaTestBot") as fake:
        yield fake


@pytest.fixture
async def emulator() -> AsyncIterator[Any]:
    async with run_emulator(EmulatorConfig(**FAST_EMULATOR), port=0) as emu:
        yield emu


POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


@dataclass
class BotDatabase:
    """The database one test's bots run on: a new SQLite file (`path`), or a new schema of the
    PostgreSQL server at TEST_DATABASE_URL (`schema`). `url` is the bot's DATABASE_URL."""

    backend: str  # "sqlite" or "postgresql"
    url: str
    path: Path | None = None
    schema: str | None = None
    _admin: asyncpg.Connection | None = field(default=None, repr=False)

    async def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, read beside the bot (which may be running)."""
        if self.path is not None:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
                db.row_factory = sqlite3.Row
                tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                names = [name for (name,) in tables]
                return {n: [dict(r) for r in db.execute(f'SELECT * FROM "{n}"')] for n in names}
        admin = await self._connection()
        names = await admin.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", self.schema
        )
        return {
            name: [dict(r) for r in await admin.fetch(f'SELECT * FROM "{self.schema}"."{name}"')]
            for (name,) in names
        }

    async def _connection(self) -> asyncpg.Connection:
        if self._admin is None:
            self._admin = await asyncpg.connect(POSTGRES_URL)
        return self._admin

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BotDatabase]:
    """The database of the test's bots, once per backend: a file in a directory that does not
    exist yet (the bot creates it), or a schema dropped after the test."""
    if request.param == "sqlite":
        path = tmp_path / "db" / "bot.sqlite3"
        yield BotDatabase("sqlite", f"sqlite:///{path}", path=path)
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL not set: the PostgreSQL half is skipped")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    # Extra URL parameters are server settings for asyncpg: this URL's default schema.
    separator = "&" if "?" in POSTGRES_URL else "?"
    database = BotDatabase(
        "postgresql", f"{POSTGRES_URL}{separator}search_path={schema}", schema=schema
    )
    admin = await database._connection()
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield database
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await database.close()


@pytest.fixture
def make_settings(
    tg: FakeTelegram, emulator: Any, database: BotDatabase
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "_env_file": None,
            "telegram_bot_token": BOT_TOKEN,
            "telegram_api_url": tg.root,
            "luma_api_key": API_KEY,
            "luma_api_url": emulator.url,
            "luma_api_family": "aiml-v2",
            "database_url": database.url,
            "daily_quota": 3,
            "generation_timeout": 30,
            "luma_poll_interval": 0.05,
            "luma_long_poll_seconds": 0.5,
            "progress_interval": 0.2,
            "port": 0,
            "album_wait_seconds": 0.3,
            # The fake enforces no flood limits unless asked (bench/ and the flood test do), so
            # pacing each private chat at Telegram's 1/s would only slow the suite down.
            "telegram_private_chat_burst": 0,
            # Many tests send one user's messages by the dozen at once; flood control (on by
            # default) is tested on its own (tests/test_flood.py).
            "flood_per_minute": 0,
        }
        values.update(overrides)
        return load_settings(**values)

    return factory


class RunningBot:
    """A started bot plus handles on what tests look at."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self._lifecycle = running(application)
        self.stopped = False

    async def start(self) -> RunningBot:
        await self._lifecycle.__aenter__()
        return self

    async def stop(self) -> None:
        """Stop gracefully, as SIGTERM does: in-flight jobs stay in the database."""
        if not self.stopped:
            self.stopped = True
            await self._lifecycle.__aexit__(None, None, None)

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.application)

    async def delivered(self, video: dict) -> Job:
        """The job of a `video` (a message dict) once it is recorded as delivered.

        Telegram shows the video before the bot records it, so a test that replies to it or
        presses its buttons the moment it appears races that record (by milliseconds on
        PostgreSQL): it waits here first."""
        chat_id, message_id = video["chat"]["id"], video["message_id"]
        for _ in range(500):
            job = await self.runtime.repository.find_by_video_message(chat_id, message_id)
            if job is not None:
                return job
            await asyncio.sleep(0.02)
        raise AssertionError(f"video {message_id} in chat {chat_id} never recorded as delivered")


@pytest.fixture
async def start_bot(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """`bot = await start_bot(daily_quota=1)` starts the real bot; it is stopped after the test.

    `public=True` gives it a free port and PUBLIC_URL pointing there, for photo keyframes."""
    started: list[RunningBot] = []

    async def start(public: bool = False, **overrides: Any) -> RunningBot:
        if public:
            port = free_port()
            overrides = {"port": port, "public_url": f"http://127.0.0.1:{port}", **overrides}
        bot = RunningBot(build_application(make_settings(**overrides)))
        started.append(bot)
        return await bot.start()

    yield start
    for bot in reversed(started):
        await bot.stop()
