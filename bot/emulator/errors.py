"""AIML-style error bodies (contract doc §1.3, §1.4)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

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
    """Raised by handlers; the middleware renders it as an AIML error body."""

    def __init__(
        self, status: int, message: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
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
