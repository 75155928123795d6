"""The SQLite repository: migrations, atomic quota, leases, fencing, refund exactly once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storage import open_repository
from storage.base import (
    Accepted,
    JobState,
    NewJob,
    QuotaExhausted,
    QuotaRules,
    QuotaScope,
    Repository,
    TooManyActive,
    UserRecord,
)
from storage.sqlite import SqliteRepository

DAY = "2026-11-21"


def new_job(message_id: int, user_id: int | None = 7, chat_id: int = 7) -> NewJob:
    return NewJob(
        family="aiml-v2",
        user_id=user_id,
        chat_id=chat_id,
        request_message_id=message_id,
        request_key=f"msg:{chat_id}:{message_id}",
        prompt="a jellyfish",
        params={"aspect_ratio": "16:9", "loop": False},
        deadline_at=time.time() + 600,
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'db.sqlite3'}"


@pytest.fixture
async def repo(db_url: str) -> AsyncIterator[Repository]:
    repository = await open_repository(db_url)
    yield repository
    await repository.close()


def rules(payer_id: int = 7, **limits: Any) -> QuotaRules:
    return QuotaRules(
        payer_id=payer_id,
        **({"payer_daily": 3, "chat_daily": None, "global_daily": None} | limits),
    )


async def accept(
    repo: Repository,
    message_id: int,
    *,
    user_id: int | None = 7,
    chat_id: int = 7,
    **limits: Any,
) -> Accepted | QuotaExhausted | TooManyActive:
    job = new_job(message_id, user_id=user_id, chat_id=chat_id)
    payer = user_id if user_id is not None else chat_id
    return await repo.accept_job(job, day=DAY, rules=rules(payer, **limits), now=time.time())


async def test_migrations_are_recorded_and_idempotent(db_url: str) -> None:
    first = await open_repository(db_url)
    await first.close()
    again = await open_repository(db_url)
    assert isinstance(again, SqliteRepository)
    rows = await (await again._db.execute("SELECT version FROM schema_version")).fetchall()
    assert [row[0] for row in rows] == [1, 2, 3]  # each migration once, in order
    await again.close()


async def test_quota_holds_under_concurrency_across_connections(db_url: str) -> None:
    # Two connections stand for two processes on one database file.
    first, second = await open_repository(db_url), await open_repository(db_url)
    results = await asyncio.gather(*[accept(first if i % 2 else second, i) for i in range(20)])
    assert sum(isinstance(result, Accepted) for result in results) == 3
    assert await first.quota_used(7, DAY) == 3
    await first.close()
    await second.close()


async def test_the_same_message_makes_one_job(repo: Repository) -> None:
    first = await accept(repo, 1)
    again = await accept(repo, 1)
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.duplicate and again.job.id == first.job.id
    assert await repo.quota_used(7, DAY) == 1


async def test_exempt_users_are_not_counted(repo: Repository) -> None:
    for message_id in range(5):
        assert isinstance(await accept(repo, message_id, exempt=True), Accepted)
    assert await repo.quota_used(7, DAY) == 0
    usage = await repo.quota_usage(7, 7, DAY)
    assert (usage.chat, usage.everyone) == (5, 5)  # the day's totals still count them


async def test_the_binding_limit_is_named(repo: Repository) -> None:
    assert isinstance(await accept(repo, 1, chat_id=-5, chat_daily=2, global_daily=3), Accepted)
    assert isinstance(await accept(repo, 2, chat_id=-5, chat_daily=2, global_daily=3), Accepted)
    chat = await accept(repo, 3, chat_id=-5, chat_daily=2, global_daily=3)
    assert isinstance(chat, QuotaExhausted) and chat.scope is QuotaScope.CHAT
    assert isinstance(await accept(repo, 4, user_id=8, global_daily=3), Accepted)
    everyone = await accept(repo, 5, user_id=9, global_daily=3)
    assert isinstance(everyone, QuotaExhausted) and everyone.scope is QuotaScope.GLOBAL
    assert everyone.limit == 3 and everyone.used == 3


async def test_a_channel_pays_for_its_own_posts(repo: Repository) -> None:
    for message_id in (1, 2):
        assert isinstance(
            await accept(repo, message_id, user_id=None, chat_id=-100, payer_daily=2), Accepted
        )
    refused = await accept(repo, 3, user_id=None, chat_id=-100, payer_daily=2)
    assert isinstance(refused, QuotaExhausted) and refused.scope is QuotaScope.USER
    assert await repo.quota_used(-100, DAY) == 2


async def test_credits_extend_the_allowance_and_come_back_on_refund(repo: Repository) -> None:
    assert await repo.grant_credits(7, 2, time.time()) == 2
    accepted = [await accept(repo, message_id, payer_daily=1) for message_id in range(3)]
    assert all(isinstance(result, Accepted) for result in accepted)
    assert [r.job.paid_with for r in accepted if isinstance(r, Accepted)] == [
        "daily",
        "credit",
        "credit",
    ]
    assert isinstance(await accept(repo, 9, payer_daily=1), QuotaExhausted)
    credit_job = accepted[2]
    assert isinstance(credit_job, Accepted)
    assert await repo.fail(credit_job.job.id, code="timeout", reason=None, now=time.time())
    assert (await repo.quota_usage(7, 7, DAY)).credits == 1
    assert await repo.grant_credits(7, -5, time.time()) == 0  # never below zero


async def test_bans_and_lookups(repo: Repository) -> None:
    assert await repo.set_banned(8, True, by=1, now=time.time())
    assert not await repo.set_banned(8, True, by=1, now=time.time())
    assert await repo.is_banned(8) and not await repo.is_banned(7)
    assert await repo.set_banned(8, False, by=1, now=time.time())
    assert not await repo.is_banned(8)
    await repo.upsert_user(UserRecord(user_id=8, username="Bob"), time.time())
    found = await repo.find_user_by_username("@bob")
    assert found is not None and found.user_id == 8


async def test_history_pages_and_stats(repo: Repository) -> None:
    for message_id in range(7):
        await accept(repo, message_id, payer_daily=None, chat_id=7 if message_id % 2 else -5)
    page, total = await repo.history(7, chat_id=None, offset=0, limit=5)
    assert total == 7 and [entry.job_id for entry in page] == [7, 6, 5, 4, 3]
    page, total = await repo.history(7, chat_id=-5, offset=0, limit=5)
    assert total == 4 and all(entry.job_id % 2 == 1 for entry in page)
    await repo.fail(1, code="moderation", reason=None, now=time.time())
    stats = await repo.stats(since=time.time() - 60)
    assert (stats.generations, stats.active, stats.charged) == (7, 6, 6)
    assert stats.failed_by_reason == {"moderation": 1}
    assert stats.top_users == [(7, 7)] and stats.top_chats[0] == (-5, 4)


async def test_leases_keep_other_workers_away_until_they_lapse(repo: Repository) -> None:
    await accept(repo, 1)
    now = time.time()
    (job,) = await repo.claim_due("a", limit=5, lease_seconds=30, now=now)
    assert await repo.claim_due("b", limit=5, lease_seconds=30, now=now + 1) == []
    (taken,) = await repo.claim_due("b", limit=5, lease_seconds=30, now=now + 31)
    assert taken.id == job.id and taken.lease_owner == "b"
    # The old owner is fenced off: its transitions no longer apply.
    assert not await repo.mark_submitting(job.id, "a", now + 32)
    assert await repo.mark_submitting(job.id, "b", now + 32)


async def test_parked_jobs_wait_for_their_next_attempt(repo: Repository) -> None:
    await accept(repo, 1)
    now = time.time()
    (job,) = await repo.claim_due("a", limit=5, lease_seconds=30, now=now)
    await repo.release(job.id, "a", next_attempt_at=now + 10)
    assert await repo.claim_due("a", limit=5, lease_seconds=30, now=now + 5) == []
    assert len(await repo.claim_due("a", limit=5, lease_seconds=30, now=now + 11)) == 1


async def test_the_life_of_a_job_and_a_single_refund(repo: Repository) -> None:
    accepted = await accept(repo, 1)
    assert isinstance(accepted, Accepted)
    job_id, now = accepted.job.id, time.time()
    await repo.claim_due("w", limit=1, lease_seconds=30, now=now)
    assert await repo.mark_submitting(job_id, "w", now)
    assert await repo.mark_submitted(job_id, "w", remote_id="r-1", remote_state="queued", now=now)
    assert await repo.fail(job_id, code="timeout", reason=None, now=now)
    assert not await repo.fail(job_id, code="timeout", reason=None, now=now)
    job = await repo.get_job(job_id)
    assert job is not None and job.state is JobState.FAILED and job.refunded
    assert await repo.quota_used(7, DAY) == 0
    assert await repo.claim_due("w", limit=1, lease_seconds=30, now=now + 60) == []


async def test_an_untold_failure_is_claimable_until_the_notice_is_sent(repo: Repository) -> None:
    accepted = await accept(repo, 1)
    assert isinstance(accepted, Accepted)
    job_id, now = accepted.job.id, time.time()
    await repo.claim_due("w", limit=1, lease_seconds=30, now=now)
    assert await repo.fail(job_id, code="timeout", reason=None, now=now, notice_due_at=now + 30)
    # The failing worker has until then to tell the user; after that, anyone may.
    assert await repo.claim_due("x", limit=1, lease_seconds=30, now=now + 10) == []
    (job,) = await repo.claim_due("x", limit=1, lease_seconds=30, now=now + 31)
    assert job.state is JobState.FAILED and job.notice_pending and job.refunded
    await repo.notice_sent(job_id)
    assert await repo.claim_due("x", limit=1, lease_seconds=30, now=now + 120) == []
    assert await repo.quota_used(7, DAY) == 0


async def test_delivered_jobs_are_final(repo: Repository) -> None:
    accepted = await accept(repo, 1)
    assert isinstance(accepted, Accepted)
    job_id, now = accepted.job.id, time.time()
    await repo.claim_due("w", limit=1, lease_seconds=30, now=now)
    await repo.mark_submitting(job_id, "w", now)
    await repo.mark_submitted(job_id, "w", remote_id="r-1", remote_state="queued", now=now)
    assert await repo.mark_delivering(job_id, "w", video_url="https://v/1.mp4", now=now)
    assert await repo.mark_delivered(job_id, "w", message_id=9, file_id="F", now=now)
    assert not await repo.fail(job_id, code="timeout", reason=None, now=now)
    job = await repo.get_job(job_id)
    assert job is not None and job.state is JobState.DELIVERED and not job.refunded
    assert await repo.quota_used(7, DAY) == 1
