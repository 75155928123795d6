"""Reading what a stranger sends: a body up to its route's limit, and JSON that cannot raise."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request's body; 413 as soon as it is declared or sent longer than `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return bytes(body)


def json_or_none(body: bytes) -> Any:
    """`body` as JSON, or None if it is not JSON or nests too deep for the parser."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None
