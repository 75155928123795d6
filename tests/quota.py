"""The quota a test's jobs used, whichever UTC day they were charged on.

A job is charged to the UTC day it was accepted on. A test that runs across midnight would
charge on one day and count on the next, and see nothing used. Each test has a database of its
own and lasts minutes, so counting yesterday and today together is exact."""

import time

from bot.domain.generations import utc_day
from bot.domain.model import QuotaUsage
from storage import Repository


def _days() -> list[str]:
    now = time.time()
    return sorted({utc_day(now - 86400), utc_day(now)})


async def quota_used(repository: Repository, payer_id: int) -> int:
    return sum([await repository.quota_used(payer_id, day) for day in _days()])


async def quota_usage(repository: Repository, payer_id: int, chat_id: int) -> QuotaUsage:
    days = [await repository.quota_usage(payer_id, chat_id, day) for day in _days()]
    return QuotaUsage(
        payer_daily=sum(d.payer_daily for d in days),
        chat=sum(d.chat for d in days),
        everyone=sum(d.everyone for d in days),
        credits=days[-1].credits,
    )
