"""Camera moves (issue 19): `--camera orbit_left` goes to Luma's own API as a concept (a key of
its concepts list) and to every other family as the phrase before the prompt; an unknown move is
refused with the list and costs nothing; /help lists the moves; the caption names the move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.luma.camera import CAMERA_MOVES, camera_move, prompt_with_camera
from handlers.parsing import ParseError, parse_video_args
from playground.fake_telegram import FakeTelegram
from tests.quota import quota_used
from tests.test_families import FAMILY_PATHS, creates, start_on

USER = 1001


# --- parsing (pure) ---------------------------------------------------------------------------


@pytest.mark.unit
def test_a_move_is_read_whatever_its_case_or_dashes() -> None:
    options = parse_video_args("a fox --camera Orbit-Left in the snow", max_prompt_length=200)
    assert options.camera == "orbit_left" and options.prompt == "a fox in the snow"
    assert camera_move("push_in") == "push_in" and camera_move("sideways") is None


@pytest.mark.unit
def test_an_unknown_move_is_refused_with_the_list() -> None:
    with pytest.raises(ParseError) as refused:
        parse_video_args("a fox --camera sideways", max_prompt_length=200)
    assert refused.value.key == "invalid_camera"
    assert refused.value.values["value"] == "sideways"
    assert refused.value.values["valid"] == ", ".join(CAMERA_MOVES)


@pytest.mark.unit
def test_the_moves_phrase_counts_toward_the_prompt_limit() -> None:
    prompt = "x" * 40
    phrase_length = len(prompt_with_camera(prompt, "orbit_left"))
    parse_video_args(f"{prompt} --camera orbit_left", max_prompt_length=phrase_length)
    with pytest.raises(ParseError) as refused:
        parse_video_args(f"{prompt} --camera orbit_left", max_prompt_length=phrase_length - 1)
    assert refused.value.key == "prompt_too_long"


# --- end to end -------------------------------------------------------------------------------


@pytest.fixture(params=list(FAMILY_PATHS))
def family(request: pytest.FixtureRequest) -> str:
    return request.param


def the_prompt(family: str, body: dict[str, Any]) -> str:
    return body["user_prompt"] if family == "aiml-v1" else body["prompt"]


async def test_a_move_reaches_every_family_as_it_takes_it(
    family: str, tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_on(family, start_bot, emulator)
    tg.user_sends("/video a fox in the snow --camera orbit_left", user_id=USER)
    video = await tg.wait_for_video(timeout=15)
    tg.user_sends("/video a fox at dawn --camera push_in", user_id=USER)
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    first, second = (request.json for request in creates(emulator))
    if family == "luma":  # a concept, the prompt as typed
        assert (
            first["concepts"] == [{"key": "orbit_left"}] and first["prompt"] == "a fox in the snow"
        )
        assert second["concepts"] == [{"key": "push_in"}]
        listed = [r for r in emulator.requests if r.path.endswith("/concepts/list")]
        assert len(listed) == 1  # read once
    else:
        assert "concepts" not in first
        assert (
            the_prompt(family, first) == "camera orbits left around the subject, a fox in the snow"
        )
        assert the_prompt(family, second) == "camera pushes in, a fox at dawn"
    assert "orbit_left" in video.params["caption"]


async def test_luma_without_its_concepts_list_gets_the_phrase(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_on("luma", start_bot, emulator)
    emulator.inject_fault(route="fetch", status=503, count=1)  # the list request fails
    tg.user_sends("/video a fox --camera crane_up", user_id=USER)
    await tg.wait_for_video(timeout=15)
    (body,) = (request.json for request in creates(emulator))
    assert "concepts" not in body and body["prompt"] == "camera cranes up, a fox"
    # The next move does not ask for the list again (it would hold up every create).
    tg.user_sends("/video a hare --camera push_in", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 2, timeout=15)
    assert creates(emulator)[1].json["prompt"].endswith("a hare")
    assert len([r for r in emulator.requests if r.path.endswith("/concepts/list")]) == 1


async def test_an_unknown_move_is_refused_with_the_list_at_no_cost(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.user_sends("/video a fox --camera sideways", user_id=USER)
    refusal = await tg.wait_for_call(
        "sendMessage", lambda c: "not a camera move" in c.params["text"]
    )
    assert (
        "orbit_left" in refusal.params["text"] and "Nothing was charged" in refusal.params["text"]
    )
    assert creates(emulator) == []
    assert await quota_used(bot.runtime.repository, USER) == 0


async def test_help_lists_the_moves(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/help", user_id=USER)
    help_text = await tg.wait_for_call("sendMessage", lambda c: "--camera" in c.params["text"])
    missing = [move for move in CAMERA_MOVES if move not in help_text.params["text"]]
    assert not missing, help_text.params["text"]
