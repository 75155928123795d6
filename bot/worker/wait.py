"""The wait step: WAITING -> DELIVERING, once the API says the video is made.

The status message shows progress meanwhile. The job fails at its deadline, or when the API
says the generation failed; a wait refused for an operator problem (the key rejected, no
credits) parks the job instead, since the video may already be paid for.
"""

from __future__ import annotations

import time

from bot.domain.model import FailureCode, Job, classify_failure
from bot.luma import errors
from bot.luma.models import Generation, GenerationState
from bot.worker.alerts import Problem
from bot.worker.context import WorkerContext

# A wait refused for an operator problem (key rejected, no credits) parks the job for this many
# poll intervals, then looks again: a minute at the default LUMA_POLL_INTERVAL.
OPERATOR_PROBLEM_RETRY_POLLS = 12


class Wait:
    def __init__(self, context: WorkerContext, *, expect_callbacks: bool = False) -> None:
        self._ctx = context
        # The provider calls back with news (received by bot.web): polling is only a fallback.
        self._expect_callbacks = expect_callbacks

    async def run(self, job: Job) -> bool:
        """Wait for the result (a WAITING job); True to go on delivering it now."""
        ctx = self._ctx
        assert job.remote_id is not None
        progress = ctx.progress(job, await ctx.notices.language(job))
        progress.start()

        last_state = job.remote_state

        async def on_update(generation: Generation) -> None:
            nonlocal last_state
            if generation.state.value != last_state:
                await ctx.repo.set_remote_state(
                    job.id, ctx.owner, generation.state.value, time.time()
                )
                last_state = generation.state.value
            await progress.show(generation)

        try:
            generation = await ctx.client.wait_until_done(
                job.remote_id,
                deadline=job.deadline_at,
                on_update=on_update,
                expect_callbacks=self._expect_callbacks,
            )
        except errors.DeadlineExceeded:
            return await ctx.fail(job, FailureCode.TIMEOUT)
        except (errors.AuthenticationError, errors.CreditsError) as error:
            return await self._park_for_operator(job, error)
        except errors.LumaError as error:
            return await ctx.fail(job, FailureCode.GENERATION_FAILED, error.message)
        finally:
            await progress.stop()
        if generation.state is GenerationState.FAILED:
            reason = generation.failure_reason or "no reason given"
            return await ctx.fail(job, classify_failure(reason), reason)
        if not generation.video_url:
            return await ctx.fail(job, FailureCode.GENERATION_FAILED, "no video in the result")
        return await ctx.repo.mark_delivering(
            job.id,
            ctx.owner,
            video_url=generation.video_url,
            thumbnail_url=generation.thumbnail_url,
            now=time.time(),
        )

    async def _park_for_operator(
        self, job: Job, error: errors.AuthenticationError | errors.CreditsError
    ) -> bool:
        """The video is paid for; keep it and look again once the operator fixes the key."""
        ctx = self._ctx
        problem = (
            Problem.BAD_API_KEY
            if isinstance(error, errors.AuthenticationError)
            else Problem.NO_CREDITS
        )
        await ctx.alerts.problem(problem, error.message)
        retry_at = time.time() + ctx.client.poll_interval * OPERATOR_PROBLEM_RETRY_POLLS
        # A parked job is claimed up to a claim interval after its time: if that could land
        # past the deadline, the look would end as a timeout instead of saying why.
        if retry_at + ctx.settings.claim_interval >= job.deadline_at:
            return await ctx.fail(job, FailureCode.SERVICE_UNAVAILABLE, str(error))
        await ctx.repo.release(job.id, ctx.owner, next_attempt_at=retry_at)
        return False
