"""`/history`: the requester's recent videos, five a page, with "Send again" and "Extend" buttons.

In a private chat the list holds the user's videos from every chat; in a group only those made
there (someone's private prompts never show in a group). Every press is checked against whoever
presses: only the list's owner can turn its pages or use its buttons, and in a group only for that
group's videos. "Send again" re-sends the stored video by its Telegram file_id: no quota, no
video-API call; not for a banned payer, and a second press while the first is being sent is
answered without a second copy. "Extend" opens the same prompt as the button under a video.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.domain.generations import GenerationService, HistoryPage, Requester
from bot.domain.model import FailureCode, HistoryEntry, Job, JobState, Refusal
from bot.runtime import BotContext, Runtime
from bot.telegram.buttons import HistoryAction, HistoryPress, decode_history, history_buttons
from bot.texts import Html, excerpt, text
from bot.worker.delivery import caption
from handlers.extend import ask_for_extension
from handlers.replies import answer, requester_of, say

PROMPT_CHARS = 60
_KINDS = frozenset({"text", "image", "extend", "upscale", "audio", "story"})
# Failures told in a few words in the list; any other shows as just "failed".
_SIMPLE_REASONS = frozenset(
    {
        FailureCode.MODERATION,
        FailureCode.IMAGE_REJECTED,
        FailureCode.GENERATION_FAILED,
        FailureCode.TIMEOUT,
        FailureCode.DELIVERY_FAILED,
    }
)


async def history_command(update: Update, context: BotContext) -> None:
    who = requester_of(update)
    if who.user_id is None:  # a channel post or an anonymous admin: nobody's own list
        await answer(context.bot, who, "history_per_user")
        return
    scope = _scope(update, who)
    service = context.runtime.service
    page = await service.history_page(who.user_id, chat_id=scope, page=1)
    if page.total == 0:
        await answer(context.bot, who, "history_empty" if scope is None else "history_empty_chat")
        return
    body, markup = _render(page, who.user_id, scope, who.language_code, context.runtime)
    await say(context.bot, who, body, reply_markup=markup)


async def history_pressed(update: Update, context: BotContext) -> None:
    """A button under a /history list (routed here by `handlers.buttons.pressed`)."""
    query = update.callback_query
    assert query is not None
    who = requester_of(update)
    language = who.language_code
    press = decode_history(query.data)
    if press is None:
        await query.answer(text("button_invalid", language), show_alert=True)
        return
    if press.action is HistoryAction.PAGE:
        await _turn_page(update, context, who, press)
        return
    runtime = context.runtime
    assert press.job_id is not None
    job = await runtime.service.job_of_owner(who.user_id, press.job_id, chat_id=_scope(update, who))
    if isinstance(job, Refusal):
        await query.answer(text(job.key, language), show_alert=True)
        return
    if press.action is HistoryAction.EXTEND:
        await ask_for_extension(query, context.bot, runtime, who, job)
        return
    if job.state is not JobState.DELIVERED or not job.video_file_id:
        await query.answer(text("button_invalid", language), show_alert=True)
        return
    refusal = await runtime.service.access_refusal(who)  # banned: the bot posts nothing for them
    if refusal is not None:
        await query.answer(text(refusal.key, language), show_alert=True)
        return
    await _send_again(query, context.bot, runtime.service, who, job)


async def _send_again(
    query: CallbackQuery, bot: Bot, service: GenerationService, who: Requester, job: Job
) -> None:
    outcome = await resend(bot, service, who, job)
    alert = outcome is Resent.FAILED
    await query.answer(text(outcome.value, who.language_code), show_alert=alert)


class Resent(StrEnum):
    """How sending a stored video again went (each a catalog key)."""

    SENT = "history_answer_resent"
    BUSY = "history_answer_resending"  # pressed again while the first press is being sent
    FAILED = "history_resend_failed"


async def resend(bot: Bot, service: GenerationService, who: Requester, job: Job) -> Resent:
    """Send a delivered video again into the requester's chat by its Telegram file_id: no
    quota, no video-API call (the /history button, the gallery's Send to chat)."""
    assert job.video_file_id is not None  # only a delivered video gets here
    with service.resending(who.chat_id, job.id) as claimed:
        if not claimed:
            return Resent.BUSY
        try:
            await bot.send_video(
                chat_id=who.chat_id,
                video=job.video_file_id,
                caption=caption(job, who.language_code),
                message_thread_id=who.thread_id,
                supports_streaming=True,
            )
        except TelegramError:
            return Resent.FAILED
    return Resent.SENT


async def _turn_page(
    update: Update, context: BotContext, who: Requester, press: HistoryPress
) -> None:
    query = update.callback_query
    assert query is not None
    language = who.language_code
    if who.user_id is None or press.owner_id != who.user_id:
        await query.answer(text("history_not_yours", language), show_alert=True)
        return
    scope = _scope(update, who)
    service = context.runtime.service
    page = await service.history_page(who.user_id, chat_id=scope, page=press.page)
    if page.total == 0:
        await query.answer(text("button_invalid", language), show_alert=True)
        return
    body, markup = _render(page, who.user_id, scope, language, context.runtime)
    try:
        await query.edit_message_text(body, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in str(error).lower():  # (a double press: already on that page)
            # The list can no longer be edited (too old, or gone): say so on the button.
            await query.answer(text("button_invalid", language), show_alert=True)
            return
    await query.answer()


def _scope(update: Update, who: Requester) -> int | None:
    """The chat whose videos to list: None (every chat) in a private chat."""
    chat = update.effective_chat
    return None if chat is not None and chat.type == ChatType.PRIVATE else who.chat_id


def _render(
    page: HistoryPage, owner_id: int, scope: int | None, language: str | None, runtime: Runtime
) -> tuple[str, InlineKeyboardMarkup | None]:
    title = "history_title" if scope is None else "history_title_chat"
    lines = [text(title, language, page=page.page, pages=page.pages, total=page.total)]
    videos: list[tuple[int, int]] = []
    for number, entry in enumerate(page.entries, start=page.first_number):
        lines.append(
            text(
                "history_entry",
                language,
                number=number,
                kind=Html(_kind(entry, language)),
                date=datetime.fromtimestamp(entry.created_at, UTC).strftime("%Y-%m-%d %H:%M"),
                state=Html(_state(entry, language)),
                prompt=excerpt(entry.prompt, PROMPT_CHARS),
            )
        )
        if entry.state is JobState.DELIVERED and entry.video_file_id:
            videos.append((number, entry.job_id))
    # The gallery opens only from a private chat's button (Telegram's rule for web apps).
    gallery = runtime.settings.gallery_url if scope is None else None
    markup = history_buttons(owner_id, page.page, page.pages, videos, language, gallery)
    return "\n\n".join(lines), markup


def _kind(entry: HistoryEntry, language: str | None) -> str:
    return text(f"history_kind_{entry.kind if entry.kind in _KINDS else 'text'}", language)


def _state(entry: HistoryEntry, language: str | None) -> str:
    if entry.state is JobState.DELIVERED:
        return text("history_state_delivered", language)
    if entry.state is not JobState.FAILED:
        return text("history_state_active", language)
    if entry.failure_code == FailureCode.CANCELLED:
        return text("history_state_cancelled", language)
    if entry.failure_code in _SIMPLE_REASONS:
        reason = text(f"history_reason_{entry.failure_code}", language)
        return text("history_state_failed_reason", language, reason=Html(reason))
    return text("history_state_failed", language)
