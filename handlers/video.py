"""`/video <prompt> [--ar 9:16] [--loop]`: parse, validate, hand to the service, acknowledge."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.luma.models import GenerationState
from bot.progress import status_text
from bot.runtime import runtime_of
from bot.texts import duration_words
from handlers.commands import extract_command
from handlers.parsing import ParseError, parse_video_args
from handlers.replies import answer, requester_of
from storage.base import QuotaExhausted


async def video(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    runtime = runtime_of(context.application)
    command = extract_command(message, context.bot.username)
    assert command is not None  # the filter guarantees it
    who = requester_of(update)
    language = who.language_code

    try:
        options = parse_video_args(command.args, max_prompt_length=runtime.client.max_prompt_length)
    except ParseError as error:
        await answer(message, error.key, language, **error.values)
        return

    result = await runtime.service.request_video(
        who, prompt=options.prompt, aspect_ratio=options.aspect_ratio, loop=options.loop
    )
    if isinstance(result, QuotaExhausted):
        quota = await runtime.service.quota(who.user_id)
        await answer(
            message,
            "quota_exhausted",
            language,
            limit=result.limit,
            resets_in=duration_words(quota.resets_in),
        )
        return
    if result.duplicate:
        return  # the same message was delivered twice: one job, one status message
    status = await message.reply_text(
        status_text(options.prompt, GenerationState.QUEUED, 0, language), do_quote=True
    )
    await runtime.service.attach_status_message(result.job.id, status.message_id)
    runtime.worker.wake()
