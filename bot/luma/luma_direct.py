"""Luma's own Dream Machine API (`https://api.lumalabs.ai/dream-machine/v1`), as the official
`lumaai` SDK speaks it.

Create at `POST /generations/video` (the model is required), read at `GET /generations/{id}`,
stop with `DELETE /generations/{id}`. A finished video is upscaled with
`POST /generations/{id}/upscale` (`resolution`) and given sound with `POST /generations/{id}/audio`
(`prompt`, `negative_prompt`), as the SDK's `generations.upscale` and `generations.audio` send
them. Luma does not document their answer beyond "a Generation"; we assume it is a NEW generation
(its own id, `request.generation_type` "upscale_video" / "add_audio"), read with
`GET /generations/{id}` like any other, whose `assets.video` is the result.

There is no long-poll: waiting polls, and where the bot has a public address Luma POSTs every
state change to the job's `callback_url`, which wakes the wait (bot/luma/wakeups.py) to look at
once; polling then only covers a lost callback. Errors are `{detail}`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.luma.client import VideoApiClient, parse_generation
from bot.luma.errors import LumaError
from bot.luma.models import (
    DEFAULT_MODEL,
    AudioRequest,
    Generation,
    UpscaleRequest,
    VideoRequest,
)
from bot.luma.wire import create_body, seconds_text

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
# After the camera concepts list could not be read: how long moves go as phrases before it is
# asked for again.
CONCEPTS_RETRY_SECONDS = 600.0
log = logging.getLogger(__name__)


def build_create_body(
    request: VideoRequest, model: str | None = None, *, camera_concept: bool = False
) -> dict[str, Any]:
    # The model is required here (SDK >= 1.11).
    return create_body(
        request,
        model=request.model or model or DEFAULT_MODEL,
        duration=seconds_text(request),
        camera_concept=camera_concept,
    )


def build_upscale_body(request: UpscaleRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"generation_type": "upscale_video", "resolution": request.resolution}
    return _with_callback(body, request.callback_url)


def build_audio_body(request: AudioRequest) -> dict[str, Any]:
    """Only what was given: without a prompt Luma chooses the sound."""
    body: dict[str, Any] = {"generation_type": "add_audio"}
    if request.prompt:
        body["prompt"] = request.prompt
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    return _with_callback(body, request.callback_url)


def _with_callback(body: dict[str, Any], callback_url: str | None) -> dict[str, Any]:
    return {**body, "callback_url": callback_url} if callback_url else body


class LumaClient(VideoApiClient):
    family = "luma"
    ping_path = "/ping"
    max_prompt_length = 5000
    options = frozenset({"model", "res", "dur"})
    accepts_callbacks = True
    can_delete = True
    can_upscale = True
    can_add_audio = True
    _concepts: frozenset[str] | None = None
    _concepts_retry_at = 0.0  # (monotonic) after an unreadable list, when to ask again

    async def create(self, request: VideoRequest) -> Generation:
        concept = request.camera is not None and request.camera in await self.concepts()
        body = build_create_body(request, self.model, camera_concept=concept)
        return parse_generation(await self._request("POST", "/generations/video", body=body))

    async def upscale(self, request: UpscaleRequest) -> Generation:
        path = f"/generations/{request.generation_id}/upscale"
        return parse_generation(await self._request("POST", path, body=build_upscale_body(request)))

    async def add_audio(self, request: AudioRequest) -> Generation:
        path = f"/generations/{request.generation_id}/audio"
        return parse_generation(await self._request("POST", path, body=build_audio_body(request)))

    async def concepts(self) -> frozenset[str]:
        """Luma's camera concept keys, read once. Unreadable: none (the move then goes as a
        phrase in the prompt), and not asked for again for CONCEPTS_RETRY_SECONDS, so a list
        that keeps failing does not hold up (or cost a request for) every create."""
        if self._concepts is None:
            if time.monotonic() < self._concepts_retry_at:
                return frozenset()
            try:
                listed = await self._request("GET", "/generations/concepts/list")
            except LumaError as error:
                self._concepts_retry_at = time.monotonic() + CONCEPTS_RETRY_SECONDS
                log.info("camera concepts not listed (%s); moves go into the prompt", error)
                return frozenset()
            self._concepts = frozenset(str(key) for key in listed if isinstance(key, str))
        return self._concepts

    async def fetch(self, generation_id: str) -> Generation:
        return parse_generation(await self._request("GET", f"/generations/{generation_id}"))

    async def delete(self, generation_id: str) -> None:
        await self._request("DELETE", f"/generations/{generation_id}")
