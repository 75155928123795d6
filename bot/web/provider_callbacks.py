"""Provider callbacks: the video API POSTs a generation's new state to the URL the job gave it.

Each job that asks for callbacks gets its own signed URL (bot/links.py), so a callback is
authenticated by its path and can only concern that job. A callback is a hint, never a result:
it only wakes the job's wait (bot/luma/wakeups.py), which then asks the API with its own
authenticated GET; the state and video URL in the body are never used. A job that has no
generation yet (queued, or pushed back by a 429) has nothing to hear about: refused. Callbacks
may come late, twice, out of order or never: polling stays the fallback, a repeat costs at most
one more look, and a finished job just acknowledges them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.domain.model import JobState
from bot.domain.stores import JobStore
from bot.links import LinkSigner
from bot.luma.wakeups import Wakeups

log = logging.getLogger(__name__)

# A callback link outlives the job's deadline by this much: a late "failed" is still welcome.
LINK_GRACE_SECONDS = 3600.0


class CallbackReceiver:
    def __init__(self, *, signer: LinkSigner, repository: JobStore, wakeups: Wakeups) -> None:
        self._signer = signer
        self._repo = repository
        self._wakeups = wakeups

    def link_for(self, job_id: int, deadline_at: float) -> str:
        return self._signer.callback_link(job_id, expires=deadline_at + LINK_GRACE_SECONDS)

    def job_of(self, token: str) -> int | None:
        """The job a callback link names, or None if forged or expired: asked before any body
        is read, so a stranger's request costs no reading and no parsing."""
        return self._signer.verify_callback(token, now=time.time())

    async def receive(self, job_id: int, payload: Any) -> int:
        """Take one callback for the job `job_of` named; the HTTP status to answer (the
        provider retries non-200s)."""
        job = await self._repo.get_job(job_id)
        if job is None:
            return 404
        if job.remote_id is None:
            log.warning("job %d: callback before the job has a generation: refused", job.id)
            return 404
        generation_id = _generation_id(payload)
        if generation_id is None:
            log.warning("job %d: unreadable callback", job.id)
            return 400
        if generation_id != job.remote_id:
            log.warning("job %d: callback for another generation", job.id)
            return 404
        if job.state is JobState.WAITING:
            log.info("job %d: callback; looking at the generation now", job.id)
            self._wakeups.wake(job.remote_id)
        return 200  # otherwise a repeat, or news of a job already past waiting


def _generation_id(payload: Any) -> str | None:
    """The id a callback names (the only field read: the rest is never believed)."""
    if not isinstance(payload, dict):
        return None
    generation_id = payload.get("id")
    return str(generation_id) if isinstance(generation_id, str | int) else None
