"""`/story [--ar 9:16] [--model …] [--res …] [--dur …]` and then shots, one per line (or
separated by `|`), with `---` between two shots for a cut; as text, or as the caption of one
photo (shot 1's first frame). The shots are made one after another and delivered as one video
(bot/worker/story.py)."""

from __future__ import annotations

from telegram import Update

from bot.domain.specs import StorySpec
from bot.luma.models import DEFAULT_ASPECT_RATIO
from bot.runtime import BotContext
from handlers.flow import start_generation
from handlers.parsing import ParseError, parse_story
from handlers.replies import answer, incoming_command


async def story(update: Update, context: BotContext) -> None:
    incoming = await incoming_command(update, context.bot)
    if incoming is None:
        return
    bot, runtime, who = context.bot, context.runtime, incoming.who
    try:
        parsed = parse_story(
            incoming.args,
            max_prompt_length=runtime.service.max_prompt_length,
            max_shots=runtime.service.story_max_shots,
        )
    except ParseError as error:
        await answer(bot, who, error.key, **error.values)
        return
    options = parsed.options
    spec = StorySpec(
        shots=parsed.shots,
        aspect_ratio=options.aspect_ratio or DEFAULT_ASPECT_RATIO,
        model=options.model,
        resolution=options.resolution,
        duration_seconds=options.duration_seconds,
        frame0=incoming.images[0] if incoming.images else None,
    )
    await start_generation(bot, runtime, who, spec, request_key=incoming.request_key)
