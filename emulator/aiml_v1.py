"""AIML API v1 (legacy) family: ``/luma-ai/*`` and its ``/v1/luma-ai/*`` alias (contract doc §3).

States use the legacy vocabulary (pending/processing/completed/failed) over the same clock.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import field_validator

from emulator.assets import base_url, image_url, video_dimensions, video_url
from emulator.core import RouteDef, api_key_of, emulator_of
from emulator.errors import MSG_SOURCE_NOT_COMPLETED, ApiError
from emulator.state import Family, Generation, State
from emulator.validation import (
    AspectRatio,
    StrictModel,
    Uri,
    check_ids,
    check_prompt,
    is_param_form,
    parse_body,
    query_id_list,
    reject_null,
    unexpected_keys,
)

FAMILY = Family.AIML_V1
PREFIXES = ("", "/v1")
DEFAULT_MODEL: Literal["ray-1-6"] = "ray-1-6"
_IDS_PARAM = "ids"


class CreateGeneration(StrictModel):
    """``LumaAi.v1.CreateGenerationPayload`` (also the extend body).

    Deliberate strictness: the gateway schema has no ``additionalProperties:false`` here, but
    unknown keys are rejected anyway so client bugs (e.g. v2 field names) surface in tests.
    """

    user_prompt: str
    aspect_ratio: AspectRatio
    expand_prompt: bool = False
    image_url: Uri | None = None  # optional, not nullable
    image_end_url: Uri | None = None  # optional, not nullable
    model: Literal["ray-1-6"] = DEFAULT_MODEL

    _not_null = field_validator("image_url", "image_end_url", mode="before")(reject_null)


def render(gen: Generation, base: str, clips: bool = False) -> dict[str, Any]:
    """Legacy ``GenerateVideoResultDTO``; ``video`` is filled only once completed, sized as
    the served video is (the sample's, or with ``clips`` the generation's own clip's)."""
    video = None
    if gen.state is State.COMPLETED:
        if clips and gen.clip is not None:
            width, height = gen.clip.width, gen.clip.height
        else:
            width, height = video_dimensions()
        video = {
            "url": video_url(base, gen.id),
            "width": width,
            "height": height,
            "thumbnail": image_url(base, gen.id),
        }
    return {
        "created_at": gen.created_at,
        "estimate_wait_seconds": gen.wait_estimate(),
        "id": gen.id,
        "liked": None,
        "prompt": gen.prompt,
        "state": gen.state.legacy,
        "video": video,
    }


async def _create(request: web.Request, parent_id: str | None) -> web.Response:
    emu = emulator_of(request)
    body, raw = await parse_body(request, CreateGeneration)
    issues = check_prompt("user_prompt", body.user_prompt, emu.config.max_prompt_length)
    if issues:
        raise ApiError.body(issues)
    if parent_id is not None:
        _check_parent(request, parent_id)
    key = api_key_of(request)
    emu.check_capacity(key)
    gen = emu.store.add(
        Generation(
            family=FAMILY,
            prompt=body.user_prompt,
            api_key=key,
            request=raw,
            model=body.model,
            aspect_ratio=body.aspect_ratio,
            parent_id=parent_id,
            continues=parent_id,  # an extension continues its task forward
            # Fetched like Luma does, on create and on extend alike.
            image_urls=tuple(url for url in (body.image_url, body.image_end_url) if url),
        )
    )
    return web.json_response(
        render(gen, base_url(request, emu.config), emu.config.clips), status=201
    )


def _check_parent(request: web.Request, parent_id: str) -> None:
    """Extending needs an existing, completed legacy generation."""
    parent = emulator_of(request).store.get(parent_id, FAMILY)
    if parent is None:
        raise ApiError(400, f"Generation {parent_id} not found")
    if parent.state is not State.COMPLETED:
        raise ApiError(400, MSG_SOURCE_NOT_COMPLETED)


async def create_generation(request: web.Request) -> web.Response:
    return await _create(request, parent_id=None)


async def extend_generation(request: web.Request) -> web.Response:
    return await _create(request, parent_id=request.match_info["task_id"])


async def fetch_generations(request: web.Request) -> web.Response:
    """``GET /luma-ai/generation?ids=``: immediate, array in request order, no extra params."""
    emu = emulator_of(request)
    ids = query_id_list(request.query, _IDS_PARAM)
    allowed = [k for k in request.query if is_param_form(k, _IDS_PARAM)]
    issues = unexpected_keys(request.query.keys(), allowed) + check_ids(_IDS_PARAM, ids, None)
    if issues or ids is None:
        raise ApiError.query(issues)
    gens = [emu.store.get(gen_id, FAMILY) for gen_id in ids]
    found = [g for g in gens if g is not None]
    if len(found) != len(gens):
        raise ApiError.not_found()
    base = base_url(request, emu.config)
    return web.json_response([render(g, base, emu.config.clips) for g in found])


def _routes(prefix: str) -> tuple[RouteDef, ...]:
    # Distinct route names per prefix ("v1_..." for the alias).
    tag = "v1_" if prefix else ""
    base = f"{prefix}/luma-ai"
    return (
        RouteDef(
            "POST", f"{base}/generations", create_generation, "create", FAMILY, f"{tag}create"
        ),
        RouteDef(
            "POST",
            f"{base}/generations/{{task_id}}/extend",
            extend_generation,
            "create",
            FAMILY,
            f"{tag}extend",
        ),
        RouteDef("GET", f"{base}/generation", fetch_generations, "fetch", FAMILY, f"{tag}fetch"),
    )


ROUTES = tuple(route for prefix in PREFIXES for route in _routes(prefix))
