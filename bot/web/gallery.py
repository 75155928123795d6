"""The gallery Mini App: `PUBLIC_URL/app/`, a page of the user's videos inside Telegram.

The page (bot/web/app/: HTML, CSS, one script; no build step) is static and holds nothing
secret. What it shows comes from a small JSON API under `/app/api/`, where every request proves
who asks with Telegram's initData (bot/web/init_data.py); nothing else in a request names a user.

- `GET /app/api/me`: the user, the chats they may filter by, the page's texts in their language.
- `GET /app/api/videos?chat=<id>&offset=<n>`: a page of their videos, newest first.
- `POST /app/api/videos/<job id>/send | again | extend`: the video's actions, done by the same
  code as the chat's buttons (handlers/gallery.py, behind `GalleryActions`): quotas, credits and
  bans apply, and the bot answers in the user's private chat.

A user sees only their own videos, and a group's or channel's only while Telegram says they are in
it (asked at most once a minute per chat). Thumbnails and videos are signed, expiring `/media`
links that the server fills from Telegram by file id: the page never sees a `bot<token>` URL.
Every answer carries a Content-Security-Policy that lets the page load only its own files.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from telegram import Bot

from bot.allowances import Allowances, Verdict
from bot.config import GALLERY_PATH
from bot.domain.generations import GenerationService
from bot.domain.model import Job, JobState, Refusal
from bot.links import VIDEO_TYPE, LinkSigner, MediaRef
from bot.telegram.members import MemberChat, chat_of_member
from bot.texts import CATALOGS, strip_html, text
from bot.web.bodies import json_or_none, read_body
from bot.web.init_data import AuthProblem, InitDataChecker, WebAppUser
from bot.worker.delivery import video_details

log = logging.getLogger(__name__)

# Videos in one answer; the page asks for the next ones as the user scrolls.
PAGE_SIZE = 24
# Offsets beyond this are not the page's: nobody scrolls through a hundred thousand videos.
MAX_OFFSET = 100_000
# An action's body: a request id and at most an extension's prompt.
ACTION_BODY_LIMIT = 8 * 1024
# A request id makes a retried action one action (the job's request key); the page makes it.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# How long what Telegram said of someone's membership of a chat is believed.
MEMBERSHIP_SECONDS = 60.0
STATIC_DIR = Path(__file__).parent / "app"
STATIC_TYPES = {
    "index.html": "text/html",
    "gallery.css": "text/css",
    "gallery.js": "text/javascript",
}
# The page loads its own script, style, and media (the /media links are same-origin paths); it
# may be framed only by Telegram's web clients.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors https://web.telegram.org"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The catalog keys the page shows (the page holds no text of its own but one fallback line).
PAGE_TEXTS = tuple(key for key in CATALOGS["en"] if key.startswith("gallery_"))


@dataclass(frozen=True)
class ActionOutcome:
    """How an action went, for the page: whether it was done, and one plain-text line."""

    done: bool
    message: str


class GalleryActions(Protocol):
    """The video actions, done as the chat does them (handlers/gallery.py)."""

    async def send(self, user: WebAppUser, job: Job) -> ActionOutcome: ...

    async def again(self, user: WebAppUser, job: Job, request_key: str) -> ActionOutcome: ...

    async def extend(
        self, user: WebAppUser, job: Job, prompt: str, request_key: str
    ) -> ActionOutcome: ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Gallery:
    def __init__(
        self,
        *,
        bot: Bot,
        service: GenerationService,
        signer: LinkSigner,
        checker: InitDataChecker,
        actions: GalleryActions,
        allowances: Allowances,
    ) -> None:
        self._bot = bot
        self._service = service
        self._signer = signer
        self._checker = checker
        self._actions = actions
        self._allowances = allowances  # each user's pace of API requests
        self._memberships: dict[tuple[int, int], tuple[float, MemberChat | None]] = {}
        # The page's files, read once: they change only with the bot.
        self._pages = {name: (STATIC_DIR / name).read_bytes() for name in STATIC_TYPES}

    def routes(self) -> list[tuple[str, str, Handler]]:
        app = GALLERY_PATH.rstrip("/")
        return [
            ("GET", app, self._to_index),
            ("GET", f"{app}/", self._static),
            ("GET", f"{app}/{{name}}", self._static),
            ("GET", f"{app}/api/me", self._me),
            ("GET", f"{app}/api/videos", self._videos),
            ("POST", f"{app}/api/videos/{{job}}/{{action}}", self._act),
        ]

    # --- the page -------------------------------------------------------------------------------

    async def _to_index(self, _: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(GALLERY_PATH)

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in self._pages:
            raise web.HTTPNotFound()
        return web.Response(
            body=self._pages[name],
            content_type=STATIC_TYPES[name],
            charset="utf-8",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    # --- the API --------------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        language = user.language_code
        chats = [
            {"id": chat.id, "title": chat.title, "kind": chat.type}
            for chat in await self._chats(user)
        ]
        return _json(
            {
                "user": {"id": user.id, "first_name": user.first_name},
                "chats": chats,
                "texts": {key: strip_html(text(key, language)) for key in PAGE_TEXTS},
            }
        )

    async def _videos(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        offset = _number(request.query.get("offset", "0"))
        chat = request.query.get("chat")
        if offset is None or offset > MAX_OFFSET:
            raise _problem(web.HTTPBadRequest, "gallery_bad_request", user)
        visible = [known.id for known in await self._chats(user)]
        if chat:
            wanted = _number(chat, signed=True)
            if wanted not in visible:
                raise _problem(web.HTTPNotFound, "gallery_chat_unknown", user)
            visible = [wanted]
        found = await self._service.gallery_videos(
            user.id, chats=visible, offset=offset, limit=PAGE_SIZE + 1
        )
        videos = found[:PAGE_SIZE]
        more = len(found) > PAGE_SIZE and offset + PAGE_SIZE <= MAX_OFFSET
        return _json(
            {
                "videos": [self._video(job, user.language_code) for job in videos],
                "next_offset": offset + len(videos) if more else None,
            }
        )

    async def _act(self, request: web.Request) -> web.Response:
        user = await self._user(request)
        action = request.match_info["action"]
        job_id = _number(request.match_info["job"])
        body = json_or_none(await read_body(request, ACTION_BODY_LIMIT))
        if action not in ("send", "again", "extend") or job_id is None:
            raise _problem(web.HTTPNotFound, "gallery_not_found", user)
        if not isinstance(body, dict) or not _REQUEST_ID.fullmatch(str(body.get("request", ""))):
            raise _problem(web.HTTPBadRequest, "gallery_bad_request", user)
        job = await self._visible_job(user, job_id)
        request_key = f"app:{user.id}:{body['request']}"
        if action == "send":
            outcome = await self._actions.send(user, job)
        elif action == "again":
            outcome = await self._actions.again(user, job, request_key)
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise _problem(web.HTTPBadRequest, "gallery_extend_no_prompt", user)
            outcome = await self._actions.extend(user, job, prompt, request_key)
        if not outcome.done:
            return _json({"error": "refused", "message": outcome.message}, status=409)
        return _json({"message": outcome.message})

    # --- who and what ---------------------------------------------------------------------------

    async def _user(self, request: web.Request) -> WebAppUser:
        """The user initData proves; 401 if it proves none, 403 if they may not use the bot."""
        found = self._checker.user_of(request.headers.get("Authorization"))
        if isinstance(found, AuthProblem):
            raise _problem(web.HTTPUnauthorized, found.value, None)
        # Flood control, before any database read: a user's requests at FLOOD_BURST at once,
        # then FLOOD_PER_MINUTE (the page makes two on opening, one per page or action).
        now = time.monotonic()
        if self._allowances.take(found.id, now) is not Verdict.GRANTED:
            wait = math.ceil(self._allowances.seconds_until_next(found.id, now))
            raise _problem(
                web.HTTPTooManyRequests, "gallery_too_fast", found, {"Retry-After": str(wait)}
            )
        if not await self._service.may_share(found.id):
            raise _problem(web.HTTPForbidden, "gallery_not_allowed", found)
        return found

    async def _chats(self, user: WebAppUser) -> list[MemberChat]:
        """The chats the user made videos in and may see them in: their private chat with the
        bot, then the groups and channels Telegram says they are in now (latest video first)."""
        chats: list[MemberChat] = []
        for chat_id in await self._service.video_chats(user.id):
            if chat_id == user.id:  # first, whatever came last: the filter keeps its place
                title = strip_html(text("gallery_private_chat", user.language_code))
                chats.insert(0, MemberChat(id=chat_id, title=title, type="private"))
            elif (chat := await self._membership(chat_id, user.id)) is not None:
                chats.append(chat)
        return chats

    async def _membership(self, chat_id: int, user_id: int) -> MemberChat | None:
        now = time.monotonic()
        known = self._memberships.get((chat_id, user_id))
        if known is not None and known[0] > now:
            return known[1]
        chat = await chat_of_member(self._bot, chat_id, user_id)
        self._memberships = {key: seen for key, seen in self._memberships.items() if seen[0] > now}
        self._memberships[(chat_id, user_id)] = (now + MEMBERSHIP_SECONDS, chat)
        return chat

    async def _visible_job(self, user: WebAppUser, job_id: int) -> Job:
        """The user's own delivered video `job_id`, in a chat they may see; 404 otherwise (an
        id says nothing of whether someone else's video exists)."""
        job = await self._service.job_of_owner(user.id, job_id)
        if (
            isinstance(job, Refusal)
            or job.state is not JobState.DELIVERED
            or not job.video_file_id
            or job.story_job_id is not None
            or (job.chat_id != user.id and await self._membership(job.chat_id, user.id) is None)
        ):
            raise _problem(web.HTTPNotFound, "gallery_not_found", user)
        return job

    def _video(self, job: Job, language: str | None) -> dict[str, Any]:
        assert job.video_file_id is not None  # only such videos are listed
        thumbnail = job.video_thumbnail_file_id
        return {
            "id": job.id,
            "prompt": job.prompt,
            "created_at": int(job.created_at),
            "date": datetime.fromtimestamp(job.created_at, UTC).strftime("%Y-%m-%d %H:%M"),
            "details": strip_html(video_details(job, language)),
            "generation_id": job.remote_id,
            "chat_id": job.chat_id,
            "kind": job.kind,
            "aspect_ratio": job.params.get("aspect_ratio"),
            "duration": job.params.get("duration_seconds"),
            "thumbnail": self._link(thumbnail, "image/jpeg") if thumbnail else None,
            "video": self._link(job.video_file_id, VIDEO_TYPE),
            "can_extend": self._service.family == job.family,
        }

    def _link(self, file_id: str, mime_type: str) -> str:
        return self._signer.path(MediaRef(file_id, mime_type))


def _number(value: str, *, signed: bool = False) -> int | None:
    """A decimal number of at most 20 digits (a chat id may be negative), else None."""
    digits = value[1:] if signed and value.startswith("-") else value
    if not (0 < len(digits) <= 20 and digits.isascii() and digits.isdigit()):
        return None
    return int(value)


def _json(payload: dict[str, Any], *, status: int = 200) -> web.Response:
    return web.json_response(
        payload, status=status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"}
    )


def _problem(
    kind: type[web.HTTPException],
    key: str,
    user: WebAppUser | None,
    headers: dict[str, str] | None = None,
) -> web.HTTPException:
    """An error answer the page shows as is: `{"error": key, "message": ...}`."""
    language = user.language_code if user is not None else None
    return kind(
        text=json.dumps({"error": key, "message": strip_html(text(key, language))}),
        content_type="application/json",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})},
    )
