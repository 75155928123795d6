"""The fake Bot API (playground/fake_telegram.py) driven by the real PTB client over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults, MessageHandler, filters

from bot.telegram.transport import AiohttpRequest
from playground.fake_telegram import FakeTelegram, parse_html

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
ANN = 1001
# A long poll's timeout long enough that only a poll that fails to wake can run it out: tests
# compare the fake's own record of the hold against it, never the wall clock against a guess.
LONG_HOLD = 30.0


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading RetryAfter.retry_after / Video.duration warns otherwise, and pyproject turns
    # PTBDeprecationWarning into an error.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


def local_url(tg: FakeTelegram, data: bytes, file_path: str) -> str:
    """A URL on this machine serving ``data`` (the fake's own file route), for media sent by
    URL: the fake fetches it as Telegram would, and it never reaches the internet."""
    tg.add_file(data, file_path)
    return f"{tg.root}/file/bot{TOKEN}/{file_path}"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN, bot_username="LumaTestBot") as fake:
        yield fake


@pytest.fixture(params=["httpx", "aiohttp"])
async def bot(tg: FakeTelegram, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    """PTB's default transport (httpx) and the bot's own (bot/telegram/transport.py): the fake
    must answer both alike, and the bot's transport must behave like PTB's."""
    transport = {"request": AiohttpRequest()} if request.param == "aiohttp" else {}
    async with Bot(
        TOKEN, base_url=f"{tg.root}/bot", base_file_url=f"{tg.root}/file/bot", **transport
    ) as b:
        yield b


async def test_get_me_gives_the_bot_identity(tg: FakeTelegram, bot: Bot) -> None:
    assert tg.root.startswith("http://127.0.0.1:")
    assert bot.username == "LumaTestBot"
    assert bot.id == tg.bot_id == 123456
    me = await bot.get_me()
    assert me.is_bot and me.username == "LumaTestBot"
    assert tg.calls[0].method == "getMe" and tg.calls[0].token == TOKEN


async def test_application_polling_round_trip(tg: FakeTelegram) -> None:
    seen: list[Update] = []

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        assert update.message is not None
        await update.message.reply_text(f"got {update.message.text}", do_quote=True)

    app = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(f"{tg.root}/bot")
        .base_file_url(f"{tg.root}/file/bot")
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, on_message))
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
        await app.start()
        first = tg.user_sends("/video a jellyfish")
        second = tg.user_sends("second", user_id=2002, first_name="Bob")
        reply = await tg.wait_for_call(
            "sendMessage", lambda c: c.params["text"] == "got second", timeout=5
        )
        await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=5)
        await app.updater.stop()
        await app.stop()

    assert [u.message.text for u in seen] == ["/video a jellyfish", "second"]
    assert seen[1].update_id == seen[0].update_id + 1
    assert seen[0].effective_user.id == ANN and seen[0].effective_chat.id == ANN
    # the bot confirmed the updates with offset = last update_id + 1
    offsets = [int(c.params.get("offset", 0)) for c in tg.calls_of("getUpdates")]
    assert seen[1].update_id + 1 in offsets
    assert tg.calls_of("deleteWebhook"), "PTB's polling bootstrap deletes the webhook"
    # do_quote=True made PTB send reply_parameters; the fake attached reply_to_message
    assert reply.params["reply_parameters"]["message_id"] == second["message_id"]
    assert reply.result["reply_to_message"]["text"] == "second"
    assert [m["text"] for m in tg.messages(2002)] == ["second", "got second"]
    assert tg.bot_messages(ANN)[0]["text"] == "got /video a jellyfish"
    assert first["message_id"] == 1


async def test_get_updates_long_polls_and_confirms_with_offset(tg: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=LONG_HOLD))
    await asyncio.sleep(0.2)
    assert not poll.done(), "getUpdates must hold while there is nothing to deliver"
    tg.user_sends("hi")
    updates = await poll
    assert [u.message.text for u in updates] == ["hi"]
    (held,) = tg.calls_of("getUpdates")
    assert held.answered_at - held.at < LONG_HOLD, "answered at its timeout, not on the update"
    tg.user_sends("again")
    # without a higher offset nothing is confirmed: the first update is delivered again
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id, updates[0].update_id + 1]
    assert tg.pending_updates() == 2
    confirmed = await bot.get_updates(offset=again[-1].update_id + 1, timeout=0)
    assert confirmed == () and tg.pending_updates() == 0


async def test_concurrent_get_updates_conflict(tg: FakeTelegram, bot: Bot) -> None:
    # a second bot instance polling with the same token terminates the first one's long poll
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    async with Bot(TOKEN, base_url=f"{tg.root}/bot") as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await first


async def test_reply_parameters(tg: FakeTelegram, bot: Bot) -> None:
    msg = tg.user_sends("hello")
    sent = await bot.send_message(
        ANN, "answer", reply_parameters=ReplyParameters(msg["message_id"])
    )
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == msg["message_id"]
    assert sent.reply_to_message.text == "hello"
    assert sent.from_user.id == tg.bot_id and sent.message_id == msg["message_id"] + 1

    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(ANN, "answer", reply_parameters=ReplyParameters(999))
    ok = await bot.send_message(
        ANN, "answer", reply_parameters=ReplyParameters(999, allow_sending_without_reply=True)
    )
    assert ok.reply_to_message is None
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "who?")


async def test_send_video_upload(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("/video a jellyfish")
    data = b"\x00\x00\x00\x18ftypmp42" + b"v" * 5000
    sent = await bot.send_video(
        ANN,
        InputFile(data, filename="v.mp4"),
        caption="<b>Done</b>",
        parse_mode="HTML",
        width=1280,
        height=720,
        duration=5,
        supports_streaming=True,
    )
    call = tg.calls_of("sendVideo")[0]
    assert call.files["video"] == data and call.filenames["video"] == "v.mp4"
    assert call.params["width"] == "1280"  # form values stay strings
    assert sent.video is not None and sent.video.file_id
    assert (sent.video.width, sent.video.height) == (1280, 720)
    assert sent.video.duration == dtm.timedelta(seconds=5)
    assert sent.video.mime_type == "video/mp4" and sent.video.file_size == len(data)
    assert sent.caption == "Done" and sent.caption_entities[0].type == MessageEntity.BOLD
    assert tg.file(sent.video.file_id).data == data
    # re-sending by file_id keeps the file
    again = await bot.send_video(ANN, sent.video.file_id)
    assert again.video.file_unique_id == sent.video.file_unique_id
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_video(ANN, "no-such-file-id")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_video(ANN, sent.video.file_id, caption="x" * 1025)


async def test_upload_over_the_limit_is_413() -> None:
    async with FakeTelegram(token=TOKEN, upload_limit=1000) as small:
        small.user_sends("hi")
        async with Bot(TOKEN, base_url=f"{small.root}/bot") as b:
            # 413 is not a BadRequest in PTB: it maps unknown statuses to NetworkError
            with pytest.raises(NetworkError, match="Request Entity Too Large") as err:
                await b.send_document(ANN, InputFile(b"x" * 1001, filename="big.bin"))
            assert not isinstance(err.value, BadRequest)
        assert small.calls_of("sendDocument")[0].response["error_code"] == 413


async def test_edit_message_text(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:1")]])
    sent = await bot.send_message(ANN, "Queued", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Queued", ANN, sent.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_text("Rendering 10%", ANN, sent.message_id)
    assert edited.text == "Rendering 10%"
    # like Telegram: an edit without reply_markup removes the inline keyboard
    assert edited.reply_markup is None and "reply_markup" not in tg.bot_messages(ANN)[0]
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", ANN, 999)
    assert await bot.delete_message(ANN, sent.message_id)
    assert tg.bot_messages(ANN) == []
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(ANN, sent.message_id)


async def test_edit_message_media_turns_a_text_message_into_a_video(
    tg: FakeTelegram, bot: Bot
) -> None:
    request = tg.user_sends("hi")
    status = await bot.send_message(
        ANN, "Uploading…", reply_parameters=ReplyParameters(request["message_id"])
    )
    media = InputMediaVideo(
        b"\x00\x00\x00\x18ftypmp42",
        caption="<b>done</b>",
        width=320,
        height=180,
        duration=2,
        supports_streaming=True,
        parse_mode="HTML",
    )
    edited = await bot.edit_message_media(media, ANN, status.message_id)
    assert edited.message_id == status.message_id and edited.text is None
    assert edited.video.width == 320 and edited.caption == "done"
    assert edited.reply_to_message.message_id == request["message_id"]
    (stored,) = tg.bot_messages(ANN)
    assert "text" not in stored and stored["video"]["file_id"] == edited.video.file_id
    assert [c.files["video"] for c in tg.videos(ANN)] == [b"\x00\x00\x00\x18ftypmp42"]
    # Again with the same file and caption: not modified; a new upload replaces the video.
    again = InputMediaVideo(edited.video.file_id, caption="<b>done</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_media(again, ANN, status.message_id)
    replaced = await bot.edit_message_media(media, ANN, status.message_id)
    assert replaced.video.file_id != edited.video.file_id
    assert len(tg.messages_with_video(ANN)) == 1


async def test_edit_message_media_errors(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    photo = InputMediaPhoto(local_url(tg, b"\xff\xd8jpeg", "photos/a.jpg"), caption="a photo")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_media(photo, ANN, 999)
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_media(photo, ANN, 1)  # the user's message
    sent = await bot.send_message(ANN, "x")
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.edit_message_media(InputMediaVideo("no-such-file"), ANN, sent.message_id)
    edited = await bot.edit_message_media(photo, ANN, sent.message_id)
    assert edited.photo and edited.caption == "a photo"


async def test_unknown_and_missing_parameters_are_rejected(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    with pytest.raises(BadRequest, match="Unknown parameter colour"):
        await bot.send_message(ANN, "x", api_kwargs={"colour": "red"})
    with pytest.raises(BadRequest, match="Unknown parameter text"):
        await bot._post("sendChatAction", {"chat_id": ANN, "action": "typing", "text": "x"})
    with pytest.raises(BadRequest, match="Text is required"):
        await bot._post("sendMessage", {"chat_id": ANN})
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(ANN, "   ")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ANN, "x" * 4097)
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(ANN, "dancing")
    rejected = tg.calls_of("sendMessage")[0]
    assert rejected.params["colour"] == "red"
    assert rejected.response == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: unknown parameter colour",
    }


async def test_raw_http_errors(tg: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.root}/bot123:wrong/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{tg.root}/bot{TOKEN}/sendTelepathy") as resp:
            assert resp.status == 404 and (await resp.json())["description"] == "Not Found"
        # method names are case-insensitive; JSON bodies are accepted too
        async with http.post(f"{tg.root}/bot{TOKEN}/GETME", json={}) as resp:
            assert (await resp.json())["result"]["username"] == "LumaTestBot"
        tg.user_sends("hi")
        body = {"chat_id": ANN, "text": "json", "reply_markup": {"inline_keyboard": []}}
        async with http.post(f"{tg.root}/bot{TOKEN}/sendmessage", json=body) as resp:
            assert (await resp.json())["ok"] is True
    assert [c.method for c in tg.calls] == ["getMe", "sendTelepathy", "getMe", "sendMessage"]
    assert tg.calls[0].token == "123:wrong" and not tg.calls[0].ok


async def test_fail_next_429_raises_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    tg.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as err:
        await bot.send_message(ANN, "x")
    assert err.value.retry_after == dtm.timedelta(seconds=3)
    assert (await bot.send_message(ANN, "x")).text == "x"
    failed, ok = tg.calls_of("sendMessage")
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert ok.ok
    tg.fail_next("sendVideo", 403, "Forbidden: bot was blocked by the user", count=2)
    for _ in range(2):
        with pytest.raises(Exception, match="bot was blocked") as forbidden:
            await bot.send_video(ANN, "https://example.com/v.mp4")
        assert type(forbidden.value).__name__ == "Forbidden"


async def test_get_file_and_download(tg: FakeTelegram, bot: Bot) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 20 + b"\xff\xd9"
    msg = tg.user_sends_photo(caption="/video start", photo_bytes=jpeg)
    sizes = msg["photo"]
    assert [s["width"] for s in sizes] == sorted(s["width"] for s in sizes)
    assert sizes[-1]["file_size"] == len(jpeg)
    file = await bot.get_file(sizes[-1]["file_id"])
    # PTB turns file_path into base_file_url + path: the URL CONTAINS THE BOT TOKEN, so it must
    # never be logged, stored or handed to a third party (e.g. the video API).
    assert file.file_path.startswith(f"{tg.root}/file/bot{TOKEN}/photos/")
    assert TOKEN in file.file_path
    assert bytes(await file.download_as_bytearray()) == jpeg
    assert tg.downloads == [file.file_path.split(f"bot{TOKEN}/", 1)[1]]

    file_id = tg.add_file(b"%PDF-1.4 fake", file_path="documents/spec.pdf")
    doc = await bot.get_file(file_id)
    assert doc.file_path.endswith("/documents/spec.pdf")
    assert bytes(await doc.download_as_bytearray()) == b"%PDF-1.4 fake"
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{tg.root}/file/bot{TOKEN}/photos/missing.jpg") as resp:
            assert resp.status == 404


async def test_get_file_over_20_mb_is_rejected() -> None:
    async with FakeTelegram(token=TOKEN, download_limit=10) as small:
        async with Bot(TOKEN, base_url=f"{small.root}/bot") as b:
            with pytest.raises(BadRequest, match="File is too big"):
                await b.get_file(small.add_file(b"x" * 11))


async def test_callback_data_is_limited_to_64_bytes(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="x" * 64)]])
    await bot.send_message(ANN, "fits", reply_markup=ok)
    # 33 characters, but 66 bytes in UTF-8
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("no", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(ANN, "too long", reply_markup=too_long)


async def test_press_button_and_answer_callback_query(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:7")]])
    sent = await bot.send_message(ANN, "Queued", reply_markup=markup)
    tg.press_button(tg.bot_messages(ANN)[0], "c:7")
    with pytest.raises(ValueError, match="no button"):
        tg.press_button(tg.bot_messages(ANN)[0], "c:8")
    (update,) = [u for u in await bot.get_updates() if u.callback_query]
    query = update.callback_query
    assert query.data == "c:7" and query.from_user.id == ANN
    assert query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="Cancelled")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)


async def test_buttons_of_messages_the_bot_cannot_see(tg: FakeTelegram, bot: Bot) -> None:
    # The Bot API's CallbackQuery.message is a MaybeInaccessibleMessage: an InaccessibleMessage
    # (chat, message_id, date 0) for a deleted or too old message, and absent for a button of
    # an inline-mode message, which has inline_message_id instead.
    tg.user_sends("hi")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="a:7")]])
    sent = await bot.send_message(ANN, "Your video", reply_markup=markup)
    tg.user_deletes(ANN, sent.message_id)
    old = tg.press_button(sent.to_dict(), "a:7", inaccessible=True)
    assert old["message"] == {"chat": sent.chat.to_dict(), "message_id": sent.message_id, "date": 0}
    inline = tg.press_inline_button("AAQCAB-inline-1", "a:7", user_id=ANN)
    assert "message" not in inline and inline["inline_message_id"] == "AAQCAB-inline-1"
    first, second = (u.callback_query for u in await bot.get_updates() if u.callback_query)
    assert first.message.is_accessible is False  # PTB: a Message dated 0 (ZERO_DATE)
    assert first.message.chat.id == ANN and first.message.message_id == sent.message_id
    assert second.message is None and second.inline_message_id == "AAQCAB-inline-1"
    assert await bot.answer_callback_query(first.id) and await bot.answer_callback_query(second.id)


async def test_garbled_answers_are_network_errors(
    tg: FakeTelegram, bot: Bot, request: pytest.FixtureRequest
) -> None:
    tg.user_sends("hi")
    tg.garble_next("sendMessage")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(ANN, "lost in a broken proxy")
    if "aiohttp" in request.node.name:  # aiohttp's error names the URL, and so the token
        assert f"/bot{TOKEN}/sendMessage" in str(caught.value)
    (call,) = tg.calls_of("sendMessage")
    assert call.response is None and not call.lost and tg.bot_messages(ANN) == []
    assert (await bot.send_message(ANN, "fine again")).text == "fine again"


async def test_odd_answers_are_no_telegram_errors(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    tg.answer_oddly_next("sendMessage")
    with pytest.raises(KeyError):  # PTB cannot make a Message of {}
        await bot.send_message(ANN, "answered by a broken server")
    (call,) = tg.calls_of("sendMessage")
    assert call.ok and call.result == {} and tg.bot_messages(ANN) == []
    assert (await bot.send_message(ANN, "fine again")).text == "fine again"


async def test_bot_command_entities_in_text_and_caption(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("/video@LumaTestBot hi", chat_id=-100200, chat_type="supergroup")
    tg.user_sends_photo(caption="/video 😀 start", chat_id=-100200, chat_type="supergroup")
    tg.user_sends("not /video at start", chat_id=-100200, chat_type="supergroup")
    text, photo, later = (u.message for u in await bot.get_updates())
    assert text.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 18),)
    assert text.parse_entity(text.entities[0]) == "/video@LumaTestBot"
    assert text.chat.type == "supergroup" and text.from_user.username == "ann"
    assert photo.caption_entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert photo.photo[-1].width == 1280 and len(photo.photo) == 3
    assert later.entities[0].offset == 4  # commands are detected anywhere, like Telegram


async def test_channel_post_has_no_user(tg: FakeTelegram, bot: Bot) -> None:
    tg.channel_posts("/video x", chat_id=-100777, title="My channel")
    (update,) = await bot.get_updates()
    assert update.channel_post is not None and update.effective_user is None
    assert update.effective_chat.type == "channel" and update.effective_chat.title == "My channel"
    assert update.channel_post.sender_chat.id == -100777
    sent = await bot.send_message(-100777, "queued")
    assert sent.from_user is None and sent.sender_chat.id == -100777
    assert [m["text"] for m in tg.bot_messages(-100777)] == ["queued"]


async def test_get_chat_member_says_who_runs_a_chat(tg: FakeTelegram, bot: Bot) -> None:
    # Each status comes as its own ChatMember type with the fields PTB requires of it; whoever
    # wrote in a group is a member there, any other user Telegram knows (a presser included) has
    # left, and the bot administers the channel it posts in.
    channel, group = -100777, -100200
    tg.channel_posts("news", chat_id=channel)
    tg.user_sends("hi", chat_id=group, chat_type="supergroup")
    tg.set_chat_member(channel, 2002, "creator")
    tg.set_chat_member(channel, 2003)  # an administrator
    tg.set_chat_member(channel, 2004, "member")
    tg.set_chat_member(channel, 2005, "restricted")
    tg.set_chat_member(channel, 2006, "kicked")
    with pytest.raises(ValueError, match="status must be one of"):
        tg.set_chat_member(channel, 2007, "owner")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="a:1")]])
    post = await bot.send_message(channel, "a video", reply_markup=markup)
    tg.press_button(post.to_dict(), "a:1", user_id=3003)

    owner = await bot.get_chat_member(channel, 2002)
    assert isinstance(owner, ChatMemberOwner) and owner.status == "creator"
    admin = await bot.get_chat_member(channel, 2003)
    assert isinstance(admin, ChatMemberAdministrator) and admin.user.id == 2003
    assert admin.can_post_messages and admin.can_pin_messages is None  # a channel's rights
    assert isinstance(await bot.get_chat_member(channel, 2004), ChatMemberMember)
    restricted = await bot.get_chat_member(channel, 2005)
    assert isinstance(restricted, ChatMemberRestricted) and not restricted.can_send_messages
    assert isinstance(await bot.get_chat_member(channel, 2006), ChatMemberBanned)
    assert isinstance(await bot.get_chat_member(channel, 3003), ChatMemberLeft)
    assert isinstance(await bot.get_chat_member(channel, ANN), ChatMemberLeft)
    assert isinstance(await bot.get_chat_member(group, ANN), ChatMemberMember)
    itself = await bot.get_chat_member(channel, tg.bot_id)
    assert itself.status == "administrator" and itself.user.is_bot
    assert (await bot.get_chat_member(group, tg.bot_id)).status == "member"

    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(channel, 999_999)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat_member(-100999, ANN)
    failed = [c.response["description"] for c in tg.calls_of("getChatMember") if not c.ok]
    assert failed == ["Bad Request: user not found", "Bad Request: chat not found"]


async def test_a_user_added_by_name_is_known_before_acting(tg: FakeTelegram, bot: Bot) -> None:
    group = -100200
    tg.add_chat(group, "supergroup", title="Group")
    assert tg.add_user(2002, "Bob", username="bob")["first_name"] == "Bob"
    tg.set_chat_member(group, 2002, "member")
    member = await bot.get_chat_member(group, 2002)
    assert (member.user.first_name, member.user.username) == ("Bob", "bob")
    assert member.user.language_code == "en"
    assert tg.pending_updates() == 0


async def test_changes_count_what_waiters_are_woken_for(tg: FakeTelegram, bot: Bot) -> None:
    before = tg.changes
    message = tg.user_sends("hi")  # an update queued
    assert tg.changes == before + 1
    await bot.send_message(message["chat"]["id"], "hello")  # a call answered
    assert tg.changes == before + 2
    tg.user_deletes(message["chat"]["id"], message["message_id"])
    assert tg.changes == before + 3
    tg.add_user(2002, "Bob")  # nobody is told of this: no change
    assert tg.changes == before + 3


async def test_edits_threads_and_replies_in_updates(tg: FakeTelegram, bot: Bot) -> None:
    group = -100300
    first = tg.user_sends("/video a", chat_id=group, chat_type="supergroup", message_thread_id=5)
    tg.user_edits(first, "/video b")
    url = local_url(tg, b"\x00\x00\x00\x18ftypmp42", "videos/a.mp4")
    video = await bot.send_video(group, url, message_thread_id=5)
    tg.user_sends(
        "/extend more", chat_id=group, chat_type="supergroup", reply_to_message_id=video.message_id
    )
    msg, edited, extend = await bot.get_updates()
    assert msg.message.is_topic_message and msg.message.message_thread_id == 5
    assert edited.edited_message.text == "/video b" and edited.edited_message.edit_date
    assert video.is_topic_message and video.message_id == 2
    assert extend.message.reply_to_message.from_user.id == tg.bot_id
    assert extend.message.reply_to_message.video.file_id == video.video.file_id


async def test_html_parse_mode(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi")
    sent = await bot.send_message(
        ANN, '<b>Hi</b> &lt;3 <a href="https://x.y/?a=1&amp;b=2">link</a>', parse_mode="HTML"
    )
    assert sent.text == "Hi <3 link"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("text_link", 6, 4),
    ]
    assert sent.entities[1].url == "https://x.y/?a=1&b=2"
    for bad in ("<b>unclosed", "a < b", "<script>x</script>", "<b>x</i>"):
        with pytest.raises(BadRequest, match="Can't parse entities"):
            await bot.send_message(ANN, bad, parse_mode="HTML")
    assert parse_html("😀 <i>x</i>") == ("😀 x", [{"type": "italic", "offset": 3, "length": 1}])


async def test_commands_and_webhook_methods(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([("video", "Make a video"), ("extend", "Extend it")])
    assert [c.command for c in await bot.get_my_commands()] == ["video", "extend"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Video", "upper case is invalid")])
    assert await bot.set_webhook("https://bot.example.com/tg", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.com/tg"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    tg.user_sends("hi")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert tg.pending_updates() == 0
    chat = await bot.get_chat(ANN)
    assert chat.type == "private" and chat.first_name == "Ann"


async def test_wait_for_call_times_out_with_a_summary(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(AssertionError, match=r"(?s)sendVideo.*getMe\(\{\}\) -> ok"):
        await tg.wait_for_call("sendVideo", timeout=0.1)
    late = asyncio.create_task(tg.wait_for_call("sendMessage"))
    tg.user_sends("hi")
    await bot.send_message(ANN, "now")
    assert (await late).params["text"] == "now"


async def test_ptb_defaults_are_accepted(tg: FakeTelegram) -> None:
    # The Defaults the bot uses; PTB then also sends disable_notification/protect_content to the
    # edit methods, which Telegram ignores, so the fake must not reject them.
    defaults = Defaults(
        parse_mode="HTML",
        disable_notification=True,
        protect_content=True,
        allow_sending_without_reply=True,
    )
    app = ApplicationBuilder().token(tg.token).base_url(f"{tg.root}/bot").defaults(defaults)
    async with app.build() as application:
        tg.user_sends("hi")
        sent = await application.bot.send_message(
            ANN, "<i>queued</i>", reply_parameters=ReplyParameters(99)
        )
        assert sent.text == "queued" and sent.reply_to_message is None
        assert sent.has_protected_content
        await application.bot.edit_message_text("<b>done</b>", ANN, sent.message_id)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="a:1")]])
        await application.bot.edit_message_reply_markup(ANN, sent.message_id, reply_markup=markup)
    assert all(c.ok for c in tg.calls), tg.summary()
    assert tg.bot_messages(ANN)[0]["entities"] == [{"type": "bold", "offset": 0, "length": 4}]


async def test_album_and_photo_file_ids(tg: FakeTelegram, bot: Bot) -> None:
    first = tg.user_sends_photo(caption="/video start to end", media_group_id="album-1")
    second = tg.user_sends_photo(media_group_id="album-1", photo_bytes=b"\xff\xd8second\xff\xd9")
    updates = await bot.get_updates()
    assert [u.message.media_group_id for u in updates] == ["album-1", "album-1"]
    assert updates[1].message.caption is None
    assert second["message_id"] == first["message_id"] + 1
    # the bot may re-send the user's photo by file_id, but not as a video
    photo_id = first["photo"][-1]["file_id"]
    echoed = await bot.send_photo(ANN, photo_id, caption="start frame")
    assert echoed.photo[-1].file_id == photo_id
    with pytest.raises(BadRequest, match="Can't use file of type photo as video"):
        await bot.send_video(ANN, photo_id)
    uploaded = await bot.send_photo(ANN, InputFile(b"\xff\xd8" + bytes(999), filename="p.jpg"))
    assert [p.width for p in uploaded.photo] == [90, 320, 1280]
    assert uploaded.photo[-1].file_size == 1001


# -- documents, replies to bot videos, force replies, deletions -----------------------------

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG_BYTES = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"v" * 3000


async def test_user_sends_document_served_by_get_file(tg: FakeTelegram, bot: Bot) -> None:
    msg = tg.user_sends_document(
        PNG_BYTES, file_name="cat.png", mime_type="image/png", caption="/video the cat walks"
    )
    assert set(msg["document"]) == {
        "file_id",
        "file_unique_id",
        "file_name",
        "mime_type",
        "file_size",
    }
    plain = tg.user_sends_document(JPEG_BYTES)
    with pytest.raises(ValueError, match="empty"):
        tg.user_sends_document(b"")
    first, second = (u.message for u in await bot.get_updates())
    doc = first.document
    assert (doc.file_name, doc.mime_type, doc.file_size) == ("cat.png", "image/png", len(PNG_BYTES))
    assert first.photo == () and first.caption == "/video the cat walks"
    assert first.caption_entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert (second.document.file_name, second.document.mime_type) == ("photo.jpg", "image/jpeg")
    assert second.caption is None and "caption" not in plain
    assert second.message_id == first.message_id + 1

    file = await bot.get_file(doc.file_id)
    assert file.file_size == len(PNG_BYTES)
    assert f"/file/bot{TOKEN}/documents/" in file.file_path and file.file_path.endswith(".png")
    assert bytes(await file.download_as_bytearray()) == PNG_BYTES
    jpeg = await bot.get_file(second.document.file_id)
    assert jpeg.file_path.endswith(".jpg")
    assert bytes(await jpeg.download_as_bytearray()) == JPEG_BYTES
    assert tg.file(doc.file_id).data == PNG_BYTES


async def test_document_album_in_a_forum_topic(tg: FakeTelegram, bot: Bot) -> None:
    group = -100500
    kwargs = {"chat_id": group, "chat_type": "supergroup", "chat_title": "Makers"}
    tg.user_sends_document(
        JPEG_BYTES,
        caption="/video start to end",
        media_group_id="a1",
        message_thread_id=9,
        **kwargs,
    )
    tg.user_sends_document(
        PNG_BYTES,
        file_name="end.png",
        mime_type="image/png",
        media_group_id="a1",
        message_thread_id=9,
        **kwargs,
    )
    first, second = (u.message for u in await bot.get_updates())
    assert [m.media_group_id for m in (first, second)] == ["a1", "a1"]
    assert first.is_topic_message and second.message_thread_id == 9
    assert first.chat.title == "Makers" and first.chat.type == "supergroup"
    assert second.caption is None and second.document.file_name == "end.png"


async def test_user_sends_a_video_alone_and_in_an_album_with_photos(
    tg: FakeTelegram, bot: Bot
) -> None:
    clip = tg.user_sends_video("/video rain", video_bytes=MP4_BYTES, duration=7)
    assert set(clip["video"]) == {
        "file_id",
        "file_unique_id",
        "width",
        "height",
        "duration",
        "mime_type",
        "file_size",
    }
    tg.user_sends_photo(caption="/video from here", media_group_id="pv")
    tg.user_sends_video(video_bytes=MP4_BYTES, file_name="IMG_7.MOV", media_group_id="pv")
    alone, photo, in_album = (u.message for u in await bot.get_updates())
    video = alone.video
    assert (video.width, video.height, video.duration) == (1280, 720, dtm.timedelta(seconds=7))
    assert (video.mime_type, video.file_size) == ("video/mp4", len(MP4_BYTES))
    assert alone.caption == "/video rain" and alone.media_group_id is None
    assert alone.caption_entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert photo.media_group_id == in_album.media_group_id == "pv"
    assert in_album.video.file_name == "IMG_7.MOV" and in_album.caption is None
    file = await bot.get_file(video.file_id)
    assert "/videos/" in file.file_path
    assert bytes(await file.download_as_bytearray()) == MP4_BYTES
    with pytest.raises(ValueError, match="empty"):
        tg.user_sends_video(video_bytes=b"")


async def test_albums_mix_only_what_telegram_mixes(tg: FakeTelegram) -> None:
    # Photos and videos share albums; files go only with files; ten items at most.
    tg.user_sends_video(media_group_id="a")
    tg.user_sends_photo(media_group_id="a")
    with pytest.raises(ValueError, match="groups a document only with a document"):
        tg.user_sends_document(JPEG_BYTES, media_group_id="a")
    tg.user_sends_document(JPEG_BYTES, media_group_id="b")
    with pytest.raises(ValueError, match="groups a video only with a photo or video"):
        tg.user_sends_video(media_group_id="b")
    with pytest.raises(ValueError, match="groups a photo only with a photo or video"):
        tg.user_sends_photo(media_group_id="b")
    tg.user_sends_photo(media_group_id="b", chat_id=-100500, chat_type="supergroup")  # another chat
    for _ in range(8):
        tg.user_sends_photo(media_group_id="a")
    with pytest.raises(ValueError, match="at most 10 items"):
        tg.user_sends_photo(media_group_id="a")


async def test_user_replies_to_a_bot_video_with_photo_and_document(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.user_sends("/video a jellyfish")
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Extend", callback_data="x:1")],
            [InlineKeyboardButton("Again", callback_data="a:1")],
        ]
    )
    video = await bot.send_video(
        ANN,
        InputFile(MP4_BYTES, filename="v.mp4"),
        caption="Done",
        reply_markup=markup,
        width=1280,
        height=720,
        duration=5,
    )
    # sendVideo stores and returns the inline keyboard
    assert video.reply_markup == markup
    assert tg.calls_of("sendVideo")[0].params["reply_markup"] == markup.to_dict()
    assert tg.bot_messages(ANN)[0]["reply_markup"] == markup.to_dict()

    photo = tg.user_sends_photo(
        caption="/extend with this",
        reply_to_message_id=video.message_id,
        media_group_id="g7",
        photo_bytes=JPEG_BYTES,
    )
    doc = tg.user_sends_document(  # a file goes in an album of files: Telegram never mixes
        PNG_BYTES,
        file_name="end.png",
        mime_type="image/png",
        media_group_id="g8",
        reply_to_message_id=video.message_id,
    )
    assert photo["reply_to_message"]["video"] == doc["reply_to_message"]["video"]
    _, from_photo, from_doc = (u.message for u in await bot.get_updates())
    assert (from_photo.media_group_id, from_doc.media_group_id) == ("g7", "g8")
    assert from_photo.photo[-1].file_size == len(JPEG_BYTES)
    for msg in (from_photo, from_doc):
        quoted = msg.reply_to_message
        assert quoted is not None and quoted.message_id == video.message_id
        assert quoted.from_user.id == tg.bot_id and quoted.from_user.is_bot
        assert quoted.from_user.username == "LumaTestBot"
        assert quoted.video.file_id == video.video.file_id
        assert (quoted.video.width, quoted.video.height) == (1280, 720)
        assert quoted.caption == "Done" and quoted.reply_markup == markup

    # the quote is a snapshot: removing the video's keyboard later does not change it
    edited = await bot.edit_message_reply_markup(ANN, video.message_id)
    assert edited.reply_markup is None
    stored_photo = tg.messages(ANN)[2]
    assert stored_photo["reply_to_message"]["reply_markup"] == markup.to_dict()


async def test_press_button_on_a_bot_video(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("/video a jellyfish")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Extend", callback_data="x:42")]])
    video = await bot.send_video(ANN, InputFile(MP4_BYTES, filename="v.mp4"), reply_markup=markup)
    (message_update,) = await bot.get_updates()
    sent = tg.press_button(tg.bot_messages(ANN)[0], "x:42", user_id=ANN)
    (update,) = await bot.get_updates(offset=message_update.update_id + 1)
    query = update.callback_query
    assert query.id == sent["id"] and query.data == "x:42" and query.from_user.id == ANN
    assert query.message.message_id == video.message_id
    assert query.message.video.file_id == video.video.file_id
    assert query.message.reply_markup == markup
    assert await bot.answer_callback_query(query.id, text="Extending…")


async def test_force_reply_and_other_reply_markups(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("/video")
    force = ForceReply(selective=True, input_field_placeholder="A jellyfish in space")
    prompt = await bot.send_message(ANN, "Describe the video", reply_markup=force)
    call = tg.calls_of("sendMessage")[0]
    assert call.ok and call.params["reply_markup"] == {
        "force_reply": True,
        "input_field_placeholder": "A jellyfish in space",
        "selective": True,
    }
    # like Telegram, only inline keyboards show up on the message
    assert prompt.reply_markup is None and "reply_markup" not in tg.bot_messages(ANN)[0]
    answer = tg.user_sends("a jellyfish", reply_to_message_id=prompt.message_id)
    assert answer["reply_to_message"]["text"] == "Describe the video"
    assert answer["reply_to_message"]["from"]["id"] == tg.bot_id

    assert await bot.send_message(ANN, "plain", reply_markup=ForceReply())
    assert await bot.send_message(ANN, "gone", reply_markup=ReplyKeyboardRemove())
    keyboard = ReplyKeyboardMarkup([["16:9", "9:16"]], resize_keyboard=True, one_time_keyboard=True)
    assert await bot.send_message(ANN, "ratio?", reply_markup=keyboard)
    for bad in (
        {"force_reply": False},
        {"force_reply": True, "input_field_placeholder": "x" * 65},
        {"force_reply": True, "input_field_placeholder": ""},
        {"force_reply": True, "selective": "yes"},
        {"force_reply": True, "colour": "red"},
        {"selective": True},
    ):
        with pytest.raises(BadRequest, match="Can't parse reply keyboard markup"):
            await bot._post("sendMessage", {"chat_id": ANN, "text": "x", "reply_markup": bad})


async def test_user_deletes_a_message(tg: FakeTelegram, bot: Bot) -> None:
    own = tg.user_sends("/video a jellyfish")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:1")]])
    status = await bot.send_message(ANN, "Rendering 10%", reply_markup=markup)
    removed = tg.user_deletes(ANN, status.message_id)
    assert removed["text"] == "Rendering 10%" and removed["reply_markup"] == markup.to_dict()
    assert tg.bot_messages(ANN) == [] and [m["text"] for m in tg.messages(ANN)] == [own["text"]]
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("Rendering 50%", ANN, status.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_reply_markup(ANN, status.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(ANN, status.message_id)
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(ANN, "Done", reply_parameters=ReplyParameters(status.message_id))
    lenient = ReplyParameters(status.message_id, allow_sending_without_reply=True)
    url = local_url(tg, b"\x00\x00\x00\x18ftypmp42", "videos/v.mp4")
    fallback = await bot.send_video(ANN, url, reply_parameters=lenient)
    assert fallback.reply_to_message is None
    with pytest.raises(ValueError, match="not found"):
        tg.press_button(removed, "c:1")
    with pytest.raises(ValueError, match="not found"):
        tg.user_sends("again", reply_to_message_id=status.message_id)
    with pytest.raises(ValueError, match="not found"):
        tg.user_deletes(ANN, status.message_id)

    # the user deletes their own command: the bot can no longer quote it
    tg.user_deletes(ANN, own["message_id"])
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(ANN, "Queued", reply_parameters=ReplyParameters(own["message_id"]))
    # ids are never reused, and deletions produce no update for the bot
    after = await bot.send_message(ANN, "next")
    assert after.message_id == fallback.message_id + 1
    assert tg.pending_updates() == 1


async def test_delay_next_answers_late_and_does_nothing_if_the_client_gave_up(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.user_sends("/video a jellyfish")
    tg.delay_next("sendMessage", 0.3, count=2)
    slow = await asyncio.gather(bot.send_message(ANN, "a"), bot.send_message(ANN, "b"))
    assert [m.text for m in slow] == ["a", "b"]
    a, b = tg.calls_of("sendMessage")
    # By the fake's own clock: each held 0.3 s, both at once (each arrived before either left).
    assert a.delayed == b.delayed == 0.3
    assert a.answered_at - a.at >= 0.3 and b.answered_at - b.at >= 0.3
    assert max(a.at, b.at) < min(a.answered_at, b.answered_at)
    assert await bot.send_message(ANN, "c")
    assert tg.calls_of("sendMessage")[-1].delayed == 0  # the two delays are used up

    tg.delay_next("sendVideo", 0.6)
    with pytest.raises(TimedOut):
        await bot.send_video(ANN, InputFile(MP4_BYTES, filename="v.mp4"), read_timeout=0.3)
    gave_up = await tg.wait_for_call("sendVideo")
    assert gave_up.files["video"] == MP4_BYTES and gave_up.response is None
    assert not gave_up.lost and not gave_up.ok and gave_up.result is None
    assert "client gave up" in tg.summary()
    await asyncio.sleep(0.4)  # past the delay: the video was never stored
    assert tg.messages_with_video(ANN) == []
    video = await bot.send_video(ANN, InputFile(MP4_BYTES, filename="v.mp4"), read_timeout=0.3)
    assert [m["message_id"] for m in tg.messages_with_video(ANN)] == [video.message_id]


async def test_lose_response_next_a_timed_out_send_did_succeed(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("/video a jellyfish")
    tg.lose_response_next("sendVideo")
    video = InputFile(MP4_BYTES, filename="v.mp4")
    with pytest.raises(TimedOut):
        await bot.send_video(ANN, video, caption="Done", read_timeout=0.3)
    (delivered,) = tg.messages_with_video(ANN)  # Telegram did deliver it
    assert delivered["caption"] == "Done"
    assert tg.file(delivered["video"]["file_id"]).data == MP4_BYTES
    call = tg.calls_of("sendVideo")[0]
    assert call.lost and call.response is None and not call.ok and call.result is None
    assert await tg.wait_for_call("sendVideo") is call and "LOST" in tg.summary()
    # documents count too; text messages don't
    await bot.send_document(ANN, InputFile(MP4_BYTES, filename="big.mp4"))
    await bot.send_message(ANN, "Here it is")
    assert len(tg.messages_with_video(ANN)) == 2

    # faults are used up in script order; with a hold shorter than the client's read timeout
    # the connection closes without an answer: NetworkError, not TimedOut
    tg.fail_next("sendMessage", 502)
    tg.lose_response_next("sendMessage", hold=0.1, count=2)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(ANN, "Done")
    for _ in range(2):
        with pytest.raises(NetworkError, match="disconnected") as err:
            await bot.send_message(ANN, "Done", read_timeout=2)
        assert not isinstance(err.value, TimedOut)
    assert [m.get("text") for m in tg.bot_messages(ANN)][-2:] == ["Done", "Done"]
    assert (await bot.send_message(ANN, "ok")).text == "ok"
    assert [c.lost for c in tg.calls_of("sendMessage")] == [False, False, True, True, False]


@pytest.mark.parametrize(
    ("code", "description", "raised", "message"),
    [
        (400, "Bad Request: chat not found", BadRequest, "Chat not found"),
        (403, None, Forbidden, "Forbidden: bot was blocked by the user"),
        (404, None, InvalidToken, "Not Found"),
        (413, None, NetworkError, "Request Entity Too Large"),
        (429, None, RetryAfter, "Flood control exceeded"),
        (500, None, NetworkError, "Internal Server Error"),
        (502, None, NetworkError, "Bad Gateway"),
    ],
)
async def test_fail_next_codes_and_what_ptb_raises(
    tg: FakeTelegram, bot: Bot, code: int, description: str | None, raised: type, message: str
) -> None:
    tg.user_sends("/video a jellyfish")
    tg.fail_next("sendVideo", code, description, count=2)
    for _ in range(2):
        with pytest.raises(raised, match=message) as err:
            await bot.send_video(ANN, InputFile(MP4_BYTES, filename="v.mp4"))
        assert type(err.value) is raised  # exactly: BadRequest and TimedOut are NetworkErrors
    first, second = tg.calls_of("sendVideo")
    assert first.response["error_code"] == second.response["error_code"] == code
    assert tg.messages_with_video(ANN) == []
    assert (await bot.send_video(ANN, InputFile(MP4_BYTES, filename="v.mp4"))).video


async def test_edit_message_reply_markup_errors(tg: FakeTelegram, bot: Bot) -> None:
    own = tg.user_sends("/video a jellyfish")
    cancel = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:1")]])
    extend = InlineKeyboardMarkup([[InlineKeyboardButton("Extend", callback_data="x:1")]])
    video = await bot.send_video(ANN, InputFile(MP4_BYTES, filename="v.mp4"), reply_markup=cancel)
    with pytest.raises(BadRequest, match="Message is not modified: specified new message"):
        await bot.edit_message_reply_markup(ANN, video.message_id, reply_markup=cancel)
    edited = await bot.edit_message_reply_markup(ANN, video.message_id, reply_markup=extend)
    assert edited.reply_markup == extend and edited.video.file_id == video.video.file_id
    assert (await bot.edit_message_reply_markup(ANN, video.message_id)).reply_markup is None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(ANN, video.message_id)  # no keyboard to remove
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_reply_markup(ANN, own["message_id"], reply_markup=extend)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_reply_markup(ANN, 999, reply_markup=extend)
    not_modified = (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    calls = tg.calls_of("editMessageReplyMarkup")
    assert [c.response["description"] for c in calls if not c.ok] == [
        not_modified,
        not_modified,
        "Bad Request: message can't be edited",
        "Bad Request: message to edit not found",
    ]
