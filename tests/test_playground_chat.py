"""The playground's web chat over HTTP (playground/chat.py): its state, sending as each person
and chat, the live event stream (the bot's status message, its edits and the video), buttons,
ForceReply, albums, channel posts, payments, files with ranges, and the emulator panel.

The chat talks to the fake Bot API as a Telegram app does and the real bot (``start_bot``) answers
through it; end-to-end tests run on SQLite only (the chat never touches the database)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from emulator import FAILURE_REASONS, Script
from playground.chat import (
    ANN_ID,
    BOB_ID,
    CHANNEL_ID,
    CHANNEL_TITLE,
    GROUP_ID,
    GROUP_TITLE,
    TEXTS,
    ChatRoom,
)
from playground.chat_panel import DEFAULT_TIMINGS
from playground.fake_telegram import ANONYMOUS_ADMIN_USER, CHANNEL_BOT_USER, FakeTelegram

SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
JPEG = (Path(__file__).parent.parent / "emulator" / "sample.jpg").read_bytes()
BOT = "LumaTestBot"


class Events:
    """A reader of ``GET /api/events``. ``wait`` takes the earliest event not taken yet that
    matches, so events that arrive in one scan (in whatever order) can be awaited in any order;
    every event read is kept in ``seen``."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[tuple[str, Any]] = []
        self._untaken: list[tuple[str, Any]] = []

    async def read(self) -> tuple[str, Any] | None:
        """The next event off the stream; None once the stream has ended."""
        name, data = "message", []
        while line := await self.response.content.readline():
            text = line.decode().rstrip("\n")
            if not text:
                if data:
                    event = (name, json.loads("\n".join(data)))
                    self.seen.append(event)
                    return event
                continue
            field, _, value = text.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value.removeprefix(" "))
        return None

    async def wait(
        self,
        name: str,
        check: Callable[[Any], bool] = lambda _: True,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> Any:
        """The earliest event ``name`` (``|`` between names: any of them) that passes ``check``
        and was not taken yet."""
        names = name.split("|")
        for event in self._untaken:
            if event[0] in names and check(event[1]):
                self._untaken.remove(event)
                return event[1]
        try:
            async with asyncio.timeout(timeout):
                while (event := await self.read()) is not None:
                    if event[0] in names and check(event[1]):
                        return event[1]
                    self._untaken.append(event)
        except TimeoutError:
            recent = "\n".join(f"  {n}: {json.dumps(d)[:300]}" for n, d in self.seen[-12:])
            raise AssertionError(f"no {name} event in {timeout}s; the last:\n{recent}") from None
        raise AssertionError(f"the stream ended before a {name} event")


class Page:
    """The page's side: the chat room's HTTP API, as the browser calls it."""

    def __init__(self, client: TestClient, room: ChatRoom) -> None:
        self.client, self.room = client, room

    async def state(self) -> dict[str, Any]:
        async with self.client.get("/api/state") as resp:
            assert resp.status == 200
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        async with self.client.post(path, json=body) as resp:
            assert resp.status == status, await resp.text()
            return await resp.json()

    async def send(
        self,
        text: str,
        chat_id: int = ANN_ID,
        *,
        sender: str | None = None,
        reply_to: int | None = None,
        photos: tuple[bytes, ...] = (),
        status: int = 200,
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("chat_id", str(chat_id))
        form.add_field("text", text)
        if sender:
            form.add_field("sender", sender)
        if reply_to is not None:
            form.add_field("reply_to", str(reply_to))
        for photo in photos:
            form.add_field("photo", photo, filename="photo.jpg", content_type="image/jpeg")
        async with self.client.post("/api/send", data=form) as resp:
            assert resp.status == status, await resp.text()
            return await resp.json()

    async def events(self) -> Events:
        response = await self.client.get("/api/events")
        assert response.headers["Content-Type"] == "text/event-stream"
        return Events(response)


@pytest.fixture
async def page(tg: FakeTelegram, emulator: Any) -> AsyncIterator[Page]:
    room = ChatRoom(tg, emulator)
    client = TestClient(TestServer(room.app(), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Page(client, room)
    finally:
        await room.close()
        await client.close()


def from_bot(check: Callable[[dict[str, Any]], bool] = lambda _: True) -> Callable[[Any], bool]:
    return lambda data: data["entry"]["bot"] and check(data["entry"]["message"])


def replied_to(message: dict[str, Any]) -> int | None:
    return (message.get("reply_to_message") or {}).get("message_id")


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Button text -> callback_data."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}


def data_of(message: dict[str, Any], word: str) -> str:
    return next(data for text, data in buttons(message).items() if word in text)


async def chat_member(tg: FakeTelegram, chat_id: int, user_id: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        url = f"{tg.root}/bot{tg.token}/getChatMember"
        async with http.get(url, params={"chat_id": chat_id, "user_id": user_id}) as resp:
            return (await resp.json())["result"]


# --- the state and the page ------------------------------------------------------------------


async def test_the_state_lists_the_chats_and_who_is_in_them(page: Page, tg: FakeTelegram) -> None:
    state = await page.state()
    chats = {chat["id"]: chat for chat in state["chats"]}
    assert list(chats) == [ANN_ID, GROUP_ID, CHANNEL_ID]  # Bob's chat waits for a message
    assert [c["kind"] for c in chats.values()] == ["private", "group", "channel"]
    assert chats[GROUP_ID]["title"] == GROUP_TITLE and chats[CHANNEL_ID]["title"] == CHANNEL_TITLE
    assert chats[GROUP_ID]["senders"] == ["ann", "bob", "group", "channel"]
    assert all(c["messages"] == [] and c["force_reply"] is None for c in chats.values())
    assert state["bot"] == {"id": tg.bot_id, "name": tg.bot_first_name, "username": BOT}
    assert state["identities"]["ann"] == {"id": ANN_ID, "name": "Ann", "username": "ann"}
    assert state["identities"]["bob"]["id"] == BOB_ID
    assert state["texts"] == TEXTS
    assert state["emulator"]["scripts"] == [] and state["emulator"]["requests"] == []

    ann = await chat_member(tg, GROUP_ID, ANN_ID)
    assert (ann["status"], ann["user"]["first_name"]) == ("administrator", "Ann")
    assert (await chat_member(tg, GROUP_ID, BOB_ID))["status"] == "member"
    assert (await chat_member(tg, CHANNEL_ID, ANN_ID))["status"] == "administrator"
    assert (await chat_member(tg, CHANNEL_ID, tg.bot_id))["status"] == "administrator"


async def test_the_page_is_served_with_a_strict_policy(page: Page) -> None:
    async with page.client.get("/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
        policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert '<script src="chat.js" defer></script>' in html and "style=" not in html
    for name, kind in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
        async with page.client.get(f"/{name}") as resp:
            assert (resp.status, resp.content_type) == (200, kind)
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with page.client.get("/../chat.py") as resp:
        assert resp.status == 404
    async with page.client.get("/index.py") as resp:
        assert resp.status == 404
    # Another name for this machine (DNS rebinding), or a POST from another site: refused.
    for host in ("evil.example:8080", "[bad", "127.0.0.1.evil.example"):
        async with page.client.get("/api/state", headers={"Host": host}) as resp:
            assert resp.status == 403, host
    async with page.client.get("/api/state", headers={"Host": "localhost:8080"}) as resp:
        assert resp.status == 200
    origin = {"Origin": "http://evil.example"}
    async with page.client.post("/api/send", json={"text": "hi"}, headers=origin) as resp:
        assert resp.status == 403
    assert page.room.tg.messages(ANN_ID) == []


async def test_files_are_served_with_ranges(page: Page, tg: FakeTelegram) -> None:
    video = tg.add_file(b"0123456789", "videos/clip.mp4")
    async with page.client.get(f"/api/files/{video}") as resp:
        assert (resp.status, await resp.read()) == (200, b"0123456789")
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.content_type == "video/mp4"
    for asked, status, body, given in (
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=10-", 416, b"", "bytes */10"),
    ):
        async with page.client.get(f"/api/files/{video}", headers={"Range": asked}) as resp:
            assert resp.status == status, asked
            assert resp.headers["Content-Range"] == given
            if status == 206:
                assert await resp.read() == body
    async with page.client.get(f"/api/files/{video}", headers={"Range": "lines=1"}) as resp:
        assert resp.status == 200  # a Range it can't read is ignored
    document = tg.add_file(b"<html><script>x</script>", "documents/page.html")
    async with page.client.get(f"/api/files/{document}") as resp:
        assert resp.content_type == "application/octet-stream"  # never a page of this origin
        assert resp.headers["Content-Disposition"].startswith("attachment")
    async with page.client.get("/api/files/no-such-file") as resp:
        assert resp.status == 404


async def test_what_the_page_cannot_send_is_refused(page: Page, tg: FakeTelegram) -> None:
    refusals = [
        ({"text": "  "}, "empty_message"),
        ({"text": "x" * 4097}, "text_too_long"),
        ({"text": "a", "chat_id": -5}, "unknown_chat"),
        ({"text": "a", "sender": "bob"}, "unknown_sender"),
        ({"text": "a", "reply_to": "abc"}, "bad_request"),
    ]
    for fields, key in refusals:
        chat_id = fields.pop("chat_id", ANN_ID)
        answer = await page.send(fields.pop("text"), chat_id, **fields, status=400)
        assert answer == {"error": TEXTS[key]}
    answer = await page.send("a", reply_to=99, status=400)
    assert "not found" in answer["error"]
    answer = await page.send("", photos=(b"\x89PNG not a jpeg",), status=400)
    assert answer == {"error": TEXTS["photo_not_jpeg"]}
    answer = await page.send("", photos=(JPEG, JPEG, JPEG), status=400)
    assert answer == {"error": TEXTS["too_many_photos_sent"]}
    answer = await page.send("x" * 1025, photos=(JPEG,), status=400)
    assert answer == {"error": TEXTS["caption_too_long"]}
    answer = await page.send("hi", GROUP_ID, sender="group", photos=(JPEG,), status=400)
    assert answer == {"error": TEXTS["photos_as_chat"]}
    async with page.client.post("/api/send", data="{", headers={"Content-Type": "x/y"}) as r:
        assert r.status == 400
    assert all(tg.messages(chat) == [] for chat in (ANN_ID, GROUP_ID, CHANNEL_ID))
    assert tg.pending_updates() == 0


# --- end to end with the bot -----------------------------------------------------------------


@SQLITE
async def test_a_video_goes_live_from_the_status_message_to_the_video(
    page: Page, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    events = await page.events()
    first = await events.wait("state")
    assert [c["id"] for c in first["chats"]] == [ANN_ID, GROUP_ID, CHANNEL_ID]
    # Long enough for the bot to edit its status message a few times (progress_interval 0.2 s).
    await page.post("/api/emulator/timing", {"seconds": 1.0})

    sent = await page.send("/video a jellyfish --ar 9:16")
    mine = await events.wait("message", lambda d: not d["entry"]["bot"])
    assert mine["chat_id"] == ANN_ID and mine["entry"]["message_id"] == sent["message_ids"][0]
    assert mine["entry"]["message"]["from"]["id"] == ANN_ID
    assert mine["entry"]["message"]["entities"][0]["type"] == "bot_command"
    status = await events.wait("message", from_bot())
    assert "Queued" in status["entry"]["message"]["text"]
    assert status["entry"]["message"]["reply_to_message"]["message_id"] == sent["message_ids"][0]
    assert "Cancel" in " ".join(buttons(status["entry"]["message"]))
    same = status["entry"]["message_id"]
    edited = await events.wait("edit", lambda d: d["entry"]["message_id"] == same)
    assert "text" in edited["entry"]["message"] or "video" in edited["entry"]["message"]
    video = await events.wait(
        "edit", lambda d: d["entry"]["message_id"] == same and "video" in d["entry"]["message"]
    )
    message = video["entry"]["message"]
    assert "a jellyfish" in message["caption"] and "Extend" in " ".join(buttons(message))
    assert "9:16" in message["caption"]
    ready = await events.wait("message", from_bot(lambda m: "ready" in m.get("text", "")))
    assert ready["entry"]["message"]["reply_to_message"]["message_id"] == same

    file_id = message["video"]["file_id"]
    async with page.client.get(f"/api/files/{file_id}", headers={"Range": "bytes=0-7"}) as r:
        assert r.status == 206 and await r.read() == tg.file(file_id).data[:8]  # type: ignore[index]
    state = await page.state()
    entries = state["chats"][0]["messages"]
    assert [e["message_id"] for e in entries] == sorted(e["message_id"] for e in entries)
    assert entries[1]["message"]["video"]["file_id"] == file_id  # a reload shows the video
    assert [e["bot"] for e in entries] == [False, True, True]
    assert any(r["status"] == 201 for r in state["emulator"]["requests"])


@SQLITE
async def test_buttons_force_reply_and_replies(
    page: Page, tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    events = await page.events()
    await page.send("/video a jellyfish")
    video = await events.wait("edit", lambda d: "video" in d["entry"]["message"])
    message = video["entry"]["message"]
    await bot.delivered(message)

    again = await page.post(
        "/api/press",
        {"chat_id": ANN_ID, "message_id": message["message_id"], "data": data_of(message, "Again")},
    )
    answer = await events.wait("answer", lambda d: d["query_id"] == again["query_id"])
    assert answer["show_alert"] is False
    second = await events.wait(
        "message",
        from_bot(lambda m: m["message_id"] > message["message_id"] and "Queued" in m["text"]),
    )
    await events.wait("edit", lambda d: d["entry"]["message_id"] == second["entry"]["message_id"])

    extend = data_of(message, "Extend")
    pressed = await page.post(
        "/api/press", {"chat_id": ANN_ID, "message_id": message["message_id"], "data": extend}
    )
    answer = await events.wait("answer", lambda d: d["query_id"] == pressed["query_id"])
    assert "Reply" in answer["text"]
    forced = await events.wait("force_reply", lambda d: d["force_reply"] is not None)
    prompt = forced["force_reply"]["message_id"]
    assert forced["chat_id"] == ANN_ID and forced["force_reply"]["placeholder"]
    assert ANN_ID in forced["force_reply"]["user_ids"]  # a selective prompt, asking Ann
    assert (await page.state())["chats"][0]["force_reply"]["message_id"] == prompt

    await page.send("the jellyfish turns into a comet", reply_to=prompt)
    reply = await events.wait("message", lambda d: "comet" in d["entry"]["message"]["text"])
    assert reply["entry"]["message"]["reply_to_message"]["message_id"] == prompt
    await events.wait("force_reply", lambda d: d["force_reply"] is None)  # answered
    status = await events.wait("message", from_bot(lambda m: "comet" in m.get("text", "")))
    assert "Queued" in status["entry"]["message"]["text"]

    refused = await page.post(
        "/api/press", {"chat_id": ANN_ID, "message_id": prompt, "data": "x:1"}, status=400
    )
    assert "no button" in refused["error"]


@SQLITE
async def test_an_album_of_two_photos_becomes_two_keyframes(
    page: Page, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    events = await page.events()
    sent = await page.send("/video a jellyfish morphs", photos=(JPEG, JPEG))
    assert len(sent["message_ids"]) == 2
    first, second = tg.messages(ANN_ID)
    assert first["media_group_id"] == second["media_group_id"]
    assert first["caption"] == "/video a jellyfish morphs" and "caption" not in second
    assert first["photo"][-1]["width"] == 320 and first["photo"][-1]["height"] == 180
    assert tg.file(first["photo"][-1]["file_id"]).data == JPEG  # type: ignore[union-attr]
    await events.wait("edit", lambda d: "video" in d["entry"]["message"])
    (generation,) = emulator.generations.values()
    assert len(generation.image_urls) == 2


@SQLITE
async def test_the_group_as_each_sender_and_the_channel(
    page: Page, tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    events = await page.events()
    await page.send(f"/video@{BOT} a red kite", GROUP_ID, sender="bob")
    bob = await events.wait("message", lambda d: not d["entry"]["bot"])
    message = bob["entry"]["message"]
    assert (message["chat"]["id"], message["chat"]["type"]) == (GROUP_ID, "supergroup")
    assert message["chat"]["title"] == GROUP_TITLE and message["from"]["first_name"] == "Bob"
    status = await events.wait("message", from_bot())
    assert status["chat_id"] == GROUP_ID
    await events.wait("edit", lambda d: "video" in d["entry"]["message"])

    await page.send(f"/quota@{BOT}", GROUP_ID, sender="group")
    anonymous = await events.wait("message", lambda d: not d["entry"]["bot"])
    assert anonymous["entry"]["message"]["sender_chat"]["id"] == GROUP_ID
    assert anonymous["entry"]["message"]["from"] == ANONYMOUS_ADMIN_USER
    answered = anonymous["entry"]["message_id"]
    await events.wait("message", from_bot(lambda m: replied_to(m) == answered))

    await page.send("hello from the channel", GROUP_ID, sender="channel")
    as_channel = await events.wait("message", lambda d: not d["entry"]["bot"])
    assert as_channel["entry"]["message"]["sender_chat"]["id"] == CHANNEL_ID
    assert as_channel["entry"]["message"]["from"] == CHANNEL_BOT_USER

    await page.send("/video a lighthouse at night", CHANNEL_ID)
    post = await events.wait("message", lambda d: d["chat_id"] == CHANNEL_ID)
    assert "from" not in post["entry"]["message"] and not post["entry"]["bot"]
    assert post["entry"]["message"]["sender_chat"]["id"] == CHANNEL_ID
    video = await events.wait(
        "edit", lambda d: d["chat_id"] == CHANNEL_ID and "video" in d["entry"]["message"]
    )
    assert video["entry"]["bot"]  # the bot's post, though the channel is its sender too


@SQLITE
async def test_paying_an_invoice_in_stars(
    page: Page, tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    await start_bot(credit_packs="10:100", support_contact="@LumaSupport")
    events = await page.events()
    await page.send("/buy")
    packs = await events.wait("message", from_bot(lambda m: "buy:10" in buttons(m).values()))
    pressed = await page.post(
        "/api/press",
        {"chat_id": ANN_ID, "message_id": packs["entry"]["message_id"], "data": "buy:10"},
    )
    await events.wait("answer", lambda d: d["query_id"] == pressed["query_id"])
    invoice = await events.wait("message", from_bot(lambda m: "invoice" in m))
    assert invoice["entry"]["paid"] is False
    assert invoice["entry"]["message"]["invoice"]["total_amount"] == 100

    target = {"chat_id": ANN_ID, "message_id": invoice["entry"]["message_id"]}
    assert await page.post("/api/pay", target) == {"paid": True, "error": None}
    paid = await events.wait("edit", lambda d: d["entry"]["message_id"] == target["message_id"])
    assert paid["entry"]["paid"] is True
    receipt = await events.wait("message", lambda d: "successful_payment" in d["entry"]["message"])
    assert not receipt["entry"]["bot"]
    await events.wait(
        "message", from_bot(lambda m: m["message_id"] > receipt["entry"]["message_id"])
    )
    again = await page.post("/api/pay", target, status=400)
    assert "already paid" in again["error"]
    assert tg.star_balance() == 100


@SQLITE
async def test_a_deep_link_in_bobs_name_lists_his_private_chat(
    page: Page, tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    events = await page.events()
    await page.send("/start", BOB_ID)  # what the page sends for t.me/<bot>?start=...
    listed = await events.wait("chats")
    assert [chat["id"] for chat in listed] == [ANN_ID, GROUP_ID, CHANNEL_ID, BOB_ID]
    mine = await events.wait("message", lambda d: d["chat_id"] == BOB_ID)
    assert mine["entry"]["message"]["from"]["id"] == BOB_ID
    await events.wait("message", from_bot(lambda m: m["chat"]["id"] == BOB_ID))
    assert (await page.state())["chats"][-1]["id"] == BOB_ID


async def test_deletions_reach_the_page_and_close_ends_the_stream(
    page: Page, tg: FakeTelegram
) -> None:
    events = await page.events()
    await events.wait("state")
    await page.send("soon gone")
    sent = await events.wait("message")
    tg.user_deletes(ANN_ID, sent["entry"]["message_id"])
    gone = await events.wait("delete")
    assert gone == {"chat_id": ANN_ID, "message_id": sent["entry"]["message_id"]}
    await page.room.close()
    assert await events.read() is None  # the stream ended
    async with page.client.get("/api/events") as resp:
        assert await resp.read() == b""  # closed: a reconnect gets nothing


# --- the emulator panel ----------------------------------------------------------------------


async def test_the_panel_controls_the_emulator(page: Page, emulator: Any) -> None:
    panel = await page.post("/api/emulator/timing", {"seconds": 4})
    assert (emulator.config.queue_seconds, emulator.config.dream_seconds) == (1.0, 3.0)
    assert panel["generation_seconds"] == 4 == sum(DEFAULT_TIMINGS.values())
    for bad in ({"seconds": 0.1}, {"seconds": 500}, {"seconds": "4"}, {}):
        await page.post("/api/emulator/timing", bad, status=400)

    await page.post("/api/emulator/arm", {"outcome": "moderation"})
    panel = await page.post("/api/emulator/arm", {"outcome": "stuck"})
    assert emulator.scripted == (Script.failing("moderation"), Script(stuck=True))
    assert [s["stuck"] for s in panel["scripts"]] == [False, True]
    await page.post("/api/emulator/arm", {"outcome": "nonsense"}, status=400)

    panel = await page.post("/api/emulator/fail", {"status": 503, "count": 2})
    assert panel["faults"] == [{"status": 503, "count": 2}]
    for bad in ({"status": 404}, {"status": 500, "count": 0}, {"status": 500, "count": True}):
        await page.post("/api/emulator/fail", bad, status=400)
    emulator.inject_fault(route="fetch", status=500)  # not the panel's: left alone

    panel = await page.post("/api/emulator/disarm", {})
    assert panel["scripts"] == [] and panel["faults"] == []
    assert emulator.scripted == () and [f.route for f in emulator.faults.pending] == ["fetch"]
    async with page.client.post("/api/emulator/nothing", json={}) as resp:
        assert resp.status == 404


@SQLITE
async def test_an_armed_moderation_failure_fails_the_next_video(
    page: Page, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    events = await page.events()
    await page.post("/api/emulator/arm", {"outcome": "moderation"})
    panel = await events.wait("emulator", lambda p: p["scripts"])
    assert panel["scripts"][0]["failure_reason"] == FAILURE_REASONS["moderation"]
    await page.send("/video a jellyfish")
    told = await events.wait("message|edit", from_bot(lambda m: "refunded" in m.get("text", "")))
    assert "moderation" in told["entry"]["message"]["text"]
    panel = (await page.state())["emulator"]
    assert panel["scripts"] == []  # used up
    assert panel["generations"][0]["state"] == "failed"


@SQLITE
async def test_an_armed_stuck_generation_ends_at_the_bots_deadline(
    page: Page, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(generation_timeout=1.5, media_link_ttl=60)
    events = await page.events()
    await page.post("/api/emulator/arm", {"outcome": "stuck"})
    await page.send("/video a jellyfish")
    panel = await events.wait("emulator", lambda p: p["generations"][:1])
    assert panel["generations"][0]["stuck"] and panel["generations"][0]["state"] == "queued"
    told = await events.wait("message|edit", from_bot(lambda m: "refunded" in m.get("text", "")))
    assert "too long" in told["entry"]["message"]["text"]


@SQLITE
async def test_armed_api_errors_answer_the_bots_create_requests(
    page: Page, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    events = await page.events()
    await page.post("/api/emulator/fail", {"status": 500, "count": 1})
    await page.send("/video a jellyfish")
    # Whatever the bot makes of it, the user hears the end of it: a video or a failure.
    await events.wait(
        "message|edit", from_bot(lambda m: "video" in m or "refunded" in m.get("text", ""))
    )
    panel = (await page.state())["emulator"]
    assert panel["faults"] == []  # used up
    failed = [r for r in panel["requests"] if r["status"] == 500]
    assert [r["kind"] for r in failed] == ["create"]
