"""The gallery Mini App in a real browser: Debian's Chromium, driven by Playwright, opens the
page the bot serves at PUBLIC_URL/app/ as Telegram would (initData and the theme in the URL's
fragment) at a phone's size, against the real bot, the fake Bot API and the emulator.

Playwright's async API runs on the test's own event loop, so the bot, the fake Bot API and the
emulator keep serving while the browser waits. Without Chromium or Playwright the tests are
skipped, saying how to install them (CI's .ci/run installs both). tests/gallery_screenshots.py
uses the same helpers to take the README's pictures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.texts import strip_html, text
from bot.web import gallery
from playground.fake_telegram import DARK_THEME, LIGHT_THEME, Call, FakeTelegram
from tests.browser import collect_errors
from tests.test_history import GROUP, IN_GROUP, USER, creates, make_videos

PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """`page = await phone(url)`: a new phone-sized page opened at `url`; its requests' URLs
    are in `page.requested`. An uncaught script error, or anything the page's
    Content-Security-Policy refused (an inline style, say), fails the test."""
    contexts = []
    errors: list[str] = []

    async def open_page(url: str) -> Any:
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
        contexts.append(context)
        page = await context.new_page()
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        collect_errors(page, errors)
        await page.goto(url)
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert errors == [], errors


def catalog(key: str) -> str:
    """A text of the page as the API hands it (English)."""
    return strip_html(text(key, "en"))


def gallery_url(
    tg: FakeTelegram, bot: Any, theme: dict[str, str] = LIGHT_THEME, **login: Any
) -> str:
    """The gallery's address as USER's Telegram client opens it: initData signed with the bot's
    token (`login` changes its fields) and the theme, in the fragment."""
    data = tg.web_app_init_data(USER, **login)
    return tg.web_app_url(f"{bot.runtime.settings.public_url}/app/", data, theme=theme)


async def gallery_with_two_videos(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> tuple[Any, list[Any]]:
    """A bot with PUBLIC_URL and two delivered videos of USER's; their jobs, newest first."""
    bot = await start_bot(public=True, daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, "a glass whale at dawn", "a paper boat in the rain", user_id=USER)
    entries, _ = await bot.runtime.repository.history(USER, chat_id=None, offset=0, limit=10)
    jobs = [await bot.runtime.repository.get_job(entry.job_id) for entry in entries]
    return bot, jobs


async def tiles(page: Any, count: int) -> Any:
    locator = page.get_by_test_id("video-tile")
    await page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=video-tile]').length === n", arg=count
    )
    return locator


async def test_the_gallery_shows_the_users_videos_and_sends_one_to_the_chat(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    bot, jobs = await gallery_with_two_videos(tg, start_bot)
    newest, oldest = jobs
    page = await phone(gallery_url(tg, bot))

    shown = await tiles(page, 2)
    assert await shown.evaluate_all("tiles => tiles.map(t => t.dataset.id)") == [
        str(newest.id),
        str(oldest.id),
    ]
    assert await shown.nth(0).locator(".prompt").inner_text() == "a paper boat in the rain"
    assert await shown.nth(1).locator(".prompt").inner_text() == "a glass whale at dawn"
    assert await page.locator("h1").inner_text() == catalog("gallery_title")
    assert oldest.remote_id in await shown.nth(1).inner_text()
    # Thumbnails (the first frame Telegram made) arrive through the bot's signed /media links,
    # which the page's Content-Security-Policy allows; each is described by its prompt.
    pictures = page.locator("[data-testid=video-tile] img")
    assert await pictures.evaluate_all("all => all.map(i => i.alt)") == [
        "a paper boat in the rain",
        "a glass whale at dawn",
    ]
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.media img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    # The theme Telegram passed is the page's, as CSS properties.
    bg = await page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--tg-theme-bg-color')"
    )
    assert bg.strip() == LIGHT_THEME["bg_color"]

    posts = len(creates(emulator))
    before = len(tg.calls_of("sendVideo"))
    await shown.nth(1).get_by_test_id("send").click()
    sent: Call = await tg.wait_until(
        lambda: next(iter(tg.calls_of("sendVideo")[before:]), None), timeout=10
    )
    assert str(sent.params["chat_id"]) == str(USER)
    assert sent.params["video"] == oldest.video_file_id
    toast = page.get_by_test_id("toast")
    await toast.filter(has_text=catalog("gallery_sent")).wait_for()
    # Sending again by file_id costs nothing: no new request to the video API.
    assert len(creates(emulator)) == posts


async def test_extend_and_again_start_new_videos_in_the_users_chat(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    bot, (newest, oldest) = await gallery_with_two_videos(tg, start_bot)
    page = await phone(gallery_url(tg, bot, DARK_THEME))
    shown = await tiles(page, 2)

    def status_message(since: int) -> Callable[[], Call | None]:
        return lambda: next(
            (
                call
                for call in tg.calls_of("sendMessage")[since:]
                if str(call.params["chat_id"]) == str(USER) and "Queued" in call.params["text"]
            ),
            None,
        )

    tile = shown.nth(1)
    await tile.get_by_test_id("extend").click()
    await tile.locator("textarea").fill("the whale dives into the sea")
    posts, messages = len(creates(emulator)), len(tg.calls_of("sendMessage"))
    await tile.get_by_test_id("extend-start").click()
    await tg.wait_until(status_message(messages))
    # The status message comes first; the request to the video API right after it.
    await tg.wait_until(lambda: len(creates(emulator)) > posts)
    extension = creates(emulator)[posts].json
    assert extension["prompt"] == "the whale dives into the sea"
    assert extension["keyframes"] == {"frame0": {"type": "generation", "id": oldest.remote_id}}
    await page.get_by_test_id("toast").filter(has_text=catalog("gallery_started")).wait_for()
    await tile.locator("form").wait_for(state="hidden")  # done: the form closes

    posts, messages = len(creates(emulator)), len(tg.calls_of("sendMessage"))
    await shown.nth(0).get_by_test_id("again").click()
    await tg.wait_until(status_message(messages))
    await tg.wait_until(lambda: len(creates(emulator)) > posts)
    assert creates(emulator)[posts].json["prompt"] == newest.prompt


async def test_a_tampered_or_stale_login_shows_the_error_and_loads_no_videos(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    bot, _ = await gallery_with_two_videos(tg, start_bot)
    good = gallery_url(tg, bot)
    # One character of the user JSON changed: another user's id under the same signature.
    tampered = good.replace(f"%253A{USER}%252C", f"%253A{USER + 1}%252C", 1)
    assert tampered != good
    max_age = bot.runtime.settings.gallery_auth_max_age
    stale = gallery_url(tg, bot, auth_date=int(time.time() - max_age - 60))
    cases = [
        (tampered, catalog("gallery_auth_invalid")),
        (stale, catalog("gallery_auth_stale")),
        # Opened in a plain browser: no initData, so no request to the API at all.
        (good.split("#")[0], "Open this page from the bot in Telegram."),
    ]
    for url, message in cases:
        page = await phone(url)
        error = page.get_by_test_id("error")
        await error.wait_for()
        assert (await error.inner_text()).strip() == message
        assert await page.get_by_test_id("video-tile").count() == 0
        assert not any("/app/api/videos" in requested for requested in page.requested)
        if "#" not in url:
            assert not any("/app/api/" in requested for requested in page.requested)


async def test_tapping_a_thumbnail_plays_the_video_in_place(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    bot, _ = await gallery_with_two_videos(tg, start_bot)
    page = await phone(gallery_url(tg, bot))
    tile = (await tiles(page, 2)).nth(0)
    await tile.get_by_role("button", name=catalog("gallery_play")).click()
    player = tile.locator("video.player")
    await player.wait_for()
    assert await player.evaluate("v => v.controls && v.src.includes('/media/')")
    # The bot serves the video in ranges: the browser reads enough of it to show a frame.
    await page.wait_for_function(
        "() => document.querySelector('video.player').readyState >= 2", timeout=10_000
    )


async def test_a_login_that_goes_stale_while_the_page_is_open_ends_in_the_error_screen(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    bot, _ = await gallery_with_two_videos(tg, start_bot)
    max_age = bot.runtime.settings.gallery_auth_max_age
    # Valid for five more seconds: long enough to load the page, not to press a button.
    auth_date = int(time.time() - max_age + 5)
    page = await phone(gallery_url(tg, bot, auth_date=auth_date))
    shown = await tiles(page, 2)
    await asyncio.sleep(max(0.0, auth_date + max_age + 1.5 - time.time()))
    sends = len(tg.calls_of("sendVideo"))
    await shown.nth(0).get_by_test_id("send").click()
    error = page.get_by_test_id("error")
    await error.wait_for()
    assert (await error.inner_text()).strip() == catalog("gallery_auth_stale")
    assert not await page.get_by_test_id("video-tile").first.is_visible()
    assert len(tg.calls_of("sendVideo")) == sends


async def test_the_chat_chips_filter_the_videos(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True, daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, "a fox at home", user_id=USER)
    await make_videos(bot, tg, "a fox in the group", user_id=USER, **IN_GROUP)
    page = await phone(gallery_url(tg, bot))
    await tiles(page, 2)
    chips = page.get_by_test_id("chat-filter").get_by_role("button")
    group, private = f"Test group {GROUP}", catalog("gallery_private_chat")
    names = await chips.all_inner_texts()
    assert names[0] == catalog("gallery_all_chats") and sorted(names[1:]) == [private, group]
    for name, prompt in ((group, "a fox in the group"), (private, "a fox at home")):
        chip = chips.filter(has_text=name)
        await chip.click()
        shown = await tiles(page, 1)
        assert await shown.locator(".prompt").inner_text() == prompt
        assert await chip.get_attribute("aria-pressed") == "true"
    assert any(f"chat={GROUP}" in requested for requested in page.requested)
    await chips.nth(0).click()
    await tiles(page, 2)


async def test_a_refused_action_is_told_in_the_toast_and_the_page_stays(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], phone: Callable[..., Any]
) -> None:
    # Both of today's credits spent on the two videos: Again is refused, in the bot's words.
    bot = await start_bot(public=True, daily_quota=2, max_active_per_user=10)
    await make_videos(bot, tg, "first", "second", user_id=USER)
    page = await phone(gallery_url(tg, bot))
    again = (await tiles(page, 2)).nth(0).get_by_test_id("again")
    posts = len(creates(emulator))
    async with page.expect_response(lambda response: "/again" in response.url) as answered:
        await again.click()
    answer = await answered.value
    refusal = await answer.json()
    assert answer.status == 409 and refusal["error"] == "refused"
    await page.locator(".toast.show[data-kind=error]").wait_for()
    assert (await page.get_by_test_id("toast").inner_text()).strip() == refusal["message"]
    assert await again.is_enabled()
    assert await page.get_by_test_id("error").is_hidden()
    assert len(creates(emulator)) == posts


async def test_the_page_tells_telegram_it_is_ready_and_follows_its_theme(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], browser: Any
) -> None:
    bot = await start_bot(public=True)
    context = await browser.new_context(viewport=PHONE)
    # Telegram's mobile apps inject this bridge before the page's scripts run.
    await context.add_init_script(
        "window.told = [];"
        "window.TelegramWebviewProxy = {postEvent: (type, data) => told.push([type, data])};"
    )
    page = await context.new_page()
    try:
        await page.goto(gallery_url(tg, bot, LIGHT_THEME))
        await page.locator("#empty").wait_for()  # no videos yet
        told = [event for event, _ in await page.evaluate("() => window.told")]
        assert told[:2] == ["web_app_ready", "web_app_expand"]
        assert await page.evaluate("() => document.documentElement.dataset.theme") == "light"

        def theme(params: dict[str, Any]) -> Any:
            return page.evaluate(
                "params => {"
                " Telegram.WebView.receiveEvent('theme_changed', {theme_params: params});"
                " const style = getComputedStyle(document.documentElement);"
                " return [document.documentElement.dataset.theme,"
                " style.getPropertyValue('--tg-theme-bg-color'),"
                " style.getPropertyValue('--tg-theme-text-color')]; }",
                params,
            )

        assert await theme(DARK_THEME) == ["dark", DARK_THEME["bg_color"], "#ffffff"]
        # Only #rgb and #rrggbb colours are taken: anything else is someone else's CSS.
        hostile = {"bg_color": "#fff", "text_color": "red; background: url(//x)"}
        assert await theme(hostile) == ["light", "#fff", ""]
    finally:
        await context.close()


@pytest.mark.parametrize("observer", [True, False], ids=["scrolling", "button"])
async def test_the_next_page_loads_near_the_end_or_by_the_button(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    browser: Any,
    monkeypatch: pytest.MonkeyPatch,
    observer: bool,
) -> None:
    monkeypatch.setattr(gallery, "PAGE_SIZE", 1)  # three videos, three pages
    bot = await start_bot(public=True, daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, "one", "two", "three", user_id=USER)
    context = await browser.new_context(viewport=PHONE)
    if not observer:  # a WebView without IntersectionObserver: the button is the way on
        await context.add_init_script("delete window.IntersectionObserver;")
    page = await context.new_page()
    try:
        await page.goto(gallery_url(tg, bot))
        more = page.locator("#more")
        if observer:
            # The end of the list is in view after each page, so the next one follows.
            await tiles(page, 3)
        else:
            await tiles(page, 1)
            assert await more.inner_text() == catalog("gallery_load_more")
            await more.click()
            await tiles(page, 2)
            await more.click()
            await tiles(page, 3)
        prompts = await page.locator("[data-testid=video-tile] .prompt").all_inner_texts()
        assert prompts == ["three", "two", "one"]
        await more.wait_for(state="hidden")  # no page after the last
    finally:
        await context.close()
