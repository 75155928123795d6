"""Telling the user how a job ended: why it failed (or that it was cancelled), that the video is
ready. The status message carries the news where it can: it is edited, not answered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.domain.model import FailureCode, Job
from bot.domain.stores import JobStore
from bot.texts import text
from bot.worker.delivery import reply_to, unchanged

log = logging.getLogger(__name__)

# How long the "ready" notice may wait for room in Telegram's limits before it is skipped.
NOTICE_PATIENCE_SECONDS = 10.0

# What the user is told for each failure (None: nobody to tell).
FAILURE_TEXT: dict[FailureCode, str | None] = {
    FailureCode.MODERATION: "failed_moderation",
    FailureCode.IMAGE_REJECTED: "failed_image",
    FailureCode.CREDITS_EXHAUSTED: "failed_credits",
    FailureCode.GENERATION_FAILED: "failed_generation",
    FailureCode.TIMEOUT: "failed_timeout",
    FailureCode.REJECTED: "failed_rejected",
    FailureCode.SERVICE_UNAVAILABLE: "failed_service",
    FailureCode.SUBMIT_UNCERTAIN: "failed_uncertain",
    FailureCode.UNSUPPORTED: "failed_unsupported",
    FailureCode.DELIVERY_FAILED: "failed_delivery",
    FailureCode.CHAT_UNREACHABLE: None,
    FailureCode.CANCELLED: "cancelled",
    FailureCode.NOT_A_VIDEO: "failed_not_video",
    FailureCode.INTERNAL_ERROR: "failed_internal",
}


class TellLater(Exception):
    """Telegram failed for a moment while the user was being told: try the job again later
    (an expected fault, logged where it happened, not an unexpected error)."""


class Notices:
    def __init__(
        self,
        repository: JobStore,
        bot: Bot,
        *,
        telegram_room: Callable[[int], bool] | None = None,
    ) -> None:
        self._repo = repository
        self._bot = bot
        # Whether Telegram's limits leave room for a call to a chat right now.
        self._telegram_room = telegram_room

    async def language(self, job: Job) -> str | None:
        """The requester's language for everything the worker shows them."""
        if job.user_id is None:
            return None
        user = await self._repo.get_user(job.user_id)
        return user.language_code if user else None

    async def tell_failure(self, job: Job) -> None:
        """The failed job's notice, then the job no longer waits for it (`notice_sent`)."""
        try:
            key = FAILURE_TEXT[FailureCode(job.failure_code or "")]
        except ValueError:  # a code this version does not know: the generic message
            key = FAILURE_TEXT[FailureCode.GENERATION_FAILED]
        if key is not None:
            message = text(key, await self.language(job), reason=job.failure_reason or "")
            await self._tell(job, message)
        await self._repo.notice_sent(job.id)

    async def _tell(self, job: Job, message: str) -> None:
        """Replace the status message with `message`, or reply if that is impossible."""
        fresh = await self._repo.get_job(job.id)
        status_id = fresh.status_message_id if fresh else None
        try:
            if status_id is not None:
                try:
                    await self._bot.edit_message_text(
                        chat_id=job.chat_id, message_id=status_id, text=message
                    )
                    return
                except BadRequest as error:
                    if unchanged(error):
                        return  # it says so already: told before a restart cut the job short
                    # the status message is gone: reply instead
            await self._bot.send_message(
                chat_id=job.chat_id,
                text=message,
                message_thread_id=job.thread_id,
                reply_parameters=reply_to(job),
            )
        except (Forbidden, BadRequest) as error:  # blocked, chat gone: no later try will do
            log.warning("job %d: could not tell the user: %s", job.id, error)
        except TelegramError as error:
            # A passing fault (5xx, timeout, no connection): still to be told, so the job is
            # tried again later, as after an unexpected error, until the grace has passed.
            log.warning("job %d: could not tell the user yet: %s", job.id, error)
            raise TellLater(str(error)) from error

    async def after_delivery(self, job: Job, message: Message, language: str | None) -> None:
        """Tidy up once the video is recorded as delivered; best effort, never retried.

        Delivered in place of the status message: an edit makes no sound, so a short notice
        tells the requester (once: a lost notice is not worth a duplicate). Delivered as a new
        message (the status message could not be edited): remove the stale status."""
        fresh = await self._repo.get_job(job.id)
        status_id = fresh.status_message_id if fresh else None
        try:
            if status_id == message.message_id:
                # A channel post has nobody to notify; under heavy load the notice waits for
                # room behind other users' status messages and videos, briefly, then is skipped.
                if job.user_id is not None and await self._room_soon(job.chat_id):
                    await self._bot.send_message(
                        chat_id=job.chat_id,
                        text=text("video_ready", language),
                        message_thread_id=job.thread_id,
                        reply_parameters=ReplyParameters(
                            message_id=message.message_id, allow_sending_without_reply=True
                        ),
                    )
            elif status_id is not None:
                await self._bot.delete_message(chat_id=job.chat_id, message_id=status_id)
                await self._repo.set_status_message(job.id, None)
        except TelegramError as error:
            log.info("job %d: after delivery: %s", job.id, error)

    async def _room_soon(self, chat_id: int) -> bool:
        if self._telegram_room is None:
            return True
        deadline = time.monotonic() + NOTICE_PATIENCE_SECONDS
        while not self._telegram_room(chat_id):
            if time.monotonic() >= deadline:
                log.info("chat %d: no room for the ready notice; skipped", chat_id)
                return False
            await asyncio.sleep(0.2)
        return True
