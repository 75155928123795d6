"""Flood limits, opt-in (``flood_limits=True``): off by default, nothing is refused for rate.

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
``sendInvoice``, ``copyMessage``, ``forwardMessage``, ``editMessageText`` / ``Caption`` /
``Media`` / ``ReplyMarkup``), because edits are what progress bars hit limits with. Not counted:
``deleteMessage`` (removes, sends nothing; Telegram's message limits are about messages put
into a chat), ``sendChatAction``, ``answerCallbackQuery``, ``getUpdates``, ``getFile``, the
webhook and command methods, ``getMe``, ... (``setWebhook`` has its own 1 s limit: webhook.py).
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
"""

from __future__ import annotations

import contextlib
import re
from math import ceil

from playground.bot_api.protocol import FLOOD_COUNTED, ApiError, _as_bool
from playground.bot_api.records import FloodRefusal
from playground.bot_api.state import FakeState


class FloodLimits(FakeState):
    """The token buckets of the flood limits; ``HttpServer`` takes a token for each counted call."""

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
        key: int | str
        if re.fullmatch(r"-?\d+", raw):
            key = int(raw)
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
