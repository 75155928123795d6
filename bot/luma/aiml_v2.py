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
from bot.luma.models import Generation, VideoRequest
from bot.luma.wire import create_body, seconds_text

PREFIX = "/v2/generate/video/luma-ai"


def build_create_body(request: VideoRequest, model: str | None = None) -> dict[str, Any]:
    """`aspect_ratio` always (older schema variants require it); `model`, `resolution` and
    `duration` only when asked for (older variants lack them)."""
    return create_body(request, model=request.model or model, duration=seconds_text(request))


class AimlV2Client(VideoApiClient):
    family = "aiml-v2"
    ping_path = f"{PREFIX}/generation"
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
        # A long-poll holds a connection for up to 30 s: they take turns for the connections
        # left after the reserve, so creates and downloads are never queued behind them.
        async with self.long_poll_slots:
            payload = await self._request(
                "GET",
                f"{PREFIX}/generation",
                params=[("generation_id", generation_id), ("state", "completed")],
                http_timeout=long_poll_timeout(self.long_poll_seconds),
            )
        return parse_generation(payload)
