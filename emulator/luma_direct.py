"""Luma Labs direct API: ``/dream-machine/v1/*`` (contract doc §4, §6, §7.8, §7.9).

What the ``lumaai`` SDK (1.21) and the Luma docs call:

- create on ``POST /generations/video`` (SDK >= 1.11, ``model`` required) and on
  ``POST /generations`` (docs and older SDKs; ``model`` defaults to ray-2);
- ``GET /generations/{id}``, ``GET /generations?limit=&offset=`` (newest first, the caller's
  own generations only), ``DELETE /generations/{id}`` (204, then gone);
- ``GET /ping``, ``GET /credits``, ``GET /generations/concepts/list``;
- ``POST /generations/{id}/upscale`` (``resolution``) and ``POST /generations/{id}/audio``
  (``prompt``, ``negative_prompt``): each answers 200 with a NEW generation (its own id,
  ``request.generation_type`` "upscale_video" / "add_audio") that runs like a create's. The
  source must be a completed generation of the caller's (404 otherwise, as for GET; 400 while
  it is not completed). An upscale goes up only: a resolution not above the source's (a
  source that named none counts as 720p) is a 400. The result's size follows ``video_sizes``
  for the target resolution (a soundtrack keeps the source's).

Errors are ``{"detail": "<message>"}`` (the server renders them by family). Bodies are read
like a FastAPI/pydantic server would: unknown keys are ignored (the SDK's ``extra_body`` can
add any), but known fields are typed strictly (no "true" for a bool) so client bugs surface.
Generations are private to the API key that made them: another key gets 404, as for an
unknown id. A ``callback_url`` gets the Generation object POSTed on dreaming, completed and
failed (see callbacks.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from multidict import MultiMapping
from pydantic import Field

from emulator.assets import base_url, image_url, video_url
from emulator.clips import SOURCE_DEFAULT_RESOLUTION, Edit
from emulator.core import Emulator, RouteDef, api_key_of, emulator_of
from emulator.errors import ApiError
from emulator.keyframes import (
    Frames,
    GenerationFrameBase,
    ImageFrameBase,
    KeyframesBase,
    extension_sources,
    has_image,
    image_urls,
    keyframe_issues,
    parent_id,
)
from emulator.state import Family, Generation, State
from emulator.validation import (
    AspectRatio,
    LenientModel,
    Resolution,
    Uri,
    parse_body,
    prompt_problem,
)

FAMILY = Family.LUMA
PREFIX = "/dream-machine/v1"
DEFAULT_MODEL: Model = "ray-2"
DEFAULT_ASPECT_RATIO = "16:9"
# Luma's own prompt cap (AIML's config.max_prompt_length does not apply here).
MAX_PROMPT_LENGTH = 5000
MSG_PROMPT_REQUIRED = "Prompt is required"
DEFAULT_LIMIT = 100
# Camera concept keys for `concepts` (GET /generations/concepts/list). Luma's live list is not
# in the contract; these are its published camera concepts, and keys are not checked against it.
CONCEPTS: tuple[str, ...] = (
    "aerial",
    "aerial_drone",
    "bolt_cam",
    "crane_down",
    "crane_up",
    "dolly_zoom",
    "elevator_doors",
    "eye_level",
    "ground_level",
    "handheld",
    "high_angle",
    "low_angle",
    "orbit_left",
    "orbit_right",
    "over_the_shoulder",
    "overhead",
    "pan_left",
    "pan_right",
    "pedestal_down",
    "pedestal_up",
    "pov",
    "pull_out",
    "push_in",
    "roll_left",
    "roll_right",
    "selfie",
    "static",
    "tilt_down",
    "tilt_up",
    "tiny_planet",
    "truck_left",
    "truck_right",
    "zoom_in",
    "zoom_out",
)

Model = Literal["ray-2", "ray-flash-2"]


# -- request schema (GenerationCreateParams, lumaai 1.21) --------------------------------------


class GenerationFrame(GenerationFrameBase, LenientModel):
    pass


class ImageFrame(ImageFrameBase, LenientModel):
    url: Uri  # "URLs only" (§4.6)


Frame = Annotated[GenerationFrame | ImageFrame, Field(discriminator="type")]


class Keyframes(KeyframesBase, LenientModel):
    frame0: Frame | None = None
    frame1: Frame | None = None


class Concept(LenientModel):
    key: str


class CreateVideo(LenientModel):
    """``POST /generations/video``: ``model`` is required."""

    model: Model
    prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    loop: bool | None = None
    keyframes: Keyframes | None = None
    resolution: Resolution | None = None
    duration: Literal["5s", "9s"] | None = None
    concepts: list[Concept] | None = None
    callback_url: Uri | None = None
    generation_type: Literal["video"] | None = None

    def frames(self) -> Frames | None:
        return None if self.keyframes is None else self.keyframes.frames()


class CreateGeneration(CreateVideo):
    """``POST /generations`` (the docs' path): same body, ``model`` optional."""

    model: Model = DEFAULT_MODEL


class Upscale(LenientModel):
    """``POST /generations/{id}/upscale`` (GenerationUpscaleParams)."""

    resolution: Resolution = "1080p"
    callback_url: Uri | None = None
    generation_type: Literal["upscale_video"] | None = None


class AddAudio(LenientModel):
    """``POST /generations/{id}/audio`` (GenerationAudioParams); no prompt: any sound."""

    prompt: str | None = None
    negative_prompt: str | None = None
    callback_url: Uri | None = None
    generation_type: Literal["add_audio"] | None = None


# Upscales go up this ladder only; a source that named no resolution is Luma's default.
_RESOLUTION_LADDER: tuple[str, ...] = ("540p", "720p", "1080p", "4k")


def _invalid(issues: list[str]) -> ApiError:
    return ApiError(400, "; ".join(issues) or "Invalid request body")


def _create_problem(body: CreateVideo, emu: Emulator, key: str) -> str | None:
    """The first of Luma's create-time rules the body breaks (§4.5, §4.6), if any."""
    frames = body.frames()
    if not body.prompt:
        if not has_image(frames):
            return MSG_PROMPT_REQUIRED
    elif problem := prompt_problem(body.prompt, MAX_PROMPT_LENGTH):
        return problem
    issues = keyframe_issues(frames, bool(body.loop), lambda gen_id: _visible(emu, key, gen_id))
    return issues[0].message if issues else None


def _request_echo(body: CreateVideo) -> dict[str, Any]:
    """``Generation.request``: the request as Luma understood it (defaults filled in)."""
    echo = body.model_dump(mode="json")
    echo.update(
        generation_type="video",
        aspect_ratio=body.aspect_ratio or DEFAULT_ASPECT_RATIO,
        loop=bool(body.loop),
    )
    if body.keyframes is not None:
        echo["keyframes"] = body.keyframes.model_dump(mode="json", exclude_none=True)
    return echo


# -- response shape ---------------------------------------------------------------------------


def render(gen: Generation, base: str) -> dict[str, Any]:
    """Luma ``Generation`` object (§4.4); ``assets`` only once completed."""
    assets = None
    if gen.state is State.COMPLETED:
        assets = {
            "video": video_url(base, gen.file_stem),
            "image": image_url(base, gen.file_stem),
            "progress_video": None,
        }
    return {
        "id": gen.id,
        "generation_type": "video",
        "state": gen.state.value,
        "failure_reason": gen.failure_reason,
        "created_at": gen.created_at,
        "assets": assets,
        "model": gen.model,
        "request": gen.request,
    }


def _completed_source(request: web.Request, what: str) -> Generation:
    """The generation an upscale or a soundtrack starts from: the caller's, and finished."""
    source = _found(request)
    if source.state is not State.COMPLETED:
        raise ApiError(400, f"Generation must be completed before {what}")
    return source


def _start(
    request: web.Request,
    source: Generation,
    *,
    edit: Edit,
    prompt: str,
    echo: dict[str, Any],
    callback_url: str | None,
) -> web.Response:
    """A generation made from ``source`` (an upscale, a soundtrack), clocked like a create's."""
    emu = emulator_of(request)
    key = api_key_of(request)
    emu.check_capacity(key)
    gen = Generation(
        family=FAMILY,
        prompt=prompt,
        api_key=key,
        request={name: value for name, value in echo.items() if value is not None},
        model=source.model,
        aspect_ratio=source.aspect_ratio,
        parent_id=source.id,
        callback_url=callback_url,
        inherited_resolution=source.resolution,
        edit=edit,
    )
    base = base_url(request, emu.config)
    if callback_url:
        emu.watch_callbacks(gen, callback_url, lambda: render(gen, base))
    emu.store.add(gen)
    return web.json_response(render(gen, base))


async def upscale(request: web.Request) -> web.Response:
    body, _ = await parse_body(request, Upscale, invalid=_invalid)
    source = _completed_source(request, "it can be upscaled")
    current = source.resolution or SOURCE_DEFAULT_RESOLUTION
    if _RESOLUTION_LADDER.index(body.resolution) <= _RESOLUTION_LADDER.index(current):
        raise ApiError(400, f"Cannot upscale a {current} generation to {body.resolution}")
    echo = {
        "generation_type": "upscale_video",
        "resolution": body.resolution,
        "callback_url": body.callback_url,
    }
    return _start(
        request, source, edit="upscale", prompt="", echo=echo, callback_url=body.callback_url
    )


async def add_audio(request: web.Request) -> web.Response:
    body, _ = await parse_body(request, AddAudio, invalid=_invalid)
    source = _completed_source(request, "audio can be added")
    if body.prompt and (problem := prompt_problem(body.prompt, MAX_PROMPT_LENGTH)):
        raise ApiError(400, problem)
    echo = {
        "generation_type": "add_audio",
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "callback_url": body.callback_url,
    }
    # The sound prompt scripts the outcome, as a create's prompt does ("[fail]").
    return _start(
        request,
        source,
        edit="audio",
        prompt=body.prompt or "",
        echo=echo,
        callback_url=body.callback_url,
    )


def _visible(emu: Emulator, key: str, generation_id: str) -> Generation | None:
    """A live Luma generation of this key (others' ids look unknown)."""
    gen = emu.store.get(generation_id, FAMILY)
    return gen if gen is not None and gen.api_key == key else None


def _found(request: web.Request) -> Generation:
    gen = _visible(emulator_of(request), api_key_of(request), request.match_info["generation_id"])
    if gen is None:
        raise ApiError.not_found()
    return gen


# -- handlers ---------------------------------------------------------------------------------


async def _create(request: web.Request, schema: type[CreateVideo]) -> web.Response:
    emu = emulator_of(request)
    key = api_key_of(request)
    body, _ = await parse_body(request, schema, invalid=_invalid)
    problem = _create_problem(body, emu, key)
    if problem:
        raise ApiError(400, problem)
    emu.check_capacity(key)
    frames = body.frames()
    continues, precedes = extension_sources(frames)
    gen = Generation(
        family=FAMILY,
        prompt=body.prompt or "",
        api_key=key,
        request=_request_echo(body),
        model=body.model,
        aspect_ratio=body.aspect_ratio or DEFAULT_ASPECT_RATIO,
        parent_id=parent_id(frames),
        image_urls=image_urls(frames),
        callback_url=body.callback_url,
        continues=continues,
        precedes=precedes,
    )
    base = base_url(request, emu.config)
    if body.callback_url:
        # Registered before the clock starts, so no state change can be missed.
        emu.watch_callbacks(gen, body.callback_url, lambda: render(gen, base))
    emu.store.add(gen)
    return web.json_response(render(gen, base), status=201)


async def create_video(request: web.Request) -> web.Response:
    return await _create(request, CreateVideo)


async def create_generation(request: web.Request) -> web.Response:
    return await _create(request, CreateGeneration)


async def get_generation(request: web.Request) -> web.Response:
    gen = _found(request)
    return web.json_response(render(gen, base_url(request, emulator_of(request).config)))


def _int_param(query: MultiMapping[str], name: str, default: int, minimum: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: Input should be a valid integer") from None
    if value < minimum:
        raise ApiError(400, f"{name}: Input should be greater than or equal to {minimum}")
    return value


async def list_generations(request: web.Request) -> web.Response:
    """The caller's live generations, newest first, one page of them."""
    emu = emulator_of(request)
    limit = _int_param(request.query, "limit", DEFAULT_LIMIT, 1)
    offset = _int_param(request.query, "offset", 0, 0)
    key = api_key_of(request)
    mine = [
        g
        for g in reversed(emu.generations.values())  # creation order, newest first
        if g.family is FAMILY and g.api_key == key and not g.deleted
    ]
    page = mine[offset : offset + limit]
    base = base_url(request, emu.config)
    return web.json_response(
        {
            "generations": [render(g, base) for g in page],
            "count": len(page),
            "has_more": offset + len(page) < len(mine),
            "limit": limit,
            "offset": offset,
        }
    )


async def delete_generation(request: web.Request) -> web.Response:
    """204 with no body; the generation stops, disappears and sends no more callbacks."""
    gen = _found(request)
    emulator_of(request).delete_generation(gen.id)
    return web.Response(status=204)


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"message": "pong"})


async def get_credits(request: web.Request) -> web.Response:
    return web.json_response({"credit_balance": float(emulator_of(request).config.credit_balance)})


async def list_concepts(request: web.Request) -> web.Response:
    return web.json_response(list(CONCEPTS))


_GENERATION = f"{PREFIX}/generations/{{generation_id}}"

ROUTES = (
    RouteDef("POST", f"{PREFIX}/generations/video", create_video, "create", FAMILY, "create_video"),
    RouteDef("POST", f"{PREFIX}/generations", create_generation, "create", FAMILY, "create"),
    # Before the {generation_id} route; one path segment would not match it anyway.
    RouteDef(
        "GET", f"{PREFIX}/generations/concepts/list", list_concepts, "fetch", FAMILY, "concepts"
    ),
    RouteDef("GET", _GENERATION, get_generation, "fetch", FAMILY, "get"),
    # They make a generation: "create" routes (auth, capacity, create faults), with their own
    # fault routes too ("upscale", "audio").
    RouteDef("POST", f"{_GENERATION}/upscale", upscale, "create", FAMILY, "upscale"),
    RouteDef("POST", f"{_GENERATION}/audio", add_audio, "create", FAMILY, "audio"),
    RouteDef("DELETE", _GENERATION, delete_generation, "fetch", FAMILY, "delete"),
    RouteDef("GET", f"{PREFIX}/generations", list_generations, "fetch", FAMILY, "list"),
    RouteDef("GET", f"{PREFIX}/ping", ping, "fetch", FAMILY, "ping"),
    RouteDef("GET", f"{PREFIX}/credits", get_credits, "fetch", FAMILY, "credits"),
)
