"""`python -m bot playground` as the README's first command runs it: one process group (the
emulator, the local Bot API and the page in the playground's process; `python -m bot` its child),
on 127.0.0.1, with no secret in the environment. A video is asked for on the page and plays;
Ctrl-C stops everything, the bot's child included, and `--data` keeps the database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from playground.chat import ANN_ID
from playground.run import bot_environment, local_token
from tests.conftest import free_port
from tests.processes import ROOT

# What a developer's shell may hold; none of it may reach the playground's bot.
SHELL = {"TELEGRAM_BOT_TOKEN": "123:real-token", "TELEGRAM_WEBHOOK": "true", "LUMA_API_KEY": "k"}


@pytest.fixture
async def playground(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    port = free_port()
    environment = {**os.environ, **SHELL}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "playground",
        "--port",
        str(port),
        "--data",
        str(tmp_path / "data"),
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def state(client: aiohttp.ClientSession, base: str) -> dict[str, Any] | None:
    try:
        async with client.get(f"{base}/api/state") as response:
            return dict(await response.json()) if response.status == 200 else None
    except aiohttp.ClientError:
        return None


async def until(check: Any, seconds: float, what: str) -> Any:
    try:
        async with asyncio.timeout(seconds):
            # Another process: there is nothing to await but its next answer.
            while True:
                if (found := await check()) is not None:
                    return found
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def private_messages(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    chat = next((c for c in snapshot["chats"] if c["id"] == ANN_ID), {"messages": []})
    return [entry["message"] for entry in chat["messages"]]


async def test_one_command_runs_the_bot_in_a_browser_page_and_ctrl_c_stops_it_all(
    playground: tuple[asyncio.subprocess.Process, str], tmp_path: Path
) -> None:
    process, base = playground
    async with aiohttp.ClientSession() as client:
        # The bot is up once it has registered its commands with the local Bot API.
        await until(
            lambda: _ready(client, base), seconds=60, what="the page and the bot's commands"
        )
        async with client.get(f"{base}/") as response:
            assert response.status == 200 and "script-src 'self'" in str(
                response.headers.get("Content-Security-Policy")
            )
        body = {"chat_id": ANN_ID, "sender": "ann", "text": "/video a jellyfish --ar 9:16"}
        async with client.post(f"{base}/api/send", json=body) as response:
            assert response.status == 200, await response.text()

        async def video() -> dict[str, Any] | None:
            snapshot = await state(client, base)
            messages = private_messages(snapshot) if snapshot else []
            return next((m for m in messages if "video" in m), None)

        message = await until(video, seconds=60, what="the video")
        async with client.get(f"{base}/api/files/{message['video']['file_id']}") as response:
            assert response.status == 200 and (await response.read())[4:8] == b"ftyp"

    process.send_signal(signal.SIGINT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    log = output.decode(errors="replace")
    assert process.returncode == 0, log
    assert "open http://127.0.0.1:" in log
    assert "real-token" not in log  # the shell's token never reached the bot
    assert "bot @PlaygroundVideoBot started (polling)" in log
    assert (tmp_path / "data" / "playground.db").exists()  # --data keeps the database


async def _ready(client: aiohttp.ClientSession, base: str) -> bool | None:
    snapshot = await state(client, base)
    return True if snapshot and snapshot.get("commands") else None


def test_the_bots_environment_is_the_playgrounds_own(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SHELL, "ADMIN_USER_IDS": "1", "PATH": "/usr/bin"}.items():
        monkeypatch.setenv(name, value)
    token = local_token()
    environment = bot_environment(token, "http://t", "http://v", Path("/tmp/x.db"), 9999)
    assert environment["TELEGRAM_API_URL"] == "http://t" and environment["PATH"] == "/usr/bin"
    assert environment["TELEGRAM_BOT_TOKEN"] == token != SHELL["TELEGRAM_BOT_TOKEN"]
    assert token != local_token()  # made afresh each time
    assert "TELEGRAM_WEBHOOK" not in environment and "ADMIN_USER_IDS" not in environment
    assert environment["PUBLIC_URL"].startswith("http://127.0.0.1:")
