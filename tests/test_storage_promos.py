"""Promo codes and referrals in the repository, on every backend: a code is redeemed once per
identity, within its uses and before it expires, with one ledger row; replicas redeeming the last
use at once give it to one; a referral is recorded only for a new user, first link winning."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.model import PromoCode, PromoOutcome
from storage.repository import Repository
from tests.test_storage import BACKENDS, Database, accept, empty_database


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with empty_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
async def repo(database: Database) -> Repository:
    return await database.connect()


def promo(
    code: str = "SPRING", credits: int = 5, uses: int | None = None, expires: float | None = None
) -> PromoCode:
    return PromoCode(
        code=code,
        credits=credits,
        uses_left=uses,
        expires_at=expires,
        created_by=9009,
        created_at=time.time(),
    )


async def test_a_code_is_redeemed_once_per_identity_with_one_ledger_row(
    repo: Repository,
) -> None:
    now = time.time()
    assert await repo.create_promo(promo(uses=10))
    first = await repo.redeem_promo("SPRING", 7, now=now)
    assert (first.outcome, first.credits, first.balance) == (PromoOutcome.REDEEMED, 5, 5)
    again = await repo.redeem_promo("SPRING", 7, now=now)
    assert again.outcome is PromoOutcome.ALREADY_REDEEMED
    assert await repo.balance(7) == 5
    # A group acting as itself is an identity of its own.
    group = await repo.redeem_promo("SPRING", -100456, now=now)
    assert (group.outcome, group.balance) == (PromoOutcome.REDEEMED, 5)
    # The movement is in the ledger as ("promo", "<code>:<payer>"): recorded once.
    assert await repo.move_credits(7, 5, reason="promo", ref="SPRING:7", now=now) is None
    [active] = await repo.active_promos(now, limit=10)
    assert (active.uses_left, active.redeemed) == (8, 2)


async def test_an_existing_code_is_never_overwritten(repo: Repository) -> None:
    assert await repo.create_promo(promo(credits=5))
    assert not await repo.create_promo(promo(credits=500, uses=1))
    redeemed = await repo.redeem_promo("SPRING", 7, now=time.time())
    assert redeemed.credits == 5


async def test_unknown_expired_and_used_up_codes_move_nothing(repo: Repository) -> None:
    now = time.time()
    await repo.create_promo(promo("OLD", expires=now - 1))
    await repo.create_promo(promo("ONCE", uses=1))
    assert (await repo.redeem_promo("NOPE", 7, now=now)).outcome is PromoOutcome.UNKNOWN
    assert (await repo.redeem_promo("OLD", 7, now=now)).outcome is PromoOutcome.EXPIRED
    assert (await repo.redeem_promo("ONCE", 8, now=now)).outcome is PromoOutcome.REDEEMED
    assert (await repo.redeem_promo("ONCE", 7, now=now)).outcome is PromoOutcome.USED_UP
    assert await repo.balance(7) == 0
    assert await repo.active_promos(now, limit=10) == []


async def test_active_codes_are_listed_newest_first_without_expired_or_used_up_ones(
    repo: Repository,
) -> None:
    now = time.time()
    for n, code in enumerate(["FIRST", "SECOND", "THIRD"]):
        await repo.create_promo(promo(code).model_copy(update={"created_at": now + n}))
    await repo.create_promo(promo("GONE", expires=now))
    assert [p.code for p in await repo.active_promos(now, limit=10)] == [
        "THIRD",
        "SECOND",
        "FIRST",
    ]
    assert [p.code for p in await repo.active_promos(now, limit=2)] == ["THIRD", "SECOND"]


async def test_the_last_use_of_a_code_goes_to_one_replica(database: Database) -> None:
    first, second = await database.connect(), await database.connect()
    await first.create_promo(promo(uses=1))
    now = time.time()
    results = await asyncio.gather(
        *[(first if n % 2 else second).redeem_promo("SPRING", 100 + n, now=now) for n in range(12)]
    )
    outcomes = [result.outcome for result in results]
    assert outcomes.count(PromoOutcome.REDEEMED) == 1
    assert outcomes.count(PromoOutcome.USED_UP) == 11
    balances = [await first.balance(100 + n) for n in range(12)]
    assert sorted(balances) == [0] * 11 + [5]


async def test_one_identity_redeeming_at_once_on_two_replicas_is_credited_once(
    database: Database,
) -> None:
    first, second = await database.connect(), await database.connect()
    await first.create_promo(promo())
    now = time.time()
    results = await asyncio.gather(
        *[(first if n % 2 else second).redeem_promo("SPRING", 7, now=now) for n in range(8)]
    )
    assert [result.outcome for result in results].count(PromoOutcome.REDEEMED) == 1
    assert await second.balance(7) == 5


async def test_a_referral_is_recorded_once_for_a_new_user_and_never_for_oneself(
    repo: Repository,
) -> None:
    now = time.time()
    assert not await repo.record_referral(7, 7, now=now)
    assert await repo.record_referral(7, 8, now=now)
    assert not await repo.record_referral(7, 9, now=now)  # the first link wins


async def test_no_referral_for_someone_who_used_the_bot_before(repo: Repository) -> None:
    now = time.time()
    await accept(repo, 1, user_id=7)  # made a video
    assert not await repo.record_referral(7, 8, now=now)
    await repo.move_credits(9, 5, reason="promo", ref="SPRING:9", now=now)  # got credits
    assert not await repo.record_referral(9, 8, now=now)
    assert await repo.record_referral(10, 8, now=now)
