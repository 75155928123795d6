"""What the chat page sees, and its live updates: the chats as the fake Bot API holds them, read
every ``SCAN_SECONDS`` and compared with what the page was last told, so every change reaches it
as a server-sent event, whoever made it (the bot's sends, edits and deletions, the user's own
messages, payments).

Events (``event: <name>``, ``data: <JSON>``):

- ``state``: everything (first on every connection, so a reconnect shows all that it missed)
- ``message`` / ``edit``: ``{"chat_id", "entry"}``, a message new or changed (an ``entry`` is
  ``{"message_id", "bot", "message"}``, the message as the Bot API shows it, ``paid`` added to
  an invoice); ``delete``: ``{"chat_id", "message_id"}``
- ``force_reply``: ``{"chat_id", "force_reply"}``, the bot's ForceReply prompt the composer
  answers (or null)
- ``answer``: ``{"query_id", "text", "show_alert"}``, the bot's answer to a button press
- ``chats``: the chat list changed (a chat got its first message); ``commands``: the bot's
  command list; ``emulator``: the emulator panel (``chat_panel.panel_view``)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator import Emulator
from playground.chat_panel import panel_view
from playground.fake_telegram import FakeTelegram

log = logging.getLogger("playground")

SCAN_SECONDS = 0.1
# A comment line keeps an idle stream open through proxies and tells a gone client apart.
HEARTBEAT_SECONDS = 15.0
# Events queued for one page at most; a page that far behind gets a fresh start instead.
QUEUE_LIMIT = 2000
DEFAULT_SCOPE = json.dumps({"type": "default"}, sort_keys=True)
_USER_LINK = re.compile(r"tg://user\?id=(\d+)")


@dataclass(frozen=True)
class ChatSpec:
    """A chat of the page: its kind (``private``, ``group``, ``channel``), who can write in it
    (identity keys, the default first) and whether it is listed before it has any message."""

    id: int
    kind: str
    title: str
    senders: tuple[str, ...]
    listed_when_empty: bool = True

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "senders": self.senders}


class Feed:
    """Reads the fake's chats, keeps what the pages were told, and streams the differences."""

    def __init__(
        self,
        tg: FakeTelegram,
        emulator: Emulator,
        chats: Sequence[ChatSpec],
        static: Callable[[], dict[str, Any]],
    ) -> None:
        self._tg, self._emulator, self._chats, self._static = tg, emulator, tuple(chats), static
        self._known: dict[int, dict[int, dict[str, Any]]] = {c.id: {} for c in self._chats}
        self._force: dict[int, dict[str, Any] | None] = dict.fromkeys(self._known)
        self._prompts: dict[tuple[int, int], dict[str, Any]] = {}  # ForceReply markups sent
        self._sent: set[tuple[int, int]] = set()  # (chat, message) of the bot's sends
        self._calls_read = 0
        self._changes_read = -1
        self._listed = [c.id for c in self._chats if c.listed_when_empty]
        self._commands: list[dict[str, str]] = []
        self._panel: dict[str, Any] = {}
        self._queues: set[asyncio.Queue[tuple[str, Any] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- the state ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the page shows, as last read (``scan`` first for the latest)."""
        return {
            **self._static(),
            "chats": [self._chat_view(spec) for spec in self._chats if spec.id in self._listed],
            "commands": self._commands,
            "emulator": self._panel,
        }

    def scan(self) -> None:
        """Read the fake and the emulator; tell every page what changed since the last scan."""
        if self._tg.changes != self._changes_read:
            self._changes_read = self._tg.changes
            self._scan_chats()
        panel = panel_view(self._emulator)
        if panel != self._panel:
            self._panel = panel
            self._publish("emulator", panel)

    def _scan_chats(self) -> None:
        self._read_calls()
        current = {spec.id: self._entries(spec.id) for spec in self._chats}
        # A chat's first message lists it: the list goes first, so the page knows the chat.
        listed = [s.id for s in self._chats if s.listed_when_empty or current[s.id]]
        if listed != self._listed:
            self._listed = listed
            self._publish("chats", [s.view() for s in self._chats if s.id in listed])
        for spec in self._chats:
            self._compare(spec, current[spec.id])
        commands = self._current_commands()
        if commands != self._commands:
            self._commands = commands
            self._publish("commands", commands)

    def _chat_view(self, spec: ChatSpec) -> dict[str, Any]:
        entries = self._known[spec.id]
        return {
            **spec.view(),
            "messages": [entries[i] for i in sorted(entries)],
            "force_reply": self._force[spec.id],
        }

    def _compare(self, spec: ChatSpec, current: dict[int, dict[str, Any]]) -> None:
        known = self._known[spec.id]
        for message_id, entry in current.items():
            if message_id not in known:
                self._publish("message", {"chat_id": spec.id, "entry": entry})
            elif known[message_id] != entry:
                self._publish("edit", {"chat_id": spec.id, "entry": entry})
        for message_id in known.keys() - current.keys():
            self._publish("delete", {"chat_id": spec.id, "message_id": message_id})
        self._known[spec.id] = current
        force = self._force_reply(current)
        if force != self._force[spec.id]:
            self._force[spec.id] = force
            self._publish("force_reply", {"chat_id": spec.id, "force_reply": force})

    def _entries(self, chat_id: int) -> dict[int, dict[str, Any]]:
        tg = self._tg
        paid = {(i.chat_id, i.message_id) for i in tg.invoices if i.paid_by}
        entries = {}
        for message in tg.messages(chat_id):
            message_id = message["message_id"]
            sender = message.get("from") or {}
            # The bot's: sent by its calls (in a channel its posts are the channel's, as anyone's
            # are), or from it (a refund notice Telegram sends in its name).
            by_bot = (chat_id, message_id) in self._sent or sender.get("id") == tg.bot_id
            entry = {"message_id": message_id, "bot": by_bot, "message": message}
            if "invoice" in message:
                entry["paid"] = (chat_id, message_id) in paid
            entries[message_id] = entry
        return entries

    def _force_reply(self, entries: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
        """The bot's last message, when it asked for a reply with ForceReply and nobody has
        written since, as the composer shows it: which message, the placeholder, and (a
        selective one) whom it asks."""
        from_bot = [i for i, e in entries.items() if e["bot"]]
        if not from_bot:
            return None
        last = max(from_bot)
        message = entries[last]["message"]
        markup = self._prompts.get((message["chat"]["id"], last))
        if markup is None or any(i > last and not e["bot"] for i, e in entries.items()):
            return None
        return {
            "message_id": last,
            "placeholder": markup.get("input_field_placeholder") or "",
            "user_ids": _addressed(message) if markup.get("selective") else [],
        }

    def _read_calls(self) -> None:
        """The bot's answers to button presses, the messages it sent and its ForceReply prompts,
        from the calls it made since the last read."""
        calls = self._tg.calls
        for call in calls[self._calls_read :]:
            if not call.ok:
                continue
            if call.method == "answerCallbackQuery":
                self._publish("answer", _answer(call.params))
                continue
            result = call.result
            if not call.method.startswith("send") or not isinstance(result, dict):
                continue
            where = (result["chat"]["id"], result["message_id"])
            self._sent.add(where)
            markup = call.params.get("reply_markup")
            if isinstance(markup, dict) and markup.get("force_reply"):
                self._prompts[where] = markup
        self._calls_read = len(calls)

    def _current_commands(self) -> list[dict[str, str]]:
        commands = self._tg.commands
        found = commands.get((DEFAULT_SCOPE, "en")) or commands.get((DEFAULT_SCOPE, ""))
        return list(found or [])

    # --- the stream ---------------------------------------------------------------------------

    async def stream(
        self, request: web.Request, headers: dict[str, str] | None = None
    ) -> web.StreamResponse:
        """``GET /api/events``: the state, then every change, until the page leaves or the
        playground stops. ``headers``: more headers for the answer."""
        response = web.StreamResponse(
            headers={
                **(headers or {}),
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        if self._closed:
            return response
        # Read, take the state and subscribe with no await between: no change falls in a gap.
        self.scan()
        first = self.state()
        queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        try:
            await response.write(b"retry: 1000\n\n")
            await _send(response, "state", first)
            while (event := await _next(queue)) is not None:
                if event == ("", None):
                    await response.write(b": ping\n\n")
                else:
                    await _send(response, *event)
        except ConnectionResetError:
            pass  # the page left
        finally:
            self._queues.discard(queue)
        return response

    def _publish(self, name: str, data: Any) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait((name, data))
            except asyncio.QueueFull:  # that page reconnects and starts afresh
                self._end(queue)

    def _end(self, queue: asyncio.Queue[tuple[str, Any] | None]) -> None:
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            if self._queues:  # nobody watching: the next page starts from a fresh scan
                try:
                    self.scan()
                except Exception:  # a bug here must not end the live updates
                    log.exception("the chat feed could not read the chats")
            await asyncio.sleep(SCAN_SECONDS)

    async def close(self) -> None:
        """End every stream and stop reading."""
        self._closed = True
        for queue in list(self._queues):
            self._end(queue)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _next(queue: asyncio.Queue[tuple[str, Any] | None]) -> tuple[str, Any] | None:
    """The next event; ``("", None)`` when none came for a heartbeat's time."""
    try:
        async with asyncio.timeout(HEARTBEAT_SECONDS):
            return await queue.get()
    except TimeoutError:
        return ("", None)


async def _send(response: web.StreamResponse, name: str, data: Any) -> None:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    await response.write(f"event: {name}\ndata: {payload}\n\n".encode())


def _answer(params: dict[str, Any]) -> dict[str, Any]:
    show_alert = params.get("show_alert") in (True, "true", "True", "1", 1)
    return {
        "query_id": str(params.get("callback_query_id")),
        "text": str(params.get("text") or ""),
        "show_alert": show_alert,
    }


def _addressed(message: dict[str, Any]) -> list[int]:
    """Whom a selective ForceReply asks: the users mentioned in it, and the sender of the
    message it replies to (Bot API: ``selective``)."""
    users = []
    for entity in message.get("entities") or []:
        if entity.get("type") == "text_mention" and "user" in entity:
            users.append(int(entity["user"]["id"]))
        elif entity.get("type") == "text_link" and (m := _USER_LINK.fullmatch(entity["url"])):
            users.append(int(m.group(1)))
    replied = (message.get("reply_to_message") or {}).get("from") or {}
    if replied and not replied.get("is_bot"):
        users.append(int(replied["id"]))
    return sorted(set(users))
