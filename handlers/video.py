"""`/video <prompt> [--ar 9:16] [--loop] [--end] [--model ray-flash-2] [--res 720p] [--dur 9s]`,
as text or as the caption of a photo/image."""

from __future__ import annotations

import logging

from telegram import Bot, Update
from telegram.error import TelegramError

from bot.domain.albums import MAX_KEYFRAMES, Keyframes
from bot.domain.generations import Requester
from bot.domain.model import Accepted
from bot.domain.specs import GenerationSpec, PromptHelp, TelegramImage
from bot.luma.models import DEFAULT_ASPECT_RATIO
from bot.runtime import BotContext, Runtime
from handlers.flow import start_generation
from handlers.parsing import ParseError, parse_video_args
from handlers.replies import answer, incoming_command

log = logging.getLogger(__name__)


async def video(update: Update, context: BotContext) -> None:
    incoming = await incoming_command(update, context.bot)
    if incoming is None:
        return
    await start_video(
        context.bot,
        context.runtime,
        incoming.who,
        incoming.args,
        Keyframes(images=incoming.images),
        request_key=incoming.request_key,
    )


async def start_video(
    bot: Bot,
    runtime: Runtime,
    who: Requester,
    args: str,
    keyframes: Keyframes,
    *,
    request_key: str,
) -> None:
    """Shared by single messages and albums: one or two photos become the keyframes (how many
    there may be is checked before: bot/domain/albums.py). Videos an album held beside its
    photos were left out; once the request is accepted, a note says so."""
    try:
        options = parse_video_args(args, max_prompt_length=runtime.service.max_prompt_length)
    except ParseError as error:
        await answer(bot, who, error.key, **error.values)
        return
    images = keyframes.images
    assert len(images) <= MAX_KEYFRAMES
    frame0: TelegramImage | None
    frame1: TelegramImage | None
    if len(images) == MAX_KEYFRAMES:
        frame0, frame1 = images
    elif images:
        frame0, frame1 = (None, images[0]) if options.end else (images[0], None)
    else:
        frame0 = frame1 = None
    spec = GenerationSpec(
        prompt=options.prompt,
        loop=options.loop,
        frame0=frame0,
        frame1=frame1,
        model=options.model,
        resolution=options.resolution,
        duration_seconds=options.duration_seconds,
        camera=options.camera,
        helper=PromptHelp(enhance=True) if options.enhance else None,
        aspect_ratio=options.aspect_ratio or DEFAULT_ASPECT_RATIO,
    )
    result = await start_generation(bot, runtime, who, spec, request_key=request_key)
    left_out = keyframes.videos_left_out
    if left_out and isinstance(result, Accepted) and not result.duplicate:
        key = "album_video_left_out" if left_out == 1 else "album_videos_left_out"
        try:
            await answer(bot, who, key, count=left_out)
        except TelegramError as error:  # a note only: the job runs and answers on its own
            log.warning("job %d: note on left-out videos not sent: %s", result.job.id, error)
