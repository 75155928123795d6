"""What every part of the fake shares: the options, the chats, messages, users, members and files
it keeps, the queue of updates, and waiting for any of it to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import random
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from playground.bot_api.protocol import (
    _DEFAULT_ALLOWED,
    _NOT_BY_DEFAULT,
    DEFAULT_TOKEN,
    MB,
    METHODS,
    UPDATE_TYPES,
    _bad,
)
from playground.bot_api.records import (
    Call,
    FloodRefusal,
    InlineAnswer,
    SentInvoice,
    StarTransaction,
    StoredFile,
    UrlFetch,
    WebhookDelivery,
    _Fault,
    _InlineQuery,
    _PreCheckout,
    _WebhookConfig,
)


def _quoted(target: dict) -> dict:
    """A message as ``reply_to_message`` shows it: complete (``from``, media, ``reply_markup``,
    ...) but without its own ``reply_to_message``; a snapshot, so later edits don't leak in."""
    return copy.deepcopy({k: v for k, v in target.items() if k != "reply_to_message"})


class FakeState:
    """The fake's state and the helpers every part uses. Not used alone: ``FakeTelegram`` adds the
    Bot API methods and the test's side."""

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
        fetch_urls: bool = True,
        url_fetch_timeout: float = 10.0,
        url_download_limit: int = 20 * MB,
        keep_uploads: bool = True,
    ) -> None:
        """Media options (plain attributes too, read at each use): ``upload_limit`` (50 MB:
        larger uploads get 413) and ``download_limit`` (20 MB: ``getFile`` refuses larger files).
        ``fetch_urls``: media given as an http(s) URL is fetched like Telegram does (see
        ``bot_api/media.py``; only this machine's loopback addresses are reached); False: the URL
        is only recorded. ``url_fetch_timeout``: seconds one fetch may take, redirects and body
        included. ``url_download_limit``: the most a URL may deliver (Telegram: 20 MB for files
        sent by URL). ``keep_uploads``: False drops uploaded and fetched bytes once a call is
        done (``Call.files`` values become ``b""``, ``StoredFile.data`` None, ``getFile`` of such
        a file is a 400), for benchmarks that push thousands of videos through one fake; sizes
        are still recorded (``Call.sizes``, ``StoredFile.size``, ``bytes_received``,
        ``bytes_fetched``).

        Webhook options (all but ``seed`` are also plain attributes, read at each use):
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
        self.fetch_urls = fetch_urls
        self.url_fetch_timeout = url_fetch_timeout
        self.url_download_limit = url_download_limit
        self.keep_uploads = keep_uploads
        # What getMe says of inline mode (BotFather's /setinline); a plain attribute.
        self.supports_inline_queries = False
        self.url_fetches: list[UrlFetch] = []  # every media URL fetched, in order
        self.bytes_received = 0  # multipart file bytes over all calls
        self.bytes_fetched = 0  # body bytes read from media URLs, failed fetches included
        self._url_session: aiohttp.ClientSession | None = None
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
        # Albums users sent: (chat id, media_group_id) -> (what it may hold, how many items).
        self._albums: dict[tuple[int, str], tuple[str, int]] = {}
        # Video thumbnails not made yet (file_id -> the video), and one making them at a time.
        self._thumbnail_sources: dict[str, StoredFile] = {}
        self._thumbnail_lock = asyncio.Lock()
        # setChatMenuButton: per private chat, and None for the bot's default.
        self._menu_buttons: dict[int | None, dict] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._allowed_updates: set[str] | None = None
        self._open_queries: set[str] = set()
        self._inline_queries: dict[str, _InlineQuery] = {}  # open inline queries by id
        self.inline_answers: list[InlineAnswer] = []  # answerInlineQuery accepted, in order
        self.invoices: list[SentInvoice] = []  # sendInvoice, in order
        self.star_transactions: list[StarTransaction] = []  # payments and refunds, in order
        self._invoice_at: dict[tuple[int, int], SentInvoice] = {}  # (chat, message) -> invoice
        self._pre_checkouts: dict[str, _PreCheckout] = {}  # open pre-checkout queries by id
        self._faults: dict[str, deque[_Fault]] = {}
        self._poll_generation = 0
        self._closing = False
        self._changed = asyncio.Event()
        # Counts the changes waiters are woken for (a call answered, an update queued, a message
        # deleted, ...): an observer that polls reads the state again only when it moved.
        self.changes = 0
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[..., Any]] = {
            name: getattr(self, "_m_" + name) for name in METHODS
        }

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

    def _notify(self) -> None:
        self.changes += 1
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

    def summary(self) -> str:
        """One line per recorded call, for assertion messages."""
        lines = []
        for c in self.calls:
            res = "ok" if c.ok else f"ERROR {(c.response or {}).get('description')}"
            if c.response is None:
                res = "LOST (processed, no answer)" if c.lost else "client gave up (not processed)"
            lines.append(f"  {c.method}({c.params}) -> {res}"[:300])
        return "\n".join(lines + self.internal_errors) or "  (no calls)"

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

    def _user_acts(self, user_id: int, first_name: str, username: str, language_code: str) -> dict:
        """The `from` of something a user does, remembered as that user from now on."""
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": username,
            "language_code": language_code,
        }
        self._users[user_id] = user
        return user

    def _push_message(self, update_type: str, msg: dict) -> dict:
        self._messages[msg["chat"]["id"]][msg["message_id"]] = msg
        self._push_update({update_type: msg})
        return copy.deepcopy(msg)

    def _push_update(self, update: dict) -> dict:
        update = {"update_id": next(self._update_ids), **copy.deepcopy(update)}
        self._updates.append(update)
        self._notify()
        return update

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

    def _register(
        self,
        data: bytes | None,
        kind: str,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        file_path: str | None = None,
        size: int | None = None,
        keep: bool = True,
    ) -> StoredFile:
        """A new file of ``size`` bytes (default: ``len(data)``); ``keep=False`` records the size
        but not the bytes (uploads and fetches with ``keep_uploads=False``)."""
        n = next(self._seq)
        if size is None and data is not None:
            size = len(data)
        stored = StoredFile(
            f"fake-{kind}-{n}-AgADBAAD",
            f"AQAD{n}",
            kind,
            data if keep else None,
            file_path,
            mime_type,
            file_name,
            size=size,
            head=data[:16] if data else b"",
        )
        self._files[stored.file_id] = stored
        if file_path:
            self._paths[file_path] = stored
        return stored

    def _photo_sizes(
        self, data: bytes | None, width: int, height: int, *, size: int | None = None
    ) -> list[dict]:
        """PhotoSizes of a photo: the largest holds ``data``, smaller ones byte prefixes. With
        ``data`` None (bytes not kept) only the sizes, from ``size``."""
        sizes, longest = [], max(width, height)
        total = len(data) if data is not None else size or 0
        for side in (90, 320, longest):
            if side > longest:
                continue
            w, h = round(width * side / longest), round(height * side / longest)
            part = total if side == longest else max(1, total * side // longest)
            blob = None if data is None else data[:part]
            stored = self._register(blob, "photo", mime_type="image/jpeg", size=part)
            stored.meta = {"width": w, "height": h}
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": part,
                }
            )
        return sizes

    def _file_json(self, f: StoredFile, *extra: str) -> dict:
        out: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id}
        for key in extra:
            if f.meta.get(key) is not None:
                out[key] = f.meta[key]
        for key in ("file_name", "mime_type"):
            if getattr(f, key):
                out[key] = getattr(f, key)
        if f.size is not None:
            out["file_size"] = f.size
        return out

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

    def _bot_user(self) -> dict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }
