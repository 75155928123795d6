"""The submit step: QUEUED -> SUBMITTING -> WAITING, one create request per job (a video, an
upscale or a soundtrack: `spec_of(job)` builds it, `VideoApiClient.submit` sends it).

Double-charge policy: a create request costs money and is sent only from QUEUED, after the job
was durably marked SUBMITTING. If the API's answer is lost (timeout, dropped connection,
unreadable body, or a crash while SUBMITTING) we cannot know whether it was charged, and the API
offers no idempotency key, so the job is failed with an explanation and the user's quota is
refunded; it is never re-sent behind the user's back. Only answers that prove the API refused
the request (429, 503, a connection that never opened) put the job back in the queue.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from typing import Protocol

from telegram.error import TelegramError

from bot.domain.model import FailureCode, Job, JobState, classify_refusal
from bot.domain.specs import GENERATION_KINDS, GenerationSpec, PromptHelp, StorySpec, spec_of
from bot.links import LinkSigner
from bot.llm import HelpOutcome, Rewrite
from bot.luma import errors
from bot.luma.camera import prompt_with_camera
from bot.luma.models import GenerationState, prompt_length
from bot.telegram.buttons import cancel_button
from bot.worker.alerts import Problem
from bot.worker.context import WorkerContext
from bot.worker.progress import status_text

log = logging.getLogger(__name__)

# Refusals whose status proves the create did not go through.
_REFUSED_STATUSES = {429, 503}


class CallbackLinks(Protocol):
    """Where the provider may report a job's result (bot.web's CallbackReceiver)."""

    def link_for(self, job_id: int, deadline_at: float) -> str: ...


class Submit:
    def __init__(
        self,
        context: WorkerContext,
        *,
        signer: LinkSigner | None = None,
        callbacks: CallbackLinks | None = None,
    ) -> None:
        self._ctx = context
        self._signer = signer
        self._callbacks = callbacks

    async def run(self, job: Job) -> bool:
        """Send the create request (a QUEUED job); True to go on waiting for the result now."""
        ctx = self._ctx
        now = time.time()
        if now >= job.deadline_at:
            return await ctx.fail(job, FailureCode.TIMEOUT)
        try:
            spec = spec_of(job)
        except ValueError as error:
            return await ctx.fail(job, FailureCode.UNSUPPORTED, str(error))
        if isinstance(spec, StorySpec):  # a story makes its shots (bot/worker/story.py)
            return await ctx.fail(job, FailureCode.INTERNAL_ERROR, "a story is not submitted")
        if isinstance(spec, GenerationSpec):
            helped = await self._prompt_help(job, spec)
            if helped is None:
                return False  # cancelled (or taken over) while the helper worked
            spec = helped
        try:
            callback_url = (
                self._callbacks.link_for(job.id, job.deadline_at) if self._callbacks else None
            )
            # Photo links are signed just now.
            request = spec.video_request(self._signer, callback_url=callback_url)
        except ValueError as error:
            return await ctx.fail(job, FailureCode.UNSUPPORTED, str(error))
        if not await ctx.repo.mark_submitting(job.id, ctx.owner, now):
            return await self._not_sent(job)
        try:
            generation = await ctx.client.submit(request)
        except errors.RateLimitError as error:
            return await self._requeue(job, error.retry_after, error)
        except errors.ApiConnectionError as error:
            return await self._requeue(job, None, error)
        except errors.ServerError as error:
            if error.status in _REFUSED_STATUSES:
                return await self._requeue(job, None, error)
            return await ctx.fail(job, FailureCode.SUBMIT_UNCERTAIN, str(error))
        except errors.ApiTimeoutError as error:
            return await ctx.fail(job, FailureCode.SUBMIT_UNCERTAIN, str(error))
        except errors.AuthenticationError as error:
            await ctx.alerts.problem(Problem.BAD_API_KEY, error.message)
            return await ctx.fail(job, FailureCode.SERVICE_UNAVAILABLE, str(error))
        except errors.CreditsError as error:
            await ctx.alerts.problem(Problem.NO_CREDITS, error.message)
            return await ctx.fail(job, FailureCode.CREDITS_EXHAUSTED, str(error))
        except errors.UnsupportedRequestError as error:
            return await ctx.fail(job, FailureCode.UNSUPPORTED, str(error))
        except errors.LumaError as error:
            return await ctx.fail(job, classify_refusal(error.message), error.message)
        log.info("job %d: submitted as %s", job.id, generation.id)
        await ctx.alerts.resolved()
        return await ctx.repo.mark_submitted(
            job.id,
            ctx.owner,
            remote_id=generation.id,
            remote_state=generation.state.value,
            now=time.time(),
        )

    async def _not_sent(self, job: Job) -> bool:
        """The job could not be marked for sending: it moved on (cancelled, taken over), or it
        is a shot whose story was asked to stop or no longer makes shots, and then it never
        will be sent: it ends here (cancelled, told of by its story)."""
        ctx = self._ctx
        if job.story_job_id is None:
            return False
        story = await ctx.repo.get_job(job.story_job_id)
        if (
            story is None
            or story.stop_requested_at is not None
            or story.state not in (JobState.QUEUED, JobState.WAITING)
        ):
            await ctx.fail(job, FailureCode.CANCELLED, only_if=JobState.QUEUED)
        return False

    async def _prompt_help(self, job: Job, spec: GenerationSpec) -> GenerationSpec | None:
        """The spec with the prompt helper's work done and recorded, before the create: an
        enhanced or translated prompt, or (whatever went wrong) the user's own, with the
        enhancement's cost given back. None if the job moved on meanwhile."""
        ctx = self._ctx
        helper = ctx.prompt_helper
        asked = spec.helper or PromptHelp()
        if asked.done:
            return spec  # done before a restart: never asked (or charged) twice
        if helper is not None and helper.needed(spec.prompt, enhance=asked.enhance):
            rewrite = await helper.rewrite(
                spec.prompt, enhance=asked.enhance, fits=functools.partial(self._fits, spec)
            )
        elif asked.enhance:  # asked for, but the operator has turned the helper off since
            rewrite = Rewrite(HelpOutcome.FAILED, reason="no prompt helper configured")
        else:
            return spec
        if rewrite.outcome is HelpOutcome.FAILED:
            log.warning(
                "job %d: prompt helper failed (%s); sending the prompt as typed",
                job.id,
                rewrite.reason,
            )
        else:
            log.info("job %d: prompt %s", job.id, rewrite.outcome.value)
        help = asked.model_copy(update={"outcome": rewrite.outcome, "sent": rewrite.prompt})
        give_back = asked.cost if rewrite.outcome is HelpOutcome.FAILED else 0
        if ctx.metrics is not None:
            ctx.metrics.prompt_help.labels(rewrite.outcome.value).inc()
        settled = await ctx.repo.settle_prompt(
            job.id,
            ctx.owner,
            help=help.model_dump(mode="json"),
            give_back=give_back,
            now=time.time(),
        )
        return spec.helped(help) if settled else None

    def _offers_improve(self, job: Job) -> bool:
        """✨ Improve stays on a job pushed back to the queue while it can still be asked."""
        if self._ctx.prompt_helper is None or job.kind not in GENERATION_KINDS:
            return False
        return not GenerationSpec.from_job(job.prompt, job.params, job.parent_job_id).enhance

    def _fits(self, spec: GenerationSpec, prompt: str) -> bool:
        """Whether the video API takes `prompt` (with the camera move's phrase, where the
        family adds one to the prompt)."""
        limit = self._ctx.client.max_prompt_length
        return prompt_length(prompt_with_camera(prompt, spec.camera)) <= limit

    async def interrupted(self, job: Job) -> bool:
        """A job found SUBMITTING: its create may have reached the API before the process
        died (see the module docstring)."""
        return await self._ctx.fail(job, FailureCode.SUBMIT_UNCERTAIN, "interrupted during submit")

    async def _requeue(self, job: Job, retry_after: float | None, error: Exception) -> bool:
        ctx = self._ctx
        delay = (
            retry_after
            if retry_after is not None
            else ctx.settings.submit_backoff.delay(job.attempts)
        )
        next_attempt = time.time() + delay
        if next_attempt >= job.deadline_at:
            return await ctx.fail(job, FailureCode.TIMEOUT)
        log.warning("job %d: create refused (%s); retry in %.1fs", job.id, error, delay)
        await ctx.repo.requeue(job.id, ctx.owner, next_attempt_at=next_attempt, now=time.time())
        await self._show_place_in_queue(job)
        await ctx.repo.release(job.id, ctx.owner, next_attempt_at=next_attempt)
        return False

    async def _show_place_in_queue(self, job: Job) -> None:
        """After the API pushed a job back, say so and where it stands (if the budget allows)."""
        ctx = self._ctx
        if job.status_message_id is None or not ctx.edit_budget.try_spend(job.chat_id):
            return
        ahead = await ctx.repo.queued_ahead(job.id)
        language = await ctx.notices.language(job)
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
            await ctx.bot.edit_message_text(
                chat_id=job.chat_id,
                message_id=job.status_message_id,
                text=message,
                reply_markup=cancel_button(job.id, language, improve=self._offers_improve(job)),
            )
