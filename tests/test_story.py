"""/story end to end (issue 20): the bot's own Application, the fake Bot API, and the emulator
making each shot; the shots stitched into one MP4 by FFmpeg, checked by decoding it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.model import JobState
from playground.fake_telegram import Call, FakeTelegram
from tests.media import colour_runs, duration_of
from tests.quota import quota_used
from tests.test_callbacks import LUMA_PATH, start_luma

USER = 1001
STORY = (
    " --ar 9:16\na paper boat on a puddle\nthe boat drifts into a stream\n"
    "the stream becomes a river"
)


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and "chat/completions" not in r.path]


async def used(bot: Any) -> int:
    return await quota_used(bot.runtime.repository, USER)


async def story_job(bot: Any, job_id: int = 1, state: JobState = JobState.DELIVERED) -> Any:
    for _ in range(750):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and job.state is state and not job.notice_pending:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {state}")


async def the_video(tg: FakeTelegram) -> Call:
    return await tg.wait_for_video(timeout=30)


async def test_a_three_shot_story_is_one_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    tg.user_sends(f"/story{STORY}", user_id=USER)
    video = await the_video(tg)
    story = await story_job(bot)
    shots = await bot.runtime.repository.story_shots(story.id)
    assert [shot.shot for shot in shots] == [0, 1, 2]
    first, second, third = (r.json for r in creates(emulator))
    assert first["prompt"] == "a paper boat on a puddle" and "keyframes" not in first
    assert second["keyframes"]["frame0"] == {"type": "generation", "id": shots[0].remote_id}
    assert third["keyframes"]["frame0"] == {"type": "generation", "id": shots[1].remote_id}
    assert {body["aspect_ratio"] for body in (first, second, third)} == {"9:16"}
    caption = video.params["caption"]
    assert caption.startswith("🎞 3 shots · 9:16")
    for number, shot in enumerate(shots, start=1):
        assert f"{number}. {shot.prompt} · <code>{shot.remote_id}</code>" in caption
    # One status message, one video, the story charged once for its three shots.
    statuses = [c for c in tg.calls_of("sendMessage") if "Story" in c.params["text"]]
    assert len(statuses) == 1 and "⏳ 1. a paper boat" in statuses[0].params["text"]
    assert len(tg.videos()) == 1 and video.result["message_id"] == statuses[0].result["message_id"]
    assert await used(bot) == 3 and story.cost == 3
    assert all(shot.cost == 0 for shot in shots)
    # The shots are not in /history on their own.
    page = await bot.runtime.service.history_page(USER, chat_id=None, page=1)
    assert [entry.kind for entry in page.entries] == ["story"]


async def test_too_many_shots_or_none_are_refused_at_no_cost(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(story_max_shots=2)
    tg.user_sends("/story\none\ntwo shots\nthree shots", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "at most 2" in c.params["text"])
    tg.user_sends("/story --ar 9:16", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "one per line" in c.params["text"])
    assert creates(emulator) == [] and await used(bot) == 0


async def test_a_story_the_payer_cannot_cover_is_refused_whole(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=2)
    tg.user_sends(f"/story{STORY}", user_id=USER)
    await tg.wait_for_call(
        "sendMessage", lambda c: "This story costs <b>3</b> credits" in c.params["text"]
    )
    assert creates(emulator) == [] and await used(bot) == 0


async def test_a_failed_shot_ends_the_story_early_and_refunds_the_rest(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    tg.user_sends("/story\na calm lake\n[fail] a storm\na rainbow", user_id=USER)
    video = await the_video(tg)
    story = await story_job(bot)
    assert "could not be made" in video.params["caption"]
    assert (
        "1. a calm lake" in video.params["caption"] and "a rainbow" not in video.params["caption"]
    )
    assert len(creates(emulator)) == 2  # the third shot was never asked for
    assert story.cost == 1 and await used(bot) == 1


async def test_a_story_whose_first_shot_fails_fails_and_is_refunded(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    tg.user_sends("/story\n[fail] a calm lake\na storm", user_id=USER)
    await tg.wait_for_call("editMessageText", lambda c: "declined" in c.params["text"], timeout=30)
    story = await story_job(bot, state=JobState.FAILED)
    assert story.failure_code == "moderation" and await used(bot) == 0
    assert tg.videos() == [] and len(creates(emulator)) == 1


async def test_a_story_from_a_photo(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.user_sends_photo(caption="/story\nthe photo comes alive\nit flies away", user_id=USER)
    await the_video(tg)
    first, second = (r.json for r in creates(emulator))
    assert first["keyframes"]["frame0"]["type"] == "image"
    assert second["keyframes"]["frame0"]["type"] == "generation"


async def test_a_cut_starts_the_next_shot_fresh(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/story a door opens | a hall beyond | --- | a garden at night", user_id=USER)
    await the_video(tg)
    _, second, third = (r.json for r in creates(emulator))
    assert "keyframes" in second and "keyframes" not in third


async def test_extend_and_again_on_a_story(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=10)
    tg.user_sends("/story\na kite rises\nit loops in the wind", user_id=USER)
    video = (await the_video(tg)).result
    story = await bot.delivered(video)
    last = (await bot.runtime.repository.story_shots(story.id))[-1]
    tg.user_sends("/extend the string snaps", user_id=USER, reply_to_message_id=video["message_id"])
    await tg.wait_for_video(count=2, timeout=30)
    assert creates(emulator)[-1].json["keyframes"]["frame0"]["id"] == last.remote_id
    tg.press_button(video, f"a:{story.id}", user_id=USER)
    await tg.wait_for_video(count=3, timeout=30)
    assert len(creates(emulator)) == 2 + 1 + 2  # the story, the extension, the story again
    assert await used(bot) == 5


@pytest.mark.parametrize("stop_in", ["stitching", "upload"])
async def test_a_restart_while_the_story_is_delivered_ends_in_one_video(
    stop_in: str, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    if stop_in == "upload":  # Telegram hangs on the first upload: the restart comes mid-way
        tg.delay_next("editMessageMedia", 3)
    first = await start_bot()
    tg.user_sends("/story\na kite rises\nit loops in the wind", user_id=USER)
    await story_job(first, state=JobState.DELIVERING)
    await first.stop()
    second = await start_bot()
    await tg.wait_for_video(timeout=30)
    story = await story_job(second)
    await asyncio.sleep(0.5)
    assert len(tg.videos()) == 1 and story.video_message_id == tg.videos()[0].result["message_id"]
    assert len(creates(emulator)) == 2


# --- the stitched video, decoded (the emulator's real clips: one colour per generation) ---------


@pytest.fixture
def clips(emulator: Any) -> Any:
    emulator.config.clips = True
    return emulator


def stitched(video: Call) -> bytes:
    data = video.files.get("video")
    assert data, "the story was not uploaded"
    return data


@pytest.mark.parametrize("includes_source", [True, False], ids=["holds-source", "new-part"])
async def test_the_story_shows_each_shot_once_in_order(
    includes_source: bool, tg: FakeTelegram, clips: Any, start_bot: Callable[..., Any]
) -> None:
    # Whether the service's extension holds the shot it continues (Luma's documented way) or
    # is the new part alone, the story is every shot once: 2 s of red, green, blue.
    clips.config.extend_includes_source = includes_source
    await start_bot(daily_quota=5)
    tg.user_sends(f"/story{STORY}", user_id=USER)
    video = await the_video(tg)
    assert colour_runs(stitched(video)) == [("red", 2.0), ("green", 2.0), ("blue", 2.0)]
    assert duration_of(stitched(video)) == pytest.approx(6.0, abs=0.2)
    assert video.params["duration"] == 6


async def test_a_cut_is_joined_after_the_run_before_it(
    tg: FakeTelegram, clips: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/story a door opens | a hall beyond | --- | a garden at night", user_id=USER)
    video = await the_video(tg)
    assert colour_runs(stitched(video)) == [("red", 2.0), ("green", 2.0), ("blue", 2.0)]


async def test_a_shorter_story_after_a_failed_shot_holds_the_shots_made(
    tg: FakeTelegram, clips: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=5)
    tg.user_sends("/story\na calm lake\nthe wind rises\n[fail] a storm\na rainbow", user_id=USER)
    video = await the_video(tg)
    assert colour_runs(stitched(video)) == [("red", 2.0), ("green", 2.0)]


async def test_nine_second_shots_after_a_cut(
    tg: FakeTelegram, clips: Any, start_bot: Callable[..., Any]
) -> None:
    # The story's options reach every shot: 9 s each (3 s in the emulator), two runs joined.
    await start_bot(daily_quota=5)
    tg.user_sends("/story --dur 9s\na red balloon\n---\na green field", user_id=USER)
    video = await the_video(tg)
    assert colour_runs(stitched(video)) == [("red", 3.0), ("green", 3.0)]


async def test_a_story_over_the_upload_limit_is_sent_as_its_parts_links(
    tg: FakeTelegram, clips: Any, start_bot: Callable[..., Any]
) -> None:
    # Each clip is under 2 KB (a 2 s solid colour), the two joined are over: after the cut,
    # two parts make the story, so two links, in order.
    bot = await start_bot(telegram_upload_limit=2_100)
    tg.user_sends("/story a door opens | --- | a garden at night", user_id=USER)
    link = await tg.wait_for_call(
        "editMessageText", lambda c: "too large" in c.params["text"], timeout=30
    )
    story = await story_job(bot)
    shots = await bot.runtime.repository.story_shots(story.id)
    body = link.params["text"]
    assert body.index(shots[0].video_url) < body.index(shots[1].video_url)
    assert tg.videos() == []


async def test_the_status_message_follows_the_shots(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 0.6
    await start_bot()
    tg.user_sends("/story\na kite rises\nit loops in the wind", user_id=USER)
    await the_video(tg)
    shown = [c.params["text"] for c in tg.calls_of("editMessageText")]
    assert any("🎬 1. a kite rises" in t and "⏳ 2. it loops" in t for t in shown), shown
    assert any("✅ 1. a kite rises" in t and "🎬 2. it loops" in t for t in shown), shown


async def test_a_story_in_progress_counts_once_toward_the_active_limit(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 1.0
    bot = await start_bot(max_active_per_user=2, daily_quota=5)
    tg.user_sends("/story\na kite rises\nit loops in the wind", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 1, timeout=15)
    assert await bot.runtime.repository.count_active(USER) == 1  # not 2 with its shot
    tg.user_sends("/video a paper plane", user_id=USER)  # the story and this: two
    await tg.wait_for_video(count=2, timeout=30)
    assert not [c for c in tg.calls_of("sendMessage") if "the limit is" in c.params["text"]]


# --- cancelling a story -------------------------------------------------------------------------
#
# Paid for all its shots when accepted: 1 from the day's allowance and 2 credits here. Before a
# shot reaches the video API the story is cancelled whole, as a queued video is; once shots are
# under way it stops after them (the shot under way deleted where the API can, else finished),
# the shots made arrive as the story and the shots never made come back; while it is joined,
# it is too late. Each case asserts the creates, the one video, the money and what was said.

SHOTS = ("a calm lake", "the wind rises", "a storm")
STUCK = "[stuck] "  # the emulator keeps such a generation in its queue until told otherwise


def story_of(*shots: str) -> str:
    return "/story\n" + "\n".join(shots)


async def paying_bot(start_bot: Callable[..., Any], luma: Any = None) -> Any:
    """A bot whose user pays 1 for a story of 3 from the day's allowance and 2 from 5 credits;
    on Luma's own API (it can delete generations) when given the emulator as `luma`."""
    if luma is None:
        bot = await start_bot(daily_quota=1)
    else:
        bot = await start_luma(start_bot, luma, daily_quota=1)
    await bot.runtime.repository.grant_credits(USER, 5, time.time())
    return bot


async def money(bot: Any, database: Any) -> tuple[int, int, list[tuple[int, str]]]:
    """The day's allowance used, the credits left, and the story's ledger rows."""
    rows = (await database.tables())["credit_ledger"]
    story_rows = sorted((r["delta"], r["reason"]) for r in rows if r["ref"] == "1")
    return await used(bot), await bot.runtime.repository.balance(USER), story_rows


async def job_when(bot: Any, job_id: int, predicate: Callable[[Any], bool]) -> Any:
    job = None
    for _ in range(500):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and predicate(job):
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never got there: {job}")


def waiting(job: Any) -> bool:
    return job.state is JobState.WAITING


def generation(emulator: Any, index: int) -> Any:
    return list(emulator.generations.values())[index]


def cancel(tg: FakeTelegram, how: str, status: dict, job_id: int = 1) -> None:
    """/cancel, /cancel as a reply to the story's status message, or its ✖ Cancel button
    (`job_id`: another job's button, as a crafted one)."""
    if how == "command":
        tg.user_sends("/cancel", user_id=USER)
    elif how == "reply":
        tg.user_sends("/cancel", user_id=USER, reply_to_message_id=status["message_id"])
    else:
        tg.press_button(status, f"c:{job_id}", user_id=USER, crafted=job_id != 1)


async def told(tg: FakeTelegram, how: str, words: str) -> str:
    """What the cancel was answered with: the button's alert, or a reply."""
    if how.endswith("button"):
        call = await tg.wait_for_call("answerCallbackQuery", lambda c: words in c.params["text"])
    else:
        call = await tg.wait_for_call("sendMessage", lambda c: words in c.params["text"])
    return str(call.params["text"])


async def story_status_message(tg: FakeTelegram) -> dict:
    call = await tg.wait_for_call("sendMessage", lambda c: "Story" in c.params["text"])
    (cancel_row,) = call.params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in cancel_row] == ["✖ Cancel"]
    return dict(call.result)


@pytest.mark.parametrize("how", ["command", "reply", "button"])
async def test_a_story_cancelled_before_its_first_shot_is_sent_is_refunded_whole(
    how: str, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    emulator.inject_fault(route="create", status=429, retry_after=30)  # shot 1 waits its turn
    bot = await paying_bot(start_bot)
    tg.user_sends(story_of(*SHOTS), user_id=USER)
    status = await story_status_message(tg)
    await tg.wait_until(lambda: len(creates(emulator)) == 1)
    await job_when(bot, 2, lambda shot: shot.state is JobState.QUEUED and shot.attempts == 1)
    assert await money(bot, database) == (1, 3, [(-2, "job")])
    cancel(tg, how, status)
    notice = await tg.wait_for_call("editMessageText", lambda c: "Cancelled" in c.params["text"])
    assert int(notice.params["message_id"]) == status["message_id"]
    assert "before it reached the video service" in notice.params["text"]
    story = await story_job(bot, state=JobState.FAILED)
    assert story.failure_code == "cancelled" and story.refunded and not story.billable
    (shot,) = await bot.runtime.repository.story_shots(story.id)
    assert shot.state is JobState.FAILED and shot.failure_code == "cancelled"
    # Everything back, once: the allowance and the 2 credits (one ledger row).
    assert await money(bot, database) == (0, 5, [(-2, "job"), (2, "job_refund")])
    await tg.wait_until(lambda: bot.runtime.worker.in_flight == 0)
    assert len(creates(emulator)) == 1 and emulator.generations == {}  # the refused one only
    assert tg.videos() == []


async def test_a_story_stopped_while_its_first_shot_is_made_is_that_shot(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    # AI/ML API cannot stop a generation: shot 1 is finished and is the story.
    bot = await paying_bot(start_bot)
    tg.user_sends(story_of(STUCK + SHOTS[0], *SHOTS[1:]), user_id=USER)
    status = await story_status_message(tg)
    await job_when(bot, 2, waiting)
    tg.press_button(status, "c:1", user_id=USER)  # the button is still there
    alert = await told(tg, "button", "Stopping your story")
    assert "after shot 1" in alert and "(2 of 3) are given back" in alert
    shown = await tg.wait_for_call("editMessageText", lambda c: "Stopping at" in c.params["text"])
    assert "🎬 1." in shown.params["text"] and "⏹ 2. the wind rises" in shown.params["text"]
    assert "reply_markup" not in shown.params  # nothing more to cancel
    emulator.force_state(generation(emulator, 0).id, "completed")
    video = await the_video(tg)
    assert "1. [stuck] a calm lake" in video.params["caption"]
    assert "Stopped at your request after 1 of 3 shots" in video.params["caption"]
    story = await story_job(bot)
    assert story.cost == 1 and len(creates(emulator)) == 1 and len(tg.videos()) == 1
    assert await money(bot, database) == (1, 5, [(-2, "job"), (2, "story_refund")])


async def test_a_story_stopped_between_shots_sends_the_shots_made(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    bot = await paying_bot(start_bot)
    tg.user_sends(story_of(STUCK + SHOTS[0], *SHOTS[1:]), user_id=USER)
    status = await story_status_message(tg)
    await job_when(bot, 2, waiting)
    emulator.inject_fault(route="create", status=429, retry_after=30)  # shot 2 waits its turn
    emulator.force_state(generation(emulator, 0).id, "completed")
    await job_when(bot, 3, lambda shot: shot.state is JobState.QUEUED and shot.attempts == 1)
    cancel(tg, "reply", status)
    reply = await told(tg, "reply", "Stopping your story")
    assert "no more shots" in reply and "(2 of 3) are given back" in reply
    video = await the_video(tg)
    assert "Stopped at your request after 1 of 3 shots" in video.params["caption"]
    assert "the wind rises" not in video.params["caption"]
    story = await story_job(bot)
    shots = await bot.runtime.repository.story_shots(story.id)
    assert [(s.state, s.failure_code) for s in shots] == [
        (JobState.DELIVERED, None),
        (JobState.FAILED, "cancelled"),
    ]
    # Shot 2's create was refused once and never sent again; one generation in all.
    assert len(creates(emulator)) == 2 and len(emulator.generations) == 1
    assert await money(bot, database) == (1, 5, [(-2, "job"), (2, "story_refund")])


@pytest.mark.parametrize("how", ["command", "shot button"])
async def test_a_story_stopped_while_shot_2_of_3_is_made_ends_after_it(
    how: str, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    # "shot button": a Cancel naming the shot's own job (crafted) means its story too.
    bot = await paying_bot(start_bot)
    tg.user_sends(story_of(SHOTS[0], STUCK + SHOTS[1], SHOTS[2]), user_id=USER)
    status = await story_status_message(tg)
    await job_when(bot, 3, waiting)
    cancel(tg, how, status, job_id=3 if how == "shot button" else 1)
    answer = await told(tg, how, "Stopping your story")
    assert "after shot 2" in answer and "(1 of 3) are given back" in answer
    shown = await tg.wait_for_call("editMessageText", lambda c: "Stopping at" in c.params["text"])
    assert "✅ 1." in shown.params["text"] and "🎬 2." in shown.params["text"]
    assert "⏹ 3. a storm" in shown.params["text"]
    cancel(tg, "command", status)  # asked again: said once more, nothing else
    await told(tg, "command", "already stopping")
    emulator.force_state(generation(emulator, 1).id, "completed")
    video = await the_video(tg)
    caption = video.params["caption"]
    assert "1. a calm lake" in caption and "2. [stuck] the wind rises" in caption
    assert "a storm" not in caption
    assert "Stopped at your request after 2 of 3 shots; the shots not made (1)" in caption
    story = await story_job(bot)
    assert story.cost == 2 and len(creates(emulator)) == 2 and len(tg.videos()) == 1
    assert await money(bot, database) == (1, 4, [(-2, "job"), (1, "story_refund")])


async def test_on_luma_the_shot_under_way_is_deleted_and_the_shots_made_sent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    bot = await paying_bot(start_bot, luma=emulator)
    tg.user_sends(story_of(SHOTS[0], STUCK + SHOTS[1], SHOTS[2]), user_id=USER)
    status = await story_status_message(tg)
    await job_when(bot, 3, waiting)
    cancel(tg, "button", status)
    alert = await told(tg, "button", "Stopping your story")
    assert "(2 of 3) are given back" in alert
    video = await the_video(tg)
    assert "Stopped at your request after 1 of 3 shots" in video.params["caption"]
    deletes = [r.path for r in emulator.requests if r.method == "DELETE"]
    assert deletes == [f"{LUMA_PATH}/generations/{generation(emulator, 1).id}"]
    story = await story_job(bot)
    shots = await bot.runtime.repository.story_shots(story.id)
    assert [s.failure_code for s in shots] == [None, "cancelled"] and not shots[1].billable
    assert story.cost == 1 and len(creates(emulator)) == 2
    assert await money(bot, database) == (1, 5, [(-2, "job"), (2, "story_refund")])


async def test_on_luma_a_story_whose_first_shot_is_deleted_is_refunded_whole(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    bot = await paying_bot(start_bot, luma=emulator)
    tg.user_sends(story_of(STUCK + SHOTS[0], *SHOTS[1:]), user_id=USER)
    status = await story_status_message(tg)
    await job_when(bot, 2, waiting)
    cancel(tg, "command", status)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "the video service stopped making it" in c.params["text"]
    )
    assert int(notice.params["message_id"]) == status["message_id"]
    story = await story_job(bot, state=JobState.FAILED)
    assert story.failure_code == "cancelled" and story.refunded and not story.billable
    assert [r.method for r in emulator.requests if r.method == "DELETE"] == ["DELETE"]
    assert await money(bot, database) == (0, 5, [(-2, "job"), (2, "job_refund")])
    await tg.wait_until(lambda: bot.runtime.worker.in_flight == 0)
    assert len(creates(emulator)) == 1 and tg.videos() == []


async def test_a_story_being_joined_is_too_late_to_cancel(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    emulator.inject_fault(route="download", kind="delay", seconds=3)  # the first shot's video
    bot = await paying_bot(start_bot)
    tg.user_sends(story_of(*SHOTS), user_id=USER)
    status = await story_status_message(tg)
    await story_job(bot, state=JobState.DELIVERING)
    # Pressed as the shots are joined (the app may show the button a moment longer).
    tg.press_button(status, "c:1", user_id=USER, crafted=True)
    alert = await told(tg, "button", "Too late to cancel")
    assert "being joined into one video" in alert
    cancel(tg, "command", status)
    await told(tg, "command", "Too late to cancel")
    video = await the_video(tg)
    assert "Stopped" not in video.params["caption"] and "3. a storm" in video.params["caption"]
    story = await story_job(bot)
    assert story.cost == 3 and len(creates(emulator)) == 3 and len(tg.videos()) == 1
    assert await money(bot, database) == (1, 3, [(-2, "job")])


async def test_a_stop_asked_before_a_restart_is_honoured_after_it(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: Any
) -> None:
    first = await paying_bot(start_bot)
    tg.user_sends(story_of(SHOTS[0], STUCK + SHOTS[1], SHOTS[2]), user_id=USER)
    status = await story_status_message(tg)
    await job_when(first, 3, waiting)
    cancel(tg, "reply", status)
    await told(tg, "reply", "Stopping your story")
    await first.stop()
    stored = await first_story(database)
    assert stored["stop_requested_at"] is not None  # what the next process goes by
    second = await start_bot(daily_quota=1)
    emulator.force_state(generation(emulator, 1).id, "completed")
    video = await the_video(tg)
    assert "Stopped at your request after 2 of 3 shots" in video.params["caption"]
    await story_job(second)
    assert len(creates(emulator)) == 2 and len(tg.videos()) == 1
    assert await money(second, database) == (1, 4, [(-2, "job"), (1, "story_refund")])


async def first_story(database: Any) -> dict[str, Any]:
    return next(row for row in (await database.tables())["generations"] if row["id"] == 1)
