"""`/start` and `/help`: what the bot does, how to use it, and today's allowance."""

from __future__ import annotations

from telegram import Update

from bot.luma.camera import CAMERA_MOVES
from bot.runtime import BotContext
from bot.texts import Html, text
from handlers.replies import answer, requester_of


async def help_command(update: Update, context: BotContext) -> None:
    who = requester_of(update)
    service = context.runtime.service
    quota = await service.quota(who)
    if quota.left is None:
        quota_line = text("quota_line_unlimited", who.language_code)
    else:
        quota_line = text(
            "quota_line_limited", who.language_code, left=quota.left, limit=quota.limit
        )
    referral_credits = context.runtime.settings.referral_credits
    if referral_credits:  # /invite, while a referral earns something
        invite = text("help_invite", who.language_code, credits=referral_credits)
        quota_line = f"{quota_line}\n{invite}"
    # --model, --res and --dur only where the configured video service has them.
    more_options = text("help_more_options", who.language_code) if service.has_options else ""
    more_options += _prompt_helper_lines(context, who.language_code)
    # /buy only when something is for sale (CREDIT_PACKS).
    buy_line = text("help_buy", who.language_code) if context.runtime.payments.for_sale else ""
    # Sharing by inline query once inline mode is on (BotFather's /setinline; getMe says).
    inline_line = (
        text("help_inline", who.language_code, bot_username=context.bot.username)
        if context.bot.supports_inline_queries
        else ""
    )
    await answer(
        context.bot,
        who,
        "help",
        quota_line=Html(quota_line),
        more_options=Html(more_options),
        buy_line=Html(buy_line),
        inline_line=Html(inline_line),
        camera_moves=Html(", ".join(CAMERA_MOVES)),
        story_line=Html(text("help_story", who.language_code)),
    )


def _prompt_helper_lines(context: BotContext, language: str | None) -> str:
    """--enhance (with its price) and translation, where a prompt helper is configured."""
    runtime = context.runtime
    if not runtime.service.can_enhance:
        return ""
    price = runtime.service.prices.enhance
    cost = text("help_enhance_cost", language, cost=price) if price else ""
    lines = text("help_enhance", language, cost=Html(cost))
    if runtime.settings.translate_prompts == "auto":
        lines += text("help_translate", language)
    return lines
