"""AI/ML API v2: `/v2/generate/video/luma-ai/*`.

Waiting uses the server-side long-poll: `GET .../generation?generation_id=&state=completed`
is held up to 30 s and returns at once when the generation is completed or failed. Note the
parameter is `state` here but `status` on the multi-fetch (a documented inconsistency).
"""

from __future__ import annotations

from typing import Any

from bot.luma.client import (
    VideoApiClient,
    long_poll_timeout,
    parse_generation,
)
from bot.luma.models import Generation, GenerationKeyframe, VideoRequest

PREFIX = "/v2/generate/video/luma-ai"


def _keyframe(frame: Any) -> dict[str, str]:
    if isinstance(frame, GenerationKeyframe):
        return {"type": "generation", "id": frame.id}
    return {"type": "image", "url": frame.url}


def keyframes_body(request: VideoRequest) -> dict[str, dict[str, str]]:
    """`keyframes` as v2, Luma and the universal endpoint all write it."""
    return {
        name: _keyframe(frame)
        for name, frame in (("frame0", request.frame0), ("frame1", request.frame1))
        if frame is not None
    }


def build_create_body(request: VideoRequest, model: str | None = None) -> dict[str, Any]:
    """Only documented fields; `aspect_ratio` always (older schema variants require it).
    `model`, `resolution` and `duration` only when asked for: older variants lack them."""
    body: dict[str, Any] = {"prompt": request.prompt, "aspect_ratio": request.aspect_ratio}
    if request.loop:
        body["loop"] = True
    if keyframes := keyframes_body(request):
        body["keyframes"] = keyframes
    if request.model or model:
        body["model"] = request.model or model
    if request.resolution:
        body["resolution"] = request.resolution
    if request.duration_seconds:
        body["duration"] = f"{request.duration_seconds}s"
    return body


class AimlV2Client(VideoApiClient):
    family = "aiml-v2"
    options = frozenset({"model", "res", "dur"})

    async def create(self, request: VideoRequest) -> Generation:
        payload = await self._request(
            "POST", f"{PREFIX}/generation", body=build_create_body(request, self.model)
        )
        return parse_generation(payload)

    async def fetch(self, generation_id: str) -> Generation:
        payload = await self._request(
            "GET", f"{PREFIX}/generation", params=[("generation_id", generation_id)]
        )
        return parse_generation(payload)

    async def _wait_round(
        self, generation_id: str, round_number: int, interval: float
    ) -> Generation:
        payload = await self._request(
            "GET",
            f"{PREFIX}/generation",
            params=[("generation_id", generation_id), ("state", "completed")],
            http_timeout=long_poll_timeout(self.long_poll_seconds),
        )
        return parse_generation(payload)
