"""What an operator watches: /healthz, /metrics (Prometheus) and logs that name the job."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.logs import JsonFormatter
from playground.fake_telegram import FakeTelegram

USER = 1001


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


def base_of(bot: Any) -> str:
    return f"http://127.0.0.1:{bot.runtime.web.port}"


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample, 0 if absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        series, _, label_text = key.partition("{")
        if series != name:
            continue
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if found == wanted:
            return float(value)
    return 0.0


async def test_healthz_reports_the_database_and_the_api(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    status, body = await get(f"{base_of(bot)}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok", "api": "ok"}


async def test_healthz_says_when_the_api_key_is_rejected(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.api_keys = frozenset({"another-key"})
    bot = await start_bot()
    status, body = await get(f"{base_of(bot)}/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "degraded", "database": "ok", "api": "key rejected"}


async def test_metrics_count_jobs_requests_deliveries_and_failures(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video a storm [fail]", user_id=USER)
    await tg.wait_for_call("editMessageText", lambda c: "refunded" in c.params["text"], timeout=15)
    await tg.wait_until(lambda: bot.runtime.worker.in_flight == 0)
    status, metrics = await get(f"{base_of(bot)}/metrics")
    assert status == 200
    assert sample(metrics, "luma_bot_jobs", state="delivered") == 1
    assert sample(metrics, "luma_bot_jobs", state="failed") == 1
    creates = "luma_bot_api_requests_total"
    assert sample(metrics, creates, family="aiml-v2", operation="create", outcome="ok") == 2
    assert sample(metrics, creates, family="aiml-v2", operation="read", outcome="ok") >= 2
    assert (
        sample(
            metrics,
            "luma_bot_api_request_seconds_count",
            family="aiml-v2",
            operation="create",
            outcome="ok",
        )
        == 2
    )
    assert sample(metrics, "luma_bot_deliveries_total", kind="video") == 1
    assert sample(metrics, "luma_bot_job_failures_total", reason="moderation") == 1
    assert sample(metrics, "luma_bot_updates_total", outcome="handled") == 0  # polling mode


async def test_every_log_line_about_a_job_names_it(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.inject_fault(route="fetch", status=502, count=1)  # a retry logged by the client
    await start_bot()
    with caplog.at_level(logging.INFO):
        tg.user_sends("/video a jellyfish", user_id=USER)
        await tg.wait_for_video(timeout=15)
        await tg.wait_for_call("sendMessage", lambda c: "ready" in c.result["text"])
    about_the_job = [r for r in caplog.records if r.name.startswith(("bot.worker", "bot.luma"))]
    assert about_the_job and all(getattr(r, "job_id", None) == 1 for r in about_the_job)
    retry = [r for r in about_the_job if r.name == "bot.luma.retry"]
    assert retry, "the client's retry was logged inside the job"
    line = json.loads(JsonFormatter().format(about_the_job[0]))
    assert line["job_id"] == 1 and line["level"] == "INFO" and line["message"]


async def test_telegram_flood_waits_are_counted(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.fail_next("sendMessage", 429, retry_after=1)
    tg.user_sends("/help", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: c.ok)  # retried after the wait
    _, metrics = await get(f"{base_of(bot)}/metrics")
    assert sample(metrics, "luma_bot_telegram_retries_total") == 1


async def test_a_busy_private_chat_is_paced_without_a_single_429(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.flood_limits = True  # Telegram's limits: one private chat gets a burst of 3, then 1/s
    await start_bot(telegram_private_chat_burst=3, daily_quota=5, max_active_per_user=5)
    for number in range(3):
        tg.user_sends(f"/video a jellyfish, take {number}", user_id=USER)
    await tg.wait_for_video(count=3, timeout=30)
    assert tg.flood_refusal_count == 0
