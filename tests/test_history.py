"""/history: the requester's videos, five a page, with "Send again" and "Extend" buttons that only
the list's owner can use; private chats list every chat's videos, groups only their own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from bot.domain.model import JobState
from playground.fake_telegram import Call, FakeTelegram
from tests.quota import quota_used

USER = 1001
OTHER_USER = 2002
GROUP = -100321
IN_GROUP = {"chat_id": GROUP, "chat_type": "group", "command": "/video@LumaTestBot"}
GROUP_CHAT = {"chat_id": GROUP, "chat_type": "group"}


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def used(bot: Any, user_id: int = USER) -> int:
    return await quota_used(bot.runtime.repository, user_id)


async def make_videos(
    bot: Any, tg: FakeTelegram, *prompts: str, command: str = "/video", **where: Any
) -> None:
    """Ask for each video and wait until all have arrived and are recorded as delivered."""
    before = len(tg.videos())
    repository = bot.runtime.repository

    async def jobs() -> int:
        _, total = await repository.history(where["user_id"], chat_id=None, offset=0, limit=1)
        return total

    for prompt in prompts:
        # One request at a time, so job ids (the listing's order) follow the order asked: the
        # bot accepts concurrent requests in any order (on PostgreSQL they do interleave).
        asked = await jobs()
        tg.user_sends(f"{command} {prompt}", **where)
        for _ in range(500):
            if await jobs() > asked:
                break
            await asyncio.sleep(0.02)
    await tg.wait_until(lambda: len(tg.videos()) == before + len(prompts), timeout=20)
    for _ in range(200):
        entries, _ = await repository.history(where["user_id"], chat_id=None, offset=0, limit=99)
        if all(e.state is JobState.DELIVERED and e.video_file_id for e in entries):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not all delivered: {entries}")


def alert(call: Call) -> bool:
    return str(call.params.get("show_alert")).lower() == "true"


async def next_call(
    tg: FakeTelegram, method: str, predicate: Callable[[Call], bool] = lambda c: True
) -> Call:
    """The first `method` call made from now on that matches `predicate`."""
    start = len(tg.calls)
    return await tg.wait_until(
        lambda: next(
            (c for c in tg.calls[start:] if c.method == method and predicate(c)),
            None,
        )
    )


async def history(tg: FakeTelegram, command: str = "/history", **where: Any) -> Call:
    """Send /history and return the bot's answer (the message replying to it)."""
    asked = tg.user_sends(command, **where)
    return await next_call(tg, "sendMessage", lambda c: replies_to(c, asked))


def replies_to(call: Call, message: dict) -> bool:
    reply = call.params.get("reply_parameters") or {}
    return str(call.params["chat_id"]) == str(message["chat"]["id"]) and str(
        reply.get("message_id")
    ) == str(message["message_id"])


def keyboard(call: Call) -> list[list[dict]]:
    return call.params.get("reply_markup", {}).get("inline_keyboard", [])


def entry_prompts(body: str) -> list[str]:
    return re.findall(r"“([^”]*)”", body)


async def test_pages_of_five_turn_forward_and_back_in_the_same_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, *(f"clip {index}" for index in range(7)), user_id=USER)

    listing = await history(tg, user_id=USER)
    body = listing.result["text"]
    assert "page 1/2" in body and "7 in all" in body
    assert entry_prompts(body) == ["clip 6", "clip 5", "clip 4", "clip 3", "clip 2"]
    assert [f"#{n}" in body for n in range(1, 8)] == [True] * 5 + [False] * 2
    assert body.count("✅ delivered") == 5 and body.count("· text ·") == 5
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", body)
    rows = keyboard(listing)
    assert [b["text"] for b in rows[0]] == ["🔁 Send again #1", "➕ Extend #1"]
    assert [b["callback_data"] for b in rows[0]] == ["hr:7", "hx:7"]
    assert [(b["text"], b["callback_data"]) for b in rows[-1]] == [("▶", f"h:{USER}:2")]
    assert len(rows) == 6
    assert all(len(b["callback_data"].encode()) <= 64 for row in rows for b in row)

    message = listing.result
    tg.press_button(message, f"h:{USER}:2", user_id=USER)
    second = await next_call(tg, "editMessageText")
    assert second.ok and str(second.params["message_id"]) == str(message["message_id"])
    assert "page 2/2" in second.params["text"]
    assert entry_prompts(second.params["text"]) == ["clip 1", "clip 0"]
    assert "#6" in second.params["text"] and "#7" in second.params["text"]
    rows = keyboard(second)
    assert [b["text"] for b in rows[1]] == ["🔁 Send again #7", "➕ Extend #7"]
    assert [(b["text"], b["callback_data"]) for b in rows[-1]] == [("◀", f"h:{USER}:1")]

    tg.press_button(message, f"h:{USER}:1", user_id=USER)
    first = await next_call(tg, "editMessageText")
    assert first.ok and str(first.params["message_id"]) == str(message["message_id"])
    assert first.params["text"] == listing.params["text"]
    assert keyboard(first) == keyboard(listing)
    await tg.wait_until(lambda: len(tg.calls_of("answerCallbackQuery")) == 2)
    assert all(c.ok for c in tg.calls_of("answerCallbackQuery"))
    assert len([c for c in tg.calls_of("sendMessage") if "Your videos" in c.result["text"]]) == 1


async def test_send_again_resends_the_stored_file_without_quota_or_api(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    await make_videos(bot, tg, "a glass whale", user_id=USER)
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.video_file_id
    posts, quota = len(creates(emulator)), await used(bot)

    listing = await history(tg, user_id=USER)
    tg.press_button(listing.result, "hr:1", user_id=USER)
    resent = await next_call(tg, "sendVideo")
    assert resent.ok and resent.params["video"] == job.video_file_id
    assert str(resent.params["chat_id"]) == str(USER)
    assert "a glass whale" in resent.params["caption"]
    answer = await next_call(tg, "answerCallbackQuery")
    assert answer.params["text"] == "Sent again." and not alert(answer)
    await asyncio.sleep(0.2)
    assert len(creates(emulator)) == posts and await used(bot) == quota


async def test_extend_from_the_private_list_continues_a_video_made_in_a_group(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    await make_videos(bot, tg, "a lantern in the fog", user_id=USER, **IN_GROUP)
    await make_videos(bot, tg, "a private sunrise", user_id=USER)
    parent = await bot.runtime.repository.get_job(1)
    assert parent is not None and parent.remote_id

    listing = await history(tg, user_id=USER)  # private: videos from every chat
    assert entry_prompts(listing.result["text"]) == [
        "a private sunrise",
        "a lantern in the fog",
    ]
    tg.press_button(listing.result, "hx:1", user_id=USER)
    prompt = await next_call(
        tg, "sendMessage", lambda c: "what should happen next" in c.result["text"]
    )
    assert prompt.params["reply_markup"]["force_reply"] is True
    assert str(prompt.params["chat_id"]) == str(USER)
    answer = await next_call(tg, "answerCallbackQuery")
    assert "Reply to my message" in answer.params["text"]

    tg.user_sends(
        "the lantern drifts upward", user_id=USER, reply_to_message_id=prompt.result["message_id"]
    )
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=15)
    extension = creates(emulator)[2].json
    assert extension["prompt"] == "the lantern drifts upward"
    assert extension["keyframes"] == {"frame0": {"type": "generation", "id": parent.remote_id}}
    assert await used(bot) == 3


async def test_other_people_cannot_use_someones_list(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    await make_videos(bot, tg, "a shared pond", user_id=USER, **IN_GROUP)
    listing = await history(tg, "/history@LumaTestBot", user_id=USER, **GROUP_CHAT)
    assert [b["callback_data"] for b in keyboard(listing)[0]] == ["hr:1", "hx:1"]
    tg.user_sends("/help", user_id=OTHER_USER)  # their own private chat with the bot
    mine = await next_call(tg, "sendMessage", lambda c: str(c.params["chat_id"]) == str(OTHER_USER))

    presses = [
        (listing.result, "hr:1", "This list belongs to someone else."),  # real buttons
        (listing.result, "hx:1", "This list belongs to someone else."),
        (listing.result, f"h:{USER}:1", "This list belongs to someone else."),  # crafted
        (mine.result, "hr:1", "This list belongs to someone else."),  # from another chat
        (mine.result, f"h:{USER}:1", "This list belongs to someone else."),
        (listing.result, "h:nope", "This button no longer works."),
        (listing.result, "hr:999", "This button no longer works."),
    ]
    for message, data, expected in presses:
        tg.press_button(message, data, user_id=OTHER_USER, crafted=True)
        answer = await next_call(tg, "answerCallbackQuery")
        assert answer.ok and alert(answer), data
        assert answer.params["text"] == expected, data

    # A video of the owner's made in another chat is refused in the group (not this chat's).
    await make_videos(bot, tg, "a private secret", user_id=USER)
    tg.press_button(listing.result, "hr:2", user_id=USER, crafted=True)
    answer = await next_call(tg, "answerCallbackQuery")
    assert answer.params["text"] == "This button no longer works."

    await asyncio.sleep(0.2)
    assert tg.calls_of("sendVideo") == []  # nothing re-sent
    assert not any(
        "what should happen next" in c.params["text"] for c in tg.calls_of("sendMessage")
    )
    assert not any("Your videos" in c.params["text"] for c in tg.calls_of("editMessageText"))
    assert len(creates(emulator)) == 2


async def test_a_group_lists_only_its_own_videos(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    await make_videos(bot, tg, "a private dream", user_id=USER)
    await make_videos(bot, tg, "a group picnic", user_id=USER, **IN_GROUP)
    await make_videos(bot, tg, "someone else's kite", user_id=OTHER_USER, **IN_GROUP)

    listing = await history(tg, "/history@LumaTestBot", user_id=USER, **GROUP_CHAT)
    body = listing.result["text"]
    assert "in this chat" in body and "page 1/1" in body
    assert entry_prompts(body) == ["a group picnic"]
    assert "private dream" not in body and "kite" not in body
    assert [b["callback_data"] for row in keyboard(listing) for b in row] == ["hr:2", "hx:2"]

    fresh = await history(tg, "/history", user_id=3003, **GROUP_CHAT)
    assert "haven't made any videos in this chat" in fresh.result["text"]


async def test_russian_speakers_get_the_russian_list(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    await make_videos(bot, tg, "медуза в космосе", user_id=USER, language_code="ru")
    listing = await history(tg, user_id=USER, language_code="ru")
    body = listing.result["text"]
    assert "Ваши видео" in body and "страница 1/1" in body and "✅ готово" in body
    assert entry_prompts(body) == [] and "«медуза в космосе»" in body
    assert [b["text"] for b in keyboard(listing)[0]] == ["🔁 Прислать снова #1", "➕ Продолжить #1"]


async def test_nothing_yet_and_channels(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    empty = await history(tg, user_id=USER)
    assert "haven't made any videos yet" in empty.result["text"]
    assert "/video" in empty.result["text"] and "reply_markup" not in empty.params
    # No list, so no page buttons: crafted data for a page of one's own list finds nothing.
    tg.press_button(empty.result, f"h:{USER}:1", user_id=USER, crafted=True)
    answer = await next_call(tg, "answerCallbackQuery")
    assert answer.params.get("text") == "This button no longer works." and alert(answer)
    assert tg.calls_of("editMessageText") == []

    post = tg.channel_posts("/history")
    answer = await next_call(tg, "sendMessage", lambda c: replies_to(c, post))
    assert "per person" in answer.result["text"]


# --- jobs that failed, were cancelled or are still being made (issue 15, item 4) ---------------


async def job_when(bot: Any, job_id: int, predicate: Callable[[Any], bool]) -> Any:
    """Job `job_id` once `predicate(job)` holds (polling the database briefly)."""
    for _ in range(500):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and predicate(job):
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never got there: {job}")


def states_by_prompt(body: str) -> dict[str, str]:
    """Each entry's state (the last field of its first line), by its prompt."""
    entries = body.split("\n\n")[1:]
    return {entry_prompts(e)[0]: e.split("\n")[0].rsplit(" · ", 1)[1] for e in entries}


async def test_the_list_labels_failed_cancelled_and_unfinished_jobs(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=10, max_active_per_user=5)
    await make_videos(bot, tg, "a delivered whale", user_id=USER)
    emulator.inject_fault(route="create", status=400, message="Invalid request")
    tg.user_sends("/video a rejected whale", user_id=USER)
    await job_when(bot, 2, lambda j: j.state.is_final)
    tg.user_sends("/video a forbidden whale [fail]", user_id=USER)
    await job_when(bot, 3, lambda j: j.state.is_final)
    tg.user_sends("/video an endless whale [stuck]", user_id=USER)
    await job_when(bot, 4, lambda j: j.state is JobState.WAITING)
    emulator.inject_fault(route="create", status=429, retry_after=10)
    tg.user_sends("/video a cancelled whale", user_id=USER)
    await job_when(bot, 5, lambda j: j.attempts == 1 and j.state is JobState.QUEUED)
    tg.user_sends("/cancel", user_id=USER)  # the latest: the queued one
    await job_when(bot, 5, lambda j: j.state.is_final)

    listing = await history(tg, user_id=USER)
    assert states_by_prompt(listing.result["text"]) == {
        "a cancelled whale": "🛑 cancelled",
        "an endless whale [stuck]": "⏳ in progress",
        "a forbidden whale [fail]": "❌ failed: declined by moderation",
        "a rejected whale": "❌ failed",
        "a delivered whale": "✅ delivered",
    }
    # Only the delivered video has buttons.
    assert [b["callback_data"] for row in keyboard(listing) for b in row] == ["hr:1", "hx:1"]
    codes = [(await job_when(bot, i, lambda j: True)).failure_code for i in (2, 3, 5)]
    assert codes == ["rejected", "moderation", "cancelled"]


# --- "Send again" refused, and pressed twice (issue 15, item 4) --------------------------------

ADMIN = 9009


async def test_send_again_is_free_over_quota_and_refused_without_a_file(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=1)
    emulator.inject_fault(route="create", status=400, message="Invalid request")
    tg.user_sends("/video a rejected whale", user_id=USER)  # job 1: failed, refunded
    await job_when(bot, 1, lambda j: j.state.is_final and not j.notice_pending)
    tg.user_sends("/video a glass whale", user_id=USER)  # job 2: today's allowance
    await job_when(bot, 2, lambda j: j.state is JobState.DELIVERED and j.video_file_id)
    tg.user_sends("/video one too many", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "used all 1" in c.result["text"])
    job = await bot.runtime.repository.get_job(2)
    assert job is not None and job.video_file_id
    listing = await history(tg, user_id=USER)

    tg.press_button(listing.result, "hr:2", user_id=USER)  # over quota: still free
    resent = await next_call(tg, "sendVideo")
    assert resent.ok and resent.params["video"] == job.video_file_id
    assert (await next_call(tg, "answerCallbackQuery")).params["text"] == "Sent again."

    tg.press_button(listing.result, "hr:1", user_id=USER, crafted=True)  # failed: no video
    answer = await next_call(tg, "answerCallbackQuery")
    assert answer.params["text"] == "This button no longer works." and alert(answer)

    tg.fail_next("sendVideo", 400, "Bad Request: wrong file identifier/HTTP URL specified")
    tg.press_button(listing.result, "hr:2", user_id=USER)  # Telegram no longer has the file
    answer = await next_call(tg, "answerCallbackQuery")
    assert answer.params["text"] == "I couldn't send this video again." and alert(answer)

    # The video replaced its status message when made; sendVideo is only the one re-send.
    assert len([c for c in tg.calls_of("sendVideo") if c.ok]) == 1
    assert len(creates(emulator)) == 2 and await used(bot) == 1


async def test_a_banned_user_cannot_send_again(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    await make_videos(bot, tg, "a glass whale", user_id=USER)
    listing = await history(tg, user_id=USER)
    tg.user_sends(f"/ban {USER}", user_id=ADMIN)
    await tg.wait_for_call("sendMessage", lambda c: str(c.params["chat_id"]) == str(ADMIN))
    assert await bot.runtime.repository.is_banned(USER)

    tg.press_button(listing.result, "hr:1", user_id=USER)
    answer = await next_call(tg, "answerCallbackQuery")
    assert answer.params["text"] == "Sorry, you can't make videos with this bot." and alert(answer)
    assert tg.calls_of("sendVideo") == []  # (the video itself replaced its status message)


async def test_send_again_pressed_twice_sends_the_video_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    await make_videos(bot, tg, "a glass whale", user_id=USER)
    listing = await history(tg, user_id=USER)
    quota = await used(bot)

    # A double press: both presses reach the bot together (one batch of updates, handled
    # concurrently; webhook mode the same), and the first re-send is slow.
    tg.delay_next("sendVideo", 0.5)
    tg.press_button(listing.result, "hr:1", user_id=USER)
    tg.press_button(listing.result, "hr:1", user_id=USER)
    await tg.wait_until(lambda: len(tg.calls_of("answerCallbackQuery")) == 2)
    texts = sorted(c.params["text"] for c in tg.calls_of("answerCallbackQuery"))
    assert texts == ["Already on its way.", "Sent again."]
    assert len(tg.calls_of("sendVideo")) == 1  # one re-send
    assert len(creates(emulator)) == 1 and await used(bot) == quota
