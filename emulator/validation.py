"""Validation helpers: JSON-schema-like checks with zod-style messages (AIML is NestJS + zod)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from multidict import MultiMapping
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from emulator.errors import ApiError
from emulator.recording import read_text

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"]
Resolution = Literal["540p", "720p", "1080p", "4k"]
WaitState = Literal["queued", "dreaming", "completed"]
WAIT_STATES: tuple[str, ...] = ("queued", "dreaming", "completed")
MIN_PROMPT_LENGTH = 3

_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# An absolute URI (RFC 3986: scheme ":" hier-part), like JSON-schema "format: uri".
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value))


def _check_uuid(value: str) -> str:
    if not is_uuid(value):
        raise ValueError("Invalid uuid")
    return value


def is_uri(value: str) -> bool:
    return bool(_URI_RE.match(value))


def _check_uri(value: str) -> str:
    if not is_uri(value):
        raise ValueError("Invalid url")
    return value


Uuid = Annotated[str, AfterValidator(_check_uuid)]
Uri = Annotated[str, AfterValidator(_check_uri)]


class StrictModel(BaseModel):
    """additionalProperties:false and no type coercion ("1" is not a number, 1 is not a bool)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LenientModel(BaseModel):
    """Unknown keys are ignored, as a FastAPI/pydantic server does by default; no coercion."""

    model_config = ConfigDict(extra="ignore", strict=True)


def reject_null(value: Any) -> Any:
    """For optional-but-not-nullable fields: absent is fine, an explicit null is not."""
    if value is None:
        raise ValueError("Expected a value, received null")
    return value


# -- body parsing -------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


async def parse_body(
    request: web.Request,
    model: type[M],
    invalid: Callable[[list[str]], ApiError] = ApiError.body,
) -> tuple[M, dict[str, Any]]:
    """Validate the JSON body against ``model``; return it and the raw dict (for echoing).

    ``invalid`` turns the issues into the family's 400 (AIML: "Body validation error! ...").
    """
    if request.content_type != "application/json":
        # Express-style parsers leave non-JSON bodies unparsed; say why instead of "Required".
        raise invalid([f"Expected Content-Type application/json, got {request.content_type!r}"])
    raw = await read_text(request)
    try:
        parsed = model.model_validate_json(raw or "null")
    except ValidationError as exc:
        raise invalid(format_errors(exc)) from None
    return parsed, json.loads(raw)


_TYPE_NAMES = {
    "string_type": "string",
    "bool_type": "boolean",
    "int_type": "number",
    "float_type": "number",
    "model_type": "object",
    "dict_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
}
_TAGS = {"generation", "image"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _loc(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        # Discriminated unions insert the tag ("generation"/"image") into the location.
        if parts and parts[-1] in ("frame0", "frame1") and item in _TAGS:
            continue
        parts.append(str(item))
    return ".".join(parts)


def format_errors(exc: ValidationError) -> list[str]:
    """Turn pydantic errors into zod-like issue strings: ``path: message``."""
    issues: list[str] = []
    for err in exc.errors(include_url=False):
        kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
        ctx = err.get("ctx") or {}
        if kind == "json_invalid":
            issues.append(f"Invalid JSON: {ctx.get('error', 'malformed body')}")
            continue
        if kind == "extra_forbidden":
            issues.append(_prefixed(loc[:-1], f"Unrecognized key(s) in object: '{loc[-1]}'"))
            continue
        if kind == "missing":
            message = "Required"
        elif kind == "literal_error":
            expected = _alternatives(ctx.get("expected", ""))
            message = f"Invalid enum value. Expected {expected}, received {_show(value)}"
        elif kind == "union_tag_invalid":
            expected = _alternatives(ctx.get("expected_tags", ""))
            message = f"Invalid discriminator value. Expected {expected}"
        elif kind == "union_tag_not_found":
            message = "type: Required"
        elif kind in _TYPE_NAMES:
            message = f"Expected {_TYPE_NAMES[kind]}, received {_json_type(value)}"
        elif kind == "value_error":
            message = str(ctx.get("error", err["msg"]))
        else:
            message = err["msg"]
        issues.append(_prefixed(loc, message))
    return issues


def _alternatives(pydantic_list: object) -> str:
    """Pydantic's "'a', 'b' or 'c'" -> zod's "'a' | 'b' | 'c'"."""
    return str(pydantic_list).replace(" or ", " | ").replace(", ", " | ")


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else _json_type(value)


def _prefixed(loc: Sequence[int | str], message: str) -> str:
    path = _loc(loc)
    return f"{path}: {message}" if path else message


def prompt_problem(prompt: str, max_length: int) -> str | None:
    """Luma's create-time prompt length rules (§4.6), with the family's cap."""
    if len(prompt) < MIN_PROMPT_LENGTH:
        return f"Prompt is too short, minimum length is {MIN_PROMPT_LENGTH} characters"
    if len(prompt) > max_length:
        return f"Prompt is too long, maximum length is {max_length} characters"
    return None


def check_prompt(field: str, prompt: str, max_length: int) -> list[str]:
    """:func:`prompt_problem` as a zod-style issue list (AIML's cap is lower than Luma's)."""
    problem = prompt_problem(prompt, max_length)
    return [f"{field}: {problem}"] if problem else []


# -- query parsing (qs semantics) -----------------------------------------------------------


def _array_key(key: str, name: str) -> tuple[bool, int | None] | None:
    """Classify ``key`` as a form of ``name``: (is_array_form, index) or None if unrelated."""
    if key == name:
        return (False, None)
    if key == f"{name}[]":
        return (True, None)
    match = re.fullmatch(re.escape(name) + r"\[(\d+)\]", key)
    if match:
        return (True, int(match.group(1)))
    return None


def is_param_form(key: str, name: str) -> bool:
    """True for ``name``, ``name[]`` and ``name[N]``."""
    return _array_key(key, name) is not None


def query_id_list(query: MultiMapping[str], name: str) -> list[str] | None:
    """Read an "array of uuid or comma-separated string" param the way ``qs`` would.

    Accepts ``name[]=a&name[]=b``, ``name[0]=a&name[1]=b``, repeated ``name=a&name=b`` and
    ``name=a,b``. Only a single plain value is split on commas (that is the string variant);
    array elements are taken as they are. None when the parameter is absent.
    """
    indexed: list[tuple[int, str]] = []
    plain: list[str] = []
    array_form = False
    for key, value in query.items():
        form = _array_key(key, name)
        if form is None:
            continue
        is_array, index = form
        array_form = array_form or is_array
        if index is not None:
            indexed.append((index, value))
        else:
            plain.append(value)
    if not indexed and not plain:
        return None
    values = [v for _, v in sorted(indexed, key=lambda item: item[0])] + plain
    if not array_form and len(values) == 1:
        return [part.strip() for part in values[0].split(",")]
    return values


def check_ids(name: str, ids: list[str] | None, max_items: int | None) -> list[str]:
    if ids is None:
        return [f"{name}: Required"]
    if max_items is not None and len(ids) > max_items:
        return [f"{name}: Array must contain at most {max_items} element(s)"]
    return [f"{name}[{i}]: Invalid uuid" for i, value in enumerate(ids) if not is_uuid(value)]


def check_wait_param(query: MultiMapping[str], name: str) -> tuple[str | None, list[str]]:
    """Validate an optional wait param (enum queued|dreaming|completed)."""
    values = query.getall(name, [])
    if not values:
        return None, []
    if len(values) > 1:
        return None, [f"{name}: Expected string, received array"]
    value = values[0]
    if value not in WAIT_STATES:
        expected = " | ".join(f"'{s}'" for s in WAIT_STATES)
        return None, [f"{name}: Invalid enum value. Expected {expected}, received '{value}'"]
    return value, []


def unexpected_keys(keys: Iterable[str], allowed: Iterable[str]) -> list[str]:
    allowed_set = set(allowed)
    extra = sorted({k for k in keys if k not in allowed_set})
    return [f"Unrecognized key(s) in object: {', '.join(repr(k) for k in extra)}"] if extra else []
