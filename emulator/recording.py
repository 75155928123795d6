"""Requests as the client sent them, recorded before auth and validation."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class RecordedRequest:
    method: str
    path: str
    # Every value per key, in arrival order: {"generation_ids[]": ["a", "b"]}.
    query: dict[str, list[str]]
    # Header names as the client spelled them; use header() for a case-insensitive lookup.
    headers: dict[str, str]
    body: str
    json: Any
    # Route family+operation, e.g. "create.aiml_v2.generation"; "" when no route matched.
    route: str = ""
    received_at: float = field(default_factory=time.time)
    # time.time() when the emulator answered; None while it still holds the request. With
    # received_at, how long a long poll or a delay fault held it, by the emulator's own clock.
    answered_at: float | None = None
    # The HTTP status answered; None while unanswered, or when no answer was sent (a dropped
    # connection) or the emulator failed.
    status: int | None = None

    @property
    def held(self) -> float | None:
        """Seconds between receiving and answering, or None while unanswered."""
        return None if self.answered_at is None else self.answered_at - self.received_at

    def header(self, name: str, default: str | None = None) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "json": self.json,
            "route": self.route,
            "received_at": self.received_at,
            "answered_at": self.answered_at,
            "status": self.status,
        }

    @classmethod
    async def from_request(cls, request: web.Request, route: str) -> RecordedRequest:
        body = await read_text(request)
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        return cls(
            method=request.method,
            path=request.path,
            query=query,
            headers=dict(request.headers.items()),
            body=body,
            json=_try_json(body),
            route=route,
        )


async def read_text(request: web.Request) -> str:
    """The raw body as text; undecodable bytes are replaced rather than rejected here."""
    # body_exists (not can_read_body): the bytes are cached after the first read.
    if not request.body_exists:
        return ""
    return (await request.read()).decode("utf-8", errors="replace")


def _try_json(body: str) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
