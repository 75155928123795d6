"""Chats and their members: ``getChat``, ``getChatMember`` (the ChatMember subtype of each
status, every required field) and who is what in a chat (``set_chat_member``).
"""

from __future__ import annotations

import copy
from typing import Any

from playground.bot_api.protocol import MEMBER_STATUSES, _as_int, _bad
from playground.bot_api.state import FakeState


def _chat_member(chat: dict, user: dict, status: str) -> dict:
    """The ChatMember subtype of ``status`` as the Bot API sends it (every required field; an
    admin of a channel has its posting rights, of a group the pinning and topic ones)."""
    member: dict[str, Any] = {"user": copy.deepcopy(user), "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        rights = (
            "can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
            "can_change_info can_invite_users can_post_stories can_edit_stories "
            "can_delete_stories"
        )
        if chat["type"] == "channel":
            rights += " can_post_messages can_edit_messages can_manage_direct_messages"
        elif chat["type"] == "supergroup":
            rights += " can_pin_messages can_manage_topics"
        else:
            rights += " can_pin_messages"
        member.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
        member.update(dict.fromkeys(rights.split(), True))
    elif status == "restricted":  # a member who may do nothing, for ever (until_date 0)
        rights = (
            "can_send_messages can_send_audios can_send_documents can_send_photos "
            "can_send_videos can_send_video_notes can_send_voice_notes can_send_polls "
            "can_send_other_messages can_add_web_page_previews can_react_to_messages "
            "can_change_info can_invite_users can_pin_messages can_manage_topics can_edit_tag"
        )
        member.update(dict.fromkeys(rights.split(), False), is_member=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0  # banned for ever
    return member


class ChatMethods(FakeState):
    """``getChat``, ``getChatMember`` and the test's ``set_chat_member``."""

    def set_chat_member(self, chat_id: int, user_id: int, status: str = "administrator") -> None:
        """Make ``user_id`` a ``status`` of chat ``chat_id``, as ``getChatMember`` reports it:
        ``creator`` or ``administrator`` (the chat's admins), ``member``, ``restricted``, ``left``
        or ``kicked``. Without this a user who wrote in a chat is a ``member`` of it, any other
        user the fake knows is ``left``, and the bot is an ``administrator`` of a channel (it
        needs to be, to post) and a ``member`` elsewhere. The user becomes known to the fake."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"set_chat_member: status must be one of {MEMBER_STATUSES}")
        self._users.setdefault(user_id, self._user(user_id))
        self._members.setdefault(chat_id, {})[user_id] = status

    async def _m_getChat(self, p: dict, uploads: dict) -> dict:
        chat = self._chat(p["chat_id"])
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }

    async def _m_getChatMember(self, p: dict, uploads: dict) -> dict:
        """A ChatMember object: ``status`` and ``user``, plus the fields its status requires."""
        chat = self._chat(p["chat_id"])
        user_id = _as_int(p["user_id"], "user_id")
        status = self._members.get(chat["id"], {}).get(user_id)
        if user_id == self.bot_id:
            user: dict[str, Any] = {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": self.bot_first_name,
                "username": self.bot_username,
            }
            status = status or ("administrator" if chat["type"] == "channel" else "member")
        elif user_id in self._users:
            user = self._user(user_id)
        else:
            raise _bad("user not found")
        return _chat_member(chat, user, status or "left")
