"""AI/ML API v1 (legacy): `/luma-ai/*`, also served by resellers (Apilaplas; UmamiAI under `/v1`).

Differences from v2: the prompt is `user_prompt`, images are `image_url`/`image_end_url`,
extending is its own route, states are pending/processing/completed/failed, and there is no
long-poll, so waiting polls `GET /luma-ai/generation?ids=` on a bounded schedule.
"""

from __future__ import annotations

from typing import Any

from bot.luma.client import VideoApiClient, parse_generation, parse_generations
from bot.luma.errors import NotFoundError, UnsupportedRequestError
from bot.luma.models import (
    Generation,
    GenerationKeyframe,
    ImageKeyframe,
    VideoRequest,
)

PREFIX = "/luma-ai"
# Poll every interval, growing gently to this multiple of it: generations take minutes, so a
# few seconds of extra latency is cheaper than hammering the API.
MAX_INTERVAL_FACTOR = 2.0


def build_create(request: VideoRequest) -> tuple[str, dict[str, Any]]:
    """The route and body for a request, or UnsupportedRequestError if v1 cannot express it."""
    body: dict[str, Any] = {"user_prompt": request.prompt, "aspect_ratio": request.aspect_ratio}
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

    def check(self, request: VideoRequest) -> None:
        super().check(request)
        build_create(request)

    async def create(self, request: VideoRequest) -> Generation:
        path, body = build_create(request)
        return parse_generation(await self._request("POST", path, body=body))

    async def fetch(self, generation_id: str) -> Generation:
        payload = await self._request(
            "GET", f"{PREFIX}/generation", params=[("ids", generation_id)]
        )
        for generation in parse_generations(payload):
            if generation.id == generation_id:
                return generation
        raise NotFoundError(f"generation {generation_id} not in the response", status=200)

    async def _wait_round(
        self, generation_id: str, round_number: int, interval: float
    ) -> Generation:
        factor = min(1.0 + 0.25 * round_number, MAX_INTERVAL_FACTOR)
        return await super()._wait_round(generation_id, round_number, interval * factor)
