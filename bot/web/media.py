"""The photos behind signed `/media` links (bot/web/server.py): fetched from Telegram once per file,
kept in memory within a byte bound, and served only when the bytes are an image.

The video API fetches a keyframe link more than once (moderation, then the generation, retries),
and a link is a public URL: without the cache every request would cost a getFile and a download
on the bot's token. Fetches from Telegram are limited in number; requests for a file already
being fetched wait for that one fetch. What Telegram hands back is checked by its first bytes
(JPEG, PNG or WebP), and served with the type those bytes say, never the name or type a user's
upload claimed: anything else behind a valid link is not served.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Bytes of photos kept at most. A Telegram photo is a few hundred kilobytes; an image sent as a
# file is at most 20 MB (getFile's limit), so one such file never evicts everything.
CACHE_BYTES = 32 * 1024 * 1024
# Downloads from Telegram at once; more requests wait their turn.
MAX_FETCHES = 4

# file_id -> its bytes, or None when Telegram will not serve it.
Loader = Callable[[str], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Photo:
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


class PhotoCache:
    def __init__(
        self, load: Loader, *, max_bytes: int = CACHE_BYTES, max_fetches: int = MAX_FETCHES
    ) -> None:
        self._load = load
        self.max_bytes = max_bytes
        self._fetches = asyncio.Semaphore(max_fetches)
        self._photos: OrderedDict[str, Photo] = OrderedDict()  # least recently used first
        self._fetching: dict[str, asyncio.Future[Photo | None]] = {}
        self.size = 0  # bytes held

    async def get(self, file_id: str) -> Photo | None:
        """The image `file_id` names, or None if Telegram will not serve it or it is none."""
        photo = self._photos.get(file_id)
        if photo is not None:
            self._photos.move_to_end(file_id)
            return photo
        fetch = self._fetching.get(file_id)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch(file_id))
            self._fetching[file_id] = fetch
            fetch.add_done_callback(lambda done: self._fetched(file_id, done))
        # Shielded: a requester that goes away does not cancel the others' fetch.
        return await asyncio.shield(fetch)

    async def _fetch(self, file_id: str) -> Photo | None:
        async with self._fetches:
            data = await self._load(file_id)
        if data is None:
            return None
        content_type = image_type(data)
        if content_type is None:
            log.warning("media link for a file that is not an image (%d bytes)", len(data))
            return None
        photo = Photo(data, content_type)
        self._keep(file_id, photo)
        return photo

    def _fetched(self, file_id: str, done: asyncio.Future[Photo | None]) -> None:
        self._fetching.pop(file_id, None)
        if not done.cancelled():
            done.exception()  # retrieved: a failure nobody waits for any more is not reported

    def _keep(self, file_id: str, photo: Photo) -> None:
        if len(photo.data) > self.max_bytes or file_id in self._photos:
            return
        self._photos[file_id] = photo
        self.size += len(photo.data)
        while self.size > self.max_bytes:
            _, oldest = self._photos.popitem(last=False)
            self.size -= len(oldest.data)
