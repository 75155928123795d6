"""The repository suite, run against every backend: migrations, atomic quota, leases, fencing,
refund exactly once, update claims, albums, and replicas racing each other.

SQLite always runs; PostgreSQL runs when TEST_DATABASE_URL names a server (e.g.
postgresql://postgres@127.0.0.1:5432/test), each test in a fresh schema of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.domain.model import (
    Accepted,
    AlbumItem,
    ExtendPrompt,
    Job,
    JobState,
    NewJob,
    QuotaExhausted,
    QuotaRules,
    QuotaScope,
    Refund,
    RepeatedPress,
    TooManyActive,
    UserRecord,
)
from storage import open_repository
from storage.postgres import PostgresRepository
from storage.repository import Repository
from storage.sql import migration_scripts
from storage.sqlite import SqliteRepository

DAY = "2026-11-21"

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
NO_POSTGRES = pytest.mark.skipif(
    not POSTGRES_URL, reason="TEST_DATABASE_URL not set: PostgreSQL tests skipped"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=NO_POSTGRES)]


@dataclass
class Database:
    """One test's empty database. Each `connect()` is another process's view of it (its own
    connection or pool); all are closed when the test ends."""

    backend: str
    url: str
    schema: str | None = None
    opened: list[Repository] = field(default_factory=list)

    async def connect(self) -> Repository:
        if self.schema is None:
            repository = await open_repository(self.url)
        else:
            repository = await PostgresRepository.open(self.url, schema=self.schema, max_size=20)
        self.opened.append(repository)
        return repository


@asynccontextmanager
async def empty_database(backend: str, folder: Path) -> AsyncIterator[Database]:
    """A database nobody has used: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        database = Database(backend, f"sqlite:///{folder / 'nested' / 'db.sqlite3'}")
    else:
        assert POSTGRES_URL is not None
        database = Database(backend, POSTGRES_URL, schema=f"test_{uuid.uuid4().hex[:16]}")
    try:
        yield database
    finally:
        for repository in database.opened:
            await repository.close()
        if database.schema is not None:
            connection = await asyncpg.connect(database.url)
            try:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')
            finally:
                await connection.close()


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


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with empty_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture(params=[BACKENDS[1]])
async def postgres(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with empty_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
async def repo(database: Database) -> Repository:
    return await database.connect()


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


def every_migration(backend: str) -> list[int]:
    """The versions storage/migrations/<backend>/ holds, in order: 1, 2, ... with no gap."""
    versions = [version for version, _ in migration_scripts(backend)]
    assert versions == list(range(1, len(versions) + 1))
    return versions


async def applied_migrations(repository: Repository) -> list[int]:
    if isinstance(repository, SqliteRepository):
        cursor = await repository._db.execute("SELECT version FROM schema_version")
        return [row[0] for row in await cursor.fetchall()]
    assert isinstance(repository, PostgresRepository)
    rows = await repository._pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [row["version"] for row in rows]


async def test_migrations_are_recorded_and_idempotent(database: Database) -> None:
    first = await database.connect()
    await first.close()
    again = await database.connect()
    expected = every_migration(database.backend)
    assert await applied_migrations(again) == expected  # each migration once, in order


def sqlite_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A SQLite database as a release at schema `version` left it (migrations 1..version
    applied and recorded), open for the test to add its rows; commit and close it before the
    bot opens it."""
    folder = Path(__file__).parent.parent / "storage" / "migrations" / "sqlite"
    old = sqlite3.connect(path)
    for script in sorted(folder.glob("*.sql")):
        if int(script.name.split("_", 1)[0]) <= version:
            old.executescript(script.read_text())
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.executemany("INSERT INTO schema_version VALUES (?)", [(n,) for n in range(1, version + 1)])
    return old


async def test_updates_handled_before_the_claims_migration_stay_handled(tmp_path: Path) -> None:
    # A SQLite database as the previous release left it: schema version 3, one update handled.
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite_at_version(path, 3)) as old, old:
        old.execute("INSERT INTO processed_updates VALUES (41, ?)", (time.time(),))
    repository = await open_repository(f"sqlite:///{path}")
    try:
        assert await applied_migrations(repository) == every_migration("sqlite")
        assert await repository.update_handled(41)
        assert not await repository.claim_update(41, "a", time.time(), 30)
    finally:
        await repository.close()


async def test_refunds_and_bans_made_before_the_payers_migration_keep_their_meaning(
    tmp_path: Path,
) -> None:
    # Schema version 4: every refund also left the bill, and bans named user ids.
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite_at_version(path, 4)) as old, old:
        old.execute("INSERT INTO bans (user_id, banned_by, banned_at) VALUES (8, 1, 0)")
        for message_id, refunded in ((1, 1), (2, 0)):
            old.execute(
                """INSERT INTO generations (family, user_id, chat_id, request_message_id,
                       request_key, prompt, params, state, charged_day, refunded, payer_id,
                       deadline_at, created_at, updated_at)
                   VALUES ('aiml-v2', 7, 7, ?, ?, 'p', '{}', 'failed', ?, ?, 7, 0, 0, 0)""",
                (message_id, f"msg:7:{message_id}", DAY, refunded),
            )
    repository = await open_repository(f"sqlite:///{path}")
    try:
        assert await repository.is_banned(8)
        assert (await repository.quota_usage(7, 7, DAY)).everyone == 1
    finally:
        await repository.close()


async def test_replicas_starting_at_once_migrate_once(postgres: Database) -> None:
    replicas = await asyncio.gather(*[postgres.connect() for _ in range(4)])
    expected = every_migration("postgres")
    assert [await applied_migrations(replica) for replica in replicas] == [expected] * 4


@NO_POSTGRES
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_open_repository_uses_the_connections_default_schema(scheme: str) -> None:
    assert POSTGRES_URL is not None
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        # Extra URL parameters are server settings for asyncpg: this URL's default schema.
        url = scheme + "://" + POSTGRES_URL.split("://", 1)[1] + f"?search_path={schema}"
        repository = await open_repository(url)
        assert isinstance(repository, PostgresRepository)
        await repository.upsert_user(UserRecord(user_id=5, username="ann"), time.time())
        await repository.close()
        assert await admin.fetchval(f'SELECT COUNT(*) FROM "{schema}".users') == 1
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def test_quota_holds_under_concurrency_across_connections(database: Database) -> None:
    # Two connections (two pools for PostgreSQL) stand for two processes on one database.
    first, second = await database.connect(), await database.connect()
    results = await asyncio.gather(*[accept(first if i % 2 else second, i) for i in range(20)])
    assert sum(isinstance(result, Accepted) for result in results) == 3
    assert await first.quota_used(7, DAY) == 3


async def test_the_same_message_makes_one_job(repo: Repository) -> None:
    first = await accept(repo, 1)
    again = await accept(repo, 1)
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.duplicate and again.job.id == first.job.id
    assert await repo.quota_used(7, DAY) == 1


async def test_a_button_pressed_again_soon_is_the_same_request(repo: Repository) -> None:
    """Each press is its own request key; the press (button data) within its window finds the
    job the first press made, for the same payer in the same chat, unless that was refunded."""

    async def press(
        message_id: int, *, data: str = "a:1", since: float = 0.0, payer: int = 7, chat_id: int = 7
    ) -> Accepted:
        job = new_job(message_id, user_id=payer, chat_id=chat_id).model_copy(
            update={"press": RepeatedPress(data=data, since=since, since_day=DAY)}
        )
        limits = rules(payer, payer_daily=10)
        outcome = await repo.accept_job(job, day=DAY, rules=limits, now=time.time())
        assert isinstance(outcome, Accepted)
        return outcome

    first = await press(1)
    second = await press(2)
    assert second.duplicate and second.job.id == first.job.id
    assert await repo.quota_used(7, DAY) == 1
    # Another button, another payer, another chat, or once the window has passed: new jobs.
    others = [
        await press(3, data="u4:1"),
        await press(4, payer=8),
        await press(5, chat_id=9),
        await press(6, since=time.time() + 1),
    ]
    assert not any(o.duplicate for o in others)
    assert len({first.job.id, *(o.job.id for o in others)}) == 5
    # A refunded job is not standing: the press makes a new one.
    refunded = await press(7, data="u1:1")
    now = time.time()
    assert await repo.fail(
        refunded.job.id, code="rejected", reason=None, refund=Refund.FULL, now=now
    )
    assert not (await press(8, data="u1:1")).duplicate


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
    assert await repo.fail(
        credit_job.job.id, code="timeout", reason=None, refund=Refund.FULL, now=time.time()
    )
    assert (await repo.quota_usage(7, 7, DAY)).credits == 1
    assert await repo.grant_credits(7, -5, time.time()) == 0  # never below zero


async def test_a_failure_gives_back_only_what_its_refund_says(repo: Repository) -> None:
    await repo.grant_credits(7, 1, time.time())
    accepted = [await accept(repo, message_id, payer_daily=3) for message_id in range(4)]
    ids = [result.job.id for result in accepted if isinstance(result, Accepted)]
    assert [r.job.paid_with for r in accepted if isinstance(r, Accepted)][3] == "credit"
    now = time.time()
    refunds = [Refund.NONE, Refund.PAYER, Refund.FULL, Refund.NONE]
    for job_id, refund in zip(ids, refunds, strict=True):
        assert await repo.fail(job_id, code="x", reason=None, refund=refund, now=now)
    # Made and billed (NONE): spent for the payer (the credit too), the chat and the bill.
    # Maybe billed (PAYER): the payer and the chat get it back; the bill keeps it.
    usage = await repo.quota_usage(7, 7, DAY)
    assert (usage.payer_daily, usage.credits, usage.chat, usage.everyone) == (1, 0, 2, 3)
    kept = await repo.get_job(ids[1])
    assert kept is not None and kept.refunded and kept.billable
    over = await accept(repo, 9, global_daily=3)
    assert isinstance(over, QuotaExhausted) and over.scope is QuotaScope.GLOBAL
    assert isinstance(await accept(repo, 10, global_daily=4), Accepted)


async def test_bans_and_lookups(repo: Repository) -> None:
    assert await repo.set_banned(-1007, True, by=1, now=time.time())  # a channel or a group
    assert await repo.is_banned(-1007)
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
    await repo.fail(1, code="moderation", reason=None, refund=Refund.FULL, now=time.time())
    stats = await repo.stats(since=time.time() - 60)
    assert (stats.generations, stats.active, stats.charged) == (7, 6, 6)
    assert stats.failed_by_reason == {"moderation": 1}
    assert stats.top_payers == [(7, 7)] and stats.top_chats[0] == (-5, 4)


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
    assert await repo.fail(job_id, code="timeout", reason=None, refund=Refund.FULL, now=now)
    assert not await repo.fail(job_id, code="timeout", reason=None, refund=Refund.FULL, now=now)
    job = await repo.get_job(job_id)
    assert job is not None and job.state is JobState.FAILED and job.refunded
    assert await repo.quota_used(7, DAY) == 0
    assert await repo.claim_due("w", limit=1, lease_seconds=30, now=now + 60) == []


async def test_an_untold_failure_is_claimable_until_the_notice_is_sent(repo: Repository) -> None:
    accepted = await accept(repo, 1)
    assert isinstance(accepted, Accepted)
    job_id, now = accepted.job.id, time.time()
    await repo.claim_due("w", limit=1, lease_seconds=30, now=now)
    assert await repo.fail(
        job_id, code="timeout", reason=None, refund=Refund.FULL, now=now, notice_due_at=now + 30
    )
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
    assert not await repo.fail(job_id, code="timeout", reason=None, refund=Refund.FULL, now=now)
    job = await repo.get_job(job_id)
    assert job is not None and job.state is JobState.DELIVERED and not job.refunded
    assert await repo.quota_used(7, DAY) == 1


async def test_lookups_transitions_and_extend_prompts(repo: Repository) -> None:
    await repo.upsert_user(UserRecord(user_id=7, username="ann", language_code="en"), 1.0)
    await repo.upsert_user(UserRecord(user_id=7, username="ann", language_code="ru"), 2.0)
    user = await repo.get_user(7)
    assert user is not None and user.language_code == "ru" and await repo.get_user(8) is None
    first, second = await accept(repo, 1), await accept(repo, 2)
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert first.job.params == {"aspect_ratio": "16:9", "loop": False}
    assert await repo.queued_ahead(second.job.id) == 1
    assert [job.id for job in await repo.active_jobs_of(7, 7)] == [1, 2]
    assert await repo.count_active(7) == 2
    await repo.set_status_message(1, 50)
    found = await repo.find_by_status_message(7, 50)
    assert found is not None and found.id == 1
    now = time.time()
    await repo.claim_due("w", limit=1, lease_seconds=30, now=now)
    assert await repo.renew_lease(1, "w", until=now + 60)
    assert not await repo.renew_lease(1, "x", until=now + 60)
    assert await repo.mark_submitting(1, "w", now)
    assert await repo.requeue(1, "w", next_attempt_at=now + 5, now=now)
    assert await repo.mark_submitting(1, "w", now + 5)
    assert await repo.mark_submitted(1, "w", remote_id="r-1", remote_state="queued", now=now)
    assert await repo.set_remote_state(1, "w", "dreaming", now)
    assert await repo.mark_delivering(1, "w", video_url="https://v/1.mp4", now=now)
    assert await repo.set_video_url(1, "w", video_url="https://v/2.mp4", thumbnail_url="t")
    assert await repo.mark_delivered(1, "w", message_id=60, file_id="F", now=now)
    job = await repo.find_by_remote_id("r-1")
    assert job is not None and job.id == 1 and job.attempts == 2
    assert (job.video_url, job.thumbnail_url, job.remote_state) == (
        "https://v/2.mp4",
        "t",
        "completed",  # set by mark_delivering
    )
    assert await repo.find_by_video_message(7, 60) == job
    assert await repo.find_by_remote_id("r-2") is None
    await repo.add_extend_prompt(
        ExtendPrompt(chat_id=7, message_id=70, parent_job_id=1, user_id=7), now
    )
    await repo.add_extend_prompt(
        ExtendPrompt(chat_id=7, message_id=70, parent_job_id=2, user_id=None), now
    )
    prompt = await repo.find_extend_prompt(7, 70)
    assert prompt == ExtendPrompt(chat_id=7, message_id=70, parent_job_id=2, user_id=None)
    assert await repo.find_extend_prompt(7, 71) is None
    assert await repo.release(2, "nobody", next_attempt_at=None, count_attempt=True) is False


# --- Telegram updates -----------------------------------------------------------------------


async def test_an_update_is_claimed_by_one_replica_at_a_time(repo: Repository) -> None:
    now = time.time()
    assert await repo.claim_update(1, "a", now, 30)
    assert await repo.claim_update(1, "a", now + 1, 30)  # its own claim (now until now + 31)
    assert not await repo.claim_update(1, "b", now + 2, 30)  # a's claim is live
    assert not await repo.update_handled(1)  # claimed is not handled
    assert await repo.claim_update(1, "b", now + 32, 30)  # a died: b takes over
    assert not await repo.claim_update(1, "a", now + 33, 30)
    await repo.mark_update_handled(1, now + 34)
    assert await repo.update_handled(1)
    assert not await repo.claim_update(1, "b", now + 35, 30)  # handled is final, for anyone
    assert not await repo.claim_update(1, "c", now + 999, 30)


async def test_an_update_marked_handled_without_a_claim(repo: Repository) -> None:
    now = time.time()
    await repo.mark_update_handled(2, now)
    await repo.mark_update_handled(2, now + 1)
    assert await repo.update_handled(2) and not await repo.update_handled(3)
    assert not await repo.claim_update(2, "a", now + 2, 30)


async def test_old_update_records_are_forgotten_hourly(repo: Repository) -> None:
    now, long_ago = time.time(), time.time() - 3 * 86400
    await repo.mark_update_handled(1, long_ago)
    assert await repo.claim_update(2, "a", long_ago, 30)  # claimed, never handled
    await repo.mark_update_handled(3, now)  # the first record of the hour prunes
    assert not await repo.update_handled(1) and await repo.update_handled(3)
    assert await repo.claim_update(2, "b", now, 30)
    await repo.mark_update_handled(4, long_ago)
    await repo.mark_update_handled(5, now + 60)  # within the hour: no second prune
    assert await repo.update_handled(4)
    await repo.mark_update_handled(6, now + 3601)
    assert not await repo.update_handled(4) and await repo.update_handled(5)


# --- albums ---------------------------------------------------------------------------------


def album_item(message_id: int, group: str = "g1", chat_id: int = 7) -> AlbumItem:
    return AlbumItem(
        chat_id=chat_id,
        media_group_id=group,
        message_id=message_id,
        payload={"file_id": f"photo-{message_id}", "caption": None},
    )


async def test_albums_report_their_newest_item_and_whether_they_went_quiet(
    repo: Repository,
) -> None:
    now = time.time()
    await repo.add_album_item(album_item(2), now - 5)
    await repo.add_album_item(album_item(1), now - 10)
    await repo.add_album_item(album_item(3, group="g2", chat_id=8), now - 1)
    await repo.add_album_item(album_item(2), now)  # a repeat changes nothing
    assert await repo.latest_album_item_at(7, "g1") == now - 5
    assert await repo.latest_album_item_at(7, "g3") is None
    assert await repo.unsettled_albums(now - 5) == []
    assert await repo.unsettled_albums(now - 3) == [(7, "g1")]
    assert await repo.unsettled_albums(now) == [(7, "g1"), (8, "g2")]  # quiet longest first
    items = await repo.take_album(7, "g1")
    assert items == [album_item(1), album_item(2)]
    assert await repo.take_album(7, "g1") == []
    assert await repo.latest_album_item_at(7, "g1") is None
    assert await repo.unsettled_albums(now) == [(8, "g2")]


# --- replicas racing each other -------------------------------------------------------------


async def test_replicas_claiming_at_once_never_get_the_same_job(database: Database) -> None:
    first, second = await database.connect(), await database.connect()
    for message_id in range(30):
        await accept(first, message_id, payer_daily=None)
    now = time.time()
    claims = await asyncio.gather(
        *[
            replica.claim_due(f"{name}{n}", limit=4, lease_seconds=30, now=now)
            for n in range(8)
            for name, replica in (("a", first), ("b", second))
        ]
    )
    claimed = [job.id for jobs in claims for job in jobs]
    assert len(claimed) == len(set(claimed))
    # Whatever was skipped while locked is still there for the next claim.
    rest = await second.claim_due("c", limit=30, lease_seconds=30, now=now)
    assert sorted(claimed + [job.id for job in rest]) == list(range(1, 31))


@pytest.mark.parametrize(
    ("scope", "limits"),
    [
        (QuotaScope.USER, {"payer_daily": 3}),
        (QuotaScope.CHAT, {"payer_daily": None, "chat_daily": 3}),
        (QuotaScope.GLOBAL, {"payer_daily": None, "global_daily": 3}),
    ],
)
async def test_the_last_unit_of_a_quota_goes_to_one_replica(
    database: Database, scope: QuotaScope, limits: dict[str, Any]
) -> None:
    first, second = await database.connect(), await database.connect()

    def sender(n: int) -> dict[str, Any]:
        # Per-user limits race one user; chat and global limits race many users.
        user = 7 if scope is QuotaScope.USER else 100 + n
        return {"user_id": user, "chat_id": -5 if scope is QuotaScope.CHAT else user}

    for n in range(2):
        assert isinstance(await accept(first, n, **sender(n), **limits), Accepted)
    results = await asyncio.gather(
        *[accept(first if n % 2 else second, n, **sender(n), **limits) for n in range(2, 14)]
    )
    assert sum(isinstance(result, Accepted) for result in results) == 1
    refusals = [result for result in results if not isinstance(result, Accepted)]
    assert all(isinstance(r, QuotaExhausted) and r.scope is scope for r in refusals)


async def test_the_last_credit_goes_to_one_replica(database: Database) -> None:
    first, second = await database.connect(), await database.connect()
    await first.grant_credits(7, 1, time.time())
    results = await asyncio.gather(
        *[accept(first if n % 2 else second, n, payer_daily=0) for n in range(12)]
    )
    accepted = [result for result in results if isinstance(result, Accepted)]
    assert [result.job.paid_with for result in accepted] == ["credit"]
    assert (await second.quota_usage(7, 7, DAY)).credits == 0


async def test_an_update_claimed_by_many_replicas_at_once_goes_to_one(
    database: Database,
) -> None:
    first, second = await database.connect(), await database.connect()
    start = time.time()
    for now in (start, start + 60):  # a fresh update, then its lapsed claim taken over
        results = await asyncio.gather(
            *[(first if n % 2 else second).claim_update(1, f"r{n}", now, 30) for n in range(12)]
        )
        assert sum(results) == 1


async def test_ping_and_jobs_by_state(repo: Repository) -> None:
    await repo.ping()
    assert await repo.jobs_by_state() == {}
    await accept(repo, 1)
    await accept(repo, 2)
    job = await repo.get_job(2)
    assert job is not None
    await repo.fail(job.id, code="cancelled", reason=None, refund=Refund.FULL, now=1.0)
    assert await repo.jobs_by_state() == {"queued": 1, "failed": 1}


async def test_a_credit_movement_recorded_twice_moves_once(repo: Repository) -> None:
    now = time.time()
    assert await repo.move_credits(7, 10, reason="purchase", ref="charge-1", now=now) == 10
    assert await repo.move_credits(7, 10, reason="purchase", ref="charge-1", now=now) is None
    assert await repo.move_credits(7, 10, reason="promo", ref="charge-1", now=now) == 20
    # Taking more than there is takes what is there, and the ledger says what was taken.
    assert await repo.move_credits(7, -25, reason="refund", ref="charge-1", now=now) == 0
    assert await repo.balance(7) == 0
    await repo.grant_credits(7, 3, now)
    assert await repo.balance(7) == 3


# --- cancelling a story ------------------------------------------------------------------------


async def paid_story(repo: Repository) -> tuple[Job, Job]:
    """A story of 3 paid 1 from the day's allowance and 2 from 5 credits, and its first shot
    (queued, as the worker adds it)."""
    await repo.grant_credits(7, 5, time.time())
    story = new_job(1).model_copy(update={"kind": "story", "cost": 3})
    accepted = await repo.accept_job(story, day=DAY, rules=rules(payer_daily=1), now=time.time())
    assert isinstance(accepted, Accepted) and accepted.job.paid_credits == 2
    shot = new_job(2).model_copy(update={"cost": 0, "story_job_id": accepted.job.id, "shot": 0})
    return accepted.job, await repo.add_story_shot(accepted.job, shot, time.time())


async def test_a_story_with_no_shot_sent_is_cancelled_whole_once(repo: Repository) -> None:
    story, shot = await paid_story(repo)
    assert await repo.balance(7) == 3 and await repo.quota_used(7, DAY) == 1
    now = time.time()
    assert await repo.cancel_story(story.id, shot=shot, refund=Refund.FULL, now=now)
    assert not await repo.cancel_story(story.id, shot=shot, refund=Refund.FULL, now=now)
    ended = [await repo.get_job(job.id) for job in (story, shot)]
    assert [(j.state, j.failure_code) for j in ended if j] == [(JobState.FAILED, "cancelled")] * 2
    assert ended[0] is not None and ended[0].refunded and not ended[0].billable
    # Everything back once: the allowance and the 2 credits.
    assert await repo.balance(7) == 5 and await repo.quota_used(7, DAY) == 0
    # A shot added meanwhile (a worker that read the story before) is never sent.
    late = new_job(3).model_copy(update={"cost": 0, "story_job_id": story.id, "shot": 0})
    late_shot = await repo.add_story_shot(story, late, now)
    await repo.claim_due("w", limit=5, lease_seconds=30, now=now)
    assert not await repo.mark_submitting(late_shot.id, "w", now)


async def test_a_story_whose_shot_was_sent_is_not_cancelled_whole(repo: Repository) -> None:
    story, shot = await paid_story(repo)
    now = time.time()
    claimed = await repo.claim_due("w", limit=5, lease_seconds=30, now=now)
    assert shot.id in [job.id for job in claimed]
    assert await repo.mark_submitting(shot.id, "w", now)  # the create is on its way
    # The cancel read the shot as queued: nothing changes.
    assert not await repo.cancel_story(story.id, shot=shot, refund=Refund.FULL, now=now)
    after = [await repo.get_job(job.id) for job in (story, shot)]
    assert [j.state for j in after if j] == [JobState.QUEUED, JobState.SUBMITTING]
    assert await repo.balance(7) == 3 and await repo.quota_used(7, DAY) == 1


async def test_a_story_asked_to_stop_sends_no_more_shots(repo: Repository) -> None:
    story, shot = await paid_story(repo)
    other = await accept(repo, 9, payer_daily=None)
    assert isinstance(other, Accepted)
    now = time.time()
    await repo.claim_due("w", limit=5, lease_seconds=30, now=now)
    assert await repo.request_story_stop(story.id, now)
    assert not await repo.request_story_stop(story.id, now + 1)  # once
    stored = await repo.get_job(story.id)
    assert stored is not None and stored.stop_requested_at == now
    assert not await repo.mark_submitting(shot.id, "w", now)
    assert await repo.mark_submitting(other.job.id, "w", now)  # nothing else is held up
    # Stopping changes no money by itself: the worker gives back what was never made.
    assert await repo.balance(7) == 3


async def test_a_story_being_delivered_cannot_be_asked_to_stop(repo: Repository) -> None:
    story, _ = await paid_story(repo)
    now = time.time()
    await repo.claim_due("w", limit=5, lease_seconds=30, now=now)
    assert await repo.mark_story_waiting(story.id, "w", now)
    made = await repo.mark_story_made(
        story.id, "w", video_url="https://v/1.mp4", outcome={}, give_back=0, now=now
    )
    assert made and not await repo.request_story_stop(story.id, now)
