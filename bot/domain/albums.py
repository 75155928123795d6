"""Albums (media groups) and what a message or an album may ask of the video API.

What may be a keyframe (`keyframes_for`, `album_request`): a message carries at most one
attachment, and an album is up to ten of them, which Telegram lets a user mix: photos with
videos, files with files, audio with audio. Only images become keyframes; what each other mix
does, and why, is written on the functions below. Every refusal is decided here, before anything
is charged.

Collecting an album into one request (`AlbumCollector`): Telegram sends each item of an album
as its own update, with a shared `media_group_id` and no count or end marker. Items are stored in
the database as they arrive; once no new item has come for `wait` seconds, the album is taken
(atomically, so it is handled once) and handed over.

The items of one album may reach different replicas, so "no new item" is decided from the
database, not from what this process saw. And the process collecting an album may die before
it settles: a sweeper in every process settles albums that have been quiet for longer than
`wait` + `grace`, whoever collected them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.model import AlbumItem, Refusal
from bot.domain.specs import TelegramImage
from bot.domain.stores import AlbumStore

log = logging.getLogger(__name__)

# --- what may be a keyframe ---------------------------------------------------------------------

# A video has a first and a last frame, nothing more.
MAX_KEYFRAMES = 2

# The commands that take photos; any other command in an album's caption is not a request.
MEDIA_COMMANDS = frozenset({"video", "extend", "story"})


class Kind(StrEnum):
    """What a message carries, as far as keyframes go."""

    NONE = "none"  # text only
    IMAGE = "image"  # a photo, or a JPEG, PNG or WEBP file: a keyframe
    VIDEO = "video"  # a video, a GIF, a video file: never a keyframe
    SOUND = "sound"  # music or a voice message: never a keyframe
    FILE = "file"  # any other file (a PDF, a HEIC or TIFF picture...): never a keyframe


@dataclass(frozen=True)
class Attachment:
    kind: Kind
    image: TelegramImage | None = None  # an IMAGE's file
    name: str | None = None  # a FILE's name, to say which one could not be used


@dataclass(frozen=True)
class Keyframes:
    """The images to use, in the order sent, and how many videos were left out (to say so)."""

    images: list[TelegramImage] = field(default_factory=list)
    videos_left_out: int = 0


def keyframes_for(
    command: str, attachments: Sequence[Attachment], *, album: bool = False
) -> Keyframes | Refusal:
    """The keyframes of a `/video`, `/extend` or `/story` request carrying `attachments` (one
    for a message; for an `album`, each item's in the order sent), or why it cannot be done.
    Checked in this order:

    - Sound (music, a voice message, an album of audio files) is refused: nothing of it can go
      into a video, and a video made from the caption alone is not what was asked. The refusal
      says to send the command as text or on a photo.
    - A file that is neither an image nor a video (a PDF beside image files, a HEIC photo) is
      refused. A file is usually picked as a picture: one the video API cannot read may be
      the frame the user meant, and leaving it out would make a different video than asked.
      The refusal names it and the formats that work.
    - `/extend` and `/story` in an album are refused: each takes one photo at most, sent
      alone. Which photo of an album is meant is a guess, and a bot in privacy mode, which
      gets an album's captioned item only, cannot even tell whether there were others.
    - Videos and no image (a video alone with a `/video` caption, an album of videos) are
      refused: a video cannot be a keyframe, so there is nothing to start from but the prompt,
      and a video made from the prompt alone is not what was asked. The refusal says what to
      send instead, and that `/extend` continues the bot's own videos.
    - More than two images are refused with their count: which two to use is a guess.
    - One or two images and videos beside them (a photo + video album, as Telegram's gallery
      picker makes): the images are used as they would be alone, and the videos are left out,
      with a note saying so. Sending the album again without its videos could only make the
      same request, so refusing would cost the user a round trip for nothing.
    """
    counted = {kind: sum(a.kind is kind for a in attachments) for kind in Kind}
    odd = next((a for a in attachments if a.kind in (Kind.FILE, Kind.SOUND)), None)
    if odd is not None and odd.kind is Kind.SOUND:
        return Refusal(key="sound_not_a_keyframe")
    if odd is not None:
        return Refusal(key="unsupported_file", values={"name": odd.name or "this file"})
    if command in ("extend", "story") and album:
        return Refusal(key=f"{command}_one_photo")
    if counted[Kind.VIDEO] and not counted[Kind.IMAGE]:
        return Refusal(key="video_not_a_keyframe")
    images = [a.image for a in attachments if a.image is not None]
    if len(images) > MAX_KEYFRAMES:
        return Refusal(key="too_many_photos", values={"count": len(images)})
    return Keyframes(images=images, videos_left_out=counted[Kind.VIDEO])


@dataclass(frozen=True)
class AlbumPart:
    """One item of an album: the media command in its caption (if any) and what it carries."""

    command: str | None
    attachment: Attachment


@dataclass(frozen=True)
class AlbumRequest:
    """What a complete album asks: `asked` is the index of the item whose caption holds the
    command (the request, which answers reply to), `outcome` the keyframes or a refusal."""

    asked: int
    command: str
    outcome: Keyframes | Refusal


def album_request(parts: Sequence[AlbumPart]) -> AlbumRequest | None:
    """What a complete album asks, in the order its items were sent; None when no caption holds
    `/video`, `/extend` or `/story` (an album shared with others, not a request).

    Two captions holding a command are refused: one album makes one request, and which prompt
    (or command) is meant is a guess; sending the photos separately, or one caption, settles it.
    The item captioned may be any of them, a video included: its album's photos are still the
    keyframes."""
    asked = [index for index, part in enumerate(parts) if part.command in MEDIA_COMMANDS]
    if not asked:
        return None
    first = asked[0]
    command = parts[first].command
    assert command is not None
    if len(asked) > 1:
        return AlbumRequest(first, command, Refusal(key="album_two_commands"))
    attachments = [part.attachment for part in parts]
    return AlbumRequest(first, command, keyframes_for(command, attachments, album=True))


# --- collecting an album ------------------------------------------------------------------------

OnAlbum = Callable[[list[AlbumItem]], Awaitable[None]]

# How much longer than `wait` an album must be quiet before the sweeper takes it: the
# collecting process, if alive, gets there first.
DEFAULT_GRACE = 2.0


class AlbumCollector:
    def __init__(
        self,
        *,
        repository: AlbumStore,
        wait: float,
        on_complete: OnAlbum,
        grace: float = DEFAULT_GRACE,
        sweep_every: float | None = None,
    ) -> None:
        self._repo = repository
        self._wait = wait
        self._on_complete = on_complete
        self._grace = grace
        self._sweep_every = sweep_every if sweep_every is not None else max(wait, 1.0) * 2
        self._deadlines: dict[tuple[int, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start sweeping up albums whose collecting process died (idempotent)."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="album-sweeper")

    async def add(self, item: AlbumItem) -> None:
        await self._repo.add_album_item(item, time.time())
        key = (item.chat_id, item.media_group_id)
        first = key not in self._deadlines
        self._deadlines[key] = time.monotonic() + self._wait
        if first:
            task = asyncio.create_task(self._settle(key), name=f"album-{key[1]}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _settle(self, key: tuple[int, str]) -> None:
        try:
            # Each item arriving here pushes the deadline back; wait until it stops moving.
            while (remaining := self._deadlines[key] - time.monotonic()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(remaining)
            # Items may also have reached other replicas: the newest stored one decides.
            while True:
                newest = await self._repo.latest_album_item_at(*key)
                if newest is None:
                    return  # another process took it
                remaining = newest + self._wait - time.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(remaining)
        except Exception:
            # The sweeper (here or in another process) settles it later.
            log.exception("waiting for album %s failed", key[1])
            return
        finally:
            del self._deadlines[key]
        await self._take(key)

    async def _take(self, key: tuple[int, str]) -> None:
        items = await self._repo.take_album(*key)
        if items:
            try:
                await self._on_complete(items)
            except Exception:
                log.exception("handling album %s failed", key[1])

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping albums failed")

    async def sweep(self) -> None:
        """Settle every album quiet for longer than `wait` + `grace` (its collector died)."""
        for key in await self._repo.unsettled_albums(time.time() - self._wait - self._grace):
            if key not in self._deadlines:  # albums this process is settling are left to it
                await self._take(key)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        if self._sweeper is not None:
            tasks.append(self._sweeper)
            self._sweeper = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
