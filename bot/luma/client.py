"""HTTP plumbing shared by every API family: auth, timeouts, error mapping, waiting.

A family module subclasses `VideoApiClient`, implements `create` and `fetch`, and may refine
`_wait_round`; everything about HTTP status codes, exceptions and retries lives here and in
retry.py. A family says what it can do beyond a prompt and keyframes through class attributes
(`options`, `accepts_callbacks`, `can_delete`, `can_upscale`, `can_add_audio`); the bot asks
those, never the family's name. `submit` is the one way a job's request reaches the API: it
sends each kind of request (a video, an upscale, a soundtrack) to the method that makes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar, TypeVar

import aiohttp

from bot.luma import errors
from bot.luma.models import (
    ApiRequest,
    AudioRequest,
    Generation,
    UpscaleRequest,
    VideoRequest,
    parse_generation_list,
)
from bot.luma.retry import Backoff, retry_until_deadline
from bot.luma.wakeups import Wakeups

log = logging.getLogger(__name__)
T = TypeVar("T")

OnUpdate = Callable[[Generation], Awaitable[None]]
# Told of every HTTP request: (operation, outcome, seconds); for metrics.
OnRequest = Callable[[str, str, float], None]
_OPERATIONS = {"POST": "create", "GET": "read", "DELETE": "delete"}

# Creates and plain reads answer quickly; a stalled server must not hold a job forever.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10, sock_read=45)
RETRY_AFTER_CAP = 300.0
PING_TIMEOUT = aiohttp.ClientTimeout(total=5)
# With callbacks registered, polling is only the fallback for a lost callback: poll this many
# times less often.
CALLBACK_POLL_FACTOR = 6.0


class VideoApiClient(ABC):
    """Async client for one API family. One instance (and one aiohttp session) per process."""

    family: ClassVar[str]
    # The AI/ML families document a 2048-character prompt limit (Luma itself allows 5000),
    # counted as models.prompt_length counts.
    max_prompt_length: ClassVar[int] = 2048
    # Which of the user's options ("model", "res", "dur") the family can express.
    options: ClassVar[frozenset[str]] = frozenset()
    # The family POSTs state changes to a `callback_url` given at create.
    accepts_callbacks: ClassVar[bool] = False
    # The family can delete (stop) a generation that is under way.
    can_delete: ClassVar[bool] = False
    # The family makes a finished video again at a higher resolution (`upscale`), or adds a
    # soundtrack to it (`add_audio`); each answer is a new generation, waited for as any other.
    can_upscale: ClassVar[bool] = False
    can_add_audio: ClassVar[bool] = False
    # A cheap GET that any answer from the API (even a 400) proves reachable (health checks).
    ping_path: ClassVar[str]

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        session: aiohttp.ClientSession,
        long_poll_seconds: float = 30.0,
        poll_interval: float = 5.0,
        backoff: Backoff | None = None,
        model: str | None = None,
        wakeups: Wakeups | None = None,
        on_request: OnRequest | None = None,
        max_connections: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # How many waits may hold a connection at once (families that long-poll).
        waits = max_connections - connection_reserve(max_connections) if max_connections else 0
        self.long_poll_slots = asyncio.Semaphore(waits) if waits > 0 else contextlib.nullcontext()
        self._on_request = on_request
        # The operator's LUMA_MODEL; None: the family's default.
        self.model = model
        # Wake-ups (callbacks, a cancel) end the pause between polls; the look is still ours.
        self.wakeups = wakeups or Wakeups()
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._session = session
        self.long_poll_seconds = long_poll_seconds
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff(base=min(1.0, poll_interval), cap=30.0)

    # --- what a family implements -------------------------------------------------------------

    @abstractmethod
    async def create(self, request: VideoRequest) -> Generation:
        """Submit a generation. Costs money: never retried here (see retry.py)."""

    async def submit(self, request: ApiRequest) -> Generation:
        """Send a request that makes a generation, whatever its kind. Every kind costs money:
        never retried here (see retry.py)."""
        if isinstance(request, UpscaleRequest):
            return await self.upscale(request)
        if isinstance(request, AudioRequest):
            return await self.add_audio(request)
        return await self.create(request)

    async def upscale(self, request: UpscaleRequest) -> Generation:
        """The finished generation at a higher resolution (families with `can_upscale`)."""
        raise self._cannot("upscale videos")

    async def add_audio(self, request: AudioRequest) -> Generation:
        """The finished generation with sound (families with `can_add_audio`)."""
        raise self._cannot("add sound to videos")

    def check(self, request: ApiRequest) -> None:
        """Raise UnsupportedRequestError if this family cannot express `request`."""
        if isinstance(request, UpscaleRequest) and not self.can_upscale:
            raise self._cannot("upscale videos")
        if isinstance(request, AudioRequest) and not self.can_add_audio:
            raise self._cannot("add sound to videos")
        if not isinstance(request, VideoRequest):
            return
        for option in request.options_given:
            if option not in self.options:
                raise errors.UnsupportedOptionError(option, family=self.family)

    @abstractmethod
    async def fetch(self, generation_id: str) -> Generation:
        """The generation's current snapshot, immediately."""

    async def delete(self, generation_id: str) -> None:
        """Stop and remove a generation (families with `can_delete`)."""
        raise self._cannot("delete generations")

    def _cannot(self, what: str) -> errors.UnsupportedRequestError:
        return errors.UnsupportedRequestError(f"the {self.family} API cannot {what}")

    async def _wait_round(
        self, generation_id: str, round_number: int, interval: float
    ) -> Generation:
        """One waiting step. Here: a pause of `interval` (ended early by a wake-up), then a
        fetch. Families with a server-side long-poll override it."""
        await self.wakeups.wait(generation_id, interval)
        return await self.fetch(generation_id)

    async def ping(self) -> str:
        """The API as /healthz reports it: "ok", or why it cannot be used now. Never raises."""
        try:
            await self._request("GET", self.ping_path, http_timeout=PING_TIMEOUT, measured=False)
        except errors.AuthenticationError:
            return "key rejected"
        except errors.CreditsError:
            return "out of credits"
        except (errors.ServerError, errors.ApiTimeoutError, errors.ApiConnectionError) as error:
            # The detail may name internal hosts: the log has it, /healthz only the category.
            log.warning("health check: the video API is unreachable: %s", error.message)
            return "unreachable"
        except errors.LumaError:
            pass  # it answered (a 400 for a read without an id): reachable
        return "ok"

    # --- waiting ------------------------------------------------------------------------------

    async def wait_until_done(
        self,
        generation_id: str,
        *,
        deadline: float,
        on_update: OnUpdate | None = None,
        expect_callbacks: bool = False,
    ) -> Generation:
        """Wait until completed or failed; raise DeadlineExceeded once `deadline` passes.
        `on_update` hears of every change of state or of the queue information. With
        `expect_callbacks`, callbacks wake the wait (which then looks at once) and polling slows
        to a fallback."""
        interval = self.poll_interval * (CALLBACK_POLL_FACTOR if expect_callbacks else 1.0)
        last_progress = None
        round_number = 0
        try:
            while True:
                if time.time() >= deadline:
                    raise errors.DeadlineExceeded(
                        f"generation {generation_id} not done by deadline"
                    )
                generation = await cut_at(
                    deadline,
                    retry_until_deadline(
                        functools.partial(self._wait_round, generation_id, round_number, interval),
                        deadline=deadline,
                        backoff=self.backoff,
                        what=f"waiting for {generation_id}",
                    ),
                    what=f"generation {generation_id}",
                )
                round_number += 1
                if on_update is not None and generation.progress != last_progress:
                    await on_update(generation)
                last_progress = generation.progress
                if generation.state.is_terminal:
                    return generation
        finally:
            self._done_waiting(generation_id)
            self.wakeups.forget(generation_id)

    def _done_waiting(self, generation_id: str) -> None:  # noqa: B027 - families may override
        """The wait for `generation_id` is over (families that track waiters forget it)."""

    async def close(self) -> None:  # noqa: B027 - families may override
        """Stop background work (the app calls this before closing the HTTP session)."""

    # --- HTTP ---------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: list[tuple[str, str]] | None = None,
        http_timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        measured: bool = True,  # False: the health check's ping, not an API request to count
    ) -> Any:
        with self._measured(method) if measured else contextlib.nullcontext():
            return await self._send(method, path, body, params, http_timeout)

    @contextlib.contextmanager
    def _measured(self, method: str) -> Iterator[None]:
        """Reports each request's operation, outcome and duration (for /metrics)."""
        started = time.monotonic()
        outcome = "ok"
        try:
            yield
        except errors.LumaError as error:
            outcome = str(error.status) if error.status else type(error).__name__
            raise
        finally:
            if self._on_request is not None:
                operation = _OPERATIONS.get(method, method.lower())
                self._on_request(operation, outcome, time.monotonic() - started)

    async def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: list[tuple[str, str]] | None,
        http_timeout: aiohttp.ClientTimeout,
    ) -> Any:
        url = f"{self.base_url}{path}"
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                url,
                data=json.dumps(body) if body is not None else None,
                params=params,
                headers=headers,
                timeout=http_timeout,
            ) as response:
                text = await response.text()
                status = response.status
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        except aiohttp.ClientConnectorError as error:
            raise errors.ApiConnectionError(f"cannot connect to {self.base_url}: {error}") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise errors.ApiTimeoutError(f"{method} {path}: no response in time") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            raise errors.ApiTimeoutError(f"{method} {path}: connection lost mid-request") from None
        payload = _json_or_none(text)
        if 200 <= status < 300:
            if payload is None and text.strip():
                raise errors.UnreadableResponseError(f"{method} {path}: response is not JSON")
            return payload
        raise _error_for(status, payload, text, retry_after)


def parse_generation(payload: Any) -> Generation:
    """Generation.parse, with an unreadable answer reported as such (never a crash)."""
    try:
        return Generation.parse(payload)
    except (KeyError, TypeError, ValueError) as error:
        raise errors.UnreadableResponseError(f"unexpected generation payload: {error}") from None


def parse_generations(payload: Any) -> list[Generation]:
    try:
        return parse_generation_list(payload)
    except (KeyError, TypeError, ValueError) as error:
        raise errors.UnreadableResponseError(f"unexpected generation list: {error}") from None


def _error_for(status: int, payload: Any, text: str, retry_after: float | None) -> errors.LumaError:
    message = _error_message(payload) or text.strip()[:300] or f"HTTP {status}"
    kwargs: dict[str, Any] = {"status": status, "body": payload}
    if status in (400, 422):
        return errors.ValidationError(message, **kwargs)
    if status == 401:
        return errors.AuthenticationError(message, **kwargs)
    if status in (402, 403):  # AIML and Luma say 403; 402 Payment Required means the same
        return errors.CreditsError(message, **kwargs)
    if status == 404:
        return errors.NotFoundError(message, **kwargs)
    if status == 429:
        return errors.RateLimitError(message, retry_after=retry_after, **kwargs)
    if status >= 500 or status == 408:
        return errors.ServerError(message, **kwargs)
    return errors.LumaError(message, **kwargs)


def _error_message(payload: Any) -> str | None:
    if isinstance(payload, dict):
        for key in ("message", "detail", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    return None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(when - time.time(), 0.0), RETRY_AFTER_CAP)


def connection_reserve(max_connections: int) -> int:
    """Connections kept free of long-polls for creates, reads and result downloads."""
    return min(max(5, max_connections // 10), max_connections - 1)


def long_poll_timeout(hold_seconds: float) -> aiohttp.ClientTimeout:
    """The server holds a long-poll up to `hold_seconds`; read timeout must exceed it."""
    return aiohttp.ClientTimeout(total=hold_seconds + 30, connect=10, sock_read=hold_seconds + 15)


async def pause(seconds: float) -> None:
    await asyncio.sleep(max(seconds, 0.0))


async def cut_at(deadline: float, waiting: Awaitable[T], *, what: str) -> T:
    """`waiting`, abandoned when `deadline` (epoch seconds) comes: a long-poll the server holds
    for 30 s, or a pause between polls, must not carry a job past its deadline."""
    try:
        async with asyncio.timeout(max(deadline - time.time(), 0.0)) as cut:
            return await waiting
    except TimeoutError:
        if not cut.expired():
            raise
        raise errors.DeadlineExceeded(f"{what} not done by the deadline") from None
