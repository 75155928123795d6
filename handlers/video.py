"""`/video <prompt> [--ar 9:16] [--loop] [--end] [--model ray-flash-2] [--res 720p] [--dur 9s]`,
as text or as the caption of a photo/image."""

from __future__ import annotations

from telegram import Bot, Update

from bot.domain.generations import Requester
from bot.domain.specs import GenerationSpec, PromptHelp, TelegramImage
from bot.luma.models import DEFAULT_ASPECT_RATIO
from bot.runtime import BotContext, Runtime
from handlers.flow import start_generation
from handlers.parsing import ParseError, parse_video_args
from handlers.replies import answer, incoming_command

MAX_KEYFRAMES = 2


async def video(update: Update, context: BotContext) -> None:
    incoming = await incoming_command(update, context.bot)
    if incoming is None:
        return
    await start_video(
        context.bot,
        context.runtime,
        incoming.who,
        incoming.args,
        incoming.images,
        request_key=incoming.request_key,
    )


async def start_video(
    bot: Bot,
    runtime: Runtime,
    who: Requester,
    args: str,
    images: list[TelegramImage],
    *,
    request_key: str,
) -> None:
    """Shared by single messages and albums: one or two photos become the keyframes."""
    try:
        options = parse_video_args(args, max_prompt_length=runtime.service.max_prompt_length)
    except ParseError as error:
        await answer(bot, who, error.key, **error.values)
        return
    if len(images) > MAX_KEYFRAMES:
        await answer(bot, who, "too_many_photos", count=len(images))
        return
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
    await start_generation(bot, runtime, who, spec, request_key=request_key)
