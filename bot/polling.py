"""Long polling that never drops an update: a batch is handled before its offset is confirmed.

PTB's own Updater confirms a batch (by asking for the next one) while its updates may still sit
unhandled in memory, so a killed process loses them: at-most-once. Here the next `getUpdates`,
which tells Telegram the batch is done, is only sent once every update of the batch has been
handled: at-least-once. Handling twice is harmless because jobs are idempotent by request key and
updates already handled are skipped by id (handlers/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds Telegram holds an empty getUpdates
ERROR_PAUSE = 3.0  # before asking again after a network error or a conflict


class UpdatePoller:
    def __init__(self, application: Application, *, allowed_updates: list[str]) -> None:
        self._application = application
        self._allowed_updates = allowed_updates
        self._offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handling = asyncio.Event()  # set while a batch is being handled

    async def start(self) -> None:
        # getUpdates refuses to work while a webhook is set. A webhook is a deploy decision
        # (`python -m bot set-webhook`): never delete it from here, or one process started in
        # polling mode would take the updates away from every webhook replica.
        webhook = await self._application.bot.get_webhook_info()
        if webhook.url:
            log.error(
                "a webhook is set, so this process does not poll Telegram (it still makes "
                "videos); for polling run `python -m bot delete-webhook` first"
            )
            return
        self._task = asyncio.create_task(self._run(), name="update-poller")

    async def stop(self) -> None:
        """Finish the batch in hand (a bounded wait), confirm it, and stop."""
        self._stopping = True
        if self._task is None:
            return
        if not self._handling.is_set():
            self._task.cancel()  # idle in a long poll: nothing to finish
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            async with asyncio.timeout(30):
                await asyncio.shield(self._task)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self._offset is not None:
            with contextlib.suppress(TelegramError):
                await self._application.bot.get_updates(offset=self._offset, timeout=0)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                updates = await self._application.bot.get_updates(
                    offset=self._offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=self._allowed_updates,
                    read_timeout=POLL_TIMEOUT + 10,
                )
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error.retry_after))
                continue
            except InvalidToken:
                log.critical("Telegram rejected TELEGRAM_BOT_TOKEN; polling stopped")
                return
            except Conflict:
                log.error("another process polls with this token; retrying in %ss", ERROR_PAUSE)
                await asyncio.sleep(ERROR_PAUSE)
                continue
            except NetworkError as error:
                log.warning("getUpdates failed (%s); retrying in %ss", error, ERROR_PAUSE)
                await asyncio.sleep(ERROR_PAUSE)
                continue
            if updates:
                await self._handle(updates)
                self._offset = updates[-1].update_id + 1

    async def _handle(self, updates: tuple[Update, ...]) -> None:
        self._handling.set()
        try:
            # process_update never raises: handler errors go to the error handler.
            await asyncio.gather(*(self._application.process_update(u) for u in updates))
        finally:
            self._handling.clear()


def _seconds(value: object) -> float:
    total_seconds = getattr(value, "total_seconds", None)
    return float(total_seconds()) if callable(total_seconds) else float(value)  # type: ignore[arg-type]
