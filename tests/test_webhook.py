"""Webhook mode in one process: Telegram POSTs updates to PUBLIC_URL/telegram/webhook with the
secret header; `python -m bot set-webhook` registers it; copies are handled once; polling
processes leave a webhook alone."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.__main__ import set_webhook
from playground.fake_telegram import FakeTelegram
from tests.conftest import BOT_TOKEN
from tests.test_e2e import ROOT, bot_environment

USER = 1001
SECRET = "webhook-secret_42"


async def start_webhook_bot(start_bot: Callable[..., Any], **overrides: Any) -> Any:
    bot = await start_bot(public=True, telegram_webhook=True, webhook_secret=SECRET, **overrides)
    assert await set_webhook(bot.runtime.settings) == 0  # the deploy step
    return bot


async def test_updates_arrive_by_webhook_and_make_a_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_webhook_bot(start_bot)
    (registered,) = tg.calls_of("setWebhook")
    assert registered.params["url"] == f"{bot.runtime.settings.public_url}/telegram/webhook"
    assert registered.params["secret_token"] == SECRET
    assert not tg.calls_of("getUpdates"), "webhook mode never polls"
    tg.user_sends("/video a jellyfish by webhook", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    assert "a jellyfish by webhook" in video.result["caption"]
    assert all(delivery.status == 200 for delivery in tg.webhook_deliveries)


async def test_copies_of_an_update_are_handled_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.duplicate_rate = 1.0  # every update delivered twice
    bot = await start_webhook_bot(start_bot)
    tg.user_sends("/video a jellyfish, twice delivered", user_id=USER)
    tg.user_sends("/quota", user_id=USER)
    await tg.wait_for_video(timeout=15)
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.result["text"])  # recorded
    await tg.wait_for_webhook_idle(timeout=10)
    delivered = tg.delivered_update_ids()
    assert len(delivered) == 4 and len(set(delivered)) == 2
    status_messages = [c for c in tg.calls_of("sendMessage") if "Queued" in c.result["text"]]
    quota_answers = [c for c in tg.calls_of("sendMessage") if "today" in c.result["text"]]
    assert len(status_messages) == 1 and len(quota_answers) == 1
    assert await bot.runtime.repository.jobs_by_state() == {"delivered": 1}


async def test_only_telegram_may_post_updates(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_webhook_bot(start_bot)
    url = f"http://127.0.0.1:{bot.runtime.web.port}/telegram/webhook"
    forged = {"update_id": 999, "message": {"message_id": 1, "date": 0, "text": "/video x"}}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with http.post(url, json=forged, headers=headers) as response:
                assert response.status == 404
    assert not await bot.runtime.repository.update_handled(999)


async def test_a_polling_process_leaves_a_webhook_alone(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await start_webhook_bot(start_bot)
    with caplog.at_level(logging.ERROR):
        await start_bot()  # polling mode (the default), e.g. a `worker` process
    assert "a webhook is set" in caplog.text
    assert not tg.calls_of("deleteWebhook") and not tg.calls_of("getUpdates")
    tg.user_sends("/video still by webhook", user_id=USER)
    await tg.wait_for_video(timeout=15)


async def test_set_webhook_is_a_command_and_a_no_op_in_polling_mode(
    tg: FakeTelegram, emulator: Any, tmp_path: Path
) -> None:
    base = bot_environment(tg, emulator, tmp_path)
    webhook = {
        **base,
        "TELEGRAM_WEBHOOK": "true",
        "PUBLIC_URL": "https://bot.example.com",
        "WEBHOOK_SECRET": SECRET,
    }
    for environment, sets in ((base, False), (webhook, True)):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "set-webhook",
            env=environment, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert bool(tg.calls_of("setWebhook")) is sets
        assert BOT_TOKEN not in stderr.decode() and SECRET not in stderr.decode()
    assert tg.calls_of("setWebhook")[0].params["url"] == "https://bot.example.com/telegram/webhook"


async def test_delete_webhook_removes_it_and_keeps_the_pending_updates(
    tg: FakeTelegram, emulator: Any, tmp_path: Path
) -> None:
    # Back to polling: the webhook a deploy set is removed; what Telegram holds is not dropped.
    environment = {
        **bot_environment(tg, emulator, tmp_path),
        "TELEGRAM_WEBHOOK": "true",
        "PUBLIC_URL": "https://bot.example.com",
        "WEBHOOK_SECRET": SECRET,
    }
    for command in ("set-webhook", "delete-webhook"):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", command,
            env=environment, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        log = (stdout + stderr).decode()
        assert process.returncode == 0, log
    assert "webhook deleted: run the bot in polling mode" in log
    assert BOT_TOKEN not in log and SECRET not in log
    (deleted,) = tg.calls_of("deleteWebhook")
    assert deleted.ok and deleted.response["description"] == "Webhook was deleted"
    assert str(deleted.params.get("drop_pending_updates")).lower() == "false"


async def test_an_update_the_bot_cannot_read_is_acknowledged_not_a_500(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: Any
) -> None:
    """Even from Telegram (the secret is right), an update PTB cannot read is answered 200 and
    logged: a 500 would make Telegram re-send it forever, holding up that chat's updates."""
    bot = await start_webhook_bot(start_bot)
    url = f"http://127.0.0.1:{bot.runtime.web.port}/telegram/webhook"
    unreadable = [
        {"update_id": 501, "message": "x"},
        {"update_id": 502, "message": {"message_id": "x", "chat": 7}},
        {"update_id": 503, "callback_query": []},
    ]
    async with aiohttp.ClientSession() as http:
        for payload in unreadable:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, json=payload, headers=headers) as response:
                assert response.status == 200, payload
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "could not be read" in caplog.text
    tg.user_sends("/video still fine", user_id=USER)
    await tg.wait_for_video()
