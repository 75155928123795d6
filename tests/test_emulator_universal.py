"""The emulator's AIML universal family (/v2/video/generations), over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.test_emulator_luma import JPEG, Hook, hook_server, serve, until

PATH = "/v2/video/generations"
ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}:luma/ray-2$")
AIML_ERROR_KEYS = {"message", "path", "requestId", "statusCode", "timestamp"}
NOT_COMPLETED = (
    "Extend/Interpolate is currently supported only for generated videos. "
    "Please make sure the generation is in completed state before passing it"
)


@pytest.fixture
async def env() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    async with serve() as pair:
        yield pair


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    async with hook_server() as server:
        yield server


async def post(http: aiohttp.ClientSession, body: Any) -> tuple[int, Any]:
    async with http.post(PATH, json=body) as resp:
        return resp.status, await resp.json()


async def create(http: aiohttp.ClientSession, **body: Any) -> dict[str, Any]:
    body.setdefault("model", "luma/ray-2")
    body.setdefault("prompt", "Flying jellyfish")
    status, created = await post(http, body)
    assert status == 201, created
    return created


async def get(http: aiohttp.ClientSession, gen_id: str) -> tuple[int, Any]:
    async with http.get(PATH, params={"generation_id": gen_id}) as resp:
        return resp.status, await resp.json()


async def finished(http: aiohttp.ClientSession, gen_id: str) -> dict[str, Any]:
    for _ in range(100):
        status, body = await get(http, gen_id)
        assert status == 200, body
        if body["status"] in ("completed", "error"):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError("generation never finished")


def assert_body_error(status: int, body: Any, fragment: str) -> None:
    assert status == 400, body
    assert set(body) == AIML_ERROR_KEYS and body["statusCode"] == 400
    assert body["path"] == PATH
    assert body["message"].startswith("Body validation error!")
    assert fragment in body["message"], body["message"]


def gen_frame(gen_id: str) -> dict[str, str]:
    return {"type": "generation", "id": gen_id}


# -- create and fetch -------------------------------------------------------------------------


async def test_create_and_get_share_one_shape(env) -> None:
    emu, http = env
    created = await create(http)
    assert ID_RE.match(created["id"]), created["id"]
    assert created == {
        "id": created["id"],
        "status": "queued",
        "video": None,
        "error": None,
        "meta": {"usage": {"credits_used": 0}},
    }
    status, fetched = await get(http, created["id"])
    assert status == 200 and set(fetched) == set(created)
    gen = emu.generations[created["id"]]
    assert (gen.family, gen.model, gen.aspect_ratio) == ("aiml_universal", "luma/ray-2", "16:9")
    # Defaults as the API applies them.
    assert {k: gen.request[k] for k in ("resolution", "duration", "loop")} == {
        "resolution": "1080p",
        "duration": 5,
        "loop": False,
    }


async def test_flash_model_id_and_duration_9(env) -> None:
    _, http = env
    created = await create(http, model="luma/ray-flash-2", duration=9, resolution="720p")
    assert created["id"].endswith(":luma/ray-flash-2")
    uuid.UUID(created["id"].partition(":")[0])
    done = await finished(http, created["id"])
    assert done["video"]["duration"] == 9


async def test_status_names_follow_the_lifecycle(env) -> None:
    emu, http = env
    gen = await create(http, prompt="Step by step [stuck]")
    seen = [(await get(http, gen["id"]))[1]["status"]]
    for state in ("dreaming", "completed"):
        emu.force_state(gen["id"], state)
        seen.append((await get(http, gen["id"]))[1]["status"])
    assert seen == ["queued", "generating", "completed"]

    natural = await create(http)
    statuses = []
    for _ in range(100):
        body = (await get(http, natural["id"]))[1]
        if not statuses or statuses[-1] != body["status"]:
            statuses.append(body["status"])
        if body["status"] == "completed":
            break
        await asyncio.sleep(0.01)
    assert statuses == ["queued", "generating", "completed"]


async def test_completed_generation_has_a_downloadable_video(env) -> None:
    _, http = env
    gen = await create(http)
    done = await finished(http, gen["id"])
    assert done["status"] == "completed" and done["error"] is None
    assert done["video"]["duration"] == 5
    assert done["meta"]["usage"]["credits_used"] > 0
    stem = gen["id"].partition(":")[0]
    assert done["video"]["url"].endswith(f"/files/{stem}.mp4")
    async with http.get(done["video"]["url"]) as resp:
        assert (resp.status, resp.content_type) == (200, "video/mp4")


@pytest.mark.parametrize(
    ("marker", "reason"),
    [
        ("[fail]", "Advanced prompt moderation failed"),
        ("[fail:frames]", "Failed to read user input frames"),
    ],
)
async def test_failure_is_status_error_with_message(env, marker: str, reason: str) -> None:
    _, http = env
    gen = await create(http, prompt=f"Flying jellyfish {marker}")
    done = await finished(http, gen["id"])
    assert (done["status"], done["video"]) == ("error", None)
    assert done["error"]["message"] == reason and isinstance(done["error"]["name"], str)
    assert done["meta"]["usage"]["credits_used"] == 0  # refunded


async def test_get_is_immediate_and_validates_its_query(env) -> None:
    _, http = env
    gen = await create(http, prompt="Hold on [stuck]")
    async with http.get(PATH, params={"generation_id": gen["id"], "state": "completed"}) as resp:
        assert (resp.status, (await resp.json())["status"]) == (200, "queued")  # no long-poll
    async with http.get(PATH) as resp:
        body = await resp.json()
    assert (
        resp.status == 400 and body["message"] == "Query validation error! generation_id: Required"
    )
    params = [("generation_id", gen["id"]), ("generation_id", gen["id"])]
    async with http.get(PATH, params=params) as resp:
        assert resp.status == 400


async def test_unknown_and_foreign_ids_are_404(env) -> None:
    _, http = env
    for unknown in (f"{uuid.uuid4()}:luma/ray-2", "nonsense"):
        status, body = await get(http, unknown)
        assert status == 404 and set(body) == AIML_ERROR_KEYS
        assert body["message"] == "Generation not found"
    # A generation of another family is not visible here, and vice versa.
    async with http.post(
        "/v2/generate/video/luma-ai/generation", json={"prompt": "AIML v2 one"}
    ) as resp:
        v2 = await resp.json()
    assert (await get(http, v2["id"]))[0] == 404
    gen = await create(http)
    async with http.get(
        "/v2/generate/video/luma-ai/generation", params={"generation_id": gen["id"]}
    ) as resp:
        assert resp.status == 400  # not even a uuid there
    async with http.get(f"/dream-machine/v1/generations/{gen['id']}") as resp:
        assert resp.status == 404


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"duration": "5s"}, "duration: Invalid enum value. Expected 5 | 9, received '5s'"),
        ({"duration": 7}, "duration"),
        ({"duration": None}, "duration"),
        ({"foo": 1}, "Unrecognized key(s) in object: 'foo'"),
        ({"callback_url": "https://example.com/hook"}, "'callback_url'"),
        ({"model": "ray-2"}, "model: Invalid enum value"),
        ({"model": "luma/ray-1-6"}, "model: Invalid enum value"),
        ({"aspect_ratio": "19:9"}, "received '19:9'"),
        ({"resolution": "8k"}, "resolution"),
        ({"loop": "true"}, "loop: Expected boolean"),
        ({"prompt": "Fl"}, "Prompt is too short"),
        ({"prompt": "x" * 2049}, "maximum length is 2048"),
        ({"keyframes": {"frame0": {"type": "image", "url": "x y"}}}, "Invalid url"),
        ({"keyframes": {"frame0": {"type": "image", "url": "https://a.b/c", "x": 1}}}, "'x'"),
        ({"keyframes": {"frame0": None}}, "keyframes.frame0"),
        ({"keyframes": {"frame0": {"type": "video"}}}, "Invalid discriminator value"),
    ],
)
async def test_create_rejects_invalid_bodies(env, body: dict[str, Any], fragment: str) -> None:
    _, http = env
    status, answer = await post(http, {"model": "luma/ray-2", "prompt": "Flying", **body})
    assert_body_error(status, answer, fragment)


@pytest.mark.parametrize("missing", ["model", "prompt"])
async def test_model_and_prompt_are_required(env, missing: str) -> None:
    _, http = env
    body = {"model": "luma/ray-2", "prompt": "Flying jellyfish"}
    del body[missing]
    status, answer = await post(http, body)
    assert_body_error(status, answer, f"{missing}: Required")


async def test_luma_keyframe_rules_apply(env) -> None:
    _, http = env
    status, answer = await post(http, {"model": "luma/ray-2", "prompt": "Nothing", "keyframes": {}})
    assert_body_error(status, answer, "keyframes: No keyframes provided")
    body = {
        "model": "luma/ray-2",
        "prompt": "Looping",
        "loop": True,
        "keyframes": {"frame1": {"type": "image", "url": "https://example.com/end.jpg"}},
    }
    status, answer = await post(http, body)
    assert_body_error(status, answer, "loop: Loop is not supported for end frame")


# -- extend -----------------------------------------------------------------------------------


async def test_extend_by_universal_id(env) -> None:
    emu, http = env
    source = await create(http, prompt="Source [stuck]")
    body = {
        "model": "luma/ray-2",
        "prompt": "Further on",
        "keyframes": {"frame0": gen_frame(source["id"])},
    }
    status, answer = await post(http, body)
    assert_body_error(status, answer, f"keyframes.frame0.id: {NOT_COMPLETED}")

    emu.force_state(source["id"], "completed")
    child = await create(http, **body)
    assert emu.generations[child["id"]].parent_id == source["id"]
    assert (await finished(http, child["id"]))["status"] == "completed"

    # Reverse extend by id too; unknown ids and the bare uuid part are not sources.
    await create(http, prompt="Before it", keyframes={"frame1": gen_frame(source["id"])})
    for bad in (source["id"].partition(":")[0], f"{uuid.uuid4()}:luma/ray-2"):
        body["keyframes"] = {"frame0": gen_frame(bad)}
        status, answer = await post(http, body)
        assert_body_error(status, answer, "keyframes.frame0.id: Generation not found")


async def test_admin_force_state_takes_a_universal_id(env) -> None:
    _, http = env
    gen = await create(http, prompt="Operator [stuck]")
    state = {"state": "failed", "failure_reason": "Job failed"}
    async with http.post(f"/_emulator/generations/{gen['id']}/state", json=state) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == gen["id"]
    done = (await get(http, gen["id"]))[1]
    assert (done["status"], done["error"]["message"]) == ("error", "Job failed")


# -- image keyframes --------------------------------------------------------------------------


async def test_image_url_keyframe_is_fetched(hook: Hook) -> None:
    async with serve() as (emu, http):
        frame = {"type": "image", "url": hook.url("/cat.jpg")}
        gen = await create(http, prompt="The cat", keyframes={"frame0": frame})
        assert (await finished(http, gen["id"]))["status"] == "completed"
        (fetch,) = emu.image_fetches
    assert (fetch.generation_id, fetch.status, fetch.ok, fetch.body) == (gen["id"], 200, True, JPEG)


@pytest.mark.parametrize(
    "source",
    [
        "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
        base64.b64encode(JPEG).decode(),  # bare base64, type sniffed
    ],
)
async def test_base64_image_keyframe_is_decoded_not_fetched(source: str) -> None:
    async with serve() as (emu, http):
        gen = await create(
            http, prompt="Inline cat", keyframes={"frame0": {"type": "image", "url": source}}
        )
        assert (await finished(http, gen["id"]))["status"] == "completed"
        (fetch,) = emu.image_fetches
    assert (fetch.status, fetch.ok, fetch.error, fetch.body) == (None, True, None, JPEG)
    assert fetch.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("AAAAAAAA", "body is not a JPEG, PNG or WEBP image"),
        ("data:image/png;base64,%%%%", "invalid base64"),
        ("data:text/plain,hello", "data URI is not base64-encoded"),
    ],
)
async def test_unusable_inline_image_fails_the_generation(source: str, error: str) -> None:
    async with serve() as (emu, http):
        gen = await create(
            http, prompt="Broken", keyframes={"frame0": {"type": "image", "url": source}}
        )
        done = await finished(http, gen["id"])
        await until(lambda: len(emu.image_fetches) == 1)
    assert (done["status"], done["error"]["message"]) == ("error", "400: failed to moderate image")
    assert emu.image_fetches[0].error == error
