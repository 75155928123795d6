"""Extending videos: by reply, by id, backwards, toward a picture, in chains, and by button."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from playground.fake_telegram import Call, FakeTelegram
from tests.conftest import assert_token_never_sent, ready_notice
from tests.quota import quota_used

USER = 1001
OTHER_USER = 2002
GROUP = -100123
PHOTO = b"\xff\xd8\xff\xe0" + b"target-frame" + bytes(600) + b"\xff\xd9"


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def make_video(
    tg: FakeTelegram, command: str, *, user_id: int = USER, **where: Any
) -> tuple[dict, str]:
    """Send a command and wait for its video; the video message and its generation id."""
    before = len(tg.videos())
    tg.user_sends(command, user_id=user_id, **where)
    await tg.wait_until(lambda: len(tg.videos()) > before, timeout=15)
    video = tg.videos()[before].result
    await ready_notice(tg, video)  # recorded as delivered: it can be extended
    generation_id = video["caption"].rsplit(" ", 1)[-1]
    return video, generation_id


async def refusal(tg: FakeTelegram, fragment: str) -> Call:
    return await tg.wait_for_call("sendMessage", lambda c: fragment in c.result["text"])


async def used(bot: Any, user_id: int = USER) -> int:
    return await quota_used(bot.runtime.repository, user_id)


async def test_reply_extend_continues_the_video_and_inherits_its_ratio(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    video, parent_id = await make_video(tg, "/video a jellyfish --ar 9:16")
    tg.user_sends("/extend the jellyfish dives deeper", reply_to_message_id=video["message_id"])
    sent = await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    assert sent
    extension = creates(emulator)[1].json
    assert extension == {
        "prompt": "the jellyfish dives deeper",
        "aspect_ratio": "9:16",
        "keyframes": {"frame0": {"type": "generation", "id": parent_id}},
    }
    assert_token_never_sent(emulator)


async def test_extend_by_id_without_a_reply_and_a_given_ratio_wins(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    _, parent_id = await make_video(tg, "/video a lighthouse")
    tg.user_sends(f"/extend {parent_id} a storm arrives --ar 1:1")
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    body = creates(emulator)[1].json
    assert body["keyframes"] == {"frame0": {"type": "generation", "id": parent_id}}
    assert body["aspect_ratio"] == "1:1" and body["prompt"] == "a storm arrives"


async def test_reverse_leads_into_the_original(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    video, parent_id = await make_video(tg, "/video a door opens")
    tg.user_sends("/extend someone walks up --reverse", reply_to_message_id=video["message_id"])
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    assert creates(emulator)[1].json["keyframes"] == {
        "frame1": {"type": "generation", "id": parent_id}
    }


async def test_a_photo_reply_continues_toward_the_picture(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    video, parent_id = await make_video(tg, "/video a city at dusk")
    tg.user_sends_photo(
        caption="/extend the lights come on",
        photo_bytes=PHOTO,
        reply_to_message_id=video["message_id"],
    )
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    frames = creates(emulator)[1].json["keyframes"]
    assert frames["frame0"] == {"type": "generation", "id": parent_id}
    assert frames["frame1"]["type"] == "image"
    (fetch,) = emulator.image_fetches
    assert fetch.url == frames["frame1"]["url"] and fetch.body == PHOTO
    assert_token_never_sent(emulator)


async def test_extensions_can_be_extended(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=5)
    first, first_id = await make_video(tg, "/video chapter one")
    tg.user_sends("/extend chapter two", reply_to_message_id=first["message_id"])
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    second = tg.videos()[1].result
    await ready_notice(tg, second)  # recorded as delivered: it can be extended
    second_id = second["caption"].rsplit(" ", 1)[-1]
    tg.user_sends("/extend chapter three", reply_to_message_id=second["message_id"])
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=15)
    ids = [r.json.get("keyframes", {}).get("frame0", {}).get("id") for r in creates(emulator)]
    assert ids == [None, first_id, second_id]


async def test_legacy_family_extends_on_its_own_route_and_refuses_reverse(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(luma_api_family="aiml-v1")
    video, parent_id = await make_video(tg, "/video a paper boat --ar 4:3")
    tg.user_sends("/extend it sails away", reply_to_message_id=video["message_id"])
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    extension = creates(emulator)[1]
    assert extension.path == f"/luma-ai/generations/{parent_id}/extend"
    assert extension.json == {"user_prompt": "it sails away", "aspect_ratio": "4:3"}

    tg.user_sends("/extend backwards --reverse", reply_to_message_id=video["message_id"])
    await refusal(tg, "can't do that")
    await asyncio.sleep(0.2)
    assert len(creates(emulator)) == 2
    assert await used(bot) == 2


async def test_refusals_cost_nothing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    video, _ = await make_video(tg, "/video a calm lake")
    tg.user_sends("/help")
    not_a_video = (await refusal(tg, "/video")).result["message_id"]  # ours, but no video
    tg.user_sends("/video a frozen one [stuck]")
    await tg.wait_until(lambda: len(emulator.generations) == 2)
    stuck_id = next(g.id for g in emulator.generations.values() if "[stuck]" in g.prompt)
    cases = [
        ("/extend more please", {}, "Reply to one of my videos"),
        ("/extend 0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9 more", {}, "don't know a video"),
        (f"/extend {stuck_id} more", {}, "isn't finished"),
        ("/extend more", {"reply_to_message_id": not_a_video}, "isn't one of my videos"),
        ("/extend looping --reverse --loop", {"reply_to_message_id": video["message_id"]},
         "--reverse"),
        ("/extend", {"reply_to_message_id": video["message_id"]}, "Reply to one of my videos"),
        ("/extend more --end", {"reply_to_message_id": video["message_id"]}, "--end"),
    ]  # fmt: skip
    for command, where, expected in cases:
        before = len(tg.calls_of("sendMessage"))
        tg.user_sends(command, **where)
        await tg.wait_until(lambda b=before: len(tg.calls_of("sendMessage")) > b)
        assert expected in tg.calls_of("sendMessage")[before].result["text"], command
    await asyncio.sleep(0.2)
    assert len(creates(emulator)) == 2  # the first video and the stuck one, nothing more
    assert await used(bot) == 2


async def test_a_video_of_another_bot_is_refused(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.add_chat(USER, "private", first_name="Ann")
    chat = {"id": USER, "type": "private", "first_name": "Ann"}
    foreign = {
        "message_id": 77,
        "date": int(time.time()),
        "chat": chat,
        "from": {"id": 999, "is_bot": True, "first_name": "Other", "username": "OtherBot"},
        "video": {"file_id": "V", "file_unique_id": "U", "width": 1, "height": 1, "duration": 1},
    }
    tg.inject_update(
        {
            "message": {
                "message_id": 78,
                "date": int(time.time()),
                "chat": chat,
                "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
                "text": "/extend more",
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
                "reply_to_message": foreign,
            }
        }
    )
    await refusal(tg, "isn't one of mine")
    assert creates(emulator) == []


async def test_buttons_again_and_extend_charge_whoever_presses(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=3)
    where = {"chat_id": GROUP, "chat_type": "group"}
    video, parent_id = await make_video(tg, "/video@LumaTestBot a red balloon", **where)
    buttons = tg.videos()[0].params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["➕ Extend", "🔁 Again"]
    assert all(len(b["callback_data"].encode()) <= 16 for b in buttons)

    # Another member presses "Again": the same request, on their quota.
    tg.press_button(video, buttons[1]["callback_data"], user_id=OTHER_USER)
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    assert creates(emulator)[1].json == creates(emulator)[0].json
    assert (await used(bot, USER), await used(bot, OTHER_USER)) == (1, 1)

    # They press "Extend", then answer the prompt.
    tg.press_button(video, buttons[0]["callback_data"], user_id=OTHER_USER)
    prompt = await tg.wait_for_call(
        "sendMessage", lambda c: "what should happen next" in c.result["text"]
    )
    assert prompt.params["reply_markup"]["force_reply"] is True
    assert f"tg://user?id={OTHER_USER}" in prompt.params["text"]
    tg.user_sends(
        "it floats over the sea",
        user_id=OTHER_USER,
        reply_to_message_id=prompt.result["message_id"],
        **where,
    )
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=15)
    assert creates(emulator)[2].json["keyframes"] == {
        "frame0": {"type": "generation", "id": parent_id}
    }
    assert creates(emulator)[2].json["prompt"] == "it floats over the sea"
    assert await used(bot, OTHER_USER) == 2
    answers = [c.params.get("text") for c in tg.calls_of("answerCallbackQuery")]
    assert len(answers) == 2 and all(answers)
    assert tg.calls_of("getChatMember") == []  # a group's members need nobody's leave


async def test_again_pressed_twice_at_once_makes_one_video_and_charges_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    """A double tap on "Again" sends two callback queries (two ids): the second is the same
    request, answered with the job already made. Another member's press is their own."""
    bot = await start_bot(daily_quota=5)
    where = {"chat_id": GROUP, "chat_type": "group"}
    video, _ = await make_video(tg, "/video@LumaTestBot a paper boat", **where)
    again = tg.videos()[0].params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    taps = [tg.press_button(video, again, user_id=OTHER_USER) for _ in range(2)]
    tg.press_button(video, again, user_id=USER)
    await tg.wait_until(lambda: len(tg.calls_of("answerCallbackQuery")) == 3, timeout=15)
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=15)
    await asyncio.sleep(0.5)  # a stray second job would show up now
    assert len(tg.videos()) == 3 and len(creates(emulator)) == 3
    assert (await used(bot, USER), await used(bot, OTHER_USER)) == (2, 1)
    answers = {
        c.params["callback_query_id"]: c.params["text"] for c in tg.calls_of("answerCallbackQuery")
    }
    assert sorted(answers[tap["id"]] for tap in taps) == [
        "Already on its way: its progress is in the chat.",
        "Making it again…",
    ]


async def test_extend_pressed_for_a_job_that_failed_is_refused(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # A failed job never gets an Extend button; crafted data naming it, under its failure notice
    # or under a /history list, meets a job that is finished but has no video to continue.
    bot = await start_bot()
    tg.user_sends("/video a jellyfish [fail]", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "refunded" in c.params["text"], timeout=15
    )
    for _ in range(200):
        job = await bot.runtime.repository.get_job(1)
        if job is not None and job.state.is_final:
            break
        await asyncio.sleep(0.02)
    assert job is not None and job.failure_code == "moderation"
    tg.user_sends("/history", user_id=USER)
    listing = await refusal(tg, "Your videos")
    assert "reply_markup" not in listing.params  # no buttons for a failed job

    for message, data in ((notice.result, "x:1"), (listing.result, "hx:1")):
        query = tg.press_button(message, data, user_id=USER, crafted=True)
        answer = await tg.wait_for_call(
            "answerCallbackQuery", lambda c, q=query: c.params["callback_query_id"] == q["id"]
        )
        assert answer.params["text"] == "This button no longer works.", data
        assert str(answer.params.get("show_alert")).lower() == "true"
    await asyncio.sleep(0.2)
    assert not [c for c in tg.calls_of("sendMessage") if "what should happen" in c.params["text"]]
    assert len(creates(emulator)) == 1 and await used(bot) == 0


@pytest.mark.parametrize("data", ["a:999", "x:1:2", "zzz", "a:1"])
async def test_tampered_button_data_is_refused(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], data: str
) -> None:
    await start_bot()
    video, _ = await make_video(tg, "/video a private video", user_id=USER)
    # The same job id pressed from another chat, or ids and shapes that do not exist.
    elsewhere = tg.user_sends("/help", user_id=OTHER_USER)
    await tg.wait_for_call("sendMessage", lambda c: str(c.params["chat_id"]) == str(OTHER_USER))
    target = video if data != "a:1" else elsewhere
    tg.inject_update(
        {
            "callback_query": {
                "id": f"q-{data}",
                "from": {"id": OTHER_USER, "is_bot": False, "first_name": "Bo"},
                "chat_instance": "c",
                "data": data,
                "message": target,
            }
        }
    )
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert answer.params["text"] == "This button no longer works."
    await asyncio.sleep(0.2)
    assert len(creates(emulator)) == 1


async def test_extending_by_id_is_only_for_ones_own_videos_or_this_chats(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    _, private_id = await make_video(tg, "/video my private lighthouse", user_id=USER)
    # Someone else who saw the id, in their own private chat: as if the id were unknown.
    tg.user_sends(f"/extend {private_id} a storm arrives", user_id=OTHER_USER)
    refused = await refusal(tg, "don't know a video")
    assert private_id in refused.result["text"]
    assert str(refused.params["chat_id"]) == str(OTHER_USER)
    await asyncio.sleep(0.2)
    assert len(creates(emulator)) == 1 and await used(bot, OTHER_USER) == 0
    # The same from a channel post is someone else too.
    tg.channel_posts(f"/extend {private_id} a storm arrives", chat_id=-100777)
    await tg.wait_for_call(
        "sendMessage",
        lambda c: (
            str(c.params["chat_id"]) == "-100777" and "don't know a video" in c.params["text"]
        ),
    )

    # A video made in a group may be extended by id by anyone in that group...
    where = {"chat_id": GROUP, "chat_type": "supergroup"}
    _, group_id = await make_video(tg, "/video our balloon", user_id=USER, **where)
    tg.user_sends(f"/extend {group_id} it pops", user_id=OTHER_USER, **where)
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=15)
    assert await used(bot, OTHER_USER) == 1
    # ...and by its owner anywhere, e.g. in their private chat.
    tg.user_sends(f"/extend {group_id} it flies home", user_id=USER)
    await tg.wait_until(lambda: len(tg.videos()) == 4, timeout=15)
    assert [r.json.get("keyframes", {}).get("frame0", {}).get("id") for r in creates(emulator)] == [
        None,
        None,
        group_id,
        group_id,
    ]
