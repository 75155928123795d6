"""Moving credits: the one way a persistent balance (`credits`) changes, with its ledger row
(`credit_ledger`) in the same transaction.

Called inside the caller's transaction, which must be `_accepting()` whenever the movement takes
credits away (so no other process spends the same credits meanwhile; PostgreSQL: the accept
advisory lock, SQLite: BEGIN IMMEDIATE). A movement is named by (reason, ref), unique in the
ledger: recorded twice (a re-sent update, two replicas, a crash and a retry) it moves once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # storage/sql.py imports this module
    from storage.sql import Session


async def balance_of(db: Session, payer_id: int) -> int:
    row = await db.fetch_one("SELECT balance FROM credits WHERE payer_id = $1", payer_id)
    return int(row["balance"]) if row is not None else 0


async def move_credits(
    db: Session, payer_id: int, delta: int, *, reason: str, ref: str, now: float
) -> int | None:
    """Add `delta` credits (negative: take them away, never below 0: what is taken is what is
    there, and the ledger row says what was actually taken). The new balance, or None if this
    (reason, ref) was recorded before and nothing moved."""
    balance = await balance_of(db, payer_id)
    applied = max(delta, -balance)
    inserted = await db.execute(
        """INSERT INTO credit_ledger (payer_id, delta, reason, ref, created_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (reason, ref) DO NOTHING""",
        payer_id,
        applied,
        reason,
        ref,
        now,
    )
    if inserted != 1:
        return None
    await db.execute(
        # The inserted row is checked (balance >= 0) before the conflict is: a removal inserts 0.
        """INSERT INTO credits (payer_id, balance, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (payer_id) DO UPDATE
           SET balance = credits.balance + $4, updated_at = excluded.updated_at""",
        payer_id,
        max(applied, 0),
        now,
        applied,
    )
    return balance + applied
