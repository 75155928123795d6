"""The ``/files/`` route: a completed generation's video (``<stem>.mp4``) and thumbnail
(``<stem>.jpg``), streamed like a storage server does.

- The body goes out in 256 KB writes (``web.StreamResponse``), each awaited until the socket
  takes it, so a slow reader slows the emulator down instead of filling its memory.
- ``Content-Length`` and ``Accept-Ranges: bytes``. ``download_length=False``: no length, chunked
  transfer instead. ``download_ranges=False``: ``Accept-Ranges: none`` and Range is ignored.
- One ``Range`` is honoured (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``): 206 with
  ``Content-Range: bytes a-b/total``. A range starting past the end (or ``bytes=-0``): 416 with
  ``Content-Range: bytes */total``. A malformed header or several ranges: ignored (200, the
  whole file), as servers commonly do.
- A ``truncate`` fault (``Fault(route="download", kind="truncate", after_bytes=N)``): the
  headers as usual (the full Content-Length of the answer included), N bytes of the body, then
  the connection closes. N at or past the end: the whole body, then the connection closes.
- Accounting on the Emulator: ``bytes_served`` (body bytes written, every request: whole, ranged
  or cut off) and ``downloads`` (GET requests answered 200/206 with a file, cut-off ones
  included). Faults answered instead of the file (status, drop, redirect, body) count in
  neither; nor do HEAD requests (headers only) or 416s.

The video's size follows the config at each request: ``video_sizes[gen.resolution]``, else
``video_size``, else the sample as it is (see ``assets.video_bytes``). With ``config.clips``
the video is the generation's own clip (see ``clips.py``), made on first download in a thread,
and padded the same way when the size leaves room for it (a bigger clip is served as it is).
"""

from __future__ import annotations

import logging
import re

from aiohttp import hdrs, web

from emulator.assets import IMAGE_FILE, sample_bytes, video_bytes
from emulator.core import emulator_of
from emulator.errors import ApiError
from emulator.state import State

log = logging.getLogger("emulator")

CHUNK = 256 * 1024
# Set by the pipeline when a truncate fault fires for this request: how many body bytes to send.
TRUNCATE_AFTER = web.RequestKey("emulator_truncate_after", int)
_MEDIA = {".mp4": "video/mp4", ".jpg": "image/jpeg"}
_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The Range starts past the end of the file (416)."""


def byte_range(header: str | None, total: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of a single ``Range`` over ``total`` bytes.

    None: no header, or one to ignore (malformed, several ranges, first > last). Raises
    RangeNotSatisfiable for a range that starts at or past the end, or a ``bytes=-0``.
    """
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # the last n bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(0, total - suffix), total
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= total:
        raise RangeNotSatisfiable
    end = total if not last else min(int(last) + 1, total)
    return start, end


async def serve_file(request: web.Request) -> web.StreamResponse:
    """GET (and HEAD) ``/files/<stem>.mp4|.jpg`` of a completed generation; otherwise 404."""
    emu = emulator_of(request)
    config = emu.config
    stem, dot, ext = request.match_info["name"].rpartition(".")
    content_type = _MEDIA.get(f"{dot}{ext}".lower())
    gen = emu.store.by_file_stem(stem) if content_type else None
    if content_type is None or gen is None or gen.state is not State.COMPLETED:
        raise ApiError(404, "File not found")
    if content_type == "video/mp4" and config.clips and gen.clip is not None:
        try:
            data = await emu.clips.video(gen.clip, config.video_size_for(gen.resolution))
        except RuntimeError as exc:
            log.error("no clip for %s: %s", gen.id, exc)
            raise ApiError(500, "Could not make the clip") from None
    elif content_type == "video/mp4":
        data = video_bytes(config.video_size_for(gen.resolution))
    else:
        data = sample_bytes(IMAGE_FILE)
    total = len(data)
    span = None
    if config.download_ranges:
        try:
            span = byte_range(request.headers.get(hdrs.RANGE), total)
        except RangeNotSatisfiable:
            return web.Response(
                status=416,
                headers={hdrs.CONTENT_RANGE: f"bytes */{total}", hdrs.ACCEPT_RANGES: "bytes"},
            )
    start, end = span or (0, total)
    response = web.StreamResponse(status=200 if span is None else 206)
    response.content_type = content_type
    response.headers[hdrs.ACCEPT_RANGES] = "bytes" if config.download_ranges else "none"
    if span is not None:
        response.headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{end - 1}/{total}"
    if config.download_length:
        response.content_length = end - start
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    if request.method == hdrs.METH_HEAD:
        return response
    emu.downloads += 1
    cut = request.get(TRUNCATE_AFTER)
    stop = end if cut is None else min(end, start + cut)
    view = memoryview(data)
    try:
        if cut is not None:
            await response.write(b"")  # the headers go out even when no body byte follows
        for pos in range(start, stop, CHUNK):
            chunk = view[pos : min(pos + CHUNK, stop)]
            await response.write(chunk)
            emu.bytes_served += len(chunk)
    except ConnectionError:
        # The client left (e.g. it stopped reading at its own size limit): counted so far.
        log.info("download of %s ended by the client", request.path)
        return response
    if cut is not None:
        log.info("fault: cutting %s off after %d body bytes", request.path, stop - start)
        request.protocol.force_close()  # flushes what was written, then closes
        return response
    await response.write_eof()
    return response
