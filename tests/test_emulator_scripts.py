"""Outcomes scripted for the next generations (``Emulator.script_next``, ``POST
/_emulator/scripts``) instead of prompt markers, and the status each recorded request was
answered with: what the playground's emulator panel arms and shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator import FAILURE_REASONS, EmulatorConfig, Script, run_emulator

V2 = "/v2/generate/video/luma-ai"
AUTH = {"Authorization": "Bearer test-key"}
FAST = {"queue_seconds": 0.02, "dream_seconds": 0.05, "long_poll_seconds": 2.0}
MODERATION = FAILURE_REASONS["moderation"]


@pytest.fixture
async def env() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    async with (
        run_emulator(EmulatorConfig(**FAST), port=0) as emu,
        aiohttp.ClientSession(base_url=emu.url, headers=AUTH) as http,
    ):
        yield emu, http


async def create(http: aiohttp.ClientSession, prompt: str = "A jellyfish") -> dict[str, Any]:
    async with http.post(f"{V2}/generation", json={"prompt": prompt}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def finished(http: aiohttp.ClientSession, gen_id: str) -> dict[str, Any]:
    """Long-poll until the generation is completed or failed."""
    for _ in range(20):
        params = {"generation_id": gen_id, "state": "completed"}
        async with http.get(f"{V2}/generation", params=params) as resp:
            body = await resp.json()
        if body["state"] in ("completed", "failed"):
            return body
    raise AssertionError("generation never finished")


@pytest.mark.unit
def test_scripts_merge_with_the_prompts_own_markers() -> None:
    assert Script.failing() == Script(failure_reason=MODERATION)
    assert Script.failing("frames").failure_reason == FAILURE_REASONS["frames"]
    assert Script.failing("nonsense").failure_reason == "Job failed"
    prompt = Script.from_prompt("x [fail:frames] [slow]")
    both = prompt.merged(Script(stuck=True, failure_reason=MODERATION))
    assert both == Script(stuck=True, slow=True, failure_reason=FAILURE_REASONS["frames"])
    assert Script().merged(Script.failing()).to_dict() == {
        "stuck": False,
        "slow": False,
        "failure_reason": MODERATION,
    }


async def test_the_next_generations_take_the_scripts_in_order(env) -> None:
    emu, http = env
    emu.script_next(Script.failing("moderation"))
    emu.script_next(Script(stuck=True), count=2)
    assert emu.scripted == (Script.failing(), Script(stuck=True), Script(stuck=True))
    failed = await create(http)
    assert emu.scripted == (Script(stuck=True), Script(stuck=True))
    body = await finished(http, failed["id"])
    assert (body["state"], body["failure_reason"]) == ("failed", MODERATION)
    assert "[fail" not in body["request"]["prompt"]  # the prompt is the user's, untouched

    stuck = await create(http)
    assert len(emu.scripted) == 1
    assert emu.generations[stuck["id"]].script.stuck
    assert emu.generations[stuck["id"]].state == "queued"

    emu.reset()  # a reset disarms what is left
    assert emu.scripted == ()
    plain = await finished(http, (await create(http))["id"])
    assert plain["state"] == "completed"
    assert emu.generations[stuck["id"]].history[-1][0] == "queued"  # still stuck


async def test_a_refused_create_uses_no_script(env) -> None:
    emu, http = env
    emu.script_next(Script.failing())
    emu.inject_fault(route="create", status=500)
    async with http.post(f"{V2}/generation", json={"prompt": "A jellyfish"}) as resp:
        assert resp.status == 500
    async with http.post(f"{V2}/generation", json={"prompt": "no"}) as resp:
        assert resp.status == 400  # too short
    assert emu.scripted == (Script.failing(),)
    body = await finished(http, (await create(http))["id"])
    assert body["failure_reason"] == MODERATION


async def test_a_scripted_failure_merges_with_a_prompt_marker(env) -> None:
    emu, http = env
    emu.script_next(Script(failure_reason=MODERATION))
    body = await finished(http, (await create(http, "A jellyfish [fail:frames]"))["id"])
    assert body["failure_reason"] == FAILURE_REASONS["frames"]
    with pytest.raises(ValueError, match="count"):
        emu.script_next(Script(stuck=True), count=0)


async def test_scripts_admin_route(env) -> None:
    emu, http = env
    async with http.post("/_emulator/scripts", json={"fail": "frames", "count": 2}) as resp:
        assert resp.status == 201
        assert (await resp.json())["failure_reason"] == FAILURE_REASONS["frames"]
    async with http.post("/_emulator/scripts", json={"stuck": True, "slow": True}) as resp:
        assert resp.status == 201
    async with http.get("/_emulator/scripts") as resp:
        listed = await resp.json()
    assert [s["failure_reason"] for s in listed] == [FAILURE_REASONS["frames"]] * 2 + [None]
    assert listed[-1] == {"stuck": True, "slow": True, "failure_reason": None}
    for bad in ({"stuck": "yes"}, {"fail": 1}, {"count": 0}, {"count": "2"}, {"typo": True}):
        async with http.post("/_emulator/scripts", json=bad) as resp:
            assert resp.status == 400, bad
    async with http.post("/_emulator/reset") as resp:
        assert resp.status == 200
    assert emu.scripted == ()


async def test_requests_record_the_status_answered(env) -> None:
    emu, http = env
    gen = await create(http)
    emu.inject_fault(route="create", status=503)
    async with http.post(f"{V2}/generation", json={"prompt": "A jellyfish"}) as resp:
        assert resp.status == 503
    async with aiohttp.ClientSession(base_url=emu.url) as anonymous:
        async with anonymous.get(f"{V2}/generation", params={"generation_id": gen["id"]}) as r:
            assert r.status == 401
    emu.inject_fault(route="create", kind="drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(f"{V2}/generation", json={"prompt": "A jellyfish"}):
            pass
    assert [r.status for r in emu.requests] == [201, 503, 401, None]
    async with http.get("/_emulator/requests") as resp:
        assert [r["status"] for r in await resp.json()] == [201, 503, 401, None]
