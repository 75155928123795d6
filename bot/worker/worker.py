"""The generation lifecycle: submit -> wait -> deliver | fail + refund.

The worker leases due jobs from the database (owner + expiry, renewed while worked), so a job
whose process died is picked up again once its lease lapses. Each step is checkpointed before
the next one starts:

    QUEUED --mark_submitting--> SUBMITTING --create ok--> WAITING --completed--> DELIVERING
       ^                            |                        |                      |
       +--- refused (429/503/       +-- no answer: FAILED    +-- failed/deadline:    +--> DELIVERED
            no connection)              (never re-sent)          FAILED

Double-charge policy: a create request costs money and is sent only from QUEUED, after the job
was durably marked SUBMITTING. If the API's answer is lost (timeout, dropped connection,
unreadable body, or a crash while SUBMITTING) we cannot know whether it was charged, and the API
offers no idempotency key, so the job is failed with an explanation and the user's quota is
refunded; it is never re-sent behind the user's back. Only answers that prove the API refused
the request (429, 503, a connection that never opened) put the job back in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.domain.model import FailureCode, Job, JobState, classify_failure, refund_for
from bot.domain.specs import GenerationSpec
from bot.domain.stores import JobStore
from bot.links import LinkSigner
from bot.logs import current_job_id, redact
from bot.luma import VideoApiClient, errors
from bot.luma.models import Generation, GenerationState
from bot.luma.retry import Backoff
from bot.metrics import Metrics
from bot.telegram.buttons import cancel_button
from bot.texts import text
from bot.web.provider_callbacks import CallbackReceiver
from bot.worker.alerts import OperatorAlerts, Problem
from bot.worker.delivery import (
    SHOW_SLOW_STEP_AFTER,
    Delivery,
    DownloadError,
    NotAVideo,
    VideoTooLarge,
    reply_to,
)
from bot.worker.progress import EditBudget, Progress, status_text

log = logging.getLogger(__name__)
T = TypeVar("T")

# A finished video is worth waiting for: delivery keeps trying this long past the deadline
# (DELIVERY_GRACE_SECONDS); so does a step that failed unexpectedly, then the job ends.
DELIVERY_GRACE_SECONDS = 600.0
# A step that raised what nobody expected is tried again after this long (until the grace ends).
UNEXPECTED_ERROR_RETRY_SECONDS = 30.0
# How long the "ready" notice may wait for room in Telegram's limits before it is skipped.
NOTICE_PATIENCE_SECONDS = 10.0
# A wait refused for an operator problem (key rejected, no credits) parks the job for this many
# poll intervals, then looks again: a minute at the default LUMA_POLL_INTERVAL.
OPERATOR_PROBLEM_RETRY_POLLS = 12
# Refusals whose status proves the create did not go through.
_REFUSED_STATUSES = {429, 503}


# What the user is told for each failure (None: nobody to tell).
_FAILURE_TEXT: dict[FailureCode, str | None] = {
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


@dataclass(frozen=True)
class WorkerSettings:
    max_concurrent: int = 10
    lease_seconds: float = 60.0
    claim_interval: float = 1.0
    progress_interval: float = 10.0
    submit_backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=60.0))
    delivery_backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=60.0))
    delivery_grace: float = DELIVERY_GRACE_SECONDS


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


class Worker:
    """Claims due jobs and carries each to its end, up to `max_concurrent` at once."""

    def __init__(
        self,
        *,
        repository: JobStore,
        client: VideoApiClient,
        bot: Bot,
        delivery: Delivery,
        settings: WorkerSettings,
        signer: LinkSigner | None = None,
        callbacks: CallbackReceiver | None = None,
        alerts: OperatorAlerts | None = None,
        owner: str | None = None,
        metrics: Metrics | None = None,
        telegram_room: Callable[[int], bool] | None = None,
    ) -> None:
        self._metrics = metrics
        self._telegram_room = telegram_room
        self._repo = repository
        self._signer = signer
        self._callbacks = callbacks
        self._alerts = alerts or OperatorAlerts(bot, frozenset())
        # Shared by every job's status message.
        self._edit_budget = EditBudget(
            private_interval=settings.progress_interval, room=telegram_room
        )
        self._client = client
        self._bot = bot
        self._delivery = delivery
        self._settings = settings
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="worker-claim-loop")

    async def stop(self) -> None:
        """Stop claiming and abandon in-flight steps; their leases are released for a restart."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Jobs this worker is carrying right now."""
        return len(self._tasks)

    def wake(self) -> None:
        """Claim now instead of at the next interval (a job was just accepted)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self._settings.max_concurrent - len(self._tasks)
            if free > 0:
                try:
                    jobs = await self._repo.claim_due(
                        self.owner,
                        limit=free,
                        lease_seconds=self._settings.lease_seconds,
                        now=time.time(),
                    )
                except Exception:
                    log.exception("claiming jobs failed; retrying")
                    jobs = []
                for job in jobs:
                    self._spawn(job)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the event fires, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.claim_interval):
                    await self._wake.wait()

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._carry(job), name=f"job-{job.id}")
        self._tasks[job.id] = task

        def _done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job.id, None)
            self._wake.set()

        task.add_done_callback(_done)

    # --- one job ------------------------------------------------------------------------------

    async def _carry(self, job: Job) -> None:
        current_job_id.set(job.id)  # this task's own context: every log line names the job
        renewer = asyncio.create_task(self._keep_lease(job.id, asyncio.current_task()))
        try:
            await self._advance(job.id)
        except asyncio.CancelledError:
            await self._release_quietly(job.id, next_attempt_at=None)
            raise
        except Exception as error:
            log.exception("job %d: unexpected error", job.id)
            await self._after_unexpected_error(job.id, error)
        finally:
            renewer.cancel()

    async def _keep_lease(self, job_id: int, carrier: asyncio.Task[None] | None) -> None:
        interval = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            until = time.time() + self._settings.lease_seconds
            try:
                held = await self._repo.renew_lease(job_id, self.owner, until=until)
            except Exception:
                log.exception("job %d: lease renewal failed", job_id)
                continue
            if held:
                continue
            # Not held: either this worker ended or parked the job itself (and is finishing up,
            # e.g. telling the user: let it), or another worker took the job over (stop).
            job = await self._repo.get_job(job_id)
            if job is not None and job.lease_owner not in (None, self.owner):
                log.warning("job %d: lease lost; another worker owns it now", job_id)
                if carrier is not None:
                    carrier.cancel()
            return

    async def _after_unexpected_error(self, job_id: int, error: Exception) -> None:
        """A step raised what nobody expected: try again a little later, until the deadline
        plus the grace has passed; then end the job (told, with the failure's refund policy)
        rather than retry it forever."""
        retry_at = time.time() + UNEXPECTED_ERROR_RETRY_SECONDS
        try:
            job = await self._repo.get_job(job_id)
            if job is not None:
                give_up_at = job.deadline_at + self._settings.delivery_grace
                if time.time() >= give_up_at:
                    await self._give_up(job, error)
                    return
                retry_at = min(retry_at, give_up_at)
        except Exception:
            log.exception("job %d: could not end it after the unexpected error", job_id)
        log.warning("job %d: will try again in %.0fs", job_id, max(retry_at - time.time(), 0))
        await self._release_quietly(job_id, next_attempt_at=retry_at)

    async def _give_up(self, job: Job, error: Exception) -> None:
        reason = f"unexpected error ({type(error).__name__})"
        if job.state.is_final:  # it was telling a failure: stop trying to
            if job.notice_pending:
                log.error("job %d: the failure notice could not be sent; given up", job.id)
                await self._repo.notice_sent(job.id)
            return
        if await self._fail(job, FailureCode.INTERNAL_ERROR, reason):
            failed = await self._repo.get_job(job.id)
            if failed is not None:
                await self._tell_failure(failed)

    async def _release_quietly(self, job_id: int, *, next_attempt_at: float | None) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(
                self._repo.release(job_id, self.owner, next_attempt_at=next_attempt_at)
            )

    async def _advance(self, job_id: int) -> None:
        """Run steps until the job is final or parked for a later attempt."""
        while True:
            job = await self._repo.get_job(job_id)
            if job is not None and job.state is JobState.FAILED and job.notice_pending:
                await self._tell_failure(job)
                return
            if job is None or job.state.is_final:
                return
            step = {
                JobState.QUEUED: self._submit,
                JobState.SUBMITTING: self._submit_was_interrupted,
                JobState.WAITING: self._wait,
                JobState.DELIVERING: self._deliver,
            }[job.state]
            if not await step(job):
                return

    # --- steps: each returns True to continue with the next step now --------------------------

    async def _submit(self, job: Job) -> bool:
        now = time.time()
        if now >= job.deadline_at:
            return await self._fail(job, FailureCode.TIMEOUT)
        try:
            spec = GenerationSpec.from_job(job.prompt, job.params, job.parent_job_id)
            callback_url = (
                self._callbacks.link_for(job.id, job.deadline_at) if self._callbacks else None
            )
            # Photo links are signed just now.
            request = spec.video_request(self._signer, callback_url=callback_url)
        except ValueError as error:
            return await self._fail(job, FailureCode.UNSUPPORTED, str(error))
        if not await self._repo.mark_submitting(job.id, self.owner, now):
            return False
        try:
            generation = await self._client.create(request)
        except errors.RateLimitError as error:
            return await self._requeue(job, error.retry_after, error)
        except errors.ApiConnectionError as error:
            return await self._requeue(job, None, error)
        except errors.ServerError as error:
            if error.status in _REFUSED_STATUSES:
                return await self._requeue(job, None, error)
            return await self._fail(job, FailureCode.SUBMIT_UNCERTAIN, str(error))
        except errors.ApiTimeoutError as error:
            return await self._fail(job, FailureCode.SUBMIT_UNCERTAIN, str(error))
        except errors.AuthenticationError as error:
            await self._alerts.problem(Problem.BAD_API_KEY, error.message)
            return await self._fail(job, FailureCode.SERVICE_UNAVAILABLE, str(error))
        except errors.CreditsError as error:
            await self._alerts.problem(Problem.NO_CREDITS, error.message)
            return await self._fail(job, FailureCode.CREDITS_EXHAUSTED, str(error))
        except errors.UnsupportedRequestError as error:
            return await self._fail(job, FailureCode.UNSUPPORTED, str(error))
        except errors.LumaError as error:
            return await self._fail(job, FailureCode.REJECTED, error.message)
        log.info("job %d: submitted as %s", job.id, generation.id)
        await self._alerts.resolved()
        return await self._repo.mark_submitted(
            job.id,
            self.owner,
            remote_id=generation.id,
            remote_state=generation.state.value,
            now=time.time(),
        )

    async def _submit_was_interrupted(self, job: Job) -> bool:
        # A create may have reached the API before the process died: see the module docstring.
        return await self._fail(job, FailureCode.SUBMIT_UNCERTAIN, "interrupted during submit")

    async def _requeue(self, job: Job, retry_after: float | None, error: Exception) -> bool:
        delay = (
            retry_after
            if retry_after is not None
            else self._settings.submit_backoff.delay(job.attempts)
        )
        next_attempt = time.time() + delay
        if next_attempt >= job.deadline_at:
            return await self._fail(job, FailureCode.TIMEOUT)
        log.warning("job %d: create refused (%s); retry in %.1fs", job.id, error, delay)
        await self._repo.requeue(job.id, self.owner, next_attempt_at=next_attempt, now=time.time())
        await self._show_place_in_queue(job)
        await self._repo.release(job.id, self.owner, next_attempt_at=next_attempt)
        return False

    async def _show_place_in_queue(self, job: Job) -> None:
        """After the API pushed a job back, say so and where it stands (if the budget allows)."""
        if job.status_message_id is None or not self._edit_budget.try_spend(job.chat_id):
            return
        ahead = await self._repo.queued_ahead(job.id)
        language = await self._language(job)
        message = status_text(
            job.prompt,
            GenerationState.QUEUED,
            time.time() - job.created_at,
            language,
            ahead=ahead,
            busy=True,
        )
        with contextlib.suppress(TelegramError):
            # The Cancel button stays: the job has not reached the API yet.
            await self._bot.edit_message_text(
                chat_id=job.chat_id,
                message_id=job.status_message_id,
                text=message,
                reply_markup=cancel_button(job.id, language),
            )

    async def _wait(self, job: Job) -> bool:
        assert job.remote_id is not None
        progress = self._progress(job, await self._language(job))
        progress.start()

        last_state = job.remote_state

        async def on_update(generation: Generation) -> None:
            nonlocal last_state
            if generation.state.value != last_state:
                await self._repo.set_remote_state(
                    job.id, self.owner, generation.state.value, time.time()
                )
                last_state = generation.state.value
            await progress.show(generation)

        try:
            generation = await self._client.wait_until_done(
                job.remote_id,
                deadline=job.deadline_at,
                on_update=on_update,
                expect_callbacks=self._callbacks is not None,
            )
        except errors.DeadlineExceeded:
            return await self._fail(job, FailureCode.TIMEOUT)
        except (errors.AuthenticationError, errors.CreditsError) as error:
            # The video is paid for; keep it and look again once the operator fixes the key.
            problem = (
                Problem.BAD_API_KEY
                if isinstance(error, errors.AuthenticationError)
                else Problem.NO_CREDITS
            )
            await self._alerts.problem(problem, error.message)
            retry_at = time.time() + self._client.poll_interval * OPERATOR_PROBLEM_RETRY_POLLS
            # A parked job is claimed up to a claim interval after its time: if that could
            # land past the deadline, the look would end as a timeout instead of saying why.
            if retry_at + self._settings.claim_interval >= job.deadline_at:
                return await self._fail(job, FailureCode.SERVICE_UNAVAILABLE, str(error))
            await self._repo.release(job.id, self.owner, next_attempt_at=retry_at)
            return False
        except errors.LumaError as error:
            return await self._fail(job, FailureCode.GENERATION_FAILED, error.message)
        finally:
            await progress.stop()
        if generation.state is GenerationState.FAILED:
            reason = generation.failure_reason or "no reason given"
            return await self._fail(job, classify_failure(reason), reason)
        if not generation.video_url:
            return await self._fail(job, FailureCode.GENERATION_FAILED, "no video in the result")
        return await self._repo.mark_delivering(
            job.id,
            self.owner,
            video_url=generation.video_url,
            thumbnail_url=generation.thumbnail_url,
            now=time.time(),
        )

    async def _deliver(self, job: Job) -> bool:
        assert job.video_url is not None
        language = await self._language(job)
        interrupted = False
        try:
            try:
                data = await self._download_showing_delivery(job, language)
                message, interrupted = await _finish_even_if_cancelled(
                    self._delivery.send_video(job, data, language)
                )
            except VideoTooLarge as too_large:
                current = await self._repo.get_job(job.id)  # the URL may have been refreshed
                message = await self._delivery.send_link(current or job, too_large.size, language)
        except Forbidden as error:
            log.warning("job %d: chat %d unreachable: %s", job.id, job.chat_id, error)
            return await self._fail(job, FailureCode.CHAT_UNREACHABLE, str(error))
        except NotAVideo as error:  # the fresh URL too: it will not become a video by waiting
            log.warning("job %d: %s; nothing sent", job.id, error)
            return await self._fail(job, FailureCode.NOT_A_VIDEO, str(error))
        except (DownloadError, TelegramError) as error:
            return await self._retry_delivery(job, error)
        file_id = message.video.file_id if message.video else None
        await self._repo.mark_delivered(
            job.id, self.owner, message_id=message.message_id, file_id=file_id, now=time.time()
        )
        log.info("job %d: delivered as message %d", job.id, message.message_id)
        if self._metrics is not None:
            self._metrics.deliveries.labels("video" if message.video else "link").inc()
        if interrupted:
            raise asyncio.CancelledError  # the shutdown waited for the upload; now stop
        await self._after_delivery(job, message, language)
        return False

    def _progress(self, job: Job, language: str | None) -> Progress:
        return Progress(
            self._bot,
            self._repo,
            job,
            self._settings.progress_interval,
            language,
            self._edit_budget,
            cancellable=self._client.can_delete,
        )

    async def _download_showing_delivery(self, job: Job, language: str | None) -> bytes:
        """The download; one that takes a while shows "Uploading your video…" meanwhile. Most
        are quick, and the video itself then replaces the status: one Telegram call fewer."""
        download = asyncio.ensure_future(self._download(job))
        try:
            await asyncio.wait({download}, timeout=SHOW_SLOW_STEP_AFTER)
            if not download.done():
                await self._progress(job, language).show_delivering()
            return await download
        finally:
            if not download.done():
                download.cancel()
                await asyncio.gather(download, return_exceptions=True)

    async def _download(self, job: Job) -> bytes:
        """The result's bytes. On failure ask the API again: result URLs expire, and a fresh
        one replaces the stored one; either way the download is tried once more."""
        assert job.video_url is not None and job.remote_id is not None
        try:
            return await self._delivery.download(job.video_url)
        except DownloadError as first_error:
            try:
                fresh = await self._client.fetch(job.remote_id)
            except errors.LumaError:
                # No fresh URL to try: even a non-video is only retried later, not final yet.
                raise DownloadError(str(first_error)) from None
            url = fresh.video_url or job.video_url
            if url != job.video_url:
                log.info("job %d: result URL replaced by a fresh one", job.id)
                await self._repo.set_video_url(
                    job.id, self.owner, video_url=url, thumbnail_url=fresh.thumbnail_url
                )
            return await self._delivery.download(url)

    async def _retry_delivery(self, job: Job, error: Exception) -> bool:
        next_attempt = time.time() + self._settings.delivery_backoff.delay(job.attempts)
        if next_attempt >= job.deadline_at + self._settings.delivery_grace:
            return await self._fail(job, FailureCode.DELIVERY_FAILED, str(error))
        log.warning("job %d: delivery failed (%s); retrying", job.id, error)
        await self._repo.release(
            job.id, self.owner, next_attempt_at=next_attempt, count_attempt=True
        )
        return False

    # --- endings ------------------------------------------------------------------------------

    async def _fail(self, job: Job, code: FailureCode, reason: str | None = None) -> bool:
        """Fail the job and refund once, as REFUNDS says; the next step tells the user why. The
        notice is part of the job (`notice_pending`): if this process dies before sending it,
        another worker claims the failed job after a lease's time and sends it."""
        now = time.time()
        refund = refund_for(code, submitted=job.remote_id is not None)
        notice_due_at = now + self._settings.lease_seconds if _FAILURE_TEXT[code] else None
        reason = redact(reason) if reason else reason  # error texts may carry a token URL
        failed = await self._repo.fail(
            job.id,
            code=code.value,
            reason=reason,
            refund=refund,
            now=now,
            notice_due_at=notice_due_at,
        )
        if failed:
            log.info("job %d: failed (%s: %s); refund: %s", job.id, code.value, reason, refund)
            if self._metrics is not None:
                self._metrics.failures.labels(code.value).inc()
        return failed

    async def _tell_failure(self, job: Job) -> None:
        try:
            key = _FAILURE_TEXT[FailureCode(job.failure_code or "")]
        except ValueError:  # a code this version does not know: the generic message
            key = _FAILURE_TEXT[FailureCode.GENERATION_FAILED]
        if key is not None:
            message = text(key, await self._language(job), reason=job.failure_reason or "")
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
                except BadRequest:
                    pass  # the status message is gone: reply instead
            await self._bot.send_message(
                chat_id=job.chat_id,
                text=message,
                message_thread_id=job.thread_id,
                reply_parameters=reply_to(job),
            )
        except TelegramError as error:
            log.warning("job %d: could not tell the user: %s", job.id, error)

    async def _after_delivery(self, job: Job, message: Message, language: str | None) -> None:
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

    async def _language(self, job: Job) -> str | None:
        if job.user_id is None:
            return None
        user = await self._repo.get_user(job.user_id)
        return user.language_code if user else None
