"""Who asked and how to answer them: shared by every handler."""

from __future__ import annotations

from telegram import Bot, Message, ReplyParameters, Update

from bot.generations import Requester
from bot.luma.models import ASPECT_RATIOS
from bot.media import IMAGE_TYPES
from bot.specs import TelegramImage
from bot.texts import text


def requester_of(update: Update) -> Requester:
    """The person (or chat) asking, and the message to answer. For a button press that
    message is the one carrying the button."""
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


async def say(bot: Bot, who: Requester, body: str, **kwargs: object) -> Message:
    """Send `body` as a reply to the request, in its chat and topic (even if it was deleted)."""
    return await bot.send_message(
        chat_id=who.chat_id,
        text=body,
        message_thread_id=who.thread_id,
        reply_parameters=ReplyParameters(who.message_id, allow_sending_without_reply=True),
        **kwargs,  # type: ignore[arg-type]
    )


async def answer(bot: Bot, who: Requester, key: str, **values: object) -> Message:
    """Reply with catalog message `key` in the requester's language."""
    body = text(key, who.language_code, ratios=", ".join(ASPECT_RATIOS), **values)
    return await say(bot, who, body)


def images_of(message: Message) -> tuple[list[TelegramImage], str | None]:
    """The keyframe images a message carries, and the name of a file that is not an image."""
    if message.photo:
        # Sizes come smallest first; the last is the original resolution.
        return [TelegramImage(file_id=message.photo[-1].file_id, mime_type="image/jpeg")], None
    document = message.document
    if document is not None:
        if document.mime_type in IMAGE_TYPES:
            return [TelegramImage(file_id=document.file_id, mime_type=document.mime_type)], None
        return [], document.file_name or document.mime_type or "this file"
    return [], None
