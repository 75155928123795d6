"""Who a chat's members are, as Telegram says at the moment of asking (never remembered)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot, Chat
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

log = logging.getLogger(__name__)

# Who runs a channel, as getChatMember names them.
CHANNEL_ADMINS = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})


async def may_post_by_button(bot: Bot, chat: Chat, user_id: int) -> bool:
    """Whether a button pressed by `user_id` in `chat` may make the bot post there. In a
    channel only its creator and administrators may (the bot's own operators are no exception:
    it is not their channel), as Telegram says at each press: presses are rare, and someone
    demoted a moment ago must be refused. If Telegram cannot say, no. A group or a private chat
    is its members' own conversation: anyone in it may."""
    if chat.type != ChatType.CHANNEL:
        return True
    try:
        member = await bot.get_chat_member(chat.id, user_id)
    except TelegramError as error:
        log.warning("press in channel %d refused: admin status unknown (%s)", chat.id, error)
        return False
    return member.status in CHANNEL_ADMINS


# Who is still in a chat, as getChatMember names them (a restricted member may be in or out).
_IN_CHAT = frozenset(
    {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)


@dataclass(frozen=True)
class MemberChat:
    """A group or channel someone is in: its id, title and type ("group", "channel"...)."""

    id: int
    title: str
    type: str


async def chat_of_member(bot: Bot, chat_id: int, user_id: int) -> MemberChat | None:
    """The chat `chat_id` if `user_id` is in it now, else None (also when Telegram cannot say:
    the bot was removed, the chat is gone)."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
        if member.status not in _IN_CHAT and not getattr(member, "is_member", False):
            return None
        chat = await bot.get_chat(chat_id)
    except TelegramError as error:
        log.info("chat %d: membership of %d unknown (%s)", chat_id, user_id, error)
        return None
    return MemberChat(
        id=chat.id, title=chat.title or chat.effective_name or str(chat.id), type=chat.type
    )
