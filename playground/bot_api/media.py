"""Media and files: ``sendVideo``, ``sendDocument``, ``sendPhoto``, ``editMessageMedia`` (also a
text message turned into a video), ``getFile``; uploads (50 MB -> 413), ``attach://`` parts, URLs
and known file ids; downloads over 20 MB refused.

Media given as an http(s) URL is fetched, as Telegram does (``fetch_urls=True``, the default):
a GET that follows up to 5 redirects, within ``url_fetch_timeout`` (10 s) for the whole of it,
reading at most ``url_download_limit`` bytes (20 MB, Telegram's limit for files sent by URL;
reading stops just past it). The answers are Telegram's:

- unreachable, a non-2xx status, too many redirects, a timeout, an empty body, over the limit
  (by ``Content-Length`` or by what arrived), a body cut off: 400 "Bad Request: failed to get
  HTTP URL content"
- a ``text/html`` page (by ``Content-Type``) for a video or a photo: 400 "Bad Request: wrong type
  of the web page content"
- otherwise the file is stored with the fetched bytes (``StoredFile.data``; its MIME type from the
  answer's ``Content-Type``, or guessed from the URL), so ``getFile``, the file route and the
  test's inspection see what Telegram got. A video's width/height/duration are the call's
  parameters, as for an upload; a photo gets its PhotoSizes as for an upload.

An uploaded or fetched video whose bytes look like an MP4 (an ``ftyp`` box at bytes 4..8) is
answered with a ``thumbnail`` (and the old name ``thumb``), as Telegram does: a PhotoSize at most
320 px on the long side, sized from the call's ``width``/``height`` (320 x 180 without them),
whose JPEG (the first frame; solid grey if FFmpeg cannot decode the video) is made at the first
``getFile`` of it, never at send time (``bot_api/thumbnails.py``). A thumbnail the bot uploads
(``thumbnail``, a JPEG of at most 200 kB and 320 px a side) is used instead; Telegram ignores
others. The video sent again by file_id keeps its thumbnail. Documents get none.

Only this machine is reached: a URL (or a redirect) to any host but ``localhost`` or a loopback
address fails like an unreachable one, without a connection (``error="not a local address"``).
Every fetch is recorded in ``url_fetches`` (``UrlFetch``); its body bytes count in
``bytes_fetched``. ``fetch_urls=False``: URL media are only recorded (``StoredFile.data`` None).
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import mimetypes
import re
import time
from typing import Any

import aiohttp
from aiohttp import hdrs
from yarl import URL

from playground.bot_api.messages import MessageMethods
from playground.bot_api.protocol import (
    _MEDIA_KEYS,
    _NOT_MODIFIED,
    _URL_FAILED,
    _URL_WRONG_TYPE,
    _WRONG_FILE,
    ApiError,
    _as_int,
    _bad,
)
from playground.bot_api.records import StoredFile, UrlFetch, _Upload
from playground.bot_api.thumbnails import (
    MAX_GIVEN_BYTES,
    THUMBNAIL_SIDE,
    jpeg_size,
    looks_like_mp4,
    render_thumbnail,
    size_budget,
    thumbnail_size,
)

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 256 * 1024
# Where a web page is refused (Telegram: "wrong type of the web page content").
_NOT_A_PAGE = frozenset({"video", "photo"})


def _is_local(url: URL) -> bool:
    """True for ``localhost`` and loopback addresses: the only hosts the fake fetches from."""
    host = (url.host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Received:
    """What a URL answered so far: the last status and content type, and the body bytes
    (always counted, kept only when asked to)."""

    def __init__(self, keep: bool) -> None:
        self.keep, self.count, self.data = keep, 0, bytearray()
        self.status: int | None = None
        self.content_type: str | None = None

    def add(self, chunk: bytes) -> None:
        self.count += len(chunk)
        if self.keep:
            self.data += chunk


class _Refused(Exception):
    """Why a fetched URL can't be used: the description and the recorded error."""

    def __init__(self, description: str, error: str) -> None:
        super().__init__(error)
        self.description, self.error = description, error


class MediaMethods(MessageMethods):
    """The media methods, and files a test registers (``add_file``) or looks at (``file``)."""

    async def _m_sendVideo(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, new = await self._media(p, uploads, "video", "video")
        given = self._upload_of(p.get("thumbnail"), uploads, "thumbnail")
        video = self._video_json(stored, new, p, given)
        return self._send(p, {"video": video, **caption})

    async def _m_sendDocument(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, _ = await self._media(p, uploads, "document", "document")
        return self._send(p, {"document": self._file_json(stored), **caption})

    async def _m_sendPhoto(self, p: dict, uploads: dict) -> dict:
        self._chat(p["chat_id"])
        caption = self._caption(p)
        stored, new = await self._media(p, uploads, "photo", "photo")
        if new and stored.size is not None:  # a fresh upload or fetch: Telegram builds the sizes
            del self._files[stored.file_id]
            sizes = self._photo_sizes(stored.data, 1280, 720, size=stored.size)
        else:
            stored.meta.setdefault("width", 1280)
            stored.meta.setdefault("height", 720)
            sizes = [self._file_json(stored, "width", "height")]
        for size in sizes:
            size.pop("mime_type", None)
            size.pop("file_name", None)
        return self._send(p, {"photo": sizes, **caption})

    async def _m_editMessageMedia(self, p: dict, uploads: dict) -> dict:
        """Replace a message's media, or add media to a text message (Bot API 7.x+)."""
        stored = self._editable(p, "edit")
        media = p["media"]
        if not isinstance(media, dict) or "media" not in media:
            raise _bad("can't parse InputMedia: Media is not specified")
        kind = media.get("type")
        if kind not in ("photo", "video", "document"):
            raise _bad("can't parse InputMedia: unsupported media type")
        caption = self._caption(media)
        file, fresh = await self._media({"file": media["media"]}, uploads, "file", kind)
        if kind == "video":
            given = self._upload_of(media.get("thumbnail"), uploads, None)
            content: dict[str, Any] = {"video": self._video_json(file, fresh, media, given)}
        elif kind == "photo":
            file.meta.setdefault("width", 1280)
            file.meta.setdefault("height", 720)
            size = self._file_json(file, "width", "height")
            size.pop("mime_type", None)
            size.pop("file_name", None)
            content = {"photo": [size]}
        else:
            content = {"document": self._file_json(file)}
        markup = self._markup(p, stored["chat"])
        old = {k: stored.get(k) for k in (*content, "caption", "caption_entities", "reply_markup")}
        new = {**content, "caption": caption.get("caption"), "reply_markup": markup}
        new["caption_entities"] = caption.get("caption_entities")
        if old == new:
            raise _bad(_NOT_MODIFIED)
        for key in ("text", "entities", "link_preview_options", *_MEDIA_KEYS):
            stored.pop(key, None)
        for key, value in new.items():
            self._set_or_drop(stored, key, value)
        stored["edit_date"] = int(time.time())
        return copy.deepcopy(stored)

    async def _m_getFile(self, p: dict, uploads: dict) -> dict:
        stored = self._files.get(str(p["file_id"]))
        if stored is None:
            raise _bad("invalid file_id")
        await self._make_thumbnail(stored)
        if stored.size is not None and stored.size > self.download_limit:
            raise _bad("file is too big")
        if stored.dropped:
            raise _bad("the fake kept no bytes of this file (keep_uploads=False)")
        if stored.data is not None and stored.file_path is None:
            ext = mimetypes.guess_extension(stored.mime_type or "") or ".bin"
            if stored.file_name and "." in stored.file_name:
                ext = "." + stored.file_name.rsplit(".", 1)[1]
            folder = {"photo": "photos", "video": "videos"}.get(stored.kind, "documents")
            stored.file_path = f"{folder}/file_{next(self._seq)}{ext}"
            self._paths[stored.file_path] = stored
        out: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            out.update(file_size=stored.size, file_path=stored.file_path)
        return out

    def _video_json(
        self, stored: StoredFile, new: bool, p: dict, given: _Upload | None
    ) -> dict[str, Any]:
        """The Video object of a sent video: width/height/duration from the call (``p``: the
        method's parameters or the InputMediaVideo), and its thumbnail."""
        for key in ("width", "height", "duration"):
            if p.get(key) is not None:
                stored.meta[key] = _as_int(p[key], key)
            stored.meta.setdefault(key, 0)
        stored.mime_type = stored.mime_type or "video/mp4"
        if new:
            stored.thumbnail = self._thumbnail_of(stored, given)
        video = self._file_json(stored, "width", "height", "duration")
        if stored.thumbnail is not None:
            # Telegram still sends the pre-6.6 name "thumb" beside "thumbnail" (PTB drops it).
            video["thumbnail"], video["thumb"] = dict(stored.thumbnail), dict(stored.thumbnail)
        return video

    def _thumbnail_of(self, video: StoredFile, given: _Upload | None) -> dict[str, Any] | None:
        """The PhotoSize Telegram answers for a new video: the bot's own thumbnail when Telegram
        takes it (a JPEG of at most 200 kB and 320 px a side; anything else is ignored, without
        an error), else for an MP4 one of its first frame, made at the first getFile."""
        sides = jpeg_size(given.data) if given is not None else None
        if given is not None and sides is not None and len(given.data) <= MAX_GIVEN_BYTES:
            if max(sides) <= THUMBNAIL_SIDE:
                thumb = self._register(given.data, "photo", mime_type="image/jpeg")
                return self._photo_size(thumb, *sides)
        if not looks_like_mp4(video.head):
            return None
        width, height = thumbnail_size(video.meta["width"], video.meta["height"])
        thumb = self._register(None, "photo", mime_type="image/jpeg")
        thumb.size = size_budget(width, height)
        self._thumbnail_sources[thumb.file_id] = video
        return self._photo_size(thumb, width, height)

    @staticmethod
    def _photo_size(stored: StoredFile, width: int, height: int) -> dict[str, Any]:
        stored.meta = {"width": width, "height": height}
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "width": width,
            "height": height,
        }

    async def _make_thumbnail(self, stored: StoredFile) -> None:
        """Give a video thumbnail its bytes, if they are not made yet (one at a time)."""
        async with self._thumbnail_lock:
            video = self._thumbnail_sources.pop(stored.file_id, None)
            if video is None or stored.size is None:
                return
            try:
                stored.data = await render_thumbnail(
                    video.data, stored.meta["width"], stored.meta["height"], stored.size
                )
            except BaseException:
                self._thumbnail_sources[stored.file_id] = video  # try again at the next getFile
                raise

    @staticmethod
    def _upload_of(ref: Any, uploads: dict[str, _Upload], part: str | None) -> _Upload | None:
        """The thumbnail a call uploads: an ``attach://`` part, or the part named ``part``.
        Telegram takes no thumbnail by file_id or URL ("Thumbnails can't be reused")."""
        if isinstance(ref, str) and ref.startswith("attach://"):
            return uploads.get(ref[len("attach://") :])
        return uploads.get(part) if ref is None and part else None

    async def _media(
        self, p: dict, uploads: dict[str, _Upload], name: str, kind: str
    ) -> tuple[StoredFile, bool]:
        """Resolve an upload, an ``attach://`` part, a URL or a known file_id -> (file, new?)."""
        ref = p.get(name)
        upload = uploads.get(name)
        if isinstance(ref, str) and ref.startswith("attach://"):
            upload = uploads.get(ref[len("attach://") :])
            if upload is None:
                raise _bad(_WRONG_FILE)
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            if len(upload.data) > self.upload_limit:
                raise ApiError(413, "Request Entity Too Large")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            stored = self._register(
                upload.data,
                kind,
                mime_type=mime,
                file_name=upload.filename,
                keep=self.keep_uploads,
            )
            return stored, True
        if isinstance(ref, str) and re.match(r"https?://", ref, re.IGNORECASE):
            guessed = mimetypes.guess_type(URL(ref).path)[0]
            if not self.fetch_urls:
                return self._register(None, kind, mime_type=guessed), True
            data, size, content_type = await self._fetch_url(ref, kind)
            mime = content_type if content_type not in (None, "application/octet-stream") else None
            stored = self._register(
                data, kind, mime_type=mime or guessed, size=size, keep=self.keep_uploads
            )
            return stored, True
        known = self._files.get(str(ref))
        if known is None:
            raise _bad(_WRONG_FILE)
        if {known.kind, kind} == {"photo", "video"}:
            raise _bad(f"can't use file of type {known.kind.title()} as {kind.title()}")
        return known, False

    async def _fetch_url(self, url: str, kind: str) -> tuple[bytes | None, int, str | None]:
        """GET a media URL as Telegram does -> (body, or None when not kept; its size; its
        content type without parameters). Raises Telegram's 400 when the URL can't be used."""
        started = time.monotonic()
        redirects: list[str] = []
        body = _Received(self.keep_uploads)
        error: str | None = None
        description = _URL_FAILED
        try:
            async with asyncio.timeout(self.url_fetch_timeout):
                await self._get_url(URL(url), kind, body, redirects)
        except _Refused as exc:
            error, description = exc.error, exc.description
        except TimeoutError:
            error = f"timed out after {self.url_fetch_timeout:g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None and not body.count:
            error = "empty body"
        self.bytes_fetched += body.count
        self.url_fetches.append(
            UrlFetch(
                url=url,
                status=body.status,
                error=error,
                bytes_read=body.count,
                at=started,
                elapsed=time.monotonic() - started,
                content_type=body.content_type,
                redirects=tuple(redirects),
            )
        )
        self._notify()
        if error is not None:
            raise _bad(description)
        content_type = body.content_type
        mime = content_type.partition(";")[0].strip().lower() if content_type else None
        return (bytes(body.data) if body.keep else None), body.count, mime

    async def _get_url(self, target: URL, kind: str, body: _Received, redirects: list[str]) -> None:
        """Follow ``target`` through up to MAX_REDIRECTS redirects and read its body into
        ``body``, at most ``url_download_limit`` + 1 bytes; raise _Refused when unusable."""
        if self._url_session is None:
            self._url_session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(limit=0),
                trust_env=False,
            )
        limit = self.url_download_limit
        for hop in range(MAX_REDIRECTS + 1):
            if not _is_local(target):
                raise _Refused(_URL_FAILED, "not a local address")
            async with self._url_session.get(target, allow_redirects=False) as resp:
                body.status = resp.status
                body.content_type = resp.headers.get(hdrs.CONTENT_TYPE)
                location = resp.headers.get(hdrs.LOCATION)
                if resp.status in _REDIRECTS and location:
                    if hop == MAX_REDIRECTS:
                        raise _Refused(_URL_FAILED, f"more than {MAX_REDIRECTS} redirects")
                    target = target.join(URL(location))
                    redirects.append(str(target))
                    continue
                if not 200 <= resp.status <= 299:
                    raise _Refused(_URL_FAILED, f"HTTP {resp.status}")
                if kind in _NOT_A_PAGE and resp.content_type == "text/html":
                    raise _Refused(_URL_WRONG_TYPE, "a text/html page")
                if resp.content_length is not None and resp.content_length > limit:
                    raise _Refused(_URL_FAILED, f"over the {limit}-byte limit")
                while body.count <= limit:
                    chunk = await resp.content.read(min(_READ_CHUNK, limit + 1 - body.count))
                    if not chunk:
                        break
                    body.add(chunk)
                if body.count > limit:
                    raise _Refused(_URL_FAILED, f"over the {limit}-byte limit")
                return

    def add_file(self, data: bytes, file_path: str = "photos/file_1.jpg") -> str:
        """Register downloadable bytes; returns the new ``file_id``."""
        kind = {"photos": "photo", "videos": "video"}.get(file_path.split("/")[0], "document")
        return self._register(data, kind, file_path=file_path).file_id

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)
