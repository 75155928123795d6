"""AIML API v2 family: ``/v2/generate/video/luma-ai/*`` (contract doc §2.1-§2.4, §7).

Validation follows the *latest* gateway schema variant (§2.1, ``e41add72``). Responses are
Luma ``Generation`` objects (§4.4), which the doc infers AIML passes through.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, field_validator

from emulator import luma_direct
from emulator.assets import base_url
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
    Uri,
    Uuid,
    check_ids,
    check_prompt,
    check_wait_param,
    is_uuid,
    parse_body,
    query_id_list,
    reject_null,
)

FAMILY = Family.AIML_V2
PREFIX = "/v2/generate/video/luma-ai"
DEFAULT_MODEL: Literal["ray-1-6", "ray-2", "ray-flash-2"] = "ray-2"


# -- request schema ---------------------------------------------------------------------------


class GenerationFrame(GenerationFrameBase, StrictModel):
    id: Uuid


class ImageFrame(ImageFrameBase, StrictModel):
    url: Uri


Frame = Annotated[GenerationFrame | ImageFrame, Field(discriminator="type")]


class Keyframes(KeyframesBase, StrictModel):
    frame0: Frame | None = None
    frame1: Frame | None = None


class CreateGeneration(StrictModel):
    """``LumaAi.v2.CreateGenerationPayload``, latest variant; ``concepts`` is gone (-> 400)."""

    prompt: str
    aspect_ratio: AspectRatio | None = None  # optional, but not nullable
    loop: bool = False
    keyframes: Keyframes | None = None
    generation_type: Literal["video"] | None = None
    callback_url: Uri | None = None  # accepted; this emulator does not call it back
    model: Literal["ray-1-6", "ray-2", "ray-flash-2"] = DEFAULT_MODEL
    resolution: Resolution | None = None
    duration: Literal["5s", "9s"] | None = None

    _not_null = field_validator("aspect_ratio", mode="before")(reject_null)

    def frames(self) -> Frames | None:
        return None if self.keyframes is None else self.keyframes.frames()


# -- response shape ---------------------------------------------------------------------------

# The Luma ``Generation`` object, which AIML is inferred to pass through (§2.1).
render = luma_direct.render


# -- handlers ---------------------------------------------------------------------------------


async def create_generation(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    body, raw = await parse_body(request, CreateGeneration)
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
            family=FAMILY,
            prompt=body.prompt,
            api_key=key,
            request={**raw, "model": body.model},
            model=body.model,
            aspect_ratio=body.aspect_ratio,
            parent_id=parent_id(frames),
            image_urls=image_urls(frames),
            continues=continues,
            precedes=precedes,
        )
    )
    return web.json_response(render(gen, base_url(request, emu.config)), status=201)


def _wrong_wait_param(request: web.Request, name: str, right: str) -> list[str]:
    """The schema ignores the wrong-named wait param; strict mode flags it as a client bug."""
    if name in request.query and emulator_of(request).config.strict_wait_params:
        return [f"{name}: not a parameter of this endpoint (the wait parameter is '{right}')"]
    return []


def _single_id_issues(ids: list[str]) -> list[str]:
    if not ids:
        return ["generation_id: Required"]
    if len(ids) > 1:
        return ["generation_id: Expected string, received array"]
    return [] if is_uuid(ids[0]) else ["generation_id: Invalid uuid"]


async def fetch_generation(request: web.Request) -> web.Response:
    """Single fetch; ``state=`` holds the request until that state (or beyond) or timeout."""
    emu = emulator_of(request)
    ids = request.query.getall("generation_id", [])
    issues = _single_id_issues(ids)
    wanted, wait_issues = check_wait_param(request.query, "state")
    issues += wait_issues + _wrong_wait_param(request, "status", "state")
    if issues:
        raise ApiError.query(issues)
    gen = emu.store.get(ids[0], FAMILY)
    if gen is None:
        raise ApiError.not_found()
    if wanted is not None:
        await emu.store.wait_for([gen], State(wanted), emu.config.long_poll_seconds)
    return web.json_response(render(gen, base_url(request, emu.config)))


async def fetch_generations(request: web.Request) -> web.Response:
    """Multi fetch; ``status=`` holds until *all* ids reach it. Array in request order."""
    emu = emulator_of(request)
    ids = query_id_list(request.query, "generation_ids")
    issues = check_ids("generation_ids", ids, emu.config.max_batch)
    wanted, wait_issues = check_wait_param(request.query, "status")
    issues += wait_issues + _wrong_wait_param(request, "state", "status")
    if issues or ids is None:
        raise ApiError.query(issues)
    gens = [emu.store.get(gen_id, FAMILY) for gen_id in ids]
    found = [g for g in gens if g is not None]
    if len(found) != len(gens):
        raise ApiError.not_found()
    if wanted is not None:
        await emu.store.wait_for(found, State(wanted), emu.config.long_poll_seconds)
    base = base_url(request, emu.config)
    return web.json_response([render(g, base) for g in found])


ROUTES = (
    RouteDef("POST", f"{PREFIX}/generation", create_generation, "create", FAMILY, "create"),
    RouteDef("GET", f"{PREFIX}/generation", fetch_generation, "fetch", FAMILY, "fetch_one"),
    RouteDef("GET", f"{PREFIX}/generations", fetch_generations, "fetch", FAMILY, "fetch_many"),
)
