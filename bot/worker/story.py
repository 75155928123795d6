"""A story (/story): its shots made one after another, then one video.

The story is a job of its own, paid for all its shots when it was accepted. It never goes to
the video API itself: each time the worker takes it up, it looks at its shots (jobs with
`story_job_id`) and moves on by one step:

- no shot yet, or the last one made and more to come: the next shot becomes a job (continuing
  the one before, unless after a cut), and the story waits (WAITING) for it;
- the last shot still under way: the status message is brought up to date, and the story is
  looked at again when a shot ends (`wake_job`) or at the next status update
  (PROGRESS_INTERVAL);
- every shot made, or one failed after some were made: the story goes on to be stitched and
  delivered (DELIVERING, bot/worker/deliver.py), and the shots never made are given back;
- the first shot failed: the story fails as that shot did (refunded as the table says);
- asked to stop (/cancel once a shot is under way: `stop_requested_at`, stored, so a restart
  honours it): no shot is added after that, and none sent (`mark_submitting` refuses; a shot
  still in the queue is dropped here), the shot under way is waited for unless the cancel
  deleted it, and then the shots made are delivered as the story, as after a failed shot.

Shots are added once (their request key names the story and the place), so a restart resumes
at the shot in progress; stitching runs again from the shots' videos, so a kill during it or
during the upload still ends in exactly one video (the delivery's own guarantee).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from telegram.error import TelegramError

from bot.domain.model import ACTIVE_STATES, FailureCode, Job, JobState, NewJob
from bot.domain.specs import ParentVideo, StorySpec, spec_of
from bot.telegram.buttons import cancel_button
from bot.texts import Html, clock, excerpt, text
from bot.worker.context import WorkerContext
from bot.worker.delivery import Delivery, VideoFile, VideoTooLarge
from bot.worker.mp4 import Movie, read_file_movie, read_file_video_info
from bot.worker.stitch import StitchError, stitch

log = logging.getLogger(__name__)

STATUS_PROMPT_CHARS = 60
# Less than any shot lasts (Luma makes 5 or 9 s; the emulator's shortest is 2 s), more than two
# encodings of one length differ.
EXTENSION_SECONDS = 1.0


@dataclass(frozen=True)
class MadeShot:
    """A shot's video, as the stitching sees it."""

    index: int
    cut: bool  # it starts fresh: it does not continue the shot before
    seconds: float


def parts_to_join(shots: Sequence[MadeShot]) -> list[int]:
    """Which shots' videos make the story, in order, so that no part appears twice.

    Luma documents an extension as adding length to an existing video: its video then holds the
    shot it continues, and only the last shot of each run between cuts is needed. A service that
    returns only the new part is recognised too: every shot of a story asks for the same length,
    so an extension that holds the shot before is longer than that shot, and one that does not,
    is not (by EXTENSION_SECONDS at least: two encodings of the same length differ by a
    frame or so)."""
    needed: list[int] = []
    for position, shot in enumerate(shots):
        previous = shots[position - 1] if position else None
        longer = previous is not None and shot.seconds >= previous.seconds + EXTENSION_SECONDS
        if previous is not None and not shot.cut and longer:
            needed.remove(previous.index)  # this extension holds the shot before
        needed.append(shot.index)
    return needed


class Story:
    def __init__(self, context: WorkerContext, delivery: Delivery) -> None:
        self._ctx = context
        self._delivery = delivery

    # --- the story ----------------------------------------------------------------------------

    async def run(self, story: Job) -> bool:
        """One step of a story that is QUEUED or WAITING (see the module docstring)."""
        ctx = self._ctx
        spec = spec_of(story)
        assert isinstance(spec, StorySpec)
        shots = await ctx.repo.story_shots(story.id)
        last = shots[-1] if shots else None
        stopping = story.stop_requested_at is not None
        if last is not None and last.state in ACTIVE_STATES:
            if stopping and await ctx.fail(last, FailureCode.CANCELLED, only_if=JobState.QUEUED):
                return True  # never sent, and now never will be: the story ends without it
            await self._show(story, spec, shots)
            return await self._look_again(story)
        if last is not None and last.state is JobState.FAILED:
            return await self._after_failed_shot(story, spec, shots, last)
        if len(shots) == len(spec.shots):
            return await self._all_made(story, shots, give_back=0)
        if stopping:  # the payer asked (/cancel): the shots made are the story
            return await self._end_early(story, spec, shots, FailureCode.CANCELLED)
        if time.time() >= story.deadline_at:
            return await self._end_early(story, spec, shots, FailureCode.TIMEOUT)
        await self._add_shot(story, spec, len(shots), last)
        return True  # look again at once: shows the new shot as under way

    async def _add_shot(self, story: Job, spec: StorySpec, index: int, last: Job | None) -> None:
        ctx = self._ctx
        previous = (
            ParentVideo(id=last.remote_id, job_id=last.id)
            if last is not None and last.remote_id is not None
            else None
        )
        shot = spec.shot_spec(index, previous)
        now = time.time()
        job = await ctx.repo.add_story_shot(
            story,
            NewJob(
                family=story.family,
                kind=shot.kind,
                user_id=story.user_id,
                chat_id=story.chat_id,
                thread_id=story.thread_id,
                request_message_id=story.request_message_id,
                request_key=f"story:{story.id}:{index}",
                parent_job_id=shot.parent_job_id,
                prompt=shot.prompt,
                params=shot.params(),
                deadline_at=story.deadline_at,
                cost=0,
                story_job_id=story.id,
                shot=index,
            ),
            now,
        )
        log.info("story %d: shot %d is job %d", story.id, index + 1, job.id)
        if story.state is JobState.QUEUED:
            await ctx.repo.mark_story_waiting(story.id, ctx.owner, now)

    async def _after_failed_shot(
        self, story: Job, spec: StorySpec, shots: list[Job], failed: Job
    ) -> bool:
        """Shots made before the failure make a shorter story; with none, the story failed."""
        made = [shot for shot in shots if shot.state is JobState.DELIVERED]
        code = FailureCode(failed.failure_code or FailureCode.GENERATION_FAILED.value)
        if not made:  # refunded as the shot would be: it may have reached the provider
            return await self._ctx.fail(
                story, code, failed.failure_reason, submitted=failed.remote_id is not None
            )
        log.info("story %d: shot %d ended (%s)", story.id, len(made) + 1, code.value)
        return await self._end_early(story, spec, shots, code)

    async def _end_early(
        self, story: Job, spec: StorySpec, shots: list[Job], code: FailureCode
    ) -> bool:
        """The story ends before its last shot (`code`: a shot failed, the deadline passed, or
        the payer asked it to stop): the shots made are delivered as the story, and the shots
        never made given back; with none made, the story fails."""
        made = [shot for shot in shots if shot.state is JobState.DELIVERED]
        if not made:
            return await self._ctx.fail(story, code)
        unmade = len(spec.shots) - len(made)
        per_shot = story.cost // len(spec.shots)
        log.info("story %d: delivering %d of %d shots", story.id, len(made), len(spec.shots))
        stopped: dict[str, object] = {"shot": len(made) + 1, "code": code.value, "unmade": unmade}
        return await self._all_made(story, made, give_back=per_shot * unmade, stopped=stopped)

    async def _all_made(
        self,
        story: Job,
        made: list[Job],
        *,
        give_back: int,
        stopped: dict[str, object] | None = None,
    ) -> bool:
        ctx = self._ctx
        last = made[-1]
        assert last.video_url is not None
        outcome = {
            "made": [{"shot": shot.shot, "id": shot.remote_id} for shot in made],
            "stopped": stopped,
        }
        return await ctx.repo.mark_story_made(
            story.id,
            ctx.owner,
            video_url=last.video_url,
            outcome=outcome,
            give_back=give_back,
            now=time.time(),
        )

    async def _look_again(self, story: Job) -> bool:
        ctx = self._ctx
        # Looked at again when a shot ends (`wake_job`), or at the next status message update
        # (the elapsed time; a wake-up lost while this step ran).
        look_at = time.time() + ctx.settings.progress_interval
        await ctx.repo.release(story.id, ctx.owner, next_attempt_at=look_at)
        return False

    async def _show(self, story: Job, spec: StorySpec, shots: list[Job]) -> None:
        """The status message: each shot done, in progress or waiting, and the time so far."""
        ctx = self._ctx
        # Each look follows a shot's change of state or a status interval: always worth it.
        spend = ctx.edit_budget.try_spend(story.chat_id, state_change=True)
        if story.status_message_id is None or not spend:
            return
        language = await ctx.notices.language(story)
        stopping = story.stop_requested_at is not None
        elapsed = time.time() - story.created_at
        message = story_status(spec, shots, elapsed, language, stopping=stopping)
        with contextlib.suppress(TelegramError):  # "not modified", or gone: the next look
            await ctx.bot.edit_message_text(
                chat_id=story.chat_id,
                message_id=story.status_message_id,
                text=message,
                # Cancel stops the story after the shots made, whatever the video service.
                reply_markup=None if stopping else cancel_button(story.id, language),
            )

    # --- its shots ----------------------------------------------------------------------------

    async def shot_made(self, shot: Job) -> bool:
        """A shot's video is ready (DELIVERING): kept for the story, not sent; the story is
        told."""
        ctx = self._ctx
        done = await ctx.repo.mark_delivered(
            shot.id, ctx.owner, message_id=None, file_id=None, now=time.time()
        )
        if done and shot.story_job_id is not None:
            await ctx.repo.wake_job(shot.story_job_id, time.time())
        return False

    # --- the video ----------------------------------------------------------------------------

    async def video(self, story: Job) -> VideoFile:
        """The story as one MP4: the needed shots' videos, downloaded and stitched (again, after
        a restart: the result is the same). VideoTooLarge above the upload limit."""
        ctx = self._ctx
        shots = [s for s in await ctx.repo.story_shots(story.id) if s.state is JobState.DELIVERED]
        spec = spec_of(story)
        assert isinstance(spec, StorySpec)
        with tempfile.TemporaryDirectory(prefix="luma-story-") as folder:
            paths: dict[int, Path] = {}
            urls: dict[int, str] = {}
            made: list[MadeShot] = []
            for shot in shots:
                assert shot.video_url is not None and shot.shot is not None
                paths[shot.shot] = Path(folder, f"shot-{shot.shot}.mp4")
                urls[shot.shot] = shot.video_url
                seconds = await self._fetch(shot.video_url, paths[shot.shot])
                made.append(MadeShot(shot.shot, spec.shots[shot.shot].cut, seconds))
            needed = parts_to_join(made)
            parts = [paths[index] for index in needed]
            links = tuple(urls[index] for index in needed)
            out = Path(folder, "story.mp4")
            try:
                await stitch(parts, out)
            except StitchError as error:
                raise StoryStitchError(str(error)) from None
            # Opened before the folder goes: the open file outlives its name.
            video = await asyncio.to_thread(_opened, out)
        if video.size > self._delivery.upload_limit:  # its parts' links instead
            video.close()
            raise VideoTooLarge(video.size, links)
        return video

    async def _fetch(self, url: str, path: Path) -> float:
        """One shot's video into `path`; its length in seconds."""
        video = await self._delivery.download(url)
        with contextlib.closing(video):
            await asyncio.to_thread(_save, video, path)
            return _seconds(read_file_movie(video.file))


def _seconds(movie: Movie) -> float:
    """A video's length: its longest track's own (exact), else the movie's (whole seconds)."""
    lengths = [track.seconds for track in movie.tracks if track.seconds]
    return max(lengths) if lengths else float(movie.info.duration or 0)


def _save(video: VideoFile, path: Path) -> None:
    video.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(video.file, out)


def _opened(path: Path) -> VideoFile:
    file = path.open("rb")
    return VideoFile(file, path.stat().st_size, read_file_video_info(file))


class StoryStitchError(Exception):
    """The shots could not be joined (retried like a failed download)."""


def story_status(
    spec: StorySpec,
    shots: list[Job],
    elapsed: float,
    language: str | None,
    *,
    stopping: bool = False,
) -> str:
    """The story's status message: a line per shot, and the time so far; `stopping`: the payer
    asked it to stop, so the shots not begun will not be made."""
    lines = []
    for index, shot in enumerate(spec.shots):
        state = shots[index].state if index < len(shots) else None
        dropped = (state is None and stopping) or (
            state is JobState.FAILED and shots[index].failure_code == FailureCode.CANCELLED.value
        )
        key = (
            "story_shot_dropped"
            if dropped
            else "story_shot_waiting"
            if state is None
            else "story_shot_done"
            if state is JobState.DELIVERED
            else "story_shot_failed"
            if state is JobState.FAILED
            else "story_shot_making"
        )
        lines.append(
            text(
                key,
                language,
                number=index + 1,
                prompt=excerpt(shot.prompt, STATUS_PROMPT_CHARS),
                cut="✂️ " if shot.cut else "",
            )
        )
    if stopping and len(shots) < len(spec.shots):  # some will never be made
        lines.append(text("story_status_stopping", language))
    return text(
        "story_status",
        language,
        count=len(spec.shots),
        elapsed=clock(elapsed),
        shots=Html("\n".join(lines)),
    )
