"""The deliver step: DELIVERING -> DELIVERED, the video (or, too large, its link) in the chat.

`delivery` moves the bytes; this step decides what a failure means. A chat that blocked the bot
and a result that is not a video end the job; any other failure is tried again with backoff
until the deadline plus the grace (a finished video is worth waiting for).

With `DELIVER_BY_URL`, a video Telegram can fetch itself (it says its size, up to 20 MB) is sent
as its URL first; whenever that does not work out (the probe fails, Telegram refuses the URL)
the video is downloaded and uploaded as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from telegram import Message
from telegram.error import Forbidden, TelegramError

from bot.domain.model import FailureCode, Job
from bot.domain.specs import StorySpec
from bot.luma import errors
from bot.worker.context import WorkerContext
from bot.worker.delivery import (
    SHOW_SLOW_STEP_AFTER,
    TELEGRAM_URL_LIMIT,
    Delivery,
    DownloadError,
    NotAVideo,
    UrlRefused,
    VideoFile,
    VideoTooLarge,
)
from bot.worker.story import Story, StoryStitchError

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _finish_even_if_cancelled(operation: Awaitable[T]) -> tuple[T, bool]:
    """Run `operation` to the end even if the caller is cancelled meanwhile (a shutdown).

    Used for the upload: Telegram may already have a cancelled upload, and the Bot API offers no
    way to find out, so stopping half-way could show the video twice after a restart. Returns
    the result and whether a cancellation arrived (the caller records the result, then stops)."""
    task = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(task), False
    except asyncio.CancelledError:
        if task.cancelled():
            raise
        return await task, True


class Deliver:
    def __init__(self, context: WorkerContext, delivery: Delivery, story: Story) -> None:
        self._ctx = context
        self._delivery = delivery
        self._story = story  # a story's video is its shots, stitched

    async def run(self, job: Job) -> bool:
        """Put the video into the chat (a DELIVERING job); the job ends here either way."""
        ctx = self._ctx
        assert job.video_url is not None
        language = await ctx.notices.language(job)
        interrupted = False
        try:
            try:
                message, interrupted, kind = await self._send_video(job, language)
            except VideoTooLarge as too_large:
                current = await ctx.repo.get_job(job.id)  # the URL may have been refreshed
                message = await self._delivery.send_link(
                    current or job, too_large.size, language, too_large.links
                )
                kind = "link"
        except Forbidden as error:
            log.warning("job %d: chat %d unreachable: %s", job.id, job.chat_id, error)
            return await ctx.fail(job, FailureCode.CHAT_UNREACHABLE, str(error))
        except NotAVideo as error:  # the fresh URL too: it will not become a video by waiting
            log.warning("job %d: %s; nothing sent", job.id, error)
            return await ctx.fail(job, FailureCode.NOT_A_VIDEO, str(error))
        except (DownloadError, TelegramError) as error:
            return await self._retry(job, error)
        video = message.video
        if not await ctx.repo.mark_delivered(
            job.id,
            ctx.owner,
            message_id=message.message_id,
            file_id=video.file_id if video else None,
            thumbnail_file_id=video.thumbnail.file_id if video and video.thumbnail else None,
            now=time.time(),
        ):
            # Another worker took the job over and finished it while this upload ran (into the
            # same message: an edit): it has told the user; a second "ready" would be noise.
            log.warning("job %d: delivered meanwhile by another worker; nothing more", job.id)
            return False
        log.info("job %d: delivered as message %d", job.id, message.message_id)
        if ctx.metrics is not None:
            ctx.metrics.deliveries.labels(kind).inc()
        if interrupted:
            raise asyncio.CancelledError  # the shutdown waited for the upload; now stop
        await ctx.notices.after_delivery(job, message, language)
        return False

    async def _send_video(self, job: Job, language: str | None) -> tuple[Message, bool, str]:
        """The video in the chat: by URL when that is on and works, else uploaded. Returns the
        message, whether a shutdown arrived meanwhile, and how it went ("url" or "video")."""
        story = job.kind == StorySpec.kind
        if self._ctx.settings.deliver_by_url and not story:
            sent = await self._send_by_url(job, language)
            if sent is not None:
                return *sent, "url"
        video = await self._download_showing_delivery(job, language)
        with contextlib.closing(video):
            sent = await _finish_even_if_cancelled(self._delivery.send_video(job, video, language))
        return *sent, "video"

    async def _send_by_url(self, job: Job, language: str | None) -> tuple[Message, bool] | None:
        """None when the URL is not to be used (the upload decides then, with its own checks
        and a fresh URL if this one fails)."""
        assert job.video_url is not None
        try:
            probe = await self._delivery.probe(job.video_url)
        except DownloadError as error:
            log.info("job %d: result not probed (%s); uploading it", job.id, error)
            return None
        if probe.size is None or probe.size > TELEGRAM_URL_LIMIT:
            return None
        try:
            return await _finish_even_if_cancelled(
                self._delivery.send_video_by_url(job, probe, language)
            )
        except UrlRefused as error:
            log.info("job %d: Telegram could not fetch the video (%s); uploading it", job.id, error)
            if self._ctx.metrics is not None:
                self._ctx.metrics.url_refusals.inc()
            return None

    async def _download_showing_delivery(self, job: Job, language: str | None) -> VideoFile:
        """The download; one that takes a while shows "Uploading your video…" meanwhile. Most
        are quick, and the video itself then replaces the status: one Telegram call fewer."""
        download = asyncio.ensure_future(self._download(job))
        try:
            await asyncio.wait({download}, timeout=SHOW_SLOW_STEP_AFTER)
            if not download.done():
                await self._ctx.progress(job, language).show_delivering()
            return await download
        except BaseException:
            # Stopped while showing progress: a download that finished meanwhile is let go.
            if download.done() and not download.cancelled() and download.exception() is None:
                download.result().close()
            raise
        finally:
            if not download.done():
                download.cancel()
                await asyncio.gather(download, return_exceptions=True)

    async def _download(self, job: Job) -> VideoFile:
        """The result's bytes. On failure ask the API again: result URLs expire, and a fresh
        one replaces the stored one; either way the download is tried once more. A story's
        are its shots', stitched."""
        ctx = self._ctx
        if job.kind == StorySpec.kind:
            try:
                return await self._story.video(job)
            except StoryStitchError as error:
                raise DownloadError(f"stitching failed: {error}") from None
        assert job.video_url is not None and job.remote_id is not None
        try:
            return await self._delivery.download(job.video_url)
        except DownloadError as first_error:
            try:
                fresh = await ctx.client.fetch(job.remote_id)
            except errors.LumaError:
                # No fresh URL to try: even a non-video is only retried later, not final yet.
                raise DownloadError(str(first_error)) from None
            url = fresh.video_url or job.video_url
            if url != job.video_url:
                log.info("job %d: result URL replaced by a fresh one", job.id)
                await ctx.repo.set_video_url(
                    job.id, ctx.owner, video_url=url, thumbnail_url=fresh.thumbnail_url
                )
            return await self._delivery.download(url)

    async def _retry(self, job: Job, error: Exception) -> bool:
        ctx = self._ctx
        next_attempt = time.time() + ctx.settings.delivery_backoff.delay(job.attempts)
        if next_attempt >= job.deadline_at + ctx.settings.delivery_grace:
            return await ctx.fail(job, FailureCode.DELIVERY_FAILED, str(error))
        log.warning("job %d: delivery failed (%s); retrying", job.id, error)
        await ctx.repo.release(job.id, ctx.owner, next_attempt_at=next_attempt, count_attempt=True)
        return False
