"""Generations, their clocked state machine, and long-poll waiting (contract doc §7.6, §7.7)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from emulator.clips import ClipSpec, Edit, plan
from emulator.config import EmulatorConfig

log = logging.getLogger("emulator")


class State(StrEnum):
    """Canonical (AIML v2 / Luma) states; legacy names are a view over these."""

    QUEUED = "queued"
    DREAMING = "dreaming"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        # The AIML wait priority: failed is "beyond" every state one can wait for.
        return _RANK[self]

    @property
    def terminal(self) -> bool:
        return self in (State.COMPLETED, State.FAILED)

    @property
    def legacy(self) -> str:
        return _LEGACY_NAMES[self]

    @classmethod
    def parse(cls, name: str) -> State:
        """Accept canonical and legacy names (pending/processing)."""
        key = name.strip().lower()
        for state, legacy in _LEGACY_NAMES.items():
            if key == legacy:
                return state
        return cls(key)


_RANK = {State.QUEUED: 0, State.DREAMING: 1, State.COMPLETED: 2, State.FAILED: 3}
_LEGACY_NAMES = {
    State.QUEUED: "pending",
    State.DREAMING: "processing",
    State.COMPLETED: "completed",
    State.FAILED: "failed",
}


class Family(StrEnum):
    """API family a generation was created through; ids are not visible across families."""

    AIML_V2 = "aiml_v2"
    AIML_V1 = "aiml_v1"
    LUMA = "luma"
    # Ids are "<uuid>:<model>" (e.g. "...:luma/ray-2"), not bare uuids.
    AIML_UNIVERSAL = "aiml_universal"


FAILURE_REASONS = {
    "": "Advanced prompt moderation failed",
    "moderation": "Advanced prompt moderation failed",
    "frames": "Failed to read user input frames",
    "image": "400: failed to moderate image",
}
DEFAULT_FAILURE_REASON = "Job failed"
# What Luma answers when it cannot fetch an image keyframe (contract doc §5.1).
IMAGE_FAILURE_REASON = FAILURE_REASONS["image"]
SLOW_FACTOR = 10.0
_MARKER_RE = re.compile(r"\[(fail(?::([a-z]*))?|stuck|slow)\]", re.IGNORECASE)


@dataclass(frozen=True)
class Script:
    """Outcome scripted by markers in the prompt, e.g. ``[fail:frames]`` or ``[stuck]``."""

    stuck: bool = False
    slow: bool = False
    failure_reason: str | None = None

    @classmethod
    def from_prompt(cls, prompt: str) -> Script:
        stuck = slow = False
        reason: str | None = None
        for match in _MARKER_RE.finditer(prompt):
            word = match.group(1).lower()
            if word == "stuck":
                stuck = True
            elif word == "slow":
                slow = True
            elif reason is None:
                reason = FAILURE_REASONS.get((match.group(2) or "").lower(), DEFAULT_FAILURE_REASON)
        return cls(stuck=stuck, slow=slow, failure_reason=reason)

    @classmethod
    def failing(cls, kind: str = "moderation") -> Script:
        """Fail as ``[fail:<kind>]`` does (``moderation``, ``frames``, ``image``; another kind
        fails with the generic reason)."""
        return cls(failure_reason=FAILURE_REASONS.get(kind, DEFAULT_FAILURE_REASON))

    def merged(self, other: Script) -> Script:
        """Both outcomes at once; this one's failure reason wins when both name one (a prompt's
        own marker is the more specific)."""
        return Script(
            stuck=self.stuck or other.stuck,
            slow=self.slow or other.slow,
            failure_reason=self.failure_reason or other.failure_reason,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"stuck": self.stuck, "slow": self.slow, "failure_reason": self.failure_reason}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Generation:
    """One job. ``request`` is the client's JSON body as received (after validation)."""

    family: Family
    prompt: str
    api_key: str
    request: dict[str, Any]
    model: str | None = None
    aspect_ratio: str | None = None
    parent_id: str | None = None
    # Image keyframe URLs (v2 frame0/frame1 of type image, v1 image_url/image_end_url), in order.
    image_urls: tuple[str, ...] = ()
    # Luma family: where state changes are POSTed (see callbacks.py).
    callback_url: str | None = None
    # The resolution of a video the request does not size (a soundtrack added to another
    # generation keeps that generation's).
    inherited_resolution: str | None = None
    # An extension: the generation it continues (frame0, or the legacy /extend's task id) and
    # the one it leads into (frame1). Its video holds theirs (see clips.py).
    continues: str | None = None
    precedes: str | None = None
    # Made from ``parent_id``'s video instead of new footage (Luma's /upscale and /audio).
    edit: Edit | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=_now_iso)
    state: State = State.QUEUED
    failure_reason: str | None = None
    # True once force_state() took over: automatic transitions stop.
    forced: bool = False
    # Drawn from config's dream range on first need (None: the fixed dream_seconds).
    dream_seconds: float | None = None
    # time.monotonic() of the planned end, when config.report_wait_estimate asks for it.
    expected_done_at: float | None = None
    # (state, time.monotonic()) for every state entered, creation included.
    history: list[tuple[State, float]] = field(default_factory=list)
    # time.time() of a Luma DELETE; a deleted generation is kept (for tests) but hidden.
    deleted_at: float | None = None
    # Set by the store on add: the palette index of its new footage (None for an edit) and what
    # its clip shows (served with config.clips on).
    clip_index: int | None = None
    clip: ClipSpec | None = None
    script: Script = field(init=False)

    def __post_init__(self) -> None:
        self.script = Script.from_prompt(self.prompt)
        self.history.append((self.state, time.monotonic()))

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def resolution(self) -> str | None:
        """The resolution the request named (universal fills in its default 1080p), else the one
        it inherited, if any."""
        value = self.request.get("resolution")
        return value if isinstance(value, str) else self.inherited_resolution

    @property
    def file_stem(self) -> str:
        """Name of its files under /files/: the id up to any ":<model>" (universal ids hold "/")."""
        return self.id.partition(":")[0]

    def wait_estimate(self) -> int | None:
        """Seconds until the planned end (legacy `estimate_wait_seconds`), if one is known."""
        if self.expected_done_at is None or self.state.terminal or self.forced:
            return None
        return max(1, round(self.expected_done_at - time.monotonic()))

    def summary(self) -> dict[str, Any]:
        """JSON view for the admin routes (not part of the contract)."""
        return {
            "id": self.id,
            "family": self.family.value,
            "state": self.state.value,
            "failure_reason": self.failure_reason,
            "prompt": self.prompt,
            "model": self.model,
            "aspect_ratio": self.aspect_ratio,
            "parent_id": self.parent_id,
            "image_urls": list(self.image_urls),
            "created_at": self.created_at,
            "forced": self.forced,
            "deleted": self.deleted,
            "callback_url": self.callback_url,
            "history": [state.value for state, _ in self.history],
            "request": self.request,
            "clip": None if self.clip is None else self.clip.colours,
        }


# Checks one image keyframe URL of a generation; True when the image is usable.
ImageCheck = Callable[[Generation, str], Coroutine[Any, Any, bool]]
# Told about every state a generation enters (after creation); must not block.
StateListener = Callable[[Generation], None]


class GenerationStore:
    """Holds generations, clocks them with asyncio timers and wakes long-polls on change."""

    def __init__(
        self, config: Callable[[], EmulatorConfig], image_check: ImageCheck | None = None
    ) -> None:
        # A getter, so a replaced or retuned config applies to the next phase.
        self._config = config
        # Called for every image URL while the generation is queued (if config.fetch_images).
        self._image_check = image_check
        self.generations: dict[str, Generation] = {}
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._random = random.Random(config().error_seed)
        self._listeners: list[StateListener] = []
        # Swapped on every change; waiters re-check their condition when it fires.
        self._changed = asyncio.Event()
        self._closing = False
        # Palette index of the next generation that makes new footage (see clips.py).
        self._next_clip = 0
        # Outcomes scripted for the next generations, one each, in order (Emulator.script_next).
        self.scripted: deque[Script] = deque()

    # -- lookup --------------------------------------------------------------------------

    def get(self, generation_id: str, family: Family | None = None) -> Generation | None:
        """The generation, unless it is deleted or belongs to another family."""
        gen = self.generations.get(generation_id)
        if gen is None or gen.deleted or (family is not None and gen.family is not family):
            return None
        return gen

    def by_file_stem(self, stem: str) -> Generation | None:
        """The (not deleted) generation whose files are named ``stem``."""
        gen = self.get(stem)
        if gen is not None:
            return gen
        return next(
            (g for g in self.generations.values() if not g.deleted and g.file_stem == stem), None
        )

    def active_count(self, api_key: str) -> int:
        return sum(
            1
            for g in self.generations.values()
            if g.api_key == api_key and not g.state.terminal and not g.deleted
        )

    def on_state(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    # -- lifecycle -----------------------------------------------------------------------

    def add(self, gen: Generation) -> Generation:
        """Register a new generation, give it the next scripted outcome (if any), plan its clip
        and start its clock (needs a running loop)."""
        if self.scripted:  # before the clock starts: a scripted [stuck] never gets one
            gen.script = gen.script.merged(self.scripted.popleft())
        if gen.edit is None:
            gen.clip_index = self._next_clip
            self._next_clip += 1
        gen.clip = plan(gen, self.generations.get, self._config())
        self.generations[gen.id] = gen
        log.info("generation %s created (%s): %.80r", gen.id, gen.family.value, gen.prompt)
        if not gen.script.stuck or self._fetches_images(gen):
            self._drivers[gen.id] = asyncio.get_running_loop().create_task(self._drive(gen))
        return gen

    def _fetches_images(self, gen: Generation) -> bool:
        return (
            bool(gen.image_urls) and self._image_check is not None and self._config().fetch_images
        )

    async def _drive(self, gen: Generation) -> None:
        # Timings are read at the start of each phase so tests can retune mid-flight.
        loop = asyncio.get_running_loop()
        queued_until = loop.time() + self._config().queue_seconds
        # The images are fetched while queued; dreaming waits for the last fetch. A failed fetch
        # fails the generation at once, straight from queued (also a [stuck] one).
        if self._fetches_images(gen) and not await self._check_images(gen):
            self._drivers.pop(gen.id, None)
            return
        if gen.script.stuck:
            self._drivers.pop(gen.id, None)
            return
        factor = SLOW_FACTOR if gen.script.slow else 1.0
        if self._config().report_wait_estimate:
            remaining = max(0.0, queued_until - loop.time()) + self._dream_time(gen) * factor
            gen.expected_done_at = time.monotonic() + remaining
        await asyncio.sleep(max(0.0, queued_until - loop.time()))
        self._enter(gen, State.DREAMING)
        await asyncio.sleep(self._dream_time(gen) * factor)
        if gen.script.failure_reason is not None:
            self._enter(gen, State.FAILED, gen.script.failure_reason)
        else:
            self._enter(gen, State.COMPLETED)
        self._drivers.pop(gen.id, None)

    def _dream_time(self, gen: Generation) -> float:
        """This generation's dreaming time: fixed, or drawn once from the configured range."""
        config = self._config()
        if config.dream_seconds_max is None:
            return config.dream_seconds
        if gen.dream_seconds is None:
            gen.dream_seconds = self._random.uniform(config.dream_seconds, config.dream_seconds_max)
        return gen.dream_seconds

    async def _check_images(self, gen: Generation) -> bool:
        """Fetch all image URLs concurrently; fail ``gen`` on the first bad one.

        Returns once every fetch has finished (so all of them are recorded), False if any failed.
        Cancelling the driver cancels the fetches still running.
        """
        check = self._image_check
        assert check is not None
        all_ok = True
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(check(gen, url)) for url in gen.image_urls]
            for finished in asyncio.as_completed(tasks):
                if await finished or not all_ok:
                    continue
                all_ok = False
                self._enter(gen, State.FAILED, IMAGE_FAILURE_REASON)
        return all_ok

    def force(
        self, generation_id: str, state: State | str, failure_reason: str | None = None
    ) -> Generation:
        """Jump to ``state`` now and freeze there (automatic transitions stop)."""
        gen = self.generations.get(generation_id)
        if gen is None:
            raise KeyError(generation_id)
        target = state if isinstance(state, State) else State.parse(state)
        driver = self._drivers.pop(generation_id, None)
        if driver is not None:
            driver.cancel()
        gen.forced = True
        if target is State.FAILED:
            failure_reason = failure_reason or gen.script.failure_reason or DEFAULT_FAILURE_REASON
        self._enter(gen, target, failure_reason if target is State.FAILED else None)
        return gen

    def delete(self, generation_id: str) -> Generation:
        """Stop the clock and hide the generation (Luma DELETE); it stays in ``generations``."""
        gen = self.generations.get(generation_id)
        if gen is None:
            raise KeyError(generation_id)
        driver = self._drivers.pop(generation_id, None)
        if driver is not None:
            driver.cancel()
        gen.deleted_at = time.time()
        log.info("generation %s deleted (%s)", gen.id, gen.state.value)
        self._notify()
        return gen

    def _enter(self, gen: Generation, state: State, failure_reason: str | None = None) -> None:
        gen.state = state
        gen.failure_reason = failure_reason
        gen.history.append((state, time.monotonic()))
        log.info(
            "generation %s -> %s%s",
            gen.id,
            state.value,
            f" ({failure_reason})" if failure_reason else "",
        )
        self._notify()
        for listener in self._listeners:
            try:
                listener(gen)
            except Exception:
                # A listener bug must not stall the state machine.
                log.exception("state listener failed for %s", gen.id)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- long-poll -------------------------------------------------------------------------

    async def wait_for(self, gens: Iterable[Generation], wanted: State, hold: float) -> None:
        """Return once every generation is at or beyond ``wanted``, or after ``hold`` seconds."""
        targets = list(gens)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold
        while not self._closing and not all(g.state.rank >= wanted.rank for g in targets):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                # asyncio.timeout rather than wait_for: 3.11's wait_for can swallow a cancel.
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                return

    async def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server shuts down (used by delay faults)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and (remaining := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def clear(self) -> None:
        for driver in self._drivers.values():
            driver.cancel()
        self._drivers.clear()
        self.generations.clear()
        self._next_clip = 0
        self._notify()

    async def close(self) -> None:
        """Stop clocks and release every pending long-poll (server shutdown)."""
        self._closing = True
        self._notify()
        drivers = list(self._drivers.values())
        self._drivers.clear()
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
