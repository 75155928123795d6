"""Input no handler expects still ends in an answer, never in an exception: numbers written with
other scripts' digits or superscripts, and button presses whose message the bot cannot see
(an inline-mode message: no message at all; a deleted or too old one: an InaccessibleMessage).
Through the real application and the fake Bot API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.texts import CATALOGS
from playground.fake_telegram import Call, FakeTelegram
from tests.conftest import ready_notice

USER = 1001
ADMIN = 9009
INTERNAL_ERRORS = [catalog["internal_error"] for catalog in CATALOGS.values()]
BUTTON_GONE = "This button no longer works."
# Every kind of button data the bot makes, and some it never makes.
BUTTON_DATA = ["x:1", "a:1", "c:1", f"h:{USER}:1", "hr:1", "hx:1", "h:²:1", "x:١", "nonsense"]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno == logging.WARNING
    ]


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def answer_to(tg: FakeTelegram, query: dict) -> Call:
    return await tg.wait_for_call(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"], timeout=5
    )


async def reply_to(tg: FakeTelegram, message: dict) -> Call:
    return await tg.wait_for_call(
        "sendMessage",
        lambda c: (
            (c.params.get("reply_parameters") or {}).get("message_id") == message["message_id"]
            and str(c.params["chat_id"]) == str(message["chat"]["id"])
        ),
        timeout=5,
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (f"/grant {USER} --5", "Usage: /grant"),
        (f"/grant {USER} ²", "Usage: /grant"),
        (f"/grant {USER} 5²", "Usage: /grant"),
        (f"/grant {USER} ٣", "Usage: /grant"),  # Arabic-Indic three: int() takes it
        (f"/grant {USER} 𝟓", "Usage: /grant"),  # mathematical bold five: int() takes it too
        (f"/grant {USER} -", "Usage: /grant"),
        (f"/grant {USER} 0x10", "Usage: /grant"),
        (f"/grant {USER} 1_000", "Usage: /grant"),  # int() allows underscores between digits
        (f"/grant {USER} 99999999999999999999999", "Usage: /grant"),
        ("/grant ² 5", "I don't know ²"),
        ("/grant ١٠٠١ 5", "I don't know ١٠٠١"),
        ("/ban ١٠٠١", "I don't know ١٠٠١"),  # would ban user 1001
        ("/ban --1001", "I don't know --1001"),
        ("/unban ¹⁰⁰¹", "I don't know ¹⁰⁰¹"),
    ],
)
async def test_admin_numbers_are_ascii_digits_or_a_usage_reply(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    command: str,
    expected: str,
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    sent = tg.user_sends(command, user_id=ADMIN)
    reply = await reply_to(tg, sent)
    assert expected in reply.result["text"], reply.result["text"]
    assert errors_logged(caplog) == []
    assert not await bot.runtime.repository.is_banned(USER)


async def test_buttons_whose_message_the_bot_cannot_see_are_answered(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    video = (await tg.wait_for_video(timeout=15)).result
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.result["text"])
    posts, calls = len(creates(emulator)), len(tg.calls)

    for data in BUTTON_DATA:
        for query in (
            tg.press_inline_button("AAQCAB-inline-1", data, user_id=USER),
            tg.press_button(video, data, user_id=USER, crafted=True, inaccessible=True),
        ):
            answer = await answer_to(tg, query)
            assert answer.ok and answer.params["text"] == BUTTON_GONE, (data, query)
            assert str(answer.params.get("show_alert")).lower() == "true"

    assert errors_logged(caplog) == []
    assert len(creates(emulator)) == posts  # nothing made
    said = [c for c in tg.calls[calls:] if c.method.startswith(("send", "edit", "delete"))]
    assert said == [], [(c.method, c.params) for c in said]  # nothing sent, nothing edited


async def test_a_history_page_that_cannot_be_edited_answers_the_press(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    await start_bot(daily_quota=10)
    for index in range(6):  # two pages
        tg.user_sends(f"/video clip {index}", user_id=USER)
        await tg.wait_until(lambda i=index: len(tg.videos()) == i + 1, timeout=15)
    tg.user_sends("/history", user_id=USER)
    listing = await tg.wait_for_call("sendMessage", lambda c: "Your videos" in c.result["text"])
    # Telegram refuses to edit, e.g. a message too old to edit (48 hours in some chats).
    tg.fail_next("editMessageText", 400, "Bad Request: message can't be edited")
    query = tg.press_button(listing.result, f"h:{USER}:2", user_id=USER)
    answer = await answer_to(tg, query)
    assert answer.ok and answer.params["text"] == BUTTON_GONE
    assert errors_logged(caplog) == []


async def test_a_press_that_fails_unexpectedly_is_still_answered(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    # The last line of defence (handlers/errors.py): whatever went wrong, the button stops
    # spinning and the presser reads an apology.
    await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    video = (await tg.wait_for_video(timeout=15)).result
    await ready_notice(tg, video)  # the job is recorded as delivered, its buttons work
    tg.fail_next("sendMessage", 500, "Internal Server Error")  # the "what happens next?" prompt
    query = tg.press_button(video, "x:1", user_id=USER)
    answer = await answer_to(tg, query)
    assert answer.ok and answer.params["text"] in INTERNAL_ERRORS
    assert str(answer.params.get("show_alert")).lower() == "true"
    apologies = [c for c in tg.calls_of("sendMessage") if c.params["text"] in INTERNAL_ERRORS]
    assert apologies == []  # said on the button, not as a message in the chat


async def test_a_command_that_fails_unexpectedly_is_answered_with_an_apology(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    await start_bot()
    tg.fail_next("sendMessage", 500, "Internal Server Error")  # the answer to /quota
    asked = tg.user_sends("/quota", user_id=USER)
    apology = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and c.params["text"] in INTERNAL_ERRORS, timeout=5
    )
    assert str(apology.params["chat_id"]) == str(asked["chat"]["id"])
    assert errors_logged(caplog) == ["handlers.errors: error while handling an update"]
    assert len(tg.calls_of("sendMessage")) == 2  # the failed answer and the apology


async def test_when_the_apology_fails_too_a_warning_is_logged_and_the_bot_goes_on(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    video = (await tg.wait_for_video(timeout=15)).result
    await ready_notice(tg, video)
    tg.fail_next("sendMessage", 500, "Internal Server Error")  # the "what happens next?" prompt
    # The press is answered too late (a slow Telegram): the query is gone, and the apology too.
    tg.fail_next(
        "answerCallbackQuery",
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    with caplog.at_level(logging.WARNING):
        query = tg.press_button(video, "x:1", user_id=USER)
        refused = await answer_to(tg, query)
        assert not refused.ok and refused.params["text"] in INTERNAL_ERRORS
        warning = "handlers.errors: could not report the error to the chat"
        await tg.wait_until(lambda: any(warning == line for line in warnings_logged(caplog)))
        # Nothing crashed: the next request is handled as usual.
        asked = tg.user_sends("/help", user_id=USER)
        await reply_to(tg, asked)
    assert errors_logged(caplog) == ["handlers.errors: error while handling an update"]


# Any data a tampering client could put in a callback query (Telegram allows 1-64 bytes).
BUTTON_WORDS = st.sampled_from(
    ["x", "a", "c", "h", "hr", "hx", "1", "2", str(USER), "0", "-1", "²", "١", "𝟏", "99" * 10]
)
CRAFTED_DATA = st.one_of(
    st.lists(BUTTON_WORDS, min_size=1, max_size=4).map(":".join),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16),
).filter(lambda data: 1 <= len(data.encode()) <= 64)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=CRAFTED_DATA, where=st.sampled_from(["video", "inaccessible", "inline"]))
async def test_any_button_data_is_answered_without_an_error(
    pressing: tuple[FakeTelegram, dict, pytest.LogCaptureFixture], data: str, where: str
) -> None:
    tg, video, caplog = pressing
    if where == "inline":
        query = tg.press_inline_button("AAQCAB-inline-1", data, user_id=USER)
    else:
        inaccessible = where == "inaccessible"
        query = tg.press_button(video, data, user_id=USER, crafted=True, inaccessible=inaccessible)
    answer = await answer_to(tg, query)
    assert answer.ok
    assert errors_logged(caplog) == [], data


@pytest.fixture
async def pressing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> tuple[FakeTelegram, dict, pytest.LogCaptureFixture]:
    """One bot and one delivered video (job 1) for a whole hypothesis run."""
    await start_bot(daily_quota=0)
    tg.user_sends("/video a jellyfish", user_id=USER)
    video = (await tg.wait_for_video(timeout=15)).result
    return tg, video, caplog
