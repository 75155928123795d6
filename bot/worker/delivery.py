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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import aiohttp
from telegram import (
    Bot,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.domain.model import Job
from bot.telegram.buttons import video_buttons
from bot.texts import Html, excerpt, text
from bot.worker.mp4 import HEAD_BYTES, is_video, read_video_info

log = logging.getLogger(__name__)

TELEGRAM_UPLOAD_LIMIT = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=300, connect=15, sock_read=60)
CAPTION_PROMPT_CHARS = 300
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
    def __init__(self, size: int) -> None:
        super().__init__(f"video is {size} bytes")
        self.size = size


class Delivery:
    def __init__(
        self,
        bot: Bot,
        session: aiohttp.ClientSession,
        *,
        upload_limit: int = TELEGRAM_UPLOAD_LIMIT,
    ) -> None:
        self._bot = bot
        self._session = session
        self._upload_limit = upload_limit

    async def download(self, url: str) -> bytes:
        """The video's bytes; NotAVideo if they are something else, VideoTooLarge as soon as
        it exceeds the upload limit."""
        try:
            async with self._session.get(
                url, timeout=DOWNLOAD_TIMEOUT, max_redirects=MAX_REDIRECTS
            ) as response:
                if response.status != 200:
                    raise DownloadError(f"HTTP {response.status}")
                head = await _head(response.content)
                if not is_video(head):
                    raise NotAVideo(f"the result is not a video ({response.content_type[:60]})")
                if (response.content_length or 0) > self._upload_limit:
                    raise VideoTooLarge(response.content_length or 0)
                chunks, total = [head], len(head)
                async for chunk in response.content.iter_chunked(256 * 1024):
                    total += len(chunk)
                    if total > self._upload_limit:
                        raise VideoTooLarge(total)
                    chunks.append(chunk)
                return b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DownloadError(str(error) or type(error).__name__) from None

    async def send_video(self, job: Job, data: bytes, language: str | None) -> Message:
        """The video in place of the status message, or as a new message if there is none."""
        info = read_video_info(data)
        video_caption = caption(job, language)
        filename = f"luma-{job.id}.mp4"
        buttons = video_buttons(job.id, language)
        async with self._uploading(job):
            with _too_large_as(len(data)):
                edited = await self._in_place(
                    job,
                    lambda status_id: self._bot.edit_message_media(
                        chat_id=job.chat_id,
                        message_id=status_id,
                        media=InputMediaVideo(
                            media=data,
                            filename=filename,
                            caption=video_caption,
                            supports_streaming=True,
                            width=info.width,
                            height=info.height,
                            duration=info.duration,
                        ),
                        reply_markup=buttons,
                        read_timeout=UPLOAD_READ_TIMEOUT,
                        write_timeout=UPLOAD_WRITE_TIMEOUT,
                    ),
                )
                if edited is not None:
                    return edited
                return await self._bot.send_video(
                    chat_id=job.chat_id,
                    video=InputFile(data, filename=filename),
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

    async def send_link(self, job: Job, size: int, language: str | None) -> Message:
        """Too large to upload: the link, with the thumbnail when the API gave one."""
        body = text(
            "video_link",
            language,
            prompt=excerpt(job.prompt, CAPTION_PROMPT_CHARS),
            size_mb=f"{size / 1_048_576:.0f}",
            url=job.video_url or "",
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


async def _head(content: aiohttp.StreamReader) -> bytes:
    """The first HEAD_BYTES of a body (fewer if it is shorter)."""
    try:
        return await content.readexactly(HEAD_BYTES)
    except asyncio.IncompleteReadError as short:
        return short.partial


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


def caption(job: Job, language: str | None) -> str:
    params = job.params
    duration = params.get("duration_seconds")
    details = " · ".join(
        str(part)
        for part in (
            params.get("aspect_ratio", "16:9"),
            "loop" if params.get("loop") else None,
            params.get("model"),
            params.get("resolution"),
            f"{duration}s" if duration else None,
        )
        if part
    )
    return text(
        "caption",
        language,
        prompt=excerpt(job.prompt, CAPTION_PROMPT_CHARS),
        details=Html(details),
        generation_id=job.remote_id or "",
    )


def reply_to(job: Job) -> ReplyParameters:
    # The request may have been deleted meanwhile: deliver anyway, just not as a reply.
    return ReplyParameters(message_id=job.request_message_id, allow_sending_without_reply=True)
