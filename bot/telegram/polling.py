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

from bot.telegram.flood import FloodGuard

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds Telegram holds an empty getUpdates
# After a network error, a 5xx or a 409 Conflict, wait before asking again: 1 s, doubling up to
# 30 s while the failures last (a long outage costs one request per 30 s, and polling resumes
# within 30 s of Telegram coming back). A good answer starts over at 1 s.
FIRST_PAUSE = 1.0
MAX_PAUSE = 30.0


def backoff(failures: int) -> float:
    """The pause after `failures` failed getUpdates in a row (1 or more)."""
    return min(FIRST_PAUSE * 2 ** (failures - 1), MAX_PAUSE)


class UpdatePoller:
    def __init__(
        self, application: Application, *, allowed_updates: list[str], flood: FloodGuard
    ) -> None:
        self._application = application
        self._flood = flood
        self._allowed_updates = allowed_updates
        self._offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handling = asyncio.Event()  # set while a batch is being handled
        self._failed: asyncio.Future[InvalidToken] = asyncio.get_running_loop().create_future()

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

    async def failure(self) -> InvalidToken:
        """Wait until polling cannot go on: Telegram rejected the token (revoked, or changed
        with @BotFather). No restart of this process can fix that, so it should exit."""
        return await asyncio.shield(self._failed)

    async def _run(self) -> None:
        failures = 0  # failed getUpdates in a row
        while not self._stopping:
            try:
                updates = await self._application.bot.get_updates(
                    offset=self._offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=self._allowed_updates,
                    read_timeout=POLL_TIMEOUT + 10,
                )
            except RetryAfter as error:
                pause = _seconds(error.retry_after)
                log.warning("getUpdates: Telegram asks to wait %gs (429); waiting", pause)
                await asyncio.sleep(pause)
                continue
            except InvalidToken as error:
                self._failed.set_result(error)
                return
            except Conflict as error:
                # Another process polls with this token (or a webhook was set meanwhile). Most
                # often the old process of a deploy, still running for a few seconds: exiting
                # would only make a supervisor restart us into the same conflict, so keep trying
                # and it ends when that process stops. Said at once, then every MAX_PAUSE.
                failures += 1
                pause = backoff(failures)
                level = logging.ERROR if failures == 1 or pause == MAX_PAUSE else logging.DEBUG
                log.log(
                    level,
                    "Telegram refuses getUpdates (%s): only one process may poll with this "
                    "token; retrying in %gs",
                    error,
                    pause,
                )
                await asyncio.sleep(pause)
                continue
            except NetworkError as error:
                failures += 1
                pause = backoff(failures)
                log.warning("getUpdates failed (%s); retrying in %gs", error, pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            if updates:
                await self._handle(updates)
                self._offset = updates[-1].update_id + 1

    async def _handle(self, updates: tuple[Update, ...]) -> None:
        self._handling.set()
        try:
            # process_update never raises: handler errors go to the error handler.
            # A sender flooding the bot is cut off here: the batch waits for its slowest reply.
            admitted = [u for u in updates if self._flood.admit(u)]
            await asyncio.gather(*(self._application.process_update(u) for u in admitted))
        finally:
            self._handling.clear()


def _seconds(value: object) -> float:
    total_seconds = getattr(value, "total_seconds", None)
    return float(total_seconds()) if callable(total_seconds) else float(value)  # type: ignore[arg-type]
