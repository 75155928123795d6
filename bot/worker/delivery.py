"""Putting a finished video into the chat.

Policy: download promptly (result URLs expire), refuse to buffer more than Telegram accepts,
upload with width/height/duration and `supports_streaming`. A video over the upload limit is
sent as a link instead.

A result URL is not trusted (it may redirect anywhere, and an API's storage may answer with an
error page): a download follows at most MAX_REDIRECTS redirects, and only bytes that open with
an MP4/QuickTime `ftyp` box are uploaded (NotAVideo otherwise). The bytes decide, not the
Content-Type: storage often says `application/octet-stream` for a video, and anything can say
`video/mp4`. The link shown when a video is too large is the one the API gave (job.video_url,
read by the bot's own GET), never where it redirected.

The video replaces the job's status message (`editMessageMedia` can turn a text message into a
video) rather than arriving as a new message. Editing is idempotent: when an upload's answer is
lost (timeout, dropped connection, a crash mid-upload) the retry edits the same message again,
so the video can never appear twice. Only when there is no status message to edit (never sent,
or deleted by the user) is a new message sent, as a reply to the request.

Memory does not grow with the video: a download is spooled in chunks (past SPOOL_IN_MEMORY, to
an unnamed temporary file, gone when closed or when the process ends), and the upload is read
from it while it is sent (`bot/telegram/transport.py`). A file rather than a pipe from download
to upload: the size is known before the upload starts (a video over the limit is never
half-uploaded), the `moov` box may come last, and an upload that fails can be sent again
without a new download.
Delivery by URL (`DELIVER_BY_URL`) moves even fewer bytes: only the first PROBE_BYTES are read,
to check that the result is a video and learn its size, and Telegram fetches the rest itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import aiohttp
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.domain.model import NO_MESSAGE, FailureCode, Job
from bot.domain.specs import PromptHelp, SoundSpec, StorySpec, UpscaleSpec
from bot.domain.upgrades import Upgrades
from bot.llm import HelpOutcome
from bot.telegram.buttons import video_buttons
from bot.texts import Html, excerpt, text
from bot.worker.mp4 import HEAD_BYTES, VideoInfo, is_video, read_file_video_info, read_video_info

log = logging.getLogger(__name__)
T = TypeVar("T")

TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024
# Telegram fetches a file sent by URL itself, up to this size (its documented limit).
TELEGRAM_URL_LIMIT = 20 * 1024 * 1024
# Read before sending a video by URL: its `ftyp` box, and usually its `moov` box (5-10 s clips
# from a "faststart" encoder keep it within the first few KB).
PROBE_BYTES = 64 * 1024
DOWNLOAD_CHUNK = 256 * 1024
# A download is kept in memory up to this size, then moves to its temporary file: a file costs
# a few system calls, worth it only for real videos (megabytes), not for short clips.
SPOOL_IN_MEMORY = 256 * 1024
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=300, connect=15, sock_read=60)
CAPTION_PROMPT_CHARS = 300
# How captions name an upscale's size.
UPSCALE_LABELS = {"1080p": "1080p", "4k": "4K"}
# Storage may send a download on to a CDN once or twice; a longer chain is not a video link.
MAX_REDIRECTS = 3
CHAT_ACTION_REFRESH = 4.0
# A delivery step (download, upload) that takes longer than this shows the user it is under
# way ("Uploading your video…", the "sending video" chat action). Most finish sooner: no
# Telegram call for them, under the same flood limits as the video itself.
SHOW_SLOW_STEP_AFTER = 0.5
# An upload of up to TELEGRAM_UPLOAD_LIMIT may take minutes to send and a while to be answered.
UPLOAD_READ_TIMEOUT = 120
UPLOAD_WRITE_TIMEOUT = 300


class DownloadError(Exception):
    """The video could not be fetched from the API's storage."""


class NotAVideo(DownloadError):
    """What the result URL served is not a video (an error page, an image...)."""


class VideoTooLarge(Exception):
    """Over the upload limit: sent as its link instead (`links`: a story's parts, in order; by
    default the job's own video URL)."""

    def __init__(self, size: int, links: tuple[str, ...] = ()) -> None:
        super().__init__(f"video is {size} bytes")
        self.size = size
        self.links = links


class UrlRefused(Exception):
    """Telegram did not take the video from its URL (the upload then carries it)."""


# Telegram's answers to a video sent by URL that call for the upload instead: it could not
# fetch or use the URL; or "not modified", the message already shows that URL (an earlier
# try whose answer was lost; Telegram may reuse the file it fetched then), whereas an upload
# always makes a new file, so retrying the edit with it cannot show the video twice.
_URL_REFUSALS = re.compile(
    r"failed to get http url content|wrong type of the web page content"
    r"|wrong file identifier/http url specified|message is not modified",
    re.IGNORECASE,
)


@dataclass
class VideoFile:
    """A downloaded video, spooled (a short one in memory, else in an unnamed temporary file);
    close it when done."""

    file: IO[bytes]
    size: int
    info: VideoInfo

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class Probe:
    """What the first bytes of a result told: its size (None: the server did not say) and its
    width/height/duration (when the `moov` box was among them)."""

    size: int | None
    info: VideoInfo


class Delivery:
    def __init__(
        self,
        bot: Bot,
        session: aiohttp.ClientSession,
        *,
        upload_limit: int = TELEGRAM_UPLOAD_LIMIT,
        upgrades: Upgrades | None = None,
    ) -> None:
        self._bot = bot
        # What the video service can do to a delivered video: its buttons offer that.
        self._upgrades = upgrades or Upgrades()
        self._session = session
        self._upload_limit = upload_limit

    @property
    def upload_limit(self) -> int:
        """The largest video uploaded; a larger one is sent as a link (TELEGRAM_UPLOAD_LIMIT)."""
        return self._upload_limit

    async def download(self, url: str) -> VideoFile:
        """The video, spooled to a temporary file; NotAVideo if it is something else,
        VideoTooLarge as soon as it exceeds the upload limit (nothing more is read)."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="luma-bot-")
        try:
            async with self._get(url) as response:
                if response.status != 200:
                    raise DownloadError(f"HTTP {response.status}")
                head = await _head(response.content, HEAD_BYTES)
                if not is_video(head):
                    raise NotAVideo(f"the result is not a video ({response.content_type[:60]})")
                if (response.content_length or 0) > self._upload_limit:
                    raise VideoTooLarge(response.content_length or 0)
                # Page-cache writes of a chunk take microseconds: no thread for them.
                spool.write(head)
                total = len(head)
                async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                    total += len(chunk)
                    if total > self._upload_limit:
                        raise VideoTooLarge(total)
                    spool.write(chunk)
            spool.flush()
            return VideoFile(spool, total, read_file_video_info(spool))
        except BaseException:
            spool.close()
            raise

    async def probe(self, url: str) -> Probe:
        """The first PROBE_BYTES of the result (a range request; a server that ignores it is
        hung up on after them): NotAVideo if they are not a video's."""
        async with self._get(url, {"Range": f"bytes=0-{PROBE_BYTES - 1}"}) as response:
            if response.status == 206:
                size = _range_total(response.headers.get("Content-Range", ""))
            elif response.status == 200:
                size = response.content_length
            else:
                raise DownloadError(f"HTTP {response.status}")
            head = await _head(response.content, PROBE_BYTES)
        if not is_video(head):
            raise NotAVideo("the result is not a video")
        return Probe(size=size, info=read_video_info(head))

    @asynccontextmanager
    async def _get(
        self, url: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET a result URL; a failure to fetch it, in the request or while its body is read
        inside the block, is a DownloadError."""
        try:
            async with self._session.get(
                url, headers=headers, timeout=DOWNLOAD_TIMEOUT, max_redirects=MAX_REDIRECTS
            ) as response:
                yield response
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DownloadError(str(error) or type(error).__name__) from None

    async def send_video(self, job: Job, video: VideoFile, language: str | None) -> Message:
        """The video, uploaded from its file, in place of the status message (or as a new
        message if there is none)."""

        def upload(attach: bool) -> InputFile:
            # read_file_handle=False: the transport reads the file while sending, not before.
            return InputFile(
                video.file, filename=f"luma-{job.id}.mp4", attach=attach, read_file_handle=False
            )

        with _too_large_as(video.size):
            return await self._send(job, upload(True), upload(False), video.info, language)

    async def send_video_by_url(self, job: Job, probe: Probe, language: str | None) -> Message:
        """The video, fetched by Telegram from its result URL; UrlRefused if Telegram could not
        use the URL (the caller uploads it instead)."""
        assert job.video_url is not None
        return await self._send(job, job.video_url, job.video_url, probe.info, language)

    async def _send(
        self,
        job: Job,
        media: InputFile | str,
        new_media: InputFile | str,
        info: VideoInfo,
        language: str | None,
    ) -> Message:
        """`media` in place of the status message, else `new_media` in a new message (the
        same video, each as its method takes it)."""
        video_caption = caption(job, language)
        buttons = video_markup(job, language, self._upgrades)
        # A URL Telegram refuses is not a missing status message: no new message for it.
        guard = _refusing_url if isinstance(media, str) else _as_is
        async with self._uploading(job):
            edited = await self._in_place(
                job,
                lambda status_id: guard(
                    self._bot.edit_message_media(
                        chat_id=job.chat_id,
                        message_id=status_id,
                        media=InputMediaVideo(
                            media=media,
                            caption=video_caption,
                            supports_streaming=True,
                            width=info.width,
                            height=info.height,
                            duration=info.duration,
                        ),
                        reply_markup=buttons,
                        read_timeout=UPLOAD_READ_TIMEOUT,
                        write_timeout=UPLOAD_WRITE_TIMEOUT,
                    )
                ),
            )
            if edited is not None:
                return edited
            return await guard(
                self._bot.send_video(
                    chat_id=job.chat_id,
                    video=new_media,
                    message_thread_id=job.thread_id,
                    reply_parameters=reply_to(job),
                    reply_markup=buttons,
                    caption=video_caption,
                    supports_streaming=True,
                    width=info.width,
                    height=info.height,
                    duration=info.duration,
                    read_timeout=UPLOAD_READ_TIMEOUT,
                    write_timeout=UPLOAD_WRITE_TIMEOUT,
                )
            )

    async def _in_place(
        self, job: Job, edit: Callable[[int], Awaitable[Message | bool]]
    ) -> Message | None:
        """`edit` applied to the job's status message; None if there is none or Telegram
        refuses the edit (deleted meanwhile), and the caller sends a new message instead."""
        if job.status_message_id is None:
            return None
        try:
            result = await edit(job.status_message_id)
        except BadRequest as error:
            log.info("job %d: status message not replaced (%s)", job.id, error)
            return None
        return result if isinstance(result, Message) else None

    @asynccontextmanager
    async def _uploading(self, job: Job) -> AsyncIterator[None]:
        """Show "sending video…" in the chat while an upload takes longer than a moment."""

        async def show() -> None:
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(
                    chat_id=job.chat_id,
                    action=ChatAction.UPLOAD_VIDEO,
                    message_thread_id=job.thread_id,
                )

        async def keep_showing() -> None:
            await asyncio.sleep(SHOW_SLOW_STEP_AFTER)
            while True:
                await show()
                await asyncio.sleep(CHAT_ACTION_REFRESH)  # an action shows for about 5 s

        task = asyncio.create_task(keep_showing())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def send_link(
        self, job: Job, size: int, language: str | None, links: tuple[str, ...] = ()
    ) -> Message:
        """Too large to upload: the link (or `links`, one per line), with the thumbnail when
        the API gave one."""
        body = text(
            "video_link",
            language,
            prompt=excerpt(job.prompt, CAPTION_PROMPT_CHARS),
            size_mb=f"{size / 1_048_576:.0f}",
            url="\n".join(links) if links else job.video_url or "",
            generation_id=job.remote_id or "",
        )
        edits = [lambda status_id: self._bot.edit_message_text(body, job.chat_id, status_id)]
        if job.thumbnail_url:
            thumbnail = InputMediaPhoto(media=job.thumbnail_url, caption=body)
            edits.insert(
                0,
                lambda status_id: self._bot.edit_message_media(
                    chat_id=job.chat_id, message_id=status_id, media=thumbnail
                ),
            )
        for edit in edits:  # the thumbnail may be unusable: then the link alone
            if (edited := await self._in_place(job, edit)) is not None:
                return edited
        if job.thumbnail_url:
            try:
                return await self._bot.send_photo(
                    chat_id=job.chat_id,
                    photo=job.thumbnail_url,
                    caption=body,
                    message_thread_id=job.thread_id,
                    reply_parameters=reply_to(job),
                )
            except BadRequest as error:  # Telegram could not fetch the thumbnail
                log.info("job %d: thumbnail not usable (%s); sending the link alone", job.id, error)
        return await self._bot.send_message(
            chat_id=job.chat_id,
            text=body,
            message_thread_id=job.thread_id,
            reply_parameters=reply_to(job),
        )


async def _head(content: aiohttp.StreamReader, size: int) -> bytes:
    """The first `size` bytes of a body (fewer if it is shorter)."""
    try:
        return await content.readexactly(size)
    except asyncio.IncompleteReadError as short:
        return short.partial


async def _refusing_url(call: Awaitable[T]) -> T:
    """`call`, with Telegram's refusal of a URL it was given raised as UrlRefused."""
    try:
        return await call
    except BadRequest as error:
        if _URL_REFUSALS.search(str(error)):
            raise UrlRefused(str(error)) from None
        raise


async def _as_is(call: Awaitable[T]) -> T:
    return await call


def _range_total(content_range: str) -> int | None:
    """The total size in `Content-Range: bytes 0-65535/10485760` (None for `*/...` or junk)."""
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


@contextlib.contextmanager
def _too_large_as(size: int) -> Iterator[None]:
    """Telegram's 413 (its limit is lower than ours, e.g. a different Bot API server) means
    the same as our own size check: send the link instead, rather than retry the upload."""
    try:
        yield
    except NetworkError as error:
        if "entity too large" in str(error).lower():
            raise VideoTooLarge(size) from None
        raise


def video_markup(job: Job, language: str | None, upgrades: Upgrades) -> InlineKeyboardMarkup:
    """The buttons under a delivered video: Upscale only while a size above its own exists;
    neither under a story (it is several generations)."""
    if job.kind == StorySpec.kind:
        return video_buttons(job.id, language)
    return video_buttons(
        job.id, language, upscale=bool(upgrades.upscale_sizes(job)), sound=upgrades.sound
    )


def caption(job: Job, language: str | None) -> str:
    if job.kind == StorySpec.kind:
        return _story_caption(job, language)
    return text(
        "caption",
        language,
        prompt=excerpt(job.prompt, CAPTION_PROMPT_CHARS),
        helped=Html(_helped_line(job.params.get("helper"), language)),
        details=Html(video_details(job, language)),
        generation_id=job.remote_id or "",
    )


def video_details(job: Job, language: str | None) -> str:
    """What the video is beside its prompt: its options, or what was done to another video."""
    params = job.params
    if job.kind == UpscaleSpec.kind:
        size = UPSCALE_LABELS.get(params.get("resolution", ""), "")
        return text("caption_upscaled", language, resolution=size)
    if job.kind == SoundSpec.kind:
        sound = params.get("prompt")
        if not sound:
            return text("caption_sound_any", language)
        return text("caption_sound", language, sound=excerpt(sound, CAPTION_PROMPT_CHARS))
    duration = params.get("duration_seconds")
    return " · ".join(
        str(part)
        for part in (
            params.get("aspect_ratio", "16:9"),
            "loop" if params.get("loop") else None,
            params.get("model"),
            params.get("resolution"),
            f"{duration}s" if duration else None,
            params.get("camera"),
        )
        if part
    )


# A story's caption lists up to STORY_MAX_SHOTS shots with their ids in Telegram's 1024.
STORY_SHOT_CHARS = 90


def _story_caption(job: Job, language: str | None) -> str:
    """The shots made, in order, each with its generation id (any of them can be extended);
    and why the story stopped early, if it did."""
    spec = StorySpec.model_validate(job.params)
    outcome = job.params.get("outcome") or {}
    made = {entry["shot"]: entry["id"] for entry in outcome.get("made", [])}
    shots = [
        text(
            "story_caption_shot",
            language,
            number=index + 1,
            prompt=excerpt(shot.prompt, STORY_SHOT_CHARS),
            generation_id=made[index] or "",
        )
        for index, shot in enumerate(spec.shots)
        if index in made
    ]
    note = _stopped_note(outcome.get("stopped"), len(shots), len(spec.shots), language)
    details = " · ".join(
        str(part)
        for part in (
            spec.aspect_ratio,
            spec.model,
            spec.resolution,
            f"{spec.duration_seconds}s" if spec.duration_seconds else None,
        )
        if part
    )
    return text(
        "story_caption",
        language,
        count=len(shots),
        details=details,
        shots=Html("\n".join(shots)),
        stopped=Html(note),
    )


def _stopped_note(
    stopped: dict[str, Any] | None, made: int, count: int, language: str | None
) -> str:
    """Why a story ends before its last shot: stopped at the payer's request, or a shot that
    could not be made (the deadline included); and that the shots never made were given back."""
    if not stopped:
        return ""
    if stopped.get("code") == FailureCode.CANCELLED.value:
        return text(
            "story_stopped_by_request", language, made=made, count=count, unmade=stopped["unmade"]
        )
    return text("story_stopped", language, shot=stopped["shot"], unmade=stopped["unmade"])


# What the prompt helper did, as the caption's second line (the API got `sent`).
_HELPED_KEYS = {
    HelpOutcome.ENHANCED: "caption_enhanced",
    HelpOutcome.TRANSLATED: "caption_translated",
    HelpOutcome.FAILED: "caption_helper_failed",
}


def _helped_line(stored: dict[str, Any] | None, language: str | None) -> str:
    help = PromptHelp.model_validate(stored) if stored else None
    key = _HELPED_KEYS.get(help.outcome) if help is not None and help.outcome else None
    if help is None or key is None:
        return ""
    return text(key, language, prompt=excerpt(help.sent or "", CAPTION_PROMPT_CHARS))


def unchanged(error: BadRequest) -> bool:
    """Telegram's answer to an edit that would change nothing ("message is not modified"): the
    message already says it (often an earlier try whose answer was lost)."""
    return "not modified" in str(error).lower()


def reply_to(job: Job) -> ReplyParameters | None:
    return reply_to_message(job.request_message_id)


def reply_to_message(message_id: int) -> ReplyParameters | None:
    """A reply to a request message, if there is one (the gallery's requests have none)."""
    if message_id == NO_MESSAGE:
        return None
    # The request may have been deleted meanwhile: answer anyway, just not as a reply.
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)
