"""Provider callbacks: the video API POSTs a generation's new state to the URL the job gave it.

Each job that asks for callbacks gets its own signed URL (bot/links.py), so a callback is
authenticated by its path and can only concern that job. What it carries is handed to the job's
wait (bot/luma/pushed.py), which then moves on at once instead of at its next poll. Callbacks
may come late, twice, out of order or never: polling stays the fallback, a repeat is harmless
(the wait takes snapshots, not events), and a finished job just acknowledges them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.links import LinkSigner
from bot.luma.client import parse_generation
from bot.luma.errors import UnreadableResponseError
from bot.luma.pushed import PushedUpdates
from storage.base import Repository

log = logging.getLogger(__name__)

# A callback link outlives the job's deadline by this much: a late "failed" is still welcome.
LINK_GRACE_SECONDS = 3600.0


class CallbackReceiver:
    def __init__(
        self, *, signer: LinkSigner, repository: Repository, pushed: PushedUpdates
    ) -> None:
        self._signer = signer
        self._repo = repository
        self._pushed = pushed

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
        try:
            generation = parse_generation(payload)
        except UnreadableResponseError as error:
            log.warning("job %d: unreadable callback: %s", job.id, error)
            return 400
        if job.remote_id not in (None, generation.id):
            log.warning("job %d: callback for another generation (%s)", job.id, generation.id)
            return 404
        if job.state.is_final:
            return 200  # a repeat, or news of a job already settled
        log.info("job %d: callback says %s", job.id, generation.state.value)
        self._pushed.push(generation)
        return 200
