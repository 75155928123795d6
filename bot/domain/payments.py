"""Selling credits for Telegram Stars: the packs on offer, what an invoice may be paid for, how a
payment becomes credits exactly once, refunds, and finding payments whose update was lost.

The flow (Telegram's, for Stars: no payment provider, currency XTR):
1. /buy shows the packs (`CREDIT_PACKS`); a pack becomes an invoice whose payload names the
   buyer and the pack as offered (`InvoicePayload`).
2. Before taking the Stars, Telegram asks (pre_checkout_query, answered within 10 seconds):
   `check_checkout` says yes only if the pack is still for sale at that price, the payer is the
   buyer the invoice was made for, and they may use the bot (not banned, not left out by an
   allowlist). Any replica can answer: it needs the settings and one database read.
3. The payment arrives (message.successful_payment): `record` stores it and credits the buyer in
   one transaction keyed by the charge id, so copies of it credit once; the first purchase of a
   user someone referred also credits the referrer (`REFERRAL_CREDITS`).
4. An update can still be lost (the bot down for longer than Telegram keeps updates, a crash
   Telegram did not notice): `PaymentReconciler` reads Telegram's own list of Stars
   transactions at start-up and periodically and records what is missing, through the same
   idempotent path (the payload says whom to credit and with what).
5. The buyer is told of every purchase at least once: whoever records it holds its
   confirmation for `confirm_retry` seconds; one not marked told by then (the process died,
   Telegram was unreachable) is claimed and told by the reconciler's confirmation pass.
6. /refund gives the Stars back (Telegram) and takes the pack's credits back, as many as are
   left (README, "Selling credits"). A failed video gives back credits, never Stars.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.config import CreditPack
from bot.domain.access import AccessPolicy
from bot.domain.generations import report_periods
from bot.domain.model import Refusal
from bot.domain.stars import (
    STARS,
    InvoicePayload,
    Payment,
    PaymentStats,
    PurchaseRecorded,
    RefundRecorded,
    StarTransaction,
    TransactionKind,
)
from bot.domain.stores import PaymentStore
from bot.metrics import Metrics

log = logging.getLogger(__name__)

# Gives a payment's Stars back (refundStarPayment): returns once Telegram has (or had) done it,
# raises `StarsRefundFailed` when it refuses.
RefundStars = Callable[[int, str], Awaitable[None]]
# One page of the bot's Stars transactions: (offset, limit) -> at most `limit` entries.
FetchTransactions = Callable[[int, int], Awaitable[list[StarTransaction]]]
OnRecorded = Callable[[PurchaseRecorded], Awaitable[None]]
# Tells a buyer of a purchase recorded earlier whose confirmation never went out, and marks it
# told (`PaymentService.told`) unless Telegram could not be reached (then it is tried again).
TellBuyer = Callable[[Payment], Awaitable[None]]


class StarsRefundFailed(Exception):
    """Telegram refused to give the Stars back; the message says why."""


class PaymentService:
    def __init__(
        self,
        *,
        store: PaymentStore,
        packs: Sequence[CreditPack],
        policy: AccessPolicy,
        referral_credits: int = 0,
        confirm_retry: float = 60.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._packs = tuple(packs)
        self._policy = policy
        self._referral_credits = referral_credits
        self._confirm_retry = confirm_retry
        self._metrics = metrics

    @property
    def packs(self) -> tuple[CreditPack, ...]:
        return self._packs

    @property
    def for_sale(self) -> bool:
        return bool(self._packs)

    @property
    def referral_credits(self) -> int:
        return self._referral_credits

    async def balance(self, payer_id: int) -> int:
        return await self._store.balance(payer_id)

    async def language_of(self, user_id: int) -> str | None:
        """The language a user's messages come in, as last seen (for messages they did not ask
        for: a recovered purchase, a referral bonus, a refund)."""
        user = await self._store.get_user(user_id)
        return user.language_code if user is not None else None

    def pack(self, credits: int) -> CreditPack | None:
        return next((pack for pack in self._packs if pack.credits == credits), None)

    async def may_buy(self, user_id: int) -> Refusal | None:
        """Why this user may not buy (in their private chat), or None."""
        if not self._packs:
            return Refusal(key="buy_nothing_for_sale")
        if not self._policy.is_allowed(user_id, user_id):
            return Refusal(key="not_allowed")
        if await self._store.is_banned(user_id):
            return Refusal(key="buy_banned")
        return None

    async def invoice(self, user_id: int, credits: int) -> InvoicePayload | Refusal:
        """The invoice of the pack of `credits` for this user, or why not."""
        refusal = await self.may_buy(user_id)
        if refusal is not None:
            return refusal
        pack = self.pack(credits)
        if pack is None:
            return Refusal(key="buy_pack_gone")
        return InvoicePayload(buyer_id=user_id, credits=pack.credits, stars=pack.stars)

    async def check_checkout(
        self, user_id: int, payload: str, currency: str, total: int
    ) -> Refusal | None:
        """The answer to a pre-checkout query: None to take the payment, or why not."""
        refusal = self._checkout_refusal(user_id, InvoicePayload.parse(payload), currency, total)
        if refusal is None:
            if not self._policy.is_allowed(user_id, user_id):
                refusal = Refusal(key="not_allowed")
            elif await self._store.is_banned(user_id):
                refusal = Refusal(key="checkout_banned")
        if self._metrics is not None:
            self._metrics.pre_checkouts.labels("ok" if refusal is None else "refused").inc()
        return refusal

    def _checkout_refusal(
        self, user_id: int, invoice: InvoicePayload | None, currency: str, total: int
    ) -> Refusal | None:
        if invoice is None or currency != STARS:
            return Refusal(key="checkout_unknown")
        if invoice.buyer_id != user_id:
            return Refusal(key="checkout_not_yours")
        pack = self.pack(invoice.credits)
        if pack is None or pack.stars != invoice.stars or total != pack.stars:
            return Refusal(key="checkout_price_changed")
        return None

    async def record(
        self,
        *,
        charge_id: str,
        payload: str,
        currency: str,
        stars: int,
        paid_at: float,
        source: str,
    ) -> PurchaseRecorded | Refusal | None:
        """Record a payment and credit its buyer, once per charge id: what was recorded, None
        if it had been before, or a refusal for a payment that is not one of our invoices (it
        stays with Telegram, for /paysupport and a refund)."""
        invoice = InvoicePayload.parse(payload)
        if invoice is None or currency != STARS:
            log.error(
                "payment %s is not for one of this bot's invoices (%s %s): not credited",
                charge_id,
                stars,
                currency,
            )
            return Refusal(key="payment_unmatched")
        payment = Payment(
            charge_id=charge_id,
            payer_id=invoice.buyer_id,
            credits=invoice.credits,
            stars=stars,
            payload=payload,
            created_at=paid_at,
        )
        now = time.time()
        recorded = await self._store.record_purchase(
            payment,
            referral_credits=self._referral_credits,
            now=now,
            telling_until=now + self._confirm_retry,
        )
        if recorded is None:
            log.info(
                "payment %s was recorded before (from the %s): nothing moved", charge_id, source
            )
        else:
            log.info(
                "payment %s (%d Stars) credited %d to %d (from the %s); balance %d",
                charge_id,
                stars,
                invoice.credits,
                invoice.buyer_id,
                source,
                recorded.balance,
            )
            if recorded.referrer_id is not None:
                log.info("referrer %d credited for %d", recorded.referrer_id, invoice.buyer_id)
            if self._metrics is not None:
                self._metrics.purchases.labels(source).inc()
                self._metrics.stars.labels("in").inc(stars)
        return recorded

    async def told(self, charge_id: str) -> None:
        """The buyer heard of this purchase (or never can): it is not told again."""
        await self._store.mark_told(charge_id, time.time())

    async def untold(self, limit: int = 20) -> list[Payment]:
        """Purchases whose buyer was not told and whose teller's hold lapsed, now held by the
        caller, who tells them (and calls `told`) within `confirm_retry` seconds."""
        now = time.time()
        return await self._store.claim_untold_purchases(
            now=now, telling_until=now + self._confirm_retry, limit=limit
        )

    async def refund(self, charge_id: str, refund_stars: RefundStars) -> RefundRecorded | Refusal:
        """/refund: the Stars back (Telegram), then the pack's credits taken back (what is left
        of them). Telegram first: credits taken for Stars never returned would be a loss to the
        buyer, while a refund whose recording was cut short (a crash) is completed by the next
        /refund (Telegram answers that it was refunded) or by reconciliation."""
        payment = await self._store.payment(charge_id)
        if payment is None:
            return Refusal(key="refund_unknown", values={"charge_id": charge_id})
        if payment.refunded_at is not None:
            return Refusal(key="refund_already", values={"charge_id": charge_id})
        try:
            await refund_stars(payment.payer_id, charge_id)
        except StarsRefundFailed as error:
            return Refusal(key="refund_refused", values={"reason": str(error)})
        recorded = await self._record_refund(charge_id)
        if recorded is None:  # reconciliation saw Telegram's refund and recorded it meanwhile
            return Refusal(key="refund_already", values={"charge_id": charge_id})
        return recorded

    async def _record_refund(self, charge_id: str) -> RefundRecorded | None:
        recorded = await self._store.record_refund(charge_id, time.time())
        if recorded is not None:
            log.info(
                "payment %s refunded: %d of its %d credits taken back from %d",
                charge_id,
                recorded.taken,
                recorded.payment.credits,
                recorded.payment.payer_id,
            )
            if self._metrics is not None:
                self._metrics.refunds.inc()
                self._metrics.stars.labels("out").inc(recorded.payment.stars)
        return recorded

    async def stats(self, now: float | None = None) -> tuple[PaymentStats, PaymentStats]:
        """Sales since 00:00 UTC today, and over the last 7 days."""
        today, week = report_periods(time.time() if now is None else now)
        stats = self._store.payment_stats
        return await stats(since=today), await stats(since=week)

    async def reconcile(self, transactions: Sequence[StarTransaction]) -> list[PurchaseRecorded]:
        """Record the payments and refunds of Telegram's list that the database lacks: the
        purchases recorded now (their buyers have not been told)."""
        payments = [
            t
            for t in transactions
            if t.kind is TransactionKind.PAYMENT and InvoicePayload.parse(t.payload) is not None
        ]
        refunded = {t.charge_id for t in transactions if t.kind is TransactionKind.REFUND}
        ids = sorted({t.charge_id for t in payments} | refunded)
        known: dict[str, Payment] = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            known.update(await self._store.known_payments(ids[start : start + _IDS_PER_QUERY]))
        recorded: list[PurchaseRecorded] = []
        for transaction in payments:
            if transaction.charge_id in known:
                continue
            if transaction.charge_id in refunded:
                # Paid and given back before the bot ever recorded it: nothing to credit.
                continue
            outcome = await self.record(
                charge_id=transaction.charge_id,
                payload=transaction.payload or "",
                currency=STARS,
                stars=transaction.stars,
                paid_at=transaction.date,
                source="reconciliation",
            )
            if isinstance(outcome, PurchaseRecorded):
                recorded.append(outcome)
        for charge_id in sorted(refunded):
            payment = known.get(charge_id)
            if payment is not None and payment.refunded_at is None:
                # Refunded at Telegram, not here (a /refund cut short): take the credits back.
                await self._record_refund(charge_id)
        return recorded


# Charge ids asked about in one query (SQLite allows 32766 parameters; pages hold 100).
_IDS_PER_QUERY = 500


class PaymentReconciler:
    """Reads Telegram's list of the bot's Stars transactions at start-up and every `every`
    seconds, and records the payments (and refunds) the database lacks; buyers credited this
    way are told (`on_recorded`). Every replica may run it: recording is idempotent, and only
    the one that records a payment tells its buyer. Every `confirm_every` seconds it also tells
    the buyers whose confirmation never went out (`tell`)."""

    PAGE = 100  # getStarTransactions' largest page

    def __init__(
        self,
        *,
        service: PaymentService,
        fetch: FetchTransactions,
        on_recorded: OnRecorded,
        tell: TellBuyer,
        every: float,
        confirm_every: float,
        horizon: float = 31 * 86_400,
    ) -> None:
        self._service = service
        self._fetch = fetch
        self._on_recorded = on_recorded
        self._tell = tell
        self._every = every
        self._confirm_every = confirm_every
        self._horizon = horizon
        self._skip = 0  # leading transactions (oldest first) known to be past the horizon
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(
                    _repeat(self.reconcile, self._every, "reconciling Stars payments"),
                    name="payments-reconciler",
                ),
                asyncio.create_task(
                    _repeat(self.confirm, self._confirm_every, "telling buyers of purchases"),
                    name="payments-confirmations",
                ),
            ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def confirm(self) -> int:
        """One pass: tell the buyers whose confirmation is due again; how many were."""
        untold = await self._service.untold()
        if untold:
            log.warning(
                "telling %d buyer(s) of a purchase whose confirmation was lost", len(untold)
            )
        for payment in untold:
            await self._tell(payment)
        return len(untold)

    async def reconcile(self) -> int:
        """One pass: how many purchases it recorded."""
        recorded = await self._service.reconcile(await self._transactions())
        for purchase in recorded:
            try:
                await self._on_recorded(purchase)
            except Exception:
                log.exception(
                    "telling buyer %d of a recovered payment failed", purchase.payment.payer_id
                )
        if recorded:
            log.warning(
                "reconciliation credited %d payment(s) whose update never arrived", len(recorded)
            )
        return len(recorded)

    async def _transactions(self) -> list[StarTransaction]:
        """Every transaction Telegram lists since the horizon, whichever order it lists them in
        (its documented order is the oldest first): older ones were reconciled by earlier
        passes. Oldest first, the leading pages that are wholly older than the horizon are
        skipped from then on (the list only grows at its end); newest first, reading stops at
        the first page that reaches past the horizon."""
        found: list[StarTransaction] = []
        oldest = time.time() - self._horizon
        offset = self._skip
        previous: StarTransaction | None = None
        while True:
            page = await self._fetch(offset, self.PAGE)
            if page and page[0] == previous:  # the same page again: the offset went unheard
                log.warning("getStarTransactions ignores its offset; reconciled what it showed")
                return found
            found.extend(page)
            if len(page) < self.PAGE:
                return found
            previous = page[0]
            if page[-1].date < oldest:
                if page[0].date > page[-1].date:
                    return found  # newest first: the rest is older still
                self._skip = offset + len(page)  # oldest first: never read these again
            offset += len(page)


async def _repeat(step: Callable[[], Awaitable[int]], every: float, what: str) -> None:
    """`step` now and every `every` seconds, whatever it raises (logged), until cancelled."""
    while True:
        try:
            await step()
        except Exception:
            log.exception("%s failed; trying again later", what)
        await asyncio.sleep(every)
