"""SQLite repository (aiosqlite, WAL): what is SQLite's own. The operations are storage/sql.py's.

Here: opening and migrating the file, running statements (`$n` placeholders become SQLite's
`?n`), and what each kind of access means. One connection per process: aiosqlite runs
statements on one thread, but coroutines could still interleave inside each other's
transactions, so every access holds `self._lock`; across processes, every write takes SQLite's
write lock with `BEGIN IMMEDIATE` before reading anything a decision depends on (quota counts,
claims), which also serialises accepting jobs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiosqlite

from storage.sql import DUE_JOBS, Session, SqlRepository, migration_scripts

log = logging.getLogger(__name__)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


# A string literal (left alone) or a `$n` placeholder.
_PLACEHOLDER = re.compile(r"('(?:[^']|'')*')|\$(\d+)")


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """`$1` -> `?1`: SQLite's numbered parameter, which may likewise appear more than once."""
    return _PLACEHOLDER.sub(lambda match: match.group(1) or f"?{match.group(2)}", sql)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class _Session:
    """Statements on the connection; the caller holds the repository's lock."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def fetch_one(self, sql: str, *values: Any) -> aiosqlite.Row | None:
        return await (await self._db.execute(_numbered(sql), values)).fetchone()

    async def fetch_all(self, sql: str, *values: Any) -> list[aiosqlite.Row]:
        return list(await (await self._db.execute(_numbered(sql), values)).fetchall())

    async def execute(self, sql: str, *values: Any) -> int:
        return (await self._db.execute(_numbered(sql), values)).rowcount


class SqliteRepository(SqlRepository):
    _CLAIM_DUE = f"""UPDATE generations SET lease_owner = $1, lease_until = $2, updated_at = $3
                     WHERE id IN ({DUE_JOBS})
                     RETURNING *"""
    # SQLite's own `lower` folds ASCII letters only: Python's folds every script.
    _LOWER = "unicode_lower"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()
        self._session = _Session(connection)

    @classmethod
    async def open(cls, path: Path) -> SqliteRepository:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA busy_timeout=10000")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.create_function("unicode_lower", 1, _lower, deterministic=True)
        repository = cls(connection)
        await repository._migrate()
        return repository

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Session]:
        async with self._lock:
            yield self._session

    def _snapshot(self) -> AbstractAsyncContextManager[Session]:
        # The lock keeps this process's statements out; a read transaction (deferred BEGIN)
        # keeps every read on one WAL snapshot, whatever other processes write meanwhile.
        return self._begun("BEGIN")

    def _transaction(self) -> AbstractAsyncContextManager[Session]:
        return self._begun("BEGIN IMMEDIATE")

    @asynccontextmanager
    async def _begun(self, begin: str) -> AsyncIterator[Session]:
        async with self._lock:
            try:
                await _uncancellable(self._db.execute(begin))
                yield self._session
                await _uncancellable(self._db.execute("COMMIT"))
            except BaseException:
                # Also reached when the caller is cancelled mid-BEGIN or mid-COMMIT (a worker
                # shutting down): never leave a transaction open for the next caller.
                if self._db.in_transaction:
                    await _uncancellable(self._db.execute("ROLLBACK"))
                raise

    # A lone statement that reads before it writes (a claim's subquery) must hold the write
    # lock from the start too; and the write lock is what keeps two acceptors apart.
    _writing = _transaction
    _accepting = _transaction

    async def _migrate(self) -> None:
        async with self._transaction():
            db = self._db  # DDL as written: no placeholders to rename
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await (await db.execute("SELECT MAX(version) FROM schema_version")).fetchone()
            current = (row[0] if row is not None else None) or 0
            for version, script in migration_scripts("sqlite"):
                if version <= current:
                    continue
                for statement in _statements(script):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                log.info("database migrated to schema version %d", version)


async def _uncancellable(operation: Awaitable[Any]) -> Any:
    """Let a statement finish even if the caller is cancelled meanwhile, then re-raise."""
    task = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
