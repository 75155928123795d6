"""What every step of the worker shares: the job store, the API client, the bot, the settings,
and the one ending any step may reach (`fail`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from telegram import Bot

from bot.domain.model import FailureCode, Job, JobState, refund_for
from bot.domain.stores import JobStore
from bot.llm import PromptHelper
from bot.logs import redact
from bot.luma import VideoApiClient
from bot.luma.retry import Backoff
from bot.metrics import Metrics
from bot.worker.alerts import OperatorAlerts
from bot.worker.notices import FAILURE_TEXT, Notices
from bot.worker.progress import EditBudget, Progress

log = logging.getLogger(__name__)

# A finished video is worth waiting for: delivery keeps trying this long past the deadline
# (DELIVERY_GRACE_SECONDS); so does a step that failed unexpectedly, then the job ends.
DELIVERY_GRACE_SECONDS = 600.0


@dataclass(frozen=True)
class WorkerSettings:
    max_concurrent: int = 10
    lease_seconds: float = 60.0
    claim_interval: float = 1.0
    progress_interval: float = 10.0
    submit_backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=60.0))
    delivery_backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=60.0))
    delivery_grace: float = DELIVERY_GRACE_SECONDS
    # Send a small enough video as its URL for Telegram to fetch (DELIVER_BY_URL).
    deliver_by_url: bool = False


@dataclass(frozen=True)
class WorkerContext:
    """One per worker, shared by its steps. Every checkpoint a step writes is fenced by the
    lease, so each carries `owner`."""

    repo: JobStore
    client: VideoApiClient
    bot: Bot
    settings: WorkerSettings
    owner: str
    alerts: OperatorAlerts
    notices: Notices
    # Shared by every job's status message.
    edit_budget: EditBudget
    metrics: Metrics | None = None
    # Enhances and translates prompts before the create (None: no LLM configured).
    prompt_helper: PromptHelper | None = None

    def progress(self, job: Job, language: str | None) -> Progress:
        """The job's status message, kept current while a step runs."""
        return Progress(
            self.bot,
            self.repo,
            job,
            self.settings.progress_interval,
            language,
            # A story's shot has no status message of its own: it spends nothing.
            self.edit_budget if job.story_job_id is None else None,
            cancellable=self.client.can_delete,
        )

    async def fail(
        self,
        job: Job,
        code: FailureCode,
        reason: str | None = None,
        *,
        submitted: bool | None = None,
        only_if: JobState | None = None,
    ) -> bool:
        """Fail the job (if it is still in state `only_if`, when given) and refund once, as
        REFUNDS says; the next step tells the user why. The notice is part of the job
        (`notice_pending`): if this process dies before sending it, another worker claims the
        failed job after a lease's time and sends it."""
        now = time.time()
        # `submitted`: whether the provider had it (a story: whether its shot reached it).
        reached = job.remote_id is not None if submitted is None else submitted
        refund = refund_for(code, submitted=reached)
        # A story's shot is told of by its story, not on its own.
        told = FAILURE_TEXT[code] is not None and job.story_job_id is None
        notice_due_at = now + self.settings.lease_seconds if told else None
        reason = redact(reason) if reason else reason  # error texts may carry a token URL
        failed = await self.repo.fail(
            job.id,
            code=code.value,
            reason=reason,
            refund=refund,
            now=now,
            only_if=only_if,
            notice_due_at=notice_due_at,
        )
        if failed and job.story_job_id is not None:
            await self.repo.wake_job(job.story_job_id, now)
        if failed:
            log.info("job %d: failed (%s: %s); refund: %s", job.id, code.value, reason, refund)
            if self.metrics is not None:
                self.metrics.failures.labels(code.value).inc()
        return failed
