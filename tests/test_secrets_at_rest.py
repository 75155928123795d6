"""No secret is ever stored or told: real flows whose errors carry the bot token (a Telegram URL
in a transport error) or the API key (an API that echoes it), then every column of every table
of the database, and every message sent, are searched for them. SQLite always; PostgreSQL when
TEST_DATABASE_URL names a server."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import API_KEY, BOT_TOKEN
from tests.fakes.telegram_api import FakeTelegram

USER = 1001
ADMIN = 9009
SECRETS = {
    "the bot token": BOT_TOKEN,
    "the token's secret half": BOT_TOKEN.split(":", 1)[1],
    "the API key": API_KEY,
}
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


@dataclass
class Database:
    url: str
    scan: Callable[[], Any]  # async: every stored value, as text, with where it was found


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "secrets" / "bot.sqlite3"
        yield Database(f"sqlite:///{path}", lambda: _scan_sqlite(path))
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        # Extra URL parameters are server settings for asyncpg: this URL's default schema.
        yield Database(f"{POSTGRES_URL}?search_path={schema}", lambda: _scan_postgres(schema))
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def _scan_sqlite(path: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [description[0] for description in cursor.description]
            for row in cursor:
                found += [(f"{table}.{c}", _text(v)) for c, v in zip(columns, row, strict=True)]
    # The files themselves: deleted rows and the write-ahead log hold text too.
    for file in path.parent.iterdir():
        found.append((file.name, file.read_bytes().decode("latin-1")))
    return found


async def _scan_postgres(schema: str) -> list[tuple[str, str]]:
    assert POSTGRES_URL is not None
    found: list[tuple[str, str]] = []
    db = await asyncpg.connect(POSTGRES_URL)
    try:
        tables = await db.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        for (table,) in tables:
            for row in await db.fetch(f'SELECT * FROM "{schema}"."{table}"'):
                found += [(f"{table}.{column}", _text(value)) for column, value in row.items()]
    finally:
        await db.close()
    return found


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)


def told(tg: FakeTelegram) -> list[tuple[str, str]]:
    """Everything the bot sent or edited into any chat (texts, captions, buttons)."""
    return [(c.method, repr(c.params)) for c in tg.calls if not c.method.startswith("get")]


async def test_errors_carrying_the_token_or_the_key_are_stored_and_told_redacted(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A made video that cannot be delivered is failed at once, not after ten minutes of retries.
    running = await start_bot(
        delivery_grace_seconds=0,
        database_url=database.url,
        admin_user_ids=frozenset({ADMIN}),
        daily_quota=10,
        generation_timeout=3,
        media_link_ttl=60,
    )
    tg.user_sends("/help", user_id=ADMIN)  # the admin has a chat with the bot, for alerts
    await tg.wait_for_call("sendMessage")

    async def failed(code: str) -> Any:
        """The job that failed with `code`, once its user has been told."""
        for _ in range(400):
            for job_id in (1, 2, 3):
                job = await running.runtime.repository.get_job(job_id)
                if job is not None and job.failure_code == code and not job.notice_pending:
                    return job
            await asyncio.sleep(0.05)
        raise AssertionError(f"no job failed with {code}")

    # 1. An API that echoes the key it refused: the admins are alerted, the user is told.
    emulator.inject_fault(route="create", status=401, message=f"Invalid API key: {API_KEY}")
    tg.user_sends("/video a jellyfish", user_id=USER)
    await failed("service_unavailable")
    # 2. An API that echoes the key in a refusal the user reads ("rejected this request: ...").
    emulator.inject_fault(route="create", status=400, message=f"bad request for key {API_KEY}")
    tg.user_sends("/video a jellyfish again", user_id=USER)
    await failed("rejected")
    # 3. A video made, then a broken proxy in front of Telegram: aiohttp's error names the URL,
    # https://api.telegram.org/bot<token>/editMessageMedia.
    tg.garble_next("editMessageMedia", count=20)
    tg.garble_next("sendVideo", count=20)
    tg.user_sends("/video a jellyfish for the third time", user_id=USER)
    delivery = await failed("delivery_failed")
    assert "ClientResponseError" in (delivery.failure_reason or "")  # the error was stored

    await running.stop()
    stored = await database.scan()
    assert len(stored) > 20  # the scan did read the tables
    leaks = {
        name: sorted(
            {
                where
                for where, value in [*stored, *told(tg), ("logs", caplog.text)]
                if secret in value
            }
        )
        for name, secret in SECRETS.items()
    }
    assert leaks == {name: [] for name in SECRETS}
