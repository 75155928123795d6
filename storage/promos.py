"""Promo codes and referrals: `PromoQueries`, a part of `SqlRepository` (storage/sql.py) run on
the same sessions, in the same SQL dialect (PostgreSQL's `$n` placeholders).

Redeeming a code is one `_accepting()` transaction (PostgreSQL: the accept advisory lock; SQLite:
BEGIN IMMEDIATE): the checks (the code, this identity's earlier redemption, expiry, uses left),
the redemption row, the use taken and the credits moved with their ledger row
(`storage.ledger.move_credits`, reason `promo`, ref `<code>:<payer>`) commit together, so two
redemptions at once of a code's last use give exactly one, and none is ever credited twice.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from bot.domain.model import PromoCode, PromoOutcome, Redemption
from storage import ledger

if TYPE_CHECKING:  # storage/sql.py imports this module
    from storage.sql import Session


class PromoQueries:
    """The promo and referral operations of `bot.domain.stores.PromoStore`."""

    if TYPE_CHECKING:  # provided by SqlRepository's backends

        def _reading(self) -> AbstractAsyncContextManager[Session]: ...

        def _writing(self) -> AbstractAsyncContextManager[Session]: ...

        def _transaction(self) -> AbstractAsyncContextManager[Session]: ...

        def _accepting(self) -> AbstractAsyncContextManager[Session]: ...

    async def create_promo(self, promo: PromoCode) -> bool:
        async with self._writing() as db:
            inserted = await db.execute(
                """INSERT INTO promo_codes (code, credits, uses_left, expires_at, created_by,
                                            created_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (code) DO NOTHING""",
                promo.code,
                promo.credits,
                promo.uses_left,
                promo.expires_at,
                promo.created_by,
                promo.created_at,
            )
        return inserted == 1

    async def redeem_promo(self, code: str, payer_id: int, *, now: float) -> Redemption:
        async with self._accepting() as db:
            promo = await db.fetch_one(
                "SELECT credits, uses_left, expires_at FROM promo_codes WHERE code = $1", code
            )
            if promo is None:
                return Redemption(outcome=PromoOutcome.UNKNOWN)
            earlier = await db.fetch_one(
                "SELECT 1 FROM promo_redemptions WHERE code = $1 AND payer_id = $2",
                code,
                payer_id,
            )
            if earlier is not None:
                return Redemption(outcome=PromoOutcome.ALREADY_REDEEMED)
            if promo["expires_at"] is not None and promo["expires_at"] <= now:
                return Redemption(outcome=PromoOutcome.EXPIRED)
            if promo["uses_left"] is not None and promo["uses_left"] <= 0:
                return Redemption(outcome=PromoOutcome.USED_UP)
            credits = int(promo["credits"])
            balance = await ledger.move_credits(
                db, payer_id, credits, reason="promo", ref=f"{code}:{payer_id}", now=now
            )
            if balance is None:  # the ledger has it already: it never moves twice
                return Redemption(outcome=PromoOutcome.ALREADY_REDEEMED)
            await db.execute(
                """INSERT INTO promo_redemptions (code, payer_id, redeemed_at)
                   VALUES ($1, $2, $3)""",
                code,
                payer_id,
                now,
            )
            await db.execute(
                """UPDATE promo_codes SET uses_left = uses_left - 1
                   WHERE code = $1 AND uses_left IS NOT NULL""",
                code,
            )
            return Redemption(outcome=PromoOutcome.REDEEMED, credits=credits, balance=balance)

    async def active_promos(self, now: float, *, limit: int) -> list[PromoCode]:
        async with self._reading() as db:
            rows = await db.fetch_all(
                """SELECT code, credits, uses_left, expires_at, created_by, created_at,
                          (SELECT COUNT(*) FROM promo_redemptions
                           WHERE promo_redemptions.code = promo_codes.code) AS redeemed
                   FROM promo_codes
                   WHERE (expires_at IS NULL OR expires_at > $1)
                     AND (uses_left IS NULL OR uses_left > 0)
                   ORDER BY created_at DESC, code
                   LIMIT $2""",
                now,
                limit,
            )
        return [PromoCode.model_validate(dict(row)) for row in rows]

    async def record_referral(self, user_id: int, referrer_id: int, *, now: float) -> bool:
        if user_id == referrer_id:
            return False
        async with self._transaction() as db:
            # A user's own requests always carry their user_id (the payer is then the user).
            seen = await db.fetch_one(
                """SELECT 1 WHERE EXISTS (SELECT 1 FROM generations WHERE user_id = $1)
                      OR EXISTS (SELECT 1 FROM credit_ledger WHERE payer_id = $1)
                      OR EXISTS (SELECT 1 FROM payments WHERE payer_id = $1)""",
                user_id,
            )
            if seen is not None:
                return False
            inserted = await db.execute(
                """INSERT INTO referrals (user_id, referrer_id, created_at) VALUES ($1, $2, $3)
                   ON CONFLICT (user_id) DO NOTHING""",
                user_id,
                referrer_id,
                now,
            )
        return inserted == 1
