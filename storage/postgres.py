"""PostgreSQL repository (asyncpg pool), for several replicas sharing one database.

Same semantics as storage/sqlite.py; what SQLite gets from its single writer is made explicit
here: claims use `FOR UPDATE SKIP LOCKED` (two replicas never lease one job), accepting a job
holds a transaction-level advisory lock (quota checks and the insert are one critical section
across every process), and migrations run under a session-level advisory lock (replicas may
start at once). Everything else is a single statement, atomic on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from typing import Any

import asyncpg

from storage.base import (
    ACTIVE_STATES,
    Accepted,
    AlbumItem,
    DayStats,
    ExtendPrompt,
    HistoryEntry,
    Job,
    JobState,
    NewJob,
    QuotaExhausted,
    QuotaRules,
    QuotaScope,
    QuotaUsage,
    TooManyActive,
    UserRecord,
)

log = logging.getLogger(__name__)

_ACTIVE = ", ".join(f"'{state.value}'" for state in ACTIVE_STATES)

# Advisory lock keys (database-wide, arbitrary but fixed): one for migrating, one that makes
# every accept_job a critical section. Accepting is rare (each job is a paid video) and short,
# so one key costs nothing and keeps every limit (global, chat, payer, credits) exact.
_MIGRATION_LOCK = 0x4C554D41_0001
_ACCEPT_LOCK = 0x4C554D41_0002

_CHARGED = "payer_id = $1 AND charged_day = $2 AND paid_with = 'daily' AND NOT refunded"


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("storage") / "migrations" / "postgres"
    found = [
        (int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return sorted(found)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # JSONB in and out as Python objects (params, album payloads).
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class PostgresRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
    ) -> PostgresRepository:
        """Connect and migrate. `schema`: keep the tables there instead of the default search
        path (created if missing); tests give each run its own."""
        settings = {"search_path": _quote(schema)} if schema else None
        if schema:
            await _create_schema(url, schema)
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            server_settings=settings,
            init=_init_connection,
        )
        repository = cls(pool)
        try:
            await repository._migrate()
        except BaseException:
            await pool.close()
            raise
        return repository

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def jobs_by_state(self) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT state, COUNT(*) AS count FROM generations GROUP BY state"
        )
        return {row["state"]: row["count"] for row in rows}

    @asynccontextmanager
    async def _transaction(self, **options: Any) -> AsyncIterator[asyncpg.Connection]:
        # A cancelled caller leaves nothing open: asyncpg rolls back, and the pool resets the
        # connection before anyone else gets it.
        async with self._pool.acquire() as connection, connection.transaction(**options):
            yield connection

    def _snapshot(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """Several reads that must agree with each other (a count and its page)."""
        return self._transaction(isolation="repeatable_read", readonly=True)

    async def _migrate(self) -> None:
        async with self._pool.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await connection.execute(
                    """CREATE TABLE IF NOT EXISTS schema_migrations (
                           version     INTEGER PRIMARY KEY,
                           applied_at  TIMESTAMPTZ NOT NULL DEFAULT now())"""
                )
                current = await connection.fetchval("SELECT MAX(version) FROM schema_migrations")
                for version, script in _migrations():
                    if version <= (current or 0):
                        continue
                    async with connection.transaction():  # a migration applies whole or not
                        await connection.execute(script)
                        await connection.execute(
                            "INSERT INTO schema_migrations (version) VALUES ($1)", version
                        )
                    log.info("database migrated to schema version %d", version)
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)

    # --- users --------------------------------------------------------------------------------

    async def upsert_user(self, user: UserRecord, now: float) -> None:
        await self._pool.execute(
            """INSERT INTO users (user_id, username, first_name, language_code,
                                  first_seen_at, last_seen_at)
               VALUES ($1, $2, $3, $4, $5, $5)
               ON CONFLICT (user_id) DO UPDATE SET username = excluded.username,
                   first_name = excluded.first_name, language_code = excluded.language_code,
                   last_seen_at = excluded.last_seen_at""",
            user.user_id,
            user.username,
            user.first_name,
            user.language_code,
            now,
        )

    async def get_user(self, user_id: int) -> UserRecord | None:
        row = await self._pool.fetchrow("SELECT * FROM users WHERE user_id = $1", user_id)
        return UserRecord.model_validate(dict(row)) if row else None

    # --- accepting jobs -----------------------------------------------------------------------

    async def accept_job(
        self, new: NewJob, *, day: str, rules: QuotaRules, now: float
    ) -> Accepted | QuotaExhausted | TooManyActive:
        async with self._transaction() as db:
            # Held until commit: the next acceptor (any process) counts this job. Each later
            # statement sees everything committed before the lock was granted (READ COMMITTED).
            await db.execute("SELECT pg_advisory_xact_lock($1)", _ACCEPT_LOCK)
            existing = await db.fetchrow(
                "SELECT * FROM generations WHERE request_key = $1", new.request_key
            )
            if existing is not None:
                return Accepted(job=_job(existing), duplicate=True)
            if rules.active_limit is not None:
                active = await _count_active(db, rules.payer_id)
                if active >= rules.active_limit:
                    return TooManyActive(active=active, limit=rules.active_limit)
            paid_with = "exempt" if rules.exempt else "daily"
            if not rules.exempt:
                refusal = await _over_total(db, new.chat_id, day, rules)
                if refusal is not None:
                    return refusal
                used = await _count_charged(db, rules.payer_id, day)
                if rules.payer_daily is not None and used >= rules.payer_daily:
                    if not await _spend_credit(db, rules.payer_id, now):
                        return QuotaExhausted(
                            scope=QuotaScope.USER, used=used, limit=rules.payer_daily
                        )
                    paid_with = "credit"
            row = await db.fetchrow(
                """INSERT INTO generations (family, kind, user_id, chat_id, thread_id,
                       request_message_id, request_key, parent_job_id, prompt, params, state,
                       charged_day, payer_id, paid_with, deadline_at, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                           $16, $16)
                   RETURNING *""",
                new.family,
                new.kind,
                new.user_id,
                new.chat_id,
                new.thread_id,
                new.request_message_id,
                new.request_key,
                new.parent_job_id,
                new.prompt,
                new.params,
                JobState.QUEUED.value,
                day,
                rules.payer_id,
                paid_with,
                new.deadline_at,
                now,
            )
            assert row is not None
            return Accepted(job=_job(row))

    async def quota_used(self, payer_id: int, day: str) -> int:
        return await _count_charged(self._pool, payer_id, day)

    async def quota_usage(self, payer_id: int, chat_id: int, day: str) -> QuotaUsage:
        # One statement, so one snapshot: the four numbers agree.
        row = await self._pool.fetchrow(
            f"""SELECT (SELECT COUNT(*) FROM generations WHERE {_CHARGED}) AS payer_daily,
                       (SELECT COUNT(*) FROM generations
                        WHERE charged_day = $2 AND chat_id = $3 AND NOT refunded) AS chat,
                       (SELECT COUNT(*) FROM generations
                        WHERE charged_day = $2 AND NOT refunded) AS everyone,
                       COALESCE((SELECT balance FROM credits WHERE payer_id = $1), 0) AS credits""",
            payer_id,
            day,
            chat_id,
        )
        assert row is not None
        return QuotaUsage.model_validate(dict(row))

    async def count_active(self, payer_id: int) -> int:
        return await _count_active(self._pool, payer_id)

    # --- credits, bans, history, stats --------------------------------------------------------

    async def grant_credits(self, payer_id: int, count: int, now: float) -> int:
        balance = await self._pool.fetchval(
            """INSERT INTO credits (payer_id, balance, updated_at)
               VALUES ($1, GREATEST($2::integer, 0), $3)
               ON CONFLICT (payer_id) DO UPDATE
               SET balance = GREATEST(credits.balance + $2::integer, 0),
                   updated_at = excluded.updated_at
               RETURNING balance""",
            payer_id,
            count,
            now,
        )
        return int(balance)

    async def set_banned(self, user_id: int, banned: bool, *, by: int | None, now: float) -> bool:
        if banned:
            status = await self._pool.execute(
                "INSERT INTO bans (user_id, banned_by, banned_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                user_id,
                by,
                now,
            )
        else:
            status = await self._pool.execute("DELETE FROM bans WHERE user_id = $1", user_id)
        return _rowcount(status) == 1

    async def is_banned(self, user_id: int) -> bool:
        row = await self._pool.fetchrow("SELECT 1 FROM bans WHERE user_id = $1", user_id)
        return row is not None

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        row = await self._pool.fetchrow(
            """SELECT * FROM users WHERE lower(username) = lower($1)
               ORDER BY last_seen_at DESC LIMIT 1""",
            username.lstrip("@"),
        )
        return UserRecord.model_validate(dict(row)) if row else None

    async def history(
        self, user_id: int, *, chat_id: int | None, offset: int, limit: int
    ) -> tuple[list[HistoryEntry], int]:
        where, values = "user_id = $1", [user_id]
        if chat_id is not None:
            where, values = where + " AND chat_id = $2", [*values, chat_id]
        page = len(values)
        async with self._snapshot() as db:
            total = await db.fetchval(f"SELECT COUNT(*) FROM generations WHERE {where}", *values)
            rows = await db.fetch(
                f"""SELECT id AS job_id, kind, prompt, state, created_at, video_file_id,
                           failure_code
                    FROM generations WHERE {where}
                    ORDER BY id DESC LIMIT ${page + 1} OFFSET ${page + 2}""",
                *values,
                limit,
                offset,
            )
        return [HistoryEntry.model_validate(dict(row)) for row in rows], int(total)

    async def stats(self, since: float) -> DayStats:
        async with self._snapshot() as db:
            totals = await db.fetchrow(
                f"""SELECT COUNT(*) AS generations,
                           COUNT(*) FILTER (WHERE state = 'delivered') AS delivered,
                           COUNT(*) FILTER (WHERE state IN ({_ACTIVE})) AS active,
                           COUNT(*) FILTER (WHERE NOT refunded) AS charged
                    FROM generations WHERE created_at >= $1""",
                since,
            )
            failures = await db.fetch(
                """SELECT failure_code, COUNT(*) FROM generations
                   WHERE created_at >= $1 AND state = 'failed'
                   GROUP BY failure_code ORDER BY COUNT(*) DESC""",
                since,
            )
            top_users = await db.fetch(
                """SELECT user_id, COUNT(*) FROM generations
                   WHERE created_at >= $1 AND user_id IS NOT NULL
                   GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 5""",
                since,
            )
            top_chats = await db.fetch(
                """SELECT chat_id, COUNT(*) FROM generations WHERE created_at >= $1
                   GROUP BY chat_id ORDER BY COUNT(*) DESC, chat_id LIMIT 5""",
                since,
            )
        assert totals is not None
        return DayStats(
            **dict(totals),
            failed_by_reason={str(code or "unknown"): count for code, count in failures},
            top_users=[(user, count) for user, count in top_users],
            top_chats=[(chat, count) for chat, count in top_chats],
        )

    # --- Telegram updates ---------------------------------------------------------------------

    async def claim_update(
        self, update_id: int, owner: str, now: float, lease_seconds: float
    ) -> bool:
        # A concurrent insert of the same id waits for the first to commit, then takes the
        # ON CONFLICT branch with the row locked: exactly one claimant wins.
        row = await self._pool.fetchrow(
            """INSERT INTO processed_updates (update_id, received_at, claimed_by, claimed_until)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (update_id) DO UPDATE
               SET claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
               WHERE processed_updates.handled_at IS NULL
                 AND (processed_updates.claimed_by = excluded.claimed_by
                      OR processed_updates.claimed_until IS NULL
                      OR processed_updates.claimed_until < excluded.received_at)
               RETURNING update_id""",
            update_id,
            now,
            owner,
            now + lease_seconds,
        )
        return row is not None

    async def update_handled(self, update_id: int) -> bool:
        row = await self._pool.fetchrow(
            "SELECT 1 FROM processed_updates WHERE update_id = $1 AND handled_at IS NOT NULL",
            update_id,
        )
        return row is not None

    async def mark_update_handled(self, update_id: int, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO processed_updates (update_id, received_at, handled_at)
                   VALUES ($1, $2, $2)
                   ON CONFLICT (update_id) DO UPDATE
                   SET handled_at = COALESCE(processed_updates.handled_at, excluded.handled_at)""",
                update_id,
                now,
            )
            if update_id % 500 == 0:  # now and then, forget what Telegram can no longer resend
                await db.execute(
                    "DELETE FROM processed_updates WHERE received_at < $1", now - 2 * 86400
                )

    async def active_jobs_of(self, user_id: int, chat_id: int) -> list[Job]:
        rows = await self._pool.fetch(
            f"""SELECT * FROM generations WHERE user_id = $1 AND chat_id = $2
                AND state IN ({_ACTIVE}) ORDER BY id""",
            user_id,
            chat_id,
        )
        return [_job(row) for row in rows]

    # --- reading ------------------------------------------------------------------------------

    async def get_job(self, job_id: int) -> Job | None:
        return await self._one_job("SELECT * FROM generations WHERE id = $1", job_id)

    async def find_by_video_message(self, chat_id: int, message_id: int) -> Job | None:
        return await self._one_job(
            "SELECT * FROM generations WHERE chat_id = $1 AND video_message_id = $2",
            chat_id,
            message_id,
        )

    async def find_by_status_message(self, chat_id: int, message_id: int) -> Job | None:
        return await self._one_job(
            "SELECT * FROM generations WHERE chat_id = $1 AND status_message_id = $2",
            chat_id,
            message_id,
        )

    async def queued_ahead(self, job_id: int) -> int:
        count = await self._pool.fetchval(
            """SELECT COUNT(*) FROM generations
               WHERE state IN ('queued', 'submitting') AND id < $1""",
            job_id,
        )
        return int(count)

    async def find_by_remote_id(self, remote_id: str) -> Job | None:
        return await self._one_job(
            "SELECT * FROM generations WHERE remote_id = $1 ORDER BY id DESC LIMIT 1", remote_id
        )

    # --- albums and extend prompts ------------------------------------------------------------

    async def add_album_item(self, item: AlbumItem, now: float) -> None:
        await self._pool.execute(
            """INSERT INTO album_items (chat_id, media_group_id, message_id, payload, received_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            item.chat_id,
            item.media_group_id,
            item.message_id,
            item.payload,
            now,
        )

    async def take_album(self, chat_id: int, media_group_id: str) -> list[AlbumItem]:
        # A concurrent DELETE of the same rows waits, then finds them gone: one caller wins.
        rows = await self._pool.fetch(
            """DELETE FROM album_items WHERE chat_id = $1 AND media_group_id = $2
               RETURNING chat_id, media_group_id, message_id, payload""",
            chat_id,
            media_group_id,
        )
        items = [AlbumItem.model_validate(dict(row)) for row in rows]
        return sorted(items, key=lambda item: item.message_id)

    async def latest_album_item_at(self, chat_id: int, media_group_id: str) -> float | None:
        return await self._pool.fetchval(
            """SELECT MAX(received_at) FROM album_items
               WHERE chat_id = $1 AND media_group_id = $2""",
            chat_id,
            media_group_id,
        )

    async def unsettled_albums(self, quiet_before: float) -> list[tuple[int, str]]:
        rows = await self._pool.fetch(
            """SELECT chat_id, media_group_id FROM album_items
               GROUP BY chat_id, media_group_id HAVING MAX(received_at) < $1
               ORDER BY MAX(received_at), chat_id, media_group_id""",
            quiet_before,
        )
        return [(row["chat_id"], row["media_group_id"]) for row in rows]

    async def add_extend_prompt(self, prompt: ExtendPrompt, now: float) -> None:
        await self._pool.execute(
            """INSERT INTO extend_prompts (chat_id, message_id, parent_job_id, user_id,
                                           created_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (chat_id, message_id) DO UPDATE
               SET parent_job_id = excluded.parent_job_id, user_id = excluded.user_id,
                   created_at = excluded.created_at""",
            prompt.chat_id,
            prompt.message_id,
            prompt.parent_job_id,
            prompt.user_id,
            now,
        )

    async def find_extend_prompt(self, chat_id: int, message_id: int) -> ExtendPrompt | None:
        row = await self._pool.fetchrow(
            """SELECT chat_id, message_id, parent_job_id, user_id FROM extend_prompts
               WHERE chat_id = $1 AND message_id = $2""",
            chat_id,
            message_id,
        )
        return ExtendPrompt.model_validate(dict(row)) if row else None

    async def set_status_message(self, job_id: int, message_id: int | None) -> None:
        await self._pool.execute(
            "UPDATE generations SET status_message_id = $1 WHERE id = $2", message_id, job_id
        )

    # --- worker leases and transitions --------------------------------------------------------

    async def claim_due(
        self, owner: str, *, limit: int, lease_seconds: float, now: float
    ) -> list[Job]:
        # SKIP LOCKED: rows another replica is claiming right now are left to it. A row it
        # claimed since this statement's snapshot is re-checked on its new version (READ
        # COMMITTED), whose live lease excludes it: no job is ever leased twice.
        rows = await self._pool.fetch(
            f"""WITH due AS (
                    SELECT id FROM generations
                    WHERE (state IN ({_ACTIVE}) OR (state = 'failed' AND notice_pending))
                      AND (lease_until IS NULL OR lease_until < $3)
                      AND (next_attempt_at IS NULL OR next_attempt_at <= $3)
                    ORDER BY COALESCE(next_attempt_at, created_at), id
                    LIMIT $4
                    FOR UPDATE SKIP LOCKED)
                UPDATE generations SET lease_owner = $1, lease_until = $2, updated_at = $3
                FROM due WHERE generations.id = due.id
                RETURNING generations.*""",
            owner,
            now + lease_seconds,
            now,
            limit,
        )
        return sorted((_job(row) for row in rows), key=lambda job: job.id)

    async def renew_lease(self, job_id: int, owner: str, *, until: float) -> bool:
        return await self._fenced(job_id, owner, {"lease_until": until})

    async def release(
        self, job_id: int, owner: str, *, next_attempt_at: float | None, count_attempt: bool = False
    ) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {"lease_owner": None, "lease_until": None, "next_attempt_at": next_attempt_at},
            increment_attempts=count_attempt,
        )

    async def mark_submitting(self, job_id: int, owner: str, now: float) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {"state": JobState.SUBMITTING.value, "updated_at": now},
            expect_state=JobState.QUEUED,
            increment_attempts=True,
        )

    async def mark_submitted(
        self, job_id: int, owner: str, *, remote_id: str, remote_state: str, now: float
    ) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {
                "state": JobState.WAITING.value,
                "remote_id": remote_id,
                "remote_state": remote_state,
                "submitted_at": now,
                "updated_at": now,
            },
            expect_state=JobState.SUBMITTING,
        )

    async def requeue(self, job_id: int, owner: str, *, next_attempt_at: float, now: float) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {"state": JobState.QUEUED.value, "next_attempt_at": next_attempt_at, "updated_at": now},
            expect_state=JobState.SUBMITTING,
        )

    async def set_remote_state(
        self, job_id: int, owner: str, remote_state: str, now: float
    ) -> bool:
        return await self._fenced(job_id, owner, {"remote_state": remote_state, "updated_at": now})

    async def mark_delivering(
        self,
        job_id: int,
        owner: str,
        *,
        video_url: str,
        thumbnail_url: str | None = None,
        now: float,
    ) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {
                "state": JobState.DELIVERING.value,
                "remote_state": "completed",
                "video_url": video_url,
                "thumbnail_url": thumbnail_url,
                "completed_at": now,
                "updated_at": now,
            },
            expect_state=JobState.WAITING,
        )

    async def set_video_url(
        self, job_id: int, owner: str, *, video_url: str, thumbnail_url: str | None
    ) -> bool:
        return await self._fenced(
            job_id, owner, {"video_url": video_url, "thumbnail_url": thumbnail_url}
        )

    async def mark_delivered(
        self, job_id: int, owner: str, *, message_id: int, file_id: str | None, now: float
    ) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {
                "state": JobState.DELIVERED.value,
                "video_message_id": message_id,
                "video_file_id": file_id,
                "finished_at": now,
                "updated_at": now,
                "lease_owner": None,
                "lease_until": None,
            },
            expect_state=JobState.DELIVERING,
        )

    async def fail(
        self,
        job_id: int,
        *,
        code: str,
        reason: str | None,
        now: float,
        only_if: JobState | None = None,
        notice_due_at: float | None = None,
    ) -> bool:
        # Not fenced by lease: a deadline, a cancel or an operator may fail a job any worker
        # holds. The state guard (re-checked on the locked row) makes the refund happen once.
        states = f"'{only_if.value}'" if only_if is not None else _ACTIVE
        async with self._transaction() as db:
            row = await db.fetchrow(
                f"""UPDATE generations
                    SET state = $1, failure_code = $2, failure_reason = $3, refunded = TRUE,
                        finished_at = $4, updated_at = $4, lease_owner = NULL, lease_until = NULL,
                        notice_pending = $5, next_attempt_at = $6
                    WHERE id = $7 AND state IN ({states})
                    RETURNING paid_with, payer_id""",
                JobState.FAILED.value,
                code,
                reason,
                now,
                notice_due_at is not None,
                notice_due_at,
                job_id,
            )
            if row is None:
                return False
            if row["paid_with"] == "credit":  # a credit comes back like a daily allowance
                await db.execute(
                    "UPDATE credits SET balance = balance + 1, updated_at = $1 WHERE payer_id = $2",
                    now,
                    row["payer_id"],
                )
            return True

    async def notice_sent(self, job_id: int) -> None:
        await self._pool.execute(
            """UPDATE generations SET notice_pending = FALSE, next_attempt_at = NULL,
                   lease_owner = NULL, lease_until = NULL
               WHERE id = $1""",
            job_id,
        )

    # --- helpers ------------------------------------------------------------------------------

    async def _fenced(
        self,
        job_id: int,
        owner: str,
        fields: dict[str, Any],
        *,
        expect_state: JobState | None = None,
        increment_attempts: bool = False,
    ) -> bool:
        """Update a job only while `owner` holds its lease (and it is in `expect_state`)."""
        assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(fields, start=1))
        if increment_attempts:
            assignments += ", attempts = attempts + 1"
        values: list[Any] = [*fields.values(), job_id, owner]
        sql = (
            f"UPDATE generations SET {assignments} "
            f"WHERE id = ${len(values) - 1} AND lease_owner = ${len(values)}"
        )
        if expect_state is not None:
            values.append(expect_state.value)
            sql += f" AND state = ${len(values)}"
        return _rowcount(await self._pool.execute(sql, *values)) == 1

    async def _one_job(self, sql: str, *values: Any) -> Job | None:
        row = await self._pool.fetchrow(sql, *values)
        return _job(row) if row else None


# Shared by the pool (single statements) and a transaction's connection.
_Executor = asyncpg.Pool | asyncpg.Connection


async def _count(db: _Executor, where: str, *values: Any) -> int:
    return int(await db.fetchval(f"SELECT COUNT(*) FROM generations WHERE {where}", *values))


async def _count_active(db: _Executor, payer_id: int) -> int:
    return await _count(db, f"payer_id = $1 AND state IN ({_ACTIVE})", payer_id)


async def _count_charged(db: _Executor, payer_id: int, day: str) -> int:
    return await _count(db, _CHARGED, payer_id, day)


async def _over_total(
    db: asyncpg.Connection, chat_id: int, day: str, rules: QuotaRules
) -> QuotaExhausted | None:
    """The first of the global and chat totals that is used up, if any."""
    checks: list[tuple[QuotaScope, int | None, str, tuple[Any, ...]]] = [
        (QuotaScope.GLOBAL, rules.global_daily, "charged_day = $1", (day,)),
        (QuotaScope.CHAT, rules.chat_daily, "charged_day = $1 AND chat_id = $2", (day, chat_id)),
    ]
    for scope, limit, where, values in checks:
        if limit is None:
            continue
        used = await _count(db, f"{where} AND NOT refunded", *values)
        if used >= limit:
            return QuotaExhausted(scope=scope, used=used, limit=limit)
    return None


async def _spend_credit(db: asyncpg.Connection, payer_id: int, now: float) -> bool:
    status = await db.execute(
        """UPDATE credits SET balance = balance - 1, updated_at = $1
           WHERE payer_id = $2 AND balance > 0""",
        now,
        payer_id,
    )
    return _rowcount(status) == 1


async def _create_schema(url: str, schema: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        # Under the migration lock: CREATE SCHEMA IF NOT EXISTS may still collide when run
        # by two sessions at once.
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
    finally:
        await connection.close()  # also releases the lock


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _rowcount(status: str) -> int:
    """Rows affected, from a command tag such as 'UPDATE 1' or 'INSERT 0 1'."""
    return int(status.rsplit(" ", 1)[-1])


def _job(row: asyncpg.Record) -> Job:
    return Job.model_validate(dict(row))
