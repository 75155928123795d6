"""The fake Bot API's Mini App support, through PTB's own client and raw HTTP: the menu button
(``setChatMenuButton`` / ``getChatMenuButton``), ``web_app`` buttons (private chats only, HTTPS
only), video thumbnails made lazily from the first frame, and the signed initData a Mini App
gets (checked here with an HMAC computed independently, from Telegram's documentation)."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaVideo,
    MenuButtonCommands,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import BadRequest

from bot.telegram.transport import AiohttpRequest
from emulator.clips import PALETTE, ClipSpec, Segment, ffmpeg_exe, render_clip
from playground.bot_api import media as fake_media
from playground.fake_telegram import DARK_THEME, LIGHT_THEME, FakeTelegram
from tests.media import nearest_colour

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
ANN, BOB, GROUP = 1001, 2002, -100300
GALLERY = "https://gallery.example/app"
RED, BLUE = PALETTE[0], PALETTE[2]
JUNK_MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8  # an MP4 FFmpeg cannot decode
THEME_KEYS = set(
    "bg_color text_color hint_color link_color button_color button_text_color "
    "secondary_bg_color header_bg_color accent_text_color section_bg_color "
    "section_header_text_color subtitle_text_color destructive_text_color".split()
)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN, bot_username="LumaTestBot") as fake:
        fake.user_sends("/start", user_id=ANN, first_name="Ann", username="ann")
        fake.user_sends("hi all", user_id=ANN, chat_id=GROUP, chat_type="supergroup")
        yield fake


@pytest.fixture(params=["httpx", "aiohttp"])
async def bot(tg: FakeTelegram, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    transport = {"request": AiohttpRequest()} if request.param == "aiohttp" else {}
    async with Bot(
        TOKEN, base_url=f"{tg.root}/bot", base_file_url=f"{tg.root}/file/bot", **transport
    ) as b:
        yield b


@pytest.fixture(scope="module")
def red_then_blue() -> bytes:
    """A real 640 x 360 MP4: one second red, then one blue."""
    return render_clip(ClipSpec((Segment(RED, 1), Segment(BLUE, 1)), 640, 360, 12))


async def api(tg: FakeTelegram, method: str, **params: Any) -> tuple[int, dict]:
    """A raw Bot API call (JSON body): the HTTP status and the whole answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.root}/bot{tg.token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


async def refused(tg: FakeTelegram, method: str, **params: Any) -> str:
    """The description of a 400 answer (PTB rewrites its case, so raw HTTP is used)."""
    status, body = await api(tg, method, **params)
    assert status == 400 and body["ok"] is False, body
    return str(body["description"])


def web_app_keyboard(url: str = GALLERY) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Gallery", web_app=WebAppInfo(url))]])


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame segment (the test's own reading)."""
    assert data[:3] == b"\xff\xd8\xff", data[:8]
    pos = 2
    while data[pos] == 0xFF:
        marker, length = data[pos + 1], struct.unpack_from(">H", data, pos + 2)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        pos += 2 + length
    raise AssertionError("no start-of-frame segment")


def average_rgb(jpeg: bytes) -> tuple[int, int, int]:
    """The picture's average colour, decoded by FFmpeg (not ``tests.media.frame_colours``: its
    ``-ss`` finds no frame in a JPEG of more than a few kB)."""
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", "pipe:0", "-frames:v", "1"]
    command += ["-vf", "scale=8:8", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(command, input=jpeg, capture_output=True, check=True).stdout
    assert len(raw) == 8 * 8 * 3
    return round(sum(raw[0::3]) / 64), round(sum(raw[1::3]) / 64), round(sum(raw[2::3]) / 64)


def checks(init_data: str, token: str) -> bool:
    """Telegram's documented check of initData, written out independently of the fake."""
    fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
    received = fields.pop("hash")
    data_check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret_key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret_key, data_check_string.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


@pytest.fixture(scope="module")
def small_jpeg() -> bytes:
    """A real 64 x 36 JPEG, as a bot might upload for its own thumbnail."""
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=teal:s=64x36"]
    command += ["-frames:v", "1", "-f", "image2", "-c:v", "mjpeg", "pipe:1"]
    return subprocess.run(command, capture_output=True, check=True).stdout


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Every thumbnail the fake makes with FFmpeg: (width, height, size)."""
    made: list[tuple[int, int, int]] = []
    real = fake_media.render_thumbnail

    async def counted(video: bytes | None, width: int, height: int, size: int) -> bytes:
        made.append((width, height, size))
        return await real(video, width, height, size)

    monkeypatch.setattr(fake_media, "render_thumbnail", counted)
    return made


# --- the menu button ---------------------------------------------------------------------------


async def test_menu_button_round_trip(tg: FakeTelegram, bot: Bot) -> None:
    # Never set: the bot's default shows the commands; a chat has no button of its own.
    assert isinstance(await bot.get_chat_menu_button(), MenuButtonCommands)
    assert isinstance(await bot.get_chat_menu_button(ANN), MenuButtonDefault)
    assert tg.menu_button(ANN) == {"type": "commands"}

    gallery = MenuButtonWebApp("Gallery", WebAppInfo(GALLERY))
    assert await bot.set_chat_menu_button(menu_button=gallery) is True
    assert await bot.get_chat_menu_button() == gallery
    assert isinstance(await bot.get_chat_menu_button(ANN), MenuButtonDefault)
    assert tg.menu_button() == tg.menu_button(ANN) == gallery.to_dict()
    call = tg.calls_of("setChatMenuButton")[-1]
    assert call.params["menu_button"] == gallery.to_dict()  # decoded, like reply_markup

    # Ann's own button wins over the default, until it is set back to "default".
    assert await bot.set_chat_menu_button(ANN, MenuButtonCommands())
    assert isinstance(await bot.get_chat_menu_button(ANN), MenuButtonCommands)
    assert tg.menu_button(ANN) == {"type": "commands"} and tg.menu_button() == gallery.to_dict()
    assert await bot.set_chat_menu_button(ANN)  # no menu_button: "default"
    assert isinstance(await bot.get_chat_menu_button(ANN), MenuButtonDefault)
    assert tg.menu_button(ANN) == gallery.to_dict()

    # "default" for all chats changes nothing; "commands" replaces the web app.
    assert await bot.set_chat_menu_button(menu_button=MenuButtonDefault())
    assert await bot.get_chat_menu_button() == gallery
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert isinstance(await bot.get_chat_menu_button(), MenuButtonCommands)


async def test_menu_button_errors_are_telegrams(tg: FakeTelegram, bot: Bot) -> None:
    def button(**fields: Any) -> dict:
        return {"type": "web_app", "text": "Gallery", "web_app": {"url": GALLERY}, **fields}

    cases: list[tuple[Any, str]] = [
        (
            button(web_app={"url": "http://gallery.example/app"}),
            "menu button Web App URL "
            "'http://gallery.example/app' is invalid: Only HTTPS links are allowed",
        ),
        (button(web_app={"url": "https://"}), "is invalid: URL host is empty"),
        ({"type": "gallery"}, "can't parse menu button: MenuButton has unsupported type"),
        ({"text": "x"}, "can't parse menu button: Can't find field \"type\""),
        ({"type": "web_app", "web_app": {"url": GALLERY}}, 'Can\'t find field "text"'),
        ({"type": "web_app", "text": "Gallery"}, 'Can\'t find field "web_app"'),
        (button(web_app=GALLERY), 'Field "web_app" must be of type Object'),
        (button(web_app={}), "can't parse menu button: Can't find field \"url\""),
        (button(text=""), "menu button text must be non-empty"),
        (["web_app"], "can't parse menu button: MenuButton must be an Object"),
        ("{not json", "can't parse menu button JSON object"),
    ]
    for menu_button, description in cases:
        assert description in await refused(tg, "setChatMenuButton", menu_button=menu_button)
    assert tg.menu_button() == {"type": "commands"}  # nothing refused was kept

    # chat_id is a user's id, of someone the bot knows.
    gallery = button()
    for chat_id, description in ((GROUP, "invalid chat_id specified"), (777, "user not found")):
        for method, params in (
            ("setChatMenuButton", {"chat_id": chat_id, "menu_button": gallery}),
            ("getChatMenuButton", {"chat_id": chat_id}),
        ):
            assert await refused(tg, method, **params) == f"Bad Request: {description}"
    with pytest.raises(BadRequest, match=r"(?i)only https links are allowed"):
        await bot.set_chat_menu_button(
            ANN, MenuButtonWebApp("Gallery", WebAppInfo("http://gallery.example/app"))
        )


# --- web_app buttons ---------------------------------------------------------------------------


async def test_web_app_buttons_only_in_private_chats(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(ANN, "Your videos", reply_markup=web_app_keyboard())
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].web_app == WebAppInfo(GALLERY)
    with pytest.raises(BadRequest, match="Button_type_invalid"):
        await bot.send_message(GROUP, "Our videos", reply_markup=web_app_keyboard())

    # Edits are checked against the chat of the edited message.
    plain = await bot.send_message(ANN, "Videos")
    edited = await bot.edit_message_reply_markup(
        ANN, plain.message_id, reply_markup=web_app_keyboard()
    )
    assert not isinstance(edited, bool) and edited.reply_markup == web_app_keyboard()
    in_group = await bot.send_message(GROUP, "Videos")
    description = await refused(
        tg,
        "editMessageText",
        chat_id=GROUP,
        message_id=in_group.message_id,
        text="Videos!",
        reply_markup=web_app_keyboard().to_dict(),
    )
    assert description == "Bad Request: BUTTON_TYPE_INVALID"
    assert tg.bot_messages(GROUP)[-1]["text"] == "Videos"  # unchanged


async def test_web_app_button_urls_must_be_https(tg: FakeTelegram, bot: Bot) -> None:
    for url, problem in (
        ("http://gallery.example/app", "Only HTTPS links are allowed"),
        ("gallery.example/app", "Only HTTPS links are allowed"),
        ("", "URL host is empty"),
    ):
        for chat in (ANN, GROUP):  # the URL is read before the chat's type is looked at
            description = await refused(
                tg,
                "sendMessage",
                chat_id=chat,
                text="x",
                reply_markup=web_app_keyboard(url).to_dict(),
            )
            assert description == (
                f"Bad Request: inline keyboard button Web App URL '{url}' is invalid: {problem}"
            )
    bad_info = {"inline_keyboard": [[{"text": "Gallery", "web_app": GALLERY}]]}
    description = await refused(tg, "sendMessage", chat_id=ANN, text="x", reply_markup=bad_info)
    assert 'Field "web_app" must be of type Object' in description
    with pytest.raises(BadRequest, match=r"(?i)only https links are allowed"):
        await bot.send_message(ANN, "x", reply_markup=web_app_keyboard("http://gallery.example"))


# --- video thumbnails --------------------------------------------------------------------------


async def test_a_sent_mp4_gets_a_thumbnail_of_its_first_frame(
    tg: FakeTelegram, bot: Bot, red_then_blue: bytes, renders: list
) -> None:
    sent = await bot.send_video(ANN, red_then_blue, width=640, height=360, duration=2)
    assert sent.video is not None and sent.video.thumbnail is not None
    thumb = sent.video.thumbnail
    assert (thumb.width, thumb.height) == (320, 180)
    assert thumb.file_size and thumb.file_unique_id
    raw = tg.calls_of("sendVideo")[-1].result["video"]
    assert raw["thumbnail"] == raw["thumb"]  # Telegram still sends the old name too
    assert renders == [] and tg.file(thumb.file_id).data is None  # nothing made yet

    file = await bot.get_file(thumb.file_id)
    assert file.file_size == thumb.file_size and "/photos/file_" in file.file_path
    data = bytes(await file.download_as_bytearray())
    assert len(data) == thumb.file_size and data[:3] == b"\xff\xd8\xff"
    assert jpeg_dimensions(data) == (320, 180)
    assert nearest_colour(average_rgb(data)).name == "red"  # the first frame, not a later one
    again = await bot.get_file(thumb.file_id)
    assert bytes(await again.download_as_bytearray()) == data
    assert len(renders) == 1  # made once

    # Sent again by file_id: the same thumbnail; a portrait video's keeps its aspect.
    resent = await bot.send_video(GROUP, sent.video.file_id)
    assert resent.video is not None and resent.video.thumbnail == thumb
    tall = await bot.send_video(ANN, red_then_blue, width=720, height=1280)
    assert tall.video is not None and tall.video.thumbnail is not None
    assert (tall.video.thumbnail.width, tall.video.thumbnail.height) == (180, 320)
    assert len(renders) == 1


async def test_edit_message_media_with_a_video_gets_a_thumbnail(
    tg: FakeTelegram, bot: Bot, red_then_blue: bytes, renders: list
) -> None:
    status = await bot.send_message(ANN, "Rendering...")
    edited = await bot.edit_message_media(
        InputMediaVideo(red_then_blue, width=1920, height=1080), ANN, status.message_id
    )
    assert not isinstance(edited, bool) and edited.video is not None
    thumb = edited.video.thumbnail
    assert thumb is not None and (thumb.width, thumb.height) == (320, 180)
    data = bytes(await (await bot.get_file(thumb.file_id)).download_as_bytearray())
    assert jpeg_dimensions(data) == (320, 180) and len(data) == thumb.file_size
    assert renders == [(320, 180, thumb.file_size)]


async def test_thumbnails_only_for_mp4_and_grey_when_undecodable(
    tg: FakeTelegram, bot: Bot
) -> None:
    not_mp4 = await bot.send_video(ANN, b"\x1aE\xdf\xa3 webm bytes" * 50)
    assert not_mp4.video is not None and not_mp4.video.thumbnail is None
    raw = tg.calls_of("sendVideo")[-1].result["video"]
    assert "thumbnail" not in raw and "thumb" not in raw

    junk = await bot.send_video(ANN, JUNK_MP4)  # no width/height given: 320 x 180
    assert junk.video is not None and junk.video.thumbnail is not None
    thumb = junk.video.thumbnail
    data = bytes(await (await bot.get_file(thumb.file_id)).download_as_bytearray())
    assert jpeg_dimensions(data) == (thumb.width, thumb.height) == (320, 180)
    assert len(data) == thumb.file_size
    red, green, blue = average_rgb(data)
    assert max(red, green, blue) - min(red, green, blue) < 8 and 60 < red < 200  # solid grey


async def test_the_bots_own_thumbnail_is_used(
    tg: FakeTelegram, bot: Bot, renders: list, small_jpeg: bytes
) -> None:
    small = small_jpeg
    sent = await bot.send_video(ANN, JUNK_MP4, thumbnail=small)
    assert sent.video is not None and sent.video.thumbnail is not None
    thumb = sent.video.thumbnail
    assert (thumb.width, thumb.height, thumb.file_size) == (64, 36, len(small))
    data = bytes(await (await bot.get_file(thumb.file_id)).download_as_bytearray())
    assert data == small and renders == []
    # Telegram ignores a thumbnail that is not a JPEG and makes its own.
    ignored = await bot.send_video(ANN, JUNK_MP4, thumbnail=b"GIF89a not a jpeg")
    assert ignored.video is not None and ignored.video.thumbnail is not None
    assert ignored.video.thumbnail.width == 320


# --- initData ----------------------------------------------------------------------------------


async def test_init_data_is_signed_as_telegram_signs_it(tg: FakeTelegram) -> None:
    init_data = tg.web_app_init_data(ANN, auth_date=1_760_000_000)
    assert checks(init_data, TOKEN)
    assert not checks(init_data, "654321:another-bot-token")
    fields = dict(parse_qsl(init_data, keep_blank_values=True))
    assert list(fields) == ["query_id", "user", "auth_date", "signature", "hash"]
    assert fields["auth_date"] == "1760000000" and len(fields["query_id"]) >= 20
    user = json.loads(fields["user"])
    assert user == {
        "id": ANN,
        "first_name": "Ann",  # as the fake knows Ann from her messages
        "last_name": "",
        "username": "ann",
        "language_code": "en",
        "allows_write_to_pm": True,
    }
    assert fields["user"].startswith('{"id":1001,"first_name":"Ann",')  # compact JSON


@pytest.mark.parametrize("field", ["query_id", "user", "auth_date", "signature", "hash"])
async def test_any_change_to_init_data_breaks_it(tg: FakeTelegram, field: str) -> None:
    fields = dict(parse_qsl(tg.web_app_init_data(ANN), keep_blank_values=True))
    changed: list[Callable[[str], str]] = [
        lambda v: v + "0",
        lambda v: v[:-1],
        lambda v: v.replace("1", "2", 1) if "1" in v else "1" + v,
    ]
    for change in changed:
        tampered = {**fields, field: change(fields[field])}
        assert not checks(_encode(tampered), TOKEN), (field, tampered[field])
    if field != "hash":
        dropped = {k: v for k, v in fields.items() if k != field}
        assert not checks(_encode(dropped), TOKEN)
        added = {**fields, "start_param": "gallery"}
        assert not checks(_encode(added), TOKEN)


async def test_init_data_for_other_users_and_links(tg: FakeTelegram) -> None:
    stranger = tg.web_app_init_data(BOB, signature=False)
    assert checks(stranger, TOKEN)
    fields = dict(parse_qsl(stranger))
    assert "signature" not in fields and json.loads(fields["user"])["first_name"] == "User 2002"
    named = tg.web_app_init_data(
        BOB,
        first_name="Bob / Боб",
        last_name='O"Neil',
        username="bob",
        language_code="ru",
        is_premium=True,
        chat_type="group",
        chat_instance="-4611686018427387904",
        start_param="album_7",
    )
    assert checks(named, TOKEN)
    fields = dict(parse_qsl(named))
    assert "query_id" not in fields  # opened from a link, not from the bot's own buttons
    assert (fields["chat_type"], fields["start_param"]) == ("group", "album_7")
    assert '"first_name":"Bob \\/ Боб"' in fields["user"]  # Telegram escapes "/" and keeps UTF-8
    user = json.loads(fields["user"])
    assert (user["first_name"], user["last_name"], user["is_premium"]) == (
        "Bob / Боб",
        'O"Neil',
        True,
    )
    assert (user["username"], user["language_code"]) == ("bob", "ru")
    with pytest.raises(ValueError, match="chat_type"):
        tg.web_app_init_data(BOB, chat_type="secret")


async def test_web_app_url_carries_the_launch_parameters(tg: FakeTelegram) -> None:
    init_data = tg.web_app_init_data(ANN)
    for theme in (LIGHT_THEME, DARK_THEME):
        url = tg.web_app_url(GALLERY, init_data, theme=theme)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == GALLERY
        params = dict(parse_qsl(parts.fragment, strict_parsing=True))
        assert params["tgWebAppData"] == init_data and checks(params["tgWebAppData"], TOKEN)
        assert (params["tgWebAppVersion"], params["tgWebAppPlatform"]) == ("8.0", "android")
        assert json.loads(params["tgWebAppThemeParams"]) == theme
        assert THEME_KEYS <= theme.keys()
    assert (LIGHT_THEME["bg_color"], DARK_THEME["bg_color"]) == ("#ffffff", "#212d3b")
    assert "tgWebAppThemeParams=%7B%22bg_color%22%3A%22%23ffffff%22" in tg.web_app_url(
        GALLERY, init_data
    )
    with pytest.raises(ValueError, match="fragment"):
        tg.web_app_url(GALLERY + "#top", init_data)


def _encode(fields: dict[str, str]) -> str:
    return urlencode(fields, quote_via=quote)
