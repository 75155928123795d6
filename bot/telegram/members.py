"""Who a chat's members are, as Telegram says at the moment of asking (never remembered)."""

from __future__ import annotations

import logging

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
