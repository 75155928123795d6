"""The rules of selling credits (bot/domain/payments.py), without Telegram or a database: what an
invoice carries, what a pre-checkout query is answered, what reconciliation records, and how it
pages through Telegram's list of transactions."""

from __future__ import annotations

import time

import pytest

from bot.config import CreditPack
from bot.domain.access import AccessPolicy
from bot.domain.model import Refusal, UserRecord
from bot.domain.payments import PaymentReconciler, PaymentService, StarsRefundFailed
from bot.domain.stars import (
    InvoicePayload,
    Payment,
    PaymentStats,
    PurchaseRecorded,
    RefundRecorded,
    StarTransaction,
    TransactionKind,
)

pytestmark = pytest.mark.unit

BUYER = 42
PACKS = (CreditPack(10, 100), CreditPack(50, 450))


class MemoryStore:
    """PaymentStore in a dict: what the rules need of storage, nothing more."""

    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.balances: dict[int, int] = {}
        self.banned: set[int] = set()

    async def record_purchase(
        self, payment: Payment, *, referral_credits: int, now: float, telling_until: float
    ) -> PurchaseRecorded | None:
        if payment.charge_id in self.payments:
            return None
        self.payments[payment.charge_id] = payment
        balance = self.balances.get(payment.payer_id, 0) + payment.credits
        self.balances[payment.payer_id] = balance
        return PurchaseRecorded(payment=payment, balance=balance)

    async def claim_untold_purchases(
        self, *, now: float, telling_until: float, limit: int
    ) -> list[Payment]:
        return []  # the confirmations are SQL's (tests/test_storage_payments.py)

    async def mark_told(self, charge_id: str, now: float) -> None:
        pass

    async def payment(self, charge_id: str) -> Payment | None:
        return self.payments.get(charge_id)

    async def known_payments(self, charge_ids: list[str]) -> dict[str, Payment]:
        return {c: self.payments[c] for c in charge_ids if c in self.payments}

    async def record_refund(self, charge_id: str, now: float) -> RefundRecorded | None:
        payment = self.payments.get(charge_id)
        if payment is None or payment.refunded_at is not None:
            return None
        self.payments[charge_id] = payment.model_copy(update={"refunded_at": now})
        before = self.balances.get(payment.payer_id, 0)
        after = max(before - payment.credits, 0)
        self.balances[payment.payer_id] = after
        return RefundRecorded(payment=payment, taken=before - after, balance=after)

    async def payment_stats(self, since: float) -> PaymentStats:
        return PaymentStats(purchases=0, stars_in=0, refunds=0, stars_out=0)

    async def balance(self, payer_id: int) -> int:
        return self.balances.get(payer_id, 0)

    async def is_banned(self, payer_id: int) -> bool:
        return payer_id in self.banned

    async def get_user(self, user_id: int) -> UserRecord | None:
        return None


def service(store: MemoryStore, packs: tuple[CreditPack, ...] = PACKS, **policy: object):
    return PaymentService(store=store, packs=packs, policy=AccessPolicy(**policy))  # type: ignore[arg-type]


def payload(buyer: int = BUYER, credits: int = 10, stars: int = 100) -> str:
    return InvoicePayload(buyer, credits, stars).encode()


@pytest.mark.parametrize(
    "text",
    ["", "credits:1:2", "credits:a:1:1", "credits:1:0:5", "credits:1:5:0", "other:1:2:3", None],
)
def test_a_payload_that_is_not_ours_is_not_read(text: str | None) -> None:
    assert InvoicePayload.parse(text) is None


def test_a_payload_names_the_buyer_and_the_pack_as_offered() -> None:
    invoice = InvoicePayload(BUYER, 10, 100)
    assert InvoicePayload.parse(invoice.encode()) == invoice
    assert len(InvoicePayload(-(10**18), 999_999_999, 999_999_999).encode()) <= 128


async def test_an_invoice_is_made_only_for_a_pack_on_sale_to_someone_who_may_buy() -> None:
    store = MemoryStore()
    assert await service(store).invoice(BUYER, 10) == InvoicePayload(BUYER, 10, 100)
    assert await service(store).invoice(BUYER, 11) == Refusal(key="buy_pack_gone")
    assert await service(store, ()).invoice(BUYER, 10) == Refusal(key="buy_nothing_for_sale")
    store.banned.add(BUYER)
    assert await service(store).invoice(BUYER, 10) == Refusal(key="buy_banned")
    private = service(MemoryStore(), allowed_user_ids=frozenset({7}))
    assert await private.invoice(BUYER, 10) == Refusal(key="not_allowed")


@pytest.mark.parametrize(
    ("user", "invoice", "currency", "total", "key"),
    [
        (BUYER, payload(), "XTR", 100, None),
        (BUYER, payload(credits=50, stars=450), "XTR", 450, None),
        (BUYER, payload(), "USD", 100, "checkout_unknown"),
        (BUYER, "someone else's", "XTR", 100, "checkout_unknown"),
        (7, payload(), "XTR", 100, "checkout_not_yours"),
        (BUYER, payload(stars=90), "XTR", 90, "checkout_price_changed"),  # the price went up
        (BUYER, payload(), "XTR", 90, "checkout_price_changed"),
        (BUYER, payload(credits=20, stars=180), "XTR", 180, "checkout_price_changed"),  # gone
    ],
)
async def test_a_pre_checkout_query_is_answered_by_the_packs_on_sale_now(
    user: int, invoice: str, currency: str, total: int, key: str | None
) -> None:
    refusal = await service(MemoryStore()).check_checkout(user, invoice, currency, total)
    assert (refusal.key if refusal else None) == key


async def test_a_banned_buyer_is_refused_at_checkout() -> None:
    store = MemoryStore()
    store.banned.add(BUYER)
    refusal = await service(store).check_checkout(BUYER, payload(), "XTR", 100)
    assert refusal == Refusal(key="checkout_banned")


async def test_a_payment_for_no_invoice_of_ours_is_not_credited() -> None:
    store = MemoryStore()
    outcome = await service(store).record(
        charge_id="c1", payload="x", currency="XTR", stars=5, paid_at=0, source="update"
    )
    assert outcome == Refusal(key="payment_unmatched")
    assert store.payments == {}


async def test_a_payment_credits_what_its_invoice_offered_even_after_prices_change() -> None:
    store = MemoryStore()
    outcome = await service(store, (CreditPack(10, 120),)).record(
        charge_id="c1", payload=payload(), currency="XTR", stars=100, paid_at=0, source="update"
    )
    assert isinstance(outcome, PurchaseRecorded) and outcome.balance == 10
    assert store.payments["c1"].stars == 100


async def test_a_refund_gives_the_stars_back_before_taking_credits() -> None:
    store = MemoryStore()
    rules = service(store)
    await rules.record(
        charge_id="c1", payload=payload(), currency="XTR", stars=100, paid_at=0, source="update"
    )
    given_back: list[tuple[int, str]] = []

    async def refused(user_id: int, charge_id: str) -> None:
        raise StarsRefundFailed("Bad Request: something")

    async def refund_stars(user_id: int, charge_id: str) -> None:
        given_back.append((user_id, charge_id))

    assert await rules.refund("c1", refused) == Refusal(
        key="refund_refused", values={"reason": "Bad Request: something"}
    )
    assert store.balances[BUYER] == 10  # nothing changed
    done = await rules.refund("c1", refund_stars)
    assert isinstance(done, RefundRecorded) and done.taken == 10 and done.balance == 0
    assert given_back == [(BUYER, "c1")]
    assert await rules.refund("c1", refund_stars) == Refusal(
        key="refund_already", values={"charge_id": "c1"}
    )
    assert await rules.refund("nope", refund_stars) == Refusal(
        key="refund_unknown", values={"charge_id": "nope"}
    )
    assert given_back == [(BUYER, "c1")]  # never asked Telegram twice


def transaction(
    charge_id: str, kind: TransactionKind = TransactionKind.PAYMENT, **values: object
) -> StarTransaction:
    defaults: dict[str, object] = {"stars": 100, "date": time.time(), "user_id": BUYER}
    if kind is TransactionKind.PAYMENT:
        defaults["payload"] = payload()
    return StarTransaction(charge_id=charge_id, kind=kind, **{**defaults, **values})  # type: ignore[arg-type]


async def test_reconciliation_records_what_is_missing_and_applies_refunds_made_elsewhere() -> None:
    store = MemoryStore()
    rules = service(store)
    await rules.record(
        charge_id="known", payload=payload(), currency="XTR", stars=100, paid_at=0, source="update"
    )
    recorded = await rules.reconcile(
        [
            transaction("known"),
            transaction("lost"),
            transaction("foreign", payload="not ours"),
            transaction("paid-and-refunded"),
            transaction("paid-and-refunded", TransactionKind.REFUND),
            transaction("known", TransactionKind.REFUND),
            transaction("withdrawal", TransactionKind.OTHER),
        ]
    )
    assert [purchase.payment.charge_id for purchase in recorded] == ["lost"]
    assert sorted(store.payments) == ["known", "lost"]
    assert store.payments["known"].refunded_at is not None
    assert store.balances[BUYER] == 10  # +10 known, -10 its refund, +10 lost
    assert await rules.reconcile([transaction("lost")]) == []  # the next pass: nothing new


class Listing:
    """Telegram's list of transactions, in either order, one page per call."""

    def __init__(self, transactions: list[StarTransaction]) -> None:
        self.transactions = transactions
        self.pages: list[int] = []

    async def __call__(self, offset: int, limit: int) -> list[StarTransaction]:
        self.pages.append(offset)
        return self.transactions[offset : offset + limit]


async def ignore(_: object) -> None:
    pass


@pytest.mark.parametrize("newest_first", [True, False])
async def test_reconciliation_reads_every_page_back_to_the_horizon(newest_first: bool) -> None:
    now = time.time()
    # 250 payments an hour apart: only the newest 24 are within a one-day horizon.
    history = [transaction(f"c{n}", date=now - n * 3600) for n in range(250)]
    listing = Listing(history if newest_first else history[::-1])
    store = MemoryStore()
    reconciler = PaymentReconciler(
        service=service(store),
        fetch=listing,
        on_recorded=ignore,
        tell=ignore,
        every=60,
        confirm_every=60,
        horizon=86_400,
    )
    recorded = await reconciler.reconcile()
    if newest_first:  # the first page reaches past the horizon: older pages were seen before
        assert listing.pages == [0]
        assert recorded == 100
    else:  # oldest first: the newest are on the last page
        assert listing.pages == [0, 100, 200]
        assert recorded == 250
    assert "c0" in store.payments
    # The next pass: newest first, the first page again; oldest first, the pages wholly past
    # the horizon are not read again.
    listing.pages.clear()
    assert await reconciler.reconcile() == 0
    assert listing.pages == ([0] if newest_first else [200])


async def test_a_list_that_ignores_its_offset_is_read_once() -> None:
    page = [transaction(f"c{n}") for n in range(100)]

    async def same_page(offset: int, limit: int) -> list[StarTransaction]:
        return page

    reconciler = PaymentReconciler(
        service=service(MemoryStore()),
        fetch=same_page,
        on_recorded=ignore,
        tell=ignore,
        every=60,
        confirm_every=60,
    )
    assert await reconciler.reconcile() == 100
