"""Small helpers shared by handlers for answering in the right language and place."""

from __future__ import annotations

from telegram import Message, Update

from bot.generations import Requester
from bot.luma.models import ASPECT_RATIOS
from bot.texts import text


def requester_of(update: Update) -> Requester:
    message = update.effective_message
    user = update.effective_user
    assert message is not None
    return Requester(
        user_id=user.id if user else None,
        chat_id=message.chat_id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        message_id=message.message_id,
        username=user.username if user else None,
        first_name=user.first_name if user else None,
        language_code=user.language_code if user else None,
    )


async def answer(message: Message, key: str, language: str | None, **values: object) -> Message:
    """Reply to `message` with catalog message `key` (same chat and topic, quoting it)."""
    body = text(key, language, ratios=", ".join(ASPECT_RATIOS), **values)
    return await message.reply_text(body, do_quote=True)
