"""Claiming due jobs and holding them: up to `max_concurrent` at once, each under a lease
(owner + expiry) renewed while it is worked, so a job whose process died is picked up again
once its lease lapses. A step that raises what nobody expected is tried again a little later,
until the deadline plus the grace; then the job ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bot.domain.model import FailureCode, Job
from bot.logs import current_job_id
from bot.worker.context import WorkerContext
from bot.worker.notices import TellLater

log = logging.getLogger(__name__)

# A step that raised what nobody expected is tried again after this long (until the grace ends).
UNEXPECTED_ERROR_RETRY_SECONDS = 30.0


class Leases:
    """The claim loop and every claimed job's task; `advance` carries one job as far as it can."""

    def __init__(self, context: WorkerContext, advance: Callable[[int], Awaitable[None]]) -> None:
        self._ctx = context
        self._advance = advance
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

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
        return len(self._tasks)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        settings = self._ctx.settings
        while not self._stopping:
            self._wake.clear()
            free = settings.max_concurrent - len(self._tasks)
            if free > 0:
                try:
                    jobs = await self._ctx.repo.claim_due(
                        self._ctx.owner,
                        limit=free,
                        lease_seconds=settings.lease_seconds,
                        now=time.time(),
                    )
                except Exception:
                    log.exception("claiming jobs failed; retrying")
                    jobs = []
                for job in jobs:
                    # A job already carried here had its lease lapse (renewals refused): the
                    # claim made the lease ours again, and its carrier goes on alone.
                    if job.id not in self._tasks:
                        self._spawn(job)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the event fires, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.claim_interval):
                    await self._wake.wait()

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._carry(job), name=f"job-{job.id}")
        self._tasks[job.id] = task

        def _done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job.id, None)
            self._wake.set()

        task.add_done_callback(_done)

    async def _carry(self, job: Job) -> None:
        current_job_id.set(job.id)  # this task's own context: every log line names the job
        renewer = asyncio.create_task(self._keep_lease(job.id, asyncio.current_task()))
        try:
            await self._advance(job.id)
        except asyncio.CancelledError:
            await self._release_quietly(job.id, next_attempt_at=None)
            raise
        except TellLater as error:
            await self._after_unexpected_error(job.id, error)
        except Exception as error:
            log.exception("job %d: unexpected error", job.id)
            await self._after_unexpected_error(job.id, error)
        finally:
            renewer.cancel()

    async def _keep_lease(self, job_id: int, carrier: asyncio.Task[None] | None) -> None:
        ctx = self._ctx
        interval = ctx.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            until = time.time() + ctx.settings.lease_seconds
            try:
                held = await ctx.repo.renew_lease(job_id, ctx.owner, until=until)
            except Exception:
                log.exception("job %d: lease renewal failed", job_id)
                continue
            if held:
                continue
            # Not held: either this worker ended or parked the job itself (and is finishing up,
            # e.g. telling the user: let it), or another worker took the job over (stop).
            job = await ctx.repo.get_job(job_id)
            if job is not None and job.lease_owner not in (None, ctx.owner):
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
            job = await self._ctx.repo.get_job(job_id)
            if job is not None:
                give_up_at = job.deadline_at + self._ctx.settings.delivery_grace
                if time.time() >= give_up_at:
                    await self._give_up(job, error)
                    return
                retry_at = min(retry_at, give_up_at)
        except Exception:
            log.exception("job %d: could not end it after the unexpected error", job_id)
        log.warning("job %d: will try again in %.0fs", job_id, max(retry_at - time.time(), 0))
        await self._release_quietly(job_id, next_attempt_at=retry_at)

    async def _give_up(self, job: Job, error: Exception) -> None:
        ctx = self._ctx
        reason = f"unexpected error ({type(error).__name__})"
        if job.state.is_final:  # it was telling a failure: stop trying to
            if job.notice_pending:
                log.error("job %d: the failure notice could not be sent; given up", job.id)
                await ctx.repo.notice_sent(job.id)
            return
        if await ctx.fail(job, FailureCode.INTERNAL_ERROR, reason):
            failed = await ctx.repo.get_job(job.id)
            if failed is not None:
                await ctx.notices.tell_failure(failed)

    async def _release_quietly(self, job_id: int, *, next_attempt_at: float | None) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(
                self._ctx.repo.release(job_id, self._ctx.owner, next_attempt_at=next_attempt_at)
            )
