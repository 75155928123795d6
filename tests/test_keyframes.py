"""Photos as keyframes, end to end: the emulator really fetches the bot's signed /media links
(as the real API does), so a passing test proves the link served the user's photo."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from telegram import Bot

from bot.domain.model import AlbumItem
from playground.fake_telegram import FakeTelegram
from tests.conftest import BOT_TOKEN, assert_token_never_sent
from tests.quota import quota_used

USER = 1001
FIRST_PHOTO = b"\xff\xd8\xff\xe0" + b"first-frame" + bytes(700) + b"\xff\xd9"
SECOND_PHOTO = b"\xff\xd8\xff\xe0" + b"second-frame" + bytes(900) + b"\xff\xd9"
PNG_IMAGE = b"\x89PNG\r\n\x1a\n" + b"png-frame" + bytes(300)


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


def fetched(emulator: Any) -> dict[str, bytes]:
    return {fetch.url: fetch.body for fetch in emulator.image_fetches if fetch.ok}


async def reply_text(tg: FakeTelegram, fragment: str) -> str:
    call = await tg.wait_for_call("sendMessage", lambda c: fragment in c.result["text"])
    return call.result["text"]


async def test_a_photo_becomes_the_first_frame(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends_photo(caption="/video the sea comes alive", photo_bytes=FIRST_PHOTO)
    sent = await tg.wait_for_video(timeout=15)
    assert "the sea comes alive" in sent.result["caption"]

    (create,) = creates(emulator)
    keyframes = create.json["keyframes"]
    assert set(keyframes) == {"frame0"} and keyframes["frame0"]["type"] == "image"
    url = keyframes["frame0"]["url"]
    assert url.startswith(f"{bot.runtime.settings.public_url}/media/")
    assert fetched(emulator) == {url: FIRST_PHOTO}  # the largest size: the original bytes
    assert_token_never_sent(emulator)


async def test_end_makes_the_photo_the_last_frame_on_the_legacy_family(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True, luma_api_family="aiml-v1")
    tg.user_sends_photo(caption="/video arriving home --end", photo_bytes=FIRST_PHOTO)
    await tg.wait_for_video(timeout=15)
    (create,) = creates(emulator)
    assert create.path == "/luma-ai/generations"
    assert "image_url" not in create.json
    assert fetched(emulator) == {create.json["image_end_url"]: FIRST_PHOTO}
    assert_token_never_sent(emulator)


async def test_an_image_file_works_like_a_photo(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.user_sends_document(
        PNG_IMAGE, file_name="frame.png", mime_type="image/png", caption="/video zoom out"
    )
    await tg.wait_for_video(timeout=15)
    (fetch,) = emulator.image_fetches
    assert fetch.ok and fetch.body == PNG_IMAGE
    assert fetch.content_type.startswith("image/png")
    assert fetch.url.endswith(".png")


async def test_other_files_get_a_clear_reply(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.user_sends_document(
        b"%PDF-1.4", file_name="plan.pdf", mime_type="application/pdf", caption="/video x y z"
    )
    assert "plan.pdf isn't one" in await reply_text(tg, "JPEG, PNG or WEBP")
    await asyncio.sleep(0.2)
    assert creates(emulator) == []


@pytest.mark.parametrize("family", ["aiml-v2", "aiml-v1"])
async def test_an_album_of_two_is_one_job_with_both_frames(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], family: str
) -> None:
    await start_bot(public=True, luma_api_family=family)
    tg.user_sends_photo(
        caption="/video morning turns to night", photo_bytes=FIRST_PHOTO, media_group_id="g1"
    )
    tg.user_sends_photo(photo_bytes=SECOND_PHOTO, media_group_id="g1")
    await tg.wait_for_video(timeout=15)
    await asyncio.sleep(0.3)
    (create,) = creates(emulator)
    if family == "aiml-v2":
        frames = create.json["keyframes"]
        first, last = frames["frame0"]["url"], frames["frame1"]["url"]
    else:
        first, last = create.json["image_url"], create.json["image_end_url"]
    assert fetched(emulator) == {first: FIRST_PHOTO, last: SECOND_PHOTO}
    assert len(tg.videos()) == 1
    assert_token_never_sent(emulator)


async def test_an_album_of_three_is_refused(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    for index, photo in enumerate((FIRST_PHOTO, SECOND_PHOTO, FIRST_PHOTO)):
        caption = "/video too many pictures" if index == 0 else None
        tg.user_sends_photo(caption=caption, photo_bytes=photo, media_group_id="g3")
    assert "You sent 3" in await reply_text(tg, "at most two photos")
    await asyncio.sleep(0.2)
    assert creates(emulator) == []


async def test_an_album_without_our_command_is_ignored(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.user_sends_photo(caption="holiday", media_group_id="g4")
    tg.user_sends_photo(media_group_id="g4")
    await asyncio.sleep(0.8)
    assert tg.calls_of("sendMessage") == [] and creates(emulator) == []


async def test_loop_with_an_end_frame_is_refused_before_any_call(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends_photo(caption="/video the end --end --loop", photo_bytes=FIRST_PHOTO)
    assert "refuses it" in await reply_text(tg, "--loop can't be combined with an end frame")
    await asyncio.sleep(0.2)
    assert creates(emulator) == []
    assert await quota_used(bot.runtime.repository, USER) == 0


async def test_without_public_url_photos_are_explained_and_text_still_works(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends_photo(caption="/video a photo job", photo_bytes=FIRST_PHOTO)
    assert "PUBLIC_URL" in await reply_text(tg, "PUBLIC_URL")
    tg.user_sends("/video a text job", user_id=USER)
    await tg.wait_for_video(timeout=15)
    assert [r.json["prompt"] for r in creates(emulator)] == ["a text job"]


async def test_an_unreachable_link_fails_like_the_real_api_and_refunds(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # PUBLIC_URL points where nothing listens: the API cannot fetch the photo.
    bot = await start_bot(public=True, public_url="http://127.0.0.1:9")
    tg.user_sends_photo(caption="/video nobody can see this", photo_bytes=FIRST_PHOTO)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "refunded" in c.params["text"], timeout=15
    )
    assert "failed to moderate image" in notice.params["text"]
    assert await quota_used(bot.runtime.repository, USER) == 0


async def test_media_links_are_signed_expire_and_serve_the_right_type(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    from bot.links import MediaRef

    bot = await start_bot(public=True)
    signer = bot.runtime.signer
    assert signer is not None
    file_id = tg.add_file(PNG_IMAGE, "documents/file_9.png")
    good = signer.link(MediaRef(file_id, "image/png"))
    expired = signer.link(MediaRef(file_id, "image/png"), now=time.time() - 2 * signer.ttl)
    payload, signature, _extension = good.rsplit("/", 1)[1].split(".")
    forged = good.replace(signature, signature[::-1])
    base = bot.runtime.settings.public_url
    async with aiohttp.ClientSession() as http:
        async with http.get(good) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert await response.read() == PNG_IMAGE
        for url in (expired, forged, f"{base}/media/garbage", f"{base}/media/{payload}.x.png"):
            async with http.get(url) as response:
                assert response.status == 404, url
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200


async def test_in_a_privacy_mode_group_an_album_arrives_as_its_captioned_photo(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Telegram delivers only the captioned item of an album to a bot in privacy mode.
    await start_bot(public=True)
    tg.user_sends_photo(
        caption="/video@LumaTestBot only this one",
        photo_bytes=FIRST_PHOTO,
        media_group_id="g5",
        chat_id=-100555,
        chat_type="supergroup",
    )
    await tg.wait_for_video(timeout=15)
    (create,) = creates(emulator)
    assert set(create.json["keyframes"]) == {"frame0"}
    assert list(fetched(emulator).values()) == [FIRST_PHOTO]


# --- albums that cannot be used (issue 15, item 5) ----------------------------------------------


async def test_an_album_with_a_file_that_is_not_an_image_is_refused_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    # Files sent "without compression" make a document album; one of them is a PDF.
    captioned = tg.user_sends_document(
        FIRST_PHOTO, caption="/video from my notes", media_group_id="g5"
    )
    tg.user_sends_document(
        b"%PDF-1.4 notes", file_name="notes.pdf", mime_type="application/pdf", media_group_id="g5"
    )
    reply = await tg.wait_for_call("sendMessage", lambda c: "notes.pdf" in c.result["text"])
    assert "only use JPEG, PNG or WEBP images" in reply.result["text"]
    assert str(reply.params["reply_parameters"]["message_id"]) == str(captioned["message_id"])
    await asyncio.sleep(0.2)
    assert creates(emulator) == [] and await bot.runtime.repository.get_job(1) is None
    assert await quota_used(bot.runtime.repository, USER) == 0
    assert len(tg.calls_of("sendMessage")) == 1


async def test_extend_captioned_on_an_album_says_how_to_extend_toward_a_photo(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends("/video a lighthouse at dusk", user_id=USER)
    await tg.wait_for_video(timeout=15)
    job = None
    for _ in range(100):  # the video's message id is stored just after it is sent
        job = await bot.runtime.repository.get_job(1)
        if job is not None and job.video_message_id:
            break
        await asyncio.sleep(0.02)
    assert job is not None and job.video_message_id
    captioned = tg.user_sends_photo(
        caption="/extend the light turns on",
        photo_bytes=FIRST_PHOTO,
        media_group_id="g7",
        reply_to_message_id=job.video_message_id,
    )
    tg.user_sends_photo(photo_bytes=SECOND_PHOTO, media_group_id="g7")
    reply = await tg.wait_for_call("sendMessage", lambda c: "one photo at most" in c.result["text"])
    assert "Reply to my video with a single photo" in reply.result["text"]
    assert str(reply.params["reply_parameters"]["message_id"]) == str(captioned["message_id"])
    await asyncio.sleep(0.2)
    assert len(creates(emulator)) == 1 and await bot.runtime.repository.get_job(2) is None
    assert await quota_used(bot.runtime.repository, USER) == 1


# --- an album half stored by the version before an upgrade (issue 15) -------------------------


async def taken_by_the_old_version(tg: FakeTelegram) -> None:
    """The version before the upgrade fetched the pending updates (and confirmed them) before it
    stopped: the new one never sees them."""
    async with Bot(BOT_TOKEN, base_url=f"{tg.root}/bot") as old:
        updates = await old.get_updates(timeout=0)
        await old.get_updates(offset=updates[-1].update_id + 1, timeout=0)


def stored_the_old_way(message: dict, *, user_id: int | None) -> AlbumItem:
    """The album item a version before payers existed stored for `message` (a captioned photo):
    its requester, then, was the user (None: hidden behind a chat) without a payer."""
    person = message["from"] if user_id is not None else {}
    photo = message["photo"][-1]
    return AlbumItem(
        chat_id=message["chat"]["id"],
        media_group_id=message["media_group_id"],
        message_id=message["message_id"],
        payload={
            "who": {
                "user_id": user_id,
                "chat_id": message["chat"]["id"],
                "thread_id": None,
                "message_id": message["message_id"],
                "username": person.get("username"),
                "first_name": person.get("first_name"),
                "language_code": person.get("language_code"),
            },
            "command": "video",
            "args": message["caption"].split(" ", 1)[1],
            "image": {
                "type": "telegram_file",
                "file_id": photo["file_id"],
                "mime_type": "image/jpeg",
            },
            "not_an_image": None,
        },
    )


async def test_an_album_begun_before_an_upgrade_is_charged_to_the_user_who_captioned_it(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The old version received the captioned photo and stored it; the upgrade came before the
    # second photo, which the new version receives and completes the album with.
    captioned = tg.user_sends_photo(
        caption="/video dawn breaks over the bay",
        user_id=USER,
        photo_bytes=FIRST_PHOTO,
        media_group_id="g8",
    )
    await taken_by_the_old_version(tg)
    bot = await start_bot(public=True)
    repository = bot.runtime.repository
    await repository.add_album_item(stored_the_old_way(captioned, user_id=USER), time.time())
    tg.user_sends_photo(user_id=USER, photo_bytes=SECOND_PHOTO, media_group_id="g8")

    video = (await tg.wait_for_video(timeout=15)).result
    assert "dawn breaks over the bay" in video["caption"]
    assert video["reply_to_message"]["message_id"] == captioned["message_id"]
    job = await bot.delivered(video)
    assert job.user_id == USER and job.payer_id == USER and job.paid_with == "daily"
    assert await quota_used(repository, USER) == 1
    (create,) = creates(emulator)
    frames = create.json["keyframes"]
    assert fetched(emulator) == {
        frames["frame0"]["url"]: FIRST_PHOTO,
        frames["frame1"]["url"]: SECOND_PHOTO,
    }


async def test_an_album_begun_before_an_upgrade_by_nobody_in_particular_is_dropped_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: Any
) -> None:
    # A channel's album: no user asked, and the old version did not record who pays (the
    # channel, now): rather than guess, the album is dropped with a warning for the operator.
    channel = -100777
    captioned = tg.channel_posts(
        "/video the tide goes out", chat_id=channel, photo_bytes=FIRST_PHOTO, media_group_id="g9"
    )
    await taken_by_the_old_version(tg)
    with caplog.at_level(logging.WARNING):
        bot = await start_bot(public=True)
        repository = bot.runtime.repository
        await repository.add_album_item(stored_the_old_way(captioned, user_id=None), time.time())
        tg.channel_posts("", chat_id=channel, photo_bytes=SECOND_PHOTO, media_group_id="g9")
        dropped = f"album of chat {channel} dropped: stored without its payer"
        await tg.wait_until(lambda: dropped in caplog.text, timeout=15)

    assert await repository.latest_album_item_at(channel, "g9") is None  # taken, not left over
    assert await repository.get_job(1) is None and creates(emulator) == []
    assert await quota_used(repository, channel) == 0
    assert tg.calls_of("sendMessage") == [] and tg.videos() == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
