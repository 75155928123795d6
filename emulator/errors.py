"""Error bodies: AIML style (contract doc §1.3, §1.4) and Luma's ``{"detail": ...}`` (§4.6).

Handlers raise :class:`ApiError`; the server picks an :class:`ErrorStyle` by the route's family,
so one error (e.g. an injected 503 or a 401) reads the way each API writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Protocol

from aiohttp import web

MSG_UNAUTHORIZED = (
    "This request requires a valid API key. "
    "You can create a new API key on the Billing page: https://aimlapi.com/app/keys"
)
MSG_NO_CREDITS = (
    "You've run out of credits. Please top up your balance or update your payment "
    "method to continue: https://aimlapi.com/app/billing/"
)
MSG_TOO_MANY = "Too Many Requests"
MSG_NOT_FOUND = "Generation not found"
MSG_BODY_INVALID = "Body validation error!"
MSG_QUERY_INVALID = "Query validation error!"
# Luma's create-time rule for extend/interpolate sources (§4.5), forwarded by AIML.
MSG_SOURCE_NOT_COMPLETED = (
    "Extend/Interpolate is currently supported only for generated videos. "
    "Please make sure the generation is in completed state before passing it"
)

# Messages AIML documents per status; used for injected faults and generic errors.
DEFAULT_MESSAGES: Mapping[int, str] = {
    400: "Bad request",
    401: MSG_UNAUTHORIZED,
    403: MSG_NO_CREDITS,
    404: "Not found",
    429: MSG_TOO_MANY,
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Generation timeout",
}


def default_message(status: int) -> str:
    return DEFAULT_MESSAGES.get(status, "Internal server error" if status >= 500 else "Error")


class ApiError(Exception):
    """Raised by handlers; the middleware renders it in the route family's error style."""

    def __init__(
        self, status: int, message: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        # None: the error style words it (AIML and Luma say 401 differently).
        self.given = message
        self.message = message or default_message(status)
        self.headers = dict(headers or {})
        super().__init__(f"{status}: {self.message}")

    @classmethod
    def body(cls, issues: Iterable[str]) -> ApiError:
        return cls(400, _with_details(MSG_BODY_INVALID, issues))

    @classmethod
    def query(cls, issues: Iterable[str]) -> ApiError:
        return cls(400, _with_details(MSG_QUERY_INVALID, issues))

    @classmethod
    def not_found(cls) -> ApiError:
        return cls(404, MSG_NOT_FOUND)


def _with_details(head: str, issues: Iterable[str]) -> str:
    details = "; ".join(issues)
    return f"{head} {details}" if details else head


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(status: int, message: str, path: str) -> dict[str, object]:
    # statusCode is a number (NestJS), although the doc example shows a string.
    return {
        "message": message,
        "path": path,
        "requestId": str(uuid.uuid4()),
        "statusCode": status,
        "timestamp": _timestamp(),
    }


def error_response(
    status: int, message: str, path: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        error_body(status, message, path), status=status, headers=dict(headers or {})
    )


# -- Luma direct: {"detail": "..."} (FastAPI style) ---------------------------------------------

LUMA_UNAUTHORIZED = "Invalid API key is provided"
# Luma's own wording for these is undocumented [inferred]; the rest use the HTTP reason phrase.
LUMA_MESSAGES: Mapping[int, str] = {
    401: LUMA_UNAUTHORIZED,
    403: "Insufficient credits",
}


def luma_message(status: int) -> str:
    if status in LUMA_MESSAGES:
        return LUMA_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Internal Server Error" if status >= 500 else "Error"


def detail_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response({"detail": message}, status=status, headers=dict(headers or {}))


# -- styles --------------------------------------------------------------------------------------


class ErrorStyle(Protocol):
    """How one family shapes errors: raised ApiErrors and router misses (404/405)."""

    def api_error(self, request: web.Request, exc: ApiError) -> web.Response: ...

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response: ...


class AimlErrors:
    def api_error(self, request: web.Request, exc: ApiError) -> web.Response:
        return error_response(exc.status, exc.message, request.path, exc.headers)

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status in (404, 405):
            # NestJS answers unknown routes (and wrong methods) with 404 "Cannot GET /path".
            message = f"Cannot {request.method} {request.path}"
            return error_response(404, message, request.path)
        return error_response(exc.status, exc.text or exc.reason, request.path)


class DetailErrors:
    def api_error(self, request: web.Request, exc: ApiError) -> web.Response:
        return detail_response(exc.status, exc.given or luma_message(exc.status), exc.headers)

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        # FastAPI/Starlette: 404 {"detail": "Not Found"}, 405 {"detail": "Method Not Allowed"}.
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return detail_response(exc.status, luma_message(exc.status), headers)


AIML_ERRORS: ErrorStyle = AimlErrors()
DETAIL_ERRORS: ErrorStyle = DetailErrors()
