"""What handlers ask of the bot: accept a request (quota + job in one transaction), find the
video to extend, report quota. Handlers stay thin; the rules live here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.domain.access import AccessPolicy
from bot.domain.model import (
    ACTIVE_STATES,
    Accepted,
    ExtendPrompt,
    FailureCode,
    HistoryEntry,
    Job,
    JobState,
    NewJob,
    PromptKind,
    QuotaRules,
    Refusal,
    RepeatedPress,
    UserRecord,
    refund_for,
)
from bot.domain.pricing import Prices
from bot.domain.sharing import INLINE_PAGE_SIZE, MAX_OFFSET, SharedVideos, page_offset, search_words
from bot.domain.specs import (
    GENERATION_KINDS,
    GenerationSpec,
    JobSpec,
    ParentVideo,
    PromptHelp,
    SoundSpec,
    StorySpec,
    TelegramImage,
    UpscaleSpec,
    spec_of,
)
from bot.domain.stores import GenerationStore
from bot.domain.upgrades import Upgrades
from bot.links import LinkSigner
from bot.luma import VideoApiClient
from bot.luma.errors import LumaError, UnsupportedOptionError, UnsupportedRequestError
from bot.luma.models import DEFAULT_ASPECT_RATIO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requester:
    """Who asked, who pays, and where the answer goes."""

    user_id: int | None  # the person; None when Telegram hides them behind a chat
    chat_id: int  # where the message was posted: chat limits apply here
    thread_id: int | None
    message_id: int  # the request, answered by replying to it; NO_MESSAGE: the gallery
    # The identity charged, limited and banned: the user, or the chat the message was sent on
    # behalf of (bot.domain.access.payer_of decides).
    payer_id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class QuotaStatus:
    exempt: bool
    limit: int | None  # the payer's daily allowance; None: unlimited
    used: int
    credits: int
    chat_limit: int | None  # groups and channels
    chat_used: int
    global_limit: int | None
    global_used: int
    resets_in: float  # seconds until 00:00 UTC

    @property
    def daily_left(self) -> int | None:
        """What is left of today's allowance (credits not included); None: no daily limit."""
        if self.exempt or self.limit is None:
            return None
        return max(self.limit - self.used, 0)

    @property
    def left(self) -> int | None:
        """Videos the payer can still make today (credits included); None: no daily limit."""
        daily = self.daily_left
        return None if daily is None else daily + self.credits

    @property
    def chat_left(self) -> int | None:
        """What is left of this chat's daily total; None: no chat limit applies."""
        if self.exempt or self.chat_limit is None:
            return None
        return max(self.chat_limit - self.chat_used, 0)


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


# A button pressed again this soon by the same payer in the same chat is a double tap (or
# impatience while the first status message is on its way): the job already made answers it.
REPEAT_PRESS_SECONDS = 10.0


def _repeated_press(press: str | None, now: float) -> RepeatedPress | None:
    if press is None:
        return None
    since = now - REPEAT_PRESS_SECONDS
    return RepeatedPress(data=press, since=since, since_day=utc_day(since))


def seconds_until_reset(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - moment).total_seconds()


def report_periods(now: float) -> tuple[float, float]:
    """Where /stats' two periods begin: 00:00 UTC today, and 7 days ago."""
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp(), now - 7 * 86_400


HISTORY_PAGE_SIZE = 5


@dataclass(frozen=True)
class HistoryPage:
    """One page of someone's /history, newest first; `page` counts from 1."""

    entries: list[HistoryEntry]
    page: int
    pages: int
    total: int

    @property
    def first_number(self) -> int:
        """The number of the first entry (the newest video of all is number 1)."""
        return (self.page - 1) * HISTORY_PAGE_SIZE + 1


class CancelResult(StrEnum):
    """What a cancel came to (values are catalog keys)."""

    CANCELLED = "cancelled"  # stopped before submission: refunded
    DELETED = "cancelled_at_service"  # stopped at the video service (it can delete): refunded
    TOO_LATE = "cancel_too_late"  # already at the API, which cannot stop it: it will arrive
    NOTHING = "cancel_nothing"
    NOT_YOURS = "cancel_not_yours"
    # A story with shots made (or one at the video service): no more shots; the shots made
    # are delivered as the story and those never made given back. The shot under way was
    # stopped (or there was none), or it cannot be and is finished first.
    STORY_STOPPING = "story_stopping"
    STORY_STOPPING_AFTER_SHOT = "story_stopping_after_shot"
    STORY_ALREADY_STOPPING = "story_already_stopping"
    STORY_TOO_LATE = "story_cancel_too_late"  # every shot made: being joined and delivered
    STORY_LAST_SHOT = "story_cancel_last_shot"  # the last shot is under way and cannot stop

    @property
    def stopped(self) -> bool:
        """The job ended here and now, refunded: its status message can say so."""
        return self in (CancelResult.CANCELLED, CancelResult.DELETED)


@dataclass(frozen=True)
class Cancellation:
    """A cancel's result, the job it was about (a story for any of its shots), and the values
    its message needs."""

    result: CancelResult
    job: Job | None
    values: dict[str, int] = field(default_factory=dict)


class ImproveResult(StrEnum):
    """What pressing ✨ Improve came to (values are catalog keys)."""

    IMPROVING = "improve_started"  # the prompt will be enhanced before it is sent
    ALREADY = "improve_already"
    TOO_LATE = "improve_too_late"  # already on its way to the video service
    NOT_YOURS = "improve_not_yours"
    UNAVAILABLE = "enhance_unavailable"


class GenerationService:
    def __init__(
        self,
        *,
        repository: GenerationStore,
        client: VideoApiClient,
        signer: LinkSigner | None,
        family: str,
        policy: AccessPolicy,
        generation_timeout: float,
        wake_worker: Callable[[], None] = lambda: None,
        prices: Prices | None = None,
        can_enhance: bool = False,
        story_max_shots: int = 6,
    ) -> None:
        self.prices = prices or Prices()
        # A prompt helper is configured (bot/llm): --enhance and ✨ Improve mean something.
        self.can_enhance = can_enhance
        self.story_max_shots = story_max_shots
        self._repo = repository
        self._wake_worker = wake_worker
        self._client = client
        # What the video service can do to a finished video (⬆ Upscale, 🔊 Add sound).
        self.upgrades = Upgrades.of(client)
        self._signer = signer
        self.family = family
        self.policy = policy
        self._timeout = generation_timeout
        # /history re-sends this process is making, as (chat, job).
        self._resending: set[tuple[int, int]] = set()

    @property
    def max_prompt_length(self) -> int:
        return self._client.max_prompt_length

    @property
    def has_options(self) -> bool:
        """Whether --model, --res and --dur mean anything on the configured family."""
        return bool(self._client.options)

    async def access_refusal(self, who: Requester) -> Refusal | None:
        """Why this requester may not make videos (banned, not on an allowlist), if so."""
        if self.policy.is_admin(who.user_id):
            return None
        if await self._repo.is_banned(who.payer_id):
            return Refusal(key="banned")
        if not self.policy.is_allowed(who.user_id, who.chat_id):
            return Refusal(key="not_allowed")
        return None

    async def remember_user(self, who: Requester) -> None:
        if who.user_id is None:
            return
        await self._repo.upsert_user(
            UserRecord(
                user_id=who.user_id,
                username=who.username,
                first_name=who.first_name,
                language_code=who.language_code,
            ),
            time.time(),
        )

    # --- requests -----------------------------------------------------------------------------

    def check(self, spec: JobSpec) -> Refusal | None:
        """Everything that would make the API refuse the request, decided before charging."""
        if isinstance(spec, UpscaleSpec):
            return None if self.upgrades.upscale else Refusal(key="upscale_unavailable")
        if isinstance(spec, SoundSpec):
            return None if self.upgrades.sound else Refusal(key="sound_unavailable")
        if isinstance(spec, StorySpec):
            if len(spec.shots) > self.story_max_shots:
                values = {"count": len(spec.shots), "limit": self.story_max_shots}
                return Refusal(key="story_too_many_shots", values=values)
            # Every shot asks for the same options; the first (with the photo) stands for all.
            return self.check(spec.shot_spec(0, None))
        if spec.has_images and self._signer is None:
            return Refusal(key="needs_public_url")
        if spec.loop and isinstance(spec.frame1, ParentVideo):
            return Refusal(key="loop_with_reverse")
        if spec.loop and spec.frame1 is not None:
            return Refusal(key="loop_with_end_frame")
        if spec.enhance and not self.can_enhance:
            return Refusal(key="enhance_unavailable")
        try:
            self._client.check(spec.video_request(self._signer))
        except UnsupportedOptionError as error:
            return Refusal(
                key="option_unsupported",
                values={"option": f"--{error.option}", "family": self.family},
            )
        except UnsupportedRequestError as error:
            return Refusal(key="unsupported_feature", values={"reason": error.message})
        return None

    async def request(
        self, who: Requester, spec: JobSpec, *, request_key: str, press: str | None = None
    ) -> Accepted | Refusal:
        """Validate, then reserve quota and record the job in one transaction. `press`: the
        button (its data) that asked; pressed again within REPEAT_PRESS_SECONDS it is the same
        request (a duplicate, charged once)."""
        refusal = await self.access_refusal(who) or self.check(spec)
        if refusal is not None:
            return refusal
        now = time.time()
        await self.remember_user(who)
        if isinstance(spec, GenerationSpec) and spec.enhance:
            # What the enhancement costs, to give back if the helper fails.
            spec = spec.helped(PromptHelp(enhance=True, cost=self.prices.enhance))
        outcome = await self._repo.accept_job(
            NewJob(
                family=self.family,
                kind=spec.kind,
                user_id=who.user_id,
                chat_id=who.chat_id,
                thread_id=who.thread_id,
                request_message_id=who.message_id,
                request_key=request_key,
                parent_job_id=spec.parent_job_id,
                prompt=spec.prompt,
                params=spec.params(),
                # A story's shots are made one after another: each has the usual time.
                deadline_at=now + self._timeout * _shots(spec),
                cost=self.prices.cost(spec),
                press=_repeated_press(press, now),
            ),
            day=utc_day(now),
            rules=self._rules_for(who),
            now=now,
        )
        if isinstance(outcome, Accepted):
            return outcome
        refusal = Refusal.of_quota(outcome, resets_in=timedelta(seconds=seconds_until_reset(now)))
        if isinstance(spec, StorySpec) and refusal.key == "quota_not_enough_credits":
            return refusal.model_copy(update={"key": "quota_not_enough_credits_story"})
        return refusal

    # --- cancelling ---------------------------------------------------------------------------

    async def cancel(
        self, who: Requester, *, job_id: int | None = None, status_message_id: int | None = None
    ) -> Cancellation:
        """Cancel a job: the one named, the one whose status message this is, or the payer's
        latest in this chat. Only its payer (or an admin) may: a job an anonymous admin or a
        channel asked for is cancelled by the same again. Before submission it is refunded.
        After, only a family that can delete generations stops it (refunded too); elsewhere the
        video will still come. A story's shot stands for its story (`_cancel_story`)."""
        if job_id is not None:
            job = await self._repo.get_job(job_id)
        elif status_message_id is not None:
            job = await self._repo.find_by_status_message(who.chat_id, status_message_id)
        else:
            mine = await self._repo.active_jobs_of(who.payer_id, who.chat_id)
            job = mine[-1] if mine else None
        if job is not None and job.story_job_id is not None:  # the user's cancel means the story
            job = await self._repo.get_job(job.story_job_id)
        if job is None or job.chat_id != who.chat_id or job.state.is_final:
            return Cancellation(CancelResult.NOTHING, job)
        if job.payer_id != who.payer_id and not self.policy.is_admin(who.user_id):
            return Cancellation(CancelResult.NOT_YOURS, job)
        if job.kind == StorySpec.kind:
            return await self._cancel_story(job)
        if await self._fail_cancelled(job.id, submitted=False):
            return Cancellation(CancelResult.CANCELLED, job)
        if await self._delete_at_service(job):
            return Cancellation(CancelResult.DELETED, job)
        return Cancellation(CancelResult.TOO_LATE, job)

    async def _cancel_story(self, story: Job) -> Cancellation:
        """Before any shot reached the video API the story is cancelled whole and refunded, as a
        video in the queue is; so is one whose only shot the API deletes. Once shots are made
        (or one cannot be stopped), the story is asked to stop (stored: a restart honours it):
        no further shot is sent, the shot under way is stopped where the API can delete it and
        otherwise finished, and the worker delivers the shots made as the story and gives back
        the shots never made. While the story is joined and delivered, it is too late."""
        if story.state is JobState.DELIVERING:
            return Cancellation(CancelResult.STORY_TOO_LATE, story)
        shots = await self._repo.story_shots(story.id)
        made = sum(shot.state is JobState.DELIVERED for shot in shots)
        last = shots[-1] if shots else None
        under_way = last if last is not None and last.state in ACTIVE_STATES else None
        now = time.time()
        unsent = last is None or last.state is JobState.QUEUED
        if not made and unsent and story.stop_requested_at is None:  # nothing reached the API
            refund = refund_for(FailureCode.CANCELLED, submitted=False)
            if await self._repo.cancel_story(story.id, shot=last, refund=refund, now=now):
                return Cancellation(CancelResult.CANCELLED, story)
        # Stored before anything is stopped: from here on no shot is sent, even after a crash.
        if not await self._repo.request_story_stop(story.id, now):
            return await self._story_moved_on(story.id)
        stopped = under_way is None or await self._fail_cancelled(under_way.id, submitted=False)
        if not stopped and under_way is not None:
            # With no shot made, the story ends with its only shot (refunded as a video is).
            whole = None if made else story
            stopped = await self._delete_at_service(under_way, story=whole)
            if stopped and whole is not None:
                return Cancellation(CancelResult.DELETED, story)
        await self._repo.wake_job(story.id, now)  # the worker ends the story at once
        self._wake_worker()
        spec = spec_of(story)
        assert isinstance(spec, StorySpec)
        count = len(spec.shots)
        if stopped:
            return Cancellation(
                CancelResult.STORY_STOPPING, story, {"count": count, "unmade": count - made}
            )
        assert under_way is not None and under_way.shot is not None
        if under_way.shot + 1 == count:  # nothing after it to stop: the story comes whole
            return Cancellation(CancelResult.STORY_LAST_SHOT, story)
        values = {"count": count, "unmade": count - made - 1, "shot": under_way.shot + 1}
        return Cancellation(CancelResult.STORY_STOPPING_AFTER_SHOT, story, values)

    async def _story_moved_on(self, story_id: int) -> Cancellation:
        """The story could not be asked to stop: asked before, delivering, or over."""
        story = await self._repo.get_job(story_id)
        if story is None or story.state.is_final:
            return Cancellation(CancelResult.NOTHING, story)
        if story.state is JobState.DELIVERING:
            return Cancellation(CancelResult.STORY_TOO_LATE, story)
        return Cancellation(CancelResult.STORY_ALREADY_STOPPING, story)

    async def _delete_at_service(self, job: Job, *, story: Job | None = None) -> bool:
        """Stop a submitted job where the API can delete generations. Only a job still waiting
        for its video: once the video is made it is paid for and on its way. `story`: the job
        is that story's only shot, and the story ends with it (refunded as the shot is)."""
        if not self._client.can_delete:
            return False
        fresh = await self._repo.get_job(job.id)  # it may have moved on since it was read
        if fresh is None or fresh.state is not JobState.WAITING or fresh.remote_id is None:
            return False
        try:
            await self._client.delete(fresh.remote_id)
        except LumaError as error:
            log.warning("job %d: the video service would not delete it: %s", job.id, error)
            return False
        if story is None:
            stopped = await self._fail_cancelled(job.id, submitted=True)
        else:
            refund = refund_for(FailureCode.CANCELLED, submitted=True)
            stopped = await self._repo.cancel_story(
                story.id, shot=fresh, refund=refund, now=time.time()
            )
        if stopped:
            # End this process's wait now rather than at its next poll: it looks at once, finds
            # the generation gone (404) and the job already failed, and stops there.
            self._client.wakeups.wake(fresh.remote_id)
        return stopped

    async def _fail_cancelled(self, job_id: int, *, submitted: bool) -> bool:
        """End a cancelled job if it is still where the cancel found it: in the queue, or
        waiting at the provider."""
        return await self._repo.fail(
            job_id,
            code=FailureCode.CANCELLED.value,
            reason=None,
            refund=refund_for(FailureCode.CANCELLED, submitted=submitted),
            now=time.time(),
            only_if=JobState.WAITING if submitted else JobState.QUEUED,
        )

    # --- the prompt helper ----------------------------------------------------------------------

    def offers_improve(self, spec: JobSpec) -> bool:
        """Whether a queued job's status message offers ✨ Improve."""
        return self.can_enhance and isinstance(spec, GenerationSpec) and not spec.enhance

    async def improve(self, who: Requester, job_id: int) -> ImproveResult | Refusal:
        """✨ Improve on a status message: enhance the prompt of a job still waiting in the
        queue, charged COST_ENHANCE like a request. Only its payer (or an admin) may."""
        job = await self._repo.get_job(job_id)
        if job is None or job.chat_id != who.chat_id:
            return Refusal(key="button_invalid")
        if not self.can_enhance or job.kind not in GENERATION_KINDS:
            return ImproveResult.UNAVAILABLE
        if job.payer_id != who.payer_id and not self.policy.is_admin(who.user_id):
            return ImproveResult.NOT_YOURS
        spec = GenerationSpec.from_job(job.prompt, job.params, job.parent_job_id)
        if spec.enhance:
            return ImproveResult.ALREADY
        if job.state is not JobState.QUEUED:
            return ImproveResult.TOO_LATE
        help = PromptHelp(enhance=True, cost=self.prices.enhance)
        now = time.time()
        outcome = await self._repo.request_enhance(
            job.id,
            help=help.model_dump(mode="json"),
            rules=self.policy.rules_for(job.user_id, job.payer_id or who.payer_id, job.chat_id),
            now=now,
        )
        if outcome is True:
            self._wake_worker()
            return ImproveResult.IMPROVING
        if outcome is False:
            return ImproveResult.TOO_LATE
        return Refusal.of_quota(outcome, resets_in=timedelta(seconds=seconds_until_reset(now)))

    # --- extending ----------------------------------------------------------------------------

    async def find_parent(
        self,
        who: Requester,
        *,
        video_message_id: int | None = None,
        generation_id: str | None = None,
        job_id: int | None = None,
    ) -> Job | Refusal:
        """The finished job to extend: by the video replied to, its generation id, or job id.

        A job named by id must be of this chat, or the requester's own (same payer: e.g.
        extended from their /history in a private chat). Anyone may see a generation id in a
        caption; someone else's video elsewhere is answered as an unknown id, so an id tells
        nobody whether it exists."""
        if job_id is not None:
            parent = await self._repo.get_job(job_id)
            if parent is None or not _may_extend(who, parent):
                return Refusal(key="button_invalid")
        elif generation_id is not None:
            parent = await self._repo.find_by_remote_id(generation_id)
            if parent is None or not _may_extend(who, parent):
                return Refusal(key="unknown_generation", values={"generation_id": generation_id})
        elif video_message_id is not None:
            parent = await self._repo.find_by_video_message(who.chat_id, video_message_id)
            if parent is None:
                return Refusal(key="extend_not_my_video")
        else:
            return Refusal(key="extend_usage")
        if parent.kind == StorySpec.kind and parent.state is JobState.DELIVERED:
            # A story goes on from its last shot.
            made = [s for s in await self._repo.story_shots(parent.id) if s.remote_id]
            parent = made[-1] if made else parent
        if parent.family != self.family:
            return Refusal(key="parent_other_family")
        if parent.state is not JobState.DELIVERED or parent.remote_id is None:
            return Refusal(key="parent_not_ready")
        return parent

    @staticmethod
    def extend_spec(
        parent: Job,
        *,
        prompt: str,
        aspect_ratio: str | None,
        loop: bool,
        reverse: bool,
        image: TelegramImage | None = None,
        model: str | None = None,
        resolution: str | None = None,
        duration_seconds: int | None = None,
        camera: str | None = None,
        enhance: bool = False,
    ) -> GenerationSpec:
        """Forward: the new video starts where the parent ends (toward `image` if given).
        Reverse: the new video leads into the parent (from `image` if given). The shape and
        look (ratio, model, resolution) follow the parent unless asked otherwise."""
        assert parent.remote_id is not None
        video = ParentVideo(id=parent.remote_id, job_id=parent.id)
        frame0, frame1 = (image, video) if reverse else (video, image)
        return GenerationSpec.model_validate(
            {
                "prompt": prompt,
                "aspect_ratio": aspect_ratio
                or parent.params.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
                "loop": loop,
                "frame0": frame0,
                "frame1": frame1,
                "parent_job_id": parent.id,
                "model": model or parent.params.get("model"),
                "resolution": resolution or parent.params.get("resolution"),
                "duration_seconds": duration_seconds,
                "camera": camera,
                "helper": PromptHelp(enhance=True) if enhance else None,
            }
        )

    # --- upscale and sound ----------------------------------------------------------------------

    def upscale_sizes(self, source: Job) -> tuple[str, ...] | Refusal:
        """The sizes `source`'s video may be upscaled to, or why it may not be at all."""
        if not self.upgrades.upscale:
            return Refusal(key="upscale_unavailable")
        if (refusal := self._upgrade_source_refusal(source)) is not None:
            return refusal
        return self.upgrades.upscale_sizes(source) or Refusal(key="upscale_at_top")

    def upscale_spec(self, source: Job, resolution: str) -> UpscaleSpec | Refusal:
        """⬆ Upscale `source` to `resolution`: only to a size above the video's own."""
        sizes = self.upscale_sizes(source)
        if isinstance(sizes, Refusal):
            return sizes
        if resolution not in sizes:
            return Refusal(key="upscale_at_top")
        assert source.remote_id is not None
        return UpscaleSpec.model_validate(
            {
                "prompt": source.prompt,
                "source": ParentVideo(id=source.remote_id, job_id=source.id),
                "resolution": resolution,
                "aspect_ratio": source.params.get("aspect_ratio"),
            }
        )

    def sound_spec(self, source: Job, sound: str | None) -> SoundSpec | Refusal:
        """🔊 Add sound to `source`, described by `sound` (None: the service chooses)."""
        if not self.upgrades.sound:
            return Refusal(key="sound_unavailable")
        if (refusal := self._upgrade_source_refusal(source)) is not None:
            return refusal
        assert source.remote_id is not None
        return SoundSpec(
            prompt=source.prompt,
            source=ParentVideo(id=source.remote_id, job_id=source.id),
            sound=sound,
            resolution=source.params.get("resolution"),
            aspect_ratio=source.params.get("aspect_ratio"),
        )

    def _upgrade_source_refusal(self, source: Job) -> Refusal | None:
        """A video is upscaled or given sound once delivered, by the service that made it."""
        if source.state is not JobState.DELIVERED or source.remote_id is None:
            return Refusal(key="upgrade_not_ready")
        if source.family != self.family:
            return Refusal(key="upgrade_other_family")
        return None

    async def job_for_button(self, chat_id: int, job_id: int) -> Job | Refusal:
        """The finished job a button in `chat_id` names; crafted data for other chats is refused."""
        job = await self._repo.get_job(job_id)
        if job is None or job.chat_id != chat_id or not job.state.is_final:
            return Refusal(key="button_invalid")
        return job

    # --- history ------------------------------------------------------------------------------

    async def history_page(self, user_id: int, *, chat_id: int | None, page: int) -> HistoryPage:
        """A page of the user's generations: those made in `chat_id`, or everywhere if None
        (a private chat). A page past the end shows the last one."""
        page = max(page, 1)
        entries, total = await self._repo.history(
            user_id, chat_id=chat_id, offset=(page - 1) * HISTORY_PAGE_SIZE, limit=HISTORY_PAGE_SIZE
        )
        pages = max((total + HISTORY_PAGE_SIZE - 1) // HISTORY_PAGE_SIZE, 1)
        if page > pages:
            return await self.history_page(user_id, chat_id=chat_id, page=pages)
        return HistoryPage(entries=entries, page=page, pages=pages, total=total)

    async def shareable_videos(self, user_id: int, query: str, offset: str) -> SharedVideos:
        """Inline sharing: the user's finished videos whose prompt holds every word of `query`
        (all of them for an empty query), a page at `offset`. Someone banned, or not let in
        by an allowlist, gets none (and no error: the chat they are typing in shows nothing)."""
        start = page_offset(offset)
        if start is None or not await self.may_share(user_id):
            return SharedVideos(videos=[])
        found = await self._repo.shareable_videos(
            user_id, words=search_words(query), offset=start, limit=INLINE_PAGE_SIZE + 1
        )
        videos = found[:INLINE_PAGE_SIZE]
        more = len(found) > INLINE_PAGE_SIZE and start + INLINE_PAGE_SIZE <= MAX_OFFSET
        return SharedVideos(videos=videos, next_offset=str(start + len(videos)) if more else "")

    async def gallery_videos(
        self, user_id: int, *, chats: Sequence[int], offset: int, limit: int
    ) -> list[Job]:
        """The gallery: the user's finished videos made in `chats`, newest first."""
        return await self._repo.shareable_videos(user_id, chats=chats, offset=offset, limit=limit)

    async def video_chats(self, user_id: int) -> list[int]:
        """The chats the user made finished videos in, the latest video's first."""
        return await self._repo.video_chats(user_id)

    async def may_share(self, user_id: int) -> bool:
        """Whether the user may see and send their videos outside a chat (inline mode, the
        gallery): not when banned, or not let in by an allowlist."""
        # The person is the payer here: nobody posts on behalf of a chat in inline mode.
        if self.policy.is_admin(user_id):
            return True
        if await self._repo.is_banned(user_id):
            return False
        return self.policy.is_allowed(user_id, user_id)

    async def job_of_owner(
        self, user_id: int | None, job_id: int, *, chat_id: int | None = None
    ) -> Job | Refusal:
        """The job a /history button names, if `user_id` made it (in `chat_id`, if given: a
        group's list shows only that group's videos); crafted data for others' jobs is refused."""
        job = await self._repo.get_job(job_id)
        if job is None or (chat_id is not None and job.chat_id != chat_id):
            return Refusal(key="button_invalid")
        if user_id is None or job.user_id != user_id:
            return Refusal(key="history_not_yours")
        return job

    @contextlib.contextmanager
    def resending(self, chat_id: int, job_id: int) -> Iterator[bool]:
        """Claim re-sending a stored video to a chat for the block; False if this process is
        already at it (a second press while the first is under way). Apps send no new press of
        a button until the last one is answered, so a claim held until the answer covers a
        double press."""
        key = (chat_id, job_id)
        if key in self._resending:
            yield False
            return
        self._resending.add(key)
        try:
            yield True
        finally:
            self._resending.discard(key)

    async def add_extend_prompt(
        self,
        chat_id: int,
        message_id: int,
        parent: Job,
        user_id: int | None,
        *,
        kind: PromptKind = PromptKind.EXTEND,
    ) -> None:
        """Remember a ForceReply prompt: a reply to it extends `parent` or (`kind` SOUND) gives
        it sound."""
        await self._repo.add_extend_prompt(
            ExtendPrompt(
                chat_id=chat_id,
                message_id=message_id,
                parent_job_id=parent.id,
                user_id=user_id,
                kind=kind,
            ),
            time.time(),
        )

    async def find_extend_prompt(self, chat_id: int, message_id: int) -> ExtendPrompt | None:
        return await self._repo.find_extend_prompt(chat_id, message_id)

    # --- quota --------------------------------------------------------------------------------

    async def quota(self, who: Requester) -> QuotaStatus:
        """What is left today for the requester's payer, in this chat, and for the whole bot."""
        now = time.time()
        rules = self._rules_for(who)
        usage = await self._repo.quota_usage(rules.payer_id, who.chat_id, utc_day(now))
        return QuotaStatus(
            exempt=rules.exempt,
            limit=rules.payer_daily,
            used=usage.payer_daily,
            credits=usage.credits,
            chat_limit=rules.chat_daily,
            chat_used=usage.chat,
            global_limit=rules.global_daily,
            global_used=usage.everyone,
            resets_in=seconds_until_reset(now),
        )

    def _rules_for(self, who: Requester) -> QuotaRules:
        return self.policy.rules_for(who.user_id, who.payer_id, who.chat_id)

    async def queued_ahead(self, job_id: int) -> int:
        return await self._repo.queued_ahead(job_id)

    async def announced(self, job_id: int, status_message_id: int | None) -> None:
        """The requester has seen the accepted job (its status message, if one could be sent):
        record that message, then let the worker start at once rather than at its next look."""
        if status_message_id is not None:
            await self._repo.set_status_message(job_id, status_message_id)
        self._wake_worker()


def _shots(spec: JobSpec) -> int:
    return len(spec.shots) if isinstance(spec, StorySpec) else 1


def _may_extend(who: Requester, parent: Job) -> bool:
    """A video named by id may be extended in the chat it was made in, or by its own payer."""
    return parent.chat_id == who.chat_id or parent.payer_id == who.payer_id
