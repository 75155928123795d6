"""The prompt helper (issue 19): `--enhance` and ✨ Improve turn a short idea into a detailed
prompt, a prompt not in English is translated, and whatever goes wrong with the language model
the video is still made from the user's own prompt, with one line saying so and the
enhancement's cost given back. Driven end to end: the bot's own Application, the fake Bot API,
and the emulator's chat completions (`POST /v1/chat/completions`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.llm import looks_english
from emulator.chat import ENHANCED, TRANSLATED
from handlers.parsing import parse_video_args
from playground.fake_telegram import FakeTelegram
from tests.quota import quota_used
from tests.test_families import FAMILY_PATHS, start_on

USER = 1001
OTHER = 1002
TOKEN = "123456:" + "A" * 35
CHAT_PATH = "/v1/chat/completions"


def chats(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.path == CHAT_PATH]


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and r.path != CHAT_PATH]


async def used(bot: Any, payer: int = USER) -> int:
    return await quota_used(bot.runtime.repository, payer)


async def delivered(tg: FakeTelegram, count: int = 1) -> Any:
    """The `count`-th video, once its job is recorded as delivered (the "ready" notice follows
    that): its buttons and replies to it work from then on."""
    video = await tg.wait_for_video(count=count, timeout=15)
    await tg.wait_until(
        lambda: (
            len([c for c in tg.calls_of("sendMessage") if "is ready" in c.params["text"]]) >= count
        ),
        timeout=15,
    )
    return video


def enhanced(idea: str) -> str:
    return ENHANCED.format(idea=idea)


# --- pure ---------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("prompt", "english"),
    [
        ("a cat surfing a wave at sunset", True),
        ("the die is cast on a table", True),  # one word shared with German is not enough
        ("кот на пляже", False),
        ("海の上の猫", False),
        ("un gato en la playa con el sol", False),
        ("die Katze und der Hund", False),
        ("crème brûlée on a plate", False),  # accents: translated, and comes back unchanged
    ],
)
def test_what_counts_as_english(prompt: str, english: bool) -> None:
    assert looks_english(prompt) is english


@pytest.mark.unit
def test_enhance_is_a_flag() -> None:
    options = parse_video_args("a fox —enhance in the snow", max_prompt_length=200)
    assert options.enhance and options.prompt == "a fox in the snow"


@pytest.mark.unit
def test_where_the_helper_lives_by_family_and_setting() -> None:
    def settings(**values: Any) -> Any:
        return load_settings(
            _env_file=None, telegram_bot_token=TOKEN, luma_api_key="k" * 20, **values
        )

    aiml = settings(luma_api_url="https://api.apilaplas.com")
    assert aiml.llm is not None and aiml.llm.url == "https://api.apilaplas.com/v1"
    assert aiml.llm.key.get_secret_value() == "k" * 20  # the same key, the same host
    assert settings(luma_api_family="luma").llm is None  # Luma sells no chat completions
    assert settings(llm_api_url="off").llm is None
    assert settings(llm_api_url=" OFF ").llm is None
    own = settings(
        luma_api_family="luma",
        llm_api_url="https://llm.example/v1/chat/completions/",
        llm_api_key="sk-" + "x" * 20,
    )
    assert own.llm is not None and own.llm.url == "https://llm.example/v1"
    assert "sk-" + "x" * 20 in own.secrets()  # redacted from logs like every key
    with pytest.raises(ConfigError, match="LLM_API_KEY"):
        settings(llm_api_url="https://llm.example/v1")  # the video key stays home
    with pytest.raises(ConfigError, match="TRANSLATE_PROMPTS"):
        settings(translate_prompts="sometimes")
    with pytest.raises(ConfigError, match="LLM_API_URL"):
        settings(llm_api_url="ftp://llm.example")


# --- enhance ------------------------------------------------------------------------------------


async def test_enhance_sends_the_detailed_prompt_and_the_caption_shows_both(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(cost_enhance=2, daily_quota=10)
    tg.user_sends("/video a fox in the snow --enhance", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    (chat,) = chats(emulator)
    assert chat.json["messages"][-1] == {"role": "user", "content": "a fox in the snow"}
    assert "Dream Machine" in chat.json["messages"][0]["content"]
    assert chat.json["model"] == "gpt-4o-mini"
    assert (
        chat.headers["Authorization"]
        == "Bearer " + bot.runtime.settings.luma_api_key.get_secret_value()
    )
    (create,) = creates(emulator)
    assert create.json["prompt"] == enhanced("a fox in the snow")
    caption = video.params["caption"]
    assert "🎬 a fox in the snow" in caption
    assert f"✨ {enhanced('a fox in the snow')}" in caption
    assert await used(bot) == 3  # the video, and COST_ENHANCE
    # The status message offered no ✨ Improve: it was asked for already.
    status = tg.calls_of("sendMessage")[0]
    assert [b["text"] for b in status.params["reply_markup"]["inline_keyboard"][0]] == ["✖ Cancel"]


async def test_the_helpers_answer_is_shown_as_text_not_markup(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.chat_answers["a fox"] = "<b>a fox</b> & <a href='x'>friends</a>"
    await start_bot()
    tg.user_sends("/video a fox --enhance", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    assert "✨ &lt;b&gt;a fox&lt;/b&gt; &amp; &lt;a href=" in video.params["caption"]
    assert creates(emulator)[0].json["prompt"] == "<b>a fox</b> & <a href='x'>friends</a>"


@pytest.mark.parametrize(
    ("fault", "overrides"),
    [
        ({"status": 500}, {}),
        ({"status": 401}, {}),
        ({"kind": "drop"}, {}),
        ({"kind": "delay", "seconds": 3.0}, {"llm_timeout": 0.3}),
        ({"kind": "body", "body": "<html>gateway</html>", "content_type": "text/html"}, {}),
    ],
    ids=["5xx", "key-refused", "dropped", "timeout", "not-json"],
)
async def test_a_failing_helper_never_blocks_the_video_and_costs_nothing(
    fault: dict[str, Any],
    overrides: dict[str, Any],
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
) -> None:
    bot = await start_bot(cost_enhance=2, daily_quota=1, **overrides)
    await bot.runtime.repository.grant_credits(USER, 5, time.time())
    emulator.inject_fault(route="chat", **fault)
    tg.user_sends("/video a fox in the snow --enhance", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    (create,) = creates(emulator)
    assert create.json["prompt"] == "a fox in the snow"  # as typed
    caption = video.params["caption"]
    assert "didn't answer, so your prompt was sent as you wrote it" in caption
    assert "✨" not in caption.split("\n")[1][:2]
    # The daily credit paid the video; the two credits the enhancement took went back.
    assert await used(bot) == 1
    assert await bot.runtime.repository.balance(USER) == 5
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.cost == 1 and job.paid_credits == 0


async def test_an_empty_or_overlong_answer_falls_back(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.chat_answers["a fox"] = ""
    emulator.config.chat_answers["a cat"] = "x" * 3000  # over aiml-v2's 2048
    await start_bot()
    tg.user_sends("/video a fox --enhance", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video a cat --enhance", user_id=USER)
    second = await tg.wait_for_video(count=2, timeout=15)
    assert [c.json["prompt"] for c in creates(emulator)] == ["a fox", "a cat"]
    assert "sent as you wrote it" in second.params["caption"]


async def test_the_helper_runs_once_however_often_the_create_is_retried(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The API pushes the create back once (429): the job goes round the queue again, and the
    # prompt the helper wrote (stored with the job) is sent without asking the model again.
    emulator.inject_fault(route="create", status=429, retry_after=0.2, count=1)
    bot = await start_bot(cost_enhance=1)
    tg.user_sends("/video a fox --enhance", user_id=USER)
    await tg.wait_for_video(timeout=15)
    assert len(chats(emulator)) == 1
    assert [c.json["prompt"] for c in creates(emulator)] == [enhanced("a fox")] * 2
    assert await used(bot) == 2


async def test_again_asks_the_helper_afresh_and_charges_again(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(cost_enhance=1, daily_quota=10)
    tg.user_sends("/video a fox --enhance", user_id=USER)
    video = await delivered(tg)
    again = video.params["reply_markup"]["inline_keyboard"][0][1]
    tg.press_button(video.result, again["callback_data"], user_id=USER)
    second = await tg.wait_for_video(count=2, timeout=15)
    assert len(chats(emulator)) == 2
    assert f"✨ {enhanced('a fox')}" in second.params["caption"]
    assert await used(bot) == 4


async def test_enhance_works_on_extend(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/video a fox", user_id=USER)
    video = await delivered(tg)
    tg.user_sends(
        "/extend it jumps --enhance", user_id=USER, reply_to_message_id=video.result["message_id"]
    )
    await tg.wait_for_video(count=2, timeout=15)
    assert creates(emulator)[-1].json["prompt"] == enhanced("it jumps")


# --- translation --------------------------------------------------------------------------------


async def test_a_prompt_not_in_english_is_translated_for_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(cost_enhance=2)
    tg.user_sends("/video кот на пляже --ar 9:16", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    (chat,) = chats(emulator)
    assert "Translate" in chat.json["messages"][0]["content"]
    (create,) = creates(emulator)
    assert create.json["prompt"] == TRANSLATED.format(text="кот на пляже")
    assert create.json["aspect_ratio"] == "9:16"
    assert "🎬 кот на пляже" in video.params["caption"]
    assert f"🌐 {TRANSLATED.format(text='кот на пляже')}" in video.params["caption"]
    assert await used(bot) == 1


async def test_english_prompts_never_reach_the_model(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/video a cat on the beach", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    assert chats(emulator) == []
    assert creates(emulator)[0].json["prompt"] == "a cat on the beach"
    assert video.params["caption"].startswith("🎬 a cat on the beach\n16:9")


async def test_translation_off_sends_prompts_as_typed(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(translate_prompts="off")
    tg.user_sends("/video кот на пляже", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    assert chats(emulator) == []
    assert creates(emulator)[0].json["prompt"] == "кот на пляже"
    assert "🌐" not in video.params["caption"]


async def test_an_unchanged_translation_adds_no_line(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.chat_answers["café at night"] = "café at night"
    await start_bot()
    tg.user_sends("/video café at night", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    assert len(chats(emulator)) == 1
    assert video.params["caption"].startswith("🎬 café at night\n16:9")


# --- where there is no helper -------------------------------------------------------------------


async def test_without_a_helper_enhance_is_refused_at_no_cost(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(llm_api_url="off")
    tg.user_sends("/video a fox --enhance", user_id=USER)
    refusal = await tg.wait_for_call(
        "sendMessage", lambda c: "needs a prompt helper" in c.params["text"]
    )
    assert "nothing was charged" in refusal.params["text"]
    tg.user_sends("/video кот", user_id=USER)  # and nothing is translated
    await tg.wait_for_video(timeout=15)
    assert chats(emulator) == [] and [c.json["prompt"] for c in creates(emulator)] == ["кот"]
    assert await used(bot) == 1
    status = [c for c in tg.calls_of("sendMessage") if "reply_markup" in c.params][-1]
    assert [b["text"] for b in status.params["reply_markup"]["inline_keyboard"][0]] == ["✖ Cancel"]


async def test_the_luma_family_has_a_helper_only_where_one_is_set(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_on("luma", start_bot, emulator)
    tg.user_sends("/video a fox --enhance", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "needs a prompt helper" in c.params["text"])
    assert creates(emulator) == [] and chats(emulator) == []


async def test_the_luma_family_with_its_own_llm(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_on(
        "luma",
        start_bot,
        emulator,
        llm_api_url=emulator.url + "/v1",
        llm_api_key="sk-llm-" + "y" * 20,
        llm_model="small-model",
    )
    tg.user_sends("/video a fox --enhance", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    (chat,) = chats(emulator)
    assert chat.headers["Authorization"] == "Bearer sk-llm-" + "y" * 20
    assert chat.json["model"] == "small-model"
    (create,) = (c for c in creates(emulator) if c.path.endswith("/generations/video"))
    assert create.json["prompt"] == enhanced("a fox")
    assert FAMILY_PATHS["luma"] in create.path
    assert "✨" in video.params["caption"]


# --- the Improve button -------------------------------------------------------------------------


async def queued(tg: FakeTelegram, emulator: Any, bot: Any, prompt: str) -> dict[str, Any]:
    """Send a request the API pushes back (429), and wait until it waits in the bot's queue,
    held by no worker; its status message."""
    emulator.inject_fault(route="create", status=429, retry_after=1.5, count=1)
    tg.user_sends(f"/video {prompt}", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 1)

    async def released() -> bool:
        job = await bot.runtime.repository.get_job(1)
        return job is not None and job.lease_owner is None

    deadline = time.monotonic() + 5
    while not await released():
        assert time.monotonic() < deadline, "the job was not released to the queue"
        await tg.wait_until(lambda: True, timeout=0.05)
    return tg.calls_of("sendMessage")[0].result


def improve_data(tg: FakeTelegram, status: dict[str, Any]) -> str:
    sent = tg.calls_of("sendMessage")[0]
    assert sent.result["message_id"] == status["message_id"]
    cancel, improve = sent.params["reply_markup"]["inline_keyboard"][0]
    assert (cancel["text"], improve["text"]) == ("✖ Cancel", "✨ Improve")
    return improve["callback_data"]


async def test_improve_while_queued_enhances_the_prompt_before_it_is_sent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(cost_enhance=2, daily_quota=10)
    status = await queued(tg, emulator, bot, "a queued fox")
    tg.press_button(status, improve_data(tg, status), user_id=USER)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert "detailed one" in answer.params["text"]
    edited = await tg.wait_for_call("editMessageReplyMarkup")
    assert [b["text"] for b in edited.params["reply_markup"]["inline_keyboard"][0]] == ["✖ Cancel"]
    video = await tg.wait_for_video(timeout=15)
    assert [c.json["prompt"] for c in creates(emulator)] == [
        "a queued fox",  # the attempt the API refused
        enhanced("a queued fox"),
    ]
    assert f"✨ {enhanced('a queued fox')}" in video.params["caption"]
    assert await used(bot) == 3


async def test_improve_is_the_payers_and_only_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    status = await queued(tg, emulator, bot, "a queued fox")
    data = improve_data(tg, status)
    tg.press_button(status, data, user_id=OTHER)
    refused = await tg.wait_for_call("answerCallbackQuery")
    assert "Only the person who asked" in refused.params["text"]
    tg.press_button(status, data, user_id=USER)
    await tg.wait_for_call("editMessageReplyMarkup")
    tg.press_button(status, data, user_id=USER, crafted=True)  # an old copy of the button
    await tg.wait_until(lambda: len(tg.calls_of("answerCallbackQuery")) == 3)
    assert "already being improved" in tg.calls_of("answerCallbackQuery")[2].params["text"]
    await tg.wait_for_video(timeout=15)
    assert len(chats(emulator)) == 1


async def test_improve_after_the_request_left_is_too_late_and_free(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(cost_enhance=1)
    tg.user_sends("/video a fox", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    status = tg.calls_of("sendMessage")[0]
    data = status.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    tg.press_button(video.result, data, user_id=USER, crafted=True)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert "Too late" in answer.params["text"]
    assert chats(emulator) == [] and await used(bot) == 1


async def test_improve_that_the_payer_cannot_afford_is_refused(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(cost_enhance=5, daily_quota=2)
    status = await queued(tg, emulator, bot, "a queued fox")
    tg.press_button(status, improve_data(tg, status), user_id=USER)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert answer.params.get("show_alert") in (True, "true")
    assert "credits" in answer.params["text"]
    await tg.wait_for_video(timeout=15)
    assert chats(emulator) == [] and await used(bot) == 1


async def test_help_and_quota_tell_of_the_helper_and_its_price(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(cost_enhance=2)
    tg.user_sends("/help", user_id=USER)
    help_text = await tg.wait_for_call("sendMessage", lambda c: "--enhance" in c.params["text"])
    assert "for 2 more credits" in help_text.params["text"]
    assert "any language" in help_text.params["text"]
    tg.user_sends("/quota", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "adds 2 credits" in c.params["text"])


async def test_an_enhancement_asked_before_the_helper_was_turned_off_is_given_back(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Accepted (and charged) while the helper was on; the operator restarts without it before
    # the request is sent: the video is made from the prompt as typed, the enhancement refunded.
    first = await start_bot(cost_enhance=2, daily_quota=10)
    await first.runtime.worker.stop()  # the job waits in the bot's queue meanwhile
    tg.user_sends("/video a fox --enhance", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "Queued" in c.params["text"])
    assert await used(first) == 3
    await first.stop()
    second = await start_bot(cost_enhance=2, daily_quota=10, llm_api_url="off")
    video = await tg.wait_for_video(timeout=15)
    assert chats(emulator) == []
    assert [c.json["prompt"] for c in creates(emulator)] == ["a fox"]
    assert "sent as you wrote it" in video.params["caption"]
    assert await used(second) == 1


@pytest.mark.parametrize("family", list(FAMILY_PATHS))
async def test_every_family_gets_the_helpers_prompt(
    family: str, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The aiml-* families find the helper at their own root; luma is given one.
    own = {"llm_api_url": emulator.url + "/v1"} if family == "luma" else {}
    await start_on(family, start_bot, emulator, **own)
    tg.user_sends("/video a fox --enhance", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video кот", user_id=USER)
    await tg.wait_for_video(count=2, timeout=15)
    field = "user_prompt" if family == "aiml-v1" else "prompt"
    sent = [c.json[field] for c in creates(emulator) if field in (c.json or {})]
    assert sent == [enhanced("a fox"), TRANSLATED.format(text="кот")]
    assert len(chats(emulator)) == 2
