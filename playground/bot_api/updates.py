"""``getUpdates``: real long polling with ``offset`` confirmation, ``limit``, ``timeout`` and
``allowed_updates``; 409 while a webhook is set and when a newer poll or a ``setWebhook``
ends a held one.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time

from playground.bot_api.protocol import ApiError, _as_int
from playground.bot_api.state import FakeState


class GetUpdates(FakeState):
    """``getUpdates``."""

    async def _m_getUpdates(self, p: dict, uploads: dict) -> list[dict]:
        conflict = (
            "Conflict: can't use getUpdates method while webhook is active; use "
            "deleteWebhook to delete the webhook first"
        )
        if self._wh is not None or self._wh_lock.locked():
            raise ApiError(409, conflict)
        offset = _as_int(p.get("offset") or 0, "offset")
        limit = min(max(_as_int(p.get("limit") or 100, "limit"), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        self._update_allowed_updates(p)
        self._poll_generation += 1
        generation, epoch = self._poll_generation, self._webhook_epoch
        self._notify()  # an older pending getUpdates now answers 409
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        while True:
            if epoch != self._webhook_epoch:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure "
                    "that only one bot instance is running",
                )
            self._updates = [u for u in self._updates if self._allowed(u)]
            remaining = deadline - time.monotonic()
            if self._updates or self._closing or remaining <= 0:
                return copy.deepcopy(self._updates[:limit])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
