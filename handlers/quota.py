"""`/quota`: what is left today for the requester (and for this chat), credits, and the reset."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.runtime import runtime_of
from bot.texts import duration_words, text
from handlers.replies import requester_of, say


async def quota_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = requester_of(update)
    language = who.language_code
    quota = await runtime_of(context.application).service.quota(who.user_id, who.chat_id)
    if quota.left is None:
        lines = [text("quota_self_unlimited", language)]
    else:
        left_today = max((quota.limit or 0) - quota.used, 0)
        lines = [text("quota_self", language, left=left_today, used=quota.used, limit=quota.limit)]
        if quota.credits:
            lines.append(text("quota_credits", language, credits=quota.credits))
    if quota.chat_limit is not None and not quota.exempt:
        chat_left = max(quota.chat_limit - quota.chat_used, 0)
        lines.append(text("quota_chat", language, left=chat_left, limit=quota.chat_limit))
    resets_in = duration_words(quota.resets_in, language)
    lines.append(text("quota_resets", language, resets_in=resets_in))
    await say(context.bot, who, "\n".join(lines))
