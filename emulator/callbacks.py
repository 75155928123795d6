"""Luma callbacks (contract doc §4.6, §7.9): POST the Generation object to ``callback_url``.

A generation with a callback URL is posted on entering dreaming, completed and failed, each
state ``config.callback_repeats`` times (Luma says a state may arrive more than once). A post
that gets no 2xx answer (error status, connection error, timeout) is retried up to
``callback_max_retries`` times, ``callback_retry_delay`` apart, each try bounded by
``callback_timeout``. Posts of one generation go out in order, each after the previous one is
done, so a client sees dreaming before completed. Every try is recorded as a
:class:`CallbackAttempt`; posts can be *dropped* (recorded, never sent) to test clients that
must cope with lost callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from emulator.config import EmulatorConfig
from emulator.images import outbound_session
from emulator.state import Generation, State

log = logging.getLogger("emulator")

USER_AGENT = "luma-video-emulator/1.0 (callback)"
CALLBACK_STATES = frozenset({State.DREAMING, State.COMPLETED, State.FAILED})
DROPPED = "dropped"

# Renders the Generation object as GET would show it right now.
Render = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class CallbackAttempt:
    """One try at posting one state of one generation.

    ``attempt`` is 1 for the first try and 2.. for retries; ``repeat`` counts the posts of the
    same state (1..callback_repeats). ``status`` is None when no response arrived; ``error``
    says why the try failed (None when ``ok``); ``dropped`` tries were never sent.
    """

    generation_id: str
    url: str
    state: str
    attempt: int
    repeat: int
    status: int | None
    error: str | None
    dropped: bool = False
    sent_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation_id": self.generation_id,
            "url": self.url,
            "state": self.state,
            "attempt": self.attempt,
            "repeat": self.repeat,
            "status": self.status,
            "error": self.error,
            "dropped": self.dropped,
            "ok": self.ok,
            "sent_at": self.sent_at,
        }


@dataclass(frozen=True)
class _Post:
    """One scheduled post of one state of one generation (``repeat`` of callback_repeats)."""

    generation_id: str
    url: str
    state: str
    repeat: int
    payload: dict[str, Any]
    dropped: bool


class CallbackSender:
    """Watches generations with a callback URL and posts their states in the background.

    Owns one aiohttp ClientSession (created on first use). Posting never blocks the state
    machine: :meth:`on_state` only schedules tasks. :meth:`cancel` (Luma DELETE) and
    :meth:`close` (shutdown) stop pending posts.
    """

    def __init__(self, config: Callable[[], EmulatorConfig], attempts: list[CallbackAttempt]):
        self._config = config
        self.attempts = attempts
        self._targets: dict[str, tuple[str, Render]] = {}
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        # The last scheduled post per generation: the next one waits for it (keeps order).
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._drop_next = 0
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    # -- control -------------------------------------------------------------------------------

    def watch(self, generation_id: str, url: str, render: Render) -> None:
        """Post ``render()`` to ``url`` on every callback state ``generation_id`` enters."""
        self._targets[generation_id] = (url, render)

    def drop_next(self, count: int = 1) -> None:
        """Lose the next ``count`` posts (of any generation): recorded as dropped, never sent."""
        if count < 1:
            raise ValueError("count must be >= 1")
        self._drop_next += count

    def cancel(self, generation_id: str) -> None:
        """No more posts for this generation, including retries under way."""
        self._targets.pop(generation_id, None)
        self._tails.pop(generation_id, None)
        for task in self._tasks.pop(generation_id, set()):
            task.cancel()

    def reset(self, *, targets: bool = False) -> None:
        """Forget pending drops (and, with ``targets``, every watch and post under way)."""
        self._drop_next = 0
        if targets:
            for generation_id in list(self._tasks) + list(self._targets):
                self.cancel(generation_id)

    # -- scheduling ------------------------------------------------------------------------------

    def on_state(self, gen: Generation) -> None:
        """State listener (see GenerationStore.on_state)."""
        target = self._targets.get(gen.id)
        if target is None or self._closed or gen.deleted or gen.state not in CALLBACK_STATES:
            return
        url, render = target
        payload = render()  # a snapshot: later posts of this state show the same object
        for repeat in range(1, self._config().callback_repeats + 1):
            post = _Post(gen.id, url, gen.state.value, repeat, payload, self._take_drop())
            self._schedule(post)

    def _take_drop(self) -> bool:
        if self._config().drop_callbacks:
            return True
        if self._drop_next > 0:
            self._drop_next -= 1
            return True
        return False

    def _schedule(self, post: _Post) -> None:
        generation_id = post.generation_id
        previous = self._tails.get(generation_id)

        async def run() -> None:
            if previous is not None:
                # asyncio.wait: never raises for the previous post's outcome or cancellation.
                await asyncio.wait({previous})
            await self._deliver(post)

        task = asyncio.get_running_loop().create_task(run())
        self._tails[generation_id] = task
        self._tasks.setdefault(generation_id, set()).add(task)
        task.add_done_callback(lambda done: self._forget(generation_id, done))

    def _forget(self, generation_id: str, task: asyncio.Task[None]) -> None:
        tasks = self._tasks.get(generation_id)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._tasks[generation_id]
        if self._tails.get(generation_id) is task:
            del self._tails[generation_id]

    # -- delivery --------------------------------------------------------------------------------

    async def _deliver(self, post: _Post) -> None:
        generation_id, url, state, repeat = post.generation_id, post.url, post.state, post.repeat
        if post.dropped:
            log.info("callback for %s (%s) dropped", generation_id, state)
            self.attempts.append(
                CallbackAttempt(generation_id, url, state, 1, repeat, None, DROPPED, dropped=True)
            )
            return
        config = self._config()
        tries = 1 + config.callback_max_retries
        for attempt in range(1, tries + 1):
            if attempt > 1:
                await asyncio.sleep(config.callback_retry_delay)
            sent_at = time.time()
            status, error = await self._send(url, post.payload, config.callback_timeout)
            self.attempts.append(
                CallbackAttempt(
                    generation_id, url, state, attempt, repeat, status, error, sent_at=sent_at
                )
            )
            log.info(
                "callback for %s (%s) try %d -> %s",
                generation_id,
                state,
                attempt,
                status if error is None else error,
            )
            if error is None:
                return
        log.info("callback for %s (%s) given up after %d tries", generation_id, state, tries)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = outbound_session(USER_AGENT)
        return self._session

    async def _send(
        self,
        url: str,
        payload: dict[str, Any],
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[int | None, str | None]:
        """POST once: (status, None) on 2xx, else (status or None, why it failed)."""
        try:
            # asyncio.timeout rather than wait_for: 3.11's wait_for can swallow a cancel.
            async with asyncio.timeout(timeout):
                async with self._client().post(url, json=payload) as resp:
                    await resp.read()
                    status = resp.status
        except TimeoutError:
            return None, f"timed out after {timeout:g}s"
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return status, None if 200 <= status <= 299 else f"HTTP {status}"

    async def close(self) -> None:
        """Cancel every post under way and close the session (server shutdown)."""
        self._closed = True
        tasks = [task for group in self._tasks.values() for task in group]
        self._tasks.clear()
        self._tails.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
