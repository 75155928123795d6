"""The records the bot speaks in, from request to ending: jobs and their states, why a job
failed and what that gives back, the quota's rules and outcomes, and a refusal.

Pure data: no I/O, no Telegram, no SQL. `storage` stores these, `bot.worker` moves jobs through
their states, handlers render refusals with the catalog.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

# The request message of a request made in the gallery Mini App: there is none to reply to.
NO_MESSAGE = 0


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
    """What failing a job gives back (`REFUNDS` below, per failure reason)."""

    FULL = "full"  # the payer's unit, and the job leaves the day's total (GLOBAL_DAILY_QUOTA)
    PAYER = "payer"  # the payer's unit only: the provider may have billed it, the total keeps it
    NONE = "none"  # nothing: the provider made and billed it


class UserRecord(BaseModel):
    user_id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


class RepeatedPress(BaseModel):
    """A job asked for by a button: the same button pressed again by the same payer in the same
    chat since `since` (a double tap, or impatience) is the same request, not a second one."""

    data: str  # the button's callback data: the action and the job it is under
    since: float
    since_day: str  # the UTC day of `since`: the job's charged day is at least this


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
    cost: int = 1  # credits (bot/domain/pricing.py)
    # A story's shot: the story's job and the shot's place in it (from 0); the story paid.
    story_job_id: int | None = None
    shot: int | None = None
    press: RepeatedPress | None = None


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
    video_thumbnail_file_id: str | None = None  # Telegram's thumbnail of the sent video
    charged_day: str | None
    payer_id: int | None
    paid_with: str  # daily | credit (the balance paid some of it) | exempt
    cost: int  # credits: the free daily ones paid `paid_daily`, the balance `paid_credits`
    paid_daily: int
    paid_credits: int
    refunded: bool  # the payer got its credits back
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
    story_job_id: int | None = None  # a story's shot: the story's job
    shot: int | None = None  # its place in the story, from 0
    # A story asked to stop (/cancel once shots are under way): no shot is sent after this.
    stop_requested_at: float | None = None


class AlbumItem(BaseModel):
    chat_id: int
    media_group_id: str
    message_id: int
    payload: dict[str, Any]  # what the Telegram layer needs to act on the album later


class PromptKind(StrEnum):
    """What a reply to one of the bot's ForceReply prompts asks for."""

    EXTEND = "extend"  # ➕ Extend: what happens next
    SOUND = "audio"  # 🔊 Add sound: what it should sound like


class ExtendPrompt(BaseModel):
    chat_id: int
    message_id: int
    parent_job_id: int
    user_id: int | None
    kind: PromptKind = PromptKind.EXTEND


class PromoCode(BaseModel):
    """A promo code (/promo): `credits` for each identity that redeems it, `uses_left` more
    redemptions in all (None: no limit), until `expires_at` (None: never)."""

    code: str  # upper case: codes are case-insensitive
    credits: int
    uses_left: int | None = None
    expires_at: float | None = None
    created_by: int | None = None
    created_at: float
    redeemed: int = 0  # identities that redeemed it so far (as read back)


class PromoOutcome(StrEnum):
    REDEEMED = "redeemed"
    UNKNOWN = "unknown"
    ALREADY_REDEEMED = "already_redeemed"  # by this identity
    EXPIRED = "expired"
    USED_UP = "used_up"


class Redemption(BaseModel):
    """What redeeming a code came to: on REDEEMED, the credits added and the new balance."""

    outcome: PromoOutcome
    credits: int = 0
    balance: int | None = None


class Accepted(BaseModel):
    job: Job
    # The same request (message, button press, double press) was already turned into this job.
    duplicate: bool = False


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
    used: int  # credits of the limit already used today
    limit: int
    cost: int = 1  # what the refused request costs
    balance: int = 0  # the payer's persistent credits (scope USER)


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


class FailureCode(StrEnum):
    MODERATION = "moderation"
    IMAGE_REJECTED = "image_rejected"
    CREDITS_EXHAUSTED = "credits_exhausted"
    GENERATION_FAILED = "generation_failed"
    TIMEOUT = "timeout"
    REJECTED = "rejected"
    SERVICE_UNAVAILABLE = "service_unavailable"
    SUBMIT_UNCERTAIN = "submit_uncertain"
    UNSUPPORTED = "unsupported"
    DELIVERY_FAILED = "delivery_failed"
    CHAT_UNREACHABLE = "chat_unreachable"
    CANCELLED = "cancelled"
    NOT_A_VIDEO = "not_a_video"
    INTERNAL_ERROR = "internal_error"


class RefundRule(NamedTuple):
    """What a failure gives back, before the provider had the job and once it had (the job has
    a generation id). Refund.FULL: the payer's unit, and the job leaves GLOBAL_DAILY_QUOTA;
    Refund.PAYER: the payer's unit only, because the provider may have billed it; Refund.NONE:
    nothing, the provider made and billed it."""

    unsubmitted: Refund
    submitted: Refund


_EVERYTHING = RefundRule(Refund.FULL, Refund.FULL)

# Who is refunded for each failure, and why: the policy table of docs/reliability.md ("Refunds").
# Assumption there: the provider bills what it makes, not what it refuses or fails.
REFUNDS: dict[FailureCode, RefundRule] = {
    # The provider declined or failed it: nothing was made.
    FailureCode.MODERATION: _EVERYTHING,
    FailureCode.IMAGE_REJECTED: _EVERYTHING,
    FailureCode.GENERATION_FAILED: _EVERYTHING,
    # The create was refused (or never sent): nothing was made.
    FailureCode.CREDITS_EXHAUSTED: _EVERYTHING,
    FailureCode.REJECTED: _EVERYTHING,
    FailureCode.UNSUPPORTED: _EVERYTHING,
    # Stopped in our queue, or deleted at the provider before it was made.
    FailureCode.CANCELLED: _EVERYTHING,
    # We gave up, not the provider: once it has the job it may still make and bill it. The
    # payer is not charged for our giving up; the bill cap keeps it.
    FailureCode.TIMEOUT: RefundRule(Refund.FULL, Refund.PAYER),
    FailureCode.SERVICE_UNAVAILABLE: RefundRule(Refund.FULL, Refund.PAYER),
    # No answer to the create: it may have been made and billed; nobody can know.
    FailureCode.SUBMIT_UNCERTAIN: RefundRule(Refund.PAYER, Refund.PAYER),
    # Made and billed; it could not reach the chat (blocked, removed, failed past retries).
    FailureCode.DELIVERY_FAILED: RefundRule(Refund.NONE, Refund.NONE),
    FailureCode.CHAT_UNREACHABLE: RefundRule(Refund.NONE, Refund.NONE),
    # Made and billed, but what came back is no video: the payer got nothing for it.
    FailureCode.NOT_A_VIDEO: RefundRule(Refund.PAYER, Refund.PAYER),
    # Our own fault; once the provider has the job it may have made and billed it.
    FailureCode.INTERNAL_ERROR: RefundRule(Refund.FULL, Refund.PAYER),
}


def refund_for(code: FailureCode, *, submitted: bool) -> Refund:
    rule = REFUNDS[code]
    return rule.submitted if submitted else rule.unsubmitted


_IMAGE_HINTS = ("image", "frame")  # "400: failed to moderate image", "...user input frames"
# Words only moderation uses; a generation's failure may also say "prompt not allowed".
_MODERATION_WORDS = ("moderat", "blacklist", "nsfw", "safety")
_MODERATION_HINTS = (*_MODERATION_WORDS, "not allowed")


def classify_failure(reason: str | None) -> FailureCode:
    lowered = (reason or "").lower()
    if any(hint in lowered for hint in _IMAGE_HINTS):
        return FailureCode.IMAGE_REJECTED
    if any(hint in lowered for hint in _MODERATION_HINTS):
        return FailureCode.MODERATION
    return FailureCode.GENERATION_FAILED


def classify_refusal(reason: str | None) -> FailureCode:
    """A create the video API refused outright (a 4xx other than auth, credits, rate): its
    moderation when the reason says so (the user may reword the prompt), else a rejection.
    Only moderation's own words count: a validation error may say "not allowed" too."""
    lowered = (reason or "").lower()
    if any(word in lowered for word in _MODERATION_WORDS):
        return FailureCode.MODERATION
    return FailureCode.REJECTED


class Refusal(BaseModel):
    """Why the bot will not do what was asked, whoever decided it (the parser, access, the
    quota): `key` names the catalog message, `values` fill it in (a `timedelta` is shown as a
    duration in the reader's language)."""

    key: str
    values: dict[str, Any] = {}

    @classmethod
    def of_quota(cls, outcome: QuotaExhausted | TooManyActive, *, resets_in: timedelta) -> Refusal:
        """The quota's refusal, named after the limit that binds."""
        if isinstance(outcome, TooManyActive):
            return cls(
                key="too_many_active", values={"active": outcome.active, "limit": outcome.limit}
            )
        if outcome.scope is QuotaScope.USER and (outcome.cost > 1 or outcome.balance > 0):
            # Credits would pay for it, but not enough of them: say what it costs and what is had.
            return cls(
                key="quota_not_enough_credits",
                values={
                    "cost": outcome.cost,
                    "free": max(outcome.limit - outcome.used, 0),
                    "balance": outcome.balance,
                    "resets_in": resets_in,
                },
            )
        if outcome.scope is QuotaScope.USER and outcome.limit == 0:
            # Only a group or channel acting as itself has no free allowance (0 = credits only).
            return cls(key="quota_credits_only")
        return cls(
            key=f"quota_exhausted_{outcome.scope.value}",
            values={"limit": outcome.limit, "resets_in": resets_in},
        )
