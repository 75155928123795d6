"""Image keyframes are fetched like Luma's servers do (contract doc §5.1, §7.6).

Luma downloads every image URL it is given; when it cannot (unreachable host, 404, an HTML page,
not an image) the generation fails with ``"400: failed to moderate image"``. The emulator does
the same, so tests prove that the URLs a client hands over really serve the picture. Every
fetch is recorded as an :class:`ImageFetch` on ``Emulator.image_fetches``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger("emulator")

# Real fetchers are stateless and anonymous: no cookies kept, no credentials sent.
USER_AGENT = "luma-video-emulator/1.0 (image keyframe fetch)"
# More than any image the bot can get from Telegram (20 MB download cap); guards memory.
MAX_IMAGE_BYTES = 25 * 1024 * 1024
_CHUNK = 64 * 1024
NOT_AN_IMAGE = "body is not a JPEG, PNG or WEBP image"


def sniff_image(data: bytes) -> str | None:
    """``"jpeg"``, ``"png"`` or ``"webp"`` from the magic bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_inline(source: str) -> tuple[str | None, bytes, str | None] | None:
    """(content type, bytes, error) for an image given inline, or None for a URL to GET.

    The universal endpoint takes "a Base64-encoded local image" where a URL would go: either a
    ``data:<mime>;base64,...`` URI or a bare base64 string (no ``:`` in it). Neither can be
    fetched, so they are decoded here and judged like a download.
    """
    if source[:5].lower() == "data:":
        header, comma, data = source[5:].partition(",")
        mime, _, params = header.partition(";")
        if not comma or "base64" not in params.lower().split(";"):
            return mime or None, b"", "data URI is not base64-encoded"
        content_type: str | None = mime or None
    elif ":" not in source:
        content_type, data = None, source
    else:
        return None
    try:
        body = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return content_type, b"", "invalid base64"
    if content_type is None:
        # A bare string carries no type: take it from the bytes.
        kind = sniff_image(body)
        if kind is None:
            return None, body, NOT_AN_IMAGE
        content_type = f"image/{kind}"
    return content_type, body, None


@dataclass(frozen=True)
class ImageFetch:
    """One GET of an image keyframe URL, as the emulator performed it.

    ``status``/``content_type`` are None when no response arrived (connection error, timeout);
    ``content_type`` is the raw header value. Inline (base64) images are decoded, not fetched:
    their ``status`` is None and ``content_type`` the data URI's (or sniffed) type. ``body``
    holds the bytes read (also for error statuses). ``error`` says why the fetch counts as
    failed; None when ``ok``.
    """

    generation_id: str
    url: str
    status: int | None
    content_type: str | None
    body: bytes
    ok: bool
    error: str | None
    fetched_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON view for the admin route (the body as its size only)."""
        return {
            "generation_id": self.generation_id,
            "url": self.url,
            "status": self.status,
            "content_type": self.content_type,
            "body_size": len(self.body),
            "ok": self.ok,
            "error": self.error,
            "fetched_at": self.fetched_at,
        }


def _verdict(status: int, content_type: str | None, body: bytes) -> str | None:
    """Why a completed response is not a usable image, or None when it is."""
    if not 200 <= status <= 299:
        return f"HTTP {status}"
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if not mime.startswith("image/"):
        return f"Content-Type {content_type!r} is not image/*"
    if not body:
        return "empty body"
    if sniff_image(body) is None:
        return NOT_AN_IMAGE
    return None


def outbound_session(user_agent: str) -> aiohttp.ClientSession:
    """A session for the emulator's own requests (image fetches, callbacks): no cookies, and no
    session-wide deadline, since each request is bounded with asyncio.timeout by its caller."""
    return aiohttp.ClientSession(
        headers={"User-Agent": user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
    )


class ImageFetcher:
    """Owns one aiohttp ClientSession (created on first use, closed by :meth:`close`)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = outbound_session(USER_AGENT)
        return self._session

    async def fetch(self, generation_id: str, url: str, timeout: float) -> ImageFetch:  # noqa: ASYNC109
        """GET ``url`` (redirects followed) and judge the answer; never raises (but cancels)."""
        status: int | None = None
        content_type: str | None = None
        body = b""
        error: str | None
        inline = decode_inline(url)
        if inline is not None:
            content_type, body, error = inline
            error = error or _verdict(200, content_type, body)
        elif self._closed:
            error = "emulator is shutting down"
        else:
            try:
                # asyncio.timeout rather than wait_for: 3.11's wait_for can swallow a cancel.
                async with asyncio.timeout(timeout):
                    async with self._client().get(url, allow_redirects=True) as resp:
                        status = resp.status
                        content_type = resp.headers.get("Content-Type")
                        body, too_big = await _read_capped(resp)
                error = "body larger than the size cap" if too_big else None
                error = error or _verdict(status, content_type, body)
            except TimeoutError:
                error = f"timed out after {timeout:g}s"
            except (aiohttp.ClientError, ValueError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        fetch = ImageFetch(generation_id, url, status, content_type, body, error is None, error)
        log.info(
            "image fetch for %s: %.120s -> %s%s",
            generation_id,
            url,
            status if status is not None else "no response",
            f" (failed: {error})" if error else " ok",
        )
        return fetch

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_capped(resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > MAX_IMAGE_BYTES:
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False
