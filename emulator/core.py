"""The Emulator object: configuration, recorded requests, generations, faults, callbacks.

Family modules (aiml_v2, aiml_v1, aiml_universal, luma_direct) import from here; server.py
wires them.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from emulator.callbacks import CallbackAttempt, CallbackSender, Render
from emulator.clips import ClipMaker
from emulator.config import EmulatorConfig
from emulator.errors import ApiError
from emulator.faults import Fault, FaultKind, FaultQueue, FaultRoute
from emulator.images import ImageFetch, ImageFetcher
from emulator.recording import RecordedRequest
from emulator.state import Generation, GenerationStore, Script, State

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RouteKind = Literal["create", "fetch", "chat"]


@dataclass(frozen=True)
class RouteDef:
    """A contract route of one family. ``kind`` drives auth and fault matching."""

    method: str
    path: str
    handler: Handler
    kind: RouteKind
    family: str
    operation: str

    @property
    def name(self) -> str:
        # aiohttp route names: identifiers joined by dots.
        return f"{self.kind}.{self.family}.{self.operation}"


class Emulator:
    """Live state of one emulator instance; reachable from handlers via ``EMULATOR_KEY``."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.requests: list[RecordedRequest] = []
        self.faults = FaultQueue()
        # Draws for config.error_rates (seeded by config.error_seed).
        self.random = random.Random(self.config.error_seed)
        # Every image keyframe fetch, in completion order (see images.py).
        self.image_fetches: list[ImageFetch] = []
        self.image_fetcher = ImageFetcher()
        self.store = GenerationStore(lambda: self.config, self._check_image)
        # Every Luma callback try (and dropped post), in the order made (see callbacks.py).
        self.callbacks: list[CallbackAttempt] = []
        self.callback_sender = CallbackSender(lambda: self.config, self.callbacks)
        self.store.on_state(self.callback_sender.on_state)
        # Set by run_emulator once listening: the value for LUMA_API_URL.
        self.url: str | None = None
        # The /files/ route's own accounting (see files.py): body bytes actually written, over
        # every request (whole, ranged, cut off), and requests answered 200/206 with a file.
        self.bytes_served = 0
        self.downloads = 0
        # With config.clips: every generation's own video, made on first download (clips.py).
        self.clips = ClipMaker()

    @property
    def generations(self) -> dict[str, Generation]:
        return self.store.generations

    def inject_fault(
        self,
        route: FaultRoute = "any",
        status: int | None = None,
        *,
        kind: FaultKind | None = None,
        count: int = 1,
        retry_after: float | None = None,
        seconds: float = 0.0,
        message: str | None = None,
        location: str | None = None,
        body: str | bytes | None = None,
        content_type: str = "text/plain",
        after_bytes: int | None = None,
    ) -> Fault:
        """Make the next ``count`` requests on ``route`` fail, drop, stall, redirect to
        ``location``, answer ``body`` or (downloads) break after ``after_bytes`` (§7.10; see
        Fault)."""
        fault = Fault(
            route=route,
            status=status,
            kind=kind,
            count=count,
            retry_after=retry_after,
            seconds=seconds,
            message=message,
            location=location,
            body=body,
            content_type=content_type,
            after_bytes=after_bytes,
        )
        return self.faults.add(fault)

    def force_state(
        self, generation_id: str, state: State | str, failure_reason: str | None = None
    ) -> Generation:
        """Put a generation in ``state`` now (legacy names accepted) and stop its clock.

        Raises KeyError for an unknown id and ValueError for an unknown state.
        """
        return self.store.force(generation_id, state, failure_reason)

    def delete_generation(self, generation_id: str) -> Generation:
        """Luma DELETE: stop the clock and any callbacks; later lookups miss it.

        The Generation stays in ``generations`` with ``deleted_at`` set, so tests can assert on
        it. Raises KeyError for an unknown id.
        """
        gen = self.store.delete(generation_id)
        self.callback_sender.cancel(generation_id)
        return gen

    def watch_callbacks(self, gen: Generation, url: str, render: Render) -> None:
        """POST ``render()`` to ``url`` when ``gen`` enters dreaming, completed or failed."""
        self.callback_sender.watch(gen.id, url, render)

    def drop_next_callbacks(self, count: int = 1) -> None:
        """Lose the next ``count`` callback posts: recorded as dropped, never sent."""
        self.callback_sender.drop_next(count)

    def script_next(self, script: Script, count: int = 1) -> None:
        """Make the next ``count`` generations created (any family; Luma's upscale and audio
        too) end as ``script`` says, merged with the markers of their own prompt: e.g.
        ``script_next(Script.failing("moderation"))`` or ``script_next(Script(stuck=True))``.
        Used up one per generation, in order, when the generation is created; a create request
        refused (a fault, a 400) uses none."""
        if count < 1:
            raise ValueError("count must be >= 1")
        self.store.scripted.extend([script] * count)

    @property
    def scripted(self) -> tuple[Script, ...]:
        """The outcomes still waiting for a generation, the next one first."""
        return tuple(self.store.scripted)

    def reset(self, *, generations: bool = False) -> None:
        """Forget recorded requests, image fetches, callbacks, pending faults, scripted outcomes
        and drops, and zero the download counters (optionally drop generations, which also
        stops their callbacks)."""
        self.requests.clear()
        self.store.scripted.clear()
        self.bytes_served = self.downloads = 0
        self.image_fetches.clear()
        self.callbacks.clear()
        self.faults.clear()
        self.callback_sender.reset(targets=generations)
        if generations:
            self.store.clear()

    def check_capacity(self, api_key: str) -> None:
        """429 when the key already has ``max_concurrent`` unfinished generations."""
        limit = self.config.max_concurrent
        if limit is not None and self.store.active_count(api_key) >= limit:
            raise ApiError(429, headers={"Retry-After": "1"})

    async def _check_image(self, gen: Generation, url: str) -> bool:
        fetch = await self.image_fetcher.fetch(gen.id, url, self.config.image_fetch_timeout)
        self.image_fetches.append(fetch)
        return fetch.ok

    async def close(self) -> None:
        # Drivers first (they cancel their fetches and stop new callbacks), then the sessions.
        await self.store.close()
        await self.callback_sender.close()
        await self.image_fetcher.close()
        await self.clips.close()


EMULATOR_KEY = web.AppKey("emulator", Emulator)
API_KEY = web.RequestKey("emulator_api_key", str)


def emulator_of(request: web.Request) -> Emulator:
    return request.app[EMULATOR_KEY]


def api_key_of(request: web.Request) -> str:
    """The authenticated key (set by the auth middleware)."""
    return request[API_KEY]
