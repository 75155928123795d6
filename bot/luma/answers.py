"""Snapshots the aiml-v1 batch poller read, handed to the wait for each generation.

Only answers to our own authenticated GETs go in here (bot/luma/aiml_v1.py `push`es each one the
batch request returned); what a provider callback carries never does (see wakeups.py). Each
snapshot is taken once; a later snapshot replaces an untaken one, except that a finished
generation is never replaced by an unfinished one (answers may cross, and a state may be read
more than once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from bot.luma.models import Generation

# Untaken snapshots kept for generations whose wait is between rounds or already over.
MAX_UNTAKEN = 10_000


class BatchAnswers:
    def __init__(self, max_untaken: int = MAX_UNTAKEN) -> None:
        self._untaken: OrderedDict[str, Generation] = OrderedDict()
        self._arrived: dict[str, asyncio.Event] = {}
        self._max_untaken = max_untaken

    def push(self, generation: Generation) -> None:
        held = self._untaken.get(generation.id)
        if held is not None and held.state.is_terminal and not generation.state.is_terminal:
            return
        self._untaken[generation.id] = generation
        self._untaken.move_to_end(generation.id)
        while len(self._untaken) > self._max_untaken:
            self._untaken.popitem(last=False)
        event = self._arrived.get(generation.id)
        if event is not None:
            event.set()

    async def wait(self, generation_id: str, seconds: float) -> Generation | None:
        """The next snapshot of `generation_id`, or None after `seconds` without one."""
        if generation_id not in self._untaken and seconds > 0:
            event = self._arrived.setdefault(generation_id, asyncio.Event())
            event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await event.wait()
        return self._untaken.pop(generation_id, None)

    def forget(self, generation_id: str) -> None:
        """The wait for `generation_id` is over."""
        self._untaken.pop(generation_id, None)
        self._arrived.pop(generation_id, None)
