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


def build_create_body(request: VideoRequest) -> dict[str, Any]:
    """Only documented fields; `aspect_ratio` always (older schema variants require it)."""
    body: dict[str, Any] = {"prompt": request.prompt, "aspect_ratio": request.aspect_ratio}
    if request.loop:
        body["loop"] = True
    keyframes = {
        name: _keyframe(frame)
        for name, frame in (("frame0", request.frame0), ("frame1", request.frame1))
        if frame is not None
    }
    if keyframes:
        body["keyframes"] = keyframes
    return body


class AimlV2Client(VideoApiClient):
    family = "aiml-v2"

    async def create(self, request: VideoRequest) -> Generation:
        payload = await self._request(
            "POST", f"{PREFIX}/generation", body=build_create_body(request)
        )
        return parse_generation(payload)

    async def fetch(self, generation_id: str) -> Generation:
        payload = await self._request(
            "GET", f"{PREFIX}/generation", params=[("generation_id", generation_id)]
        )
        return parse_generation(payload)

    async def _wait_round(self, generation_id: str, round_number: int) -> Generation:
        payload = await self._request(
            "GET",
            f"{PREFIX}/generation",
            params=[("generation_id", generation_id), ("state", "completed")],
            http_timeout=long_poll_timeout(self.long_poll_seconds),
        )
        return parse_generation(payload)
