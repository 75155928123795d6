"""Stars payments in storage (storage/payments.py), on SQLite and PostgreSQL: a charge id credits
once however often and from however many processes it is recorded; a referrer is credited on
the first purchase only; a refund takes back what is left of the pack, once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.stars import Payment, PurchaseRecorded
from storage import open_repository
from storage.repository import Repository
from tests.test_storage import BACKENDS, Database, empty_database, sqlite_at_version

BUYER = 501
REFERRER = 502


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with empty_database(request.param, tmp_path) as database:
        yield database


def payment(charge_id: str, *, payer_id: int = BUYER, credits: int = 10, stars: int = 100):
    return Payment(
        charge_id=charge_id,
        payer_id=payer_id,
        credits=credits,
        stars=stars,
        payload=f"credits:{payer_id}:{credits}:{stars}",
        created_at=time.time(),
    )


async def ledger(database: Database) -> list[tuple[int, int, str, str]]:
    repository = database.opened[0]
    async with repository._reading() as db:  # type: ignore[attr-defined]
        rows = await db.fetch_all(
            "SELECT payer_id, delta, reason, ref FROM credit_ledger ORDER BY id"
        )
    return [tuple(row) for row in rows]


async def refer(repository: Repository, user_id: int, referrer_id: int) -> None:
    # Recording referrals (/start ref<id>) is not this module's: the row is written directly.
    async with repository._accepting() as db:  # type: ignore[attr-defined]
        await db.execute(
            "INSERT INTO referrals (user_id, referrer_id, created_at) VALUES ($1, $2, $3)",
            user_id,
            referrer_id,
            time.time(),
        )


async def test_a_payment_recorded_twice_credits_once(database: Database) -> None:
    repo = await database.connect()
    first = await repo.record_purchase(
        payment("ch-1"), referral_credits=0, now=time.time(), telling_until=0
    )
    assert isinstance(first, PurchaseRecorded) and first.balance == 10
    again = await repo.record_purchase(
        payment("ch-1"), referral_credits=0, now=time.time(), telling_until=0
    )
    assert again is None
    assert await repo.balance(BUYER) == 10
    assert await ledger(database) == [(BUYER, 10, "purchase", "ch-1")]
    stored = await repo.payment("ch-1")
    assert stored is not None and stored.stars == 100 and stored.refunded_at is None


async def test_replicas_recording_one_payment_at_once_credit_it_once(database: Database) -> None:
    replicas = [await database.connect() for _ in range(4)]
    outcomes = await asyncio.gather(
        *[
            replica.record_purchase(
                payment("ch-race"), referral_credits=0, now=time.time(), telling_until=0
            )
            for replica in replicas
            for _ in range(3)
        ]
    )
    assert sum(outcome is not None for outcome in outcomes) == 1
    assert await replicas[0].balance(BUYER) == 10


async def test_the_referrer_is_credited_on_the_first_purchase_only(database: Database) -> None:
    repo = await database.connect()
    await refer(repo, BUYER, REFERRER)
    first = await repo.record_purchase(
        payment("ch-1"), referral_credits=5, now=time.time(), telling_until=0
    )
    assert first is not None and first.referrer_id == REFERRER and first.referrer_balance == 5
    second = await repo.record_purchase(
        payment("ch-2"), referral_credits=5, now=time.time(), telling_until=0
    )
    assert second is not None and second.referrer_id is None
    assert await repo.balance(REFERRER) == 5 and await repo.balance(BUYER) == 20
    assert (REFERRER, 5, "referral", str(BUYER)) in await ledger(database)


async def test_no_referral_bonus_when_it_is_off_or_without_a_referrer(database: Database) -> None:
    repo = await database.connect()
    await refer(repo, BUYER, REFERRER)
    off = await repo.record_purchase(
        payment("ch-1"), referral_credits=0, now=time.time(), telling_until=0
    )
    assert off is not None and off.referrer_id is None
    # A later purchase is not the first any more, even with the bonus turned on.
    later = await repo.record_purchase(
        payment("ch-2"), referral_credits=5, now=time.time(), telling_until=0
    )
    assert later is not None and later.referrer_id is None
    nobody = await repo.record_purchase(
        payment("ch-3", payer_id=777), referral_credits=5, now=time.time(), telling_until=0
    )
    assert nobody is not None and nobody.referrer_id is None
    assert await repo.balance(REFERRER) == 0


async def test_a_refund_takes_back_what_is_left_once(database: Database) -> None:
    repo = await database.connect()
    await repo.record_purchase(
        payment("ch-1"), referral_credits=0, now=time.time(), telling_until=0
    )
    await repo.move_credits(BUYER, -7, reason="spent", ref="job-1", now=time.time())
    refund = await repo.record_refund("ch-1", time.time())
    assert refund is not None and refund.taken == 3 and refund.balance == 0
    assert await repo.record_refund("ch-1", time.time()) is None
    assert await repo.record_refund("ch-unknown", time.time()) is None
    assert await repo.balance(BUYER) == 0
    stored = await repo.payment("ch-1")
    assert stored is not None and stored.refunded_at is not None
    assert (BUYER, -3, "refund", "ch-1") in await ledger(database)


async def test_known_payments_and_the_sales_figures(database: Database) -> None:
    repo = await database.connect()
    since = time.time() - 1
    await repo.record_purchase(
        payment("ch-1"), referral_credits=0, now=time.time(), telling_until=0
    )
    await repo.record_purchase(
        payment("ch-2", credits=50, stars=450), referral_credits=0, now=time.time(), telling_until=0
    )
    await repo.record_refund("ch-1", time.time())
    known = await repo.known_payments(["ch-1", "ch-2", "ch-3"])
    assert sorted(known) == ["ch-1", "ch-2"] and known["ch-1"].refunded_at is not None
    assert await repo.known_payments([]) == {}
    stats = await repo.payment_stats(since)
    assert (stats.purchases, stats.stars_in, stats.refunds, stats.stars_out) == (2, 550, 1, 100)
    assert stats.stars_earned == 450
    later = await repo.payment_stats(time.time() + 60)
    assert (later.purchases, later.refunds) == (0, 0)


async def test_an_untold_purchase_is_claimed_by_one_process_until_its_hold_lapses(
    database: Database,
) -> None:
    """The recorder holds the confirmation; once the hold lapses it is claimable, by one claimer
    at a time (two connections stand for two processes); told, it is never claimed again."""
    first, second = await database.connect(), await database.connect()
    now = time.time()
    await first.record_purchase(
        payment("ch-1"), referral_credits=0, now=now, telling_until=now + 60
    )
    await first.record_purchase(payment("ch-2"), referral_credits=0, now=now, telling_until=now)
    assert await first.claim_untold_purchases(now=now - 1, telling_until=now + 30, limit=5) == []
    claims = await asyncio.gather(
        *[
            replica.claim_untold_purchases(now=now, telling_until=now + 30, limit=5)
            for replica in (first, second)
        ]
    )
    assert sorted(p.charge_id for claim in claims for p in claim) == ["ch-2"]
    later = await second.claim_untold_purchases(now=now + 61, telling_until=now + 90, limit=5)
    assert [p.charge_id for p in later] == ["ch-1", "ch-2"]  # both holds lapsed: oldest first
    await first.mark_told("ch-1", now + 62)
    await first.mark_told("ch-1", now + 63)  # told twice: the first time stands
    again = await first.claim_untold_purchases(now=now + 200, telling_until=now + 230, limit=5)
    assert [p.charge_id for p in again] == ["ch-2"]
    await first.mark_told("ch-2", now + 201)
    assert (
        await first.claim_untold_purchases(now=now + 999, telling_until=now + 9999, limit=5) == []
    )


async def test_purchases_recorded_before_the_confirmations_migration_count_as_told(
    tmp_path: Path,
) -> None:
    # A SQLite database as the release before left it (schema 11): its buyers were told then.
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite_at_version(path, 11)) as old, old:
        old.execute(
            """INSERT INTO payments (charge_id, payer_id, credits, stars, payload, created_at)
               VALUES ('ch-old', 7, 10, 100, 'credits:7:10:100', 1)"""
        )
    repository = await open_repository(f"sqlite:///{path}")
    try:
        now = time.time()
        assert await repository.claim_untold_purchases(now=now, telling_until=now, limit=5) == []
    finally:
        await repository.close()
