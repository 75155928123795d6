"""Recognising commands meant for this bot, in message text or in a photo caption.

PTB's CommandHandler ignores captions and fires on edited messages; this filter reads both text
and caption, accepts `/cmd` and `/cmd@ThisBot`, rejects `/cmd@OtherBot`, and keeps the rest of
the text verbatim (newlines included) for the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message, MessageEntity
from telegram.ext import filters


@dataclass(frozen=True)
class CommandText:
    name: str  # lower-case, without "/" and "@bot"
    args: str  # everything after the command, as typed


def extract_command(message: Message, bot_username: str) -> CommandText | None:
    body = message.text if message.text is not None else message.caption
    entities = message.entities if message.text is not None else message.caption_entities
    if not body or not entities:
        return None
    first = entities[0]
    if first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return None
    # A command at offset 0 is ASCII, so UTF-16 offsets and Python indices agree here.
    command = body[1 : first.length]
    name, _, target = command.partition("@")
    if target and target.lower() != bot_username.lower():
        return None
    return CommandText(name=name.lower(), args=body[first.length :])


class BotCommand(filters.MessageFilter):
    """Passes messages whose text or caption starts with one of `names` addressed to us."""

    def __init__(self, *names: str) -> None:
        super().__init__(name=f"BotCommand{names}")
        self._names = frozenset(name.lower() for name in names)

    def filter(self, message: Message) -> bool:
        command = extract_command(message, message.get_bot().username)
        return command is not None and command.name in self._names
