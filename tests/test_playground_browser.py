"""The playground's chat page in a real browser: Debian's Chromium, driven by Playwright, types
into the page the chat room serves, against the real bot, the fake Bot API and the emulator.

Playwright's async API runs on the test's own event loop, so the bot, the fake Bot API, the
emulator and the chat room keep serving while the browser waits. Without Chromium or Playwright
the tests are skipped, saying how to install them (CI's .ci/run installs both). An uncaught
script error, or anything the page's Content-Security-Policy refused, fails a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from playground.chat import ANN_ID, GROUP_ID, ChatRoom
from playground.fake_telegram import FakeTelegram
from tests.browser import collect_errors

SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SCREEN = {"width": 1280, "height": 800}
PHOTO = Path(__file__).parent.parent / "emulator" / "sample.jpg"


@pytest.fixture
async def chat_url(tg: FakeTelegram, emulator: Any) -> AsyncIterator[str]:
    """The chat room served on a free port of 127.0.0.1, as the runner serves it."""
    room = ChatRoom(tg, emulator)
    runner = web.AppRunner(room.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/"
    await room.close()
    await runner.cleanup()


@pytest.fixture
async def open_chat(browser: Any, chat_url: str) -> AsyncIterator[Callable[[], Any]]:
    """`page = await open_chat()`: the chat page at a desktop's size, loaded."""
    contexts = []
    errors: list[str] = []

    async def open_page() -> Any:
        context = await browser.new_context(viewport=SCREEN)
        contexts.append(context)
        page = await context.new_page()
        collect_errors(page, errors)
        await page.goto(chat_url)
        await page.wait_for_function("() => !document.getElementById('app').ariaBusy")
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert errors == [], errors


async def send(page: Any, words: str) -> None:
    box = page.get_by_test_id("composer-text")
    await box.fill(words)
    await box.press("Enter")
    await page.wait_for_function("() => !document.getElementById('text').value")


async def videos_playable(page: Any, count: int) -> None:
    """`count` players whose video Chromium has read (the file route, with ranges)."""
    await page.wait_for_function(
        """n => {
            const all = [...document.querySelectorAll('[data-testid=messages] video')];
            return all.length === n && all.every(v => v.readyState >= 1);
        }""",
        arg=count,
        timeout=20_000,
    )


async def bot_api(tg: FakeTelegram, method: str, **params: Any) -> dict[str, Any]:
    """Call the fake Bot API as a bot would (no bot needs to run for it)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.root}/bot{tg.token}/{method}", json=params) as resp:
            body = await resp.json()
    assert body["ok"], body
    return body["result"]


@SQLITE
async def test_videos_buttons_photos_and_the_group_from_the_page(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    open_chat: Callable[[], Any],
) -> None:
    await start_bot(public=True, daily_quota=10)
    # Long enough to see the status message before it turns into the video.
    emulator.config.queue_seconds, emulator.config.dream_seconds = 0.3, 0.7
    page = await open_chat()
    assert await page.locator("#chat-title").inner_text() == tg.bot_first_name
    assert await page.get_by_test_id("chat-list").locator(".chat-item").count() == 3

    await send(page, "/video a jellyfish --ar 9:16")
    mine = page.get_by_test_id("user-message").last
    assert await mine.locator(".command").inner_text() == "/video"
    await (
        page.get_by_test_id("bot-message")
        .filter(has_text="Queued")
        .or_(page.get_by_test_id("bot-message").filter(has_text="Dreaming"))
        .first.wait_for()
    )
    await videos_playable(page, 1)
    video = page.get_by_test_id("bot-message").filter(has=page.locator("video"))
    assert "a jellyfish" in await video.inner_text()

    # Again: the same request once more, a second video in place.
    await video.get_by_role("button", name="Again").click()
    await videos_playable(page, 2)

    # Extend asks with ForceReply: the composer replies to the bot's question.
    await video.first.get_by_role("button", name="Extend").click()
    reply_bar = page.get_by_test_id("reply-bar")
    await reply_bar.wait_for()
    assert "What happens next" in await page.get_by_test_id("composer-text").get_attribute(
        "placeholder"
    )
    await send(page, "the jellyfish becomes a comet")
    await reply_bar.wait_for(state="hidden")
    await videos_playable(page, 3)
    extension = [m for m in tg.bot_messages(ANN_ID) if "comet" in m.get("caption", "")]
    assert extension and "video" in extension[0]

    # A photo as the first frame.
    await page.locator("#file-input").set_input_files(str(PHOTO))
    await page.get_by_test_id("photo-bar").locator("img").wait_for()
    await send(page, "/video a jellyfish wakes up")
    await page.get_by_test_id("user-message").locator("img[data-testid=photo]").wait_for()
    await videos_playable(page, 4)
    keyframed = [g for g in emulator.generations.values() if g.image_urls]
    assert len(keyframed) == 1 and len(keyframed[0].image_urls) == 1

    # The group: the command list fills in /video@<bot>.
    await page.get_by_test_id("chat-group").click()
    box = page.get_by_test_id("composer-text")
    await box.fill("/vid")
    await page.locator(".command-item").first.wait_for()
    await box.press("Tab")
    assert await box.input_value() == f"/video@{tg.bot_username} "
    await box.press_sequentially("a red kite over the sea")
    await box.press("Enter")
    await videos_playable(page, 1)
    sent = [m for m in tg.messages(GROUP_ID) if m.get("from", {}).get("id") == ANN_ID]
    assert sent[0]["text"] == f"/video@{tg.bot_username} a red kite over the sea"


async def test_text_entities_links_and_senders_on_the_page(
    tg: FakeTelegram, emulator: Any, open_chat: Callable[[], Any]
) -> None:
    page = await open_chat()
    markup = {
        "inline_keyboard": [[{"text": "Buy", "url": f"https://t.me/{tg.bot_username}?start=buy"}]]
    }
    await bot_api(
        tg,
        "sendMessage",
        chat_id=ANN_ID,
        parse_mode="HTML",
        text='<b>bold</b> <i>it</i> <a href="https://example.com/x">link</a> '
        '<tg-spoiler>secret</tg-spoiler> <code>x = 1</code> <a href="javascript:alert(1)">js</a>',
        reply_markup=markup,
    )
    await bot_api(tg, "sendMessage", chat_id=ANN_ID, text='<img src=x onerror="alert(1)"> 😀 ok')
    bubbles = page.get_by_test_id("bot-message")
    await bubbles.nth(1).wait_for()
    first = bubbles.nth(0).get_by_test_id("text")
    assert await first.locator("strong").inner_text() == "bold"
    assert await first.locator("em").inner_text() == "it"
    assert await first.locator("a").get_attribute("href") == "https://example.com/x"
    assert await first.locator("a").count() == 1  # the javascript: link is no link
    assert await first.locator("code").inner_text() == "x = 1"
    spoiler = first.locator(".spoiler")
    await spoiler.click()
    assert "revealed" in (await spoiler.get_attribute("class") or "")
    second = bubbles.nth(1).get_by_test_id("text")
    assert await second.inner_text() == '<img src=x onerror="alert(1)"> 😀 ok'
    assert await page.locator("[data-testid=messages] img").count() == 0

    # The t.me deep link button sends /start <param> in the private chat, as Telegram does.
    await bubbles.nth(0).get_by_role("button", name="Buy").click()
    await page.get_by_test_id("user-message").filter(has_text="/start buy").wait_for()
    assert tg.messages(ANN_ID)[-1]["text"] == "/start buy"

    # In the group, as the group (an anonymous admin): on the right, as the group.
    await page.get_by_test_id("chat-group").click()
    await page.get_by_test_id("send-as").select_option("group")
    await send(page, "hello from the admins")
    mine = page.locator(".row.out").filter(has_text="hello from the admins")
    await mine.wait_for()
    assert tg.messages(GROUP_ID)[-1]["sender_chat"]["id"] == GROUP_ID
    assert await page.locator("#attach").is_disabled()  # photos as a chat: not here

    # The panel arms a failure and shows it; Disarm forgets it.
    panel = page.get_by_test_id("emulator-panel")
    await panel.get_by_role("button", name="Fails moderation").click()
    await panel.get_by_test_id("armed").filter(has_text="moderation").wait_for()
    assert len(emulator.scripted) == 1
    await panel.get_by_role("button", name="Disarm").click()
    await panel.get_by_test_id("armed").filter(has_text="Nothing armed").wait_for()
    assert emulator.scripted == ()
