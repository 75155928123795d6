"""PostgreSQL repository (asyncpg pool), for several replicas sharing one database: what is
PostgreSQL's own. The operations are storage/sql.py's, whose SQL is written in PostgreSQL's
placeholders and runs here as it stands.

Here: the pool, the schema and migrations, and what SQLite gets from its single writer made
explicit: claims use `FOR UPDATE SKIP LOCKED` (two replicas never lease one job), accepting a
job holds a transaction-level advisory lock (quota checks and the insert are one critical
section across every process), several reads that must agree share a repeatable-read snapshot,
and migrations run under a session-level advisory lock (replicas may start at once). Every
other write is a single statement, atomic on its own, run straight on the pool.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import asyncpg

from storage.sql import DUE_JOBS, SqlRepository, migration_scripts

log = logging.getLogger(__name__)

# Advisory lock keys (database-wide, arbitrary but fixed): one for migrating, one that makes
# every accept_job a critical section. Accepting is rare (each job is a paid video) and short,
# so one key costs nothing and keeps every limit (global, chat, payer, credits) exact.
_MIGRATION_LOCK = 0x4C554D41_0001
_ACCEPT_LOCK = 0x4C554D41_0002


class _Session:
    """Statements on the pool (each on whichever connection is free) or on one connection."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    async def fetch_one(self, sql: str, *values: Any) -> asyncpg.Record | None:
        return await self._db.fetchrow(sql, *values)

    async def fetch_all(self, sql: str, *values: Any) -> list[asyncpg.Record]:
        return await self._db.fetch(sql, *values)

    async def execute(self, sql: str, *values: Any) -> int:
        return _rowcount(await self._db.execute(sql, *values))


class PostgresRepository(SqlRepository):
    # SKIP LOCKED: rows another replica is claiming right now are left to it. A row it
    # claimed since this statement's snapshot is re-checked on its new version (READ
    # COMMITTED), whose live lease excludes it: no job is ever leased twice.
    _CLAIM_DUE = f"""WITH due AS ({DUE_JOBS} FOR UPDATE SKIP LOCKED)
                     UPDATE generations SET lease_owner = $1, lease_until = $2, updated_at = $3
                     FROM due WHERE generations.id = due.id
                     RETURNING generations.*"""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._session = _Session(pool)

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
    ) -> PostgresRepository:
        """Connect and migrate. `schema`: keep the tables there instead of the default search
        path (created if missing); tests give each run its own."""
        settings = {"search_path": _quote(schema)} if schema else None
        if schema:
            await _create_schema(url, schema)
        # JSONB goes in and comes out as text (asyncpg's default), as SQLite's TEXT does:
        # storage/sql.py encodes and decodes it.
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, server_settings=settings
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

    def _reading(self) -> AbstractAsyncContextManager[_Session]:
        return nullcontext(self._session)

    # A single statement is atomic on its own: no transaction round trips.
    _writing = _reading

    @asynccontextmanager
    async def _transaction(self, **options: Any) -> AsyncIterator[_Session]:
        # A cancelled caller leaves nothing open: asyncpg rolls back, and the pool resets the
        # connection before anyone else gets it.
        async with self._pool.acquire() as connection, connection.transaction(**options):
            yield _Session(connection)

    def _snapshot(self) -> AbstractAsyncContextManager[_Session]:
        return self._transaction(isolation="repeatable_read", readonly=True)

    @asynccontextmanager
    async def _accepting(self) -> AsyncIterator[_Session]:
        async with self._transaction() as db:
            # Held until commit: the next acceptor (any process) counts this job. Each later
            # statement sees everything committed before the lock was granted (READ COMMITTED).
            await db.execute("SELECT pg_advisory_xact_lock($1)", _ACCEPT_LOCK)
            yield db

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
                for version, script in migration_scripts("postgres"):
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
