"""Text messages: ``sendMessage``, ``editMessageText``, ``editMessageReplyMarkup``,
``deleteMessage``, ``sendChatAction``, and the checks every send shares (text and caption
limits, HTML, inline keyboards and other reply markups, reply targets, "message is not
modified").
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from playground.bot_api.entities import parse_html, u16len
from playground.bot_api.protocol import (
    _BUTTON_KINDS,
    _NOT_MODIFIED,
    CHAT_ACTIONS,
    _as_bool,
    _as_int,
    _bad,
)
from playground.bot_api.state import FakeState, _quoted


def web_app_url_problem(url: str) -> str | None:
    """Why Telegram refuses ``url`` for a Web App (TDLib's ``LinkManager::check_link``, HTTPS
    only), or None."""
    scheme, sep, rest = url.partition("://")
    if not url or (sep and not rest.split("/", 1)[0].split("?", 1)[0]):
        return "URL host is empty"
    if not sep or scheme.lower() != "https":
        return "Only HTTPS links are allowed"
    return None


def _check_web_app(web_app: Any, where: str) -> None:
    """A ``WebAppInfo`` of a button: an object with a string ``url`` that is an HTTPS link. Texts:
    the Bot API server's JSON checks (telegram-bot-api's source), then TDLib's "<where> Web App
    URL '<url>' is invalid: <problem>", as Telegram answers, e.g. "inline keyboard button Web App
    URL 'http://x' is invalid: Only HTTPS links are allowed" (not BUTTON_URL_INVALID, which is for
    ``url`` buttons)."""
    if not isinstance(web_app, dict):
        raise _bad(f'can\'t parse {where}: Field "web_app" must be of type Object')
    url = web_app.get("url")
    if url is None:
        raise _bad(f"can't parse {where}: Can't find field \"url\"")
    if not isinstance(url, str | int | float) or isinstance(url, bool):
        raise _bad(f'can\'t parse {where}: Field "url" must be of type String')
    if problem := web_app_url_problem(str(url)):
        raise _bad(f"{where} Web App URL '{url}' is invalid: {problem}")


class MessageMethods(FakeState):
    """The text methods and the send, edit and markup checks the media methods reuse."""

    async def _m_sendMessage(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        text, entities = self._text(p, "text", "entities", 4096)
        return self._send(p, {"text": text, **({"entities": entities} if entities else {})})

    async def _m_editMessageText(self, p: dict, uploads: dict) -> dict:
        stored = self._editable(p, "edit")
        if "text" not in stored:
            raise _bad("there is no text in the message to edit")
        text, entities = self._text(p, "text", "entities", 4096)
        markup = self._markup(p, stored["chat"])
        if (text, entities, markup) == (
            stored["text"],
            stored.get("entities", []),
            stored.get("reply_markup"),
        ):
            raise _bad(_NOT_MODIFIED)
        stored["text"] = text
        self._set_or_drop(stored, "entities", entities or None)
        self._set_or_drop(stored, "reply_markup", markup)
        stored["edit_date"] = int(time.time())
        return copy.deepcopy(stored)

    async def _m_editMessageReplyMarkup(self, p: dict, uploads: dict) -> dict:
        stored = self._editable(p, "edit")
        markup = self._markup(p, stored["chat"])
        if markup == stored.get("reply_markup"):
            raise _bad(_NOT_MODIFIED)
        self._set_or_drop(stored, "reply_markup", markup)
        stored["edit_date"] = int(time.time())
        return copy.deepcopy(stored)

    async def _m_deleteMessage(self, p: dict, uploads: dict) -> bool:
        stored = self._editable(p, "delete")
        del self._messages[stored["chat"]["id"]][stored["message_id"]]
        return True

    async def _m_sendChatAction(self, p: dict, uploads: dict) -> bool:
        self._chat(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _send(self, p: dict, content: dict) -> dict:
        """Validate the common send parameters, then store and return the bot message."""
        chat = self._chat(p["chat_id"])
        markup, reply = self._markup(p, chat), self._reply(chat, p)
        msg: dict[str, Any] = {"message_id": 0, "date": int(time.time()), "chat": chat}
        if chat["type"] == "channel":
            msg["sender_chat"] = chat
        else:
            msg["from"] = self._bot_user()
        if p.get("message_thread_id") is not None:
            msg["message_thread_id"] = _as_int(p["message_thread_id"], "message_thread_id")
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        if reply is not None:
            msg["reply_to_message"] = reply
        msg.update(content)
        if markup is not None:
            msg["reply_markup"] = markup
        if _as_bool(p.get("protect_content")):
            msg["has_protected_content"] = True
        msg["message_id"] = self._next_id(chat["id"])
        self._messages[chat["id"]][msg["message_id"]] = msg
        self._bot_sent.add((chat["id"], msg["message_id"]))
        return copy.deepcopy(msg)

    def _text(self, p: dict, key: str, entities_key: str, limit: int) -> tuple[str, list[dict]]:
        raw = str(p.get(key, ""))
        mode = str(p.get("parse_mode") or "").lower()
        if p.get(entities_key) is not None:
            if not isinstance(p[entities_key], list):
                raise _bad(f"can't parse {entities_key} JSON object")
            text, entities = raw, p[entities_key]
        elif mode == "html":
            text, entities = parse_html(raw)
        elif mode in ("", "markdown", "markdownv2"):
            text, entities = raw, []
        else:
            raise _bad("unsupported parse_mode")
        if key == "text" and not text.strip():
            raise _bad("message text is empty")
        if u16len(text) > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return text, entities

    def _markup(self, p: dict, chat: dict | None) -> dict | None:
        """The inline keyboard to show (None: none), checked for a message in ``chat`` (None: an
        inline-mode message, in no chat of the bot's)."""
        markup = p.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            self._check_other_markup(markup)
            return None  # reply keyboards / force_reply / remove: accepted, not echoed
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad(
                'can\'t parse inline keyboard button: field "inline_keyboard" of the '
                "InlineKeyboardMarkup should be an Array of Arrays"
            )
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if len(_BUTTON_KINDS & button.keys()) != 1:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in "
                    "the inline keyboard"
                )
            data = button.get("callback_data")
            if "callback_data" in button and not (
                isinstance(data, str) and 1 <= len(data.encode()) <= 64
            ):
                raise _bad("BUTTON_DATA_INVALID")
            if "url" in button and not re.fullmatch(r"(https?|tg)://\S+", str(button["url"])):
                raise _bad("BUTTON_URL_INVALID")
            if "web_app" in button:
                _check_web_app(button["web_app"], "inline keyboard button")
        # "Available only in private chats between a user and the bot" (Bot API); refused by
        # Telegram's servers, so after the Bot API has read every button.
        web_app = any("web_app" in b for row in rows for b in row)
        if web_app and (chat is None or chat["type"] != "private"):
            raise _bad("BUTTON_TYPE_INVALID")
        return markup if any(rows) else None

    @staticmethod
    def _check_other_markup(markup: dict) -> None:
        """ForceReply / ReplyKeyboardRemove / ReplyKeyboardMarkup, checked against the Bot API
        field rules (Telegram's exact complaint texts for these are not known: one generic one)."""
        bad = _bad("can't parse reply keyboard markup JSON object")
        kinds = {"force_reply", "remove_keyboard", "keyboard"} & markup.keys()
        if len(kinds) != 1:
            raise bad
        kind = kinds.pop()
        allowed = {
            "force_reply": {"force_reply", "input_field_placeholder", "selective"},
            "remove_keyboard": {"remove_keyboard", "selective"},
            "keyboard": {
                "keyboard",
                "is_persistent",
                "resize_keyboard",
                "one_time_keyboard",
                "input_field_placeholder",
                "selective",
            },
        }[kind]
        if not markup.keys() <= allowed:
            raise bad
        if kind in ("force_reply", "remove_keyboard") and markup[kind] is not True:
            raise bad
        if kind == "keyboard" and not (
            isinstance(markup["keyboard"], list)
            and all(isinstance(row, list) for row in markup["keyboard"])
        ):
            raise bad
        placeholder = markup.get("input_field_placeholder")
        if placeholder is not None and not (
            isinstance(placeholder, str) and 1 <= len(placeholder) <= 64
        ):
            raise bad
        for flag in allowed - {kind, "input_field_placeholder"}:
            if flag in markup and not isinstance(markup[flag], bool):
                raise bad

    def _reply(self, chat: dict, p: dict) -> dict | None:
        rp = p.get("reply_parameters")
        if rp is None and p.get("reply_to_message_id") is not None:
            rp = {
                "message_id": p["reply_to_message_id"],
                "allow_sending_without_reply": _as_bool(p.get("allow_sending_without_reply")),
            }
        if rp is None:
            return None
        if not isinstance(rp, dict) or "message_id" not in rp:
            raise _bad("can't parse reply parameters JSON object")
        target_chat = self._chat(rp["chat_id"]) if "chat_id" in rp else chat
        target = self._find(target_chat["id"], _as_int(rp["message_id"], "message_id"))
        if target is None:
            if rp.get("allow_sending_without_reply"):
                return None
            raise _bad("message to be replied not found")
        return _quoted(target)

    def _caption(self, p: dict) -> dict:
        if not str(p.get("caption") or ""):
            return {}
        text, entities = self._text(p, "caption", "caption_entities", 1024)
        return {"caption": text, **({"caption_entities": entities} if entities else {})}

    def _editable(self, p: dict, verb: str) -> dict:
        if p.get("inline_message_id") is not None:
            raise _bad(f"message to {verb} not found")  # inline messages are not emulated
        if p.get("chat_id") is None or p.get("message_id") is None:
            raise _bad("message identifier is not specified")
        chat = self._chat(p["chat_id"])
        stored = self._find(chat["id"], _as_int(p["message_id"], "message_id"))
        if stored is None:
            raise _bad(f"message to {verb} not found")
        if verb == "edit" and (chat["id"], stored["message_id"]) not in self._bot_sent:
            raise _bad("message can't be edited")
        return stored

    @staticmethod
    def _set_or_drop(target: dict, key: str, value: Any) -> None:
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
