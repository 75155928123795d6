"""AIML universal video endpoint for Luma: ``/v2/video/generations`` (contract doc §2.5).

AIML's current documented path for Luma (``model: "luma/ray-2" | "luma/ray-flash-2"``). The
body is strict (``additionalProperties:false``, AIML "Body validation error!" 400s); the same
Luma keyframe and loop rules apply. Ids are ``"<uuid>:<model>"``. GET answers at once (there
is no wait parameter) with ``{id, status, video, error, meta}``, where status is
queued/generating/completed/error over the canonical queued/dreaming/completed/failed.
"""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, Field, field_validator

from emulator.assets import base_url, video_url
from emulator.core import RouteDef, api_key_of, emulator_of
from emulator.errors import ApiError
from emulator.keyframes import (
    Frames,
    GenerationFrameBase,
    ImageFrameBase,
    KeyframesBase,
    extension_sources,
    image_urls,
    keyframe_issues,
    parent_id,
)
from emulator.state import Family, Generation, State
from emulator.validation import (
    AspectRatio,
    Resolution,
    StrictModel,
    check_prompt,
    is_uri,
    parse_body,
    reject_null,
)

FAMILY = Family.AIML_UNIVERSAL
PATH = "/v2/video/generations"
# What a completed generation reports in meta.usage.credits_used: the per-generation price of
# AIML's Luma v2 page (§2.1); failures are refunded (0). The universal figure is undocumented.
CREDITS_PER_GENERATION = 500_000
ERROR_NAME = "GenerationError"  # the schema leaves `error` untyped [inferred]

Model = Literal["luma/ray-2", "luma/ray-flash-2"]

_STATUS = {
    State.QUEUED: "queued",
    State.DREAMING: "generating",
    State.COMPLETED: "completed",
    State.FAILED: "error",
}
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def _check_image_source(value: str) -> str:
    """ "A direct link to an online image or a Base64-encoded local image"."""
    if is_uri(value) or (_BASE64_RE.match(value) and len(value) % 4 == 0):
        return value
    raise ValueError("Invalid url")


ImageSource = Annotated[str, AfterValidator(_check_image_source)]


# -- request schema ---------------------------------------------------------------------------


class GenerationFrame(GenerationFrameBase, StrictModel):
    pass  # any id: universal ids are "<uuid>:<model>", not uuids


class ImageFrame(ImageFrameBase, StrictModel):
    url: ImageSource


Frame = Annotated[GenerationFrame | ImageFrame, Field(discriminator="type")]


class Keyframes(KeyframesBase, StrictModel):
    frame0: Frame | None = None  # optional, not nullable
    frame1: Frame | None = None

    _not_null = field_validator("frame0", "frame1", mode="before")(reject_null)


class CreateGeneration(StrictModel):
    """``VideoControllerV2_submitVideo_v2`` body for the Luma models."""

    model: Model
    prompt: str
    aspect_ratio: AspectRatio = "16:9"
    resolution: Resolution = "1080p"
    duration: Literal[5, 9] = 5  # an integer here, "5s" strings elsewhere
    loop: bool = False
    keyframes: Keyframes | None = None

    _not_null = field_validator(
        "aspect_ratio", "resolution", "duration", "loop", "keyframes", mode="before"
    )(reject_null)

    def frames(self) -> Frames | None:
        return None if self.keyframes is None else self.keyframes.frames()


# -- response shape ---------------------------------------------------------------------------


def render(gen: Generation, base: str) -> dict[str, Any]:
    """``Video.v2.PollVideoResponseDTO``; the same object from POST and GET."""
    completed = gen.state is State.COMPLETED
    failed = gen.state is State.FAILED
    video = None
    if completed:
        video = {"url": video_url(base, gen.file_stem), "duration": gen.request.get("duration")}
    return {
        "id": gen.id,
        "status": _STATUS[gen.state],
        "video": video,
        "error": {"name": ERROR_NAME, "message": gen.failure_reason} if failed else None,
        "meta": {"usage": {"credits_used": CREDITS_PER_GENERATION if completed else 0}},
    }


# -- handlers ---------------------------------------------------------------------------------


async def create_generation(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    body, _ = await parse_body(request, CreateGeneration)
    issues = check_prompt("prompt", body.prompt, emu.config.max_prompt_length)
    frames = body.frames()
    source = partial(emu.store.get, family=FAMILY)
    issues += [str(issue) for issue in keyframe_issues(frames, body.loop, source)]
    if issues:
        raise ApiError.body(issues)
    key = api_key_of(request)
    emu.check_capacity(key)
    continues, precedes = extension_sources(frames)
    gen = emu.store.add(
        Generation(
            id=f"{uuid.uuid4()}:{body.model}",
            family=FAMILY,
            prompt=body.prompt,
            api_key=key,
            # Defaults filled in, so the video's duration is known.
            request=body.model_dump(mode="json", exclude_none=True),
            model=body.model,
            aspect_ratio=body.aspect_ratio,
            parent_id=parent_id(frames),
            image_urls=image_urls(frames),
            continues=continues,
            precedes=precedes,
        )
    )
    return web.json_response(render(gen, base_url(request, emu.config)), status=201)


async def fetch_generation(request: web.Request) -> web.Response:
    """Immediate snapshot; unknown (or another family's) id -> 404."""
    emu = emulator_of(request)
    ids = request.query.getall("generation_id", [])
    if not ids:
        raise ApiError.query(["generation_id: Required"])
    if len(ids) > 1:
        raise ApiError.query(["generation_id: Expected string, received array"])
    gen = emu.store.get(ids[0], FAMILY)
    if gen is None:
        raise ApiError.not_found()
    return web.json_response(render(gen, base_url(request, emu.config)))


ROUTES = (
    RouteDef("POST", PATH, create_generation, "create", FAMILY, "create"),
    RouteDef("GET", PATH, fetch_generation, "fetch", FAMILY, "fetch"),
)
