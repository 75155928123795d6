"""The status message of a job: one message per job, kept current without flooding."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.domain.model import Job
from bot.domain.stores import JobStore
from bot.luma.models import Generation, GenerationState
from bot.telegram.buttons import cancel_button
from bot.texts import clock, duration_words, excerpt, text
from bot.worker.delivery import unchanged

log = logging.getLogger(__name__)

STATUS_PROMPT_CHARS = 120


class EditBudget:
    """How many status edits the bot may spend, so deliveries keep the rest of Telegram's limits.

    Telegram allows about 30 messages a second overall, one a second per chat and 20 a minute
    per group; PTB's AIORateLimiter queues sends to stay within them. Progress edits are
    cosmetic, so they only take what this budget allows (by default a third of the overall rate,
    and in groups a quarter of the per-group rate); an edit that finds no budget is skipped and
    the next tick shows the newer text instead (coalesced), rather than queueing ahead of a video.
    """

    def __init__(
        self,
        *,
        per_second: float = 10.0,
        group_per_minute: float = 5.0,
        private_interval: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        room: Callable[[int], bool] | None = None,
    ) -> None:
        # Whether Telegram's limits leave room for a cosmetic call to this chat right now
        # (PacingRateLimiter.has_room): under load, edits give way to status messages and videos.
        self._room = room
        self._per_second = per_second
        self._group_interval = 60.0 / group_per_minute
        self._private_interval = private_interval
        self._clock = clock
        self._tokens = per_second
        self._refilled = clock()
        self._last_edit: dict[int, float] = {}

    def try_spend(self, chat_id: int, *, state_change: bool = False) -> bool:
        """Spend one edit if the budget allows. A state change (a handful per job) skips the
        per-chat interval in private chats; groups and the overall rate always apply."""
        now = self._clock()
        self._tokens = min(
            self._per_second, self._tokens + (now - self._refilled) * self._per_second
        )
        self._refilled = now
        # Negative ids are groups and channels (the same rule PTB's rate limiter uses).
        interval = self._group_interval if chat_id < 0 else self._private_interval
        too_soon = now - self._last_edit.get(chat_id, -interval) < interval
        if self._tokens < 1 or (too_soon and (chat_id < 0 or not state_change)):
            return False
        if self._room is not None and not self._room(chat_id):
            return False
        self._tokens -= 1
        self._last_edit[chat_id] = now
        return True


def status_text(
    prompt: str,
    state: GenerationState,
    elapsed: float,
    language: str | None,
    *,
    ahead: int = 0,
    busy: bool = False,
    position: int | None = None,
    wait: float | None = None,
) -> str:
    """The status line for a job in `state`; the handler's first message uses it too.
    `ahead`: jobs waiting before it here; `busy`: the API pushed it back (429);
    `position` / `wait`: the video service's own queue place and estimate, when it gives them."""
    values = {"prompt": excerpt(prompt, STATUS_PROMPT_CHARS), "elapsed": clock(elapsed)}
    if wait is not None:
        values["wait"] = duration_words(wait, language)
    if state is GenerationState.DREAMING:
        key = "status_dreaming_wait" if wait is not None else "status_dreaming"
        return text(key, language, **values)
    if busy:
        return text("status_busy", language, ahead=ahead, **values)
    if position is not None:
        return text("status_service_position", language, position=position, **values)
    if wait is not None:
        return text("status_service_wait", language, **values)
    if ahead:
        return text("status_queued_ahead", language, ahead=ahead, **values)
    return text("status_queued", language, **values)


class Progress:
    """Keeps one job's status message current: state and elapsed time, edits throttled.

    Edits happen at most once per `interval` and only when the text changes, so a long
    generation costs a handful of edits, and "message is not modified" never happens.
    """

    def __init__(
        self,
        bot: Bot,
        repository: JobStore,
        job: Job,
        interval: float,
        language: str | None,
        budget: EditBudget | None = None,
        *,
        cancellable: bool = False,
    ) -> None:
        self._bot = bot
        # Keep the Cancel button while the video is being made (families that can delete).
        self._cancellable = cancellable
        self._budget = budget
        self._language = language
        self._repo = repository
        self._job = job
        self._interval = interval
        self._state = GenerationState(job.remote_state or "queued")
        self._position: int | None = None
        self._wait_until: float | None = None  # the API's estimate, as a moment
        # The handler's first message carries a Cancel button; the first edit (the first change
        # of state after submission) drops it unless the family can still stop the job.
        self._shown: str | None = None
        # The status message, once known (the handler records it just after sending it).
        self._status_id = job.status_message_id
        self._gone = False  # the user deleted it
        self._last_edit = 0.0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def show(self, generation: Generation) -> None:
        """A fresh answer from the API: a new state is shown at once; new queue information
        waits for the next tick (it can change on every poll)."""
        changed = generation.state is not self._state
        self._state = generation.state
        self._position = generation.queue_position
        self._wait_until = (
            time.time() + generation.estimate_wait_seconds
            if generation.estimate_wait_seconds is not None
            else None
        )
        if changed and not generation.state.is_terminal:
            await self._edit(self._status_text(), force=True)

    async def show_delivering(self) -> None:
        self._cancellable = False  # the video exists: it is paid for and on its way
        await self._edit(text("status_delivering", self._language), force=True)

    async def _tick(self) -> None:
        # No edit at start: the status message already says "queued", and the first change of
        # state comes soon. (Its Cancel button, pressed meanwhile, answers "too late".)
        while True:
            await asyncio.sleep(self._interval)
            await self._edit(self._status_text(), force=False)

    def _status_text(self) -> str:
        now = time.time()
        wait = None if self._wait_until is None else max(self._wait_until - now, 1.0)
        return status_text(
            self._job.prompt,
            self._state,
            now - self._job.created_at,
            self._language,
            position=self._position,
            wait=wait,
        )

    async def _edit(self, message: str, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if message == self._shown or (not force and now - self._last_edit < self._interval):
                return
            if self._gone:
                return
            # The budget first: with thousands of jobs waiting, most ticks stop here, before
            # the database read below.
            budget = self._budget
            if budget is not None and not budget.try_spend(self._job.chat_id, state_change=force):
                return  # no budget now: the next tick carries the newest text
            fresh = await self._repo.get_job(self._job.id)
            if fresh is None or fresh.state.is_final:
                return  # cancelled meanwhile: the status message says so now
            self._status_id = self._status_id or fresh.status_message_id
            if self._status_id is None:
                return
            try:
                await self._bot.edit_message_text(
                    chat_id=self._job.chat_id,
                    message_id=self._status_id,
                    text=message,
                    reply_markup=(
                        cancel_button(self._job.id, self._language) if self._cancellable else None
                    ),
                )
            except BadRequest as error:
                if "not found" in str(error).lower():
                    # The user deleted the status message: stop editing it.
                    self._status_id, self._gone = None, True
                    await self._repo.set_status_message(self._job.id, None)
                elif not unchanged(error):
                    log.info("job %d: status edit refused: %s", self._job.id, error)
            except TelegramError as error:
                log.info("job %d: status edit failed: %s", self._job.id, error)
            self._shown, self._last_edit = message, now
