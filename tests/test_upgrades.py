"""⬆ Upscale and 🔊 Add sound under a delivered video: end to end on Luma's own API (the family
that has them), refused at no cost on the others; plus the button codec, the specs and prices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.model import Job, JobState
from bot.domain.pricing import Prices
from bot.domain.specs import ParentVideo, SoundSpec, UpscaleSpec, spec_of
from bot.domain.upgrades import Upgrades
from bot.telegram.buttons import Action, decode, upscale_buttons, video_buttons
from playground.fake_telegram import Call, FakeTelegram
from tests.conftest import ready_notice
from tests.quota import quota_usage

USER = 1001
OTHER_USER = 2002
GROUP = -100321
LUMA_PATH = "/dream-machine/v1"


async def start_on_luma(start_bot: Callable[..., Any], emulator: Any, **overrides: Any) -> Any:
    return await start_bot(
        public=True,  # callbacks, as in production
        luma_api_family="luma",
        luma_api_url=emulator.url + LUMA_PATH,
        **overrides,
    )


def posts(emulator: Any, suffix: str) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and r.path.endswith(suffix)]


async def make_video(tg: FakeTelegram, bot: Any, command: str, **where: Any) -> tuple[dict, Job]:
    """A delivered video (the message) and its job."""
    before = len(tg.videos())
    tg.user_sends(command, user_id=USER, **where)
    await tg.wait_until(lambda: len(tg.videos()) > before, timeout=15)
    video = tg.videos()[before].result
    await ready_notice(tg, video)
    return video, await bot.delivered(video)


def keyboard(message: dict) -> list[list[dict]]:
    return message["reply_markup"]["inline_keyboard"]


def labels(message: dict) -> list[list[str]]:
    return [[button["text"] for button in row] for row in keyboard(message)]


async def answer_to(tg: FakeTelegram, query: dict) -> Call:
    return await tg.wait_for_call(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"]
    )


async def credits_used(bot: Any, user_id: int = USER) -> int:
    usage = await quota_usage(bot.runtime.repository, user_id, user_id)
    return usage.payer_daily


async def settled(bot: Any, job_id: int) -> Job:
    for _ in range(500):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and job.state.is_final and not job.notice_pending:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never settled")


# --- end to end on the luma family -------------------------------------------------------------


async def test_upscale_to_4k_is_a_paid_job_delivered_once_with_its_caption(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=5, cost_upscale=2)
    video, source = await make_video(tg, bot, "/video a lighthouse in a storm")
    assert labels(video) == [["➕ Extend", "🔁 Again"], ["⬆ Upscale", "🔊 Add sound"]]
    assert all(len(b["callback_data"].encode()) <= 64 for row in keyboard(video) for b in row)

    # Upscale turns the row into the sizes; Back brings the video's buttons again.
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    sizes = await tg.wait_for_call("editMessageReplyMarkup")
    chooser = sizes.result
    assert labels(chooser) == [["⬆ 1080p", "⬆ 4K", "↩ Back"]]
    tg.press_button(chooser, f"ub:{source.id}", user_id=USER)
    await tg.wait_until(lambda: len(tg.calls_of("editMessageReplyMarkup")) == 2)
    back = tg.calls_of("editMessageReplyMarkup")[1].result
    assert labels(back) == labels(video)
    tg.press_button(back, f"u:{source.id}", user_id=USER)
    await tg.wait_until(lambda: len(tg.calls_of("editMessageReplyMarkup")) == 3)
    query = tg.press_button(
        tg.calls_of("editMessageReplyMarkup")[2].result, f"u4:{source.id}", user_id=USER
    )
    assert (await answer_to(tg, query)).params["text"] == "Upscaling…"

    upscaled = await tg.wait_for_video(lambda c: "upscaled" in c.params["caption"], timeout=15)
    (request,) = posts(emulator, "/upscale")
    assert request.path == f"{LUMA_PATH}/generations/{source.remote_id}/upscale"
    assert request.json["generation_type"] == "upscale_video"
    assert request.json["resolution"] == "4k"
    assert request.json["callback_url"].startswith("http://127.0.0.1:")
    assert len(posts(emulator, "/video")) == 1  # no other generation was made
    # Its status message replied to the video, and the video took its place.
    status = [c for c in tg.calls_of("sendMessage") if "lighthouse" in c.params["text"]][-1]
    assert status.params["reply_parameters"]["message_id"] == video["message_id"]
    assert upscaled.result["message_id"] == status.result["message_id"]
    caption = upscaled.params["caption"]
    assert "🎬 a lighthouse in a storm" in caption and "⬆ upscaled to 4K" in caption
    job = await bot.delivered(upscaled.result)
    assert f"<code>{job.remote_id}</code>" in caption and job.remote_id != source.remote_id
    # A 4K video cannot go higher: no Upscale under it, Add sound still.
    assert labels(upscaled.result) == [["➕ Extend", "🔁 Again"], ["🔊 Add sound"]]
    assert (job.kind, job.parent_job_id, job.prompt, job.cost) == (
        "upscale",
        source.id,
        source.prompt,
        2,
    )
    assert job.params == {
        "source": {"type": "generation", "id": source.remote_id, "job_id": source.id},
        "resolution": "4k",
        "aspect_ratio": "16:9",  # the source's, for an extension of the result
    }
    assert await credits_used(bot) == 1 + 2
    await ready_notice(tg, upscaled.result)
    await asyncio.sleep(0.3)
    assert len([v for v in tg.videos() if "upscaled" in v.params["caption"]]) == 1


async def test_a_4k_upscale_over_the_upload_limit_is_sent_as_its_link(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_sizes = {"4k": 300_000}
    bot = await start_on_luma(start_bot, emulator, telegram_upload_limit=200_000)
    video, source = await make_video(tg, bot, "/video a small clip")
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    tg.press_button(chooser, f"u4:{source.id}", user_id=USER)
    # With its thumbnail: the link in the photo's caption.
    link = await tg.wait_for_call(
        "editMessageMedia", lambda c: "too large" in c.params["media"]["caption"], timeout=15
    )
    assert "/files/" in link.params["media"]["caption"]
    job = await settled(bot, 2)
    assert job.kind == "upscale" and job.state is JobState.DELIVERED


async def test_add_sound_with_a_reply_prompt_and_with_a_dash(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=6, cost_audio=2)
    video, source = await make_video(tg, bot, "/video waves on a beach --res 1080p")
    # A 1080p video is offered 4K only.
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    assert labels(chooser) == [["⬆ 4K", "↩ Back"]]
    tg.press_button(chooser, f"ub:{source.id}", user_id=USER)
    await tg.wait_until(lambda: len(tg.calls_of("editMessageReplyMarkup")) == 2)

    for reply, sound in (("waves and distant thunder", "waves and distant thunder"), ("-", None)):
        asked = len(tg.calls_of("sendMessage"))
        query = tg.press_button(video, f"s:{source.id}", user_id=USER, crafted=True)
        assert "Reply to my message" in (await answer_to(tg, query)).params["text"]
        await tg.wait_until(lambda n=asked: len(tg.calls_of("sendMessage")) > n)
        prompt = next(
            c
            for c in tg.calls_of("sendMessage")[asked:]
            if "what should it sound like" in c.params["text"]
        )
        assert prompt.params["reply_markup"]["force_reply"] is True
        before = len(tg.videos())
        tg.user_sends(reply, user_id=USER, reply_to_message_id=prompt.result["message_id"])
        await tg.wait_until(lambda n=before: len(tg.videos()) > n, timeout=15)
        caption = tg.videos()[before].params["caption"]
        body = posts(emulator, "/audio")[-1].json
        if sound is None:
            assert "prompt" not in body and "🔊 with sound" in caption
        else:
            assert body["prompt"] == sound and f"🔊 sound: {sound}" in caption
        assert body["generation_type"] == "add_audio"
        assert posts(emulator, "/audio")[-1].path.endswith(f"/{source.remote_id}/audio")
        job = await bot.delivered(tg.videos()[before].result)
        assert (job.kind, job.cost, job.parent_job_id) == ("audio", 2, source.id)
        assert job.params.get("prompt") == sound
        assert job.params["resolution"] == "1080p"  # the source's: Upscale offers 4K only
        assert labels(tg.videos()[before].result)[1] == ["⬆ Upscale", "🔊 Add sound"]
        await ready_notice(tg, tg.videos()[before].result)
    assert await credits_used(bot) == 2 + 2 + 2  # the 1080p video costs 2 by default


async def test_an_upscaled_video_extends_in_its_own_shape(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=10)
    video, source = await make_video(tg, bot, "/video a tall lighthouse --ar 9:16")
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    tg.press_button(chooser, f"u1:{source.id}", user_id=USER)
    upscaled = (
        await tg.wait_for_video(lambda c: "upscaled" in c.params["caption"], timeout=15)
    ).result
    await ready_notice(tg, upscaled)
    before = len(tg.videos())
    tg.user_sends(
        "/extend the light turns on", user_id=USER, reply_to_message_id=upscaled["message_id"]
    )
    await tg.wait_until(lambda: len(tg.videos()) > before, timeout=15)
    extend = posts(emulator, "/generations/video")[-1].json
    assert extend["aspect_ratio"] == "9:16"
    assert extend["keyframes"]["frame0"]["id"] == (await bot.delivered(upscaled)).remote_id


async def test_in_a_channel_add_sound_starts_at_once_for_its_admins_only(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Nobody can answer a reply prompt in a channel: Add sound lets the video service choose.
    channel, admin, subscriber = -100777, 2002, 3003
    bot = await start_on_luma(start_bot, emulator)
    tg.set_chat_member(channel, admin, "administrator")
    tg.set_chat_member(channel, subscriber, "member")
    tg.channel_posts("/video a jellyfish for subscribers", chat_id=channel)
    video = (await tg.wait_for_video(timeout=15)).result
    source = await bot.delivered(video)
    query = tg.press_button(video, f"s:{source.id}", user_id=subscriber)
    refused = await answer_to(tg, query)
    assert refused.params["text"] == "Only the channel's admins can use these buttons."
    assert posts(emulator, "/audio") == []
    query = tg.press_button(video, f"s:{source.id}", user_id=admin)
    assert (await answer_to(tg, query)).params["text"] == "Adding sound…"
    sound = await tg.wait_for_video(lambda c: "🔊" in c.params["caption"], timeout=15)
    assert sound.result["chat"]["id"] == channel
    (request,) = posts(emulator, "/audio")
    assert "prompt" not in request.json
    job = await bot.delivered(sound.result)
    assert (job.kind, job.payer_id) == ("audio", admin)


async def test_a_failed_upscale_is_refunded(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=5)
    video, source = await make_video(tg, bot, "/video a red balloon")
    emulator.inject_fault("upscale", 400, message="Upscale refused")
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    tg.press_button(chooser, f"u1:{source.id}", user_id=USER)
    job = await settled(bot, 2)
    assert (job.state, job.failure_code, job.refunded) == (JobState.FAILED, "rejected", True)
    assert await credits_used(bot) == 1
    await tg.wait_for_call("editMessageText", lambda c: "Upscale refused" in c.params["text"])

    # The generation itself fails: refunded too.
    emulator.config.dream_seconds = 2.0
    tg.press_button(video, f"s:{source.id}", user_id=USER, crafted=True)
    prompt = await tg.wait_for_call(
        "sendMessage", lambda c: "what should it sound like" in c.params["text"]
    )
    tg.user_sends("a scream", user_id=USER, reply_to_message_id=prompt.result["message_id"])
    await tg.wait_until(lambda: len(posts(emulator, "/audio")) == 1)
    (sound,) = [g for g in emulator.generations.values() if g.parent_id == source.remote_id]
    emulator.force_state(sound.id, "failed", "Job failed")
    job = await settled(bot, 3)
    assert (job.kind, job.failure_code, job.refunded) == ("audio", "generation_failed", True)
    assert await credits_used(bot) == 1


async def test_cancel_while_queued_refunds_an_upscale(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=5)
    video, source = await make_video(tg, bot, "/video a paper boat")
    # The API is busy: the upscale waits in the bot's queue, its Cancel button showing.
    emulator.inject_fault("upscale", 429, retry_after=10)
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    tg.press_button(chooser, f"u4:{source.id}", user_id=USER)
    await tg.wait_until(lambda: len(posts(emulator, "/upscale")) == 1)
    status = [c for c in tg.calls_of("sendMessage") if "paper boat" in c.params["text"]][-1]
    (cancel,) = keyboard(status.result)[0]
    assert cancel["text"] == "✖ Cancel" and await credits_used(bot) == 2
    tg.press_button(status.result, cancel["callback_data"], user_id=USER)
    await tg.wait_for_call("editMessageText", lambda c: "Cancelled" in c.params["text"])
    job = await bot.runtime.repository.get_job(2)
    assert job is not None and (job.kind, job.failure_code) == ("upscale", "cancelled")
    assert await credits_used(bot) == 1
    await asyncio.sleep(0.3)
    assert len(posts(emulator, "/upscale")) == 1  # only the refused attempt


async def test_a_payer_without_credits_is_refused_at_no_cost(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=1)
    video, source = await make_video(tg, bot, "/video the last free one")
    tg.press_button(video, f"u:{source.id}", user_id=USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    query = tg.press_button(chooser, f"u1:{source.id}", user_id=USER)
    answer = await answer_to(tg, query)
    assert "1" in answer.params["text"] and str(answer.params["show_alert"]).lower() == "true"
    query = tg.press_button(video, f"s:{source.id}", user_id=USER, crafted=True)
    prompt = await tg.wait_for_call(
        "sendMessage", lambda c: "what should it sound like" in c.params["text"]
    )
    tg.user_sends("birdsong", user_id=USER, reply_to_message_id=prompt.result["message_id"])
    await tg.wait_for_call("sendMessage", lambda c: "used" in c.params["text"].lower())
    await asyncio.sleep(0.3)
    assert posts(emulator, "/upscale") == posts(emulator, "/audio") == []
    assert await bot.runtime.repository.get_job(2) is None
    assert await credits_used(bot) == 1


async def test_in_a_group_whoever_presses_pays(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_on_luma(start_bot, emulator, daily_quota=3)
    where = {"chat_id": GROUP, "chat_type": "group"}
    video, source = await make_video(tg, bot, "/video@LumaTestBot a kite", **where)
    tg.press_button(video, f"u:{source.id}", user_id=OTHER_USER)
    chooser = (await tg.wait_for_call("editMessageReplyMarkup")).result
    tg.press_button(chooser, f"u1:{source.id}", user_id=OTHER_USER)
    await tg.wait_for_video(lambda c: "upscaled to 1080p" in c.params["caption"], timeout=15)
    usage = await quota_usage(bot.runtime.repository, OTHER_USER, GROUP)
    assert usage.payer_daily == 1


# --- families without the capability --------------------------------------------------------


@pytest.mark.parametrize("data", ["u", "u1", "u4", "s"])
async def test_families_without_them_show_no_buttons_and_refuse_crafted_data(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], data: str
) -> None:
    bot = await start_bot(daily_quota=5)  # aiml-v2
    video, source = await make_video(tg, bot, "/video a quiet pond")
    assert labels(video) == [["➕ Extend", "🔁 Again"]]
    query = tg.press_button(video, f"{data}:{source.id}", user_id=USER, crafted=True)
    answer = await answer_to(tg, query)
    what = "Adding sound" if data == "s" else "Upscaling"
    assert answer.params["text"].startswith(f"{what} isn't available with this bot's video")
    assert "Nothing was charged" in answer.params["text"]
    await asyncio.sleep(0.3)
    assert len([r for r in emulator.requests if r.method == "POST"]) == 1
    assert await bot.runtime.repository.get_job(2) is None
    assert await credits_used(bot) == 1
    assert tg.calls_of("editMessageReplyMarkup") == []


# --- units ---------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("data", "action", "job_id"),
    [
        ("u:7", Action.UPSCALE, 7),
        ("u1:7", Action.UPSCALE_1080P, 7),
        ("u4:123456789012345678", Action.UPSCALE_4K, 123456789012345678),
        ("ub:7", Action.BACK, 7),
        ("s:7", Action.SOUND, 7),
    ],
)
def test_upgrade_button_data_decodes(data: str, action: Action, job_id: int) -> None:
    press = decode(data)
    assert press is not None and (press.action, press.job_id) == (action, job_id)


@pytest.mark.unit
@pytest.mark.parametrize("data", ["u2:7", "u:", "u4:7:1", "us:7", "s:-1", "U:7", "u4:x"])
def test_malformed_upgrade_data_is_refused(data: str) -> None:
    assert decode(data) is None


@pytest.mark.unit
def test_video_buttons_rows() -> None:
    def rows(markup: Any) -> list[list[tuple[str, str | None]]]:
        return [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]

    assert rows(video_buttons(5, None)) == [[("➕ Extend", "x:5"), ("🔁 Again", "a:5")]]
    assert rows(video_buttons(5, "ru", upscale=True, sound=True))[1] == [
        ("⬆ Улучшить качество", "u:5"),
        ("🔊 Добавить звук", "s:5"),
    ]
    assert rows(video_buttons(5, None, sound=True))[1] == [("🔊 Add sound", "s:5")]
    assert rows(upscale_buttons(5, ("1080p", "4k"), None)) == [
        [("⬆ 1080p", "u1:5"), ("⬆ 4K", "u4:5"), ("↩ Back", "ub:5")]
    ]


def _job(kind: str, params: dict[str, Any], prompt: str = "a cat") -> Job:
    now = time.time()
    return Job.model_validate(
        {
            "id": 9,
            "family": "luma",
            "kind": kind,
            "user_id": USER,
            "chat_id": USER,
            "thread_id": None,
            "request_message_id": 1,
            "request_key": "k",
            "parent_job_id": 3,
            "status_message_id": None,
            "prompt": prompt,
            "params": params,
            "state": "delivered",
            "remote_id": "g-9",
            "remote_state": "completed",
            "failure_code": None,
            "failure_reason": None,
            "notice_pending": False,
            "video_url": None,
            "thumbnail_url": None,
            "video_message_id": None,
            "video_file_id": None,
            "charged_day": None,
            "payer_id": USER,
            "paid_with": "daily",
            "cost": 1,
            "paid_daily": 1,
            "paid_credits": 0,
            "refunded": False,
            "billable": True,
            "attempts": 0,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_until": None,
            "deadline_at": now + 60,
            "created_at": now,
            "updated_at": now,
            "submitted_at": None,
            "completed_at": None,
            "finished_at": None,
        }
    )


SOURCE = ParentVideo(id="g-3", job_id=3)


@pytest.mark.unit
def test_specs_round_trip_through_the_job_row_and_build_their_requests() -> None:
    upscale = UpscaleSpec(prompt="a cat", source=SOURCE, resolution="4k")
    assert spec_of(_job("upscale", upscale.params())) == upscale
    request = upscale.video_request(callback_url="https://b/cb")
    assert (request.generation_id, request.resolution, request.callback_url) == (
        "g-3",
        "4k",
        "https://b/cb",
    )
    sound = SoundSpec(prompt="a cat", source=SOURCE, sound="purring", resolution="720p")
    assert sound.params() == {
        "source": {"type": "generation", "id": "g-3", "job_id": 3},
        "prompt": "purring",
        "resolution": "720p",
    }
    assert spec_of(_job("audio", sound.params())) == sound
    assert sound.video_request().prompt == "purring" and sound.parent_job_id == 3
    silent = SoundSpec(prompt="a cat", source=SOURCE)
    assert silent.params() == {"source": SOURCE.model_dump(mode="json")}
    assert silent.video_request().prompt is None
    assert spec_of(_job("text", {"aspect_ratio": "9:16"})).kind == "text"


@pytest.mark.unit
def test_prices_are_flat_for_upscale_and_sound() -> None:
    prices = Prices(resolution={"4k": 4}, upscale=3, audio=2)
    assert prices.cost(UpscaleSpec(prompt="p", source=SOURCE, resolution="4k")) == 3
    assert prices.cost(SoundSpec(prompt="p", source=SOURCE)) == 2


@pytest.mark.unit
@pytest.mark.parametrize(
    ("params", "sizes"),
    [
        ({}, ("1080p", "4k")),
        ({"resolution": "540p"}, ("1080p", "4k")),
        ({"resolution": "1080p"}, ("4k",)),
        ({"resolution": "4k"}, ()),
    ],
)
def test_upscale_offers_only_sizes_above_the_videos_own(
    params: dict[str, Any], sizes: tuple[str, ...]
) -> None:
    assert Upgrades(upscale=True).upscale_sizes(_job("text", params)) == sizes
    assert Upgrades(sound=True).upscale_sizes(_job("text", params)) == ()
