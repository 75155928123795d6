"""Telling the operators (ADMIN_USER_IDS) about problems only they can fix.

One alert per incident, not per job: an incident opens at the first failure of a kind (the API
rejects the key, the account is out of credits) and closes at the next accepted request, which
also sends a short "recovered" note. The state is per process; after a restart an open incident
is reported again once.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from telegram import Bot
from telegram.error import TelegramError

from bot.logs import redact
from bot.texts import text

log = logging.getLogger(__name__)


class Problem(StrEnum):
    BAD_API_KEY = "admin_alert_auth"
    NO_CREDITS = "admin_alert_credits"


class OperatorAlerts:
    def __init__(self, bot: Bot, admin_ids: frozenset[int]) -> None:
        self._bot = bot
        self._admins = sorted(admin_ids)
        self._open: set[Problem] = set()

    async def problem(self, problem: Problem, detail: str) -> None:
        log.error("operator action needed (%s): %s", problem.name, detail)
        if problem in self._open:
            return
        self._open.add(problem)
        await self._tell(text(problem.value, detail=redact(detail)))  # an API may echo the key

    async def resolved(self) -> None:
        if self._open:
            self._open.clear()
            log.info("the video API accepts requests again")
            await self._tell(text("admin_recovered"))

    async def _tell(self, message: str) -> None:
        for admin in self._admins:
            try:
                await self._bot.send_message(chat_id=admin, text=message)
            except TelegramError as error:  # an admin who never started the bot, for one
                log.warning("could not alert admin %d: %s", admin, error)
