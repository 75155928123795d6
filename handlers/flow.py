"""The one path from "someone asked for a video" to "the job is queued and they can see it".

Every entry point (a command, a photo, an album, a button, a reply to a prompt) gathers what was
asked into a GenerationSpec and calls `start_generation`; refusals, quota and the status message
are handled here once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Bot, CallbackQuery, ForceReply, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.domain.generations import Requester
from bot.domain.model import Accepted, Job, PromptKind, Refusal
from bot.domain.specs import JobSpec, StorySpec
from bot.luma.models import ASPECT_RATIOS, GenerationState
from bot.runtime import Runtime
from bot.telegram.buttons import buy_button, cancel_button
from bot.texts import Html, duration_words, excerpt, strip_html, text
from bot.worker.progress import status_text
from bot.worker.story import story_status
from handlers.replies import say

log = logging.getLogger(__name__)


async def start_generation(
    bot: Bot,
    runtime: Runtime,
    who: Requester,
    spec: JobSpec,
    *,
    request_key: str,
    reply_refusals: bool = True,
    press: str | None = None,
) -> Accepted | Refusal:
    """Accept the request (or explain why not) and post its status message. `press`: the data
    of the button that asked (a second press moments later is the same request)."""
    result = await runtime.service.request(who, spec, request_key=request_key, press=press)
    if not isinstance(result, Accepted):
        if reply_refusals:
            offer = _buy_offer(bot, runtime, who, result)
            await say(bot, who, refusal_text(result, who.language_code), reply_markup=offer)
        return result
    if result.duplicate:
        return result  # the same update arrived twice: one job, one status message
    ahead = await runtime.service.queued_ahead(result.job.id)
    try:
        status = await say(
            bot,
            who,
            _first_status(spec, who.language_code, ahead),
            reply_markup=cancel_button(
                result.job.id, who.language_code, improve=runtime.service.offers_improve(spec)
            ),
        )
    except TelegramError as error:
        # The job is accepted and will run; its result (or failure) is sent as a reply later.
        log.warning("job %d: status message not sent: %s", result.job.id, error)
        status = None
    await runtime.service.announced(result.job.id, status.message_id if status else None)
    return result


def _first_status(spec: JobSpec, language: str | None, ahead: int) -> str:
    if isinstance(spec, StorySpec):  # every shot waiting
        return story_status(spec, [], 0, language)
    return status_text(spec.prompt, GenerationState.QUEUED, 0, language, ahead=ahead)


# A button's alert holds at most 200 characters.
ALERT_CHARS = 200


async def start_by_button(
    query: CallbackQuery, bot: Bot, runtime: Runtime, who: Requester, spec: JobSpec, answer: str
) -> bool:
    """A job a button asked for (Again, an upscale, a soundtrack): its status message replies
    to the message the button is under; a refusal is the button's alert. The same button
    pressed again moments later answers with the job it already made. True if accepted."""
    outcome = await start_generation(
        bot,
        runtime,
        who,
        spec,
        request_key=f"cb:{query.id}",
        reply_refusals=False,
        press=query.data,
    )
    if isinstance(outcome, Accepted):
        key = "answer_already_started" if outcome.duplicate else answer
        await query.answer(text(key, who.language_code))
        return True
    await alert(query, outcome, who.language_code)
    return False


_PROMPT_NAMES = {PromptKind.EXTEND: "extend", PromptKind.SOUND: "sound"}


async def ask_by_prompt(
    query: CallbackQuery, bot: Bot, runtime: Runtime, who: Requester, job: Job, kind: PromptKind
) -> None:
    """A button that needs words first (Extend: what happens next; Add sound: what it sounds
    like): a ForceReply prompt mentioning whoever pressed, remembered so that a reply to it
    starts the job (handlers/buttons.prompt_reply)."""
    language = who.language_code
    name = _PROMPT_NAMES[kind]  # catalog keys: <name>_prompt, <name>_placeholder, answer_<name>
    mention = query.from_user.mention_html() if query.from_user else ""
    prompt = await say(
        bot,
        who,
        text(f"{name}_prompt", language, mention=Html(mention)),
        reply_markup=ForceReply(
            selective=True, input_field_placeholder=text(f"{name}_placeholder", language)
        ),
    )
    await runtime.service.add_extend_prompt(
        who.chat_id, prompt.message_id, job, who.user_id, kind=kind
    )
    await query.answer(text(f"answer_{name}", language))


async def alert(query: CallbackQuery, refusal: Refusal, language: str | None) -> None:
    """Why a button press did nothing, as an alert (plain text, ALERT_CHARS at most)."""
    notice = excerpt(strip_html(refusal_text(refusal, language)), ALERT_CHARS)
    await query.answer(notice, show_alert=True)


# Refusals that credits bought by the requester would lift (a group or channel acting as
# itself pays for itself: a user's purchase would not help it).
_LIFTED_BY_BUYING = frozenset(
    {"quota_exhausted_user", "quota_not_enough_credits", "quota_not_enough_credits_story"}
)


def _buy_offer(
    bot: Bot, runtime: Runtime, who: Requester, refusal: Refusal
) -> InlineKeyboardMarkup | None:
    """A "Buy credits" button under a refusal that buying would lift, while packs are for sale:
    the packs themselves in a private chat, a link to them elsewhere."""
    if refusal.key not in _LIFTED_BY_BUYING or not runtime.payments.for_sale:
        return None
    if who.user_id is None or who.payer_id != who.user_id:
        return None
    private = who.chat_id == who.user_id
    return buy_button(who.language_code, bot_username=None if private else bot.username)


def refusal_text(refusal: Refusal, language: str | None) -> str:
    """Why a request was not done, in one place for replies and button alerts."""
    values = {
        name: duration_words(value.total_seconds(), language)
        if isinstance(value, timedelta)
        else value
        for name, value in refusal.values.items()
    }
    return text(refusal.key, language, ratios=", ".join(ASPECT_RATIOS), **values)
