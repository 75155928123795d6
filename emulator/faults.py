"""One-shot fault injection (contract doc §7.10): error statuses, dropped connections, delays,
and answers that are not what was asked for (a redirect elsewhere, another body)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, get_args

# Which requests a fault applies to. "create"/"fetch" are the contract routes of every family,
# "download" is /files/, "delete" only Luma's DELETE of a generation (a "fetch" route too: a
# fetch fault hits it as well), "upscale" and "audio" only Luma's POST /generations/{id}/upscale
# and /audio (both "create" routes too), "chat" the chat completions, "any" is every non-admin
# request.
FaultRoute = Literal["create", "fetch", "download", "delete", "upscale", "audio", "chat", "any"]
# Fault routes that name one operation of a wider route kind.
_OPERATION_ROUTES = frozenset({"delete", "upscale", "audio"})
FaultKind = Literal["status", "drop", "delay", "redirect", "body", "truncate"]


@dataclass
class Fault:
    """The next ``count`` matching requests answer with ``status``, are dropped, delayed,
    redirected (302 to ``location``), answered 200 with ``body`` as ``content_type``, or (a
    download only) cut off after ``after_bytes`` of the body.

    A result URL that redirects to a text page: ``kind="redirect", location=".../page"``; a chain
    of redirects: ``location`` pointing back at the same route, with ``count`` hops; a result
    that is something else: ``kind="body", body=b"...", content_type="video/mp4"``; a download
    that breaks mid-way: ``route="download", kind="truncate", after_bytes=1_000_000`` (the headers
    as usual, full Content-Length included, then that many body bytes, then the connection
    closes)."""

    route: FaultRoute = "any"
    status: int | None = None
    kind: FaultKind | None = None
    count: int = 1
    retry_after: float | None = None
    seconds: float = 0.0
    message: str | None = None
    location: str | None = None
    body: str | bytes | None = None
    content_type: str = "text/plain"
    after_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.route not in get_args(FaultRoute):
            raise ValueError(f"route must be one of {get_args(FaultRoute)}, got {self.route!r}")
        if self.kind is None:
            # inject_fault(status=503) needs no explicit kind.
            self.kind = "status"
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"kind must be one of {get_args(FaultKind)}, got {self.kind!r}")
        if self.kind == "status" and (self.status is None or not 400 <= self.status <= 599):
            raise ValueError("a status fault needs status between 400 and 599")
        if self.kind == "delay" and self.seconds <= 0:
            raise ValueError("a delay fault needs seconds > 0")
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")
        if self.kind == "body" and self.body is None:
            raise ValueError("a body fault needs a body")
        if self.kind == "truncate":
            if self.route != "download":
                raise ValueError("a truncate fault applies to downloads only: route='download'")
            if (
                isinstance(self.after_bytes, bool)
                or not isinstance(self.after_bytes, int)
                or self.after_bytes < 0
            ):
                raise ValueError("a truncate fault needs after_bytes, a whole number >= 0")
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")

    def matches(self, route_kind: str, operation: str = "") -> bool:
        return self.route in ("any", route_kind) or (
            self.route in _OPERATION_ROUTES and self.route == operation
        )

    def retry_after_header(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": f"{self.retry_after:g}"}

    def to_dict(self) -> dict[str, object]:
        return {
            "route": self.route,
            "kind": self.kind,
            "status": self.status,
            "count": self.count,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
            "message": self.message,
            "location": self.location,
            "body": self.body if not isinstance(self.body, bytes) else f"<{len(self.body)} bytes>",
            "content_type": self.content_type,
            "after_bytes": self.after_bytes,
        }


class FaultQueue:
    """Faults in injection order; the first matching one is consumed per request."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.pending.append(fault)
        return fault

    def take(self, route_kind: str, operation: str = "") -> Fault | None:
        for fault in self.pending:
            if fault.matches(route_kind, operation):
                fault.count -= 1
                if fault.count == 0:
                    self.pending.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.pending.clear()


def random_fault(rates: dict[int, float], rng: random.Random, route_kind: str) -> Fault | None:
    """A one-off status fault drawn from ``rates`` (status -> probability), or None."""
    draw, cumulative = rng.random(), 0.0
    for status, rate in sorted(rates.items()):
        cumulative += rate
        if draw < cumulative:
            retry_after = 1.0 if status == 429 else None
            return Fault(route="any", status=status, retry_after=retry_after)
    return None
