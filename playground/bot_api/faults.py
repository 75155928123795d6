"""Faults scripted per method, used up in the order they were scripted: error answers
(``fail_next``), slow answers (``delay_next``), work done but no answer (``lose_response_next``)
and answers that are not HTTP (``garble_next``). ``HttpServer`` applies them.
"""

from __future__ import annotations

from collections import deque
from http import HTTPStatus
from typing import Any

from playground.bot_api.protocol import _CANONICAL, ApiError
from playground.bot_api.records import _Fault
from playground.bot_api.state import FakeState


class FaultScript(FakeState):
    """Scripting faults (the test's side) and taking the next one for a call (the server's)."""

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
