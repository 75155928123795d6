"""Albums: every item of a media group (photo, video, file) is stored as it arrives; once the
album is complete (bot/domain/albums.py), the item captioned with `/video` decides what happens
to all of them, by the rules of `album_request`.

Privacy mode: in groups a bot in privacy mode only receives the captioned item of an album,
so there a two-photo album arrives as one photo (see README).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from telegram import Message, Update
from telegram.ext import Application, filters

from bot.domain.albums import MEDIA_COMMANDS, AlbumPart, Attachment, Kind, album_request
from bot.domain.generations import Requester
from bot.domain.model import AlbumItem, Refusal
from bot.domain.specs import TelegramImage
from bot.runtime import BotContext, runtime_of
from handlers.commands import extract_command
from handlers.replies import attachment_of, refuse, requester_of
from handlers.video import start_video

log = logging.getLogger(__name__)


class InAlbum(filters.MessageFilter):
    """Messages that belong to a media group (photos and videos, files, or audio), except an
    item captioned with a command other than `/video`, `/extend` or `/story` (`/help`,
    `/quota`...): that one is answered as the same command sent as text would be."""

    def filter(self, message: Message) -> bool:
        if message.media_group_id is None:
            return False
        command = extract_command(message, message.get_bot().username)
        return command is None or command.name in MEDIA_COMMANDS


async def album_item(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None and message.media_group_id is not None
    command = extract_command(message, context.bot.username)
    attachment = attachment_of(message)
    payload = {
        "who": dataclasses.asdict(requester_of(update)),
        "command": command.name if command else None,
        "args": command.args if command else "",
        "kind": attachment.kind.value,
        "image": attachment.image.model_dump() if attachment.image else None,
        # Read by the versions before "kind": a file that is not an image.
        "not_an_image": attachment.name,
    }
    await context.runtime.albums.add(
        AlbumItem(
            chat_id=message.chat_id,
            media_group_id=message.media_group_id,
            message_id=message.message_id,
            payload=payload,
        )
    )


async def album_complete(application: Application, items: list[AlbumItem]) -> None:
    """Act on a complete album: only albums captioned with `/video`, `/extend` or `/story`
    matter; bot/domain/albums.py decides what the album's items may do."""
    parts = [AlbumPart(item.payload["command"], _attachment(item.payload)) for item in items]
    request = album_request(parts)
    if request is None:
        return
    captioned = items[request.asked]
    bot, runtime = application.bot, runtime_of(application)
    who = _requester(captioned.payload["who"])
    if who is None:
        return
    if isinstance(request.outcome, Refusal):
        await refuse(bot, who, request.outcome)
        return
    assert request.command == "video"  # an album of /extend or /story is refused
    await start_video(
        bot,
        runtime,
        who,
        captioned.payload["args"],
        request.outcome,
        request_key=f"album:{captioned.chat_id}:{captioned.media_group_id}",
    )


def _attachment(payload: dict[str, Any]) -> Attachment:
    """An item's attachment as stored; items stored before "kind" held a photo, an image file
    or another file (`not_an_image`)."""
    image = TelegramImage(**payload["image"]) if payload["image"] else None
    if "kind" in payload:
        return Attachment(Kind(payload["kind"]), image=image, name=payload["not_an_image"])
    if payload["not_an_image"]:
        return Attachment(Kind.FILE, name=payload["not_an_image"])
    return Attachment(Kind.IMAGE if image else Kind.NONE, image=image)


def _requester(stored: dict[str, Any]) -> Requester | None:
    """The requester an album item recorded. Items stored by a version that did not record the
    payer (an upgrade mid-album) name it only when a user asked; otherwise nothing is charged."""
    if "payer_id" not in stored:
        if stored.get("user_id") is None:
            log.warning("album of chat %s dropped: stored without its payer", stored.get("chat_id"))
            return None
        stored = {**stored, "payer_id": stored["user_id"]}
    return Requester(**stored)
