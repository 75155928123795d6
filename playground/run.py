"""`python -m playground` (or `python -m bot playground`): the whole bot on this machine.

One process group: this process serves the video API emulator, the local Telegram Bot API (the
fake the test suite uses) and the chat page, all on 127.0.0.1; the bot itself is the ordinary
`python -m bot`, a child process pointed at them by its usual settings, with SQLite in a data
folder. Nothing secret is needed or made: the token is the local Bot API's own, the API key any
word the emulator accepts. Ctrl-C (or SIGTERM) stops the bot, then the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from emulator import EmulatorConfig, run_emulator
from emulator.core import Emulator
from playground.chat import DEFAULT_TIMINGS, ChatRoom
from playground.fake_telegram import FakeTelegram

log = logging.getLogger("playground")

HOST = "127.0.0.1"  # the playground is for this machine only
DEFAULT_PORT = 8080
BOT_USERNAME = "PlaygroundVideoBot"
BOT_NAME = "Playground Video Bot"
# The local Bot API's bot id. Its token is made afresh at each start (`local_token`): the bot
# needs a token's shape, nothing else accepts it, and none is written anywhere.
BOT_ID = 7000000001
API_KEY = "playground"
# Fast and lively: a video in a few seconds, each generation its own coloured clip.
EMULATOR = EmulatorConfig(
    queue_seconds=DEFAULT_TIMINGS["queue_seconds"],
    dream_seconds=DEFAULT_TIMINGS["dream_seconds"],
    long_poll_seconds=10.0,
    clips=True,
)
# Seconds the bot gets to finish what it is doing when the playground stops.
BOT_STOP_SECONDS = 15.0


@dataclass(frozen=True)
class Options:
    port: int = DEFAULT_PORT
    data: Path | None = None  # None: a temporary folder, removed at the end


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bot playground",
        description=(
            "The bot with a local Telegram and a local video API, in your browser: no Telegram "
            "account, no API key. Listens on 127.0.0.1 only."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the page's port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder for the bot's SQLite database (kept); default: a temporary one",
    )
    args = parser.parse_args(argv)
    return Options(port=args.port, data=args.data)


def local_token() -> str:
    """A token for the local Bot API, of BotFather's shape, new each time."""
    return f"{BOT_ID}:{secrets.token_urlsafe(24)}"


def bot_environment(
    token: str, telegram_url: str, api_url: str, database: Path, port: int
) -> dict[str, str]:
    """The settings of the playground's `python -m bot`: its usual ones, pointed here."""
    settings = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": telegram_url,
        "LUMA_API_KEY": API_KEY,
        "LUMA_API_URL": api_url,
        "LUMA_API_FAMILY": "aiml-v2",
        "DATABASE_URL": f"sqlite:///{database}",
        # Its own web server, for photo keyframes (the emulator fetches them) and the gallery.
        "PORT": str(port),
        "PUBLIC_URL": f"http://{HOST}:{port}",
        "LUMA_LONG_POLL_SECONDS": "10",
        "PROGRESS_INTERVAL": "1",
        "DAILY_QUOTA": "5",
        # Buy credits with (simulated) Stars: 10 credits for 50 ⭐, 50 for 200 ⭐.
        "CREDIT_PACKS": "10:50,50:200",
        "SUPPORT_CONTACT": "the playground: no real Stars are spent",
        # A stuck generation (the side panel) fails and is refunded in a minute, not twenty.
        "GENERATION_TIMEOUT": "60",
        "LOG_LEVEL": "INFO",
    }
    # Only what a Python process needs from this one: a bot setting in the shell (a real token,
    # TELEGRAM_WEBHOOK=true) must not reach the playground's bot.
    kept = {key: value for key, value in os.environ.items() if key.startswith(_INHERITED)}
    return {**kept, **settings}


# (COVERAGE_: the test suite measures the playground's bot too.)
_INHERITED = (
    *("PATH", "HOME", "LANG", "LC_", "TZ", "TMP", "TEMP", "SYSTEMROOT", "VIRTUAL_ENV"),
    *("PYTHONPATH", "COVERAGE_"),
)


async def serve(options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        data = options.data or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data.mkdir(parents=True, exist_ok=True)
        emulator = await stack.enter_async_context(run_emulator(EMULATOR, host=HOST))
        tg = await stack.enter_async_context(
            FakeTelegram(local_token(), BOT_USERNAME, bot_first_name=BOT_NAME, host=HOST)
        )
        room = ChatRoom(tg, emulator)
        stack.push_async_callback(room.close)
        await stack.enter_async_context(_served(room.app(), options.port))
        bot = await _start_bot(tg, emulator, data / "playground.db")
        print(_banner(options.port, data, options.data is None), flush=True)
        outcome = await _until(stop, bot)
        await _stop_bot(bot)
        return outcome


@contextlib.asynccontextmanager
async def _served(app: web.Application, port: int) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port).start()
        yield
    finally:
        await runner.cleanup()


async def _start_bot(
    tg: FakeTelegram, emulator: Emulator, database: Path
) -> asyncio.subprocess.Process:
    assert emulator.url is not None
    environment = bot_environment(tg.token, tg.root, emulator.url, database, _free_port())
    # In the data folder: a developer's .env in the project folder is not the playground's.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=environment,
        cwd=database.parent,
        stdin=asyncio.subprocess.DEVNULL,
    )


async def _until(stop: asyncio.Event, bot: asyncio.subprocess.Process) -> int:
    """0 when asked to stop; the bot's exit code (1 if it was 0) if it ended on its own."""
    stopping = asyncio.ensure_future(stop.wait())
    ending = asyncio.ensure_future(bot.wait())
    await asyncio.wait({stopping, ending}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if ending.done():
        log.error("the bot stopped on its own (exit code %s): see its log above", bot.returncode)
        return bot.returncode or 1
    ending.cancel()
    return 0


async def _stop_bot(bot: asyncio.subprocess.Process) -> None:
    if bot.returncode is not None:
        return
    bot.terminate()  # the bot's own graceful stop: jobs in flight are kept in the database
    try:
        await asyncio.wait_for(bot.wait(), BOT_STOP_SECONDS)
    except TimeoutError:
        bot.kill()
        await bot.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _banner(port: int, data: Path, temporary: bool) -> str:
    kept = "a temporary folder, removed when you stop" if temporary else str(data)
    return (
        f"\n  The playground is running: open http://{HOST}:{port}/ in your browser.\n"
        f"  The bot's database is in {kept}. Stop with Ctrl-C.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(serve(options))
    except OSError as error:  # typically: the port is taken
        print(f"playground: cannot start: {error}", file=sys.stderr)
        return 1
