"""Telling a sender whose messages are being dropped for coming too fast (bot/telegram/flood.py
decides): once per streak, as an alert on a button, or as a reply in the chat. Nobody is told
in a channel: a notice there would be posted to every subscriber."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application

from bot.texts import text
from handlers.replies import answer, requester_of


async def slow_down(application: Application, update: Update) -> None:
    query = update.callback_query
    if query is not None:
        language = query.from_user.language_code
        await query.answer(text("flood_slow_down", language), show_alert=True)
        return
    message = update.effective_message
    if message is None or message.chat.type == ChatType.CHANNEL:
        return
    await answer(application.bot, requester_of(update), "flood_slow_down")
