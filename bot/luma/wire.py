"""The create body Luma's own API, AI/ML v2 and AI/ML's universal endpoint share.

They agree on `prompt`, `aspect_ratio`, `loop`, `keyframes` and `resolution`, and differ in how
they name the model (`ray-2` or `luma/ray-2`, optional or required) and write the duration
(`"9s"` or `9`): each family decides those two and calls `create_body`. A camera move goes as a
concept where the family takes it (Luma's own API), else as a phrase before the prompt.
"""

from __future__ import annotations

from typing import Any

from bot.luma.models import GenerationKeyframe, Keyframe, VideoRequest


def create_body(
    request: VideoRequest,
    *,
    model: str | None,
    duration: str | int | None,
    camera_concept: bool = False,
) -> dict[str, Any]:
    """Only what was asked for: older schema variants reject fields they do not know."""
    prompt = request.prompt if camera_concept else request.prompt_with_camera
    body: dict[str, Any] = {"prompt": prompt, "aspect_ratio": request.aspect_ratio}
    if camera_concept and request.camera:
        body["concepts"] = [{"key": request.camera}]
    if model:
        body["model"] = model
    if request.loop:
        body["loop"] = True
    if keyframes := _keyframes(request):
        body["keyframes"] = keyframes
    if request.resolution:
        body["resolution"] = request.resolution
    if duration is not None:
        body["duration"] = duration
    if request.callback_url:
        body["callback_url"] = request.callback_url
    return body


def seconds_text(request: VideoRequest) -> str | None:
    """The duration as Luma and AI/ML v2 write it ("9s")."""
    return f"{request.duration_seconds}s" if request.duration_seconds else None


def _keyframes(request: VideoRequest) -> dict[str, dict[str, str]]:
    return {
        name: _keyframe(frame)
        for name, frame in (("frame0", request.frame0), ("frame1", request.frame1))
        if frame is not None
    }


def _keyframe(frame: Keyframe) -> dict[str, str]:
    if isinstance(frame, GenerationKeyframe):
        return {"type": "generation", "id": frame.id}
    return {"type": "image", "url": frame.url}
