"""Flood control for what senders send: each may send a burst of `FLOOD_BURST` messages or
button presses, then `FLOOD_PER_MINUTE` a minute; faster ones are dropped as they arrive,
before any handler or the database sees them, and the sender is told once per streak.

Why at the door: a reply waits for Telegram's pace in its chat (about one message a second in a
private chat, 20 a minute in a group), and the update stays in hand meanwhile: polling keeps at
most a page (100) in hand, and a webhook delivery holds one of Telegram's connections. One
sender's flood would fill those and hold everyone else up for as long as its replies take.

Never limited: payments (Telegram waits for the pre-checkout answer, and a successful payment
must be credited), inline queries (answered without posting in any chat), and admins. The
counts live in each process: with several replicas a sender gets a little more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Update

from bot.allowances import Allowances, Verdict
from bot.metrics import Metrics

log = logging.getLogger(__name__)

# Tells a sender their messages are being dropped.
SlowDown = Callable[[Update], Awaitable[None]]


class FloodGuard:
    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        exempt: Callable[[int], bool],
        slow_down: SlowDown,
        metrics: Metrics,
    ) -> None:
        self._allowances = Allowances(burst=burst, per_minute=per_minute)
        self._exempt = exempt
        self._slow_down = slow_down
        self._metrics = metrics
        self._telling: set[asyncio.Task[None]] = set()

    def admit(self, update: Update) -> bool:
        """True: handle the update. False: dropped; the sender is told at the first drop of a
        streak (in the background: the caller never waits for Telegram's pace). An album
        counts once, and is let in whole or not at all: part of an album would make another
        video than the one asked for."""
        sender = sender_of(update)
        if sender is None or self._exempt(sender):
            return True
        verdict = self._allowances.take(sender, time.monotonic(), group=_album_of(update))
        if verdict is Verdict.GRANTED:
            return True
        self._metrics.updates.labels("flooded").inc()
        if verdict is Verdict.FIRST_REFUSED:
            log.info("sender %d sends faster than allowed; dropping until they slow down", sender)
            task = asyncio.create_task(self._tell(update))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)
        return False

    async def _tell(self, update: Update) -> None:
        try:
            await self._slow_down(update)
        except Exception as error:  # best effort: they will notice the silence anyway
            log.info("could not tell a flooding sender to slow down: %s", error)


def sender_of(update: Update) -> int | None:
    """Whose pace an update counts against: the chat a message was sent as (a channel, an
    anonymous admin's group) or the user; None for updates never limited."""
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    message = update.message or update.channel_post
    if message is None or message.successful_payment or message.refunded_payment:
        return None
    if message.sender_chat is not None:
        return message.sender_chat.id
    return message.from_user.id if message.from_user is not None else None


def _album_of(update: Update) -> str | None:
    message = update.message or update.channel_post
    return message.media_group_id if message is not None else None
