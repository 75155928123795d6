"""A fake Telegram Bot API server, spoken to over real HTTP (aiohttp) by a real PTB client.

What it fakes
    The parts of the Bot API this bot uses: ``getMe``, ``getUpdates`` (real long polling with
    ``offset`` confirmation, ``limit``, ``timeout``, ``allowed_updates`` and the 409 conflicts),
    the webhook and command methods, ``sendMessage`` / ``sendVideo`` / ``sendDocument`` /
    ``sendPhoto``, edits, ``deleteMessage``, ``sendChatAction``, ``answerCallbackQuery``,
    ``getFile`` plus the file download route, ``getChat``, ``getChatMember``, ``close``,
    ``logOut``.
    It keeps state like Telegram does: chats, messages per chat (one id sequence per chat shared by
    user and bot messages; deletions and edits applied), files by ``file_id`` and who is what in
    each chat (``set_chat_member``; a user who wrote in a chat is a member of it).

How strict it is (so that bugs show up in tests)
    Unknown parameters and missing required ones are rejected with 400 (real Telegram silently
    ignores unknown ones; we want typos in ``api_kwargs`` to fail). Texts, captions, HTML markup,
    inline keyboards (``callback_data`` <= 64 bytes), reply targets, "message is not modified",
    upload (50 MB -> 413) and download (20 MB) limits are checked with Telegram's error texts.
    Like Telegram, ``editMessageText`` without ``reply_markup`` removes the inline keyboard.
    ``reply_markup`` other than an inline keyboard (``force_reply``, reply keyboards) is checked
    against the field rules, then (like Telegram) not shown on the returned message.
    Deliberate deviations: Markdown/MarkdownV2 are stored verbatim (not parsed), ``setWebhook``
    accepts ``http://`` URLs, URL media are recorded but never fetched, thumbnails of injected
    photos are byte prefixes of the photo, text limits count UTF-16 code units.

Usage::

    async with FakeTelegram() as tg:
        app = (ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot")
               .base_file_url(f"{tg.root}/file/bot").build())
        tg.user_sends("/video a jellyfish")              # queued for getUpdates
        call = await tg.wait_for_call("sendMessage")     # what the bot answered
        assert call.ok and "queued" in call.params["text"]

Users act through ``user_sends`` (text), ``user_sends_photo`` (a compressed photo: PhotoSizes),
``user_sends_document`` (any file, e.g. an uncompressed image), ``user_edits``, ``user_deletes``,
``press_button`` (also on a message the bot can no longer see: ``inaccessible=True``),
``press_inline_button`` (a button of an inline-mode message: no ``message`` in the query) and
``channel_posts``; ``reply_to_message_id`` (also to a bot message, which is
then quoted whole, its ``video`` and ``from`` = the bot included) and ``media_group_id`` work on
the media helpers. Injected files are served by ``getFile`` and the file route.

``chat_sends`` is a group message sent on behalf of a chat, as Telegram shows it: by an anonymous
admin, by a user posting as one of their channels, or a channel post's automatic forward.

Every request is recorded as a :class:`Call` (in completion order, rejected ones included).
Faults are scripted per method and used up in the order they were scripted: ``fail_next`` (error
answers: 400/403/429/413/5xx, ...), ``delay_next`` (a slow answer; the work is done only after the
delay, so a client that gives up meanwhile changes nothing), ``lose_response_next`` (the work is
done, e.g. the video IS in the chat, but no answer ever arrives: "a timed-out send may have
succeeded"), ``garble_next`` (an answer that is not HTTP, as from a broken proxy; nothing is
done) and ``answer_oddly_next`` (a success whose result is not what PTB expects; nothing is
done). A call left unanswered has ``response=None``: ``lost=True`` if it was processed,
``False`` if its client gave up during a delay or got a garbled answer. ``messages_with_video``
is what the user got.

Flood limits (opt-in: ``flood_limits=True``; off by default, so nothing is ever refused for rate)
    Telegram's limits on "messages" (the FAQ's "Avoiding flood limits", PTB's ``FloodLimit``), as
    token buckets that start full and refill continuously (the shape of PTB's ``AIORateLimiter``,
    an aiolimiter leaky bucket, so a client that respects the same numbers is never refused):
    overall ``flood_overall_per_second`` (30; capacity 30, i.e. a burst of 30 then 30/s); each
    group, supergroup or channel (negative ``chat_id`` or an ``@username``, as PTB assumes)
    ``flood_group_per_minute`` (20; capacity 20 refilled at 20/60 per second); each private chat
    ``flood_per_chat_per_second`` (1.0) with a burst of ``flood_per_chat_burst`` (3), i.e. the
    "short bursts" Telegram tolerates before it starts answering 429. Every counted call takes one
    token from the overall bucket and one from its chat's bucket (a call with
    ``allow_paid_broadcast`` skips the overall one; a call without ``chat_id``, an inline edit,
    only takes the overall one). Counted (``FLOOD_COUNTED``): the send, copy, forward and edit
    methods (``sendMessage``, ``sendPhoto``, ``sendVideo``, ``sendDocument``, ``sendMediaGroup``,
    ``copyMessage``, ``forwardMessage``, ``editMessageText`` / ``Caption`` / ``Media`` /
    ``ReplyMarkup``), because edits are what progress bars hit limits with. Not counted:
    ``deleteMessage`` (removes, sends nothing; Telegram's message limits are about messages put
    into a chat), ``sendChatAction``, ``answerCallbackQuery``, ``getUpdates``, ``getFile``, the
    webhook and command methods, ``getMe``, ... (``setWebhook`` has its own 1 s limit, above).
    The check comes after parameter validation; a call refused for flood does not use up any
    budget, nor does a call that then fails (400 "chat not found", "message is not modified", ...).
    A refused call gets exactly Telegram's answer: HTTP 429 ``{"ok": false, "error_code": 429,
    "description": "Too Many Requests: retry after N", "parameters": {"retry_after": N}}``, N = the
    whole seconds (rounded up, at least 1) until every bucket it needs has a token again; it is
    recorded in ``flood_refusals`` (:class:`FloodRefusal`) and ``flood_refusal_count``.
    ``flood_slack`` (0.1 s) models network jitter: a call arriving up to that long before its token
    is due is still accepted (the bucket goes briefly into debt, so the long-run rate is exact).
    ``flood_clock`` (default ``time.monotonic``) is the clock of the buckets; tests can pass a
    fake one. All ``flood_*`` options are plain attributes too, read at each call; a limit <= 0 is
    off.

Webhook mode (as the real Bot API server, telegram-bot-api's ``Client.cpp`` / ``WebhookActor.cpp``)
    ``setWebhook`` / ``deleteWebhook`` / ``getWebhookInfo`` answer with Telegram's descriptions
    ("Webhook was set", "Webhook is already set", "Webhook was deleted", "Webhook is already
    deleted"); a non-empty ``setWebhook`` more often than once a second gets 429 "retry after 1"
    (``set_webhook_interval``); ``max_connections`` is clamped to 1..100 (default 40); an empty
    ``secret_token`` means none. While a webhook is set ``getUpdates`` answers 409, and a held long
    poll ends with 409 "terminated by setWebhook request". Queued updates (also those queued
    before, unless dropped) are POSTed as JSON with ``X-Telegram-Bot-Api-Secret-Token``; one at a
    time per chat (Telegram's per-chat webhook queues), at most ``max_connections`` at once. Only a
    2xx answer confirms an update; otherwise it stays pending, ``last_error_date`` /
    ``last_error_message`` are set ("Wrong response from the webhook: 503 Service Unavailable",
    "Connection refused", "Read timeout expired") and it is retried after ``webhook_retry_delay``
    (or the answer's ``Retry-After``). Test knobs: ``webhook_targets`` (a load balancer in front of
    replicas: round robin, a refused connection moves on to the next target at once, all refused =
    502 Bad Gateway), ``duplicate_rate`` + ``seed`` (a confirmed update is sent once more to the
    next target, as when Telegram did not see the answer), ``webhook_deliveries`` (every attempt),
    ``delivered_update_ids()`` and ``await wait_for_webhook_idle()``.
    Deviations: http:// URLs and any port are accepted (``webhook_https_only=True`` checks them),
    no DNS check at ``setWebhook``, no slow start of connections, the first retry is not immediate,
    and a 2xx answer carrying a method call is not executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import itertools
import json
import mimetypes
import os
import random
import re
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from math import ceil
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

DEFAULT_TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
MB = 1024 * 1024
FAKE_JPEG = b"\xff\xd8\xff\xe0fake-jpeg" + bytes(2000) + b"\xff\xd9"  # default photo

# Bot API parameters per method ("*" = required). The legacy reply_to_message_id,
# allow_sending_without_reply and disable_web_page_preview are still accepted by Telegram.
_SEND = (
    "business_connection_id chat_id* message_thread_id direct_messages_topic_id "
    "disable_notification protect_content allow_paid_broadcast message_effect_id "
    "suggested_post_parameters reply_parameters reply_markup reply_to_message_id "
    "allow_sending_without_reply caption parse_mode caption_entities "
)
# PTB quirk: with Defaults(parse_mode=/disable_notification=/protect_content=) PTB also sends
# those to both edit methods (via Bot._send_message); Telegram ignores them, so we accept them.
_EDIT = (
    "business_connection_id chat_id message_id inline_message_id reply_markup "
    "parse_mode disable_notification protect_content "
)
_SPEC = {
    "getMe": "",
    "getUpdates": "offset limit timeout allowed_updates",
    "setWebhook": "url* certificate ip_address max_connections allowed_updates "
    "drop_pending_updates secret_token",
    "deleteWebhook": "drop_pending_updates",
    "getWebhookInfo": "",
    "setMyCommands": "commands* scope language_code",
    "getMyCommands": "scope language_code",
    "deleteMyCommands": "scope language_code",
    "sendMessage": _SEND.replace("caption parse_mode caption_entities ", "")
    + "text* parse_mode entities link_preview_options disable_web_page_preview",
    "editMessageText": _EDIT + "text* entities link_preview_options disable_web_page_preview",
    "editMessageReplyMarkup": _EDIT,
    "editMessageMedia": _EDIT + "media*",
    "deleteMessage": "chat_id* message_id*",
    "sendVideo": _SEND + "video* duration width height thumbnail cover start_timestamp "
    "show_caption_above_media has_spoiler supports_streaming",
    "sendDocument": _SEND + "document* thumbnail disable_content_type_detection",
    "sendPhoto": _SEND + "photo* show_caption_above_media has_spoiler",
    "sendChatAction": "business_connection_id chat_id* message_thread_id action*",
    "answerCallbackQuery": "callback_query_id* text show_alert url cache_time",
    "getFile": "file_id*",
    "getChat": "chat_id*",
    "getChatMember": "chat_id* user_id*",
    "close": "",
    "logOut": "",
}
# canonical name -> (allowed parameters, required parameters)
METHODS: dict[str, tuple[set[str], set[str]]] = {
    name: ({p.rstrip("*") for p in spec.split()}, {p[:-1] for p in spec.split() if p[-1] == "*"})
    for name, spec in _SPEC.items()
}
_CANONICAL = {name.lower(): name for name in METHODS}
JSON_FIELDS = set(
    "reply_parameters reply_markup entities caption_entities commands allowed_updates scope media "
    "link_preview_options suggested_post_parameters".split()
)
CHAT_ACTIONS = set(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note".split()
)
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
# Update types in the order getWebhookInfo lists them (the server's UpdateType enum).
UPDATE_TYPES = (
    "message edited_message channel_post edited_channel_post inline_query chosen_inline_result "
    "callback_query shipping_query pre_checkout_query poll poll_answer my_chat_member chat_member "
    "chat_join_request chat_boost removed_chat_boost message_reaction message_reaction_count "
    "business_connection business_message edited_business_message deleted_business_messages "
    "purchased_paid_media"
).split()
_DEFAULT_ALLOWED = frozenset(UPDATE_TYPES) - _NOT_BY_DEFAULT
_MESSAGE_KINDS = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
}
_WEBHOOK_PORTS = (80, 88, 443, 8443)
_BUTTON_KINDS = set(
    "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
    "switch_inline_query_chosen_chat copy_text callback_game pay".split()
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_WRONG_FILE = "wrong file identifier/HTTP URL specified"
# ChatMember.status values (the Bot API's ChatMemberOwner ... ChatMemberBanned).
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
_MEDIA_KEYS = ("photo", "video", "document", "animation", "audio", "caption", "caption_entities")
# Methods that count toward the flood limits (``flood_limits=True``); see the module docstring.
FLOOD_COUNTED = frozenset(
    "sendMessage sendPhoto sendVideo sendDocument sendMediaGroup copyMessage forwardMessage "
    "editMessageText editMessageCaption editMessageMedia editMessageReplyMarkup".split()
)


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Call:
    """One request the bot made (recorded when answered; rejected ones too).

    ``params``: form/multipart values stay strings (``"1001"``, ``"true"``), JSON-string fields
    (``reply_markup``, ``reply_parameters``, ``entities``, ...) are decoded; a JSON request body
    keeps its native types. ``files`` / ``filenames``: multipart file parts by part name.
    ``response`` is None when no answer was delivered: ``lost`` = processed anyway
    (``lose_response_next``); not ``lost`` = the client gave up during a ``delay_next``.
    ``at`` / ``answered_at``: ``time.monotonic()`` when the call arrived and when the fake was done
    with it (answered, or recorded as lost or given up): how long a long poll or a ``delay_next``
    held it, by the fake's own clock. ``delayed``: the ``delay_next`` seconds applied, 0 if none.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    token: str = ""
    path: str = ""
    at: float = 0.0
    answered_at: float = 0.0
    delayed: float = 0.0
    response: dict | None = None
    lost: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")


class FloodRefusal(NamedTuple):
    """A call refused with 429 by the flood limits (``FakeTelegram.flood_refusals``).

    ``chat_id``: an int, the raw string (``"@channel"``) or None (inline edits). ``at``: the
    ``flood_clock`` time (``time.monotonic()`` unless a fake clock was given)."""

    method: str
    chat_id: int | str | None
    retry_after: int
    at: float


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo | video | document
    data: bytes | None  # None for URL media (never fetched)
    file_path: str | None = None
    mime_type: str | None = None
    file_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # width/height/duration


@dataclass
class _Upload:
    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class _Fault:
    error: ApiError | None  # fail_next
    remaining: int
    delay: float = 0.0  # delay_next
    lose: bool = False  # lose_response_next ...
    hold: float = 60.0  # ... keeping the connection open this long (or until the client leaves)
    garble: bool = False  # garble_next
    odd_answer: dict[str, Any] | None = None  # answer_oddly_next: the body answered instead


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to a webhook (``FakeTelegram.webhook_deliveries``).

    ``target``: the URL posted to. ``status``: the HTTP status, None when no answer came.
    ``error``: None on a 2xx, else what Telegram would report ("Wrong response from the webhook:
    500 Internal Server Error", "Connection refused", "Read timeout expired", "cancelled" when the
    webhook was deleted/replaced or the fake closed meanwhile). ``at``: ``time.monotonic()`` when
    the attempt started; ``elapsed``: its duration. ``redelivery``: the extra copy sent because of
    ``duplicate_rate``.
    """

    update_id: int
    target: str
    status: int | None
    error: str | None
    at: float
    elapsed: float = 0.0
    redelivery: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


@dataclass
class _Described:
    """A method result answered with a ``description`` too (the webhook methods)."""

    result: Any
    description: str


@dataclass(frozen=True)
class _WebhookConfig:
    url: str
    max_connections: int
    secret_token: str
    ip_address: str
    has_custom_certificate: bool


def u16len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _as_bool(value: Any) -> bool:
    return value in (True, 1, "true", "True", "1")


_HTML_ENTITY_TYPES = dict(
    pair.split("=")
    for pair in "b=bold strong=bold i=italic em=italic u=underline ins=underline "
    "s=strikethrough strike=strikethrough del=strikethrough code=code pre=pre a=text_link "
    "tg-spoiler=spoiler span=spoiler blockquote=blockquote tg-emoji=custom_emoji".split()
)
_HTML_TOKEN = re.compile(r"<(/?)([^\s<>/]*)([^<>]*)>|&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot);")
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+))""")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def parse_html(source: str) -> tuple[str, list[dict]]:
    """Parse Telegram-HTML like the Bot API: returns (plain text, entities) or raises 400."""
    out: list[str] = []
    entities: list[dict] = []
    stack: list[tuple[str, int, dict]] = []  # (tag, utf16 start, entity)
    pos = offset = 0

    def fail(msg: str) -> ApiError:
        return _bad(f"can't parse entities: {msg}")

    def emit(chunk: str, at: int | None = None) -> None:  # at: source index of raw text
        nonlocal offset
        if at is not None and "<" in chunk:
            byte = len(source[: at + chunk.index("<")].encode())
            raise fail(f"Unexpected end of name token at byte offset {byte}")
        out.append(chunk)
        offset += u16len(chunk)

    for m in _HTML_TOKEN.finditer(source):
        emit(source[pos : m.start()], pos)
        pos, byte = m.end(), len(source[: m.start()].encode())
        if ref := m.group(4):  # character reference
            emit(_NAMED.get(ref) or chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])))
            continue
        closing, tag, attr_text = m.group(1), m.group(2).lower(), m.group(3)
        attrs = {
            a[0].lower(): html.unescape(a[1] or a[2] or a[3]) for a in _ATTR.findall(attr_text)
        }
        if closing:
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte}")
            if stack[-1][0] != tag:
                raise fail(
                    f"Unmatched end tag at byte offset {byte}, expected "
                    f'"</{stack[-1][0]}>", found "</{tag}>"'
                )
            _, start, entity = stack.pop()
            if entity and offset > start:
                entity.update(offset=start, length=offset - start)
                entities.append(entity)
            continue
        if tag not in _HTML_ENTITY_TYPES or (tag == "span" and attrs.get("class") != "tg-spoiler"):
            raise fail(f'Unsupported start tag "{tag}" at byte offset {byte}')
        entity: dict[str, Any] = {"type": _HTML_ENTITY_TYPES[tag]}
        if tag == "a":
            entity = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else {}
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id", "")
        elif tag == "blockquote" and "expandable" in attr_text:
            entity["type"] = "expandable_blockquote"
        elif tag == "code" and stack and stack[-1][0] == "pre":
            if attrs.get("class", "").startswith("language-"):
                stack[-1][2]["language"] = attrs["class"][len("language-") :]
            entity = {}
        stack.append((tag, offset, entity))
    emit(source[pos:], pos)
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")


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


def _quoted(target: dict) -> dict:
    """A message as ``reply_to_message`` shows it: complete (``from``, media, ``reply_markup``,
    ...) but without its own ``reply_to_message``; a snapshot, so later edits don't leak in."""
    return copy.deepcopy({k: v for k, v in target.items() if k != "reply_to_message"})


def command_entities(text: str) -> list[dict]:
    """``bot_command`` entities Telegram would attach to a user's text or caption."""
    return [
        {"type": "bot_command", "offset": u16len(text[: m.start()]), "length": u16len(m.group())}
        for m in _COMMAND.finditer(text)
    ]


class FakeTelegram:
    """In-process fake Bot API server. Use ``async with FakeTelegram() as tg:``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "LumaTestBot",
        *,
        bot_first_name: str = "Luma Test Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        upload_limit: int = 50 * MB,
        download_limit: int = 20 * MB,
        webhook_targets: list[str] | None = None,
        duplicate_rate: float = 0.0,
        seed: int | None = 0,
        webhook_timeout: float = 10.0,
        webhook_retry_delay: float = 0.2,
        set_webhook_interval: float = 1.0,
        webhook_https_only: bool = False,
        flood_limits: bool = False,
        flood_overall_per_second: float = 30,
        flood_per_chat_per_second: float = 1.0,
        flood_per_chat_burst: float = 3,
        flood_group_per_minute: float = 20,
        flood_slack: float = 0.1,
        flood_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Webhook options (all but ``seed`` are also plain attributes, read at each use):
        ``webhook_targets``: base URLs (``http://127.0.0.1:PORT``) of replicas behind a load
        balancer; deliveries go round robin to target + the path and query of the registered URL
        instead of to that URL, and a refused connection moves on to the next target at once.
        ``duplicate_rate`` (0..1, drawn from ``random.Random(seed)``): chance that a confirmed
        update is delivered once more, to the next target. ``webhook_timeout``: seconds an attempt
        may take (Telegram: 60). ``webhook_retry_delay``: pause before retrying a failed update.
        ``set_webhook_interval``: Telegram's 1 s flood limit on non-empty ``setWebhook`` (0 = off).
        ``webhook_https_only``: refuse http:// and ports other than 80/88/443/8443 like Telegram.

        Flood options (also plain attributes, read at each call; see the module docstring):
        ``flood_limits`` turns them on. ``flood_overall_per_second``: all chats together (burst
        of as many). ``flood_per_chat_per_second`` / ``flood_per_chat_burst``: each private chat.
        ``flood_group_per_minute``: each group/supergroup/channel (burst of as many).
        ``flood_slack``: seconds of arrival jitter tolerated. ``flood_clock``: the buckets' clock.
        """
        self.token, self.bot_username, self.bot_first_name = token, bot_username, bot_first_name
        self.bot_id = int(token.split(":", 1)[0])
        self.host, self.port = host, port
        self.upload_limit, self.download_limit = upload_limit, download_limit
        self.root = ""
        self.calls: list[Call] = []
        self.downloads: list[str] = []  # file paths served by the file route
        self.internal_errors: list[str] = []  # tracebacks of bugs in this fake
        self.webhook: dict[str, Any] = {}  # setWebhook parameters ("url" set when active)
        self.webhook_targets = webhook_targets
        if not 0.0 <= duplicate_rate <= 1.0:
            raise ValueError("duplicate_rate must be between 0 and 1")
        self.duplicate_rate = duplicate_rate
        self.webhook_timeout = webhook_timeout
        self.webhook_retry_delay = webhook_retry_delay
        self.set_webhook_interval = set_webhook_interval
        self.webhook_https_only = webhook_https_only
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_last_error: tuple[int, str] | None = None  # (unix date, message)
        self.flood_limits = flood_limits
        self.flood_overall_per_second = flood_overall_per_second
        self.flood_per_chat_per_second = flood_per_chat_per_second
        self.flood_per_chat_burst = flood_per_chat_burst
        self.flood_group_per_minute = flood_group_per_minute
        self.flood_slack = flood_slack
        self.flood_clock = flood_clock
        self.flood_refusals: list[FloodRefusal] = []
        self.flood_refusal_count = 0
        self._flood_buckets: dict[tuple, tuple[float, float]] = {}  # key -> (tokens, at)
        self._rng = random.Random(seed)
        self._wh: _WebhookConfig | None = None
        self._wh_session: aiohttp.ClientSession | None = None
        self._wh_dispatcher: asyncio.Task | None = None
        self._wh_inflight: dict[int, tuple[asyncio.Task, tuple]] = {}  # update_id -> (task, queue)
        self._wh_retry_at: dict[int, float] = {}  # update_id -> monotonic time of the next try
        self._wh_duplicate: dict[int, int] = {}  # update_id -> target index for its extra copy
        self._wh_duplicated: set[int] = set()
        self._wh_rr = 0  # round-robin position in webhook_targets
        self._webhook_epoch = 0  # bumped by each effective non-empty setWebhook
        self._next_set_webhook_at = 0.0
        self._wh_lock = asyncio.Lock()
        self.commands: dict[tuple[str, str], list[dict]] = {}  # (scope json, lang) -> commands
        self._chats: dict[int, dict] = {}
        self._messages: dict[int, dict[int, dict]] = {}
        self._last_id: dict[int, int] = {}
        self._bot_sent: set[tuple[int, int]] = set()
        self._users: dict[int, dict] = {}
        self._members: dict[int, dict[int, str]] = {}  # chat id -> user id -> status
        self._files: dict[str, StoredFile] = {}
        self._paths: dict[str, StoredFile] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._allowed_updates: set[str] | None = None
        self._open_queries: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = {}
        self._poll_generation = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[..., Any]] = {
            name: getattr(self, "_m_" + name) for name in METHODS
        }

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=self.upload_limit + 8 * MB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.*}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.root = f"http://{self.host}:{self.port}"
        return self

    async def close(self) -> None:
        self._closing = True  # pending long polls answer [] right away
        self._notify()
        await self._stop_webhook()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ injecting updates
    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict:
        """Register (or return) a chat; the injectors call this for you."""
        if chat_id not in self._chats:
            chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = first_name or f"User {chat_id}"
            else:
                chat["title"] = title or f"Test {chat_type} {chat_id}"
            if username:
                chat["username"] = username
            self._chats[chat_id] = chat
            self._messages[chat_id] = {}
        return self._chats[chat_id]

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
        msg["photo"] = self._photo_sizes(photo_bytes or FAKE_JPEG, width, height)
        if media_group_id is not None:
            msg["media_group_id"] = str(media_group_id)
        if caption is not None:
            msg["caption"] = caption
            if ents := command_entities(caption):
                msg["caption_entities"] = ents
        return self._push_message("message", msg)

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
        stored = self._register(data, "document", mime_type=mime_type, file_name=file_name)
        msg["document"] = self._file_json(stored)
        if media_group_id is not None:
            msg["media_group_id"] = str(media_group_id)
        if caption is not None:
            msg["caption"] = caption
            if ents := command_entities(caption):
                msg["caption_entities"] = ents
        return self._push_message("message", msg)

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

    def press_button(
        self,
        message: dict,
        callback_data: str,
        user_id: int = 1001,
        *,
        crafted: bool = False,
        inaccessible: bool = False,
    ) -> dict:
        """Queue a ``callback_query`` for an inline button of a bot message; returns the query.
        ``crafted=True``: any data, as a tampering client could send (the query can be answered).
        ``inaccessible=True``: the message is one the bot can no longer see (deleted, or too
        old), so the query carries an ``InaccessibleMessage``: only ``chat``, ``message_id`` and
        ``date`` = 0, as the Bot API sends it (the message may be gone from the fake; its buttons
        are then not checked: the user's app still shows them).
        """
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        stored = self._find(chat_id, message_id)
        if stored is None and not inaccessible:
            raise ValueError("press_button: message not found (deleted?)")
        rows = ((stored or {}).get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = (b.get("callback_data") for row in rows for b in row)
        if not crafted and stored is not None and callback_data not in buttons:
            raise ValueError(f"press_button: no button with callback_data {callback_data!r}")
        shown = (
            {"chat": copy.deepcopy(message["chat"]), "message_id": message_id, "date": 0}
            if inaccessible
            else copy.deepcopy(stored)
        )
        return self._push_query(
            user_id, callback_data, {"message": shown}, str(abs(chat_id) * 7 + 11)
        )

    def press_inline_button(
        self, inline_message_id: str, callback_data: str, user_id: int = 1001
    ) -> dict:
        """Queue a ``callback_query`` from a button of a message sent in inline mode (via the
        bot, in someone else's chat): the Bot API then sends no ``message`` at all, only
        ``inline_message_id``. Any data (the fake keeps no inline messages); returns the query.
        """
        extra = {"inline_message_id": inline_message_id}
        return self._push_query(user_id, callback_data, extra, str(user_id * 13 + 5))

    def _push_query(
        self, user_id: int, callback_data: str, origin: dict, chat_instance: str
    ) -> dict:
        query_id = str(9_000_000 + next(self._seq))
        self._open_queries.add(query_id)
        self._users.setdefault(user_id, self._user(user_id))  # Telegram knows who pressed
        query = {
            "id": query_id,
            "from": self._user(user_id),
            **origin,
            "data": callback_data,
            "chat_instance": chat_instance,
        }
        self._push_update({"callback_query": query})
        return copy.deepcopy(query)

    def inject_update(self, update: dict) -> dict:
        """Queue a raw update (``update_id`` is assigned); returns it."""
        return self._push_update(copy.deepcopy(update))

    # ------------------------------------------------------------------ inspecting
    def calls_of(self, method: str) -> list[Call]:
        method = _CANONICAL.get(method.lower(), method)
        return [c for c in self.calls if c.method == method]

    def messages(self, chat_id: int) -> list[dict]:
        return copy.deepcopy(list(self._messages.get(chat_id, {}).values()))

    def bot_messages(self, chat_id: int) -> list[dict]:
        return [m for m in self.messages(chat_id) if (chat_id, m["message_id"]) in self._bot_sent]

    def messages_with_video(self, chat_id: int) -> list[dict]:
        """Bot messages carrying a ``video``, ``animation`` or ``document`` (any document):
        what the user really received, e.g. ``len(tg.messages_with_video(chat)) == 1``."""
        kinds = {"video", "animation", "document"}
        return [m for m in self.bot_messages(chat_id) if kinds & m.keys()]

    def videos(self, chat_id: int | None = None) -> list[Call]:
        """Answered calls that put a video into a chat, in order: ``sendVideo``, or
        ``editMessageMedia`` with a video (a status message turned into the video). Each comes as
        a sendVideo-shaped Call: the media's fields (``caption``, ``width``...) are lifted into
        ``params`` and its upload is ``files["video"]``; ``result`` is the message."""
        out = []
        for call in self.calls:
            if not call.ok or (
                chat_id is not None and str(call.params.get("chat_id")) != str(chat_id)
            ):
                continue
            if call.method == "sendVideo":
                out.append(call)
            elif call.method == "editMessageMedia" and call.params["media"].get("type") == "video":
                media = dict(call.params["media"])
                ref = str(media.pop("media"))
                params = {k: v for k, v in call.params.items() if k != "media"}
                params.update(media, video=ref)
                part = ref[len("attach://") :] if ref.startswith("attach://") else None
                files = {"video": call.files[part]} if part in call.files else {}
                out.append(replace(call, params=params, files=files))
        return out

    async def wait_for_video(
        self,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Call:
        """The ``count``-th video delivered (see ``videos``) that matches ``predicate``."""

        def find() -> Call | None:
            found = [c for c in self.videos() if predicate is None or predicate(c)]
            return found[count - 1] if len(found) >= count else None

        return await self._wait(find, timeout, f"video number {count}")

    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates ``offset`` or a webhook's 2xx answer (like
        ``pending_update_count``)."""
        return len(self._updates)

    def delivered_update_ids(self) -> list[int]:
        """``update_id`` of every webhook attempt answered with a 2xx, in order (an update
        delivered twice, e.g. through ``duplicate_rate`` or a timeout, appears twice)."""
        return [d.update_id for d in self.webhook_deliveries if d.ok]

    async def wait_for_webhook_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every queued update was confirmed by the webhook and no delivery (extra
        copies included) is in flight."""

        def idle() -> bool:
            return not self._updates and not self._wh_inflight

        try:
            await self._wait(idle, timeout, "the webhook to deliver everything")
        except AssertionError as exc:
            recent = "\n".join(f"  {d}" for d in self.webhook_deliveries[-10:]) or "  (none)"
            raise AssertionError(
                f"timed out after {timeout}s waiting for the webhook to deliver everything: "
                f"webhook={self._wh}, pending={[u['update_id'] for u in self._updates]}, "
                f"in flight={sorted(self._wh_inflight)}, last error={self.webhook_last_error}; "
                f"last deliveries:\n{recent}"
            ) from exc

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Call:
        method = _CANONICAL.get(method.lower(), method)

        def find() -> Call | None:
            return next(
                (
                    c
                    for c in self.calls
                    if c.method == method and (predicate is None or predicate(c))
                ),
                None,
            )

        return await self._wait(find, timeout, f"a {method} call")

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        return await self._wait(predicate, timeout, "the condition")

    def summary(self) -> str:
        """One line per recorded call, for assertion messages."""
        lines = []
        for c in self.calls:
            res = "ok" if c.ok else f"ERROR {(c.response or {}).get('description')}"
            if c.response is None:
                res = "LOST (processed, no answer)" if c.lost else "client gave up (not processed)"
            lines.append(f"  {c.method}({c.params}) -> {res}"[:300])
        return "\n".join(lines + self.internal_errors) or "  (no calls)"

    # ------------------------------------------------------------------ faults and files
    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with this error. For 429, ``retry_after``
        defaults to 1 and the description to "Too Many Requests: retry after N"; for 403 to
        "Forbidden: bot was blocked by the user"; otherwise the HTTP phrase ("Bad Gateway").
        PTB raises: 400 BadRequest, 403 Forbidden, 401/404 InvalidToken, 409 Conflict, 429
        RetryAfter, ``migrate_to_chat_id`` ChatMigrated, anything else (413, 5xx) NetworkError."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            phrases = {s.value: s.phrase for s in HTTPStatus}
            phrases |= {429: f"Too Many Requests: retry after {retry_after}"}
            phrases |= {403: "Forbidden: bot was blocked by the user"}
            description = phrases.get(error_code, f"Error {error_code}")
        params = {
            k: v
            for k, v in (("retry_after", retry_after), ("migrate_to_chat_id", migrate_to_chat_id))
            if v is not None
        }
        self._script(method, _Fault(ApiError(error_code, description, params or None), count))

    def delay_next(self, method: str, seconds: float, *, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` normally, but only after ``seconds``.
        The work (e.g. storing a sent message) is done after the delay: if the client gives up
        meanwhile (read timeout, killed process) nothing happens, and the call is recorded with
        ``response=None`` and ``lost=False``."""
        self._script(method, _Fault(None, count, delay=seconds))

    def lose_response_next(self, method: str, *, count: int = 1, hold: float | None = None) -> None:
        """Process the next ``count`` calls of ``method`` fully (a sent video IS stored; errors
        are lost too) but never answer: hold the connection for ``hold`` seconds (default: until
        the client gives up, at most 60 s), then close it without a response (PTB: ``TimedOut``
        if its read timeout ends first, else ``NetworkError``). Recorded at once with
        ``response=None`` and ``lost=True``."""
        self._script(method, _Fault(None, count, lose=True, hold=60.0 if hold is None else hold))

    def garble_next(self, method: str, *, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with bytes that are not HTTP, as a
        broken proxy or load balancer in between might; nothing is done. The client's HTTP
        parser fails (aiohttp: ``ClientResponseError`` "Bad status line", whose text carries the
        request URL, token included; PTB: ``NetworkError``). Recorded with ``response=None``."""
        self._script(method, _Fault(None, count, garble=True))

    def answer_oddly_next(self, method: str, result: Any = None, *, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with success and ``result`` (default
        ``{}``, which is no message) without doing anything, as a broken Bot API server or proxy
        in between might. PTB cannot read a Message from ``{}`` and raises ``KeyError``: not a
        ``TelegramError``. Recorded with that answer as ``response`` (so ``ok`` is true)."""
        body = {"ok": True, "result": {} if result is None else result}
        self._script(method, _Fault(None, count, odd_answer=body))

    def faults_left(self, method: str) -> int:
        """Calls of ``method`` still to meet a scripted fault: 0 once the last one has arrived
        (a delayed call is then being held, not yet recorded in ``calls``)."""
        queue = self._faults.get(_CANONICAL.get(method.lower(), method), deque())
        return sum(fault.remaining for fault in queue)

    def _script(self, method: str, fault: _Fault) -> None:
        if fault.remaining < 1 or fault.delay < 0 or fault.hold < 0:
            raise ValueError("count must be >= 1, delays and holds >= 0")
        self._faults.setdefault(_CANONICAL.get(method.lower(), method), deque()).append(fault)

    def add_file(self, data: bytes, file_path: str = "photos/file_1.jpg") -> str:
        """Register downloadable bytes; returns the new ``file_id``."""
        kind = {"photos": "photo", "videos": "video"}.get(file_path.split("/")[0], "document")
        return self._register(data, kind, file_path=file_path).file_id

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    # ------------------------------------------------------------------ HTTP plumbing
    async def _handle_api(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        method = _CANONICAL.get(raw_method.lower(), raw_method)
        call = Call(
            method, {}, token=request.match_info["token"], path=request.path, at=time.monotonic()
        )
        status, fault = 200, None
        try:
            uploads, bad_json = await self._read(request, call)
            if call.token != self.token:
                raise ApiError(401, "Unauthorized")
            if method not in METHODS:
                raise ApiError(404, "Not Found")
            fault = self._apply_fault(method)
            if fault and fault.delay:
                call.delayed = fault.delay
                if not await self._hold(request, fault.delay):
                    self._record(call)  # the client gave up during the delay: nothing was done
                    return self._hang_up(request)
            if fault and fault.garble:
                self._record(call)
                return self._garbled(request)
            if fault and fault.odd_answer is not None:
                call.response = fault.odd_answer
                self._record(call)
                return web.json_response(fault.odd_answer)
            if bad_json:
                raise _bad(f"can't parse {bad_json} JSON object")
            allowed, required = METHODS[method]
            for name in call.params:
                if name not in allowed:
                    raise _bad(f"unknown parameter {name}")
            for name in sorted(required):
                if name not in call.params and name not in uploads:
                    raise _bad(f"{name} is required")
            charged = self._flood_take(method, call.params)
            try:
                result = await self._handlers[method](call.params, uploads)
            except Exception:  # a failed call uses up no flood budget
                self._flood_refund(charged)
                raise
            body: dict[str, Any] = {"ok": True, "result": result}
            if isinstance(result, _Described):
                body = {"ok": True, "result": result.result, "description": result.description}
        except ApiError as exc:
            status, body = exc.code, exc.body()
        except Exception:  # a bug in the fake: answer 500 and keep the traceback visible
            self.internal_errors.append(traceback.format_exc())
            status, body = 500, {"ok": False, "error_code": 500, "description": "fake crashed"}
        if fault and fault.lose:  # done, but the answer never arrives
            call.lost = True
            self._record(call)
            await self._hold(request, fault.hold)
            return self._hang_up(request)
        call.response = body
        self._record(call)
        return web.json_response(body, status=status)

    def _record(self, call: Call) -> None:
        call.answered_at = time.monotonic()
        self.calls.append(call)
        self._notify()

    async def _hold(self, request: web.Request, seconds: float) -> bool:
        """Keep the request open up to ``seconds``; False as soon as the client has left."""
        deadline = time.monotonic() + seconds
        while not self._closing and (left := deadline - time.monotonic()) > 0:
            if request.transport is None or request.transport.is_closing():
                return False
            await asyncio.sleep(min(left, 0.01))
        return request.transport is not None and not request.transport.is_closing()

    @staticmethod
    def _hang_up(request: web.Request) -> web.Response:
        """Close the connection without an answer (aiohttp then drops the response quietly)."""
        request.protocol.force_close()
        return web.Response(status=204)

    @staticmethod
    def _garbled(request: web.Request) -> web.Response:
        """Write a status line no HTTP client accepts, then close the connection."""
        if request.transport is not None:
            request.transport.write(b"HTTP/1.1 OK GARBAGE\r\n\r\n")
        request.protocol.force_close()
        return web.Response(status=204)

    async def _read(self, request: web.Request, call: Call) -> tuple[dict[str, _Upload], str]:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, _Upload] = {}
        try:
            if request.content_type == "application/json":
                body = await request.json() if request.can_read_body else {}
                params.update(body if isinstance(body, dict) else {})
            elif request.can_read_body:
                for name, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        data = value.file.read()
                        uploads[name] = _Upload(data, value.filename, value.content_type)
                        call.files[name], call.filenames[name] = data, value.filename
                    else:
                        params[name] = value
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "Request Entity Too Large") from None
        except ValueError:
            raise _bad("invalid request body") from None
        bad_json = ""
        for name in JSON_FIELDS & params.keys():
            if isinstance(params[name], str):
                try:
                    params[name] = json.loads(params[name])
                except ValueError:
                    bad_json = name
        call.params = params
        return uploads, bad_json

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        stored = self._paths.get(request.match_info["file_path"])
        if stored is None or stored.data is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        self.downloads.append(request.match_info["file_path"])
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    def _apply_fault(self, method: str) -> _Fault | None:
        """Use up the next scripted fault of ``method``: raise an error, return the others."""
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        if fault.error is not None:
            raise fault.error
        return fault

    # ------------------------------------------------------------------ flood limits
    def _flood_buckets_of(self, p: dict) -> list[tuple[tuple, float, float]]:
        """(key, capacity, tokens per second) of each bucket a counted call draws from."""
        buckets: list[tuple[tuple, float, float]] = []
        overall = self.flood_overall_per_second
        if overall > 0 and not _as_bool(p.get("allow_paid_broadcast")):
            buckets.append((("overall",), overall, overall))
        chat_id = p.get("chat_id")
        if chat_id is None or str(chat_id).strip() == "":
            return buckets
        raw = str(chat_id).strip()
        if re.fullmatch(r"-?\d+", raw):
            key: int | str = int(raw)
            group = key < 0
        else:  # "@username": only supergroups and channels have one (PTB assumes a group too)
            name = raw.lstrip("@").lower()
            found = [c["id"] for c in self._chats.values() if c.get("username", "").lower() == name]
            key, group = (found[0] if found else raw.lower()), True
        per_minute = self.flood_group_per_minute
        if group and per_minute > 0:
            buckets.append((("group", key), per_minute, per_minute / 60))
        elif not group and self.flood_per_chat_per_second > 0:
            capacity = max(self.flood_per_chat_burst, 1)
            buckets.append((("chat", key), capacity, self.flood_per_chat_per_second))
        return buckets

    def _flood_take(self, method: str, p: dict) -> list[tuple]:
        """Take a token from each bucket of a counted call (returns their keys, for a refund),
        or raise Telegram's 429 without taking any."""
        if not self.flood_limits or method not in FLOOD_COUNTED:
            return []
        now = self.flood_clock()
        buckets = self._flood_buckets_of(p)
        levels: dict[tuple, float] = {}
        wait = 0.0
        for key, capacity, rate in buckets:
            tokens, at = self._flood_buckets.get(key, (capacity, now))
            levels[key] = level = min(capacity, tokens + max(now - at, 0.0) * rate)
            if level + rate * max(self.flood_slack, 0.0) < 1 - 1e-9:  # float noise
                wait = max(wait, (1 - level) / rate)
        if wait > 0:
            retry_after = max(1, ceil(wait - 1e-9))
            chat_id = p.get("chat_id")
            with contextlib.suppress(TypeError, ValueError):
                chat_id = int(chat_id)  # type: ignore[arg-type]
            self.flood_refusals.append(FloodRefusal(method, chat_id, retry_after, now))
            self.flood_refusal_count += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        for key in levels:
            self._flood_buckets[key] = (levels[key] - 1, now)
        return list(levels)

    def _flood_refund(self, keys: list[tuple]) -> None:
        for key in keys:
            tokens, at = self._flood_buckets[key]
            self._flood_buckets[key] = (tokens + 1, at)  # capped at the capacity when read

    # ------------------------------------------------------------------ state helpers
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not (found := check()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"calls so far:\n{self.summary()}"
                )
            # Wake on any request/injection, and poll for outside state changes. (asyncio.timeout,
            # not wait_for: on Python 3.11 wait_for can swallow a cancellation.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self._changed.wait()
        return found

    def _next_id(self, chat_id: int) -> int:
        self._last_id[chat_id] = self._last_id.get(chat_id, 0) + 1
        return self._last_id[chat_id]

    def _find(self, chat_id: int, message_id: int) -> dict | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def _user(self, user_id: int) -> dict:
        return self._users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User {user_id}",
        }

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
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": username,
            "language_code": language_code,
        }
        self._users[user_id] = user
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

    def _push_message(self, update_type: str, msg: dict) -> dict:
        self._messages[msg["chat"]["id"]][msg["message_id"]] = msg
        self._push_update({update_type: msg})
        return copy.deepcopy(msg)

    def _push_update(self, update: dict) -> dict:
        update = {"update_id": next(self._update_ids), **copy.deepcopy(update)}
        self._updates.append(update)
        self._notify()
        return update

    def _register(
        self,
        data: bytes | None,
        kind: str,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        file_path: str | None = None,
    ) -> StoredFile:
        n = next(self._seq)
        stored = StoredFile(
            f"fake-{kind}-{n}-AgADBAAD", f"AQAD{n}", kind, data, file_path, mime_type, file_name
        )
        self._files[stored.file_id] = stored
        if file_path:
            self._paths[file_path] = stored
        return stored

    def _photo_sizes(self, data: bytes, width: int, height: int) -> list[dict]:
        sizes, longest = [], max(width, height)
        for side in (90, 320, longest):
            if side > longest:
                continue
            w, h = round(width * side / longest), round(height * side / longest)
            blob = data if side == longest else data[: max(1, len(data) * side // longest)]
            stored = self._register(blob, "photo", mime_type="image/jpeg")
            stored.meta = {"width": w, "height": h}
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": len(blob),
                }
            )
        return sizes

    def _chat(self, chat_id: Any) -> dict:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            found = [
                c
                for c in self._chats.values()
                if c.get("username", "").lower() == chat_id[1:].lower()
            ]
            if found:
                return found[0]
        elif re.fullmatch(r"-?\d+", str(chat_id)) and int(chat_id) in self._chats:
            return self._chats[int(chat_id)]
        raise _bad("chat not found")

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

    def _markup(self, p: dict) -> dict | None:
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

    def _send(self, p: dict, content: dict) -> dict:
        """Validate the common send parameters, then store and return the bot message."""
        chat = self._chat(p["chat_id"])
        markup, reply = self._markup(p), self._reply(chat, p)
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

    def _bot_user(self) -> dict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _caption(self, p: dict) -> dict:
        if not str(p.get("caption") or ""):
            return {}
        text, entities = self._text(p, "caption", "caption_entities", 1024)
        return {"caption": text, **({"caption_entities": entities} if entities else {})}

    def _media(
        self, p: dict, uploads: dict[str, _Upload], name: str, kind: str
    ) -> tuple[StoredFile, bool]:
        """Resolve an upload, an ``attach://`` part, a URL or a known file_id -> (file, new?)."""
        ref = p.get(name)
        upload = uploads.get(name)
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = uploads.get(ref[len("attach://") :])
            if upload is None:
                raise _bad(_WRONG_FILE)
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            if len(upload.data) > self.upload_limit:
                raise ApiError(413, "Request Entity Too Large")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            stored = self._register(upload.data, kind, mime_type=mime, file_name=upload.filename)
            return stored, True
        if isinstance(ref, str) and re.match(r"https?://", ref):
            return self._register(None, kind, mime_type=mimetypes.guess_type(ref)[0]), True
        stored = self._files.get(str(ref))
        if stored is None:
            raise _bad(_WRONG_FILE)
        if {stored.kind, kind} == {"photo", "video"}:
            raise _bad(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored, False

    def _file_json(self, f: StoredFile, *extra: str) -> dict:
        out: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id}
        for key in extra:
            if f.meta.get(key) is not None:
                out[key] = f.meta[key]
        for key in ("file_name", "mime_type"):
            if getattr(f, key):
                out[key] = getattr(f, key)
        if f.data is not None:
            out["file_size"] = len(f.data)
        return out

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

    # ------------------------------------------------------------------ Bot API methods
    async def _m_getMe(self, p: dict, uploads: dict) -> dict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getUpdates(self, p: dict, uploads: dict) -> list[dict]:
        conflict = (
            "Conflict: can't use getUpdates method while webhook is active; use "
            "deleteWebhook to delete the webhook first"
        )
        if self._wh is not None or self._wh_lock.locked():
            raise ApiError(409, conflict)
        offset = _as_int(p.get("offset") or 0, "offset")
        limit = min(max(_as_int(p.get("limit") or 100, "limit"), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        self._update_allowed_updates(p)
        self._poll_generation += 1
        generation, epoch = self._poll_generation, self._webhook_epoch
        self._notify()  # an older pending getUpdates now answers 409
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        while True:
            if epoch != self._webhook_epoch:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure "
                    "that only one bot instance is running",
                )
            self._updates = [u for u in self._updates if self._allowed(u)]
            remaining = deadline - time.monotonic()
            if self._updates or self._closing or remaining <= 0:
                return copy.deepcopy(self._updates[:limit])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def _allowed(self, update: dict) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates is None:
            return kind not in _NOT_BY_DEFAULT
        return kind in self._allowed_updates

    def _update_allowed_updates(self, p: dict) -> None:
        """Like the server: absent / not a list of strings = unchanged; no known name in the list
        (``[]`` included) = the default set; unknown names are ignored (a typo loses updates)."""
        value = p.get("allowed_updates")
        if isinstance(value, str):  # a JSON body may carry the list as a JSON string
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return
        known = {v.lower() for v in value} & set(UPDATE_TYPES)
        self._allowed_updates = None if not known or known == _DEFAULT_ALLOWED else known

    # ------------------------------------------------------------------ webhook methods
    def _webhook_config(self, p: dict, uploads: dict) -> _WebhookConfig:
        cert = p.get("certificate")
        has_cert = "certificate" in uploads or (
            isinstance(cert, str)
            and cert.startswith("attach://")
            and cert[len("attach://") :] in uploads
        )
        raw = p.get("max_connections")
        try:
            max_connections = 40 if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            max_connections = 0  # the server's to_integer: garbage reads as 0, then clamped
        return _WebhookConfig(
            url=str(p["url"]),
            max_connections=min(max(max_connections, 1), 100),
            secret_token=str(p.get("secret_token") or ""),
            ip_address=str(p.get("ip_address") or ""),
            has_custom_certificate=has_cert,
        )

    async def _m_setWebhook(self, p: dict, uploads: dict) -> _Described:
        """The server's process_set_webhook_query / do_set_webhook, in its order: the flood
        limit first; an unchanged webhook is "already set"; otherwise the old webhook is closed
        and pending updates dropped *before* the new URL and secret are validated (so a refused
        replacement leaves no webhook, as on Telegram)."""
        url = str(p.get("url") or "")
        now = time.monotonic()
        if url and self.set_webhook_interval > 0:
            if now < self._next_set_webhook_at:
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._next_set_webhook_at = now + self.set_webhook_interval
        async with self._wh_lock:  # one change at a time; getUpdates meanwhile gets 409
            return await self._set_webhook(p, uploads, url)

    async def _set_webhook(self, p: dict, uploads: dict, url: str) -> _Described:
        new = self._webhook_config(p, uploads) if url else None
        drop = _as_bool(p.get("drop_pending_updates"))
        unchanged = new == self._wh and not (new and new.has_custom_certificate)
        if unchanged and not drop:
            self._update_allowed_updates(p)
            return _Described(
                True, "Webhook is already set" if url else "Webhook is already deleted"
            )
        if url:
            self._webhook_epoch += 1  # a held getUpdates ends with 409
            self._notify()
        was_set = self._wh is not None
        self._wh, self.webhook, self.webhook_last_error = None, {}, None
        await self._stop_webhook()
        if self._closing:
            raise ApiError(500, "Internal Server Error: restart")
        if drop:
            self._updates.clear()
            self._wh_retry_at.clear()
            self._notify()
        if new is None:
            return _Described(
                True, "Webhook was deleted" if was_set else "Webhook is already deleted"
            )
        self._check_webhook(new)
        self._update_allowed_updates(p)
        self._wh = new
        self.webhook = dict(p)
        self.webhook_last_error = None
        self._wh_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            skip_auto_headers=("User-Agent",),
        )
        self._wh_dispatcher = asyncio.create_task(self._dispatch_webhook())
        self._notify()
        return _Described(True, "Webhook was set")

    def _check_webhook(self, config: _WebhookConfig) -> None:
        url = config.url if "://" in config.url else "https://" + config.url  # https by default
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _bad("invalid webhook URL specified") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _bad("invalid webhook URL specified")
        if len(config.secret_token) > 256:
            raise _bad("secret token is too long")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", config.secret_token):
            raise _bad("secret token contains unallowed characters")
        if self.webhook_https_only:
            if parts.scheme.lower() != "https":
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (port or 443) not in _WEBHOOK_PORTS:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")

    async def _m_deleteWebhook(self, p: dict, uploads: dict) -> _Described:
        # The server runs deleteWebhook as setWebhook with an empty URL.
        return await self._m_setWebhook({**p, "url": ""}, {})

    async def _m_getWebhookInfo(self, p: dict, uploads: dict) -> dict:
        info: dict[str, Any] = {
            "url": self._wh.url if self._wh else "",
            "has_custom_certificate": bool(self._wh and self._wh.has_custom_certificate),
            "pending_update_count": len(self._updates),
        }
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        if self._wh is not None:
            info["max_connections"] = self._wh.max_connections
            info["ip_address"] = self._wh.ip_address or self._webhook_ip(self._wh.url)
        if self._allowed_updates is not None:
            info["allowed_updates"] = [t for t in UPDATE_TYPES if t in self._allowed_updates]
        return info

    @staticmethod
    def _webhook_ip(url: str) -> str:
        """What the server resolved the host to ("<unknown>" before it did): IP literals only,
        the fake does no DNS."""
        host = urlsplit(url if "://" in url else "https://" + url).hostname or ""
        if host == "localhost":
            return "127.0.0.1"
        return host if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", host) else "<unknown>"

    # ------------------------------------------------------------------ webhook delivery
    @staticmethod
    def _queue_key(update: dict) -> tuple:
        """The server's webhook queue of an update: updates of one queue go out one at a time,
        in order (the next only after the previous was confirmed)."""
        kind = next(k for k in update if k != "update_id")
        body = update[kind] if isinstance(update[kind], dict) else {}
        if kind in _MESSAGE_KINDS and "chat" in body:
            return ("chat", body["chat"]["id"])
        if kind == "callback_query" and "from" in body:
            return ("callback_query", body["from"]["id"])
        chat_id = (body.get("chat") or {}).get("id")
        if chat_id is not None:
            return (kind, chat_id)
        return ("update", update["update_id"])

    async def _dispatch_webhook(self) -> None:
        """Start deliveries as slots, queues and retry times allow; sleep until something
        changes (a new update, a finished delivery, a retry falling due)."""
        while self._wh is not None and not self._closing:
            changed = self._changed
            wake_at = self._start_deliveries()
            delay = None if wake_at is None else max(wake_at - time.monotonic(), 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await changed.wait()

    def _start_deliveries(self) -> float | None:
        assert self._wh is not None
        now = time.monotonic()
        kept = [u for u in self._updates if self._allowed(u)]
        if len(kept) != len(self._updates):
            self._updates = kept
            self._notify()
        busy = {key for _, key in self._wh_inflight.values()}
        seen: set[tuple] = set()
        wake_at: float | None = None
        for update in self._updates:
            if len(self._wh_inflight) >= self._wh.max_connections:
                break
            key = self._queue_key(update)
            if key in seen or key in busy:  # only the head of each queue may go
                seen.add(key)
                continue
            seen.add(key)
            update_id = update["update_id"]
            due = self._wh_retry_at.get(update_id, 0.0)
            if due > now:
                wake_at = due if wake_at is None else min(wake_at, due)
                continue
            task = asyncio.create_task(self._deliver(copy.deepcopy(update), self._wh))
            self._wh_inflight[update_id] = (task, key)
        return wake_at

    def _targets(self, config: _WebhookConfig) -> list[str]:
        url = config.url if "://" in config.url else "https://" + config.url
        if not self.webhook_targets:
            return [url]
        parts = urlsplit(url)
        tail = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return [t.rstrip("/") + tail for t in self.webhook_targets]

    async def _deliver(self, update: dict, config: _WebhookConfig) -> None:
        update_id = update["update_id"]
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        redelivery = update_id in self._wh_duplicate
        targets = self._targets(config)
        balanced = bool(self.webhook_targets)
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        index = 0
        try:
            for attempt in range(len(targets)):
                if redelivery and attempt == 0:
                    index = self._wh_duplicate[update_id] % len(targets)
                else:
                    index, self._wh_rr = self._wh_rr % len(targets), self._wh_rr + 1
                started = time.monotonic()
                outcome: tuple[int | None, str | None, float | None, bool]
                outcome = (None, "cancelled", None, False)  # kept if cancelled meanwhile
                try:
                    outcome = await self._post(targets[index], body, headers)
                finally:
                    status, error, retry_after, refused = outcome
                    elapsed = time.monotonic() - started
                    self.webhook_deliveries.append(
                        WebhookDelivery(
                            update_id, targets[index], status, error, started, elapsed, redelivery
                        )
                    )
                if not (balanced and refused):
                    break
            else:  # the load balancer found no live replica
                status, error = 502, "Wrong response from the webhook: 502 Bad Gateway"
            self._delivered(update_id, status, error, retry_after, index, redelivery)
        finally:
            self._wh_inflight.pop(update_id, None)
            self._notify()

    def _delivered(
        self,
        update_id: int,
        status: int | None,
        error: str | None,
        retry_after: float | None,
        index: int,
        redelivery: bool,
    ) -> None:
        if redelivery:
            self._wh_duplicate.pop(update_id, None)
        if error is None:
            self._wh_retry_at.pop(update_id, None)
            if (
                update_id not in self._wh_duplicated
                and self.duplicate_rate > 0
                and self._rng.random() < self.duplicate_rate
            ):  # Telegram did not see the answer: the same update once more, to the next target
                self._wh_duplicated.add(update_id)
                self._wh_duplicate[update_id] = index + 1
                return
            self._wh_duplicated.discard(update_id)
            self._updates = [u for u in self._updates if u["update_id"] != update_id]
            return
        self.webhook_last_error = (int(time.time()), error)
        delay = self.webhook_retry_delay if not retry_after else retry_after
        self._wh_retry_at[update_id] = time.monotonic() + delay

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None, float | None, bool]:
        """One POST: (status, Telegram's error text or None, Retry-After, connection refused?)."""
        assert self._wh_session is not None
        try:
            async with asyncio.timeout(self.webhook_timeout):
                async with self._wh_session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    await resp.read()
        except TimeoutError:
            return None, "Read timeout expired", None, False
        except aiohttp.ClientConnectorDNSError:
            return None, "Failed to resolve host: Name or service not known", None, True
        except aiohttp.ClientConnectorError as exc:  # "Connection refused", "... timed out"
            err = exc.os_error
            return None, os.strerror(err.errno) if err.errno else str(err), None, True
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return None, "Webhook connection closed", None, False
        except aiohttp.ClientError as exc:
            return None, f"Connection error: {exc}", None, False
        if 200 <= resp.status <= 299:
            return resp.status, None, None, False
        retry_after = None
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(min(max(int(resp.headers.get("Retry-After", "")), 0), 3600))
        error = f"Wrong response from the webhook: {resp.status} {resp.reason or ''}".rstrip()
        return resp.status, error, retry_after, False

    async def _stop_webhook(self) -> None:
        """Stop delivering: cancel the dispatcher and the deliveries in flight (their updates
        stay queued, as on Telegram), close the HTTP session."""
        tasks = [t for t, _ in self._wh_inflight.values()]
        if self._wh_dispatcher is not None:
            tasks.append(self._wh_dispatcher)
        self._wh_dispatcher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._wh_inflight.clear()
        self._wh_retry_at.clear()
        self._wh_duplicate.clear()
        self._wh_duplicated.clear()
        if self._wh_session is not None:
            await self._wh_session.close()
            self._wh_session = None

    def _scope_key(self, p: dict) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")

    async def _m_setMyCommands(self, p: dict, uploads: dict) -> bool:
        commands = p["commands"]
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for cmd in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _m_getMyCommands(self, p: dict, uploads: dict) -> list[dict]:
        return copy.deepcopy(self.commands.get(self._scope_key(p), []))

    async def _m_deleteMyCommands(self, p: dict, uploads: dict) -> bool:
        self.commands.pop(self._scope_key(p), None)
        return True

    async def _m_sendMessage(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        text, entities = self._text(p, "text", "entities", 4096)
        return self._send(p, {"text": text, **({"entities": entities} if entities else {})})

    async def _m_editMessageText(self, p: dict, uploads: dict) -> dict:
        stored = self._editable(p, "edit")
        if "text" not in stored:
            raise _bad("there is no text in the message to edit")
        text, entities = self._text(p, "text", "entities", 4096)
        markup = self._markup(p)
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

    @staticmethod
    def _set_or_drop(target: dict, key: str, value: Any) -> None:
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value

    async def _m_editMessageReplyMarkup(self, p: dict, uploads: dict) -> dict:
        stored = self._editable(p, "edit")
        markup = self._markup(p)
        if markup == stored.get("reply_markup"):
            raise _bad(_NOT_MODIFIED)
        self._set_or_drop(stored, "reply_markup", markup)
        stored["edit_date"] = int(time.time())
        return copy.deepcopy(stored)

    async def _m_editMessageMedia(self, p: dict, uploads: dict) -> dict:
        """Replace a message's media, or add media to a text message (Bot API 7.x+)."""
        stored = self._editable(p, "edit")
        media = p["media"]
        if not isinstance(media, dict) or "media" not in media:
            raise _bad("can't parse InputMedia: Media is not specified")
        kind = media.get("type")
        if kind not in ("photo", "video", "document"):
            raise _bad("can't parse InputMedia: unsupported media type")
        caption = self._caption(media)
        file, _ = self._media({"file": media["media"]}, uploads, "file", kind)
        if kind == "video":
            for key in ("width", "height", "duration"):
                if media.get(key) is not None:
                    file.meta[key] = _as_int(media[key], key)
                file.meta.setdefault(key, 0)
            file.mime_type = file.mime_type or "video/mp4"
            content: dict[str, Any] = {
                "video": self._file_json(file, "width", "height", "duration")
            }
        elif kind == "photo":
            file.meta.setdefault("width", 1280)
            file.meta.setdefault("height", 720)
            size = self._file_json(file, "width", "height")
            size.pop("mime_type", None)
            size.pop("file_name", None)
            content = {"photo": [size]}
        else:
            content = {"document": self._file_json(file)}
        markup = self._markup(p)
        old = {k: stored.get(k) for k in (*content, "caption", "caption_entities", "reply_markup")}
        new = {**content, "caption": caption.get("caption"), "reply_markup": markup}
        new["caption_entities"] = caption.get("caption_entities")
        if old == new:
            raise _bad(_NOT_MODIFIED)
        for key in ("text", "entities", "link_preview_options", *_MEDIA_KEYS):
            stored.pop(key, None)
        for key, value in new.items():
            self._set_or_drop(stored, key, value)
        stored["edit_date"] = int(time.time())
        return copy.deepcopy(stored)

    async def _m_deleteMessage(self, p: dict, uploads: dict) -> bool:
        stored = self._editable(p, "delete")
        del self._messages[stored["chat"]["id"]][stored["message_id"]]
        return True

    async def _m_sendVideo(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, _ = self._media(p, uploads, "video", "video")
        for key in ("width", "height", "duration"):
            if p.get(key) is not None:
                stored.meta[key] = _as_int(p[key], key)
            stored.meta.setdefault(key, 0)
        stored.mime_type = stored.mime_type or "video/mp4"
        video = self._file_json(stored, "width", "height", "duration")
        return self._send(p, {"video": video, **caption})

    async def _m_sendDocument(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, _ = self._media(p, uploads, "document", "document")
        return self._send(p, {"document": self._file_json(stored), **caption})

    async def _m_sendPhoto(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, new = self._media(p, uploads, "photo", "photo")
        if new and stored.data is not None:  # a fresh upload: Telegram builds the sizes
            del self._files[stored.file_id]
            sizes = self._photo_sizes(stored.data, 1280, 720)
        else:
            stored.meta.setdefault("width", 1280)
            stored.meta.setdefault("height", 720)
            sizes = [self._file_json(stored, "width", "height")]
        for size in sizes:
            size.pop("mime_type", None)
            size.pop("file_name", None)
        return self._send(p, {"photo": sizes, **caption})

    async def _m_sendChatAction(self, p: dict, uploads: dict) -> bool:
        self._chat(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def _m_answerCallbackQuery(self, p: dict, uploads: dict) -> bool:
        query_id = str(p["callback_query_id"])
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        return True

    async def _m_getFile(self, p: dict, uploads: dict) -> dict:
        stored = self._files.get(str(p["file_id"]))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.data is not None and len(stored.data) > self.download_limit:
            raise _bad("file is too big")
        if stored.data is not None and stored.file_path is None:
            ext = mimetypes.guess_extension(stored.mime_type or "") or ".bin"
            if stored.file_name and "." in stored.file_name:
                ext = "." + stored.file_name.rsplit(".", 1)[1]
            folder = {"photo": "photos", "video": "videos"}.get(stored.kind, "documents")
            stored.file_path = f"{folder}/file_{next(self._seq)}{ext}"
            self._paths[stored.file_path] = stored
        out = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            out.update(file_size=len(stored.data), file_path=stored.file_path)
        return out

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

    async def _m_close(self, p: dict, uploads: dict) -> bool:
        return True

    async def _m_logOut(self, p: dict, uploads: dict) -> bool:
        return True
