"""Parsing the text after `/video` or `/extend` into typed options. Pure: no Telegram, no I/O.

Options may stand anywhere in the prompt: `--ar 9:16` (or `--ar=9:16`), flags such as `--loop`,
and a bare ratio token such as `9:16` as the first or last word. `--model`, `--res` and `--dur`
are read on every family; whether the configured family can honour them is decided later
(GenerationService.check), so the user hears "this service has no --res" rather than "unknown".
Phones auto-correct `--` into an em or en dash, so `—ar` and `–loop` are read as options too.
Each command allows its own set.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.domain.model import Refusal
from bot.domain.specs import Shot
from bot.luma.camera import CAMERA_MOVES, camera_move, prompt_with_camera
from bot.luma.models import (
    ASPECT_RATIOS,
    DURATIONS,
    MODELS,
    RESOLUTIONS,
    AspectRatio,
    DurationSeconds,
    Model,
    Resolution,
    prompt_length,
)
from bot.texts import Html

# Visible characters a prompt needs at least (the API's own minimum is 3 of any kind).
MIN_PROMPT_LENGTH = 3
# Characters that show nothing besides spaces, controls and format characters (Cf: zero-width
# space and joiners, bidi controls, BOM, tags): the rest of Unicode's Default_Ignorable_Code_Point
# (grapheme joiner, Hangul fillers, variation selectors...) and the braille blank.
_BLANK = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u2800\u3164\ufe00-\ufe0f"
    "\uffa0\ufff0-\ufff8\U000e0000-\U000e0fff]"
)
_UNSEEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
_DASHES = re.compile(r"^(?:--|[\u2013\u2014\u2012\u2015]-?|-[\u2013\u2014])(?=[A-Za-z])")
_TOKEN = re.compile(r"\S+")

# Option name -> takes a value?
_OPTIONS: dict[str, bool] = {
    "ar": True,
    "loop": False,
    "end": False,
    "reverse": False,
    "model": True,
    "res": True,
    "dur": True,
    "camera": True,
    "enhance": False,
}
VIDEO_OPTIONS = ("ar", "loop", "end", "model", "res", "dur", "camera", "enhance")
EXTEND_OPTIONS = ("ar", "loop", "reverse", "model", "res", "dur", "camera", "enhance")
# A generation id as the API returns it (the universal family appends ":luma/<model>").
_GENERATION_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?::[\w/.-]+)?$"
)


class VideoOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt: str
    aspect_ratio: AspectRatio | None = None  # None: not given, use the default
    loop: bool = False
    end: bool = False  # the photo is the last frame, not the first
    reverse: bool = False  # extend backwards: the new video leads into the original
    model: Model | None = None
    resolution: Resolution | None = None
    duration_seconds: DurationSeconds | None = None
    camera: str | None = None  # a key of CAMERA_MOVES
    enhance: bool = False  # the prompt helper rewrites the prompt before it is sent


class ParseError(Exception):
    """Bad input, and the refusal that explains it to the user."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.refusal = Refusal(key=key, values=values)

    @property
    def key(self) -> str:
        return self.refusal.key

    @property
    def values(self) -> dict[str, Any]:
        return self.refusal.values


def parse_video_args(
    raw: str,
    *,
    max_prompt_length: int,
    allowed: tuple[str, ...] = VIDEO_OPTIONS,
    prompt_required: bool = True,
) -> VideoOptions:
    """Split options from the prompt and validate both; raise ParseError on bad input.
    `prompt_required=False`: options alone are fine (a story's first line)."""
    tokens = list(_TOKEN.finditer(raw))
    ratios: list[AspectRatio] = []
    flags: set[str] = set()
    values: dict[str, str] = {}
    consumed: set[int] = set()
    index = 0
    while index < len(tokens):
        word = tokens[index].group()
        name, value = _option(word)
        if name is None:
            index += 1
            continue
        consumed.add(index)
        if name not in allowed:
            valid = ", ".join(f"--{option}" for option in allowed)
            raise ParseError("unknown_option", option=f"--{name}", valid=valid)
        if _OPTIONS[name] and value is None:
            if index + 1 >= len(tokens) or _option(tokens[index + 1].group())[0] is not None:
                raise ParseError("option_needs_value", option=f"--{name}")
            index += 1
            consumed.add(index)
            value = tokens[index].group()
        elif not _OPTIONS[name] and value is not None:
            raise ParseError("option_takes_no_value", option=f"--{name}")
        if name == "ar":
            ratios.append(_valid_ratio(value or ""))
        elif value is not None:
            values[name] = value
        else:
            flags.add(name)
        index += 1

    remaining = [i for i in range(len(tokens)) if i not in consumed]
    for edge in {remaining[0], remaining[-1]} if remaining else set():
        if (ratio := _known_ratio(tokens[edge].group())) is not None:
            ratios.append(ratio)
            consumed.add(edge)

    distinct = list(dict.fromkeys(ratios))
    if len(distinct) > 1:
        raise ParseError("conflicting_ratios", first=distinct[0], second=distinct[1])

    prompt = _without(raw, [tokens[i] for i in sorted(consumed)])
    if not prompt:
        if prompt_required:
            raise ParseError("usage")
    elif visible_length(prompt) < MIN_PROMPT_LENGTH:
        raise ParseError("prompt_too_short")
    camera = _valid_camera(values["camera"]) if "camera" in values else None
    # Families without camera concepts get the move's phrase in the prompt: it counts too.
    if (length := prompt_length(prompt_with_camera(prompt, camera))) > max_prompt_length:
        raise ParseError("prompt_too_long", length=length, limit=max_prompt_length)
    return VideoOptions(
        prompt=prompt,
        aspect_ratio=distinct[0] if distinct else None,
        loop="loop" in flags,
        end="end" in flags,
        reverse="reverse" in flags,
        model=_valid_model(values["model"]) if "model" in values else None,
        resolution=_valid_resolution(values["res"]) if "res" in values else None,
        duration_seconds=_valid_duration(values["dur"]) if "dur" in values else None,
        camera=camera,
        enhance="enhance" in flags,
    )


# /story: options on the first line, for every shot; a shot line may name its camera move.
STORY_OPTIONS = ("ar", "model", "res", "dur")
SHOT_OPTIONS = ("camera",)
# A line of dashes between shots is a cut (phones may turn "---" into one long dash).
_CUT = re.compile(r"^(?:-{3,}|[\u2013\u2014\u2012\u2015][-\u2013\u2014\u2012\u2015]*)$")
_SHOT_BREAK = re.compile(r"[\n|]")


class StoryOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    options: VideoOptions  # the first line's, for every shot
    shots: tuple[Shot, ...]


def parse_story(raw: str, *, max_prompt_length: int, max_shots: int) -> StoryOptions:
    """`/story [options]` then shots, one per line or separated by `|`; `---` between two
    shots is a cut. Raises ParseError on bad input."""
    first_line, _, rest = raw.partition("\n")
    options = parse_video_args(
        first_line,
        max_prompt_length=max_prompt_length,
        allowed=STORY_OPTIONS,
        prompt_required=False,
    )
    pieces = [piece.strip() for piece in _SHOT_BREAK.split(f"{options.prompt}\n{rest}")]
    shots: list[Shot] = []
    cut = False
    for piece in pieces:
        if _CUT.match(piece):
            cut = bool(shots)  # a cut before the first shot means nothing
            continue
        if not piece:
            continue
        shot = parse_video_args(piece, max_prompt_length=max_prompt_length, allowed=SHOT_OPTIONS)
        shots.append(Shot(prompt=shot.prompt, cut=cut, camera=shot.camera))
        cut = False
    if not shots:
        raise ParseError("story_usage")
    if len(shots) > max_shots:
        raise ParseError("story_too_many_shots", count=len(shots), limit=max_shots)
    return StoryOptions(options=options, shots=tuple(shots))


def visible_length(text: str) -> int:
    """Characters of `text` that show something: "\u200b\u200b\u200b" is three code points
    the API would accept (and charge for), but nothing anyone can see."""
    return sum(
        1
        for char in text
        if unicodedata.category(char) not in _UNSEEN_CATEGORIES and not _BLANK.match(char)
    )


def split_generation_id(raw: str) -> tuple[str | None, str]:
    """`/extend <generation id> <prompt>`: the id (if the first word is one) and the rest."""
    parts = raw.strip().split(maxsplit=1)
    if parts and _GENERATION_ID.match(parts[0]):
        return parts[0], parts[1] if len(parts) > 1 else ""
    return None, raw


def _option(word: str) -> tuple[str | None, str | None]:
    """('ar', '9:16') for '--ar=9:16', ('loop', None) for '—loop', (None, None) for text."""
    match = _DASHES.match(word)
    if not match:
        return None, None
    body = word[match.end() :]
    name, _, value = body.partition("=")
    return name.lower(), (value if "=" in body else None)


def _valid_ratio(value: str) -> AspectRatio:
    ratio = _known_ratio(value.strip().replace("x", ":").replace("×", ":"))
    if ratio is None:
        raise ParseError("invalid_ratio", value=value)
    return ratio


def _known_ratio(value: str) -> AspectRatio | None:
    return next((ratio for ratio in ASPECT_RATIOS if ratio == value), None)


def _valid_model(value: str) -> Model:
    # "luma/ray-2" is how AI/ML names it; "flash" is what people say.
    normalized = value.strip().lower().removeprefix("luma/")
    normalized = {"flash": "ray-flash-2", "ray2": "ray-2"}.get(normalized, normalized)
    if normalized not in MODELS:
        raise ParseError("invalid_model", value=value, valid=", ".join(MODELS))
    return normalized  # type: ignore[return-value]


def _valid_resolution(value: str) -> Resolution:
    normalized = value.strip().lower()
    normalized = normalized if normalized.endswith(("p", "k")) else f"{normalized}p"
    if normalized not in RESOLUTIONS:
        raise ParseError("invalid_resolution", value=value, valid=", ".join(RESOLUTIONS))
    return normalized  # type: ignore[return-value]


def _valid_duration(value: str) -> DurationSeconds:
    match = re.fullmatch(r"([0-9]{1,3})\s*(?:s|secs?|seconds?)?", value.strip().lower())
    if match is None or int(match.group(1)) not in DURATIONS:
        valid = ", ".join(f"{seconds}s" for seconds in DURATIONS)
        raise ParseError("invalid_duration", value=value, valid=valid)
    return int(match.group(1))  # type: ignore[return-value]


def _valid_camera(value: str) -> str:
    move = camera_move(value)
    if move is None:
        # The list is ours and longer than a user's value may be echoed: as it is, unescaped.
        raise ParseError("invalid_camera", value=value, valid=Html(", ".join(CAMERA_MOVES)))
    return move


def _without(raw: str, spans: list[re.Match[str]]) -> str:
    """The raw text minus the option tokens, keeping the user's line breaks."""
    pieces, cursor = [], 0
    for span in spans:
        pieces.append(raw[cursor : span.start()])
        cursor = span.end()
    pieces.append(raw[cursor:])
    text = "".join(pieces)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()
