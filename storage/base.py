"""The repository protocol and the records it speaks in. Knows nothing of Telegram.

Every durable fact lives behind this protocol, so a restarted (or second) process can carry any
job to its end. Implementations: storage/sqlite.py (one host) and storage/postgres.py (several
replicas sharing one database).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class JobState(StrEnum):
    QUEUED = "queued"  # accepted and charged, not yet sent to the API
    SUBMITTING = "submitting"  # a create request may be in flight: never re-sent blindly
    WAITING = "waiting"  # the API has it (remote_id known)
    DELIVERING = "delivering"  # finished remotely; being sent to the chat
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobState.DELIVERED, JobState.FAILED)


ACTIVE_STATES: tuple[JobState, ...] = (
    JobState.QUEUED,
    JobState.SUBMITTING,
    JobState.WAITING,
    JobState.DELIVERING,
)


class Refund(StrEnum):
    """What failing a job gives back (bot/worker/worker.py decides it per failure reason)."""

    FULL = "full"  # the payer's unit, and the job leaves the day's total (GLOBAL_DAILY_QUOTA)
    PAYER = "payer"  # the payer's unit only: the provider may have billed it, the total keeps it
    NONE = "none"  # nothing: the provider made and billed it


class UserRecord(BaseModel):
    user_id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


class NewJob(BaseModel):
    """What a handler hands over: everything needed to run the job later, anywhere."""

    family: str
    kind: str = "text"
    user_id: int | None
    chat_id: int
    thread_id: int | None = None
    request_message_id: int
    request_key: str
    parent_job_id: int | None = None
    prompt: str
    params: dict[str, Any]
    deadline_at: float


class Job(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    family: str
    kind: str
    user_id: int | None
    chat_id: int
    thread_id: int | None
    request_message_id: int
    request_key: str
    parent_job_id: int | None
    status_message_id: int | None
    prompt: str
    params: dict[str, Any]
    state: JobState
    remote_id: str | None
    remote_state: str | None
    failure_code: str | None
    failure_reason: str | None
    notice_pending: bool  # failed, and the user still has to be told
    video_url: str | None
    thumbnail_url: str | None
    video_message_id: int | None
    video_file_id: str | None
    charged_day: str | None
    payer_id: int | None
    paid_with: str  # daily | credit | exempt
    refunded: bool  # the payer got the unit back
    billable: bool  # counts toward GLOBAL_DAILY_QUOTA: the provider billed it, or may have
    attempts: int
    next_attempt_at: float | None
    lease_owner: str | None
    lease_until: float | None
    deadline_at: float
    created_at: float
    updated_at: float
    submitted_at: float | None
    completed_at: float | None
    finished_at: float | None


class AlbumItem(BaseModel):
    chat_id: int
    media_group_id: str
    message_id: int
    payload: dict[str, Any]  # what the Telegram layer needs to act on the album later


class ExtendPrompt(BaseModel):
    chat_id: int
    message_id: int
    parent_job_id: int
    user_id: int | None


class Accepted(BaseModel):
    job: Job
    duplicate: bool = False  # the same request message was already turned into this job


class TooManyActive(BaseModel):
    active: int
    limit: int


class QuotaScope(StrEnum):
    USER = "user"  # the payer's own daily allowance (credits included)
    CHAT = "chat"  # a group's or channel's daily total
    GLOBAL = "global"  # the whole bot's daily total, protecting the API bill


class QuotaRules(BaseModel):
    """The limits one request is checked against; None means unlimited."""

    payer_id: int  # the user, or the chat the message was sent on behalf of (sender_chat)
    payer_daily: int | None
    chat_daily: int | None  # groups and channels only
    global_daily: int | None
    exempt: bool = False  # admins: counted in the totals, never refused
    active_limit: int | None = None  # the payer's jobs in flight


class QuotaExhausted(BaseModel):
    scope: QuotaScope
    used: int
    limit: int


class QuotaUsage(BaseModel):
    """A day's use as the quota rules see it."""

    payer_daily: int  # jobs paid from the payer's daily allowance
    chat: int
    everyone: int  # the day's total under GLOBAL_DAILY_QUOTA (billable jobs)
    credits: int  # the payer's balance


class HistoryEntry(BaseModel):
    """One line of /history."""

    job_id: int
    kind: str
    prompt: str
    state: JobState
    created_at: float
    video_file_id: str | None
    failure_code: str | None


class DayStats(BaseModel):
    """What /stats reports for a period."""

    generations: int
    delivered: int
    failed_by_reason: dict[str, int]
    active: int
    charged: int  # quota used: jobs not refunded (credits and exempt included)
    top_payers: list[tuple[int, int]]  # (payer id: a user, group or channel; generations)
    top_chats: list[tuple[int, int]]


class Repository(Protocol):
    """Storage operations. Transitions that a worker makes are fenced by its lease."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """One round trip to the database (raises if it cannot be reached): for /healthz."""
        ...

    async def jobs_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (states with none are left out): for /metrics."""
        ...

    async def upsert_user(self, user: UserRecord, now: float) -> None: ...

    async def get_user(self, user_id: int) -> UserRecord | None: ...

    async def accept_job(
        self, new: NewJob, *, day: str, rules: QuotaRules, now: float
    ) -> Accepted | QuotaExhausted | TooManyActive:
        """Check every limit, reserve quota (a credit once the daily allowance is used up) and
        insert the job, in ONE transaction. The global total is checked first, then the chat's,
        then the payer's, so a refusal names the limit that actually binds."""
        ...

    async def quota_used(self, payer_id: int, day: str) -> int:
        """Jobs paid from the payer's daily allowance that day (refunds excluded)."""
        ...

    async def quota_usage(self, payer_id: int, chat_id: int, day: str) -> QuotaUsage: ...

    async def count_active(self, payer_id: int) -> int:
        """Jobs of this payer not yet delivered or failed."""
        ...

    async def grant_credits(self, payer_id: int, count: int, now: float) -> int:
        """Add credits (a negative count takes them away, never below 0); the new balance."""
        ...

    async def set_banned(self, payer_id: int, banned: bool, *, by: int | None, now: float) -> bool:
        """Ban or unban an identity (a user, or a group or channel acting as itself); False if
        nothing changed."""
        ...

    async def is_banned(self, payer_id: int) -> bool: ...

    async def find_user_by_username(self, username: str) -> UserRecord | None: ...

    async def history(
        self, user_id: int, *, chat_id: int | None, offset: int, limit: int
    ) -> tuple[list[HistoryEntry], int]:
        """The user's jobs, newest first (only those in `chat_id` if given), and the total."""
        ...

    async def stats(self, since: float) -> DayStats: ...

    async def update_handled(self, update_id: int) -> bool:
        """Whether this Telegram update was handled before (Telegram may send one twice)."""
        ...

    async def claim_update(
        self, update_id: int, owner: str, now: float, lease_seconds: float
    ) -> bool:
        """Whether `owner` may handle this update now: True if nobody has claimed it (it is
        then claimed by `owner` until now + lease_seconds), if the claim has lapsed without the
        update being handled (`owner` takes it over), or if `owner` holds the claim already
        (it is extended). False once it is handled, or while someone else's claim is live.
        Atomic: of replicas claiming one update at once, one wins."""
        ...

    async def mark_update_handled(self, update_id: int, now: float) -> None:
        """Record the update as handled, whether or not it was claimed first."""
        ...

    async def active_jobs_of(self, payer_id: int, chat_id: int) -> list[Job]:
        """The payer's jobs in progress in this chat, oldest first."""
        ...

    async def find_by_status_message(self, chat_id: int, message_id: int) -> Job | None: ...

    async def queued_ahead(self, job_id: int) -> int:
        """How many jobs wait to be submitted before this one (its place in the queue)."""
        ...

    async def get_job(self, job_id: int) -> Job | None: ...

    async def find_by_video_message(self, chat_id: int, message_id: int) -> Job | None:
        """The job whose delivered video is this message."""
        ...

    async def find_by_remote_id(self, remote_id: str) -> Job | None: ...

    async def add_album_item(self, item: AlbumItem, now: float) -> None: ...

    async def take_album(self, chat_id: int, media_group_id: str) -> list[AlbumItem]:
        """Remove and return an album's items (message order); one caller gets them."""
        ...

    async def latest_album_item_at(self, chat_id: int, media_group_id: str) -> float | None:
        """When the album's newest stored item arrived; None if it has none (taken already)."""
        ...

    async def unsettled_albums(self, quiet_before: float) -> list[tuple[int, str]]:
        """Albums (chat id, media group id) whose newest item arrived before `quiet_before`,
        oldest first: complete, yet not taken (their collecting process may have died)."""
        ...

    async def add_extend_prompt(self, prompt: ExtendPrompt, now: float) -> None: ...

    async def find_extend_prompt(self, chat_id: int, message_id: int) -> ExtendPrompt | None: ...

    async def set_status_message(self, job_id: int, message_id: int | None) -> None: ...

    async def claim_due(
        self, owner: str, *, limit: int, lease_seconds: float, now: float
    ) -> list[Job]:
        """Lease up to `limit` due jobs not leased by a live worker: active ones, and failed
        ones whose user has not been told yet."""
        ...

    async def renew_lease(self, job_id: int, owner: str, *, until: float) -> bool: ...

    async def release(
        self, job_id: int, owner: str, *, next_attempt_at: float | None, count_attempt: bool = False
    ) -> bool:
        """Give the lease up; `count_attempt` records a failed try (for growing backoff)."""
        ...

    async def mark_submitting(self, job_id: int, owner: str, now: float) -> bool: ...

    async def mark_submitted(
        self, job_id: int, owner: str, *, remote_id: str, remote_state: str, now: float
    ) -> bool: ...

    async def requeue(self, job_id: int, owner: str, *, next_attempt_at: float, now: float) -> bool:
        """Back to QUEUED (the API proved it refused the create) for a later attempt."""
        ...

    async def set_remote_state(
        self, job_id: int, owner: str, remote_state: str, now: float
    ) -> bool: ...

    async def mark_delivering(
        self,
        job_id: int,
        owner: str,
        *,
        video_url: str,
        thumbnail_url: str | None = None,
        now: float,
    ) -> bool: ...

    async def set_video_url(
        self, job_id: int, owner: str, *, video_url: str, thumbnail_url: str | None
    ) -> bool:
        """A fresh result URL (the old one expired)."""
        ...

    async def mark_delivered(
        self, job_id: int, owner: str, *, message_id: int, file_id: str | None, now: float
    ) -> bool: ...

    async def fail(
        self,
        job_id: int,
        *,
        code: str,
        reason: str | None,
        refund: Refund,
        now: float,
        only_if: JobState | None = None,
        notice_due_at: float | None = None,
    ) -> bool:
        """Move an active job (or one in state `only_if`) to FAILED and give back what `refund`
        says (a refunded credit returns to the balance); True only the first time.
        `notice_due_at`: the user is still to be told; if nobody has called `notice_sent` by
        then (a crash), the job is claimable again for the notice."""
        ...

    async def notice_sent(self, job_id: int) -> None:
        """The user was told about the failure."""
        ...
