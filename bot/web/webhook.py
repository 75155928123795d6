"""Webhook mode: Telegram POSTs each update to `PUBLIC_URL/telegram/webhook` (bot/web/server.py).

Several replicas sit behind one load balancer, and Telegram re-sends an update it did not see
answered, possibly to another replica while the first is still at it. So before handling, an
update is claimed in the database (`claim_update`, a short lease): the claimer handles it and
records it as handled; a copy of a handled update is answered 200 and dropped; a copy of one
another replica is handling right now is answered 503, so Telegram tries again later, and if
that replica died meanwhile its claim lapses and the retry handles the update. The answer is
sent only after handling: an update whose replica was killed mid-way is re-sent, not lost.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.links import secrets_equal
from bot.metrics import Metrics
from bot.telegram.flood import FloodGuard
from bot.telegram.updates import HandledUpdates

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Handlers only record and reply (videos are made by the worker): this is ample.
CLAIM_SECONDS = 60.0
RETRY_LATER_SECONDS = 5


class WebhookReceiver:
    def __init__(
        self,
        *,
        application: Application,
        updates: HandledUpdates,
        secret: str,
        owner: str,
        metrics: Metrics,
        flood: FloodGuard,
    ) -> None:
        self._application = application
        self._flood = flood
        self._updates = updates
        self._secret = secret
        self._owner = owner
        self._metrics = metrics

    def authentic(self, header: str | None) -> bool:
        return header is not None and secrets_equal(header, self._secret)

    async def receive(self, payload: Any) -> int:
        """Handle one delivery; the HTTP status for Telegram (non-2xx: it will re-send)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return 400
        try:
            update = Update.de_json(payload, self._application.bot)
        except Exception as error:  # PTB raises whatever a malformed field makes it raise
            # Acknowledged, not refused: Telegram would re-send it forever, holding up the
            # updates behind it, and no copy of it will ever read better.
            log.warning("update %d could not be read; dropped: %r", payload["update_id"], error)
            self._metrics.updates.labels("unreadable").inc()
            return 200
        if not self._flood.admit(update):
            return 200  # dropped, not refused: a re-sent copy would be dropped again
        # One query on the common path (the handlers' own duplicate check knows it was claimed
        # here); only a refused claim asks why.
        if not await self._updates.claim(update.update_id, self._owner, CLAIM_SECONDS):
            if await self._updates.handled_before(update.update_id):
                self._metrics.updates.labels("duplicate").inc()
                return 200
            self._metrics.updates.labels("busy").inc()
            return 503  # another replica has it in hand; Telegram re-sends later
        try:
            # process_update never raises (handler errors go to the error handler); the last
            # handler group records the update as handled.
            await self._application.process_update(update)
        finally:
            self._updates.release(update.update_id)
        self._metrics.updates.labels("handled").inc()
        return 200
