"""The test's side: what users do. Each call queues the update Telegram would send (for
``getUpdates`` or the webhook) and returns it: texts, photos, videos, documents, edits,
deletions, channel posts and messages sent on behalf of a chat.

Albums (``media_group_id``) follow Telegram's rules: photos and videos may share one, documents
only go with documents, and an album holds at most 10 items; a helper asked for another album
raises ``ValueError``, as a Telegram client never sends one.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from playground.bot_api.entities import command_entities
from playground.bot_api.state import FakeState, _quoted

FAKE_JPEG = b"\xff\xd8\xff\xe0fake-jpeg" + bytes(2000) + b"\xff\xd9"  # default photo
# Default video: an MP4's first box (``ftyp``), then filler.
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(3000)

# What may share an album with what (Bot API, sendMediaGroup: "Documents and audio files can be
# only grouped in an album with messages of the same type"), and how many items it holds.
_ALBUM_FAMILY = {"photo": "photo or video", "video": "photo or video", "document": "document"}
MAX_ALBUM_ITEMS = 10


# Who Telegram names in ``from`` when a message is sent on behalf of a chat: an anonymous group
# admin, a user posting as a channel, and a channel post copied into its discussion group.
ANONYMOUS_ADMIN_USER = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT_USER = {
    "id": 136817688,
    "is_bot": True,
    "first_name": "Channel",
    "username": "Channel_Bot",
}
TELEGRAM_SERVICE_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}


class UserActions(FakeState):
    """``add_user``, ``user_sends``, ``user_sends_photo``, ``user_sends_video``,
    ``user_sends_document``, ``user_edits``, ``user_deletes``, ``channel_posts``, ``chat_sends``
    and ``inject_update``."""

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str = "",
        language_code: str = "en",
    ) -> dict:
        """Make a user known to Telegram by name before they do anything (``getChatMember``, a
        button press and a payment then name them so); queues nothing. Returns the ``User``."""
        user = self._user_acts(user_id, first_name, username, language_code)
        if not username:
            del user["username"]  # a user without one has no such field
        return copy.deepcopy(user)

    def user_sends(
        self,
        text: str,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str = "en",
        first_name: str = "Ann",
        username: str = "ann",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        chat_title: str | None = None,
    ) -> dict:
        """Queue a ``message`` update with ``text`` (+ ``bot_command`` entities)."""
        msg = self._user_message(
            user_id,
            chat_id,
            chat_type,
            language_code,
            first_name,
            username,
            reply_to_message_id,
            message_thread_id,
            chat_title,
        )
        msg["text"] = text
        if ents := command_entities(text):
            msg["entities"] = ents
        return self._push_message("message", msg)

    def _push_media(self, msg: dict, media_group_id: str | None, caption: str | None) -> dict:
        """Queue a user's media message, with its album (``media_group_id``) and its caption
        (with ``bot_command`` entities)."""
        if media_group_id is not None:
            msg["media_group_id"] = str(media_group_id)
        if caption is not None:
            msg["caption"] = caption
            if ents := command_entities(caption):
                msg["caption_entities"] = ents
        return self._push_message("message", msg)

    def user_sends_photo(
        self,
        caption: str | None = None,
        user_id: int = 1001,
        chat_id: int | None = None,
        media_group_id: str | None = None,
        photo_bytes: bytes | None = None,
        chat_type: str = "private",
        language_code: str = "en",
        first_name: str = "Ann",
        username: str = "ann",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        chat_title: str | None = None,
        width: int = 1280,
        height: int = 720,
    ) -> dict:
        """Queue a photo ``message``: 3 PhotoSizes, the largest holds ``photo_bytes`` (default
        ``FAKE_JPEG``), the smaller ones byte prefixes. Other arguments as in ``user_sends``."""
        msg = self._user_message(
            user_id,
            chat_id,
            chat_type,
            language_code,
            first_name,
            username,
            reply_to_message_id,
            message_thread_id,
            chat_title,
        )
        self._join_album(msg["chat"]["id"], media_group_id, "photo")
        msg["photo"] = self._photo_sizes(photo_bytes or FAKE_JPEG, width, height)
        return self._push_media(msg, media_group_id, caption)

    def user_sends_document(
        self,
        data: bytes,
        *,
        file_name: str = "photo.jpg",
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        media_group_id: str | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        language_code: str = "en",
        first_name: str = "Ann",
        username: str = "ann",
        chat_title: str | None = None,
    ) -> dict:
        """Queue a ``message`` with a ``document`` (a file sent "without compression", e.g. an
        uncompressed photo): ``file_id``, ``file_unique_id``, ``file_name``, ``mime_type``,
        ``file_size``. ``getFile`` and the file route serve ``data``. No thumbnail is attached.
        Other arguments as in ``user_sends``."""
        if not data:
            raise ValueError("user_sends_document: Telegram does not deliver empty files")
        msg = self._user_message(
            user_id,
            chat_id,
            chat_type,
            language_code,
            first_name,
            username,
            reply_to_message_id,
            message_thread_id,
            chat_title,
        )
        self._join_album(msg["chat"]["id"], media_group_id, "document")
        stored = self._register(data, "document", mime_type=mime_type, file_name=file_name)
        msg["document"] = self._file_json(stored)
        return self._push_media(msg, media_group_id, caption)

    def user_sends_video(
        self,
        caption: str | None = None,
        *,
        video_bytes: bytes | None = None,
        width: int = 1280,
        height: int = 720,
        duration: int = 5,
        mime_type: str = "video/mp4",
        file_name: str | None = None,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        media_group_id: str | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        language_code: str = "en",
        first_name: str = "Ann",
        username: str = "ann",
        chat_title: str | None = None,
    ) -> dict:
        """Queue a ``message`` with a ``video`` (a clip sent from the gallery, alone or in an
        album with photos): ``file_id``, ``file_unique_id``, ``width``, ``height``,
        ``duration``, ``mime_type``, ``file_size`` (and ``file_name`` when given). ``getFile``
        and the file route serve ``video_bytes`` (default ``FAKE_MP4``). No thumbnail is
        attached. Other arguments as in ``user_sends``."""
        data = FAKE_MP4 if video_bytes is None else video_bytes
        if not data:
            raise ValueError("user_sends_video: Telegram does not deliver empty files")
        msg = self._user_message(
            user_id,
            chat_id,
            chat_type,
            language_code,
            first_name,
            username,
            reply_to_message_id,
            message_thread_id,
            chat_title,
        )
        self._join_album(msg["chat"]["id"], media_group_id, "video")
        stored = self._register(data, "video", mime_type=mime_type, file_name=file_name)
        stored.meta = {"width": width, "height": height, "duration": duration}
        msg["video"] = self._file_json(stored, "width", "height", "duration")
        return self._push_media(msg, media_group_id, caption)

    def user_edits(self, message: dict, text: str) -> dict:
        """Queue an ``edited_message`` update replacing the text/caption of ``message``."""
        stored = self._find(message["chat"]["id"], message["message_id"])
        if stored is None:
            raise ValueError("user_edits: message not found (deleted?)")
        media = any(k in stored for k in ("photo", "document", "video"))
        key, ents_key = ("caption", "caption_entities") if media else ("text", "entities")
        stored[key] = text
        stored.pop(ents_key, None)
        if ents := command_entities(text):
            stored[ents_key] = ents
        stored["edit_date"] = int(time.time())
        channel = stored["chat"]["type"] == "channel"
        self._push_update({"edited_channel_post" if channel else "edited_message": stored})
        return copy.deepcopy(stored)

    def user_deletes(self, chat_id: int, message_id: int) -> dict:
        """Delete a message (the user's or the bot's) as a user can in a private chat; returns
        it. Bots get no update for this, as with Telegram. Afterwards edits, deletions and
        replies aimed at it fail like Telegram's ("message to edit not found", ...)."""
        stored = self._find(chat_id, message_id)
        if stored is None:
            raise ValueError(f"user_deletes: message {message_id} not found in chat {chat_id}")
        del self._messages[chat_id][message_id]
        self._bot_sent.discard((chat_id, message_id))
        self._notify()
        return copy.deepcopy(stored)

    def channel_posts(
        self,
        text: str,
        chat_id: int = -100777,
        title: str = "My channel",
        username: str | None = None,
        photo_bytes: bytes | None = None,
        reply_to_message_id: int | None = None,
        media_group_id: str | None = None,
    ) -> dict:
        """Queue a ``channel_post`` (no ``from``; ``sender_chat`` is the channel). With
        ``photo_bytes`` the text becomes the caption of a photo post (empty text: no caption),
        which ``media_group_id`` makes part of an album; ``reply_to_message_id`` quotes a post
        of the channel (e.g. the bot's video)."""
        chat = self.add_chat(chat_id, "channel", title=title, username=username)
        msg: dict[str, Any] = {
            "message_id": self._next_id(chat_id),
            "sender_chat": chat,
            "chat": chat,
            "date": int(time.time()),
        }
        if reply_to_message_id is not None:
            target = self._find(chat_id, reply_to_message_id)
            if target is None:
                raise ValueError(f"reply_to_message_id {reply_to_message_id} not found")
            msg["reply_to_message"] = _quoted(target)
        key = "text"
        if photo_bytes is not None:
            self._join_album(chat_id, media_group_id, "photo")
            msg["photo"], key = self._photo_sizes(photo_bytes, 1280, 720), "caption"
        if media_group_id is not None:
            msg["media_group_id"] = str(media_group_id)
        if text or key == "text":
            msg[key] = text
        if ents := command_entities(text):
            msg["entities" if key == "text" else "caption_entities"] = ents
        return self._push_message("channel_post", msg)

    def chat_sends(
        self,
        text: str,
        *,
        chat_id: int,
        sender_chat_id: int,
        chat_type: str = "supergroup",
        sender_title: str | None = None,
        automatic_forward: bool = False,
        reply_to_message_id: int | None = None,
    ) -> dict:
        """Queue a group ``message`` sent on behalf of a chat, as Telegram shows it (the person
        behind it is hidden): by an anonymous admin (``sender_chat_id == chat_id``; ``from`` is
        @GroupAnonymousBot), or by a user posting as one of their channels (``sender_chat_id`` a
        channel; ``from`` is @Channel_Bot). ``automatic_forward``: a post of channel
        ``sender_chat_id`` that Telegram copied into its linked discussion group (``from`` is
        Telegram, 777000; ``is_automatic_forward`` and ``forward_origin`` set)."""
        if chat_type not in ("group", "supergroup"):
            raise ValueError("chat_sends: messages on behalf of a chat are sent in groups")
        chat = self.add_chat(chat_id, chat_type)
        sender = (
            chat
            if sender_chat_id == chat_id
            else self.add_chat(sender_chat_id, "channel", title=sender_title)
        )
        if automatic_forward:
            author = dict(TELEGRAM_SERVICE_USER)
        else:
            author = dict(ANONYMOUS_ADMIN_USER if sender is chat else CHANNEL_BOT_USER)
        msg: dict[str, Any] = {
            "message_id": self._next_id(chat_id),
            "from": author,
            "sender_chat": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if automatic_forward:
            msg["is_automatic_forward"] = True
            msg["forward_origin"] = {
                "type": "channel",
                "chat": sender,
                "message_id": self._next_id(sender_chat_id),
                "date": msg["date"],
            }
        if reply_to_message_id is not None:
            target = self._find(chat_id, reply_to_message_id)
            if target is None:
                raise ValueError(f"reply_to_message_id {reply_to_message_id} not found")
            msg["reply_to_message"] = _quoted(target)
        if ents := command_entities(text):
            msg["entities"] = ents
        return self._push_message("message", msg)

    def inject_update(self, update: dict) -> dict:
        """Queue a raw update (``update_id`` is assigned); returns it."""
        return self._push_update(copy.deepcopy(update))

    def _join_album(self, chat_id: int, media_group_id: str | None, kind: str) -> None:
        """Count a ``kind`` item into album ``media_group_id`` of ``chat_id``, or refuse an album
        a Telegram client never sends (a document beside a photo or video, an 11th item)."""
        if media_group_id is None:
            return
        key = (chat_id, str(media_group_id))
        family, count = self._albums.get(key, (_ALBUM_FAMILY[kind], 0))
        if family != _ALBUM_FAMILY[kind]:
            raise ValueError(
                f"album {media_group_id}: Telegram groups a {kind} only with a "
                f"{_ALBUM_FAMILY[kind]}, and this album holds a {family}"
            )
        if count >= MAX_ALBUM_ITEMS:
            raise ValueError(f"album {media_group_id}: at most {MAX_ALBUM_ITEMS} items")
        self._albums[key] = (family, count + 1)

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        chat_type: str,
        language_code: str,
        first_name: str,
        username: str,
        reply_to: int | None,
        thread: int | None,
        chat_title: str | None,
    ) -> dict:
        if chat_type not in ("private", "group", "supergroup"):
            raise ValueError(f"chat_type must be private, group or supergroup, not {chat_type!r}")
        if chat_id is None and chat_type != "private":
            raise ValueError("chat_id is required for group chats")
        user = self._user_acts(user_id, first_name, username, language_code)
        chat_id = user_id if chat_id is None else chat_id
        self._members.setdefault(chat_id, {}).setdefault(user_id, "member")
        chat = self.add_chat(
            chat_id,
            chat_type,
            title=chat_title,
            first_name=first_name,
            username=username if chat_type == "private" else None,
        )
        msg: dict[str, Any] = {
            "message_id": 0,
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        }
        if thread is not None:
            chat["is_forum"] = True
            msg.update(message_thread_id=thread, is_topic_message=True)
        if reply_to is not None:
            target = self._find(chat_id, reply_to)
            if target is None:
                raise ValueError(f"reply_to_message_id {reply_to} not found in chat {chat_id}")
            msg["reply_to_message"] = _quoted(target)
        msg["message_id"] = self._next_id(chat_id)
        return msg
