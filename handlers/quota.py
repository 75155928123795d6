"""`/quota`: what is left today for the requester (and for this chat), credits, and the reset."""

from __future__ import annotations

from telegram import Update

from bot.domain.generations import GenerationService
from bot.runtime import BotContext
from bot.texts import duration_words, text
from handlers.replies import requester_of, say


async def quota_command(update: Update, context: BotContext) -> None:
    who = requester_of(update)
    language = who.language_code
    quota = await context.runtime.service.quota(who)
    if quota.daily_left is None:
        lines = [text("quota_self_unlimited", language)]
    else:
        lines = [
            text("quota_self", language, left=quota.daily_left, used=quota.used, limit=quota.limit)
        ]
    if quota.credits:
        lines.append(text("quota_credits", language, credits=quota.credits))
    if priced := context.runtime.service.prices.listed():
        prices = ", ".join(f"{option} ×{factor}" for option, factor in priced)
        lines.append(text("quota_prices", language, prices=prices))
    if (enhance := context.runtime.service.prices.enhance) and context.runtime.service.can_enhance:
        lines.append(text("quota_enhance_price", language, cost=enhance))
    if upgrade_prices := _upgrade_prices(context.runtime.service):
        lines.append(text("quota_upgrade_prices", language, **upgrade_prices))
    if quota.chat_left is not None:
        lines.append(text("quota_chat", language, left=quota.chat_left, limit=quota.chat_limit))
    resets_in = duration_words(quota.resets_in, language)
    lines.append(text("quota_resets", language, resets_in=resets_in))
    await say(context.bot, who, "\n".join(lines))


def _upgrade_prices(service: GenerationService) -> dict[str, int] | None:
    """Upscale's and Add sound's prices, where the service has them and one is not 1."""
    prices, upgrades = service.prices, service.upgrades
    if not (upgrades.upscale or upgrades.sound) or prices.upscale == prices.audio == 1:
        return None
    return {"upscale": prices.upscale, "audio": prices.audio}
