"""Repositories: the whole-database protocol (repository.py) and its implementations.

Implements the interfaces of `bot.domain.stores` and `bot.telegram.updates`, in the records of
`bot.domain.model`; may import nothing else of the bot, and nothing of Telegram or the video API.
"""

from __future__ import annotations

from storage.postgres import PostgresRepository
from storage.repository import Repository
from storage.sqlite import SqliteRepository

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


async def open_repository(database_url: str) -> Repository:
    """Open (and migrate) the database named by a `sqlite:///path` or `postgresql://...` URL
    (`postgres://` too); PostgreSQL uses the connection's default schema."""
    if database_url.startswith("sqlite:///"):
        from pathlib import Path

        return await SqliteRepository.open(Path(database_url.removeprefix("sqlite:///")))
    if database_url.startswith(_POSTGRES_SCHEMES):
        return await PostgresRepository.open(database_url)
    raise ValueError("unsupported DATABASE_URL scheme")


__all__ = ["PostgresRepository", "Repository", "SqliteRepository", "open_repository"]
