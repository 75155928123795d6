"""What the domain and the worker need from storage, one interface per consumer; `storage`
implements them all in one class per database (`storage.Repository`).

Every durable fact lives behind these, so a restarted (or second) process can carry any job to
its end. Transitions a worker makes are fenced by its lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.domain.model import (
    Accepted,
    AlbumItem,
    DayStats,
    ExtendPrompt,
    HistoryEntry,
    Job,
    JobState,
    NewJob,
    PromoCode,
    QuotaExhausted,
    QuotaRules,
    QuotaUsage,
    Redemption,
    Refund,
    TooManyActive,
    UserRecord,
)
from bot.domain.stars import Payment, PaymentStats, PurchaseRecorded, RefundRecorded


class JobStore(Protocol):
    """The jobs as the worker moves them: claims and leases, each step's checkpoint, the
    ending. Every transition a worker makes is fenced by its lease; `fail` by the state."""

    async def get_job(self, job_id: int) -> Job | None: ...

    async def get_user(self, user_id: int) -> UserRecord | None: ...

    async def queued_ahead(self, job_id: int) -> int:
        """How many jobs wait to be submitted before this one (its place in the queue)."""
        ...

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

    async def mark_submitting(self, job_id: int, owner: str, now: float) -> bool:
        """QUEUED -> SUBMITTING, before the create is sent. Never for a story's shot once its
        story was asked to stop or no longer makes shots."""
        ...

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
        self,
        job_id: int,
        owner: str,
        *,
        message_id: int | None,
        file_id: str | None,
        now: float,
        thumbnail_file_id: str | None = None,
    ) -> bool:
        """The video is in the chat as `message_id` (None: a story's shot, kept for the
        story), with Telegram's file ids of it and of its thumbnail."""
        ...

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

    async def add_story_shot(self, story: Job, new: NewJob, now: float) -> Job:
        """A story's shot as a job it pays for, once (its request key names it)."""
        ...

    async def story_shots(self, story_id: int) -> list[Job]: ...

    async def mark_story_waiting(self, story_id: int, owner: str, now: float) -> bool: ...

    async def mark_story_made(
        self,
        story_id: int,
        owner: str,
        *,
        video_url: str,
        outcome: dict[str, Any],
        give_back: int,
        now: float,
    ) -> bool:
        """On to stitching and delivery, with `give_back` credits back for shots never made."""
        ...

    async def request_story_stop(self, story_id: int, now: float) -> bool:
        """Ask a story making its shots to stop (stored once); False if it was asked before or
        no longer makes shots."""
        ...

    async def cancel_story(
        self, story_id: int, *, shot: Job | None, refund: Refund, now: float
    ) -> bool:
        """End a story none of whose shots was made: the story, its shot under way (`shot`, in
        the state it was read in) and any shot never sent fail as cancelled, the story refunded
        as `refund` says, in one transaction; False, with nothing changed, if one moved on."""
        ...

    async def wake_job(self, job_id: int, now: float) -> None: ...

    async def settle_prompt(
        self, job_id: int, owner: str, *, help: dict[str, Any], give_back: int, now: float
    ) -> bool:
        """Store what the prompt helper did (params' `helper`) on a queued job `owner` holds,
        and give back `give_back` credits of its cost, in one transaction."""
        ...


class CreditStore(Protocol):
    """Persistent balances (bought, granted, won) and their ledger: every movement is named by
    (reason, ref) and happens once, however often it is recorded."""

    async def balance(self, payer_id: int) -> int: ...

    async def move_credits(
        self, payer_id: int, delta: int, *, reason: str, ref: str, now: float
    ) -> int | None:
        """Add `delta` (negative: take away, never below 0); the new balance, or None if this
        (reason, ref) moved before."""
        ...


class PromoStore(Protocol):
    """Promo codes (/promo, /redeem) and who referred whom."""

    async def create_promo(self, promo: PromoCode) -> bool:
        """Store a new code; False (and nothing changed) if the code exists already."""
        ...

    async def redeem_promo(self, code: str, payer_id: int, *, now: float) -> Redemption:
        """In ONE transaction: check the code exists, this identity has not redeemed it, it has
        not expired and has uses left; record the redemption, take a use and add its credits
        (a ledger row `promo`, `<code>:<payer>`)."""
        ...

    async def active_promos(self, now: float, *, limit: int) -> list[PromoCode]:
        """Codes neither expired nor used up, newest first, with how often each was redeemed."""
        ...

    async def record_referral(self, user_id: int, referrer_id: int, *, now: float) -> bool:
        """Record that `referrer_id` referred `user_id`, only if the user never used the bot
        (no video, no credits ever moved, no purchase) and was not referred before; whether it
        was recorded."""
        ...


class PaymentStore(Protocol):
    """Stars payments: each recorded once per charge id, its credits moved in the same
    transaction (storage/payments.py)."""

    async def record_purchase(
        self, payment: Payment, *, referral_credits: int, now: float, telling_until: float
    ) -> PurchaseRecorded | None:
        """Insert the payment and credit its buyer (ledger reason "purchase", ref = charge id);
        on the buyer's first payment also credit the referrer named in `referrals` with
        `referral_credits` (if > 0; reason "referral", ref = the buyer). One transaction; None
        if this charge id was recorded before (nothing moves). The caller tells the buyer: it
        holds the confirmation until `telling_until`."""
        ...

    async def claim_untold_purchases(
        self, *, now: float, telling_until: float, limit: int
    ) -> list[Payment]:
        """Up to `limit` purchases whose buyer was not told and that nobody is telling (their
        hold lapsed by `now`), now held by the caller until `telling_until`; oldest first."""
        ...

    async def mark_told(self, charge_id: str, now: float) -> None:
        """The purchase's buyer was told (or never can be): nobody tells them again."""
        ...

    async def payment(self, charge_id: str) -> Payment | None: ...

    async def known_payments(self, charge_ids: list[str]) -> dict[str, Payment]:
        """The payments recorded among these charge ids, by charge id."""
        ...

    async def record_refund(self, charge_id: str, now: float) -> RefundRecorded | None:
        """Mark the payment refunded and take its credits back (what is left of them, never
        below 0; reason "refund", ref = charge id) in one transaction; None if it is unknown or
        was refunded before."""
        ...

    async def payment_stats(self, since: float) -> PaymentStats:
        """Purchases made and refunds recorded since `since`, with their Stars."""
        ...

    async def balance(self, payer_id: int) -> int: ...

    async def is_banned(self, payer_id: int) -> bool: ...

    async def get_user(self, user_id: int) -> UserRecord | None: ...


class QuotaStore(Protocol):
    """Quota and credits: a job is accepted (and its unit reserved) in one transaction."""

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

    async def request_enhance(
        self, job_id: int, *, help: dict[str, Any], rules: QuotaRules, now: float
    ) -> bool | QuotaExhausted:
        """Ask for an enhanced prompt (params' `helper` := `help`) on a job in the queue that no
        worker holds, and charge `help["cost"]` as a request is charged, in one transaction.
        False if the job has moved on."""
        ...


class RequestStore(Protocol):
    """What the generation service looks up for a request, a button or /history."""

    async def upsert_user(self, user: UserRecord, now: float) -> None: ...

    async def is_banned(self, payer_id: int) -> bool: ...

    async def active_jobs_of(self, payer_id: int, chat_id: int) -> list[Job]:
        """The payer's jobs in progress in this chat, oldest first."""
        ...

    async def find_by_status_message(self, chat_id: int, message_id: int) -> Job | None: ...

    async def find_by_video_message(self, chat_id: int, message_id: int) -> Job | None:
        """The job whose delivered video is this message."""
        ...

    async def find_by_remote_id(self, remote_id: str) -> Job | None: ...

    async def history(
        self, user_id: int, *, chat_id: int | None, offset: int, limit: int
    ) -> tuple[list[HistoryEntry], int]:
        """The user's jobs, newest first (only those in `chat_id` if given), and the total."""
        ...

    async def shareable_videos(
        self,
        user_id: int,
        *,
        words: Sequence[str] = (),
        chats: Sequence[int] | None = None,
        offset: int,
        limit: int,
    ) -> list[Job]:
        """The user's delivered videos that have a Telegram file (stories whole, not their
        shots), newest first, whose prompt holds every one of `words` (any case, literally),
        made in one of `chats` if given."""
        ...

    async def video_chats(self, user_id: int) -> list[int]:
        """The chats the user has such videos in, the latest video's chat first."""
        ...

    async def add_extend_prompt(self, prompt: ExtendPrompt, now: float) -> None: ...

    async def find_extend_prompt(self, chat_id: int, message_id: int) -> ExtendPrompt | None: ...


class AlbumStore(Protocol):
    """An album's items, kept as they arrive until the album is complete."""

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


class AdminQueries(Protocol):
    """What /stats, /grant, /ban and /unban read and change."""

    async def get_user(self, user_id: int) -> UserRecord | None: ...

    async def stats(self, since: float) -> DayStats: ...

    async def grant_credits(self, payer_id: int, count: int, now: float) -> int:
        """Add credits (a negative count takes them away, never below 0); the new balance."""
        ...

    async def set_banned(self, payer_id: int, banned: bool, *, by: int | None, now: float) -> bool:
        """Ban or unban an identity (a user, or a group or channel acting as itself); False if
        nothing changed."""
        ...

    async def find_user_by_username(self, username: str) -> UserRecord | None: ...


class HealthProbe(Protocol):
    """What /healthz and /metrics ask the database."""

    async def ping(self) -> None:
        """One round trip to the database (raises if it cannot be reached): for /healthz."""
        ...

    async def jobs_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (states with none are left out): for /metrics."""
        ...


class GenerationStore(JobStore, QuotaStore, RequestStore, Protocol):
    """Everything the generation service needs: it accepts, looks up, cancels and fails jobs."""
