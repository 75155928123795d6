"""Luma's keyframe rules (contract doc §4.5), shared by every family that takes ``keyframes``.

The families differ only in how strictly a frame is typed (AIML v2 wants a uuid ``id`` and a
URI ``url``; the universal endpoint takes any id and base64 images; Luma ignores unknown keys),
so each family subclasses the bases here with its own field types and model config, and the
create-time rules below run on any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from emulator.errors import MSG_SOURCE_NOT_COMPLETED
from emulator.state import Generation, State


class GenerationFrameBase(BaseModel):
    type: Literal["generation"]
    id: str


class ImageFrameBase(BaseModel):
    type: Literal["image"]
    url: str


FrameRef = GenerationFrameBase | ImageFrameBase
# (frame0, frame1); frame0 is the first frame, frame1 the last.
Frames = tuple[FrameRef | None, FrameRef | None]


class KeyframesBase(BaseModel):
    """Subclasses narrow both fields to their family's discriminated frame union."""

    frame0: Any = None
    frame1: Any = None

    def frames(self) -> Frames:
        return (self.frame0, self.frame1)


@dataclass(frozen=True)
class Issue:
    """One broken rule: ``path`` names the field, ``message`` is Luma's wording."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# Luma's "Loop is not supported for ..." rules, keyed by (frame0 type, frame1 type) (§4.5).
LOOP_FORBIDDEN: dict[tuple[str | None, str | None], str] = {
    (None, "image"): "end frame",
    ("image", "image"): "keyframes",
    (None, "generation"): "extend reverse",
    ("generation", "image"): "interpolate video to image",
    ("image", "generation"): "interpolate image to video",
    ("generation", "generation"): "interpolate between two videos",
}
MSG_NO_KEYFRAMES = "No keyframes provided"
MSG_SOURCE_NOT_FOUND = "Generation not found"

# Finds an extend/interpolate source the caller may use (same family, not deleted...).
SourceLookup = Callable[[str], Generation | None]


def _frame_type(frame: FrameRef | None) -> str | None:
    return None if frame is None else frame.type


def keyframe_issues(frames: Frames | None, loop: bool, source: SourceLookup) -> list[Issue]:
    """Create-time rules: loop combos, empty keyframes, completed sources. None: no keyframes."""
    if frames is None:
        return []
    combo = (_frame_type(frames[0]), _frame_type(frames[1]))
    if combo == (None, None):
        return [Issue("keyframes", MSG_NO_KEYFRAMES)]
    if loop and combo in LOOP_FORBIDDEN:
        return [Issue("loop", f"Loop is not supported for {LOOP_FORBIDDEN[combo]}")]
    issues: list[Issue] = []
    for name, frame in zip(("frame0", "frame1"), frames, strict=True):
        if not isinstance(frame, GenerationFrameBase):
            continue
        found = source(frame.id)
        if found is None:
            issues.append(Issue(f"keyframes.{name}.id", MSG_SOURCE_NOT_FOUND))
        elif found.state is not State.COMPLETED:
            issues.append(Issue(f"keyframes.{name}.id", MSG_SOURCE_NOT_COMPLETED))
    return issues


def image_urls(frames: Frames | None) -> tuple[str, ...]:
    """URLs of the image keyframes (frame0 first), which the emulator fetches like Luma."""
    return tuple(f.url for f in frames or () if isinstance(f, ImageFrameBase))


def parent_id(frames: Frames | None) -> str | None:
    """The first generation keyframe: the video being extended (or interpolated from)."""
    return next((f.id for f in frames or () if isinstance(f, GenerationFrameBase)), None)


def extension_sources(frames: Frames | None) -> tuple[str | None, str | None]:
    """(frame0's generation, frame1's generation): the video a create continues (a forward
    extension) and the one it leads into (a reverse extension), either or both None."""
    first, last = frames or (None, None)
    return (
        first.id if isinstance(first, GenerationFrameBase) else None,
        last.id if isinstance(last, GenerationFrameBase) else None,
    )


def has_image(frames: Frames | None) -> bool:
    return bool(image_urls(frames))
