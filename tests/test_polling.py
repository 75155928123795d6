"""Long polling when Telegram says no: 429, 5xx and dropped connections, a second process
polling the same token (409), and a token revoked mid-run; and what `python -m bot` does at
start when the token is bad or an API cannot be reached. Exit codes (README "Exit codes"):
0 stopped by SIGTERM/SIGINT, 1 Telegram unreachable at start, 2 configuration (a bad value,
or Telegram rejects the token, at start or later)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram.error import InvalidToken

from bot.app import until_stopped
from bot.telegram.polling import MAX_PAUSE, backoff
from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN, free_port
from tests.test_e2e import ROOT, bot_environment, run_bot

USER = 1001


def help_answers(tg: FakeTelegram) -> list[Any]:
    return [c for c in tg.calls_of("sendMessage") if c.ok and "/video" in c.result["text"]]


def messages(caplog: pytest.LogCaptureFixture, part: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if part in r.getMessage()]


async def test_a_reply_held_in_one_chat_does_not_hold_another_users_update(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    """Updates are handled as they come, not batch by batch: while one user's reply waits
    (Telegram holds it), another user who writes after is answered, and the held update is
    confirmed only once it is done."""
    await start_bot()
    tg.delay_next("sendMessage", 10)
    tg.user_sends("/help", user_id=USER)
    await tg.wait_until(lambda: tg.faults_left("sendMessage") == 0)  # its reply is held
    tg.user_sends("/help", user_id=2002)
    answered = await tg.wait_for_call("sendMessage", lambda c: c.params["chat_id"] == "2002")
    assert answered.ok
    assert [c.params["chat_id"] for c in help_answers(tg)] == ["2002"]  # the first still held
    assert tg.pending_updates() == 2  # neither confirmed: the older is still in hand
    await tg.wait_until(lambda: len(help_answers(tg)) == 2, timeout=20)
    await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=10)


async def test_a_429_on_get_updates_is_waited_out(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: Any
) -> None:
    tg.fail_next("getUpdates", 429, retry_after=1)
    with caplog.at_level(logging.WARNING):
        await start_bot()
        tg.user_sends("/help", user_id=USER)
        await tg.wait_until(lambda: help_answers(tg), timeout=15)
    (waited,) = messages(caplog, "asks to wait 1s (429)")
    assert waited.levelno == logging.WARNING
    assert [c.ok for c in tg.calls_of("getUpdates")][:2] == [False, True]


@pytest.mark.unit
def test_the_pause_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 7, 50)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert MAX_PAUSE == 30


async def test_network_errors_back_off_and_polling_resumes(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: Any
) -> None:
    tg.fail_next("getUpdates", 502)  # a 5xx: PTB's NetworkError
    tg.garble_next("getUpdates")  # a connection answered with garbage
    with caplog.at_level(logging.WARNING):
        await start_bot()
        tg.user_sends("/help", user_id=USER)
        await tg.wait_until(lambda: help_answers(tg), timeout=15)
        pauses = [r.getMessage().rsplit(" ", 1)[-1] for r in messages(caplog, "retrying in")]
        assert pauses == ["1s", "2s"]  # backing off
        # A good answer starts over: the next failure waits 1 s again.
        tg.fail_next("getUpdates", 503)
        tg.user_sends("/help", user_id=USER)  # ends the poll in hand; the next one fails
        await tg.wait_until(lambda: len(help_answers(tg)) == 2, timeout=15)
    pauses = [r.getMessage().rsplit(" ", 1)[-1] for r in messages(caplog, "retrying in")]
    assert pauses == ["1s", "2s", "1s"]
    assert all(r.levelno == logging.WARNING for r in messages(caplog, "getUpdates failed"))


def refused(tg: FakeTelegram) -> list[Any]:
    return [c for c in tg.calls_of("getUpdates") if c.response and not c.ok]


async def test_a_second_process_polling_the_same_token_is_one_error_line(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: Any
) -> None:
    """Telegram ends the bot's long poll with 409 when another getUpdates arrives for the token.
    The bot says so once, at ERROR, and keeps trying (the usual cause, a deploy's old process,
    goes away by itself): once the other process stops, updates flow again."""
    with caplog.at_level(logging.DEBUG, logger="bot.telegram.polling"):
        await start_bot()
        url = f"{tg.root}/bot{BOT_TOKEN}/getUpdates"
        async with aiohttp.ClientSession() as http:  # the other process polls twice, then stops
            theirs = 0  # the fake numbers the polls it receives
            for conflict in (1, 2):
                # Once the bot's long poll is in hand (a poll after the other process's),
                # the other process's poll ends it with 409.
                await tg.wait_until(lambda: tg._poll_generation > theirs, timeout=15)  # noqa: B023
                async with http.post(url, json={"timeout": 0}) as response:
                    assert response.status == 200
                theirs = tg._poll_generation
                await tg.wait_until(lambda: len(refused(tg)) == conflict, timeout=15)  # noqa: B023
        tg.user_sends("/help", user_id=USER)
        await tg.wait_until(lambda: help_answers(tg), timeout=15)
    conflicts = messages(caplog, "only one process may poll")
    assert (
        len(conflicts) == 2
        and "terminated by other getUpdates request" in conflicts[0].getMessage()
    )
    assert [r.levelno for r in conflicts if r.levelno >= logging.ERROR] == [logging.ERROR]


async def test_a_token_revoked_mid_run_ends_the_bot(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    """Revoked with @BotFather: every call is now 401. Polling cannot go on, and the process
    must not look alive: `until_stopped` (what `python -m bot` waits on) raises at once."""
    bot = await start_bot()
    tg.user_sends("/help", user_id=USER)
    await tg.wait_until(lambda: help_answers(tg), timeout=15)
    tg.token = "654321:ANOTHER-token-issued-by-botfather-000"
    tg.user_sends("/help", user_id=USER)  # ends the poll in hand; the next one meets the 401
    with pytest.raises(InvalidToken):
        async with asyncio.timeout(15):
            await until_stopped(bot.application, asyncio.Event())


async def test_until_stopped_returns_on_stop_while_polling_is_fine(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    stop = asyncio.Event()
    stop.set()
    await until_stopped(bot.application, stop)


# --- `python -m bot`: exit codes and the one line an operator reads ------------------------------


async def finished(process: asyncio.subprocess.Process) -> tuple[int, list[str]]:
    """The exit code and the log lines of a `python -m bot` that should end by itself."""
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, (stdout + stderr).decode().splitlines()


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if " ERROR " in line or " CRITICAL " in line]


def assert_clean(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "Traceback" not in text
    assert BOT_TOKEN not in text and BOT_TOKEN.split(":")[1] not in text
    assert API_KEY not in text


async def test_a_bad_token_at_start_exits_2_with_one_line(
    tg: FakeTelegram, emulator: Any, tmp_path: Path
) -> None:
    tg.token = "654321:ANOTHER-token-issued-by-botfather-000"  # ours is unknown to Telegram
    process = await run_bot(bot_environment(tg, emulator, tmp_path), cwd=ROOT)
    code, lines = await finished(process)
    assert code == 2, lines
    (line,) = errors(lines)
    assert "TELEGRAM_BOT_TOKEN was rejected by Telegram" in line
    assert_clean(lines)


async def test_telegram_unreachable_at_start_exits_1_with_one_line(
    tg: FakeTelegram, emulator: Any, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    environment = {**bot_environment(tg, emulator, tmp_path), "TELEGRAM_API_URL": nowhere}
    process = await run_bot(environment, cwd=ROOT)
    code, lines = await finished(process)
    assert code == 1, lines
    (line,) = errors(lines)
    assert "cannot reach the Telegram Bot API" in line
    assert_clean(lines)


@pytest.mark.parametrize(
    ("code", "description", "said"),
    [
        (403, "Forbidden: access denied", "Forbidden: access denied"),
        (400, "Bad Request: not here", "Not here"),  # PTB's wording of a 400
    ],
)
async def test_telegram_refusing_at_start_for_another_reason_exits_1_with_one_line(
    tg: FakeTelegram, emulator: Any, tmp_path: Path, code: int, description: str, said: str
) -> None:
    # Neither a bad token nor an unreachable server: e.g. a proxy in front of the Bot API
    # (TELEGRAM_API_URL) that turns the bot away. A 400 is PTB's NetworkError, yet an answer:
    # "refused", not "cannot reach". (A 429 is waited out; a 5xx is "cannot reach", above.)
    tg.fail_next("getMe", code, description)
    environment = bot_environment(tg, emulator, tmp_path, PORT=str(free_port()))
    process = await run_bot(environment, cwd=ROOT)
    exit_code, lines = await finished(process)
    assert exit_code == 1, lines
    (line,) = errors(lines)
    assert f"Telegram refused: {said}" in line
    assert_clean(lines)
    assert [c.method for c in tg.calls] == ["getMe"]  # nothing more was tried


async def test_a_token_revoked_while_polling_exits_2_with_one_line(
    tg: FakeTelegram, emulator: Any, tmp_path: Path
) -> None:
    """getMe worked at start, then getUpdates is refused 401: before this was handled, polling
    stopped and the process stayed up doing nothing a supervisor could see."""
    tg.fail_next("getUpdates", 401, "Unauthorized")
    port = free_port()
    environment = bot_environment(tg, emulator, tmp_path, PORT=str(port))
    process = await run_bot(environment, cwd=ROOT)
    try:
        code, lines = await finished(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 2, lines
    (line,) = errors(lines)
    assert "TELEGRAM_BOT_TOKEN was rejected by Telegram" in line
    assert any("started" in line for line in lines)  # it was running
    assert_clean(lines)


async def test_the_video_api_unreachable_at_start_is_not_fatal(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    """The video API down at start is an outage, not a configuration error: the bot starts,
    accepts requests (they wait in the queue) and /healthz says what is wrong."""

    class Nowhere:
        url = f"http://127.0.0.1:{free_port()}"

    port = free_port()
    environment = bot_environment(tg, Nowhere(), tmp_path, PORT=str(port))
    process = await run_bot(environment, cwd=ROOT)
    try:
        await tg.wait_until(lambda: tg.calls_of("setMyCommands"), timeout=30)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                        report = await health.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        assert health.status == 503 and report["api"] == "unreachable", report
        tg.user_sends("/video a patient jellyfish", user_id=USER)
        status = await tg.wait_for_call("sendMessage", timeout=15)
        assert "Queued" in status.result["text"]
        assert process.returncode is None
    finally:
        process.send_signal(signal.SIGTERM)
        code, lines = await finished(process)
    assert code == 0, lines
    assert_clean(lines)
