"""SQLite repository (aiosqlite, WAL).

One connection per process. aiosqlite runs statements on one thread, but coroutines could still
interleave inside each other's transactions, so every operation holds `self._lock`; across
processes, `BEGIN IMMEDIATE` takes SQLite's write lock before reading anything a decision
depends on (quota counts, claims).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

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


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("storage") / "migrations" / "sqlite"
    found = [
        (int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return sorted(found)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


class SqliteRepository:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteRepository:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA busy_timeout=10000")
        await connection.execute("PRAGMA synchronous=NORMAL")
        repository = cls(connection)
        await repository._migrate()
        return repository

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        await self._fetch_one("SELECT 1", ())

    async def jobs_by_state(self) -> dict[str, int]:
        async with self._lock:
            cursor = await self._db.execute(
                "SELECT state, COUNT(*) AS count FROM generations GROUP BY state"
            )
            return {row["state"]: row["count"] for row in await cursor.fetchall()}

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                await _uncancellable(self._db.execute("BEGIN IMMEDIATE"))
                yield self._db
                await _uncancellable(self._db.execute("COMMIT"))
            except BaseException:
                # Also reached when the caller is cancelled mid-BEGIN or mid-COMMIT (a worker
                # shutting down): never leave a transaction open for the next caller.
                if self._db.in_transaction:
                    await _uncancellable(self._db.execute("ROLLBACK"))
                raise

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await (await db.execute("SELECT MAX(version) FROM schema_version")).fetchone()
            current = row[0] or 0
            for version, script in _migrations():
                if version <= current:
                    continue
                for statement in _statements(script):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                log.info("database migrated to schema version %d", version)

    # --- users --------------------------------------------------------------------------------

    async def upsert_user(self, user: UserRecord, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO users (user_id, username, first_name, language_code,
                                      first_seen_at, last_seen_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET username = excluded.username,
                       first_name = excluded.first_name, language_code = excluded.language_code,
                       last_seen_at = excluded.last_seen_at""",
                (user.user_id, user.username, user.first_name, user.language_code, now, now),
            )

    async def get_user(self, user_id: int) -> UserRecord | None:
        row = await self._fetch_one("SELECT * FROM users WHERE user_id = ?", (user_id,))
        return UserRecord.model_validate(dict(row)) if row else None

    # --- accepting jobs -----------------------------------------------------------------------

    async def accept_job(
        self, new: NewJob, *, day: str, rules: QuotaRules, now: float
    ) -> Accepted | QuotaExhausted | TooManyActive:
        async with self._transaction() as db:
            existing = await (
                await db.execute(
                    "SELECT * FROM generations WHERE request_key = ?", (new.request_key,)
                )
            ).fetchone()
            if existing is not None:
                return Accepted(job=_job(existing), duplicate=True)
            if rules.active_limit is not None:
                active = await self._count_active(db, rules.payer_id)
                if active >= rules.active_limit:
                    return TooManyActive(active=active, limit=rules.active_limit)
            paid_with = "exempt" if rules.exempt else "daily"
            if not rules.exempt:
                refusal = await self._over_total(db, new.chat_id, day, rules)
                if refusal is not None:
                    return refusal
                used = await self._count_charged(db, rules.payer_id, day)
                if rules.payer_daily is not None and used >= rules.payer_daily:
                    if not await self._spend_credit(db, rules.payer_id, now):
                        return QuotaExhausted(
                            scope=QuotaScope.USER, used=used, limit=rules.payer_daily
                        )
                    paid_with = "credit"
            cursor = await db.execute(
                """INSERT INTO generations (family, kind, user_id, chat_id, thread_id,
                       request_message_id, request_key, parent_job_id, prompt, params, state,
                       charged_day, payer_id, paid_with, deadline_at, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
                (
                    new.family,
                    new.kind,
                    new.user_id,
                    new.chat_id,
                    new.thread_id,
                    new.request_message_id,
                    new.request_key,
                    new.parent_job_id,
                    new.prompt,
                    json.dumps(new.params),
                    JobState.QUEUED.value,
                    day,
                    rules.payer_id,
                    paid_with,
                    new.deadline_at,
                    now,
                    now,
                ),
            )
            row = await cursor.fetchone()
            assert row is not None
            return Accepted(job=_job(row))

    async def _over_total(
        self, db: aiosqlite.Connection, chat_id: int, day: str, rules: QuotaRules
    ) -> QuotaExhausted | None:
        """The first of the global and chat totals that is used up, if any."""
        checks = [
            (QuotaScope.GLOBAL, rules.global_daily, "charged_day = ?", (day,)),
            (QuotaScope.CHAT, rules.chat_daily, "charged_day = ? AND chat_id = ?", (day, chat_id)),
        ]
        for scope, limit, where, values in checks:
            if limit is None:
                continue
            used = await self._count(db, f"{where} AND refunded = 0", values)
            if used >= limit:
                return QuotaExhausted(scope=scope, used=used, limit=limit)
        return None

    @staticmethod
    async def _spend_credit(db: aiosqlite.Connection, payer_id: int, now: float) -> bool:
        cursor = await db.execute(
            """UPDATE credits SET balance = balance - 1, updated_at = ?
               WHERE payer_id = ? AND balance > 0""",
            (now, payer_id),
        )
        return cursor.rowcount == 1

    async def quota_used(self, payer_id: int, day: str) -> int:
        async with self._lock:
            return await self._count_charged(self._db, payer_id, day)

    async def quota_usage(self, payer_id: int, chat_id: int, day: str) -> QuotaUsage:
        async with self._lock:
            db = self._db
            credits = await (
                await db.execute("SELECT balance FROM credits WHERE payer_id = ?", (payer_id,))
            ).fetchone()
            return QuotaUsage(
                payer_daily=await self._count_charged(db, payer_id, day),
                chat=await self._count(
                    db, "charged_day = ? AND chat_id = ? AND refunded = 0", (day, chat_id)
                ),
                everyone=await self._count(db, "charged_day = ? AND refunded = 0", (day,)),
                credits=int(credits[0]) if credits else 0,
            )

    async def count_active(self, payer_id: int) -> int:
        async with self._lock:
            return await self._count_active(self._db, payer_id)

    @staticmethod
    async def _count(db: aiosqlite.Connection, where: str, values: tuple[Any, ...]) -> int:
        row = await (
            await db.execute(f"SELECT COUNT(*) FROM generations WHERE {where}", values)
        ).fetchone()
        return int(row[0])

    @classmethod
    async def _count_active(cls, db: aiosqlite.Connection, payer_id: int) -> int:
        return await cls._count(db, f"payer_id = ? AND state IN ({_ACTIVE})", (payer_id,))

    @classmethod
    async def _count_charged(cls, db: aiosqlite.Connection, payer_id: int, day: str) -> int:
        return await cls._count(
            db,
            "payer_id = ? AND charged_day = ? AND paid_with = 'daily' AND refunded = 0",
            (payer_id, day),
        )

    # --- credits, bans, history, stats --------------------------------------------------------

    async def grant_credits(self, payer_id: int, count: int, now: float) -> int:
        async with self._transaction() as db:
            cursor = await db.execute(
                """INSERT INTO credits (payer_id, balance, updated_at) VALUES (?, MAX(?, 0), ?)
                   ON CONFLICT (payer_id) DO UPDATE
                   SET balance = MAX(balance + ?, 0), updated_at = excluded.updated_at
                   RETURNING balance""",
                (payer_id, count, now, count),
            )
            row = await cursor.fetchone()
            assert row is not None
            return int(row[0])

    async def set_banned(self, user_id: int, banned: bool, *, by: int | None, now: float) -> bool:
        async with self._transaction() as db:
            if banned:
                cursor = await db.execute(
                    "INSERT INTO bans (user_id, banned_by, banned_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (user_id, by, now),
                )
            else:
                cursor = await db.execute("DELETE FROM bans WHERE user_id = ?", (user_id,))
            return cursor.rowcount == 1

    async def is_banned(self, user_id: int) -> bool:
        return await self._fetch_one("SELECT 1 FROM bans WHERE user_id = ?", (user_id,)) is not None

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        row = await self._fetch_one(
            "SELECT * FROM users WHERE username = ? COLLATE NOCASE ORDER BY last_seen_at DESC",
            (username.lstrip("@"),),
        )
        return UserRecord.model_validate(dict(row)) if row else None

    async def history(
        self, user_id: int, *, chat_id: int | None, offset: int, limit: int
    ) -> tuple[list[HistoryEntry], int]:
        where, values = "user_id = ?", [user_id]
        if chat_id is not None:
            where, values = where + " AND chat_id = ?", [*values, chat_id]
        async with self._lock:
            total = await self._count(self._db, where, tuple(values))
            cursor = await self._db.execute(
                f"""SELECT id AS job_id, kind, prompt, state, created_at, video_file_id,
                           failure_code
                    FROM generations WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?""",
                (*values, limit, offset),
            )
            rows = await cursor.fetchall()
        return [HistoryEntry.model_validate(dict(row)) for row in rows], total

    async def stats(self, since: float) -> DayStats:
        async with self._lock:
            db = self._db

            async def rows(sql: str, *values: Any) -> list[aiosqlite.Row]:
                return list(await (await db.execute(sql, values)).fetchall())

            (totals,) = await rows(
                f"""SELECT COUNT(*),
                           COALESCE(SUM(state = 'delivered'), 0),
                           COALESCE(SUM(state IN ({_ACTIVE})), 0),
                           COALESCE(SUM(refunded = 0), 0)
                    FROM generations WHERE created_at >= ?""",
                since,
            )
            failures = await rows(
                """SELECT failure_code, COUNT(*) FROM generations
                   WHERE created_at >= ? AND state = 'failed'
                   GROUP BY failure_code ORDER BY COUNT(*) DESC""",
                since,
            )
            top_users = await rows(
                """SELECT user_id, COUNT(*) FROM generations
                   WHERE created_at >= ? AND user_id IS NOT NULL
                   GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 5""",
                since,
            )
            top_chats = await rows(
                """SELECT chat_id, COUNT(*) FROM generations WHERE created_at >= ?
                   GROUP BY chat_id ORDER BY COUNT(*) DESC, chat_id LIMIT 5""",
                since,
            )
        return DayStats(
            generations=totals[0],
            delivered=totals[1],
            active=totals[2],
            charged=totals[3],
            failed_by_reason={str(code or "unknown"): count for code, count in failures},
            top_users=[(user, count) for user, count in top_users],
            top_chats=[(chat, count) for chat, count in top_chats],
        )

    async def claim_update(
        self, update_id: int, owner: str, now: float, lease_seconds: float
    ) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                """INSERT INTO processed_updates (update_id, received_at, claimed_by,
                                                  claimed_until)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (update_id) DO UPDATE
                   SET claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until
                   WHERE handled_at IS NULL
                     AND (claimed_by = excluded.claimed_by
                          OR claimed_until IS NULL OR claimed_until < excluded.received_at)
                   RETURNING update_id""",
                (update_id, now, owner, now + lease_seconds),
            )
            return await cursor.fetchone() is not None

    async def update_handled(self, update_id: int) -> bool:
        row = await self._fetch_one(
            "SELECT 1 FROM processed_updates WHERE update_id = ? AND handled_at IS NOT NULL",
            (update_id,),
        )
        return row is not None

    async def mark_update_handled(self, update_id: int, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO processed_updates (update_id, received_at, handled_at)
                   VALUES (?, ?, ?)
                   ON CONFLICT (update_id) DO UPDATE
                   SET handled_at = COALESCE(handled_at, excluded.handled_at)""",
                (update_id, now, now),
            )
            if update_id % 500 == 0:  # now and then, forget what Telegram can no longer resend
                await db.execute(
                    "DELETE FROM processed_updates WHERE received_at < ?", (now - 2 * 86400,)
                )

    async def active_jobs_of(self, user_id: int, chat_id: int) -> list[Job]:
        async with self._lock:
            cursor = await self._db.execute(
                f"""SELECT * FROM generations WHERE user_id = ? AND chat_id = ?
                    AND state IN ({_ACTIVE}) ORDER BY id""",
                (user_id, chat_id),
            )
            return [_job(row) for row in await cursor.fetchall()]

    # --- reading ------------------------------------------------------------------------------

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._fetch_one("SELECT * FROM generations WHERE id = ?", (job_id,))
        return _job(row) if row else None

    async def find_by_video_message(self, chat_id: int, message_id: int) -> Job | None:
        row = await self._fetch_one(
            "SELECT * FROM generations WHERE chat_id = ? AND video_message_id = ?",
            (chat_id, message_id),
        )
        return _job(row) if row else None

    async def find_by_status_message(self, chat_id: int, message_id: int) -> Job | None:
        row = await self._fetch_one(
            "SELECT * FROM generations WHERE chat_id = ? AND status_message_id = ?",
            (chat_id, message_id),
        )
        return _job(row) if row else None

    async def queued_ahead(self, job_id: int) -> int:
        row = await self._fetch_one(
            "SELECT COUNT(*) FROM generations WHERE state IN ('queued', 'submitting') AND id < ?",
            (job_id,),
        )
        return int(row[0]) if row else 0

    async def find_by_remote_id(self, remote_id: str) -> Job | None:
        row = await self._fetch_one(
            "SELECT * FROM generations WHERE remote_id = ? ORDER BY id DESC LIMIT 1", (remote_id,)
        )
        return _job(row) if row else None

    # --- albums and extend prompts ------------------------------------------------------------

    async def add_album_item(self, item: AlbumItem, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO album_items (chat_id, media_group_id, message_id, payload,
                                            received_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                (item.chat_id, item.media_group_id, item.message_id, json.dumps(item.payload), now),
            )

    async def take_album(self, chat_id: int, media_group_id: str) -> list[AlbumItem]:
        async with self._transaction() as db:
            cursor = await db.execute(
                """DELETE FROM album_items WHERE chat_id = ? AND media_group_id = ?
                   RETURNING chat_id, media_group_id, message_id, payload""",
                (chat_id, media_group_id),
            )
            rows = await cursor.fetchall()
        items = [
            AlbumItem(
                chat_id=row["chat_id"],
                media_group_id=row["media_group_id"],
                message_id=row["message_id"],
                payload=json.loads(row["payload"]),
            )
            for row in rows
        ]
        return sorted(items, key=lambda item: item.message_id)

    async def latest_album_item_at(self, chat_id: int, media_group_id: str) -> float | None:
        row = await self._fetch_one(
            "SELECT MAX(received_at) FROM album_items WHERE chat_id = ? AND media_group_id = ?",
            (chat_id, media_group_id),
        )
        return row[0] if row else None

    async def unsettled_albums(self, quiet_before: float) -> list[tuple[int, str]]:
        async with self._lock:
            cursor = await self._db.execute(
                """SELECT chat_id, media_group_id FROM album_items
                   GROUP BY chat_id, media_group_id HAVING MAX(received_at) < ?
                   ORDER BY MAX(received_at), chat_id, media_group_id""",
                (quiet_before,),
            )
            return [(row[0], row[1]) for row in await cursor.fetchall()]

    async def add_extend_prompt(self, prompt: ExtendPrompt, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT OR REPLACE INTO extend_prompts (chat_id, message_id, parent_job_id,
                                                          user_id, created_at)
                   VALUES (?, ?, ?, ?, ?)""",
                (prompt.chat_id, prompt.message_id, prompt.parent_job_id, prompt.user_id, now),
            )

    async def find_extend_prompt(self, chat_id: int, message_id: int) -> ExtendPrompt | None:
        row = await self._fetch_one(
            "SELECT * FROM extend_prompts WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        )
        if row is None:
            return None
        return ExtendPrompt.model_validate(
            {key: row[key] for key in row.keys() if key != "created_at"}
        )

    async def set_status_message(self, job_id: int, message_id: int | None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE generations SET status_message_id = ? WHERE id = ?", (message_id, job_id)
            )

    # --- worker leases and transitions --------------------------------------------------------

    async def claim_due(
        self, owner: str, *, limit: int, lease_seconds: float, now: float
    ) -> list[Job]:
        async with self._transaction() as db:
            cursor = await db.execute(
                f"""UPDATE generations SET lease_owner = ?, lease_until = ?, updated_at = ?
                    WHERE id IN (
                        SELECT id FROM generations
                        WHERE (state IN ({_ACTIVE}) OR (state = 'failed' AND notice_pending = 1))
                          AND (lease_until IS NULL OR lease_until < ?)
                          AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                        ORDER BY COALESCE(next_attempt_at, created_at), id
                        LIMIT ?)
                    RETURNING *""",
                (owner, now + lease_seconds, now, now, now, limit),
            )
            rows = await cursor.fetchall()
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
        # holds. The state guard makes the refund happen exactly once.
        states = f"'{only_if.value}'" if only_if is not None else _ACTIVE
        async with self._transaction() as db:
            cursor = await db.execute(
                f"""UPDATE generations
                    SET state = ?, failure_code = ?, failure_reason = ?,
                        refunded = 1,
                        finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL,
                        notice_pending = ?, next_attempt_at = ?
                    WHERE id = ? AND state IN ({states})
                    RETURNING paid_with, payer_id""",
                (
                    JobState.FAILED.value,
                    code,
                    reason,
                    now,
                    now,
                    notice_due_at is not None,
                    notice_due_at,
                    job_id,
                ),
            )
            row = await cursor.fetchone()
            if row is None:
                return False
            if row["paid_with"] == "credit":  # a credit comes back like a daily allowance
                await db.execute(
                    "UPDATE credits SET balance = balance + 1, updated_at = ? WHERE payer_id = ?",
                    (now, row["payer_id"]),
                )
            return True

    async def notice_sent(self, job_id: int) -> None:
        async with self._transaction() as db:
            await db.execute(
                """UPDATE generations SET notice_pending = 0, next_attempt_at = NULL,
                       lease_owner = NULL, lease_until = NULL
                   WHERE id = ?""",
                (job_id,),
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
        assignments = ", ".join(f"{column} = ?" for column in fields)
        if increment_attempts:
            assignments += ", attempts = attempts + 1"
        sql = f"UPDATE generations SET {assignments} WHERE id = ? AND lease_owner = ?"
        values: list[Any] = [*fields.values(), job_id, owner]
        if expect_state is not None:
            sql += " AND state = ?"
            values.append(expect_state.value)
        async with self._transaction() as db:
            cursor = await db.execute(sql, values)
            return cursor.rowcount == 1

    async def _fetch_one(self, sql: str, values: tuple[Any, ...]) -> aiosqlite.Row | None:
        async with self._lock:
            return await (await self._db.execute(sql, values)).fetchone()


async def _uncancellable(operation: Awaitable[Any]) -> Any:
    """Let a statement finish even if the caller is cancelled meanwhile, then re-raise."""
    task = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


def _job(row: aiosqlite.Row) -> Job:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["refunded"] = bool(data["refunded"])
    return Job.model_validate(data)
