"""Promo codes and referrals: what a code may look like, what /promo takes, who may redeem.

A code is 3 to 32 of A-Z, 0-9, `_` and `-`, case-insensitive (kept in upper case), so it also
fits a deep link's start parameter (`t.me/<bot>?start=<code>`: A-Z a-z 0-9 _ -, up to 64). Start
parameters the bot gives other meanings are never codes: `buy` (the credit packs) and anything
starting with `ref` (`ref<user id>`, a referral link).

Each identity (the payer: `bot.domain.access.payer_of`; a group or channel acting as itself is its
own) redeems a code once; the credits go to its persistent balance, with a ledger row. A referral
is recorded for a user who never used the bot before, from the first referral link they start it
with; the referrer is credited elsewhere, on that user's first purchase.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.generations import Requester
from bot.domain.model import PromoCode, PromoOutcome, Redemption, Refusal
from bot.domain.stores import PromoStore
from bot.numbers import parse_int

_CODE = re.compile(r"[A-Za-z0-9_-]{3,32}")
_REFERRAL = re.compile(r"ref([0-9]{1,18})", re.IGNORECASE)

MAX_PROMO_CREDITS = 10_000
MAX_PROMO_USES = 1_000_000
MAX_PROMO_DAYS = 3650
# How many active codes /stats lists.
PROMOS_IN_STATS = 10


def code_of(raw: str) -> str | None:
    """The code `raw` names (upper case), or None if no code can look like that."""
    if not _CODE.fullmatch(raw):
        return None
    code = raw.upper()
    if code == "BUY" or code.startswith("REF"):
        return None
    return code


@dataclass(frozen=True)
class StartPromo:
    """`/start <code>`: a promo code's deep link."""

    code: str


@dataclass(frozen=True)
class StartReferral:
    """`/start ref<user id>`: someone's referral link."""

    referrer_id: int


def read_start_parameter(parameter: str) -> StartPromo | StartReferral | None:
    """What a `/start` parameter means here; None: nothing of ours (`buy`, or anything else)."""
    if match := _REFERRAL.fullmatch(parameter):
        referrer = int(match.group(1))
        return StartReferral(referrer) if referrer > 0 else None
    code = code_of(parameter)
    return StartPromo(code) if code is not None else None


def parse_promo(args: list[str], *, by: int | None, now: float) -> PromoCode | None:
    """A new code from `/promo <code> <credits> [uses] [days]` (uses, days: 0 or left out means
    no limit); None if anything is off."""
    if not 2 <= len(args) <= 4:
        return None
    code = code_of(args[0])
    credits = parse_int(args[1], max_digits=9)
    uses = parse_int(args[2], max_digits=9) if len(args) > 2 else 0
    days = parse_int(args[3], max_digits=9) if len(args) > 3 else 0
    if code is None or credits is None or uses is None or days is None:
        return None
    if not 1 <= credits <= MAX_PROMO_CREDITS or uses > MAX_PROMO_USES or days > MAX_PROMO_DAYS:
        return None
    return PromoCode(
        code=code,
        credits=credits,
        uses_left=uses or None,
        expires_at=now + days * 86_400 if days else None,
        created_by=by,
        created_at=now,
    )


class PromoService:
    def __init__(
        self,
        repository: PromoStore,
        *,
        access: Callable[[Requester], Awaitable[Refusal | None]],
    ) -> None:
        self._repo = repository
        # Who may redeem: whoever may make videos (banned payers and, on a private bot, anyone
        # off the allowlists may not).
        self._access = access

    async def create(self, args: list[str], *, by: int | None) -> PromoCode | Refusal:
        """An admin's /promo: the code made, or why not (bad input; the code exists)."""
        promo = parse_promo(args, by=by, now=time.time())
        if promo is None:
            return Refusal(key="promo_usage")
        if not await self._repo.create_promo(promo):
            return Refusal(key="promo_exists", values={"code": promo.code})
        return promo

    async def redeem(self, who: Requester, typed: str) -> Redemption | Refusal:
        """Redeem the code `typed` for the requester's payer (the identity that asked)."""
        if not _CODE.fullmatch(typed):
            return Refusal(key="redeem_usage")
        refusal = await self._access(who)
        if refusal is not None:
            return refusal
        code = code_of(typed)
        if code is None:  # a reserved word: never a code
            return Redemption(outcome=PromoOutcome.UNKNOWN)
        return await self._repo.redeem_promo(code, who.payer_id, now=time.time())

    async def refer(self, who: Requester, referrer_id: int) -> bool:
        """Record a referral link a person started the bot with; whether it counted (a new
        user, never referred before, not by themselves)."""
        if who.user_id is None or who.payer_id != who.user_id or who.user_id == referrer_id:
            return False
        return await self._repo.record_referral(who.user_id, referrer_id, now=time.time())

    async def active(self) -> list[PromoCode]:
        """Codes still redeemable, newest first (a few, for /stats)."""
        return await self._repo.active_promos(time.time(), limit=PROMOS_IN_STATS)
