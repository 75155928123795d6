"""Typed models at the edge of the video API.

`VideoRequest` is what the bot asks for, in family-neutral terms; each family module maps it to
its own wire format (strict in what it sends). `Generation` is what comes back, parsed tolerantly:
the public docs disagree about field names (`state`/`status`, `assets.video`/`video.url`), so
`Generation.parse` accepts every shape the reference doc lists.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.luma.camera import CAMERA_MOVES, prompt_with_camera

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"]
ASPECT_RATIOS: tuple[AspectRatio, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
DEFAULT_ASPECT_RATIO: AspectRatio = "16:9"
# Options only some families accept (Luma's own API and AI/ML's newer endpoints).
Model = Literal["ray-2", "ray-flash-2"]
MODELS: tuple[str, ...] = ("ray-2", "ray-flash-2")
DEFAULT_MODEL: Model = "ray-2"
Resolution = Literal["540p", "720p", "1080p", "4k"]
RESOLUTIONS: tuple[str, ...] = ("540p", "720p", "1080p", "4k")
DurationSeconds = Literal[5, 9]
DURATIONS: tuple[int, ...] = (5, 9)


def prompt_length(prompt: str) -> int:
    """A prompt's length as the API holds it against `max_prompt_length`: in UTF-16 code units.
    AI/ML's API is a Node.js (NestJS) server, where a string's length is its UTF-16 units (most
    emoji are 2); Luma documents "characters", which are never more, so no prompt this counts
    as within the limit is refused for length."""
    return len(prompt.encode("utf-16-le")) // 2


class ImageKeyframe(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    url: str


class GenerationKeyframe(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["generation"] = "generation"
    id: str


Keyframe = ImageKeyframe | GenerationKeyframe


class VideoRequest(BaseModel):
    """A generation request in family-neutral terms (frame0 = first frame, frame1 = last)."""

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(min_length=1)
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO
    loop: bool = False
    frame0: Keyframe | None = Field(default=None, discriminator="type")
    frame1: Keyframe | None = Field(default=None, discriminator="type")
    # None: the family's (or the operator's) default.
    model: Model | None = None
    resolution: Resolution | None = None
    duration_seconds: DurationSeconds | None = None
    # A key of bot.luma.camera.CAMERA_MOVES: a concept on Luma, a phrase elsewhere.
    camera: str | None = None
    # Where the provider should POST state changes (families that offer callbacks).
    callback_url: str | None = None

    @property
    def options_given(self) -> dict[str, str]:
        """The optional settings this request asks for, by the user's option name."""
        given = {
            "model": self.model,
            "res": self.resolution,
            "dur": f"{self.duration_seconds}s" if self.duration_seconds else None,
        }
        return {name: value for name, value in given.items() if value is not None}

    @property
    def prompt_with_camera(self) -> str:
        """The prompt as a family without camera concepts gets it."""
        return prompt_with_camera(self.prompt, self.camera)

    @model_validator(mode="after")
    def _camera_is_known(self) -> VideoRequest:
        if self.camera is not None and self.camera not in CAMERA_MOVES:
            raise ValueError(f"unknown camera move {self.camera!r}")
        return self

    @model_validator(mode="after")
    def _loop_rules(self) -> VideoRequest:
        # Luma refuses loop with any end frame ("Loop is not supported for ...").
        if self.loop and self.frame1 is not None:
            raise ValueError("loop cannot be combined with an end frame")
        return self


# Sizes a finished video can be upscaled to (POST /generations/{id}/upscale).
UpscaleResolution = Literal["1080p", "4k"]
UPSCALE_RESOLUTIONS: tuple[UpscaleResolution, ...] = ("1080p", "4k")


class UpscaleRequest(BaseModel):
    """A finished generation, made again at a higher resolution (a new generation)."""

    model_config = ConfigDict(frozen=True)

    generation_id: str = Field(min_length=1)
    resolution: UpscaleResolution
    callback_url: str | None = None


class AudioRequest(BaseModel):
    """A finished generation with a soundtrack added (a new generation). No prompt: the
    service chooses the sound."""

    model_config = ConfigDict(frozen=True)

    generation_id: str = Field(min_length=1)
    prompt: str | None = None
    negative_prompt: str | None = None
    callback_url: str | None = None


# Every request that makes a generation (VideoApiClient.submit sends each where it belongs).
ApiRequest = VideoRequest | UpscaleRequest | AudioRequest


class GenerationState(StrEnum):
    QUEUED = "queued"
    DREAMING = "dreaming"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (GenerationState.COMPLETED, GenerationState.FAILED)


# Every state name any family uses, mapped to ours.
_STATE_ALIASES: dict[str, GenerationState] = {
    "queued": GenerationState.QUEUED,
    "pending": GenerationState.QUEUED,
    "dreaming": GenerationState.DREAMING,
    "processing": GenerationState.DREAMING,
    "generating": GenerationState.DREAMING,
    "completed": GenerationState.COMPLETED,
    "failed": GenerationState.FAILED,
    "error": GenerationState.FAILED,
}


class Generation(BaseModel):
    """A generation as the bot needs it, whatever the family's wire shape was."""

    id: str
    state: GenerationState
    failure_reason: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    # Where the generation stands, when the API says (the legacy DTO's `estimate_wait_seconds`;
    # `queue_state` seen upstream as a number or {position}); usually null.
    queue_position: int | None = None
    estimate_wait_seconds: float | None = None

    @property
    def progress(self) -> tuple[GenerationState, int | None, float | None]:
        """What a status message shows; a change is worth telling the user."""
        return self.state, self.queue_position, self.estimate_wait_seconds

    @classmethod
    def parse(cls, payload: Any) -> Generation:
        if not isinstance(payload, dict):
            raise ValueError(f"expected a generation object, got {type(payload).__name__}")
        raw_state = payload.get("state") or payload.get("status")
        state = _STATE_ALIASES.get(str(raw_state).lower()) if raw_state else None
        if state is None:
            raise ValueError(f"unknown generation state {raw_state!r}")
        video = payload.get("video")
        assets = _mapping(payload.get("assets"))
        video_obj = _mapping(video)
        error = _mapping(payload.get("error"))
        return cls(
            id=str(payload["id"]),
            state=state,
            failure_reason=payload.get("failure_reason") or error.get("message") or None,
            video_url=_first_text(
                assets.get("video"), video_obj.get("url"), video, payload.get("video_url")
            ),
            thumbnail_url=_first_text(
                assets.get("image"), video_obj.get("thumbnail"), payload.get("thumbnail")
            ),
            width=_int_or_none(video_obj.get("width")),
            height=_int_or_none(video_obj.get("height")),
            queue_position=_queue_position(payload),
            estimate_wait_seconds=_positive_or_none(payload.get("estimate_wait_seconds")),
        )


def parse_generation_list(payload: Any) -> list[Generation]:
    """Multi-fetch answers: a bare array, or wrapped as {generations: [...]} / {data: [...]}."""
    if isinstance(payload, dict):
        payload = payload.get("generations", payload.get("data"))
    if not isinstance(payload, list):
        raise ValueError("expected a list of generations")
    return [Generation.parse(item) for item in payload]


def _mapping(value: Any) -> dict[str, Any]:
    """`value` if the API sent an object there, else an empty one (fields are optional)."""
    return value if isinstance(value, dict) else {}


def _first_text(*candidates: Any) -> str | None:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _queue_position(payload: dict[str, Any]) -> int | None:
    for candidate in (payload.get("queue_position"), payload.get("queue_state")):
        if isinstance(candidate, dict):
            candidate = candidate.get("position")
        if isinstance(candidate, bool):
            continue
        position = _int_or_none(candidate)
        if position is not None and position >= 1:
            return position
    return None


def _positive_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 86_400 else None
