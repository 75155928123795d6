"""Long polling that never drops an update, and never makes one user wait for another's.

PTB's own Updater confirms a batch (by asking for the next one) while its updates may still sit
unhandled in memory, so a killed process loses them: at-most-once. Here an update is confirmed
only once it and every update before it were handled: `getUpdates` always asks from the oldest
update still in hand, so Telegram keeps re-sending it until then (a killed process gets it back:
at-least-once). Handling twice is harmless because jobs are idempotent by request key and
updates already handled are skipped by id (handlers/__init__.py).

Updates are handled as they come, each on its own, not batch by batch: a reply waiting for
Telegram's pace in one chat (a second a message in a private chat) holds no one else's. While
updates are in hand Telegram answers at once (it re-sends those), so new ones are asked for
once one of them finishes, or after IN_HAND_POLL seconds; at most one page (100) is in hand.
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
# While updates are in hand, how often to ask for new ones (when none of those finishes sooner).
IN_HAND_POLL = 0.5
# How long a stop waits for the updates in hand.
STOP_PATIENCE = 30.0
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
        self._seen: int | None = None  # the newest update taken up (handled, in hand or dropped)
        self._in_hand: dict[int, asyncio.Task[None]] = {}  # by update id
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
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
        """Stop asking for updates, finish those in hand (a bounded wait), confirm them."""
        self._stopping = True
        if self._task is None:
            return
        self._task.cancel()  # an answer it was waiting for is simply asked for again next time
        await asyncio.gather(self._task, return_exceptions=True)
        in_hand = list(self._in_hand.values())
        if in_hand:
            await asyncio.wait(in_hand, timeout=STOP_PATIENCE)
        for task in in_hand:
            task.cancel()
        await asyncio.gather(*in_hand, return_exceptions=True)
        offset = self._offset()
        if offset is not None:
            with contextlib.suppress(TelegramError):
                await self._application.bot.get_updates(offset=offset, timeout=0)

    async def failure(self) -> InvalidToken:
        """Wait until polling cannot go on: Telegram rejected the token (revoked, or changed
        with @BotFather). No restart of this process can fix that, so it should exit."""
        return await asyncio.shield(self._failed)

    async def _run(self) -> None:
        failures = 0  # failed getUpdates in a row
        while not self._stopping:
            if self._in_hand:
                # Telegram would answer at once, with these: first let one of them finish (most
                # take milliseconds), or a moment pass, then ask for new ones.
                await asyncio.wait(
                    list(self._in_hand.values()),
                    timeout=IN_HAND_POLL,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            busy = bool(self._in_hand)
            try:
                updates = await self._application.bot.get_updates(
                    offset=self._offset(),
                    timeout=0 if busy else POLL_TIMEOUT,  # it would answer at once anyway
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
            except Exception:
                # Whatever else (an answer PTB cannot read): polling must not end quietly.
                failures += 1
                pause = backoff(failures)
                log.exception("getUpdates failed unexpectedly; retrying in %gs", pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            fresh = [u for u in updates if self._seen is None or u.update_id > self._seen]
            for update in fresh:
                self._seen = update.update_id
                if self._flood.admit(update):  # a flooding sender's are dropped here
                    self._take_up(update)

    def _take_up(self, update: Update) -> None:
        # process_update never raises: handler errors go to the error handler.
        task = asyncio.create_task(
            self._application.process_update(update), name=f"update-{update.update_id}"
        )
        self._in_hand[update.update_id] = task
        task.add_done_callback(lambda _: self._in_hand.pop(update.update_id, None))

    def _offset(self) -> int | None:
        """What `getUpdates` confirms up to: the oldest update in hand, else all seen."""
        if self._in_hand:
            return min(self._in_hand)
        return None if self._seen is None else self._seen + 1


def _seconds(value: object) -> float:
    total_seconds = getattr(value, "total_seconds", None)
    return float(total_seconds()) if callable(total_seconds) else float(value)  # type: ignore[arg-type]
