"""Admin commands: `/stats`, `/grant <who> <n>`, `/ban <who>`, `/unban <who>`.

Only `ADMIN_USER_IDS` may use them; anyone else gets one short refusal.
"""

from __future__ import annotations

from telegram import Update

from bot.domain.admin import AdminService
from bot.domain.model import DayStats
from bot.domain.stars import PaymentStats
from bot.numbers import parse_int
from bot.runtime import BotContext
from bot.texts import text
from handlers.commands import extract_command
from handlers.promos import promo_stats
from handlers.replies import answer, refused_unless_admin, requester_of, say

MAX_GRANT = 10_000


async def admin_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    command = extract_command(message, context.bot.username)
    assert command is not None  # the handler's filter guarantees it
    who = requester_of(update)
    admin = context.runtime.admin
    if await refused_unless_admin(context.bot, who, admin.is_admin(who.user_id)):
        return
    args = command.args.split()
    if command.name == "stats":
        sales = await context.runtime.payments.stats()
        promos = await promo_stats(context, who.language_code)
        stats = await _stats_text(admin, sales, who.language_code)
        await say(context.bot, who, f"{stats}\n\n{promos}")
        return
    key, values = await _change(admin, command.name, args, who.user_id)
    await answer(context.bot, who, key, **values)


async def _change(
    admin: AdminService, name: str, args: list[str], by: int | None
) -> tuple[str, dict[str, object]]:
    """Run /grant, /ban or /unban; the catalog key and values of the reply."""
    if name == "grant":
        count = parse_int(args[1], signed=True) if len(args) == 2 else None
        if not count or abs(count) > MAX_GRANT:
            return "admin_usage_grant", {}
    elif len(args) != 1:
        return "admin_usage_ban", {"command": name}
    target = await admin.resolve(args[0])
    if target is None:
        return "admin_unknown_target", {"target": args[0]}
    label = await admin.name_of(target)
    if name == "grant":
        assert count is not None  # checked above
        return "admin_granted", {"target": label, "balance": await admin.grant(target, count)}
    banned = name == "ban"
    changed = await admin.set_banned(target, banned, by=by)
    key = {
        (True, True): "admin_banned",
        (True, False): "admin_already_banned",
        (False, True): "admin_unbanned",
        (False, False): "admin_not_banned",
    }[(banned, changed)]
    return key, {"target": label}


async def _stats_text(
    admin: AdminService, sales: tuple[PaymentStats, PaymentStats], language: str | None
) -> str:
    today, week = await admin.stats()
    blocks = [
        await _stats_block(admin, "admin_stats_today", today, language),
        await _stats_block(admin, "admin_stats_week", week, language),
    ]
    # Each period's Stars sales under its block.
    for index, period in enumerate(sales):
        blocks[index] += "\n" + text(
            "admin_stats_payments",
            language,
            earned=period.stars_earned,
            purchases=period.purchases,
            stars_in=period.stars_in,
            refunds=period.refunds,
            stars_out=period.stars_out,
        )
    return "\n\n".join(blocks)


async def _stats_block(
    admin: AdminService, period_key: str, stats: DayStats, language: str | None
) -> str:
    none = text("admin_stats_none", language)
    failures = ", ".join(f"{code} {count}" for code, count in stats.failed_by_reason.items())
    payers = [f"{await admin.name_of(payer)} ({count})" for payer, count in stats.top_payers]
    chats = ", ".join(f"{chat} ({count})" for chat, count in stats.top_chats)
    return text(
        "admin_stats",
        language,
        period=text(period_key, language),
        generations=stats.generations,
        delivered=stats.delivered,
        active=stats.active,
        charged=stats.charged,
        failures=failures or none,
        payers=", ".join(payers) or none,
        chats=chats or none,
    )
