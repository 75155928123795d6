"""`python -m bot`: run the bot until SIGINT/SIGTERM (long polling, or webhook mode with
TELEGRAM_WEBHOOK=true). `python -m bot set-webhook` registers the webhook with Telegram once, as
a deploy step; `python -m bot delete-webhook` removes it (back to polling). `python -m bot
playground` runs the playground instead (`python -m playground`: a local Telegram and video API
around an ordinary `python -m bot`), which needs no settings at all."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

from bot.app import ALLOWED_UPDATES, build_application, running, until_stopped
from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging
from bot.telegram.transport import AiohttpRequest

log = logging.getLogger("bot")


async def serve() -> None:
    settings = load_settings()
    application = build_application(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running(application):
        await until_stopped(application, stop)
        log.info("stopping: in-flight jobs are kept and resume at the next start")


def _bot(settings: Settings) -> Bot:
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
        request=AiohttpRequest(),
    )


async def set_webhook(settings: Settings) -> int:
    # A release step runs this on every deploy: in polling mode there is nothing to do.
    if not settings.telegram_webhook:
        log.info("TELEGRAM_WEBHOOK is not true: polling mode, no webhook to set")
        return 0
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    async with _bot(settings) as bot:
        await bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=40,
        )
    log.info("webhook set: Telegram delivers updates to %s", settings.webhook_url)
    return 0


async def delete_webhook(settings: Settings) -> int:
    async with _bot(settings) as bot:
        await bot.delete_webhook(drop_pending_updates=False)
    log.info("webhook deleted: run the bot in polling mode (TELEGRAM_WEBHOOK=false)")
    return 0


COMMANDS = {"set-webhook": set_webhook, "delete-webhook": delete_webhook}


def _run(main_coroutine: Any) -> None:
    """uvloop when installed (less CPU per Telegram and API call), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
    else:
        uvloop.run(main_coroutine)


PLAYGROUND = "playground"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == PLAYGROUND:
        # Its own program, not imported: the bot knows the playground only by name.
        os.execv(sys.executable, [sys.executable, "-m", PLAYGROUND, *args[1:]])
    if args and args[0] not in COMMANDS:
        print(f"usage: python -m bot [{' | '.join([*COMMANDS, PLAYGROUND])}]", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"luma-video-bot: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets(), settings.log_format)
    try:
        if args:
            return asyncio.run(COMMANDS[args[0]](settings))
        _run(serve())
    except InvalidToken:
        # At start (getMe) or mid-run (getUpdates: the token was revoked).
        log.error("TELEGRAM_BOT_TOKEN was rejected by Telegram: check it with @BotFather")
        return 2
    except BadRequest as error:  # PTB's BadRequest is a NetworkError, but it was an answer
        log.error("Telegram refused: %s", error)
        return 1
    except NetworkError as error:
        log.error("cannot reach the Telegram Bot API at the configured URL: %s", error)
        return 1
    except TelegramError as error:
        log.error("Telegram refused: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
