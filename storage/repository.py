"""The whole of what one database offers: every interface the bot's parts ask of storage
(bot/domain/stores.py, bot/telegram/updates.py), implemented by storage/sqlite.py and
storage/postgres.py through storage/sql.py. Only the composition root holds all of it."""

from __future__ import annotations

from typing import Protocol

from bot.domain.stores import (
    AdminQueries,
    AlbumStore,
    CreditStore,
    GenerationStore,
    HealthProbe,
    PaymentStore,
    PromoStore,
)
from bot.telegram.updates import UpdateLog


class Repository(
    GenerationStore,
    CreditStore,
    PromoStore,
    PaymentStore,
    AlbumStore,
    AdminQueries,
    HealthProbe,
    UpdateLog,
    Protocol,
):
    async def close(self) -> None: ...
