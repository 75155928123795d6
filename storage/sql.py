"""The repository written once for both SQL backends: every protocol method and its SQL.

`SqlRepository` implements `Repository` (bot/domain/stores.py) on a few primitives that a backend
provides: a `Session` (fetch one row, fetch all rows, execute and count the rows affected) and
the contexts that hand one out, each saying what the backend guarantees there (`_reading`,
`_snapshot`, `_writing`, `_transaction`, `_accepting`), plus `_CLAIM_DUE`, the one statement
whose SQL differs. Everything dialect-specific lives in storage/sqlite.py (the in-process
lock, `BEGIN IMMEDIATE`, renaming placeholders) and storage/postgres.py (the pool, row and
advisory locks, isolation), with connecting and migrating; only the listing of the migration
files is shared.

The SQL here runs unchanged on PostgreSQL and, with its placeholders renamed, on SQLite:
- placeholders are PostgreSQL's `$1, $2…` (a value may be used twice), which SqliteRepository
  renames to SQLite's numbered `?1, ?2…`;
- flags are BOOLEAN in PostgreSQL and 0/1 in SQLite: SQL says `NOT refunded`, `TRUE`, `FALSE`
  (SQLite reads them as 1 and 0), and Python passes bools;
- JSON (job params, album payloads) goes in and comes out as text: JSONB in PostgreSQL, TEXT in
  SQLite, as the migrations made them.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, ClassVar, Protocol

from bot.domain.model import (
    ACTIVE_STATES,
    Accepted,
    AlbumItem,
    DayStats,
    ExtendPrompt,
    FailureCode,
    HistoryEntry,
    Job,
    JobState,
    NewJob,
    QuotaExhausted,
    QuotaRules,
    QuotaScope,
    QuotaUsage,
    Refund,
    TooManyActive,
    UserRecord,
)
from storage import ledger
from storage.payments import PaymentsSql
from storage.promos import PromoQueries

_ACTIVE = ", ".join(f"'{state.value}'" for state in ACTIVE_STATES)
# A story making its shots: accepted (QUEUED), or with a shot under way (WAITING).
_MAKING_SHOTS = f"'{JobState.QUEUED.value}', '{JobState.WAITING.value}'"
# A video that can be shown and sent again: delivered with a Telegram file, a story whole (not
# its shots).
_SHAREABLE = "state = 'delivered' AND video_file_id IS NOT NULL AND story_job_id IS NULL"

# Jobs paid from payer $1's daily allowance on day $2 (refunds excluded).
# The payer's free daily credits used that day: what each of its jobs took from the allowance.
_CHARGED = "payer_id = $1 AND charged_day = $2 AND NOT refunded"
# What a day's totals count: a chat's (CHAT_DAILY_QUOTA) is an allowance, so it gives back what
# its payers got back; the whole bot's (GLOBAL_DAILY_QUOTA) stands for the provider's bill, so it
# keeps every job the provider billed or may have billed (`billable`), refunded or not.
_CHAT_TOTAL = "charged_day = $1 AND chat_id = $2 AND NOT refunded"
_BILL_TOTAL = "charged_day = $1 AND billable"
# A job in the queue that no worker holds (a worker that claims one sends it on at once).
_UNCLAIMED = f"state = '{JobState.QUEUED.value}' AND lease_owner IS NULL"

# The jobs a worker may lease at $3 (at most $4), oldest due first: active ones, and failed ones
# whose user has not been told yet. Each backend's `_CLAIM_DUE` wraps it.
DUE_JOBS = f"""SELECT id FROM generations
    WHERE (state IN ({_ACTIVE}) OR (state = 'failed' AND notice_pending))
      AND (lease_until IS NULL OR lease_until < $3)
      AND (next_attempt_at IS NULL OR next_attempt_at <= $3)
    ORDER BY COALESCE(next_attempt_at, created_at), id
    LIMIT $4"""


# Telegram keeps an unconfirmed update for 24 hours: records of handled ones are kept for two
# days, and each process deletes the older ones at most this often.
PRUNE_UPDATES_EVERY = 3600.0


def migration_scripts(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) of each file in storage/migrations/<dialect>/, oldest first."""
    folder = resources.files("storage") / "migrations" / dialect
    found = [
        (int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return sorted(found)


class Row(Protocol):
    """A result row (asyncpg.Record, sqlite3.Row): by column name or position; dict(row)."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...  # the values, in column order

    def keys(self) -> Iterable[str]: ...


class Session(Protocol):
    """Runs statements on one connection (or a pool, a statement each)."""

    async def fetch_one(self, sql: str, *values: Any) -> Row | None: ...

    async def fetch_all(self, sql: str, *values: Any) -> Sequence[Row]: ...

    async def execute(self, sql: str, *values: Any) -> int:
        """Run a statement; how many rows it inserted, updated or deleted."""
        ...


class SqlRepository(PromoQueries, PaymentsSql, ABC):
    """`Repository` on SQL. Subclasses provide the sessions and the claim statement; each
    feature's own operations come from a part it inherits (storage/promos.py,
    storage/payments.py), sharing them."""

    # When this process next deletes records of updates too old to be re-sent.
    _next_prune_at: float = 0.0

    # Lease DUE_JOBS to $1 until $2, setting updated_at = $3; RETURNING the leased rows.
    _CLAIM_DUE: ClassVar[str]

    # The SQL function that lower-cases any text, not only ASCII (PostgreSQL's own `lower`).
    _LOWER: ClassVar[str] = "lower"

    # --- what a backend provides --------------------------------------------------------------

    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[Session]:
        """Reads; each statement is consistent on its own."""

    @abstractmethod
    def _snapshot(self) -> AbstractAsyncContextManager[Session]:
        """Several reads that must agree with each other (a count and its page)."""

    @abstractmethod
    def _writing(self) -> AbstractAsyncContextManager[Session]:
        """One write statement, atomic (reads inside it included)."""

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Session]:
        """Several statements that commit together or not at all."""

    @abstractmethod
    def _accepting(self) -> AbstractAsyncContextManager[Session]:
        """A transaction in which no other process accepts a job: quota counts stay exact."""

    @abstractmethod
    async def close(self) -> None: ...

    # --- operations ---------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._one("SELECT 1")

    async def jobs_by_state(self) -> dict[str, int]:
        rows = await self._all("SELECT state, COUNT(*) AS count FROM generations GROUP BY state")
        return {row["state"]: row["count"] for row in rows}

    # --- users --------------------------------------------------------------------------------

    async def upsert_user(self, user: UserRecord, now: float) -> None:
        await self._write(
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
        row = await self._one("SELECT * FROM users WHERE user_id = $1", user_id)
        return UserRecord.model_validate(dict(row)) if row else None

    # --- accepting jobs -----------------------------------------------------------------------

    async def accept_job(
        self, new: NewJob, *, day: str, rules: QuotaRules, now: float
    ) -> Accepted | QuotaExhausted | TooManyActive:
        async with self._accepting() as db:
            existing = await db.fetch_one(
                "SELECT * FROM generations WHERE request_key = $1", new.request_key
            )
            if existing is None and new.press is not None:
                existing = await _pressed_before(db, new, rules.payer_id)
            if existing is not None:
                return Accepted(job=_job(existing), duplicate=True)
            if rules.active_limit is not None:
                active = await _count_active(db, rules.payer_id)
                if active >= rules.active_limit:
                    return TooManyActive(active=active, limit=rules.active_limit)
            charge = await _charge(db, new.chat_id, day, rules, new.cost)
            if isinstance(charge, QuotaExhausted):
                return charge
            paid_with, paid_daily, paid_credits = charge
            row = await _insert_job(
                db,
                new,
                day=day,
                payer_id=rules.payer_id,
                paid=(paid_with, paid_daily, paid_credits),
                now=now,
            )
            assert row is not None
            job = _job(row)
            if paid_credits:  # the balance's part, with its ledger row
                await ledger.move_credits(
                    db, rules.payer_id, -paid_credits, reason="job", ref=str(job.id), now=now
                )
            return Accepted(job=job)

    async def quota_used(self, payer_id: int, day: str) -> int:
        async with self._reading() as db:
            return await _count_charged(db, payer_id, day)

    async def quota_usage(self, payer_id: int, chat_id: int, day: str) -> QuotaUsage:
        # One statement, so one snapshot: the four numbers agree.
        row = await self._one(
            f"""SELECT (SELECT COALESCE(SUM(paid_daily), 0) FROM generations
                        WHERE {_CHARGED}) AS payer_daily,
                       (SELECT COALESCE(SUM(cost), 0) FROM generations
                        WHERE charged_day = $2 AND chat_id = $3 AND NOT refunded) AS chat,
                       (SELECT COALESCE(SUM(cost), 0) FROM generations
                        WHERE charged_day = $2 AND billable) AS everyone,
                       COALESCE((SELECT balance FROM credits WHERE payer_id = $1), 0) AS credits""",
            payer_id,
            day,
            chat_id,
        )
        assert row is not None
        return QuotaUsage.model_validate(dict(row))

    async def count_active(self, payer_id: int) -> int:
        async with self._reading() as db:
            return await _count_active(db, payer_id)

    # --- credits, bans, history, stats --------------------------------------------------------

    async def grant_credits(self, payer_id: int, count: int, now: float) -> int:
        # An admin's grant (or removal, never below 0): each one its own ledger row.
        balance = await self.move_credits(
            payer_id, count, reason="grant", ref=uuid.uuid4().hex, now=now
        )
        assert balance is not None  # a new ref is never recorded before
        return balance

    async def balance(self, payer_id: int) -> int:
        async with self._reading() as db:
            return await ledger.balance_of(db, payer_id)

    async def move_credits(
        self, payer_id: int, delta: int, *, reason: str, ref: str, now: float
    ) -> int | None:
        async with self._accepting() as db:
            return await ledger.move_credits(db, payer_id, delta, reason=reason, ref=ref, now=now)

    async def set_banned(self, payer_id: int, banned: bool, *, by: int | None, now: float) -> bool:
        if banned:
            changed = await self._write(
                "INSERT INTO bans (payer_id, banned_by, banned_at) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                payer_id,
                by,
                now,
            )
        else:
            changed = await self._write("DELETE FROM bans WHERE payer_id = $1", payer_id)
        return changed == 1

    async def is_banned(self, payer_id: int) -> bool:
        return await self._one("SELECT 1 FROM bans WHERE payer_id = $1", payer_id) is not None

    async def find_user_by_username(self, username: str) -> UserRecord | None:
        row = await self._one(
            """SELECT * FROM users WHERE lower(username) = lower($1)
               ORDER BY last_seen_at DESC LIMIT 1""",
            username.lstrip("@"),
        )
        return UserRecord.model_validate(dict(row)) if row else None

    async def history(
        self, user_id: int, *, chat_id: int | None, offset: int, limit: int
    ) -> tuple[list[HistoryEntry], int]:
        # A story is one entry: its shots are not listed on their own.
        where, values = "user_id = $1 AND story_job_id IS NULL", [user_id]
        if chat_id is not None:
            where, values = where + " AND chat_id = $2", [*values, chat_id]
        page = len(values)
        async with self._snapshot() as db:
            total = await _count(db, where, *values)
            rows = await db.fetch_all(
                f"""SELECT id AS job_id, kind, prompt, state, created_at, video_file_id,
                           failure_code
                    FROM generations WHERE {where}
                    ORDER BY id DESC LIMIT ${page + 1} OFFSET ${page + 2}""",
                *values,
                limit,
                offset,
            )
        return [HistoryEntry.model_validate(dict(row)) for row in rows], total

    async def shareable_videos(
        self,
        user_id: int,
        *,
        words: Sequence[str] = (),
        chats: Sequence[int] | None = None,
        offset: int,
        limit: int,
    ) -> list[Job]:
        # The videos the user made (in any chat; whoever paid), delivered with a Telegram file
        # to send again, newest first. A story is one video: its shots are not listed.
        if chats is not None and not chats:
            return []
        where, values = f"{_SHAREABLE} AND user_id = $1", list[Any]([user_id])
        if chats is not None:
            where += f" AND chat_id IN ({placeholders(len(values) + 1, len(chats))})"
            values.extend(chats)
        for word in words:  # every word, anywhere in the prompt, whatever its case
            values.append(f"%{like_escaped(word.lower())}%")
            where += f" AND {self._LOWER}(prompt) LIKE ${len(values)} ESCAPE '\\'"
        at = len(values)
        return [
            _job(row)
            for row in await self._all(
                f"""SELECT * FROM generations WHERE {where}
                    ORDER BY id DESC LIMIT ${at + 1} OFFSET ${at + 2}""",
                *values,
                limit,
                offset,
            )
        ]

    async def video_chats(self, user_id: int) -> list[int]:
        rows = await self._all(
            f"""SELECT chat_id FROM generations WHERE {_SHAREABLE} AND user_id = $1
                GROUP BY chat_id ORDER BY MAX(id) DESC""",
            user_id,
        )
        return [int(row["chat_id"]) for row in rows]

    async def stats(self, since: float) -> DayStats:
        async with self._snapshot() as db:
            totals = await db.fetch_one(
                f"""SELECT COUNT(*) AS generations,
                           COUNT(*) FILTER (WHERE state = 'delivered') AS delivered,
                           COUNT(*) FILTER (WHERE state IN ({_ACTIVE})) AS active,
                           COUNT(*) FILTER (WHERE NOT refunded) AS charged
                    FROM generations WHERE created_at >= $1""",
                since,
            )
            failures = await db.fetch_all(
                """SELECT failure_code, COUNT(*) FROM generations
                   WHERE created_at >= $1 AND state = 'failed'
                   GROUP BY failure_code ORDER BY COUNT(*) DESC""",
                since,
            )
            top_payers = await db.fetch_all(
                """SELECT payer_id, COUNT(*) FROM generations
                   WHERE created_at >= $1 AND payer_id IS NOT NULL
                   GROUP BY payer_id ORDER BY COUNT(*) DESC, payer_id LIMIT 5""",
                since,
            )
            top_chats = await db.fetch_all(
                """SELECT chat_id, COUNT(*) FROM generations WHERE created_at >= $1
                   GROUP BY chat_id ORDER BY COUNT(*) DESC, chat_id LIMIT 5""",
                since,
            )
        assert totals is not None
        return DayStats(
            **dict(totals),
            failed_by_reason={str(code or "unknown"): count for code, count in failures},
            top_payers=[(payer, count) for payer, count in top_payers],
            top_chats=[(chat, count) for chat, count in top_chats],
        )

    # --- Telegram updates ---------------------------------------------------------------------

    async def claim_update(
        self, update_id: int, owner: str, now: float, lease_seconds: float
    ) -> bool:
        # A concurrent insert of the same id waits for the first to commit, then takes the
        # ON CONFLICT branch with the row locked: exactly one claimant wins.
        async with self._writing() as db:
            row = await db.fetch_one(
                """INSERT INTO processed_updates (update_id, received_at, claimed_by,
                                                  claimed_until)
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
        row = await self._one(
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
            if now >= self._next_prune_at:  # hourly: forget what Telegram can no longer resend
                self._next_prune_at = now + PRUNE_UPDATES_EVERY
                await db.execute(
                    "DELETE FROM processed_updates WHERE received_at < $1", now - 2 * 86400
                )

    # --- reading jobs -------------------------------------------------------------------------

    async def active_jobs_of(self, payer_id: int, chat_id: int) -> list[Job]:
        rows = await self._all(
            f"""SELECT * FROM generations WHERE payer_id = $1 AND chat_id = $2
                AND state IN ({_ACTIVE}) AND story_job_id IS NULL ORDER BY id""",
            payer_id,
            chat_id,
        )
        return [_job(row) for row in rows]

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
        row = await self._one(
            """SELECT COUNT(*) FROM generations
               WHERE state IN ('queued', 'submitting') AND id < $1""",
            job_id,
        )
        return int(row[0]) if row else 0

    async def find_by_remote_id(self, remote_id: str) -> Job | None:
        return await self._one_job(
            "SELECT * FROM generations WHERE remote_id = $1 ORDER BY id DESC LIMIT 1", remote_id
        )

    # --- albums and extend prompts ------------------------------------------------------------

    async def add_album_item(self, item: AlbumItem, now: float) -> None:
        await self._write(
            """INSERT INTO album_items (chat_id, media_group_id, message_id, payload, received_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            item.chat_id,
            item.media_group_id,
            item.message_id,
            json.dumps(item.payload),
            now,
        )

    async def take_album(self, chat_id: int, media_group_id: str) -> list[AlbumItem]:
        # A concurrent DELETE of the same rows waits, then finds them gone: one caller wins.
        async with self._writing() as db:
            rows = await db.fetch_all(
                """DELETE FROM album_items WHERE chat_id = $1 AND media_group_id = $2
                   RETURNING chat_id, media_group_id, message_id, payload""",
                chat_id,
                media_group_id,
            )
        items = [
            AlbumItem.model_validate({**dict(row), "payload": json.loads(row["payload"])})
            for row in rows
        ]
        return sorted(items, key=lambda item: item.message_id)

    async def latest_album_item_at(self, chat_id: int, media_group_id: str) -> float | None:
        row = await self._one(
            """SELECT MAX(received_at) FROM album_items
               WHERE chat_id = $1 AND media_group_id = $2""",
            chat_id,
            media_group_id,
        )
        return row[0] if row else None

    async def unsettled_albums(self, quiet_before: float) -> list[tuple[int, str]]:
        rows = await self._all(
            """SELECT chat_id, media_group_id FROM album_items
               GROUP BY chat_id, media_group_id HAVING MAX(received_at) < $1
               ORDER BY MAX(received_at), chat_id, media_group_id""",
            quiet_before,
        )
        return [(row["chat_id"], row["media_group_id"]) for row in rows]

    async def add_extend_prompt(self, prompt: ExtendPrompt, now: float) -> None:
        await self._write(
            """INSERT INTO extend_prompts (chat_id, message_id, parent_job_id, user_id,
                                           created_at, kind)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (chat_id, message_id) DO UPDATE
               SET parent_job_id = excluded.parent_job_id, user_id = excluded.user_id,
                   created_at = excluded.created_at, kind = excluded.kind""",
            prompt.chat_id,
            prompt.message_id,
            prompt.parent_job_id,
            prompt.user_id,
            now,
            prompt.kind.value,
        )

    async def find_extend_prompt(self, chat_id: int, message_id: int) -> ExtendPrompt | None:
        row = await self._one(
            """SELECT chat_id, message_id, parent_job_id, user_id, kind FROM extend_prompts
               WHERE chat_id = $1 AND message_id = $2""",
            chat_id,
            message_id,
        )
        return ExtendPrompt.model_validate(dict(row)) if row else None

    async def set_status_message(self, job_id: int, message_id: int | None) -> None:
        await self._write(
            "UPDATE generations SET status_message_id = $1 WHERE id = $2", message_id, job_id
        )

    # --- worker leases and transitions --------------------------------------------------------

    async def claim_due(
        self, owner: str, *, limit: int, lease_seconds: float, now: float
    ) -> list[Job]:
        async with self._writing() as db:
            rows = await db.fetch_all(self._CLAIM_DUE, owner, now + lease_seconds, now, limit)
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
        # A story's shot is never sent once its story was asked to stop or no longer makes
        # shots (cancelled, or delivering what it has): checked in the statement that marks it,
        # so a stop stored before it wins, whichever process stored it.
        return (
            await self._write(
                f"""UPDATE generations
                    SET state = $1, updated_at = $2, attempts = attempts + 1
                    WHERE id = $3 AND lease_owner = $4 AND state = $5
                      AND NOT EXISTS (
                          SELECT 1 FROM generations AS story
                          WHERE story.id = generations.story_job_id
                            AND (story.stop_requested_at IS NOT NULL
                                 OR story.state NOT IN ({_MAKING_SHOTS})))""",
                JobState.SUBMITTING.value,
                now,
                job_id,
                owner,
                JobState.QUEUED.value,
            )
            == 1
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
        self,
        job_id: int,
        owner: str,
        *,
        message_id: int | None,
        file_id: str | None,
        now: float,
        thumbnail_file_id: str | None = None,
    ) -> bool:
        return await self._fenced(
            job_id,
            owner,
            {
                "state": JobState.DELIVERED.value,
                "video_message_id": message_id,
                "video_file_id": file_id,
                "video_thumbnail_file_id": thumbnail_file_id,
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
        refund: Refund,
        now: float,
        only_if: JobState | None = None,
        notice_due_at: float | None = None,
    ) -> bool:
        # Not fenced by lease: a deadline, a cancel or an operator may fail a job any worker
        # holds. The state guard (re-checked on the locked row) makes the refund happen once.
        async with self._transaction() as db:
            return await _fail(
                db,
                job_id,
                code=code,
                reason=reason,
                refund=refund,
                now=now,
                states=(only_if,) if only_if is not None else ACTIVE_STATES,
                notice_due_at=notice_due_at,
            )

    async def notice_sent(self, job_id: int) -> None:
        await self._write(
            """UPDATE generations SET notice_pending = FALSE, next_attempt_at = NULL,
                   lease_owner = NULL, lease_until = NULL
               WHERE id = $1""",
            job_id,
        )

    # --- the prompt helper --------------------------------------------------------------------

    async def request_enhance(
        self, job_id: int, *, help: dict[str, Any], rules: QuotaRules, now: float
    ) -> bool | QuotaExhausted:
        """Ask for an enhanced prompt on a job still waiting in the queue, no worker holding it
        (so none can be sending it meanwhile), and charge `help["cost"]` for it as a request
        is charged. False if the job has moved on."""
        async with self._accepting() as db:
            row = await db.fetch_one(
                f"SELECT * FROM generations WHERE id = $1 AND {_UNCLAIMED}", job_id
            )
            if row is None:
                return False
            job = _job(row)
            cost = int(help.get("cost", 0))
            charge = await _charge(db, job.chat_id, job.charged_day or "", rules, cost)
            if isinstance(charge, QuotaExhausted):
                return charge
            paid_with, paid_daily, paid_credits = charge
            if job.paid_with != "daily" or paid_with == "exempt":
                paid_with = job.paid_with
            updated = await db.execute(
                f"""UPDATE generations
                    SET params = $1, cost = cost + $2, paid_daily = paid_daily + $3,
                        paid_credits = paid_credits + $4, paid_with = $5, updated_at = $6
                    WHERE id = $7 AND {_UNCLAIMED}""",
                json.dumps({**job.params, "helper": help}),
                cost,
                paid_daily,
                paid_credits,
                paid_with,
                now,
                job_id,
            )
            if updated != 1:
                return False
            if paid_credits:
                await ledger.move_credits(
                    db, job.payer_id or 0, -paid_credits, reason="enhance", ref=str(job_id), now=now
                )
            return True

    async def settle_prompt(
        self, job_id: int, owner: str, *, help: dict[str, Any], give_back: int, now: float
    ) -> bool:
        """Record what the prompt helper did for a queued job this worker holds, and give back
        `give_back` credits of its cost (an enhancement that failed). False if the job has
        moved on."""
        async with self._transaction() as db:
            row = await db.fetch_one(
                """SELECT * FROM generations
                   WHERE id = $1 AND lease_owner = $2 AND state = $3""",
                job_id,
                owner,
                JobState.QUEUED.value,
            )
            if row is None:
                return False
            job = _job(row)
            updated = await db.execute(
                """UPDATE generations SET params = $1, updated_at = $2
                   WHERE id = $3 AND lease_owner = $4 AND state = $5""",
                json.dumps({**job.params, "helper": help}),
                now,
                job_id,
                owner,
                JobState.QUEUED.value,
            )
            if updated != 1:
                return False
            await _give_back(db, job, give_back, reason="enhance_refund", now=now)
            return True

    # --- stories ------------------------------------------------------------------------------

    async def add_story_shot(self, story: Job, new: NewJob, now: float) -> Job:
        """The story's shot `new.shot` as a job of its own, paid by the story (it costs
        nothing itself). Added once: the same shot asked for again (a retry after a crash)
        is the job made the first time."""
        async with self._writing() as db:
            await _insert_job(
                db,
                new,
                day=story.charged_day or "",
                payer_id=story.payer_id,
                paid=("story", 0, 0),
                now=now,
                once=True,
            )
            row = await db.fetch_one(
                "SELECT * FROM generations WHERE request_key = $1", new.request_key
            )
        assert row is not None
        return _job(row)

    async def story_shots(self, story_id: int) -> list[Job]:
        """The shots made for a story so far, in order."""
        rows = await self._all(
            "SELECT * FROM generations WHERE story_job_id = $1 ORDER BY shot", story_id
        )
        return [_job(row) for row in rows]

    async def mark_story_waiting(self, story_id: int, owner: str, now: float) -> bool:
        """The story's first shot is on its way: from now on it cannot be cancelled for free."""
        return await self._fenced(
            story_id,
            owner,
            {"state": JobState.WAITING.value, "submitted_at": now, "updated_at": now},
            expect_state=JobState.QUEUED,
        )

    async def mark_story_made(
        self,
        story_id: int,
        owner: str,
        *,
        video_url: str,
        outcome: dict[str, Any],
        give_back: int,
        now: float,
    ) -> bool:
        """Every shot that will be made is made: the story goes on to be stitched and
        delivered (`video_url`: its last shot's, for a link if the whole is too large; params'
        `outcome`: the shots made, and why it stopped early), and `give_back` credits go back
        for the shots never made, in one transaction."""
        async with self._transaction() as db:
            row = await db.fetch_one("SELECT params FROM generations WHERE id = $1", story_id)
            if row is None:
                return False
            params = {**json.loads(row["params"]), "outcome": outcome}
            row = await db.fetch_one(
                """UPDATE generations
                   SET state = $1, remote_state = 'completed', video_url = $2,
                       completed_at = $3, updated_at = $3, params = $7
                   WHERE id = $4 AND lease_owner = $5 AND state = $6
                   RETURNING *""",
                JobState.DELIVERING.value,
                video_url,
                now,
                story_id,
                owner,
                JobState.WAITING.value,
                json.dumps(params),
            )
            if row is None:
                return False
            await _give_back(db, _job(row), give_back, reason="story_refund", now=now)
            return True

    async def request_story_stop(self, story_id: int, now: float) -> bool:
        """Ask a story that is making its shots to stop (once): no shot is sent after this
        (`mark_submitting`), and the worker ends the story with the shots made. False if it
        was asked before, or is no longer making shots."""
        return (
            await self._write(
                f"""UPDATE generations SET stop_requested_at = $1, updated_at = $1
                    WHERE id = $2 AND state IN ({_MAKING_SHOTS})
                      AND stop_requested_at IS NULL""",
                now,
                story_id,
            )
            == 1
        )

    async def cancel_story(
        self, story_id: int, *, shot: Job | None, refund: Refund, now: float
    ) -> bool:
        """End a story none of whose shots was made, as a cancelled video ends: its shot under
        way (`shot`, if any, still in the state it was read in) and any shot not yet sent fail
        as cancelled, and the story fails refunded as `refund` says, in one transaction. False,
        and nothing changed, if any of them has moved on (a shot sent or made meanwhile)."""
        code = FailureCode.CANCELLED.value
        try:
            async with self._transaction() as db:
                making = (JobState.QUEUED, JobState.WAITING)
                if not await _fail(
                    db, story_id, code=code, reason=None, refund=refund, now=now, states=making
                ):
                    raise _Moved
                rows = await db.fetch_all(
                    f"""SELECT id, state FROM generations
                        WHERE story_job_id = $1 AND state IN ({_ACTIVE}, 'delivered')""",
                    story_id,
                )
                for row in rows:
                    # Only shots never sent may go, and the shot under way as it was read.
                    state = JobState(row["state"])
                    as_read = shot is not None and row["id"] == shot.id and state is shot.state
                    if not (as_read or state is JobState.QUEUED) or not await _fail(
                        db,
                        row["id"],
                        code=code,
                        reason=None,
                        refund=refund,
                        now=now,
                        states=(state,),
                    ):
                        raise _Moved
        except _Moved:
            return False
        return True

    async def wake_job(self, job_id: int, now: float) -> None:
        """Make a job due now (a story, when one of its shots has ended)."""
        await self._write(
            """UPDATE generations SET next_attempt_at = $1
               WHERE id = $2 AND lease_owner IS NULL""",
            now,
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
        return await self._write(sql, *values) == 1

    async def _one(self, sql: str, *values: Any) -> Row | None:
        async with self._reading() as db:
            return await db.fetch_one(sql, *values)

    async def _all(self, sql: str, *values: Any) -> list[Row]:
        async with self._reading() as db:
            return list(await db.fetch_all(sql, *values))

    async def _write(self, sql: str, *values: Any) -> int:
        async with self._writing() as db:
            return await db.execute(sql, *values)

    async def _one_job(self, sql: str, *values: Any) -> Job | None:
        row = await self._one(sql, *values)
        return _job(row) if row else None


async def _count(db: Session, where: str, *values: Any) -> int:
    row = await db.fetch_one(f"SELECT COUNT(*) FROM generations WHERE {where}", *values)
    assert row is not None
    return int(row[0])


async def _count_active(db: Session, payer_id: int) -> int:
    # A story counts once, however many of its shots are under way.
    where = f"payer_id = $1 AND state IN ({_ACTIVE}) AND story_job_id IS NULL"
    return await _count(db, where, payer_id)


async def _count_charged(db: Session, payer_id: int, day: str) -> int:
    return await _sum(db, "paid_daily", _CHARGED, payer_id, day)


async def _over_total(
    db: Session, chat_id: int, day: str, rules: QuotaRules, cost: int
) -> QuotaExhausted | None:
    """The first of the global and chat totals that `cost` more credits would exceed, if any."""
    checks: list[tuple[QuotaScope, int | None, str, tuple[Any, ...]]] = [
        (QuotaScope.GLOBAL, rules.global_daily, _BILL_TOTAL, (day,)),
        (QuotaScope.CHAT, rules.chat_daily, _CHAT_TOTAL, (day, chat_id)),
    ]
    for scope, limit, where, values in checks:
        if limit is None:
            continue
        used = await _sum(db, "cost", where, *values)
        if used + cost > limit:
            return QuotaExhausted(scope=scope, used=used, limit=limit, cost=cost)
    return None


async def _charge(
    db: Session, chat_id: int, day: str, rules: QuotaRules, cost: int
) -> tuple[str, int, int] | QuotaExhausted:
    """Who pays `cost` more credits today, as (paid_with, from the daily allowance, from the
    balance); or the limit it would break. Inside `_accepting()`."""
    if rules.exempt:
        return "exempt", 0, 0
    refusal = await _over_total(db, chat_id, day, rules, cost)
    if refusal is not None:
        return refusal
    used = await _count_charged(db, rules.payer_id, day)
    free = cost if rules.payer_daily is None else max(rules.payer_daily - used, 0)
    paid_daily = min(free, cost)
    paid_credits = cost - paid_daily
    balance = await ledger.balance_of(db, rules.payer_id) if paid_credits else 0
    if paid_credits > balance:
        return QuotaExhausted(
            scope=QuotaScope.USER,
            used=used,
            limit=rules.payer_daily or 0,
            cost=cost,
            balance=balance,
        )
    return ("credit" if paid_credits else "daily"), paid_daily, paid_credits


async def _insert_job(
    db: Session,
    new: NewJob,
    *,
    day: str,
    payer_id: int | None,
    paid: tuple[str, int, int],
    now: float,
    once: bool = False,
) -> Row | None:
    """A new job, queued, paid as `paid` says (paid_with, from the daily allowance, from the
    balance). `once`: a job with the same request key already there is kept (no row back)."""
    paid_with, paid_daily, paid_credits = paid
    conflict = "ON CONFLICT (request_key) DO NOTHING" if once else ""
    return await db.fetch_one(
        f"""INSERT INTO generations (family, kind, user_id, chat_id, thread_id,
               request_message_id, request_key, parent_job_id, prompt, params, state,
               charged_day, payer_id, paid_with, deadline_at, created_at, updated_at,
               cost, paid_daily, paid_credits, story_job_id, shot, press)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                   $16, $16, $17, $18, $19, $20, $21, $22)
           {conflict}
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
        json.dumps(new.params),
        JobState.QUEUED.value,
        day,
        payer_id,
        paid_with,
        new.deadline_at,
        now,
        new.cost,
        paid_daily,
        paid_credits,
        new.story_job_id,
        new.shot,
        new.press.data if new.press else None,
    )


async def _pressed_before(db: Session, new: NewJob, payer_id: int | None) -> Row | None:
    """The job the same button made for the same payer in the same chat since `press.since`,
    still standing (not refunded), if any: the new press repeats that request."""
    assert new.press is not None
    return await db.fetch_one(
        """SELECT * FROM generations
           WHERE charged_day >= $1 AND payer_id = $2 AND chat_id = $3 AND press = $4
             AND created_at >= $5 AND NOT refunded
           ORDER BY id DESC LIMIT 1""",
        new.press.since_day,
        payer_id,
        new.chat_id,
        new.press.data,
        new.press.since,
    )


class _Moved(Exception):
    """A job was not where a transaction expected it: roll the transaction back."""


async def _fail(
    db: Session,
    job_id: int,
    *,
    code: str,
    reason: str | None,
    refund: Refund,
    now: float,
    states: Sequence[JobState],
    notice_due_at: float | None = None,
) -> bool:
    """Fail a job that is in one of `states`, giving back what `refund` says (the balance's
    part with its ledger row); False, and nothing changed, if it is elsewhere."""
    refunded = refund is not Refund.NONE
    row = await db.fetch_one(
        f"""UPDATE generations
            SET state = $1, failure_code = $2, failure_reason = $3, refunded = $8,
                billable = $9, finished_at = $4, updated_at = $4, lease_owner = NULL,
                lease_until = NULL, notice_pending = $5, next_attempt_at = $6
            WHERE id = $7 AND state IN ({", ".join(f"'{state.value}'" for state in states)})
            RETURNING paid_credits, payer_id""",
        JobState.FAILED.value,
        code,
        reason,
        now,
        notice_due_at is not None,
        notice_due_at,
        job_id,
        refunded,
        refund is not Refund.FULL,
    )
    if row is None:
        return False
    if refunded and row["paid_credits"]:  # the balance's part goes back to the balance
        await ledger.move_credits(
            db,
            row["payer_id"],
            int(row["paid_credits"]),
            reason="job_refund",
            ref=str(job_id),
            now=now,
        )
    return True


async def _give_back(db: Session, job: Job, credits: int, *, reason: str, now: float) -> None:
    """Give back `credits` of a job's cost (part of it was not used): the balance's part first,
    with its ledger row (`reason`, the job's id), then the daily allowance's. Inside the
    transaction that moved the job on, so it happens once."""
    credits = min(credits, job.cost)
    if credits <= 0:
        return
    from_balance = min(credits, job.paid_credits)
    from_daily = min(credits - from_balance, job.paid_daily)
    await db.execute(
        """UPDATE generations
           SET cost = cost - $1, paid_credits = paid_credits - $2, paid_daily = paid_daily - $3
           WHERE id = $4""",
        credits,
        from_balance,
        from_daily,
        job.id,
    )
    if from_balance and job.payer_id is not None:
        await ledger.move_credits(
            db, job.payer_id, from_balance, reason=reason, ref=str(job.id), now=now
        )


async def _sum(db: Session, column: str, where: str, *values: Any) -> int:
    row = await db.fetch_one(
        f"SELECT COALESCE(SUM({column}), 0) AS total FROM generations WHERE {where}", *values
    )
    return int(row["total"]) if row is not None else 0


def placeholders(first: int, count: int) -> str:
    """`count` numbered parameters from `$first`, for an `IN (...)` list."""
    return ", ".join(f"${n}" for n in range(first, first + count))


def like_escaped(text: str) -> str:
    """`text` as a LIKE pattern matching it literally (with `ESCAPE '\\'`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _job(row: Row) -> Job:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    return Job.model_validate(data)
