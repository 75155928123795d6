"""Camera moves a user can name (`--camera orbit_left`), and how each family hears them.

The keys are Luma's published camera concepts (`GET /generations/concepts/list`). Luma's own API
takes a listed key as `concepts: [{"key": ...}]`; every other family (and Luma, for a key its
live list lacks) gets the move as the phrase Luma's prompt guide uses, put before the prompt,
as camera language leads a well-formed prompt.
"""

from __future__ import annotations

CAMERA_MOVES: dict[str, str] = {
    "aerial": "aerial shot",
    "aerial_drone": "aerial drone shot",
    "bolt_cam": "bolt cam, fast robotic camera move",
    "crane_down": "camera cranes down",
    "crane_up": "camera cranes up",
    "dolly_zoom": "dolly zoom",
    "elevator_doors": "elevator doors reveal",
    "eye_level": "eye-level shot",
    "ground_level": "ground-level shot",
    "handheld": "handheld camera",
    "high_angle": "high-angle shot",
    "low_angle": "low-angle shot",
    "orbit_left": "camera orbits left around the subject",
    "orbit_right": "camera orbits right around the subject",
    "over_the_shoulder": "over-the-shoulder shot",
    "overhead": "overhead shot",
    "pan_left": "camera pans left",
    "pan_right": "camera pans right",
    "pedestal_down": "camera pedestals down",
    "pedestal_up": "camera pedestals up",
    "pov": "point-of-view shot",
    "pull_out": "camera pulls out",
    "push_in": "camera pushes in",
    "roll_left": "camera rolls left",
    "roll_right": "camera rolls right",
    "selfie": "selfie shot",
    "static": "static camera",
    "tilt_down": "camera tilts down",
    "tilt_up": "camera tilts up",
    "tiny_planet": "tiny planet effect",
    "truck_left": "camera trucks left",
    "truck_right": "camera trucks right",
    "zoom_in": "camera zooms in",
    "zoom_out": "camera zooms out",
}


def camera_move(value: str) -> str | None:
    """The key for what a user typed ("Orbit-Left", "orbit left" once joined), or None."""
    key = value.strip().lower().replace("-", "_")
    return key if key in CAMERA_MOVES else None


def prompt_with_camera(prompt: str, move: str | None) -> str:
    """The prompt with the move's phrase before it (as families without concepts get it)."""
    return f"{CAMERA_MOVES[move]}, {prompt}" if move else prompt
