"""Repositories: the protocol (base.py) and its implementations. Knows nothing of Telegram."""

from __future__ import annotations

from storage.base import Repository
from storage.sqlite import SqliteRepository


async def open_repository(database_url: str) -> Repository:
    """Open (and migrate) the database named by a `sqlite:///path` URL."""
    if database_url.startswith("sqlite:///"):
        from pathlib import Path

        return await SqliteRepository.open(Path(database_url.removeprefix("sqlite:///")))
    raise ValueError("unsupported DATABASE_URL scheme")


__all__ = ["Repository", "SqliteRepository", "open_repository"]
