"""No secret is ever stored or told: real flows whose errors carry the bot token (a Telegram URL
in a transport error) or the API key (an API that echoes it), then every column of every table
of the database, and every message sent, are searched for them. On both databases (conftest's
`database`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN, BotDatabase

USER = 1001
ADMIN = 9009
SECRETS = {
    "the bot token": BOT_TOKEN,
    "the token's secret half": BOT_TOKEN.split(":", 1)[1],
    "the API key": API_KEY,
}


async def everything_stored(database: BotDatabase) -> list[tuple[str, str]]:
    """Every stored value, as text, with where it was found."""
    found = [
        (f"{table}.{column}", _text(value))
        for table, rows in (await database.tables()).items()
        for row in rows
        for column, value in row.items()
    ]
    if database.path is not None:
        # The files themselves: deleted rows and the write-ahead log hold text too.
        for file in database.path.parent.iterdir():
            found.append((file.name, file.read_bytes().decode("latin-1")))
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
    database: BotDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A made video that cannot be delivered is failed at once, not after ten minutes of retries.
    running = await start_bot(
        delivery_grace_seconds=0,
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
    stored = await everything_stored(database)
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
