"""Flood control for what senders send: each may send a burst of `FLOOD_BURST` messages or
button presses, then `FLOOD_PER_MINUTE` a minute; faster ones are dropped as they arrive,
before any handler or the database sees them, and the sender is told once per streak.

Why at the door: a reply waits for Telegram's pace in its chat (about one message a second in a
private chat, 20 a minute in a group). A batch of updates is handled before the next is read
(polling), and a webhook delivery holds one of Telegram's connections until it is handled, so
one sender's hundred messages would hold everyone else's up for a hundred seconds.

Never limited: payments (Telegram waits for the pre-checkout answer, and a successful payment
must be credited), inline queries (answered without posting in any chat), and admins. The
counts live in each process: with several replicas a sender gets a little more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Update

from bot.metrics import Metrics

log = logging.getLogger(__name__)

# Senders remembered at once; the least recently seen are forgotten first (a forgotten sender
# starts again with a full burst).
MAX_SENDERS = 100_000

# Tells a sender their messages are being dropped.
SlowDown = Callable[[Update], Awaitable[None]]


@dataclass
class _Allowance:
    tokens: float
    at: float  # (monotonic) when `tokens` was counted
    told: bool  # this streak of drops was told
    album: str | None = None  # the last album (media group) seen, and whether it was let in
    album_admitted: bool = False


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
        self._burst = burst
        self._per_second = per_minute / 60
        self._exempt = exempt
        self._slow_down = slow_down
        self._metrics = metrics
        self._senders: OrderedDict[int, _Allowance] = OrderedDict()
        self._telling: set[asyncio.Task[None]] = set()

    def admit(self, update: Update) -> bool:
        """True: handle the update. False: dropped; the sender is told at the first drop of a
        streak (in the background: the caller never waits for Telegram's pace)."""
        sender = sender_of(update)
        if self._per_second <= 0 or sender is None or self._exempt(sender):
            return True
        if self._take(sender, _album_of(update), time.monotonic()):
            return True
        self._metrics.updates.labels("flooded").inc()
        allowance = self._senders[sender]
        if not allowance.told:
            allowance.told = True
            log.info("sender %d sends faster than allowed; dropping until they slow down", sender)
            task = asyncio.create_task(self._tell(update))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)
        return False

    def _take(self, sender: int, album: str | None, now: float) -> bool:
        """One from the sender's allowance. An album counts once: its other items go as its
        first did (a part of an album would make another video than the one asked for)."""
        allowance = self._senders.pop(sender, None)
        if allowance is None:
            allowance = _Allowance(tokens=self._burst, at=now, told=False)
        else:
            refill = (now - allowance.at) * self._per_second
            allowance.tokens = min(self._burst, allowance.tokens + refill)
            allowance.at = now
        self._senders[sender] = allowance  # the most recently seen go last
        while len(self._senders) > MAX_SENDERS:
            self._senders.popitem(last=False)
        if album is not None and album == allowance.album:
            return allowance.album_admitted
        admitted = allowance.tokens >= 1
        if admitted:
            allowance.tokens -= 1
            allowance.told = False
        allowance.album, allowance.album_admitted = album, admitted
        return admitted

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
