"""The Telegram layer only: parse -> validate -> call bot/ services -> reply."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.runtime import runtime_of
from handlers.albums import InAlbum, album_complete, album_item
from handlers.buttons import pressed, prompt_reply
from handlers.cancel import cancel_command
from handlers.commands import BotCommand
from handlers.errors import on_error
from handlers.extend import extend
from handlers.help import help_command
from handlers.video import video

# Edited messages never start anything: only fresh messages pass.
_FRESH = filters.UpdateType.MESSAGE
_MEDIA = filters.PHOTO | filters.Document.ALL

__all__ = ["album_complete", "register"]


async def skip_repeated_updates(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram may deliver an update twice; the second copy stops here."""
    assert isinstance(update, Update)
    if not await runtime_of(context.application).service.is_new_update(update.update_id):
        raise ApplicationHandlerStop


def register(application: Application) -> None:
    application.add_handler(TypeHandler(Update, skip_repeated_updates), group=-1)
    # Order matters: the first matching handler wins. Album items are collected before any
    # command handling, since the album is acted on only once it is complete.
    application.add_handler(MessageHandler(_FRESH & InAlbum() & _MEDIA, album_item))
    application.add_handler(MessageHandler(_FRESH & BotCommand("start", "help"), help_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("video"), video))
    application.add_handler(MessageHandler(_FRESH & BotCommand("extend"), extend))
    application.add_handler(MessageHandler(_FRESH & BotCommand("cancel"), cancel_command))
    application.add_handler(
        MessageHandler(
            _FRESH & filters.REPLY & ((filters.TEXT & ~filters.COMMAND) | filters.PHOTO),
            prompt_reply,
        )
    )
    application.add_handler(CallbackQueryHandler(pressed))
    application.add_error_handler(on_error)
