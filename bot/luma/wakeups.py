"""Wake-ups for waits: "look at this generation again now", never what it looks like.

A provider callback (bot/web/provider_callbacks.py) or a cancel (bot/domain/) `wake`s the
wait for a generation; the client's wait loop then ends its pause and asks the API with its own
authenticated GET. Nothing a callback carried is kept or believed: the state and the video URL
always come from that GET. Wake-ups coalesce: however many arrive before the waiter looks, they
are one look.

What is held is bounded in bytes, not only in count: one event per wait under way, plus at most
MAX_PENDING ids (of at most MAX_ID_CHARS each) woken while nobody here waited for them (e.g. a
job between workers after a restart), so that the next wait for one of them looks at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

# Ids woken while nobody here waited for them, kept for the next wait (oldest dropped first).
MAX_PENDING = 1000
# Generation ids are UUIDs (36 characters) or "<uuid>:<model>"; anything longer is not kept.
MAX_ID_CHARS = 200


class Wakeups:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._waiting: dict[str, asyncio.Event] = {}
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._max_pending = max_pending

    def wake(self, generation_id: str) -> None:
        """The wait for `generation_id` should look again now (or, if none runs here yet, the
        next one should look at once)."""
        event = self._waiting.get(generation_id)
        if event is not None:
            event.set()  # set twice before the waiter looks: still one look
            return
        if len(generation_id) > MAX_ID_CHARS:
            return
        self._pending[generation_id] = None
        self._pending.move_to_end(generation_id)
        while len(self._pending) > self._max_pending:
            self._pending.popitem(last=False)

    async def wait(self, generation_id: str, seconds: float) -> bool:
        """Pause up to `seconds`; True if woken meanwhile (or since the last pause)."""
        if generation_id in self._pending:
            del self._pending[generation_id]
            return True
        event = self._waiting.setdefault(generation_id, asyncio.Event())
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(seconds, 0.0)):
                    await event.wait()
        woken = event.is_set()
        event.clear()
        return woken

    def forget(self, generation_id: str) -> None:
        """The wait for `generation_id` is over."""
        self._pending.pop(generation_id, None)
        self._waiting.pop(generation_id, None)

    @property
    def held_chars(self) -> int:
        """Characters of ids held (at most MAX_PENDING x MAX_ID_CHARS, plus the waits)."""
        return sum(map(len, self._pending)) + sum(map(len, self._waiting))
