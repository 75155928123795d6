"""`/extend <prompt> [--reverse]`: continue one of the bot's videos.

The video is the one replied to, or named by a generation id as the first word. A photo with this
caption continues the video toward the picture (or, with --reverse, from it).
"""

from __future__ import annotations

from telegram import Bot, CallbackQuery, Message, Update
from telegram.constants import ChatType

from bot.domain.generations import Requester
from bot.domain.model import Job, JobState, PromptKind, Refusal
from bot.domain.specs import GenerationSpec, TelegramImage
from bot.runtime import BotContext, Runtime
from bot.texts import text
from handlers.flow import ask_by_prompt, start_generation
from handlers.parsing import EXTEND_OPTIONS, ParseError, parse_video_args, split_generation_id
from handlers.replies import answer, incoming_command, refuse


async def extend(update: Update, context: BotContext) -> None:
    incoming = await incoming_command(update, context.bot)
    if incoming is None:
        return
    message, who = incoming.message, incoming.who
    generation_id, args = split_generation_id(incoming.args)
    target: dict[str, int | str] = {}
    if generation_id is not None:
        target["generation_id"] = generation_id
    elif message.reply_to_message is not None:
        refusal = _not_extendable(message.reply_to_message, context.bot.id)
        if refusal is not None:
            await answer(context.bot, who, refusal)
            return
        target["video_message_id"] = message.reply_to_message.message_id
    else:
        await answer(context.bot, who, "extend_usage")
        return
    await start_extend(
        context.bot,
        context.runtime,
        who,
        args,
        incoming.images[0] if incoming.images else None,  # a message holds one photo at most
        request_key=incoming.request_key,
        **target,  # type: ignore[arg-type]
    )


def _not_extendable(replied: Message, bot_id: int) -> str | None:
    """Why the replied-to message cannot be extended, judged from Telegram alone."""
    author = replied.from_user
    if author is None and replied.sender_chat is not None:
        return None  # a channel post (ours or not): the database knows whether it is our video
    if author is None or author.id != bot_id:
        has_video = replied.video or replied.animation or replied.video_note
        return "extend_other_bot" if has_video and author and author.is_bot else "extend_usage"
    return None


async def ask_for_extension(
    query: CallbackQuery, bot: Bot, runtime: Runtime, who: Requester, job: Job
) -> None:
    """An "Extend" button (under a video or a /history list): ask with a ForceReply prompt what
    happens next; a reply to the prompt starts the extension (`prompt_reply`)."""
    language = who.language_code
    if job.state is not JobState.DELIVERED:
        await query.answer(text("button_invalid", language), show_alert=True)
        return
    if query.message is not None and query.message.chat.type == ChatType.CHANNEL:
        # A prompt cannot be answered by reply in a channel the same way: say how instead.
        await query.answer(text("extend_in_channel", language), show_alert=True)
        return
    await ask_by_prompt(query, bot, runtime, who, job, PromptKind.EXTEND)


async def start_extend(
    bot: Bot,
    runtime: Runtime,
    who: Requester,
    args: str,
    image: TelegramImage | None,
    *,
    request_key: str,
    video_message_id: int | None = None,
    generation_id: str | None = None,
    job_id: int | None = None,
) -> None:
    """Shared by the command and the reply to an "Extend" prompt."""
    spec = await extension_spec(
        runtime,
        who,
        args,
        image,
        video_message_id=video_message_id,
        generation_id=generation_id,
        job_id=job_id,
    )
    if isinstance(spec, Refusal):
        await refuse(bot, who, spec)
        return
    await start_generation(bot, runtime, who, spec, request_key=request_key)


async def extension_spec(
    runtime: Runtime,
    who: Requester,
    args: str,
    image: TelegramImage | None,
    *,
    video_message_id: int | None = None,
    generation_id: str | None = None,
    job_id: int | None = None,
) -> GenerationSpec | Refusal:
    """The extension `args` ask for of the video named, or why there is none (the chat's
    commands and buttons and the gallery ask here)."""
    parent = await runtime.service.find_parent(
        who, video_message_id=video_message_id, generation_id=generation_id, job_id=job_id
    )
    if isinstance(parent, Refusal):
        return parent
    try:
        options = parse_video_args(
            args, max_prompt_length=runtime.service.max_prompt_length, allowed=EXTEND_OPTIONS
        )
    except ParseError as error:
        key = "extend_usage" if error.key == "usage" else error.key
        return Refusal(key=key, values=error.values)
    return runtime.service.extend_spec(
        parent,
        prompt=options.prompt,
        aspect_ratio=options.aspect_ratio,
        loop=options.loop,
        reverse=options.reverse,
        image=image,
        model=options.model,
        resolution=options.resolution,
        duration_seconds=options.duration_seconds,
        camera=options.camera,
        enhance=options.enhance,
    )
