"""The gallery Mini App's server side: who may ask (Telegram's initData, checked as Telegram
says), what they see (their own videos, in the chats they are still in), and its actions (Send
to chat, Again, Extend) done as the chat does them. Driven over HTTP against the real bot's web
server, with the fake Bot API and the emulator; each end-to-end test on SQLite and PostgreSQL.
The page itself is tested in a real browser (tests/test_gallery_browser.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.domain.model import JobState
from bot.web.init_data import AuthProblem, InitDataChecker, WebAppUser
from playground.bot_api.protocol import DEFAULT_TOKEN
from playground.bot_api.web_apps import init_data_hash
from playground.fake_telegram import FakeTelegram
from tests.test_history import GROUP, IN_GROUP, OTHER_USER, USER, creates, make_videos, used

MAX_AGE = 3600.0


def init_data(
    user_id: int = USER,
    *,
    token: str = DEFAULT_TOKEN,
    auth_date: float | None = None,
    language_code: str | None = None,
    **extra: str,
) -> str:
    """initData for checks without a running fake (`tg.web_app_init_data` where there is one),
    signed as Telegram signs it."""
    user: dict[str, Any] = {"id": user_id, "first_name": f"User {user_id}"}
    if language_code:
        user["language_code"] = language_code
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":")),
        "auth_date": str(int(auth_date if auth_date is not None else time.time())),
        **extra,
    }
    return urlencode({**fields, "hash": init_data_hash(fields, token)})


# --- initData, on its own -----------------------------------------------------------------------

CHECKER = InitDataChecker.for_token(DEFAULT_TOKEN, max_age=MAX_AGE)


@pytest.mark.unit
def test_telegrams_signature_proves_the_user() -> None:
    user = CHECKER.user_of(f"tma {init_data(USER, language_code='ru')}")
    assert user == WebAppUser(id=USER, first_name=f"User {USER}", language_code="ru")
    # Fields the bot does not use are signed too, and pass.
    assert isinstance(CHECKER.check(init_data(signature="abc", chat_type="sender")), WebAppUser)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, AuthProblem.MISSING),
        ("", AuthProblem.MISSING),
        ("tma ", AuthProblem.MISSING),
        (f"Bearer {init_data()}", AuthProblem.MISSING),
        (f"tma {init_data(token='654321:another-bot')}", AuthProblem.INVALID),
        (f"tma {init_data().replace('User+1001', 'User+1002')}", AuthProblem.INVALID),
        (f"tma {init_data().replace(str(USER), str(OTHER_USER))}", AuthProblem.INVALID),
        (f"tma {init_data()}&hash=00", AuthProblem.INVALID),  # a field twice
        (f"tma {init_data().split('&hash=')[0]}", AuthProblem.INVALID),  # unsigned
        (f"tma {init_data()}&x=é", AuthProblem.INVALID),
        (f"tma {init_data()}{'&x=1' * 2000}", AuthProblem.INVALID),
        (f"tma {init_data(auth_date=time.time() - MAX_AGE - 5)}", AuthProblem.STALE),
        (f"tma {init_data(auth_date=time.time() + 3600)}", AuthProblem.STALE),
    ],
)
def test_anything_else_is_refused_and_says_why(header: str | None, problem: AuthProblem) -> None:
    assert CHECKER.user_of(header) is problem


@pytest.mark.unit
def test_a_signed_init_data_without_a_user_is_refused() -> None:
    fields = {"auth_date": str(int(time.time())), "query_id": "x"}
    signed = urlencode({**fields, "hash": init_data_hash(fields, DEFAULT_TOKEN)})
    assert CHECKER.check(signed) is AuthProblem.INVALID


# --- end to end ---------------------------------------------------------------------------------


class Page:
    """What the gallery page does over HTTP, as one user (or with any Authorization)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, init_data: str) -> None:
        self.session, self.base = session, base
        self.authorization = f"tma {init_data}"

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.session.get(
            f"{self.base}{path}", params=params, headers={"Authorization": self.authorization}
        ) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(
            f"{self.base}{path}", json=body, headers={"Authorization": self.authorization}
        ) as response:
            return response.status, await response.json()

    async def videos(self, **params: Any) -> list[dict[str, Any]]:
        status, answer = await self.get("/app/api/videos", **params)
        assert status == 200, answer
        return list(answer["videos"])

    async def act(self, job_id: int, action: str, request: str, **more: Any) -> tuple[int, Any]:
        return await self.post(f"/app/api/videos/{job_id}/{action}", {"request": request, **more})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def gallery_bot(start_bot: Callable[..., Any], **overrides: Any) -> Any:
    settings = {"daily_quota": 0, "max_active_per_user": 10, "gallery_auth_max_age": MAX_AGE}
    return await start_bot(public=True, **{**settings, **overrides})


def page_of(
    bot: Any, tg: FakeTelegram, session: aiohttp.ClientSession, user_id: int = USER
) -> Page:
    """The gallery as `user_id` opened it in their Telegram app."""
    base = f"http://127.0.0.1:{bot.runtime.web.port}"
    return Page(session, base, tg.web_app_init_data(user_id))


def prompts(videos: list[dict[str, Any]]) -> list[str]:
    return [video["prompt"] for video in videos]


async def test_a_user_sees_their_own_videos_from_every_chat_they_are_in_newest_first(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    await make_videos(bot, tg, "a red fox", "a blue whale", user_id=USER)
    await make_videos(bot, tg, "a fox in the group", user_id=USER, **IN_GROUP)
    await make_videos(bot, tg, "their group fox", user_id=OTHER_USER, **IN_GROUP)
    page = page_of(bot, tg, session)

    status, me = await page.get("/app/api/me")
    assert status == 200
    assert me["user"] == {"id": USER, "first_name": "Ann"}
    assert me["chats"] == [
        {"id": USER, "title": "Private chat", "kind": "private"},
        {"id": GROUP, "title": f"Test group {GROUP}", "kind": "group"},
    ]
    assert me["texts"]["gallery_send"] == "Send to chat"

    videos = await page.videos()
    assert prompts(videos) == ["a fox in the group", "a blue whale", "a red fox"]
    first = await bot.runtime.repository.get_job(1)
    video = videos[-1]
    assert video["id"] == 1 and video["generation_id"] == first.remote_id
    assert video["chat_id"] == USER and video["kind"] == "text" and video["can_extend"] is True
    assert video["details"] == "16:9" and video["aspect_ratio"] == "16:9"
    assert video["video"].startswith("/media/") and video["video"].endswith(".mp4")
    assert prompts(await page.videos(chat=GROUP)) == ["a fox in the group"]
    assert prompts(await page.videos(chat=USER)) == ["a blue whale", "a red fox"]

    # The other user sees only theirs, though both are in the group.
    other = page_of(bot, tg, session, OTHER_USER)
    assert prompts(await other.videos()) == ["their group fox"]
    status, answer = await other.get("/app/api/videos", chat=USER)
    assert status == 404 and answer["error"] == "gallery_chat_unknown"


async def test_a_video_plays_from_telegram_through_a_signed_link_in_ranges(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    await make_videos(bot, tg, "a red fox", user_id=USER)
    page = page_of(bot, tg, session)
    (video,) = await page.videos()
    job = await bot.runtime.repository.get_job(video["id"])
    stored = tg.file(job.video_file_id)
    assert stored is not None and stored.data is not None
    uploaded = stored.data
    url = f"{page.base}{video['video']}"
    async with session.get(url) as response:
        assert response.status == 200 and response.content_type == "video/mp4"
        assert await response.read() == uploaded
        assert response.headers["Accept-Ranges"] == "bytes"
    async with session.get(url, headers={"Range": "bytes=4-11"}) as response:
        assert response.status == 206 and await response.read() == uploaded[4:12] == b"ftypisom"
        assert response.headers["Content-Range"] == f"bytes 4-11/{len(uploaded)}"
    async with session.get(url, headers={"Range": "bytes=-4"}) as response:
        assert response.status == 206 and await response.read() == uploaded[-4:]
    async with session.get(url, headers={"Range": f"bytes={len(uploaded)}-"}) as response:
        assert response.status == 416
    async with session.get(url, headers={"Range": "bytes=0-1,4-5"}) as response:
        assert response.status == 200  # several ranges: the whole file, as HTTP allows
    # The thumbnail Telegram made of the sent video, through a signed link too.
    assert job.video_thumbnail_file_id == stored.thumbnail["file_id"]
    async with session.get(f"{page.base}{video['thumbnail']}") as response:
        assert response.status == 200 and response.content_type == "image/jpeg"
        assert (await response.read()).startswith(b"\xff\xd8\xff")
    # The link is the bot's own; no token anywhere in what the page got.
    assert DEFAULT_TOKEN.split(":")[1] not in json.dumps(await page.videos())
    forged = url.replace(".mp4", "x.mp4")
    async with session.get(forged) as response:
        assert response.status == 404


async def test_send_to_chat_resends_by_file_id_for_nothing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    await make_videos(bot, tg, "a fox in the group", user_id=USER, **IN_GROUP)
    tg.user_sends("/start", user_id=USER)  # the private chat the gallery was opened from
    await tg.wait_for_call("sendMessage", lambda c: int(c.params["chat_id"]) == USER)
    page = page_of(bot, tg, session)
    (video,) = await page.videos()
    posts, quota, before = len(creates(emulator)), await used(bot), len(tg.videos())

    status, answer = await page.act(video["id"], "send", "req-send-0001")
    assert status == 200 and answer == {"message": "Sent to your chat with the bot."}
    job = await bot.runtime.repository.get_job(video["id"])
    call = tg.calls_of("sendVideo")[-1]
    assert call.params["video"] == job.video_file_id
    assert int(call.params["chat_id"]) == USER  # the user's private chat, not the group
    assert "reply_parameters" not in call.params
    assert len(tg.videos()) == before + 1
    assert len(creates(emulator)) == posts and await used(bot) == quota


async def test_again_and_extend_start_jobs_in_the_private_chat_once_per_request(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot, daily_quota=3)
    await make_videos(bot, tg, "a red fox", user_id=USER)
    page = page_of(bot, tg, session)
    (video,) = await page.videos()
    repository = bot.runtime.repository

    status, answer = await page.act(video["id"], "again", "req-again-001")
    assert status == 200 and answer["message"].startswith("Started")
    again = await repository.get_job(2)
    assert again.prompt == "a red fox" and again.chat_id == USER and again.request_message_id == 0
    # A retried request (same id) is the same job: no second charge.
    assert (await page.act(video["id"], "again", "req-again-001"))[0] == 200
    assert await repository.get_job(3) is None and await used(bot) == 2
    # A second press moments later (a new id) is the same request too, as the chat's button.
    status, answer = await page.act(video["id"], "again", "req-again-001b")
    assert status == 200 and answer["message"].startswith("Already on its way")
    assert await repository.get_job(3) is None and await used(bot) == 2

    status, answer = await page.act(video["id"], "extend", "req-extend-01", prompt="it jumps")
    assert status == 200, answer
    extension = await repository.get_job(3)
    assert extension.prompt == "it jumps" and extension.parent_job_id == video["id"]
    statuses = [c for c in tg.calls_of("sendMessage") if int(c.params["chat_id"]) == USER]
    assert "reply_parameters" not in statuses[-1].params  # no message of theirs to reply to
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=20)  # both arrive in the chat

    # Out of quota: refused in words, nothing started.
    status, answer = await page.act(video["id"], "extend", "req-extend-03", prompt="it flies")
    assert status == 409 and answer["error"] == "refused" and answer["message"]
    assert await repository.get_job(4) is None

    status, answer = await page.act(video["id"], "extend", "req-extend-02", prompt="  ")
    assert status == 400 and answer["error"] == "gallery_extend_no_prompt"


async def test_others_videos_and_chats_one_left_are_not_found(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    await make_videos(bot, tg, "mine", user_id=USER)
    await make_videos(bot, tg, "mine in the group", user_id=USER, **IN_GROUP)
    await make_videos(bot, tg, "theirs", user_id=OTHER_USER)
    tg.set_chat_member(GROUP, USER, "left")
    page = page_of(bot, tg, session)
    videos_sent = len(tg.videos())

    status, me = await page.get("/app/api/me")
    assert [chat["id"] for chat in me["chats"]] == [USER]
    assert prompts(await page.videos()) == ["mine"]
    assert (await page.get("/app/api/videos", chat=GROUP))[0] == 404
    for job_id in (2, 3, 99):  # in a chat they left; someone else's; none at all
        status, answer = await page.act(job_id, "send", "req-send-0002")
        assert status == 404 and answer["error"] == "gallery_not_found", job_id
    assert len(tg.videos()) == videos_sent


async def test_a_request_that_does_not_prove_a_user_gets_nothing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    await make_videos(bot, tg, "mine", user_id=USER)
    page = page_of(bot, tg, session)
    cases = {
        "": "gallery_auth_missing",
        f"tma {tg.web_app_init_data(USER, first_name='Admin')}".replace("Admin", "Admiral"): (
            "gallery_auth_invalid"
        ),
        f"tma {tg.web_app_init_data(USER, auth_date=int(time.time() - MAX_AGE - 60))}": (
            "gallery_auth_stale"
        ),
    }
    for authorization, problem in cases.items():
        page.authorization = authorization
        for path in ("/app/api/me", "/app/api/videos"):
            status, answer = await page.get(path)
            assert status == 401 and answer["error"] == problem, (authorization, path)
            assert answer["message"]
        status, answer = await page.act(1, "send", "req-send-0003")
        assert status == 401 and answer["error"] == problem
    assert len(tg.videos()) == 1


async def test_a_banned_user_gets_nothing_and_bad_requests_are_told_apart(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    await make_videos(bot, tg, "mine", user_id=USER)
    page = page_of(bot, tg, session)
    for bad in ({"offset": "-1"}, {"offset": "x"}, {"offset": "100001"}):
        assert (await page.get("/app/api/videos", **bad))[0] == 400, bad
    assert (await page.get("/app/api/videos", chat="12x"))[0] == 404
    for body in ({}, {"request": "short"}, {"request": "x" * 65}, [], {"request": "bad id!!"}):
        status, answer = await page.post("/app/api/videos/1/send", body)
        assert status == 400 and answer["error"] == "gallery_bad_request", body
    assert (await page.act(1, "delete", "req-delete-01"))[0] == 404

    await bot.runtime.repository.set_banned(USER, True, by=None, now=time.time())
    status, answer = await page.get("/app/api/me")
    assert status == 403 and answer["error"] == "gallery_not_allowed"
    assert (await page.act(1, "send", "req-send-0004"))[0] == 403
    assert len(tg.videos()) == 1


async def test_answers_carry_a_content_security_policy_and_are_not_cached(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    page = page_of(bot, tg, session)
    for authorization in (page.authorization, ""):
        async with session.get(
            f"{page.base}/app/api/me", headers={"Authorization": authorization}
        ) as response:
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with session.get(f"{page.base}/app", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/app/"
    for name in ("../server.py", "secret.txt", "%2e%2e%2fgallery.py", "gallery.py"):
        async with session.get(f"{page.base}/app/{name}") as response:
            assert response.status == 404, name


async def test_without_a_public_url_there_is_no_gallery(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await start_bot(port=0)
    async with session.get(f"http://127.0.0.1:{bot.runtime.web.port}/app/api/me") as response:
        assert response.status == 404


async def test_a_story_is_one_video_in_the_gallery(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    bot = await gallery_bot(start_bot)
    tg.user_sends("/story a boat | it sails", user_id=USER)
    await tg.wait_for_video(timeout=30)
    for _ in range(200):
        story = await bot.runtime.repository.get_job(1)
        if story.state is JobState.DELIVERED:
            break
        await asyncio.sleep(0.02)
    videos = await page_of(bot, tg, session).videos()
    assert [(v["id"], v["kind"]) for v in videos] == [(1, "story")]


# --- how Telegram opens it ----------------------------------------------------------------------

HTTPS_URL = "https://videos.example.org"


async def tg_set_menu_button(tg: FakeTelegram, button: dict[str, Any]) -> None:
    """What an operator's own tool would do: set the bot's default menu button."""
    async with aiohttp.ClientSession() as client:
        url = f"{tg.root}/bot{DEFAULT_TOKEN}/setChatMenuButton"
        async with client.post(url, json={"menu_button": button}) as response:
            assert response.status == 200, await response.text()


async def test_an_https_public_url_sets_the_gallery_as_every_private_chats_menu_button(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await gallery_bot(start_bot, public_url=HTTPS_URL)
    (call,) = tg.calls_of("setChatMenuButton")
    assert call.ok and "chat_id" not in call.params
    assert tg.menu_button(USER) == {
        "type": "web_app",
        "text": "🎞 Gallery",
        "web_app": {"url": f"{HTTPS_URL}/app/"},
    }


async def test_the_menu_button_goes_back_to_the_commands_when_the_gallery_cannot_open(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await gallery_bot(start_bot, public_url=HTTPS_URL)
    await bot.stop()
    await gallery_bot(start_bot)  # PUBLIC_URL is http now: Telegram would not open the gallery
    assert tg.menu_button(USER) == {"type": "commands"}
    # An operator's own web app (not the gallery) is left alone.
    await tg_set_menu_button(
        tg, {"type": "web_app", "text": "Shop", "web_app": {"url": "https://shop.example/"}}
    )
    await start_bot()
    assert tg.menu_button(USER)["text"] == "Shop"
    assert len(tg.calls_of("setChatMenuButton")) == 3  # ours, our reset, the operator's


async def test_history_offers_the_gallery_in_a_private_chat_only(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await gallery_bot(start_bot, public_url=HTTPS_URL)
    await make_videos(bot, tg, "mine", user_id=USER)
    await make_videos(bot, tg, "mine in the group", user_id=USER, **IN_GROUP)

    def gallery_buttons(chat_id: int) -> list[dict[str, Any]]:
        calls = [c for c in tg.calls_of("sendMessage") if int(c.params["chat_id"]) == chat_id]
        rows = calls[-1].params["reply_markup"]["inline_keyboard"]
        return [button for row in rows for button in row if "web_app" in button]

    tg.user_sends("/history", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "Your videos" in c.params["text"])
    assert gallery_buttons(USER) == [
        {"text": "🎞 Open the gallery", "web_app": {"url": f"{HTTPS_URL}/app/"}}
    ]
    tg.user_sends("/history@LumaTestBot", user_id=USER, chat_id=GROUP, chat_type="group")
    await tg.wait_for_call(
        "sendMessage", lambda c: int(c.params["chat_id"]) == GROUP and "videos" in c.params["text"]
    )
    assert gallery_buttons(GROUP) == []  # Telegram refuses web_app buttons outside private chats
    assert all(call.ok for call in tg.calls_of("sendMessage"))


async def test_a_user_hammering_the_api_is_told_to_wait(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    """Flood control holds for the gallery's API too: FLOOD_BURST requests at once, then 429
    with Retry-After (counted per user, so another user is served)."""
    bot = await gallery_bot(start_bot, flood_burst=3, flood_per_minute=6)
    page = page_of(bot, tg, session)
    statuses = [(await page.get("/app/api/me"))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    async with session.get(
        f"{page.base}/app/api/videos", headers={"Authorization": page.authorization}
    ) as response:
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 10
        answer = await response.json()
    assert answer["error"] == "gallery_too_fast" and "Wait a few seconds" in answer["message"]
    assert (await page_of(bot, tg, session, user_id=OTHER_USER).get("/app/api/me"))[0] == 200
