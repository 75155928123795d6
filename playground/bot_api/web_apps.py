"""Mini Apps (Web Apps): the menu button (``setChatMenuButton``, ``getChatMenuButton``) and what
a Telegram client hands a Mini App it opens (``web_app_init_data``, ``web_app_url``).

Menu buttons are kept as Telegram keeps them: one per private chat and one for all chats (no
``chat_id``). ``menu_button`` is a MenuButton JSON object: ``{"type": "commands"}``,
``{"type": "default"}`` or ``{"type": "web_app", "text": ..., "web_app": {"url": ...}}``; none
at all is ``{"type": "default"}``. The errors are worded as in the sources of the Bot API
server (``get_bot_menu_button``, ``get_user_id``) and of TDLib (``set_menu_button``): "can't
parse menu button: MenuButton has unsupported type" (seen from Telegram too), "can't parse menu
button: Can't find field "text"", "menu button text must be non-empty", "menu button Web App URL
'http://x' is invalid: Only HTTPS links are allowed" (older servers wrote "web app"), ...; a
``chat_id`` must be a user's id ("invalid chat_id specified") whom the fake knows ("user not
found").

What ``getChatMenuButton`` answers, as Telegram documents it (core.telegram.org/api/bots/menu):
for a chat, the button set for that chat, else ``{"type": "default"}`` ("no specific value was
set": the chat shows the bot's default); without ``chat_id``, the bot's default, which is
``{"type": "commands"}`` until one is set ("default" is never returned there). Setting
``{"type": "default"}`` for a chat forgets its own button; for all chats it changes nothing.
``tg.menu_button(chat_id)`` is what the user of that chat sees: its own, else the default.

A user opening a Mini App makes no Bot API call: ``web_app_init_data`` is the ``initData``
string Telegram gives the app (``Telegram.WebApp.initData``), signed with the bot's token as
core.telegram.org/bots/webapps describes; ``web_app_url`` the URL the client loads, with it and
the launch parameters in the fragment. Deviation: the Ed25519 ``signature`` field (for
third-party validation) is random-looking, not signed with Telegram's key; ``hash`` is exact.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

from playground.bot_api.messages import web_app_url_problem
from playground.bot_api.protocol import ApiError, _bad
from playground.bot_api.state import FakeState

WEB_APP_VERSION = "8.0"
WEB_APP_PLATFORM = "android"
# The theme parameters Telegram's Android app sends (its default day and night themes).
LIGHT_THEME = {
    "bg_color": "#ffffff",
    "section_bg_color": "#ffffff",
    "secondary_bg_color": "#f0f0f0",
    "text_color": "#222222",
    "hint_color": "#a8a8a8",
    "link_color": "#2678b6",
    "button_color": "#50a8eb",
    "button_text_color": "#ffffff",
    "header_bg_color": "#527da3",
    "accent_text_color": "#1c93e3",
    "section_header_text_color": "#3a95d5",
    "subtitle_text_color": "#82868a",
    "destructive_text_color": "#cc2929",
    "section_separator_color": "#d9d9d9",
    "bottom_bar_bg_color": "#f0f0f0",
}
DARK_THEME = {
    "bg_color": "#212d3b",
    "section_bg_color": "#1d2733",
    "secondary_bg_color": "#151e27",
    "text_color": "#ffffff",
    "hint_color": "#7d8b99",
    "link_color": "#5eabe1",
    "button_color": "#50a8eb",
    "button_text_color": "#ffffff",
    "header_bg_color": "#242d39",
    "accent_text_color": "#64b5ef",
    "section_header_text_color": "#79c4fc",
    "subtitle_text_color": "#7b8790",
    "destructive_text_color": "#ee686f",
    "section_separator_color": "#0d1218",
    "bottom_bar_bg_color": "#151e27",
}
# Where a Mini App can be opened from a chat (WebAppInitData.chat_type).
WEB_APP_CHAT_TYPES = ("sender", "private", "group", "supergroup", "channel")
_COMMANDS = {"type": "commands"}
_DEFAULT = {"type": "default"}


def _parse_error(reason: str) -> ApiError:
    return _bad(f"can't parse menu button: {reason}")


def _string_field(obj: dict, name: str) -> str:
    """A required string field as the Bot API server reads it (a number is taken as text)."""
    value = obj.get(name)
    if value is None:
        raise _parse_error(f'Can\'t find field "{name}"')
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _parse_error(f'Field "{name}" must be of type String')
    return str(value)


def parse_menu_button(value: Any) -> dict:
    """The MenuButton object of ``menu_button`` as Telegram stores it; its 400 when unusable."""
    if value is None:
        return dict(_DEFAULT)
    if not isinstance(value, dict):
        raise _parse_error("MenuButton must be an Object")
    kind = _string_field(value, "type")
    if kind in ("commands", "default"):
        return {"type": kind}
    if kind != "web_app":
        raise _parse_error("MenuButton has unsupported type")
    text = _string_field(value, "text")
    web_app = value.get("web_app")
    if web_app is None:
        raise _parse_error('Can\'t find field "web_app"')
    if not isinstance(web_app, dict):
        raise _parse_error('Field "web_app" must be of type Object')
    url = _string_field(web_app, "url")
    if not text:
        raise _bad("menu button text must be non-empty")
    if problem := web_app_url_problem(url):
        raise _bad(f"menu button Web App URL '{url}' is invalid: {problem}")
    return {"type": "web_app", "text": text, "web_app": {"url": url}}


def _telegram_json(value: Any) -> str:
    """JSON as Telegram writes it into initData: compact, UTF-8 as is, and "/" escaped as "\\/"
    (so a checker must use the values as received, never re-encode them)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")


def init_data_hash(fields: dict[str, str], token: str) -> str:
    """The ``hash`` of initData fields (``hash`` itself left out), as core.telegram.org/bots/webapps
    says: HMAC-SHA-256 of the sorted ``key=value`` lines, keyed with HMAC-SHA-256("WebAppData",
    token)."""
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


class WebApps(FakeState):
    """``setChatMenuButton``, ``getChatMenuButton``, ``menu_button``, ``web_app_init_data`` and
    ``web_app_url``."""

    async def _m_setChatMenuButton(self, p: dict, uploads: dict) -> bool:
        button = parse_menu_button(p.get("menu_button"))
        chat_id = self._menu_chat(p)
        if chat_id is None:
            if button != _DEFAULT:  # "default" for all chats keeps the previous button
                self._menu_buttons[None] = button
        elif button == _DEFAULT:
            self._menu_buttons.pop(chat_id, None)
        else:
            self._menu_buttons[chat_id] = button
        return True

    async def _m_getChatMenuButton(self, p: dict, uploads: dict) -> dict:
        chat_id = self._menu_chat(p)
        fallback = _COMMANDS if chat_id is None else _DEFAULT
        return copy.deepcopy(self._menu_buttons.get(chat_id, fallback))

    def _menu_chat(self, p: dict) -> int | None:
        """The private chat (a user's id) of a menu button call; None for all chats."""
        if p.get("chat_id") is None:
            return None
        try:
            user_id = int(str(p["chat_id"]))
        except ValueError:
            user_id = 0
        if user_id <= 0:
            raise _bad("invalid chat_id specified")
        chat = self._chats.get(user_id)
        if user_id not in self._users and (chat is None or chat["type"] != "private"):
            raise _bad("user not found")
        return user_id

    def menu_button(self, chat_id: int | None = None) -> dict:
        """The menu button the user of private chat ``chat_id`` sees: the chat's own, else the
        bot's default, else ``{"type": "commands"}``; ``chat_id`` None: the bot's default."""
        own = self._menu_buttons.get(chat_id) if chat_id is not None else None
        return copy.deepcopy(own or self._menu_buttons.get(None, _COMMANDS))

    def web_app_init_data(
        self,
        user_id: int,
        *,
        auth_date: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_premium: bool = False,
        chat_type: str | None = None,
        chat_instance: str | None = None,
        start_param: str | None = None,
        signature: bool = True,
    ) -> str:
        """The initData Telegram hands a Mini App that user ``user_id`` opens, signed with this
        bot's token (``hash``): ``query_id`` (random-looking; only when opened from the bot's
        menu or inline button, i.e. ``chat_type`` None), ``user``, ``chat_type`` /
        ``chat_instance`` / ``start_param`` when given (opened from a link in a chat),
        ``auth_date`` (default now), ``signature`` (see the module docstring; False leaves it
        out, as before Bot API 8.0) and ``hash``, URL-encoded.

        ``user`` is the JSON Telegram writes: id, first_name, last_name (always, maybe ""),
        username and language_code when known, is_premium when true, allows_write_to_pm. Names
        and language: the arguments, else what the fake knows of the user (from ``user_sends``
        and the like), else ``first_name`` "User <id>"."""
        if chat_type is not None and chat_type not in WEB_APP_CHAT_TYPES:
            raise ValueError(f"chat_type must be one of {WEB_APP_CHAT_TYPES} or None")
        fields: dict[str, str] = {}
        if chat_type is None:
            fields["query_id"] = secrets.token_urlsafe(18)
        known = self._users.get(user_id, {})
        user = {"id": user_id, "first_name": first_name or known.get("first_name")}
        user["first_name"] = user["first_name"] or f"User {user_id}"
        user["last_name"] = last_name if last_name is not None else known.get("last_name", "")
        if name := username if username is not None else known.get("username"):
            user["username"] = name
        if language := language_code or known.get("language_code"):
            user["language_code"] = language
        if is_premium:
            user["is_premium"] = True
        user["allows_write_to_pm"] = True
        fields["user"] = _telegram_json(user)
        for key, value in (("chat_instance", chat_instance), ("chat_type", chat_type)):
            if value is not None:
                fields[key] = str(value)
        if start_param is not None:
            fields["start_param"] = start_param
        fields["auth_date"] = str(int(time.time()) if auth_date is None else auth_date)
        if signature:
            fields["signature"] = base64.urlsafe_b64encode(secrets.token_bytes(64)).decode()
            fields["signature"] = fields["signature"].rstrip("=")
        fields["hash"] = init_data_hash(fields, self.token)
        return urlencode(fields, quote_via=quote)

    @staticmethod
    def web_app_url(url: str, init_data: str, *, theme: dict[str, str] | None = None) -> str:
        """The URL a Telegram client (Android, Bot API 8.0) loads for a Mini App at ``url``: the
        launch parameters in its fragment, ``tgWebAppData`` (``init_data``, URL-encoded once
        more), ``tgWebAppVersion``, ``tgWebAppPlatform`` and ``tgWebAppThemeParams`` (JSON of
        ``theme``: ``LIGHT_THEME`` by default, or ``DARK_THEME``)."""
        if "#" in url:
            raise ValueError("web_app_url: a Mini App URL carries no #fragment of its own")
        params = {
            "tgWebAppData": init_data,
            "tgWebAppVersion": WEB_APP_VERSION,
            "tgWebAppPlatform": WEB_APP_PLATFORM,
            "tgWebAppThemeParams": json.dumps(theme or LIGHT_THEME, separators=(",", ":")),
        }
        return f"{url}#{urlencode(params, quote_via=quote)}"
