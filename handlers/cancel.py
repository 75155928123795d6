"""`/cancel` and the Cancel button on a status message.

Before a job reaches the video API it is cancelled and refunded. After, a family that can delete
generations (Luma's own API) stops it there and refunds too; elsewhere the API cannot stop it, so
the user is told the video will still arrive (and counts against the allowance). A story is
cancelled the same way until a shot is under way, and afterwards stops after the shots made
(`GenerationService.cancel` decides; its status message then follows the worker).
"""

from __future__ import annotations

from telegram import Bot, Update
from telegram.error import TelegramError

from bot.domain.generations import CancelResult, Requester
from bot.domain.model import Job
from bot.runtime import BotContext
from bot.texts import text
from handlers.replies import answer, requester_of


async def cancel_command(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    who = requester_of(update)
    replied = message.reply_to_message
    status_id = (
        replied.message_id
        if replied and replied.from_user and replied.from_user.id == context.bot.id
        else None
    )
    done = await context.runtime.service.cancel(who, status_message_id=status_id)
    if done.result.stopped and done.job is not None:
        await show_cancelled(context.bot, done.job, who, done.result)
        if done.job.status_message_id is not None:
            return  # the status message now says so
    await answer(context.bot, who, done.result.value, **done.values)


async def cancel_pressed(update: Update, context: BotContext, job_id: int) -> None:
    query = update.callback_query
    assert query is not None
    who = requester_of(update)
    done = await context.runtime.service.cancel(who, job_id=job_id)
    language = who.language_code
    if done.result.stopped and done.job is not None:
        await show_cancelled(context.bot, done.job, who, done.result)
        await query.answer(text("answer_cancelled", language))
    elif done.result is CancelResult.TOO_LATE:
        await query.answer(text("answer_cancel_too_late", language), show_alert=True)
    else:
        await query.answer(text(done.result.value, language, **done.values), show_alert=True)


async def show_cancelled(bot: Bot, job: Job, who: Requester, result: CancelResult) -> None:
    """Turn the job's status message into the cancellation notice (buttons gone)."""
    if job.status_message_id is None:
        return
    try:
        await bot.edit_message_text(
            chat_id=job.chat_id,
            message_id=job.status_message_id,
            text=text(result.value, who.language_code),
        )
    except TelegramError:
        await answer(bot, who, result.value)
