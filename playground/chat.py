"""The playground's web chat: a page at ``/`` that looks and behaves like a Telegram chat with the
bot, run against the fake Bot API and the video API emulator in the same process.

The page is a Telegram app for the people below: it talks to the fake as a user's app does
(``tg.user_sends``, ``tg.press_button``, ``tg.user_pays``, ...), never to the bot, and shows
the chats as the fake holds them, live (``chat_feed``). Its side panel drives the emulator
(``chat_panel``). Who is who:

- **Ann** (``ANN_ID``, @ann, English) in a private chat with the bot;
- **Bob** (``BOB_ID``), whose own private chat is listed once it has a message (a deep link
  pressed while sending as Bob opens it);
- ``GROUP_TITLE`` (``GROUP_ID``, a supergroup) with Ann (an admin) and Bob; the page sends there
  as Ann, as Bob, as the group (an anonymous admin) or as the channel;
- ``CHANNEL_TITLE`` (``CHANNEL_ID``) where Ann is an admin and the bot an administrator; posts
  there are the channel's.

Use (the runner does exactly this)::

    room = ChatRoom(tg, emulator)           # tg and emulator started, in this event loop
    runner = web.AppRunner(room.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 8080).start()
    ...
    await room.close()                      # ends the event streams
    await runner.cleanup()

Routes: ``GET /`` (the page) and its ``/chat.css``, ``/chat.js``; ``GET /api/state``, ``GET
/api/events`` (server-sent events), ``POST /api/send``, ``/api/press``, ``/api/pay``, ``GET
/api/files/{file_id}``, and the panel's ``POST /api/emulator/{timing,arm,fail,disarm}``. Every
text the page shows is in ``TEXTS``. It answers only requests addressed to this machine
(``Host`` 127.0.0.1, localhost or [::1]) and, for a POST, from its own page (``Origin``).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from emulator import Emulator
from playground.bot_api.entities import u16len
from playground.chat_feed import ChatSpec, Feed
from playground.chat_files import photo_dimensions, photo_problem, serve_file
from playground.chat_panel import (
    DEFAULT_TIMINGS,
    PanelError,
    arm_outcome,
    disarm,
    fail_creates,
    set_generation_seconds,
)
from playground.fake_telegram import FakeTelegram

__all__ = [
    "ANN_ID",
    "ANN_NAME",
    "ANN_USERNAME",
    "BOB_ID",
    "BOB_NAME",
    "BOB_USERNAME",
    "CHANNEL_ID",
    "CHANNEL_TITLE",
    "DEFAULT_TIMINGS",
    "GROUP_ID",
    "GROUP_TITLE",
    "LANGUAGE",
    "TEXTS",
    "ChatRoom",
    "Identity",
]

ANN_ID, ANN_NAME, ANN_USERNAME = 1001, "Ann", "ann"
BOB_ID, BOB_NAME, BOB_USERNAME = 1002, "Bob", "bob"
LANGUAGE = "en"
GROUP_ID, GROUP_TITLE = -1001000000001, "Playground group"
CHANNEL_ID, CHANNEL_TITLE = -1001000000002, "Playground channel"

# Telegram's limits for what a user sends.
TEXT_LIMIT, CAPTION_LIMIT, MAX_PHOTOS = 4096, 1024, 2
BODY_LIMIT = 2 * 10 * 1024 * 1024 + 64 * 1024  # two photos at Telegram's 10 MB, and the text
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {"chat.css": "text/css", "chat.js": "text/javascript"}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Every text the page shows (the page holds none of its own): {name} fields are filled in there.
TEXTS = {
    "title": "Playground",
    "chats": "Chats",
    "subtitle_private": "bot",
    "subtitle_group": "{count} members",
    "subtitle_channel": "channel · the bot is an admin",
    "empty_chat": "No messages here yet. Try /video a jellyfish --ar 9:16",
    "message_placeholder": "Message",
    "caption_placeholder": "Caption (e.g. /video waves crashing)",
    "post_placeholder": "Broadcast a post",
    "send": "Send",
    "attach": "Attach one or two photos (keyframes)",
    "remove_photo": "Remove",
    "send_as": "Send as",
    "as_group": "{title} (anonymous admin)",
    "as_channel": "{title} (as the channel)",
    "reply": "Reply",
    "replying_to": "Reply to {name}",
    "cancel_reply": "Cancel reply",
    "edited": "edited",
    "today": "Today",
    "yesterday": "Yesterday",
    "video": "Video",
    "photo": "Photo",
    "file": "File",
    "invoice": "Invoice",
    "pay": "Pay ⭐ {amount}",
    "paid": "Paid ✓",
    "paying": "Paying…",
    "payment_done": "{name} paid ⭐ {amount} to {bot}",
    "payment_refunded": "{bot} refunded ⭐ {amount}",
    "unsupported": "This kind of message is not shown in the playground",
    "web_app_hint": "Mini Apps open only in Telegram's apps",
    "button_unsupported": "This kind of button does nothing in the playground",
    "too_many_photos": "At most two photos: the first two are kept",
    "photo_unreadable": "That picture could not be read",
    "reconnecting": "Reconnecting…",
    "spoiler": "Show the hidden text",
    "commands": "Commands",
    "panel": "Emulator",
    "panel_title": "Video API emulator",
    "panel_close": "Hide the panel",
    "generation_time": "Generation time",
    "seconds": "{seconds} s",
    "next_generation": "The next generation",
    "arm_moderation": "Fails moderation",
    "arm_stuck": "Gets stuck",
    "stuck_hint": "A stuck video never finishes: the bot gives up at its deadline and refunds.",
    "api_errors": "The video API answers errors",
    "fail_creates": "Fail them",
    "fail_one": "The next create request",
    "fail_count": "The next {count} create requests",
    "armed": "Armed",
    "nothing_armed": "Nothing armed: the next video succeeds.",
    "armed_moderation": "a generation fails moderation",
    "armed_stuck": "a generation never finishes",
    "armed_slow": "a generation is 10× slower",
    "armed_fault": "{count} create request(s) answer HTTP {status}",
    "disarm": "Disarm",
    "generations": "Generations",
    "no_generations": "None yet",
    "requests": "API requests",
    "no_requests": "None yet",
    "pending": "…",
    "ok": "OK",
    # Answers of the page's own API (shown as they are).
    "unknown_chat": "No such chat here",
    "unknown_sender": "Nobody of that name can write here",
    "empty_message": "Type a message or attach a photo",
    "text_too_long": "A message holds at most 4096 characters",
    "caption_too_long": "A caption holds at most 1024 characters",
    "too_many_photos_sent": "At most two photos at once",
    "photos_as_chat": "Photos can be sent here as Ann or Bob only",
    "empty_photo": "That photo is empty",
    "photo_too_big": "A photo can be at most 10 MB",
    "photo_not_jpeg": "Photos must be JPEG pictures",
    "bad_request": "That request could not be read",
    "not_here": "The playground answers only on this machine",
}


@dataclass(frozen=True)
class Identity:
    """Someone the page can act as: a user, or a chat that sends on its own behalf."""

    key: str
    id: int
    name: str
    username: str = ""

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "username": self.username}


ANN = Identity("ann", ANN_ID, ANN_NAME, ANN_USERNAME)
BOB = Identity("bob", BOB_ID, BOB_NAME, BOB_USERNAME)
USERS = {identity.key: identity for identity in (ANN, BOB)}
AS_GROUP = Identity("group", GROUP_ID, GROUP_TITLE)
AS_CHANNEL = Identity("channel", CHANNEL_ID, CHANNEL_TITLE)
IDENTITIES = {identity.key: identity for identity in (ANN, BOB, AS_GROUP, AS_CHANNEL)}


class _Problem(Exception):
    """A request the page's API refuses: HTTP 400 (or ``status``) with ``TEXTS[key]``."""

    def __init__(self, key: str, status: int = 400, detail: str | None = None) -> None:
        super().__init__(key)
        self.status, self.text = status, detail or TEXTS[key]


class ChatRoom:
    """The chat page and its API over a started ``FakeTelegram`` and ``Emulator``."""

    def __init__(self, tg: FakeTelegram, emulator: Emulator) -> None:
        self.tg, self.emulator = tg, emulator
        bot_name = tg.bot_first_name
        self.chats = {
            spec.id: spec
            for spec in (
                ChatSpec(ANN_ID, "private", bot_name, ("ann",)),
                ChatSpec(GROUP_ID, "group", GROUP_TITLE, ("ann", "bob", "group", "channel")),
                ChatSpec(CHANNEL_ID, "channel", CHANNEL_TITLE, ("channel",)),
                ChatSpec(
                    BOB_ID, "private", f"{bot_name} ({BOB_NAME})", ("bob",), listed_when_empty=False
                ),
            )
        }
        self._set_up_chats()
        self.feed = Feed(tg, emulator, list(self.chats.values()), self._static)
        self._albums = itertools.count(int(time.time() * 1000))

    def _set_up_chats(self) -> None:
        tg = self.tg
        for user in USERS.values():
            tg.add_user(user.id, user.name, username=user.username, language_code=LANGUAGE)
            tg.add_chat(user.id, "private", first_name=user.name, username=user.username)
        tg.add_chat(GROUP_ID, "supergroup", title=GROUP_TITLE)
        tg.set_chat_member(GROUP_ID, ANN_ID, "administrator")
        tg.set_chat_member(GROUP_ID, BOB_ID, "member")
        tg.add_chat(CHANNEL_ID, "channel", title=CHANNEL_TITLE)
        tg.set_chat_member(CHANNEL_ID, ANN_ID, "administrator")
        tg.set_chat_member(CHANNEL_ID, tg.bot_id, "administrator")

    def _static(self) -> dict[str, Any]:
        tg = self.tg
        return {
            "bot": {"id": tg.bot_id, "name": tg.bot_first_name, "username": tg.bot_username},
            "identities": {key: identity.view() for key, identity in IDENTITIES.items()},
            "texts": TEXTS,
            "limits": {"text": TEXT_LIMIT, "caption": CAPTION_LIMIT, "photos": MAX_PHOTOS},
        }

    # --- the app ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """Every route of the page; the live feed runs while the app does."""
        app = web.Application(middlewares=[_guard], client_max_size=BODY_LIMIT)
        app.router.add_get("/", self._index)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/files/{file_id}", self._file)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/pay", self._pay)
        app.router.add_post("/api/emulator/{control}", self._control)
        app.router.add_get("/{name}", self._static_file)
        app.on_startup.append(self._started)
        app.on_shutdown.append(self._stopping)
        return app

    async def close(self) -> None:
        """End the event streams (each page then shows it is reconnecting) and stop reading."""
        await self.feed.close()

    async def _started(self, app: web.Application) -> None:
        self.feed.start()

    async def _stopping(self, app: web.Application) -> None:
        await self.close()

    # --- the page -----------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return _static_response(STATIC_DIR / "index.html", "text/html")

    async def _static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_TYPES:
            raise web.HTTPNotFound()
        return _static_response(STATIC_DIR / name, STATIC_TYPES[name])

    async def _state(self, request: web.Request) -> web.Response:
        self.feed.scan()
        return web.json_response(self.feed.state(), headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await self.feed.stream(request, SECURITY_HEADERS)

    async def _file(self, request: web.Request) -> web.Response:
        return serve_file(request, self.tg)

    # --- what the user does -------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        """A message, a photo or an album of two, from whoever ``sender`` names in that chat;
        fields ``chat_id``, ``sender``, ``text``, ``reply_to``, files ``photo`` (multipart, or
        JSON without photos)."""
        try:
            fields, photos = await _read_form(request)
            spec = self._chat(fields.get("chat_id"))
            sender = self._sender(spec, fields.get("sender"))
            text = str(fields.get("text") or "").strip()
            reply_to = _optional_int(fields.get("reply_to"))
            _check_message(text, photos)
            sent = self._deliver(spec, sender, text, photos, reply_to)
        except _Problem as problem:
            return _refuse(problem)
        except ValueError as exc:  # the fake's own refusal, e.g. a reply to a deleted message
            return _refuse(_Problem("bad_request", detail=str(exc)))
        self.feed.scan()
        return web.json_response({"message_ids": [m["message_id"] for m in sent]})

    def _deliver(
        self, spec: ChatSpec, sender: Identity, text: str, photos: list[bytes], reply_to: int | None
    ) -> list[dict[str, Any]]:
        tg = self.tg
        album = str(next(self._albums)) if len(photos) > 1 else None
        if spec.kind == "channel":
            if not photos:
                return [tg.channel_posts(text, chat_id=spec.id, reply_to_message_id=reply_to)]
            return [
                tg.channel_posts(
                    text if i == 0 else "",
                    chat_id=spec.id,
                    photo_bytes=photo,
                    reply_to_message_id=reply_to if i == 0 else None,
                    media_group_id=album,
                )
                for i, photo in enumerate(photos)
            ]
        if sender.key not in USERS:  # on behalf of a chat: an anonymous admin or the channel
            if photos:
                raise _Problem("photos_as_chat")
            return [
                tg.chat_sends(
                    text,
                    chat_id=spec.id,
                    sender_chat_id=sender.id,
                    sender_title=sender.name,
                    reply_to_message_id=reply_to,
                )
            ]
        where = self._where(spec, sender)
        if not photos:
            return [tg.user_sends(text, **where, reply_to_message_id=reply_to)]
        sent = []
        for i, photo in enumerate(photos):
            width, height = photo_dimensions(photo)
            sent.append(
                tg.user_sends_photo(
                    (text or None) if i == 0 else None,
                    **where,
                    photo_bytes=photo,
                    width=width,
                    height=height,
                    media_group_id=album,
                    reply_to_message_id=reply_to if i == 0 else None,
                )
            )
        return sent

    @staticmethod
    def _where(spec: ChatSpec, user: Identity) -> dict[str, Any]:
        """The fake's arguments that say who writes where."""
        where: dict[str, Any] = {
            "user_id": user.id,
            "chat_id": spec.id,
            "first_name": user.name,
            "username": user.username,
            "language_code": LANGUAGE,
        }
        if spec.kind == "group":
            where.update(chat_type="supergroup", chat_title=GROUP_TITLE)
        return where

    async def _press(self, request: web.Request) -> web.Response:
        """An inline button's ``callback_data`` pressed under a message; the bot's answer comes
        as an ``answer`` event."""
        try:
            body = await _read_json(request)
            spec = self._chat(body.get("chat_id"))
            user = self._person(spec, body.get("sender"))
            message = {"chat": {"id": spec.id}, "message_id": _required_int(body, "message_id")}
            data = body.get("data")
            if not isinstance(data, str):
                raise _Problem("bad_request")
            query = self.tg.press_button(message, data, user.id)
        except _Problem as problem:
            return _refuse(problem)
        except ValueError as exc:
            return _refuse(_Problem("bad_request", detail=str(exc)))
        return web.json_response({"query_id": query["id"]})

    async def _pay(self, request: web.Request) -> web.Response:
        """The Pay button of an invoice: Telegram asks the bot (pre-checkout), then charges."""
        try:
            body = await _read_json(request)
            spec = self._chat(body.get("chat_id"))
            user = self._person(spec, body.get("sender"))
            invoice = {"chat": {"id": spec.id}, "message_id": _required_int(body, "message_id")}
            attempt = await self.tg.user_pays(invoice, user_id=user.id)
        except _Problem as problem:
            return _refuse(problem)
        except ValueError as exc:
            return _refuse(_Problem("bad_request", detail=str(exc)))
        self.feed.scan()
        return web.json_response({"paid": attempt.paid, "error": attempt.error})

    def _chat(self, raw: Any) -> ChatSpec:
        try:
            return self.chats[int(raw)]
        except (TypeError, ValueError, KeyError):
            raise _Problem("unknown_chat") from None

    @staticmethod
    def _sender(spec: ChatSpec, raw: Any) -> Identity:
        key = spec.senders[0] if raw in (None, "") else raw
        if key not in spec.senders:
            raise _Problem("unknown_sender")
        return IDENTITIES[key]

    def _person(self, spec: ChatSpec, raw: Any) -> Identity:
        """Who presses or pays: the person behind the sender (Ann behind the group's anonymous
        admin and the channel)."""
        sender = self._sender(spec, raw)
        return sender if sender.key in USERS else ANN

    # --- the emulator panel -------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        """``timing`` {seconds}, ``arm`` {outcome: moderation|stuck}, ``fail`` {status, count},
        ``disarm``; answers the panel as it is now."""
        control = request.match_info["control"]
        try:
            body = await _read_json(request)
            if control == "timing":
                set_generation_seconds(self.emulator, body.get("seconds"))
            elif control == "arm":
                arm_outcome(self.emulator, body.get("outcome"))
            elif control == "fail":
                fail_creates(self.emulator, body.get("status"), body.get("count", 1))
            elif control == "disarm":
                disarm(self.emulator)
            else:
                raise web.HTTPNotFound()
        except _Problem as problem:
            return _refuse(problem)
        except PanelError as exc:
            return _refuse(_Problem("bad_request", detail=str(exc)))
        self.feed.scan()
        return web.json_response(self.feed.state()["emulator"])


# --- helpers ----------------------------------------------------------------------------------


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only this machine, by name (a page elsewhere that rebinds its DNS name to 127.0.0.1 is
    refused), only this page's own POSTs, and the security headers on every answer."""
    try:
        host = URL(f"http://{request.host}").host
    except ValueError:  # not a host name at all
        host = None
    origin = request.headers.get("Origin")
    try:
        if host not in LOCAL_HOSTS:
            raise web.HTTPForbidden(text=TEXTS["not_here"])
        if request.method == "POST" and origin not in (None, f"http://{request.host}"):
            raise web.HTTPForbidden(text=TEXTS["not_here"])
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


def _static_response(path: Path, content_type: str) -> web.Response:
    return web.Response(
        body=path.read_bytes(),
        content_type=content_type,
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def _refuse(problem: _Problem) -> web.Response:
    return web.json_response({"error": problem.text}, status=problem.status)


async def _read_json(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise _Problem("bad_request") from None
    if not isinstance(body, dict):
        raise _Problem("bad_request")
    return body


async def _read_form(request: web.Request) -> tuple[dict[str, Any], list[bytes]]:
    """The fields and the photos of a send: a form (the page sends multipart) or a JSON
    object."""
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_json(request), []
    fields: dict[str, Any] = {}
    photos: list[bytes] = []
    try:
        form = await request.post()
    except ValueError:
        raise _Problem("bad_request") from None
    for name, value in form.items():
        if isinstance(value, web.FileField):
            if name == "photo":
                with value.file:
                    photos.append(value.file.read())
        else:
            fields[name] = value
    return fields, photos


def _check_message(text: str, photos: list[bytes]) -> None:
    if len(photos) > MAX_PHOTOS:
        raise _Problem("too_many_photos_sent")
    for photo in photos:
        if problem := photo_problem(photo):
            raise _Problem(problem)
    if not text and not photos:
        raise _Problem("empty_message")
    if photos and u16len(text) > CAPTION_LIMIT:
        raise _Problem("caption_too_long")
    if u16len(text) > TEXT_LIMIT:
        raise _Problem("text_too_long")


def _optional_int(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _Problem("bad_request") from None


def _required_int(body: dict[str, Any], name: str) -> int:
    value = _optional_int(body.get(name))
    if value is None:
        raise _Problem("bad_request")
    return value
