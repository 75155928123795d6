"""AI/ML API v1 (legacy): `/luma-ai/*`, also served by resellers (Apilaplas; UmamiAI under `/v1`).

Differences from v2: the prompt is `user_prompt`, images are `image_url`/`image_end_url`,
extending is its own route, states are pending/processing/completed/failed, and there is no
long-poll. Waiting therefore polls, but not per job: every job waiting registers its id with one
batch poller, which asks `GET /luma-ai/generation?ids=a&ids=b...` for up to BATCH_SIZE ids per
request every poll interval and hands each answer to its waiter (bot/luma/answers.py). Many jobs
in flight thus cost a few requests per interval, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bot.luma.answers import BatchAnswers
from bot.luma.client import VideoApiClient, parse_generation, parse_generations, pause
from bot.luma.errors import LumaError, NotFoundError, UnsupportedRequestError
from bot.luma.models import (
    ApiRequest,
    Generation,
    GenerationKeyframe,
    ImageKeyframe,
    VideoRequest,
)

log = logging.getLogger(__name__)

PREFIX = "/luma-ai"
# Ids per batch request: the API documents a list but no cap; this keeps URLs short.
BATCH_SIZE = 50
# A waiter that hears nothing from the batch poller for this many intervals looks itself.
STALL_FACTOR = 3.0
# With many ids per request, rounds come faster (down to this pause), while one generation's
# share of the requests stays what a lone job's polling costs; speeding up stops where the
# poller would exceed BATCH_REQUESTS_PER_SECOND (never slower than the configured interval).
MIN_BATCH_INTERVAL = 1.0
BATCH_REQUESTS_PER_SECOND = 5.0


def batch_interval(interval: float, waiting: int) -> float:
    """The pause between rounds with `waiting` ids: `interval` for a lone job; shorter when a
    request carries many ids (each id's share of the requests never exceeds a lone job's)."""
    batches = max(1, -(-waiting // BATCH_SIZE))
    shared = interval * batches / max(waiting, 1)
    return min(interval, max(MIN_BATCH_INTERVAL, shared, batches / BATCH_REQUESTS_PER_SECOND))


def build_create(request: VideoRequest) -> tuple[str, dict[str, Any]]:
    """The route and body for a request, or UnsupportedRequestError if v1 cannot express it."""
    body: dict[str, Any] = {
        "user_prompt": request.prompt_with_camera,
        "aspect_ratio": request.aspect_ratio,
    }
    if request.loop:
        raise UnsupportedRequestError("the legacy API has no loop option")
    if isinstance(request.frame1, GenerationKeyframe):
        raise UnsupportedRequestError("the legacy API cannot extend a video backwards")
    if isinstance(request.frame0, GenerationKeyframe):
        if request.frame1 is not None:
            raise UnsupportedRequestError("the legacy API cannot extend towards an end frame")
        return f"{PREFIX}/generations/{request.frame0.id}/extend", body
    if isinstance(request.frame0, ImageKeyframe):
        body["image_url"] = request.frame0.url
    if isinstance(request.frame1, ImageKeyframe):
        body["image_end_url"] = request.frame1.url
    return f"{PREFIX}/generations", body


class AimlV1Client(VideoApiClient):
    family = "aiml-v1"
    ping_path = f"{PREFIX}/generation"

    def check(self, request: ApiRequest) -> None:
        super().check(request)
        if isinstance(request, VideoRequest):
            build_create(request)

    async def create(self, request: VideoRequest) -> Generation:
        path, body = build_create(request)
        return parse_generation(await self._request("POST", path, body=body))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._waiting: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        # The batch poller's answers reach their waiters this way.
        self._answers = BatchAnswers()

    async def fetch(self, generation_id: str) -> Generation:
        for generation in await self.fetch_many([generation_id]):
            if generation.id == generation_id:
                return generation
        raise NotFoundError(f"generation {generation_id} not in the response", status=200)

    async def fetch_many(self, generation_ids: list[str]) -> list[Generation]:
        params = [("ids", generation_id) for generation_id in generation_ids]
        return parse_generations(await self._request("GET", f"{PREFIX}/generation", params=params))

    async def _wait_round(
        self, generation_id: str, round_number: int, interval: float
    ) -> Generation:
        self._waiting.add(generation_id)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_batches(interval), name="v1-batches")
        answer = await self._answers.wait(generation_id, interval * STALL_FACTOR)
        return answer if answer is not None else await self.fetch(generation_id)

    def _done_waiting(self, generation_id: str) -> None:
        self._waiting.discard(generation_id)

    async def _poll_batches(self, interval: float) -> None:
        """Each round, one request per BATCH_SIZE waiting ids; ends when nobody waits."""
        while self._waiting:
            await pause(batch_interval(interval, len(self._waiting)))
            waiting = sorted(self._waiting)
            for start in range(0, len(waiting), BATCH_SIZE):
                batch = waiting[start : start + BATCH_SIZE]
                try:
                    answers = await self.fetch_many(batch)
                except LumaError as error:
                    # One unknown id fails the whole batch; the waiters' own fetches (after a
                    # stall) tell which. Others errors: the next interval tries again.
                    log.info("batch of %d ids failed (%s)", len(batch), error)
                    continue
                for generation in answers:
                    self._answers.push(generation)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
