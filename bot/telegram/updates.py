"""Each Telegram update handled once, though Telegram may deliver one twice: after a restart
before the polling offset was confirmed, or as a webhook retry whose first answer was late.

Polling: the first handler group skips an update the log says was handled, the last group
records it (handlers/__init__.py). Webhook replicas claim an update in the database first
(`claim`), so of several receiving copies at once only one handles it (bot/web/webhook.py).
"""

from __future__ import annotations

import time
from typing import Protocol


class UpdateLog(Protocol):
    """The durable record of handled (and claimed) updates: storage implements it."""

    async def update_handled(self, update_id: int) -> bool: ...

    async def claim_update(
        self, update_id: int, owner: str, now: float, lease_seconds: float
    ) -> bool: ...

    async def mark_update_handled(self, update_id: int, now: float) -> None: ...


class HandledUpdates:
    """Which updates this process may handle; `_in_hand` holds those it claimed and is still
    handling, which the database would grant to it again."""

    def __init__(self, log: UpdateLog) -> None:
        self._log = log
        self._in_hand: set[int] = set()

    async def handled_before(self, update_id: int) -> bool:
        """True for an update handled before (a copy: drop it)."""
        if update_id in self._in_hand:
            return False  # claimed just now by this process: the claim already checked
        return await self._log.update_handled(update_id)

    async def claim(self, update_id: int, owner: str, seconds: float) -> bool:
        """Claim an update for handling here (webhook replicas); False if handled or in the
        hands of another replica. `release` once its handling is over."""
        if update_id in self._in_hand:
            # Telegram's retry of a copy this process is still handling (its answer was late):
            # the database would grant our own claim again, so refuse it here.
            return False
        claimed = await self._log.claim_update(update_id, owner, time.time(), seconds)
        if claimed:
            self._in_hand.add(update_id)
        return claimed

    def release(self, update_id: int) -> None:
        self._in_hand.discard(update_id)

    async def mark_handled(self, update_id: int) -> None:
        await self._log.mark_update_handled(update_id, time.time())
