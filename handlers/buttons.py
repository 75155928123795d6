"""The buttons under each video, and replies to the prompts they ask with.

"Again" runs the same request once more (the prompt helper runs afresh); "Extend" asks (with a
ForceReply prompt) what should happen next, and a reply to that prompt starts the extension.
"Upscale" and "Add sound" (where the video service has them) are handlers/upgrades.py's.
Whoever presses or replies pays from their own quota. In a channel, where every subscriber sees
the buttons, only its admins may use those that make the bot post (all but Cancel and Improve,
which stay with the job's payer). Button data only names a job; it is checked against the chat
it was pressed in, so crafted data cannot reach another chat's videos. The buttons under a
/history list go to handlers/history.py.
"""

from __future__ import annotations

from telegram import Message, Update

from bot.domain.model import PromptKind, Refusal
from bot.domain.specs import GenerationSpec, spec_of
from bot.runtime import BotContext
from bot.telegram.buttons import UPSCALE_TO, Action, decode, is_history
from bot.telegram.members import may_post_by_button
from bot.texts import text
from handlers.cancel import cancel_pressed
from handlers.extend import ask_for_extension, start_extend
from handlers.flow import start_by_button
from handlers.history import history_pressed
from handlers.improve import improve_pressed
from handlers.replies import attachment_of, requester_of
from handlers.upgrades import (
    ask_for_sound,
    show_upscale_sizes,
    show_video_buttons,
    start_sound,
    start_upscale,
)


async def pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    if not isinstance(query.message, Message) or not query.message.is_accessible:
        # A button of an inline-mode message (no message), or of one deleted or too old
        # (Telegram sends only its chat and id, no topic): nowhere to answer but here.
        language = query.from_user.language_code if query.from_user else None
        await query.answer(text("button_invalid", language), show_alert=True)
        return
    press = decode(query.data)
    # Cancel and Improve act on a job in progress, for its payer only (checked by the service).
    payers_own = press is not None and press.action in (Action.CANCEL, Action.IMPROVE)
    if not payers_own and not await may_post_by_button(
        context.bot, query.message.chat, query.from_user.id
    ):
        language = query.from_user.language_code
        await query.answer(text("channel_admins_only", language), show_alert=True)
        return
    if is_history(query.data):
        await history_pressed(update, context)
        return
    if press is not None and press.action is Action.CANCEL:
        await cancel_pressed(update, context, press.job_id)
        return
    if press is not None and press.action is Action.IMPROVE:
        await improve_pressed(update, context, press.job_id)
        return
    who = requester_of(update)
    language = who.language_code
    runtime = context.runtime
    job = (
        await runtime.service.job_for_button(who.chat_id, press.job_id)
        if press is not None
        else Refusal(key="button_invalid")
    )
    if isinstance(job, Refusal) or press is None:
        await query.answer(text("button_invalid", language), show_alert=True)
        return

    bot = context.bot
    if press.action is Action.AGAIN:
        spec = spec_of(job)
        if isinstance(spec, GenerationSpec):
            spec = spec.fresh()  # the prompt helper runs afresh
        await start_by_button(query, bot, runtime, who, spec, "answer_again")
    elif press.action is Action.EXTEND:
        await ask_for_extension(query, bot, runtime, who, job)
    elif press.action is Action.UPSCALE:
        await show_upscale_sizes(query, runtime, who, job)
    elif press.action in UPSCALE_TO:
        await start_upscale(query, bot, runtime, who, job, UPSCALE_TO[press.action])
    elif press.action is Action.BACK:
        await show_video_buttons(query, runtime, job)
    elif press.action is Action.SOUND:
        await ask_for_sound(query, bot, runtime, who, job)


async def prompt_reply(update: Update, context: BotContext) -> None:
    """A reply to one of our prompts: extend that video ("what happens next?"), or give it
    sound ("what should it sound like?")."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    replied = message.reply_to_message
    if replied.from_user is not None and replied.from_user.id != context.bot.id:
        return  # (in a channel there is no author: the database lookup below decides)
    runtime = context.runtime
    prompt = await runtime.service.find_extend_prompt(message.chat_id, replied.message_id)
    if prompt is None:
        return  # a reply to some other message of ours: not a request
    who = requester_of(update)
    request_key = f"msg:{who.chat_id}:{who.message_id}"
    reply = message.text or message.caption or ""
    if prompt.kind is PromptKind.SOUND:
        await start_sound(context.bot, runtime, who, reply, prompt.parent_job_id, request_key)
        return
    await start_extend(
        context.bot,
        runtime,
        who,
        reply,
        attachment_of(message).image,  # the handler's filter lets text and photos through
        request_key=request_key,
        job_id=prompt.parent_job_id,
    )
