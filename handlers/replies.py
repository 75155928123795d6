"""Who asked and how to answer them: shared by every handler."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot, Message, Update

from bot.domain.access import payer_of
from bot.domain.albums import Attachment, Kind, keyframes_for
from bot.domain.generations import Requester
from bot.domain.model import Refusal
from bot.domain.specs import TelegramImage
from bot.links import IMAGE_TYPES
from bot.luma.models import ASPECT_RATIOS
from bot.texts import text
from bot.worker.delivery import reply_to_message
from handlers.commands import extract_command


def requester_of(update: Update) -> Requester:
    """The person (or chat) asking, who pays, and the message to answer. For a button press
    that message is the one carrying the button, and the presser, always a person, asks."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None
    sender_chat = message.sender_chat if update.callback_query is None else None
    if sender_chat is not None:
        # A channel post, an anonymous group admin or someone posting as a channel: Telegram
        # hides the person (`from` is a stand-in such as @GroupAnonymousBot), so the chat asks.
        user = None
    return Requester(
        user_id=user.id if user else None,
        chat_id=message.chat_id,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        message_id=message.message_id,
        payer_id=payer_of(
            user.id if user else None,
            sender_chat.id if sender_chat else None,
            message.chat_id,
        ),
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
        reply_parameters=reply_to_message(who.message_id),
        **kwargs,  # type: ignore[arg-type]
    )


async def refused_unless_admin(bot: Bot, who: Requester, is_admin: bool) -> bool:
    """Whether an admin-only command was refused (and its sender told so)."""
    if is_admin:
        return False
    await answer(bot, who, "admin_only")
    return True


async def answer(bot: Bot, who: Requester, key: str, **values: object) -> Message:
    """Reply with catalog message `key` in the requester's language."""
    body = text(key, who.language_code, ratios=", ".join(ASPECT_RATIOS), **values)
    return await say(bot, who, body)


async def refuse(bot: Bot, who: Requester, refusal: Refusal) -> Message:
    """Tell the requester why the domain said no."""
    return await answer(bot, who, refusal.key, **refusal.values)


def command_args(update: Update, bot: Bot) -> list[str]:
    """The words after the command (the handler's filter guarantees a command)."""
    message = update.effective_message
    assert message is not None
    command = extract_command(message, bot.username)
    assert command is not None
    return command.args.split()


@dataclass(frozen=True)
class IncomingCommand:
    """A command message with what every command handler needs from it."""

    message: Message
    args: str
    who: Requester
    images: list[TelegramImage]

    @property
    def request_key(self) -> str:
        return f"msg:{self.who.chat_id}:{self.who.message_id}"


async def incoming_command(update: Update, bot: Bot) -> IncomingCommand | None:
    """The command in `update`, or None after telling the user why what it carries cannot be
    a keyframe (bot/domain/albums.py decides: a video, sound, a file that is not an image)."""
    message = update.effective_message
    assert message is not None
    command = extract_command(message, bot.username)
    assert command is not None  # the handler's filter guarantees it
    who = requester_of(update)
    keyframes = keyframes_for(command.name, [attachment_of(message)])
    if isinstance(keyframes, Refusal):
        await refuse(bot, who, keyframes)
        return None
    return IncomingCommand(message=message, args=command.args, who=who, images=keyframes.images)


def attachment_of(message: Message) -> Attachment:
    """What `message` carries, as far as keyframes go."""
    if message.photo:
        # Sizes come smallest first; the last is the original resolution.
        image = TelegramImage(file_id=message.photo[-1].file_id, mime_type="image/jpeg")
        return Attachment(Kind.IMAGE, image=image)
    if message.video or message.animation or message.video_note:
        return Attachment(Kind.VIDEO)  # (a GIF also sets `document`: this comes first)
    if message.audio or message.voice:
        return Attachment(Kind.SOUND)
    document = message.document
    if document is None:
        return Attachment(Kind.NONE)
    if document.mime_type in IMAGE_TYPES:
        image = TelegramImage(file_id=document.file_id, mime_type=document.mime_type)
        return Attachment(Kind.IMAGE, image=image)
    if (document.mime_type or "").startswith("video/"):
        return Attachment(Kind.VIDEO)  # a video sent as a file
    return Attachment(Kind.FILE, name=document.file_name or document.mime_type or "this file")
