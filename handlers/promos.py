"""Promo codes and referrals: `/promo` (admins), `/redeem <code>`, the deep links
`t.me/<bot>?start=<code>` and `?start=ref<user id>`, and `/invite` (your own referral link).

`/start` with a parameter that is nothing of ours (`buy`, anything else) is left to the handlers
after this one: the greeting, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Message, Update
from telegram.ext import filters

from bot.domain.model import PromoCode, PromoOutcome, Refusal
from bot.domain.promos import StartPromo, StartReferral, read_start_parameter
from bot.runtime import BotContext
from bot.texts import text
from handlers.commands import extract_command
from handlers.help import help_command
from handlers.replies import answer, command_args, refuse, refused_unless_admin, requester_of


class StartParameter(filters.MessageFilter):
    """`/start <parameter>` where the parameter is a promo code or a referral link."""

    def __init__(self) -> None:
        super().__init__(name="StartParameter")

    def filter(self, message: Message) -> bool:
        return _start_parameter(message, message.get_bot().username) is not None


def _start_parameter(message: Message, bot_username: str) -> StartPromo | StartReferral | None:
    command = extract_command(message, bot_username)
    if command is None or command.name != "start":
        return None
    words = command.args.split()
    return read_start_parameter(words[0]) if len(words) == 1 else None


async def start_with_parameter(update: Update, context: BotContext) -> None:
    """A deep link: redeem its code, or record its referral and greet as /start does. A code
    nobody made gets the greeting too, as any other unknown parameter does."""
    message = update.effective_message
    assert message is not None
    parameter = _start_parameter(message, context.bot.username)
    who = requester_of(update)
    if isinstance(parameter, StartPromo):
        if await _redeem(update, context, parameter.code, quiet_unknown=True):
            return
    elif isinstance(parameter, StartReferral):
        await context.runtime.promos.refer(who, parameter.referrer_id)
    await help_command(update, context)


async def redeem_command(update: Update, context: BotContext) -> None:
    args = command_args(update, context.bot)
    if len(args) != 1:
        await answer(context.bot, requester_of(update), "redeem_usage")
        return
    await _redeem(update, context, args[0], quiet_unknown=False)


async def _redeem(update: Update, context: BotContext, typed: str, *, quiet_unknown: bool) -> bool:
    """Redeem `typed` and answer; False (nothing said) for an unknown code if `quiet_unknown`."""
    who = requester_of(update)
    outcome = await context.runtime.promos.redeem(who, typed)
    if isinstance(outcome, Refusal):
        await refuse(context.bot, who, outcome)
        return True
    if outcome.outcome is PromoOutcome.UNKNOWN and quiet_unknown:
        return False
    code = typed.upper()
    if outcome.outcome is PromoOutcome.REDEEMED:
        await answer(
            context.bot,
            who,
            "promo_redeemed",
            code=code,
            credits=outcome.credits,
            balance=outcome.balance,
        )
    else:
        await answer(context.bot, who, f"promo_{outcome.outcome.value}", code=code)
    return True


async def promo_command(update: Update, context: BotContext) -> None:
    """`/promo <code> <credits> [uses] [days]`, for admins."""
    who = requester_of(update)
    runtime = context.runtime
    if await refused_unless_admin(context.bot, who, runtime.admin.is_admin(who.user_id)):
        return
    made = await runtime.promos.create(command_args(update, context.bot), by=who.user_id)
    if isinstance(made, Refusal):
        await refuse(context.bot, who, made)
        return
    language = who.language_code
    await answer(
        context.bot,
        who,
        "promo_created",
        code=made.code,
        credits=made.credits,
        uses=_uses(made, language),
        expires=_expiry(made, language),
        link=f"https://t.me/{context.bot.username}?start={made.code}",
    )


async def invite_command(update: Update, context: BotContext) -> None:
    """`/invite`: the requester's own referral link, while referrals earn credits."""
    who = requester_of(update)
    credits = context.runtime.settings.referral_credits
    if not credits:
        await answer(context.bot, who, "invite_off")
    elif who.user_id is None:  # a channel or an anonymous admin: referrals are people's
        await answer(context.bot, who, "invite_per_user")
    else:
        link = f"https://t.me/{context.bot.username}?start=ref{who.user_id}"
        await answer(context.bot, who, "invite", link=link, credits=credits)


async def promo_stats(context: BotContext, language: str | None) -> str:
    """The active codes, one line each, for /stats."""
    promos = await context.runtime.promos.active()
    lines = [
        text(
            "admin_stats_promo",
            language,
            code=promo.code,
            credits=promo.credits,
            redeemed=promo.redeemed,
            uses=_uses(promo, language),
            expires=_expiry(promo, language),
        )
        for promo in promos
    ]
    header = text("admin_stats_promos", language)
    if not lines:
        return f"{header} {text('admin_stats_none', language)}"
    return "\n".join([header, *lines])


def _uses(promo: PromoCode, language: str | None) -> str:
    if promo.uses_left is None:
        return text("promo_uses_unlimited", language)
    return text("promo_uses_left", language, uses=promo.uses_left)


def _expiry(promo: PromoCode, language: str | None) -> str:
    if promo.expires_at is None:
        return text("promo_no_expiry", language)
    date = datetime.fromtimestamp(promo.expires_at, UTC).strftime("%Y-%m-%d %H:%M")
    return text("promo_expires", language, date=date)
