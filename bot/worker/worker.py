"""The generation lifecycle: submit -> wait -> deliver | fail + refund.

The worker leases due jobs from the database (`leases`), so a job whose process died is picked
up again once its lease lapses. Each step is checkpointed before the next one starts:

    QUEUED --mark_submitting--> SUBMITTING --create ok--> WAITING --completed--> DELIVERING
       ^                            |                        |                      |
       +--- refused (429/503/       +-- no answer: FAILED    +-- failed/deadline:    +--> DELIVERED
            no connection)              (never re-sent)          FAILED

One module per step: `submit` (and its double-charge policy), `wait`, `deliver`; a failed job
is told why (`notices`) before it is left alone. This module only wires them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from telegram import Bot

from bot.domain.model import Job, JobState
from bot.domain.specs import StorySpec
from bot.domain.stores import JobStore
from bot.links import LinkSigner
from bot.llm import PromptHelper
from bot.luma import VideoApiClient
from bot.metrics import Metrics
from bot.worker.alerts import OperatorAlerts
from bot.worker.context import DELIVERY_GRACE_SECONDS, WorkerContext, WorkerSettings
from bot.worker.deliver import Deliver
from bot.worker.delivery import Delivery
from bot.worker.leases import UNEXPECTED_ERROR_RETRY_SECONDS, Leases
from bot.worker.notices import Notices
from bot.worker.progress import EditBudget
from bot.worker.story import Story
from bot.worker.submit import CallbackLinks, Submit
from bot.worker.wait import Wait

__all__ = [
    "DELIVERY_GRACE_SECONDS",
    "UNEXPECTED_ERROR_RETRY_SECONDS",
    "Worker",
    "WorkerSettings",
]


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
        callbacks: CallbackLinks | None = None,
        alerts: OperatorAlerts | None = None,
        owner: str | None = None,
        metrics: Metrics | None = None,
        telegram_room: Callable[[int], bool] | None = None,
        prompt_helper: PromptHelper | None = None,
    ) -> None:
        self._ctx = WorkerContext(
            repo=repository,
            client=client,
            bot=bot,
            settings=settings,
            owner=owner or f"worker-{uuid.uuid4().hex[:12]}",
            alerts=alerts or OperatorAlerts(bot, frozenset()),
            notices=Notices(repository, bot, telegram_room=telegram_room),
            edit_budget=EditBudget(private_interval=settings.progress_interval, room=telegram_room),
            metrics=metrics,
            prompt_helper=prompt_helper,
        )
        submit = Submit(self._ctx, signer=signer, callbacks=callbacks)
        self._story = Story(self._ctx, delivery)
        # Each step returns True to go on with the next step now.
        self._steps: dict[JobState, Callable[[Job], Awaitable[bool]]] = {
            JobState.QUEUED: submit.run,
            JobState.SUBMITTING: submit.interrupted,
            JobState.WAITING: Wait(self._ctx, expect_callbacks=callbacks is not None).run,
            JobState.DELIVERING: Deliver(self._ctx, delivery, self._story).run,
        }
        self._leases = Leases(self._ctx, self._advance)

    @property
    def owner(self) -> str:
        """The name this worker's leases carry."""
        return self._ctx.owner

    async def start(self) -> None:
        await self._leases.start()

    async def stop(self) -> None:
        """Stop claiming and abandon in-flight steps; their leases are released for a restart."""
        await self._leases.stop()

    @property
    def in_flight(self) -> int:
        """Jobs this worker is carrying right now."""
        return self._leases.in_flight

    def wake(self) -> None:
        """Claim now instead of at the next interval (a job was just accepted)."""
        self._leases.wake()

    async def _advance(self, job_id: int) -> None:
        """Run steps until the job is final or parked for a later attempt."""
        repo = self._ctx.repo
        while True:
            job = await repo.get_job(job_id)
            if job is not None and job.state is JobState.FAILED and job.notice_pending:
                await self._ctx.notices.tell_failure(job)
                return
            if job is None or job.state.is_final:
                return
            if not await self._step(job)(job):
                return

    def _step(self, job: Job) -> Callable[[Job], Awaitable[bool]]:
        """What moves `job` on from its state: a story makes its shots until it is delivered;
        a story's shot is kept for it rather than sent."""
        if job.kind == StorySpec.kind and job.state in (JobState.QUEUED, JobState.WAITING):
            return self._story.run
        if job.story_job_id is not None and job.state is JobState.DELIVERING:
            return self._story.shot_made
        return self._steps[job.state]
