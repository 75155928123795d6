"""`python -m bot`: run the bot (long polling) until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from telegram.error import InvalidToken, NetworkError

from bot.app import build_application, running
from bot.config import ConfigError, load_settings
from bot.logs import configure_logging

log = logging.getLogger("bot")


async def serve() -> None:
    settings = load_settings()
    application = build_application(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running(application):
        await stop.wait()
        log.info("stopping: in-flight jobs are kept and resume at the next start")


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"luma-video-bot: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    try:
        asyncio.run(serve())
    except InvalidToken:
        log.error("TELEGRAM_BOT_TOKEN was rejected by Telegram: check it with @BotFather")
        return 2
    except NetworkError as error:
        log.error("cannot reach the Telegram Bot API at the configured URL: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
