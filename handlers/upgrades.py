"""⬆ Upscale and 🔊 Add sound, under a video the bot delivered (where the video service has them).

"Upscale" turns the video's buttons into the sizes above the video's own ([1080p] [4K] [Back]);
a size starts the upscale, a job of its own whose status message replies to the video. "Add
sound" asks with a ForceReply prompt what the video should sound like: a reply is the sound's
prompt, and "-" (or the catalog's word for it) lets the video service choose. A channel's posts
cannot be answered that way, so there it starts at once with the service's choice. Whoever
presses pays (COST_UPSCALE, COST_AUDIO); the domain refuses, at no cost, where the service has
neither, whatever the button data says.
"""

from __future__ import annotations

import contextlib

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.domain.generations import Requester
from bot.domain.model import Job, PromptKind, Refusal
from bot.luma.models import prompt_length
from bot.runtime import Runtime
from bot.telegram.buttons import upscale_buttons
from bot.texts import CATALOGS, text
from bot.worker.delivery import video_markup
from handlers.flow import alert, ask_by_prompt, start_by_button, start_generation
from handlers.replies import answer, refuse

# A reply that leaves the sound to the video service: a dash, or the catalogs' word for it.
_ANY_SOUND = frozenset({"-", "—", "–"}) | {
    text("sound_any_word", language).casefold() for language in CATALOGS
}


async def show_upscale_sizes(
    query: CallbackQuery, runtime: Runtime, who: Requester, source: Job
) -> None:
    """The video's buttons become its upscale sizes (and Back)."""
    sizes = runtime.service.upscale_sizes(source)
    if isinstance(sizes, Refusal):
        await alert(query, sizes, who.language_code)
        return
    await _set_buttons(query, upscale_buttons(source.id, sizes, who.language_code))
    await query.answer(text("answer_upscale_sizes", who.language_code))


async def show_video_buttons(query: CallbackQuery, runtime: Runtime, source: Job) -> None:
    """Back from the sizes: the video's own buttons again."""
    language = query.from_user.language_code
    await _set_buttons(query, video_markup(source, language, runtime.service.upgrades))
    await query.answer()


async def start_upscale(
    query: CallbackQuery, bot: Bot, runtime: Runtime, who: Requester, source: Job, size: str
) -> None:
    spec = runtime.service.upscale_spec(source, size)
    if isinstance(spec, Refusal):
        await alert(query, spec, who.language_code)
        return
    if await start_by_button(query, bot, runtime, who, spec, "answer_upscale"):
        # The sizes go: a second tap would upscale (and charge) again.
        await _set_buttons(query, video_markup(source, who.language_code, runtime.service.upgrades))


async def ask_for_sound(
    query: CallbackQuery, bot: Bot, runtime: Runtime, who: Requester, source: Job
) -> None:
    """Ask what the video should sound like; a reply starts it (`start_sound`)."""
    language = who.language_code
    spec = runtime.service.sound_spec(source, None)
    if isinstance(spec, Refusal):
        await alert(query, spec, language)
        return
    if query.message is not None and query.message.chat.type == ChatType.CHANNEL:
        await start_by_button(query, bot, runtime, who, spec, "answer_sound_started")
        return
    await ask_by_prompt(query, bot, runtime, who, source, PromptKind.SOUND)


async def start_sound(
    bot: Bot, runtime: Runtime, who: Requester, reply: str, source_id: int, request_key: str
) -> None:
    """A reply to the "what should it sound like?" prompt: add that sound to the video."""
    source = await runtime.service.job_for_button(who.chat_id, source_id)
    if isinstance(source, Refusal):
        await refuse(bot, who, source)
        return
    sound = " ".join(reply.split())
    limit = runtime.service.max_prompt_length
    if prompt_length(sound) > limit:
        await answer(bot, who, "prompt_too_long", length=prompt_length(sound), limit=limit)
        return
    chosen = sound if sound and sound.casefold() not in _ANY_SOUND else None
    spec = runtime.service.sound_spec(source, chosen)
    if isinstance(spec, Refusal):
        await refuse(bot, who, spec)
        return
    await start_generation(bot, runtime, who, spec, request_key=request_key)


async def _set_buttons(query: CallbackQuery, markup: InlineKeyboardMarkup) -> None:
    # "Not modified" (a second tap) or a message gone meanwhile: nothing to change.
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(markup)
