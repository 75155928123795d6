"""The last line of defence: log the error and tell the user something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.runtime import BotContext
from bot.texts import text

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    user = update.effective_user
    apology = text("internal_error", user.language_code if user else None)
    try:
        if update.callback_query is not None:
            # A button press: answer the query, or the user's button keeps spinning.
            await update.callback_query.answer(apology, show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(apology)
    except TelegramError:
        log.warning("could not report the error to the chat")
