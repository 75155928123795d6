"""Files for the chat page: what the fake Bot API holds, served by ``file_id`` with HTTP Range
(a ``<video>`` seeks with ranges, and Safari plays nothing without them), and the checks on a
photo the page uploads.
"""

from __future__ import annotations

import re

from aiohttp import web

from playground.bot_api.thumbnails import jpeg_size
from playground.fake_telegram import FakeTelegram, StoredFile

# Telegram's limit for a photo a user sends.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
_TYPES = {"video": "video/mp4", "photo": "image/jpeg"}
_SHOWN = frozenset({"video/mp4", "video/webm", "video/quicktime", "image/jpeg", "image/png"})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def serve_file(request: web.Request, tg: FakeTelegram) -> web.Response:
    """``GET /api/files/{file_id}``: the bytes the fake keeps for that file, whole or the one
    range asked for (206; 416 when it starts past the end)."""
    stored = tg.file(request.match_info["file_id"])
    if stored is None or stored.data is None:
        raise web.HTTPNotFound(text="no such file")
    data = stored.data
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    if stored.kind == "document":
        name = _SAFE_NAME.sub("_", stored.file_name or "file").strip() or "file"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    content_type = _content_type(stored)
    try:
        wanted = request.http_range
    except ValueError:
        wanted = slice(None)  # a Range we cannot read is ignored, as RFC 9110 allows
    if wanted.start is None and wanted.stop is None:
        return web.Response(body=data, content_type=content_type, headers=headers)
    start, stop, _ = wanted.indices(len(data))
    if (wanted.start is not None and wanted.start >= len(data)) or start >= stop:
        headers["Content-Range"] = f"bytes */{len(data)}"
        raise web.HTTPRequestRangeNotSatisfiable(headers=headers)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
    return web.Response(
        status=206, body=data[start:stop], content_type=content_type, headers=headers
    )


def _content_type(stored: StoredFile) -> str:
    """Pictures and videos as what they are; anything else (documents, or a type that could run
    as a page of this origin) only as bytes to download."""
    mime = (stored.mime_type or _TYPES.get(stored.kind) or "").lower()
    if stored.kind != "document" and mime in _SHOWN:
        return mime
    return "application/octet-stream"


def photo_problem(data: bytes) -> str | None:
    """Why an uploaded photo can't be sent (the page turns every picture into a JPEG first, as
    Telegram's apps do), or None."""
    if not data:
        return "empty_photo"
    if len(data) > MAX_PHOTO_BYTES:
        return "photo_too_big"
    if jpeg_size(data) is None:
        return "photo_not_jpeg"
    return None


def photo_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height of a JPEG that ``photo_problem`` accepted."""
    size = jpeg_size(data)
    if size is None:
        raise ValueError("not a JPEG")
    return size
