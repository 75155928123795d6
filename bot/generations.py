"""What handlers ask of the bot: accept a video request (quota + job in one transaction),
report quota. Handlers stay thin; the rules live here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.luma.models import DEFAULT_ASPECT_RATIO
from storage.base import Accepted, NewJob, QuotaExhausted, Repository, UserRecord


@dataclass(frozen=True)
class Requester:
    """Who asked, and where the answer goes."""

    user_id: int | None
    chat_id: int
    thread_id: int | None
    message_id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class QuotaStatus:
    limit: int | None  # None: no limit for this user
    used: int
    resets_in: float  # seconds until 00:00 UTC

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def seconds_until_reset(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - moment).total_seconds()


class GenerationService:
    def __init__(
        self,
        *,
        repository: Repository,
        family: str,
        daily_quota: int,
        admin_user_ids: frozenset[int],
        generation_timeout: float,
    ) -> None:
        self._repo = repository
        self.family = family
        self._daily_quota = daily_quota
        self._admins = admin_user_ids
        self._timeout = generation_timeout

    def is_exempt(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self._admins

    def _limit_for(self, user_id: int | None) -> int | None:
        if self.is_exempt(user_id) or self._daily_quota == 0:
            return None
        return self._daily_quota

    async def remember_user(self, who: Requester) -> None:
        if who.user_id is None:
            return
        await self._repo.upsert_user(
            UserRecord(
                user_id=who.user_id,
                username=who.username,
                first_name=who.first_name,
                language_code=who.language_code,
            ),
            time.time(),
        )

    async def request_video(
        self,
        who: Requester,
        *,
        prompt: str,
        aspect_ratio: str | None,
        loop: bool,
    ) -> Accepted | QuotaExhausted:
        """Reserve quota and record the job in one transaction; the worker does the rest."""
        now = time.time()
        await self.remember_user(who)
        params = {"aspect_ratio": aspect_ratio or DEFAULT_ASPECT_RATIO, "loop": loop}
        return await self._repo.accept_job(
            NewJob(
                family=self.family,
                kind="text",
                user_id=who.user_id,
                chat_id=who.chat_id,
                thread_id=who.thread_id,
                request_message_id=who.message_id,
                prompt=prompt,
                params=params,
                deadline_at=now + self._timeout,
            ),
            day=utc_day(now),
            daily_limit=self._limit_for(who.user_id),
            charge=not self.is_exempt(who.user_id),
            now=now,
        )

    async def quota(self, user_id: int | None) -> QuotaStatus:
        now = time.time()
        used = await self._repo.quota_used(user_id, utc_day(now)) if user_id is not None else 0
        return QuotaStatus(
            limit=self._limit_for(user_id), used=used, resets_in=seconds_until_reset(now)
        )

    async def attach_status_message(self, job_id: int, message_id: int) -> None:
        await self._repo.set_status_message(job_id, message_id)
