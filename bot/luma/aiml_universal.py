"""AI/ML API's universal video endpoint, `/v2/video/generations`: how AI/ML documents Luma since
January 2026 (reference doc §2.5).

The model is part of the body (`luma/ray-2`, `luma/ray-flash-2`) and of the returned id
(`<uuid>:luma/ray-2`), the duration is an integer, and the states are
queued|generating|completed|error (Generation.parse maps them). No long-poll: waiting polls.
"""

from __future__ import annotations

from typing import Any

from bot.luma.client import VideoApiClient, parse_generation
from bot.luma.models import DEFAULT_MODEL, Generation, VideoRequest
from bot.luma.wire import create_body

PATH = "/v2/video/generations"
MODEL_PREFIX = "luma/"


def build_create_body(request: VideoRequest, model: str | None = None) -> dict[str, Any]:
    # The model is required and prefixed; the duration is an integer.
    chosen = MODEL_PREFIX + (request.model or model or DEFAULT_MODEL)
    return create_body(request, model=chosen, duration=request.duration_seconds)


class AimlUniversalClient(VideoApiClient):
    family = "aiml-universal"
    ping_path = PATH
    options = frozenset({"model", "res", "dur"})

    async def create(self, request: VideoRequest) -> Generation:
        body = build_create_body(request, self.model)
        return parse_generation(await self._request("POST", PATH, body=body))

    async def fetch(self, generation_id: str) -> Generation:
        payload = await self._request("GET", PATH, params=[("generation_id", generation_id)])
        return parse_generation(payload)
