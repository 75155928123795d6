"""`python -m bot` as a real subprocess, configured only through its environment, against the
fake Bot API and the emulator: what an operator following the README gets."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from playground.fake_telegram import FakeTelegram
from tests import processes
from tests.conftest import API_KEY, BOT_TOKEN, BotDatabase, free_port
from tests.processes import ROOT


def bot_environment(tg: FakeTelegram, emulator: Any, tmp_path: Path, **extra: str) -> dict:
    database = f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}"
    return processes.bot_environment(
        tg.root, emulator.url, database, LOG_LEVEL="DEBUG", PROGRESS_INTERVAL="0.2", **extra
    )


async def run_bot(environment: dict, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=environment,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


class EmulatorProcess:
    """`python -m emulator --port N`, started the way the README tells an operator to."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
async def emulator_process() -> AsyncIterator[EmulatorProcess]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "--port", str(port),
        "--queue-seconds", "0.05", "--dream-seconds", "0.2", "--long-poll-seconds", "0.5",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/_emulator/requests"):
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    yield EmulatorProcess(url)
    process.terminate()
    await process.wait()


async def test_python_m_bot_delivers_a_video_and_stops_cleanly(
    tg: FakeTelegram, emulator_process: EmulatorProcess, database: BotDatabase, tmp_path: Path
) -> None:
    port = free_port()
    environment = bot_environment(
        tg, emulator_process, tmp_path, PORT=str(port), DATABASE_URL=database.url
    )
    process = await run_bot(environment, cwd=ROOT)
    try:
        request = tg.user_sends("/video a jellyfish", user_id=1001)
        sent = await tg.wait_for_video(timeout=30)
        assert sent.result["reply_to_message"]["message_id"] == request["message_id"]
        assert "a jellyfish" in sent.result["caption"]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                assert health.status == 200
                assert (await health.json())["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = (stdout + stderr).decode()
    assert process.returncode == 0, log
    assert "started" in log
    assert BOT_TOKEN not in log
    assert BOT_TOKEN.split(":")[1] not in log
    assert API_KEY not in log
    if database.path is not None:
        assert database.path.exists()  # the directory was created


async def test_an_unknown_command_prints_the_usage_and_exits_2(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "bogus",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert stderr.decode().splitlines() == [
        "usage: python -m bot [set-webhook | delete-webhook | playground]"
    ]
    assert stdout == b""


async def test_bad_configuration_is_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    cases = {
        "TELEGRAM_BOT_TOKEN": ({}, "TELEGRAM_BOT_TOKEN is required"),
        "LUMA_API_KEY": ({"TELEGRAM_BOT_TOKEN": BOT_TOKEN}, "LUMA_API_KEY is required"),
        "LUMA_API_FAMILY": (
            {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "LUMA_API_KEY": "k", "LUMA_API_FAMILY": "v3"},
            "LUMA_API_FAMILY is invalid",
        ),
        "DAILY_QUOTA": (
            {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "LUMA_API_KEY": "k", "DAILY_QUOTA": "lots"},
            "DAILY_QUOTA is invalid",
        ),
        "DATABASE_URL": (
            {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "LUMA_API_KEY": "k", "DATABASE_URL": "mysql://x"},
            "DATABASE_URL is invalid",
        ),
        "MEDIA_SIGNING_KEY": (
            {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "LUMA_API_KEY": "k", "MEDIA_SIGNING_KEY": "2024"},
            "MEDIA_SIGNING_KEY is invalid: must be at least 16 characters long",
        ),
        "WEBHOOK_SECRET": (
            {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "LUMA_API_KEY": "k", "WEBHOOK_SECRET": "hunter2"},
            "WEBHOOK_SECRET is invalid: must be 16-256 characters",
        ),
    }
    base = processes.without_bot_settings()
    for variables, expected in cases.values():
        process = await run_bot({**base, **variables}, cwd=tmp_path)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        lines = stderr.decode().strip().splitlines()
        assert process.returncode == 2
        assert len(lines) == 1 and expected in lines[0], lines
        assert "Traceback" not in stderr.decode()
        assert BOT_TOKEN not in stderr.decode()
        assert not {"2024", "hunter2"} & set(stderr.decode().split()), "a secret was echoed"
