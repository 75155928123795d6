"""The last line of defence: log the error and tell the user something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.texts import text

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        user = update.effective_user
        try:
            await update.effective_message.reply_text(
                text("internal_error", user.language_code if user else None)
            )
        except TelegramError:
            log.warning("could not report the error to the chat")
