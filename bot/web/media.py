"""The files behind signed `/media` links (bot/web/server.py): fetched from Telegram once per file,
kept in memory within a byte bound, and served only when the bytes are what the link promised:
a photo (keyframes for the video API; thumbnails for the gallery) or an MP4 video (the gallery).

The video API fetches a keyframe link more than once (moderation, then the generation, retries),
and a link is a public URL: without the cache every request would cost a getFile and a download
on the bot's token. Fetches from Telegram are limited in number; requests for a file already
being fetched wait for that one fetch. What Telegram hands back is checked by its first bytes
(JPEG, PNG or WebP; an MP4's `ftyp` box), and served with the type those bytes say, never the
name or type a user's upload claimed: anything else behind a valid link is not served.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.worker.mp4 import HEAD_BYTES, is_video

log = logging.getLogger(__name__)

# Bytes of photos kept at most. A Telegram photo is a few hundred kilobytes; an image sent as a
# file is at most 20 MB (getFile's limit), so one such file never evicts everything.
CACHE_BYTES = 32 * 1024 * 1024
# Bytes of videos kept at most: a gallery page plays a few 5-10 s clips (2-20 MB each), and a
# player asks for one in several ranges.
VIDEO_CACHE_BYTES = 64 * 1024 * 1024
# Downloads from Telegram at once; more requests wait their turn.
MAX_FETCHES = 4

# file_id -> its bytes, or None when Telegram will not serve it.
Loader = Callable[[str], Awaitable[bytes | None]]
# A file's first bytes -> the type they are, or None if not of the kind a cache serves.
Sniffer = Callable[[bytes], str | None]


@dataclass(frozen=True)
class CachedFile:
    data: bytes
    content_type: str


def image_type(data: bytes) -> str | None:
    """The image type `data` starts like, or None if it is not a JPEG, PNG or WebP image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def video_type(data: bytes) -> str | None:
    """ "video/mp4" if `data` starts like an MP4/QuickTime video, else None."""
    return "video/mp4" if is_video(data[:HEAD_BYTES]) else None


class FileCache:
    def __init__(
        self,
        load: Loader,
        *,
        sniff: Sniffer = image_type,
        max_bytes: int = CACHE_BYTES,
        max_fetches: int = MAX_FETCHES,
    ) -> None:
        self._load = load
        self._sniff = sniff
        self.max_bytes = max_bytes
        self._fetches = asyncio.Semaphore(max_fetches)
        self._files: OrderedDict[str, CachedFile] = OrderedDict()  # least recently used first
        self._fetching: dict[str, asyncio.Future[CachedFile | None]] = {}
        self.size = 0  # bytes held

    async def get(self, file_id: str) -> CachedFile | None:
        """The file `file_id` names, or None if Telegram will not serve it or it is not of this
        cache's kind."""
        file = self._files.get(file_id)
        if file is not None:
            self._files.move_to_end(file_id)
            return file
        fetch = self._fetching.get(file_id)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch(file_id))
            self._fetching[file_id] = fetch
            fetch.add_done_callback(lambda done: self._fetched(file_id, done))
        # Shielded: a requester that goes away does not cancel the others' fetch.
        return await asyncio.shield(fetch)

    async def _fetch(self, file_id: str) -> CachedFile | None:
        async with self._fetches:
            data = await self._load(file_id)
        if data is None:
            return None
        content_type = self._sniff(data)
        if content_type is None:
            log.warning("media link for a file that is not what it should be (%d bytes)", len(data))
            return None
        file = CachedFile(data, content_type)
        self._keep(file_id, file)
        return file

    def _fetched(self, file_id: str, done: asyncio.Future[CachedFile | None]) -> None:
        self._fetching.pop(file_id, None)
        if not done.cancelled():
            done.exception()  # retrieved: a failure nobody waits for any more is not reported

    def _keep(self, file_id: str, file: CachedFile) -> None:
        if len(file.data) > self.max_bytes or file_id in self._files:
            return
        self._files[file_id] = file
        self.size += len(file.data)
        while self.size > self.max_bytes:
            _, oldest = self._files.popitem(last=False)
            self.size -= len(oldest.data)
