"""The Telegram layer only: parse -> validate -> call bot/ services -> reply."""

from __future__ import annotations

from telegram.ext import Application, MessageHandler, filters

from handlers.commands import BotCommand
from handlers.errors import on_error
from handlers.help import help_command
from handlers.video import video

# Edited messages never start anything: only fresh messages pass.
_FRESH = filters.UpdateType.MESSAGE


def register(application: Application) -> None:
    application.add_handler(MessageHandler(_FRESH & BotCommand("start", "help"), help_command))
    application.add_handler(MessageHandler(_FRESH & BotCommand("video"), video))
    application.add_error_handler(on_error)
