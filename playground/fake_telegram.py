"""A fake Telegram Bot API server, spoken to over real HTTP (aiohttp) by a real PTB client.

What it fakes
    The parts of the Bot API this bot uses: ``getMe``, ``getUpdates`` (real long polling with
    ``offset`` confirmation, ``limit``, ``timeout``, ``allowed_updates`` and the 409 conflicts),
    the webhook and command methods, ``sendMessage`` / ``sendVideo`` / ``sendDocument`` /
    ``sendPhoto``, edits, ``deleteMessage``, ``sendChatAction``, ``answerCallbackQuery``,
    ``getFile`` plus the file download route, ``getChat``, ``getChatMember``,
    ``answerInlineQuery`` (inline mode: ``bot_api/inline.py``), ``close``, ``logOut``,
    Telegram Stars payments (``sendInvoice``, ``answerPreCheckoutQuery``,
    ``refundStarPayment``, ``getStarTransactions``, ``getMyStarBalance``), and Mini Apps
    (``setChatMenuButton``, ``getChatMenuButton``; ``bot_api/web_apps.py``).
    It keeps state like Telegram does: chats, messages per chat (one id sequence per chat shared by
    user and bot messages; deletions and edits applied), files by ``file_id`` and who is what in
    each chat (``set_chat_member``; a user who wrote in a chat is a member of it).

How strict it is (so that bugs show up in tests)
    Unknown parameters and missing required ones are rejected with 400 (real Telegram silently
    ignores unknown ones; we want typos in ``api_kwargs`` to fail). Texts, captions, HTML markup,
    inline keyboards (``callback_data`` <= 64 bytes; ``web_app`` buttons HTTPS only and in
    private chats only), reply targets, "message is not modified", upload (50 MB -> 413) and
    download (20 MB) limits are checked with Telegram's error texts.
    Like Telegram, ``editMessageText`` without ``reply_markup`` removes the inline keyboard.
    ``reply_markup`` other than an inline keyboard (``force_reply``, reply keyboards) is checked
    against the field rules, then (like Telegram) not shown on the returned message.
    Media given as an http(s) URL is fetched like Telegram does (``fetch_urls=True``: redirects,
    a timeout, the 20 MB limit, Telegram's "failed to get HTTP URL content" and "wrong type of
    the web page content"; ``tg.url_fetches``), from this machine only (``bot_api/media.py``).
    An uploaded or fetched MP4 video gets a ``thumbnail`` (a JPEG of its first frame, at most 320
    px a side, made by FFmpeg at its first ``getFile``; ``bot_api/thumbnails.py``).
    Deliberate deviations: Markdown/MarkdownV2 are stored verbatim (not parsed), ``setWebhook``
    accepts ``http://`` URLs, URLs to other hosts than localhost fail without a connection,
    thumbnails of injected photos are byte prefixes of the photo, text limits count UTF-16 code
    units.

Usage::

    async with FakeTelegram() as tg:
        app = (ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot")
               .base_file_url(f"{tg.root}/file/bot").build())
        tg.user_sends("/video a jellyfish")              # queued for getUpdates
        call = await tg.wait_for_call("sendMessage")     # what the bot answered
        assert call.ok and "queued" in call.params["text"]

Users act through ``user_sends`` (text), ``user_sends_photo`` (a compressed photo: PhotoSizes),
``user_sends_video`` (a clip from the gallery: a Video), ``user_sends_document`` (any file, e.g.
an uncompressed image), ``user_edits``, ``user_deletes``,
``press_button`` (also on a message the bot can no longer see: ``inaccessible=True``),
``press_inline_button`` (a button of an inline-mode message: no ``message`` in the query),
``user_sends_inline_query`` (``@bot words``: an ``inline_query``; answers in
``tg.inline_answers``) and
``channel_posts``; ``reply_to_message_id`` (also to a bot message, which is
then quoted whole, its ``video`` and ``from`` = the bot included) and ``media_group_id`` work on
the media helpers; an album Telegram would not send (a document beside a photo or a video, more
than 10 items) is a ``ValueError``. Injected files are served by ``getFile`` and the file route.

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

Benchmarks that push thousands of uploads through one fake pass ``keep_uploads=False``: the bytes
are dropped once a call is done, their sizes kept (``Call.sizes``, ``tg.bytes_received``,
``tg.bytes_fetched``).

Flood limits (opt-in: ``flood_limits=True``) are described in ``bot_api/flood.py``, webhook mode
in ``bot_api/webhook.py``, Telegram Stars payments (``sendInvoice``, pre-checkout queries,
``user_pays``, refunds, ``getStarTransactions``; ``tg.invoices``, ``tg.star_transactions``) in
``bot_api/payments.py``, Mini Apps (the menu button, ``tg.menu_button(chat_id)``; a user opening
one: ``tg.web_app_init_data(user_id)``, ``tg.web_app_url(url, init_data, theme=DARK_THEME)``) in
``bot_api/web_apps.py``.

``FakeTelegram`` is put together from one part per concern, in ``playground/bot_api/`` (its
``__init__`` lists them); import it, its records and helpers from here.
"""

from __future__ import annotations

import copy
import json
import re

from aiohttp import web

from playground.bot_api.callbacks import CallbackQueries
from playground.bot_api.chats import ChatMethods
from playground.bot_api.entities import command_entities, parse_html, u16len
from playground.bot_api.inline import InlineQueries
from playground.bot_api.inspection import Inspection
from playground.bot_api.media import MediaMethods
from playground.bot_api.payments import NOT_ANSWERED, STARS, PaymentMethods
from playground.bot_api.protocol import (
    CHAT_ACTIONS,
    DEFAULT_TOKEN,
    FLOOD_COUNTED,
    JSON_FIELDS,
    MB,
    MEMBER_STATUSES,
    METHODS,
    UPDATE_TYPES,
    ApiError,
    _bad,
)
from playground.bot_api.records import (
    Call,
    FloodRefusal,
    InlineAnswer,
    PaymentAttempt,
    SentInvoice,
    StarTransaction,
    StoredFile,
    UrlFetch,
    WebhookDelivery,
)
from playground.bot_api.server import HttpServer
from playground.bot_api.updates import GetUpdates
from playground.bot_api.users import (
    ANONYMOUS_ADMIN_USER,
    CHANNEL_BOT_USER,
    FAKE_JPEG,
    FAKE_MP4,
    TELEGRAM_SERVICE_USER,
    UserActions,
)
from playground.bot_api.web_apps import DARK_THEME, LIGHT_THEME, WebApps
from playground.bot_api.webhook import WebhookMethods

__all__ = [
    "ANONYMOUS_ADMIN_USER",
    "CHANNEL_BOT_USER",
    "CHAT_ACTIONS",
    "DARK_THEME",
    "DEFAULT_TOKEN",
    "FAKE_JPEG",
    "FAKE_MP4",
    "FLOOD_COUNTED",
    "JSON_FIELDS",
    "LIGHT_THEME",
    "MB",
    "MEMBER_STATUSES",
    "METHODS",
    "NOT_ANSWERED",
    "STARS",
    "TELEGRAM_SERVICE_USER",
    "UPDATE_TYPES",
    "ApiError",
    "Call",
    "FakeTelegram",
    "FloodRefusal",
    "InlineAnswer",
    "PaymentAttempt",
    "SentInvoice",
    "StarTransaction",
    "StoredFile",
    "UrlFetch",
    "WebhookDelivery",
    "command_entities",
    "parse_html",
    "u16len",
]


class FakeTelegram(
    UserActions,
    CallbackQueries,
    InlineQueries,
    Inspection,
    WebApps,
    MediaMethods,
    PaymentMethods,
    ChatMethods,
    GetUpdates,
    WebhookMethods,
    HttpServer,
):
    """In-process fake Bot API server. Use ``async with FakeTelegram() as tg:``.

    Its options are those of ``FakeState.__init__`` (``bot_api/state.py``). Here: starting and
    stopping it, and the methods about the bot itself (``getMe``, its commands, ``close``,
    ``logOut``)."""

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
        if self._url_session is not None:
            await self._url_session.close()
            self._url_session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _m_getMe(self, p: dict, uploads: dict) -> dict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

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

    async def _m_close(self, p: dict, uploads: dict) -> bool:
        return True

    async def _m_logOut(self, p: dict, uploads: dict) -> bool:
        return True
