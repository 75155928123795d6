"""The emulator's chat completions (`POST /v1/chat/completions`, issue 19): OpenAI's shape,
deterministic answers (a cinematic prompt, or `[en] ...` when the system asks to translate),
overrides, validation, auth, and faults on the "chat" route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator import EmulatorConfig, run_emulator
from emulator.chat import ENHANCED, PATH, TRANSLATED

KEY = {"Authorization": "Bearer k"}


def conversation(user: str, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {"model": "gpt-4o-mini", "messages": [*messages, {"role": "user", "content": user}]}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    config = EmulatorConfig(chat_answers={"say nothing": ""})
    async with run_emulator(config, port=0) as emu:
        async with aiohttp.ClientSession(base_url=emu.url) as http:
            yield emu, http


async def test_an_idea_comes_back_as_a_cinematic_prompt_in_openais_shape(served: Any) -> None:
    emu, http = served
    system = "Rewrite the idea as a detailed cinematic video prompt."
    async with http.post(PATH, json=conversation("a fox in the snow.", system), headers=KEY) as r:
        assert r.status == 200
        body = await r.json()
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
    (choice,) = body["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": ENHANCED.format(idea="a fox in the snow"),
    }
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    (recorded,) = [r for r in emu.requests if r.path == PATH]
    assert recorded.json["messages"][-1]["content"] == "a fox in the snow."


async def test_a_translation_is_marked_and_overrides_win(served: Any) -> None:
    _, http = served
    system = "Translate the user's video prompt into English."
    async with http.post(PATH, json=conversation("лиса в снегу", system), headers=KEY) as r:
        translated = (await r.json())["choices"][0]["message"]["content"]
    assert translated == TRANSLATED.format(text="лиса в снегу")
    async with http.post(PATH, json=conversation("say nothing"), headers=KEY) as r:
        assert (await r.json())["choices"][0]["message"]["content"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": []},
        {"model": "m"},
        {"model": "", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "robot", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "user", "content": 3}]},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
    ],
)
async def test_malformed_requests_are_400(served: Any, body: dict[str, Any]) -> None:
    _, http = served
    async with http.post(PATH, json=body, headers=KEY) as response:
        assert response.status == 400


async def test_a_key_is_required(served: Any) -> None:
    _, http = served
    async with http.post(PATH, json=conversation("a fox")) as response:
        assert response.status == 401


async def test_faults_on_the_chat_route_leave_the_video_routes_alone(served: Any) -> None:
    emu, http = served
    emu.inject_fault(route="chat", status=503, count=1)
    emu.inject_fault(route="chat", kind="drop", count=1)
    async with http.post(PATH, json=conversation("a fox"), headers=KEY) as response:
        assert response.status == 503
    with pytest.raises(aiohttp.ClientError):
        async with http.post(PATH, json=conversation("a fox"), headers=KEY) as response:
            await response.read()
    async with http.post(PATH, json=conversation("a fox"), headers=KEY) as response:
        assert response.status == 200
