"""What admins can do: look at usage, grant credits, ban and unban. Only `ADMIN_USER_IDS`."""

from __future__ import annotations

import re
import time

from bot.domain.access import AccessPolicy
from bot.domain.generations import report_periods
from bot.domain.model import DayStats
from bot.domain.stores import AdminQueries
from bot.numbers import parse_int

_USERNAME = re.compile(r"^@?[A-Za-z][A-Za-z0-9_]{1,31}$")


class AdminService:
    def __init__(self, repository: AdminQueries, policy: AccessPolicy) -> None:
        self._repo = repository
        self._policy = policy

    def is_admin(self, user_id: int | None) -> bool:
        return self._policy.is_admin(user_id)

    async def resolve(self, target: str) -> int | None:
        """A user (or chat) id from `123456`, `-100123` or `@username` (a user the bot has seen)."""
        number = parse_int(target, signed=True)
        if number is not None:
            return number
        if _USERNAME.match(target):
            user = await self._repo.find_user_by_username(target)
            return user.user_id if user else None
        return None

    async def grant(self, payer_id: int, count: int) -> int:
        """Add (or with a negative count, take away) credits; the new balance."""
        return await self._repo.grant_credits(payer_id, count, time.time())

    async def set_banned(self, payer_id: int, banned: bool, *, by: int | None) -> bool:
        """Ban or unban an identity: a user, or a group or channel acting as itself."""
        return await self._repo.set_banned(payer_id, banned, by=by, now=time.time())

    async def stats(self, now: float | None = None) -> tuple[DayStats, DayStats]:
        """Usage since 00:00 UTC today, and over the last 7 days."""
        today, week = report_periods(time.time() if now is None else now)
        return await self._repo.stats(since=today), await self._repo.stats(since=week)

    async def name_of(self, payer_id: int) -> str:
        """@username for a user the bot has seen, else the id (groups and channels)."""
        user = await self._repo.get_user(payer_id)
        if user is not None and user.username:
            return f"@{user.username}"
        return str(payer_id)
