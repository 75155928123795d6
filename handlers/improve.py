"""The ✨ Improve button on a status message: the prompt helper enhances the prompt of a job
still waiting in the queue (as `--enhance` would have), charged COST_ENHANCE."""

from __future__ import annotations

from telegram import Message, Update
from telegram.error import TelegramError

from bot.domain.generations import ImproveResult
from bot.domain.model import Refusal
from bot.runtime import BotContext
from bot.telegram.buttons import cancel_button
from bot.texts import text
from handlers.flow import alert
from handlers.replies import requester_of


async def improve_pressed(update: Update, context: BotContext, job_id: int) -> None:
    query = update.callback_query
    assert query is not None
    who = requester_of(update)
    language = who.language_code
    result = await context.runtime.service.improve(who, job_id)
    if isinstance(result, Refusal):
        await alert(query, result, language)
        return
    if result is not ImproveResult.IMPROVING:
        await query.answer(text(result.value, language), show_alert=True)
        return
    await query.answer(text(result.value, language))
    if isinstance(query.message, Message):
        try:  # asked once: only Cancel stays
            await query.message.edit_reply_markup(cancel_button(job_id, language))
        except TelegramError:
            pass  # the worker may have edited it meanwhile; the answer said it all
