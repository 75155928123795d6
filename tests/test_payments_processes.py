"""Stars payments across processes: `python -m bot` killed between receiving a successful payment
and crediting it (restarted, it credits once), and two webhook replicas on one PostgreSQL
database receiving copies of the same payments at once (each credited once, confirmed once),
a lost one included (both replicas reconcile it; one records it)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.domain.stars import InvoicePayload
from playground.fake_telegram import Call, FakeTelegram
from storage.repository import Repository
from tests.conftest import API_KEY, BOT_TOKEN, BotDatabase, became_healthy
from tests.fakes.load_balancer import LoadBalancer
from tests.processes import ROOT, BotProcess, bot_environment, bot_processes
from tests.test_replicas import (
    TEST_DATABASE_URL,
    Replica,
    database_url,  # noqa: F401 - a fixture
    replica_environment,
    start_replica,
    stop_replicas,
)

BUYER = 1001
PACKS = "10:100,50:450"
SUPPORT = "@LumaSupport"


async def invoice_for(
    tg: FakeTelegram, credits: int = 10, *, user_id: int = BUYER, seconds: float = 30
) -> dict:
    """/buy, then the pack's button: the invoice the bot sent (the bot may still be starting)."""
    request = tg.user_sends("/buy", user_id=user_id)

    def packs(call: Call) -> bool:
        replied = (call.params.get("reply_parameters") or {}).get("message_id")
        return (
            call.ok
            and call.result["chat"]["id"] == user_id
            and str(replied) == str(request["message_id"])
        )

    shown = await tg.wait_for_call("sendMessage", packs, timeout=seconds)
    before = len([i for i in tg.invoices if i.chat_id == user_id])
    tg.press_button(shown.result, f"buy:{credits}", user_id=user_id)
    await tg.wait_until(
        lambda: len([i for i in tg.invoices if i.chat_id == user_id]) > before, timeout=seconds
    )
    return [i for i in tg.invoices if i.chat_id == user_id][before].message


def confirmations(tg: FakeTelegram, chat_id: int) -> list[Call]:
    return [
        call
        for call in tg.calls_of("sendMessage")
        if call.ok
        and call.result["chat"]["id"] == chat_id
        and "Payment received" in call.result["text"]
    ]


# --- killed between receiving the payment and crediting it -----------------------------------


@pytest.fixture
async def sellers(
    tg: FakeTelegram, emulator: Any, database: BotDatabase, tmp_path: Path
) -> AsyncIterator[tuple[Callable[[], Awaitable[BotProcess]], Repository]]:
    environment = bot_environment(
        tg.root, emulator.url, database.url, CREDIT_PACKS=PACKS, SUPPORT_CONTACT=SUPPORT
    )
    async with bot_processes(environment, database.url, tmp_path) as pair:
        yield pair


@contextlib.asynccontextmanager
async def payments_locked(database: BotDatabase) -> AsyncIterator[None]:
    """Nobody can record a payment meanwhile: on SQLite the whole database is write-locked, on
    PostgreSQL the `payments` table (reads go on)."""
    if database.path is not None:
        connection = sqlite3.connect(database.path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    assert TEST_DATABASE_URL is not None
    connection = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        async with connection.transaction():
            await connection.execute(f'LOCK TABLE "{database.schema}".payments IN EXCLUSIVE MODE')
            yield
    finally:
        await connection.close()


def successful_payment(invoice: dict, charge_id: str, payload: str, stars: int) -> dict:
    """The message Telegram sends the bot once a user paid (as the fake's user_pays does)."""
    return {
        "message_id": 10_000 + int(invoice["message_id"]),
        "from": {"id": BUYER, "is_bot": False, "first_name": "Ann", "username": "ann"},
        "chat": dict(invoice["chat"]),
        "date": int(time.time()),
        "successful_payment": {
            "currency": "XTR",
            "total_amount": stars,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        },
    }


async def test_killed_between_receiving_a_payment_and_crediting_it_credits_once(
    tg: FakeTelegram, database: BotDatabase, sellers: Any
) -> None:
    start, repository = sellers
    first = await start()
    invoice = await invoice_for(tg)
    # Paid, but the update is held back: it is sent below, while nobody can record it.
    attempt = await tg.user_pays(invoice, user_id=BUYER, deliver=False)
    assert attempt.paid and attempt.charge_id is not None
    await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=15)  # pre-checkout done
    (sent,) = tg.invoices
    async with payments_locked(database):
        update = tg.inject_update(
            {"message": successful_payment(invoice, attempt.charge_id, sent.payload, 100)}
        )
        await tg.wait_for_call(
            "getUpdates",
            lambda c: c.ok and any(u["update_id"] == update["update_id"] for u in c.result),
            timeout=15,
        )
        await first.kill()  # received; not credited (it could not be)
        assert await repository.balance(BUYER) == 0
    await start()  # Telegram re-sends the unconfirmed update; reconciliation finds it too
    await tg.wait_until(lambda: confirmations(tg, BUYER), timeout=30)
    await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=15)
    await asyncio.sleep(1.0)  # a second credit or confirmation, if any, would show by now
    assert await repository.balance(BUYER) == 10
    assert len(confirmations(tg, BUYER)) == 1
    payment = await repository.payment(attempt.charge_id)
    assert payment is not None and payment.credits == 10 and payment.stars == 100
    assert InvoicePayload.parse(payment.payload) == InvoicePayload(BUYER, 10, 100)
    purchases = [
        row for row in (await database.tables())["credit_ledger"] if row["reason"] == "purchase"
    ]
    assert [(row["payer_id"], row["delta"], row["ref"]) for row in purchases] == [
        (BUYER, 10, attempt.charge_id)
    ]


async def test_killed_after_crediting_before_the_confirmation_the_buyer_is_still_told(
    tg: FakeTelegram, emulator: Any, database: BotDatabase, tmp_path: Path
) -> None:
    """Credited, then killed while the confirmation was on its way (it never arrived): after
    the restart the buyer is told once, credited once."""
    environment = bot_environment(
        tg.root,
        emulator.url,
        database.url,
        CREDIT_PACKS=PACKS,
        SUPPORT_CONTACT=SUPPORT,
        PAYMENTS_CONFIRM_RETRY_SECONDS="1",
    )
    async with bot_processes(environment, database.url, tmp_path) as (start, repository):
        first = await start()
        invoice = await invoice_for(tg)
        tg.delay_next("sendMessage", 60)  # the confirmation is held, then given up by the kill
        attempt = await tg.user_pays(invoice, user_id=BUYER)
        assert attempt.paid and attempt.charge_id is not None
        await tg.wait_until(lambda: tg.faults_left("sendMessage") == 0, timeout=15)
        assert await repository.balance(BUYER) == 10
        await first.kill()
        assert confirmations(tg, BUYER) == []
        await start()
        await tg.wait_until(lambda: confirmations(tg, BUYER), timeout=30)
        await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=15)
        await asyncio.sleep(2.5)  # a second confirmation, if any, would show by now
        assert len(confirmations(tg, BUYER)) == 1
        assert await repository.balance(BUYER) == 10
        payment = await repository.payment(attempt.charge_id)
        assert payment is not None and payment.credits == 10


# --- two webhook replicas receiving the same payments ----------------------------------------

BUYERS = range(5001, 5007)
RECORDED = re.compile(r"payment \S+ \(\d+ Stars\) credited")
LOST_BUYER = 5100


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set: PostgreSQL")
async def test_two_replicas_receiving_the_same_payments_credit_each_once(
    tg: FakeTelegram,
    emulator: Any,
    database_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    tg.duplicate_rate = 1.0  # every update delivered twice, to either replica
    tg.set_webhook_interval = 0
    replicas: list[Replica] = []
    async with LoadBalancer([]).running() as balancer:
        environment = replica_environment(
            TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            TELEGRAM_API_URL=tg.root,
            TELEGRAM_WEBHOOK="true",
            WEBHOOK_SECRET="replica-test-secret",
            PUBLIC_URL=str(balancer.url),
            LUMA_API_KEY=API_KEY,
            LUMA_API_URL=str(emulator.url),
            DATABASE_URL=database_url,
            CREDIT_PACKS=PACKS,
            SUPPORT_CONTACT=SUPPORT,
            PAYMENTS_RECONCILE_SECONDS="1",
        )
        database: asyncpg.Connection | None = None
        try:
            for number in range(2):
                replicas.append(await start_replica(environment, tmp_path, number))
            for replica in replicas:
                healthy = await became_healthy(replica.url, replica.process, seconds=30)
                assert healthy, f"replica {replica.port}:\n{replica.log.read_text()}"
            balancer.targets = [replica.url for replica in replicas]
            deploy = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "set-webhook", env=environment, cwd=ROOT
            )
            assert await deploy.wait() == 0

            invoices = {buyer: await invoice_for(tg, user_id=buyer) for buyer in BUYERS}
            lost_invoice = await invoice_for(tg, 50, user_id=LOST_BUYER)
            attempts = await asyncio.gather(
                *[
                    tg.user_pays(invoice, user_id=buyer, deliver_twice=True)
                    for buyer, invoice in invoices.items()
                ],
                tg.user_pays(lost_invoice, user_id=LOST_BUYER, deliver=False),
            )
            assert all(attempt.paid for attempt in attempts), [a.error for a in attempts]
            everyone = [*BUYERS, LOST_BUYER]
            await tg.wait_until(
                lambda: all(confirmations(tg, buyer) for buyer in everyone), timeout=60
            )
            await tg.wait_for_webhook_idle(timeout=30)
            await asyncio.sleep(2.5)  # two more reconciliation passes on each replica

            database = await asyncpg.connect(database_url)
            balances = dict(await database.fetch("SELECT payer_id, balance FROM credits"))
            assert balances == {**dict.fromkeys(BUYERS, 10), LOST_BUYER: 50}
            assert await database.fetchval("SELECT count(*) FROM payments") == len(everyone)
            purchases = await database.fetchval(
                "SELECT count(*) FROM credit_ledger WHERE reason = 'purchase'"
            )
            assert purchases == len(everyone)
            for buyer in everyone:
                assert len(confirmations(tg, buyer)) == 1, buyer
            # Each payment was recorded by one replica, whichever it was.
            credited = [
                len(RECORDED.findall(replica.log.read_text(errors="replace")))
                for replica in replicas
            ]
            assert sum(credited) == len(everyone), credited
            # And copies did reach a replica after the payment was recorded (by either).
            copies = sum(
                replica.log.read_text(errors="replace").count("was recorded before")
                for replica in replicas
            )
            assert copies >= len(BUYERS), copies
        finally:
            if database is not None:
                await database.close()
            await stop_replicas(replicas)
