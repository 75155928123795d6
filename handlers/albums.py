"""Albums: every photo of a media group is stored as it arrives; once the album is complete
(bot/domain/albums.py), the photo captioned with `/video` decides what happens to all of them.

Privacy mode: in groups a bot in privacy mode only receives the captioned photo of an album,
so there a two-photo album arrives as one photo (see README).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from telegram import Message, Update
from telegram.ext import Application, filters

from bot.domain.generations import Requester
from bot.domain.model import AlbumItem
from bot.domain.specs import TelegramImage
from bot.runtime import BotContext, runtime_of
from handlers.commands import extract_command
from handlers.replies import answer, images_of, requester_of
from handlers.video import start_video

log = logging.getLogger(__name__)


class InAlbum(filters.MessageFilter):
    """Messages that belong to a media group."""

    def filter(self, message: Message) -> bool:
        return message.media_group_id is not None


async def album_item(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None and message.media_group_id is not None
    command = extract_command(message, context.bot.username)
    images, not_an_image = images_of(message)
    payload = {
        "who": dataclasses.asdict(requester_of(update)),
        "command": command.name if command else None,
        "args": command.args if command else "",
        "image": images[0].model_dump() if images else None,
        "not_an_image": not_an_image,
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
    """Act on a complete album: only albums captioned with one of our commands matter."""
    captioned = next((item for item in items if item.payload["command"]), None)
    if captioned is None:
        return
    bot, runtime = application.bot, runtime_of(application)
    who = _requester(captioned.payload["who"])
    if who is None:
        return
    odd = next(
        (item.payload["not_an_image"] for item in items if item.payload["not_an_image"]), None
    )
    if odd is not None:
        await answer(bot, who, "unsupported_file", name=odd)
        return
    if captioned.payload["command"] in ("extend", "story"):
        # Either starts from one picture.
        await answer(bot, who, f"{captioned.payload['command']}_one_photo")
        return
    images = [TelegramImage(**item.payload["image"]) for item in items if item.payload["image"]]
    await start_video(
        bot,
        runtime,
        who,
        captioned.payload["args"],
        images,
        request_key=f"album:{captioned.chat_id}:{captioned.media_group_id}",
    )


def _requester(stored: dict[str, Any]) -> Requester | None:
    """The requester an album item recorded. Items stored by a version that did not record the
    payer (an upgrade mid-album) name it only when a user asked; otherwise nothing is charged."""
    if "payer_id" not in stored:
        if stored.get("user_id") is None:
            log.warning("album of chat %s dropped: stored without its payer", stored.get("chat_id"))
            return None
        stored = {**stored, "payer_id": stored["user_id"]}
    return Requester(**stored)
