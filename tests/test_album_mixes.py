"""What every mix of photos, videos and files does with `/video`, end to end: the user sends it
through the fake Bot API as Telegram delivers it (an album is one message per item, sharing a
`media_group_id`), the real bot answers, and the emulator shows what reached the video API.

The rules and their reasons are in bot/domain/albums.py (`keyframes_for`, `album_request`):
photos are used and videos beside them left out with a note; a request with nothing usable, or
one the bot would have to guess at, is refused without charging anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from telegram import Message

from bot.domain.albums import (
    AlbumPart,
    AlbumRequest,
    Attachment,
    Keyframes,
    Kind,
    album_request,
    keyframes_for,
)
from bot.domain.model import Refusal
from bot.domain.specs import TelegramImage
from handlers.replies import attachment_of
from playground.fake_telegram import Call, FakeTelegram
from tests.conftest import RunningBot
from tests.quota import quota_used

USER = 1001
FIRST_PHOTO = b"\xff\xd8\xff\xe0" + b"first-frame" + bytes(700) + b"\xff\xd9"
SECOND_PHOTO = b"\xff\xd8\xff\xe0" + b"second-frame" + bytes(900) + b"\xff\xd9"
THIRD_PHOTO = b"\xff\xd8\xff\xe0" + b"third-frame" + bytes(800) + b"\xff\xd9"
CLIP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"clip" * 500

LEFT_OUT_ONE = "I left out the video in your album: only photos can be keyframes."
NOT_FROM_A_VIDEO = "I can't start from a video: only photos"


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


def frames_sent(emulator: Any) -> dict[str, bytes]:
    """The photo bytes the video API fetched for each keyframe of the one create request."""
    (create,) = creates(emulator)
    fetched = {fetch.url: fetch.body for fetch in emulator.image_fetches if fetch.ok}
    return {name: fetched[frame["url"]] for name, frame in create.json["keyframes"].items()}


def replies_to(call: Call) -> int:
    return int(call.params["reply_parameters"]["message_id"])


async def refused_free(tg: FakeTelegram, bot: RunningBot, emulator: Any, fragment: str) -> Call:
    """The reply holding `fragment`, once it came; by then nothing was asked of the video API,
    no job exists and no quota was used (the refusal is the request's whole answer)."""
    reply = await tg.wait_for_call("sendMessage", lambda c: fragment in c.params["text"])
    repository = bot.runtime.repository
    assert creates(emulator) == [] and await repository.get_job(1) is None
    assert await quota_used(repository, USER) == 0
    return reply


async def handled(tg: FakeTelegram, bot: RunningBot, message: dict) -> None:
    """Wait until the bot has handled the update carrying `message` (its handlers all ran)."""

    def update_id() -> int | None:
        for call in tg.calls_of("getUpdates"):
            for update in call.result or []:
                sent = update.get("message") or {}
                if sent.get("message_id") == message["message_id"]:
                    return int(update["update_id"])  # (these tests write in one chat)
        return None

    found = await tg.wait_until(update_id)
    for _ in range(500):
        if await bot.runtime.repository.update_handled(found):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"update {found} never handled")


async def album_taken(bot: RunningBot, chat_id: int, media_group_id: str) -> None:
    """Wait until the album's items are taken from the database to be acted on."""
    repository = bot.runtime.repository
    for _ in range(500):
        if await repository.latest_album_item_at(chat_id, media_group_id) is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"album {media_group_id} never taken")


async def made_then_noted(tg: FakeTelegram, fragment: str) -> tuple[Call, Call]:
    """The delivered video and the note holding `fragment`; the note came after the status
    message, both in reply to the captioned item."""
    video = await tg.wait_for_video(timeout=15)
    note = await tg.wait_for_call("sendMessage", lambda c: fragment in c.params["text"])
    status, *_ = tg.calls_of("sendMessage")
    assert status.params["text"].startswith("⏳")  # the status message
    assert tg.calls.index(status) < tg.calls.index(note)
    assert replies_to(note) == replies_to(status)
    return video, note


# --- photos and videos in one album: the photos are used, the videos left out, and said so ------


async def test_a_photo_captioned_in_an_album_with_a_video_is_the_first_frame_and_the_video_is_named(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    captioned = tg.user_sends_photo(
        caption="/video the sun rises", photo_bytes=FIRST_PHOTO, media_group_id="m1"
    )
    tg.user_sends_video(video_bytes=CLIP, media_group_id="m1")

    video, note = await made_then_noted(tg, LEFT_OUT_ONE)
    assert replies_to(note) == captioned["message_id"]
    assert "the sun rises" in video.params["caption"]
    assert frames_sent(emulator) == {"frame0": FIRST_PHOTO}
    assert await quota_used(bot.runtime.repository, USER) == 1
    assert len(tg.videos()) == 1


async def test_the_caption_may_be_on_the_video_the_photo_is_still_the_keyframe(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Before, the captioned video was taken as a text-only request (charged) and the photo
    # was dropped without a word.
    bot = await start_bot(public=True)
    captioned = tg.user_sends_video(
        "/video the sun rises --end", video_bytes=CLIP, media_group_id="m2"
    )
    tg.user_sends_photo(photo_bytes=FIRST_PHOTO, media_group_id="m2")

    _, note = await made_then_noted(tg, LEFT_OUT_ONE)
    assert replies_to(note) == captioned["message_id"]
    assert frames_sent(emulator) == {"frame1": FIRST_PHOTO}  # --end works as with a photo alone
    assert await quota_used(bot.runtime.repository, USER) == 1


async def test_two_photos_around_a_video_are_the_first_and_last_frames(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.user_sends_photo(
        caption="/video morning to night", photo_bytes=FIRST_PHOTO, media_group_id="m3"
    )
    tg.user_sends_video(video_bytes=CLIP, media_group_id="m3")
    tg.user_sends_photo(photo_bytes=SECOND_PHOTO, media_group_id="m3")

    await made_then_noted(tg, LEFT_OUT_ONE)
    assert frames_sent(emulator) == {"frame0": FIRST_PHOTO, "frame1": SECOND_PHOTO}


async def test_several_videos_left_out_are_counted_in_russian_too(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.user_sends_photo(
        caption="/video sunrise over the sea",
        photo_bytes=FIRST_PHOTO,
        media_group_id="m4",
        language_code="ru",
    )
    tg.user_sends_video(video_bytes=CLIP, media_group_id="m4", language_code="ru")
    tg.user_sends_video(video_bytes=CLIP, media_group_id="m4", language_code="ru")

    _, note = await made_then_noted(tg, "Видео из альбома (2) я не использую")
    assert "только фото" in note.params["text"]
    assert frames_sent(emulator) == {"frame0": FIRST_PHOTO}


async def test_a_video_sent_as_a_file_beside_an_image_file_is_left_out_the_same_way(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Files sent "without compression" make a document album: an image file and an MP4.
    await start_bot(public=True)
    tg.user_sends_document(
        FIRST_PHOTO, caption="/video the sun rises", media_group_id="m5", file_name="sun.jpg"
    )
    tg.user_sends_document(CLIP, file_name="clip.mp4", mime_type="video/mp4", media_group_id="m5")

    await made_then_noted(tg, LEFT_OUT_ONE)
    assert frames_sent(emulator) == {"frame0": FIRST_PHOTO}


async def test_a_request_refused_later_gets_no_note_about_videos(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True, allowed_user_ids=frozenset({USER + 1}))
    tg.user_sends_photo(
        caption="/video the sun rises", photo_bytes=FIRST_PHOTO, media_group_id="m6"
    )
    tg.user_sends_video(video_bytes=CLIP, media_group_id="m6")
    await refused_free(tg, bot, emulator, "this bot is private")
    await album_taken(bot, USER, "m6")
    # The one answer is the refusal: a note on what was used would contradict it.
    assert len(tg.calls_of("sendMessage")) == 1


async def test_a_note_that_cannot_be_sent_leaves_the_video_to_come(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: Any
) -> None:
    bot = await start_bot(public=True)
    tg.fail_next("sendMessage", 400, "Bad Request: not enough rights to send text", count=2)
    tg.user_sends_photo(
        caption="/video the sun rises", photo_bytes=FIRST_PHOTO, media_group_id="m7"
    )
    tg.user_sends_video(video_bytes=CLIP, media_group_id="m7")
    await tg.wait_for_video(timeout=15)  # neither the status message nor the note got through
    await tg.wait_until(lambda: "job 1: note on left-out videos not sent" in caplog.text)
    assert frames_sent(emulator) == {"frame0": FIRST_PHOTO}
    assert await quota_used(bot.runtime.repository, USER) == 1


# --- nothing to start from, or a guess: refused, free -------------------------------------------


async def test_a_video_alone_captioned_video_is_refused_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Before, it made (and charged) a video from the caption alone, the clip ignored unsaid.
    bot = await start_bot(public=True)
    sent = tg.user_sends_video("/video make it rain", video_bytes=CLIP)
    reply = await refused_free(tg, bot, emulator, NOT_FROM_A_VIDEO)
    assert replies_to(reply) == sent["message_id"]
    assert "reply to it with <code>/extend what happens next</code>" in reply.params["text"]
    assert "Nothing was charged" in reply.params["text"]


async def test_an_album_of_videos_is_refused_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    captioned = tg.user_sends_video("/video join them", video_bytes=CLIP, media_group_id="v1")
    tg.user_sends_video(video_bytes=CLIP, media_group_id="v1")
    reply = await refused_free(tg, bot, emulator, NOT_FROM_A_VIDEO)
    assert replies_to(reply) == captioned["message_id"]
    assert len(tg.calls_of("sendMessage")) == 1


@pytest.mark.parametrize("command", ["/story a boat | a river", "/extend then it rains"])
async def test_story_and_extend_captioned_on_a_video_are_refused_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], command: str
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends_video(command, video_bytes=CLIP)
    await refused_free(tg, bot, emulator, NOT_FROM_A_VIDEO)


async def test_a_gif_or_video_file_captioned_video_is_refused_as_a_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends_document(CLIP, file_name="clip.mp4", mime_type="video/mp4", caption="/video a b")
    await refused_free(tg, bot, emulator, NOT_FROM_A_VIDEO)


async def test_a_voice_message_captioned_video_is_refused_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Before, the caption alone made a video (charged); the voice message was ignored unsaid.
    bot = await start_bot(public=True)
    user = tg.add_user(USER, "Ann", username="ann")
    chat = tg.add_chat(USER, "private", first_name="Ann")
    caption = "/video waves on a shore"
    tg.inject_update(
        {
            "message": {
                "message_id": 1,
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                "voice": {
                    "file_id": "voice-1",
                    "file_unique_id": "v1",
                    "duration": 3,
                    "mime_type": "audio/ogg",
                },
                "caption": caption,
                "caption_entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            }
        }
    )
    reply = await refused_free(tg, bot, emulator, "I can't use sound")
    assert "Nothing was charged" in reply.params["text"]


async def test_three_photos_and_a_video_are_refused_by_the_count_of_photos(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends_photo(caption="/video too many", photo_bytes=FIRST_PHOTO, media_group_id="t1")
    tg.user_sends_video(video_bytes=CLIP, media_group_id="t1")
    tg.user_sends_photo(photo_bytes=SECOND_PHOTO, media_group_id="t1")
    tg.user_sends_photo(photo_bytes=THIRD_PHOTO, media_group_id="t1")
    reply = await refused_free(tg, bot, emulator, "at most two photos")
    assert "You sent 3" in reply.params["text"]


@pytest.mark.parametrize("second", ["photo", "video"])
async def test_two_captions_with_a_command_in_one_album_are_refused_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], second: str
) -> None:
    # Before: with a photo, the first caption won and the second was dropped unsaid; with a
    # video, its caption made a second, text-only video: two charges for one album.
    bot = await start_bot(public=True)
    captioned = tg.user_sends_photo(
        caption="/video sunrise", photo_bytes=FIRST_PHOTO, media_group_id="c1"
    )
    if second == "photo":
        tg.user_sends_photo(caption="/video sunset", photo_bytes=SECOND_PHOTO, media_group_id="c1")
    else:
        tg.user_sends_video("/video sunset", video_bytes=CLIP, media_group_id="c1")
    reply = await refused_free(tg, bot, emulator, "more than one of its captions holds a command")
    assert replies_to(reply) == captioned["message_id"]
    assert len(tg.calls_of("sendMessage")) == 1


async def test_extend_on_an_album_with_a_video_says_how_to_extend(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    tg.user_sends_photo(caption="/extend then rain", photo_bytes=FIRST_PHOTO, media_group_id="e1")
    tg.user_sends_video(video_bytes=CLIP, media_group_id="e1")
    await refused_free(tg, bot, emulator, "takes one photo at most")


# --- photo + document: Telegram never groups them ------------------------------------------------


async def test_a_photo_and_a_document_arrive_apart_and_only_the_captioned_photo_asks(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Telegram groups documents only with documents: a photo and a PDF picked together are sent
    # as the photo (with the caption) and the file on its own, which asks nothing of the bot.
    tg.user_sends_photo(photo_bytes=FIRST_PHOTO, media_group_id="d1")  # shared, asks nothing
    with pytest.raises(ValueError, match="groups a document only with a document"):
        tg.user_sends_document(b"%PDF-1.4", file_name="plan.pdf", media_group_id="d1")
    bot = await start_bot(public=True)
    tg.user_sends_photo(caption="/video the plan comes alive", photo_bytes=SECOND_PHOTO)
    document = tg.user_sends_document(
        b"%PDF-1.4", file_name="plan.pdf", mime_type="application/pdf"
    )
    await tg.wait_for_video(timeout=15)
    await handled(tg, bot, document)
    assert frames_sent(emulator) == {"frame0": SECOND_PHOTO}
    texts = [c.params["text"] for c in tg.calls_of("sendMessage")]
    assert not any("plan.pdf" in t or "left out" in t for t in texts)
    assert await quota_used(bot.runtime.repository, USER) == 1


async def test_another_command_captioned_on_an_album_is_answered_as_that_command(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Before, any command on an album was read as /video (here: "prompt too short").
    bot = await start_bot(public=True)
    tg.user_sends_photo(caption="/quota", photo_bytes=FIRST_PHOTO, media_group_id="q1")
    rest = tg.user_sends_video(video_bytes=CLIP, media_group_id="q1")
    await tg.wait_for_call("sendMessage", lambda c: "0 of 3 used" in c.params["text"])
    await handled(tg, bot, rest)  # stored as an album item
    await album_taken(bot, USER, "q1")  # then taken: it asked nothing
    assert len(tg.calls_of("sendMessage")) == 1
    assert creates(emulator) == [] and await quota_used(bot.runtime.repository, USER) == 0


# --- the rules alone ----------------------------------------------------------------------------

IMAGE = TelegramImage(file_id="p1")
IMAGE_2 = TelegramImage(file_id="p2", mime_type="image/png")
PHOTO = Attachment(Kind.IMAGE, image=IMAGE)
PHOTO_2 = Attachment(Kind.IMAGE, image=IMAGE_2)
VIDEO = Attachment(Kind.VIDEO)
HEIC = Attachment(Kind.FILE, name="a.heic")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("command", "attachments", "expected"),
    [
        ("video", [Attachment(Kind.NONE)], Keyframes()),
        ("video", [PHOTO, VIDEO], Keyframes(images=[IMAGE], videos_left_out=1)),
        ("video", [VIDEO, PHOTO_2, VIDEO, PHOTO], Keyframes([IMAGE_2, IMAGE], 2)),
        ("video", [VIDEO], Refusal(key="video_not_a_keyframe")),
        ("story", [VIDEO], Refusal(key="video_not_a_keyframe")),
        ("video", [PHOTO, Attachment(Kind.SOUND)], Refusal(key="sound_not_a_keyframe")),
        ("video", [PHOTO, VIDEO, HEIC], Refusal(key="unsupported_file", values={"name": "a.heic"})),
        (
            "video",
            [PHOTO, PHOTO, PHOTO, VIDEO],
            Refusal(key="too_many_photos", values={"count": 3}),
        ),
    ],
)
def test_keyframes_for(
    command: str, attachments: list[Attachment], expected: Keyframes | Refusal
) -> None:
    assert keyframes_for(command, attachments) == expected


@pytest.mark.unit
def test_extend_and_story_take_no_album_even_of_one_item() -> None:
    # A bot in privacy mode gets an album's captioned item only: it cannot tell it was alone.
    for command in ("extend", "story"):
        assert keyframes_for(command, [PHOTO], album=True) == Refusal(key=f"{command}_one_photo")
        assert keyframes_for(command, [PHOTO]) == Keyframes(images=[IMAGE])


@pytest.mark.unit
def test_album_request() -> None:
    assert album_request([AlbumPart(None, PHOTO), AlbumPart("help", PHOTO)]) is None
    assert album_request([AlbumPart(None, PHOTO), AlbumPart("video", VIDEO)]) == AlbumRequest(
        asked=1, command="video", outcome=Keyframes(images=[IMAGE], videos_left_out=1)
    )
    parts = [AlbumPart("video", PHOTO), AlbumPart(None, PHOTO), AlbumPart("story", VIDEO)]
    assert album_request(parts) == AlbumRequest(0, "video", Refusal(key="album_two_commands"))


def _message(**content: Any) -> Message:
    return Message.de_json(
        {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            **content,
        },
        None,
    )


@pytest.mark.unit
def test_what_a_message_carries() -> None:
    clip = {"file_id": "c", "file_unique_id": "cu", "width": 1, "height": 1, "duration": 1}
    document = {"file_id": "d", "file_unique_id": "du"}
    assert attachment_of(_message(text="hi")).kind is Kind.NONE
    assert attachment_of(_message(video=clip)).kind is Kind.VIDEO
    gif = {**clip, "mime_type": "video/mp4", "file_name": "a.gif.mp4"}
    assert attachment_of(_message(animation=gif, document=document)).kind is Kind.VIDEO
    assert attachment_of(_message(audio={**document, "duration": 1})).kind is Kind.SOUND
    assert attachment_of(_message(voice={**document, "duration": 1})).kind is Kind.SOUND
    mp4 = attachment_of(_message(document={**document, "mime_type": "video/quicktime"}))
    assert mp4.kind is Kind.VIDEO
    heic = {**document, "mime_type": "image/heic", "file_name": "IMG_1.HEIC"}
    assert attachment_of(_message(document=heic)) == Attachment(Kind.FILE, name="IMG_1.HEIC")
    png = attachment_of(_message(document={**document, "mime_type": "image/png"}))
    assert png == Attachment(Kind.IMAGE, image=TelegramImage(file_id="d", mime_type="image/png"))


@pytest.mark.unit
def test_album_items_stored_before_kinds_existed_read_as_they_were_meant() -> None:
    # An upgrade mid-album: the items the version before stored had no "kind".
    from handlers.albums import _attachment

    photo = {"image": IMAGE.model_dump(), "not_an_image": None}
    assert _attachment(photo) == PHOTO
    assert _attachment({"image": None, "not_an_image": "plan.pdf"}) == Attachment(
        Kind.FILE, name="plan.pdf"
    )
