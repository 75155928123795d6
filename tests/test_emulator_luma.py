"""The emulator's Luma direct family (/dream-machine/v1) and its callbacks, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import CallbackAttempt, EmulatorConfig, run_emulator
from emulator.__main__ import config_from_args, parse_args
from emulator.assets import sample_bytes

LUMA = "/dream-machine/v1"
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
FAST = {"queue_seconds": 0.05, "dream_seconds": 0.1, "long_poll_seconds": 0.3}
JPEG = sample_bytes("sample.jpg")
NOT_COMPLETED = (
    "Extend/Interpolate is currently supported only for generated videos. "
    "Please make sure the generation is in completed state before passing it"
)


# -- shared helpers (also used by test_lumaai_sdk.py) ----------------------------------------


@asynccontextmanager
async def serve(**overrides: Any) -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    config = EmulatorConfig(**{**FAST, **overrides})
    async with (
        run_emulator(config, port=0) as emu,
        aiohttp.ClientSession(base_url=emu.url, headers=AUTH) as http,
    ):
        yield emu, http


class Hook:
    """A tiny web server playing the client's callback endpoint (and an image host).

    ``POST /hook`` records the JSON body and answers with the next status of ``statuses``
    (200 once they run out); ``POST /hang`` never answers until teardown. ``GET /cat.jpg``
    serves a real JPEG.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.release = asyncio.Event()
        self.root = ""

    def url(self, path: str = "/hook") -> str:
        return f"{self.root}{path}"

    def states(self) -> list[str]:
        return [body["state"] for body in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path == "/cat.jpg":
            return web.Response(body=JPEG, content_type="image/jpeg")
        if request.path == "/hang":
            await self.release.wait()
            return web.Response()
        self.received.append(await request.json())
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@asynccontextmanager
async def hook_server() -> AsyncIterator[Hook]:
    hook = Hook()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook.root = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield hook
    finally:
        hook.release.set()
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait for `condition`; the timeout only ends a test that is already failing."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- local helpers --------------------------------------------------------------------------


@pytest.fixture
async def env() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    async with serve() as pair:
        yield pair


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    async with hook_server() as server:
        yield server


async def post(
    http: aiohttp.ClientSession, body: Any, path: str = "/generations/video"
) -> tuple[int, Any]:
    async with http.post(f"{LUMA}{path}", json=body) as resp:
        return resp.status, await resp.json()


async def create(http: aiohttp.ClientSession, **body: Any) -> dict[str, Any]:
    body.setdefault("model", "ray-2")
    body.setdefault("prompt", "Flying jellyfish")
    status, created = await post(http, body)
    assert status == 201, created
    return created


async def get(http: aiohttp.ClientSession, gen_id: str) -> tuple[int, Any]:
    async with http.get(f"{LUMA}/generations/{gen_id}") as resp:
        return resp.status, await resp.json()


async def finished(http: aiohttp.ClientSession, gen_id: str) -> dict[str, Any]:
    """Poll like a Luma client (there is no long-poll) until completed or failed."""
    for _ in range(100):
        status, body = await get(http, gen_id)
        assert status == 200, body
        if body["state"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError("generation never finished")


async def assert_detail(resp: aiohttp.ClientResponse, status: int, detail: str) -> None:
    assert resp.status == status
    assert await resp.json() == {"detail": detail}


def gen_frame(gen_id: str) -> dict[str, str]:
    return {"type": "generation", "id": gen_id}


def image_frame(url: str = "https://example.com/cat.jpg") -> dict[str, str]:
    return {"type": "image", "url": url}


# -- create -----------------------------------------------------------------------------------


async def test_create_on_video_path_returns_a_queued_generation(env) -> None:
    _, http = env
    body = {"model": "ray-flash-2", "prompt": "Flying jellyfish", "duration": "9s"}
    status, gen = await post(http, body)
    assert status == 201
    assert set(gen) == {
        "id",
        "generation_type",
        "state",
        "failure_reason",
        "created_at",
        "assets",
        "model",
        "request",
    }
    uuid.UUID(gen["id"])
    assert (gen["state"], gen["assets"], gen["failure_reason"]) == ("queued", None, None)
    assert (gen["generation_type"], gen["model"]) == ("video", "ray-flash-2")
    request = gen["request"]
    assert request["prompt"] == "Flying jellyfish"
    assert (request["model"], request["duration"], request["generation_type"]) == (
        "ray-flash-2",
        "9s",
        "video",
    )
    # Defaults filled in as Luma understood the request.
    assert (request["aspect_ratio"], request["loop"]) == ("16:9", False)


async def test_model_is_required_on_video_path_and_optional_on_generations(env) -> None:
    _, http = env
    status, body = await post(http, {"prompt": "Flying jellyfish"})
    assert status == 400
    assert set(body) == {"detail"} and "model" in body["detail"]
    status, gen = await post(http, {"prompt": "Flying jellyfish"}, path="/generations")
    assert (status, gen["model"], gen["request"]["model"]) == (201, "ray-2", "ray-2")
    status, gen = await post(
        http, {"prompt": "Flying jellyfish", "model": "ray-flash-2"}, path="/generations"
    )
    assert (status, gen["model"]) == (201, "ray-flash-2")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "ray-1-6"}, "model"),
        ({"aspect_ratio": "19:9"}, "aspect_ratio"),
        ({"resolution": "8k"}, "resolution"),
        ({"duration": 5}, "duration"),
        ({"loop": "true"}, "loop"),  # typed strictly: no coercion
        ({"keyframes": {"frame0": {"type": "video", "url": "x"}}}, "keyframes.frame0"),
        ({"keyframes": {"frame0": {"type": "image", "url": "not a url"}}}, "Invalid url"),
        ({"callback_url": "nowhere"}, "callback_url"),
        ({"concepts": ["dolly_zoom"]}, "concepts"),
    ],
)
async def test_create_rejects_badly_typed_fields_with_detail(
    env, body: dict[str, Any], fragment: str
) -> None:
    _, http = env
    status, answer = await post(http, {"model": "ray-2", "prompt": "Flying jellyfish", **body})
    assert status == 400
    assert set(answer) == {"detail"} and isinstance(answer["detail"], str)
    assert fragment in answer["detail"]


async def test_unknown_keys_are_ignored_and_not_echoed(env) -> None:
    emu, http = env
    gen = await create(http, foo=1, keyframes=None, concepts=[{"key": "dolly_zoom", "x": 1}])
    assert "foo" not in gen["request"]
    assert gen["request"]["concepts"] == [{"key": "dolly_zoom"}]
    assert emu.requests[-1].json["foo"] == 1  # recorded as sent


@pytest.mark.parametrize(
    ("prompt", "detail"),
    [
        (None, "Prompt is required"),
        ("", "Prompt is required"),
        ("Fl", "Prompt is too short, minimum length is 3 characters"),
        ("x" * 5001, "Prompt is too long, maximum length is 5000 characters"),
    ],
)
async def test_prompt_rules(env, prompt: str | None, detail: str) -> None:
    _, http = env
    body: dict[str, Any] = {"model": "ray-2"}
    if prompt is not None:
        body["prompt"] = prompt
    assert await post(http, body) == (400, {"detail": detail})


async def test_prompt_up_to_5000_chars_and_optional_with_an_image() -> None:
    async with serve(fetch_images=False) as (_, http):
        await create(http, prompt="x" * 5000)  # Luma's cap, not AIML's 2048
        gen = await create(http, prompt=None, keyframes={"frame0": image_frame()})
        assert "prompt" not in gen["request"] or gen["request"]["prompt"] is None
        # A generation keyframe is not an image: the prompt stays required.
        status, body = await post(
            http, {"model": "ray-2", "keyframes": {"frame0": gen_frame(gen["id"])}}
        )
        assert (status, body) == (400, {"detail": "Prompt is required"})


LOOP_CASES = [
    ({"frame1": "image"}, "end frame"),
    ({"frame0": "image", "frame1": "image"}, "keyframes"),
    ({"frame1": "generation"}, "extend reverse"),
    ({"frame0": "generation", "frame1": "image"}, "interpolate video to image"),
    ({"frame0": "image", "frame1": "generation"}, "interpolate image to video"),
    ({"frame0": "generation", "frame1": "generation"}, "interpolate between two videos"),
]


@pytest.mark.parametrize(("frames", "rule"), LOOP_CASES)
async def test_loop_rules(env, frames: dict[str, str], rule: str) -> None:
    _, http = env
    source = str(uuid.uuid4())  # the loop rule is checked before the sources
    keyframes = {
        name: gen_frame(source) if kind == "generation" else image_frame()
        for name, kind in frames.items()
    }
    body = {"model": "ray-2", "prompt": "Looping", "loop": True, "keyframes": keyframes}
    assert await post(http, body) == (400, {"detail": f"Loop is not supported for {rule}"})


async def test_empty_keyframes_and_loop_allowed_combos() -> None:
    async with serve(fetch_images=False) as (_, http):
        body = {"model": "ray-2", "prompt": "Nothing", "keyframes": {}}
        assert await post(http, body) == (400, {"detail": "No keyframes provided"})
        body["keyframes"] = {"frame0": None, "frame1": None}
        assert await post(http, body) == (400, {"detail": "No keyframes provided"})
        await create(http, loop=True, keyframes={"frame0": image_frame()})
        source = await create(http, prompt="Source")
        await finished(http, source["id"])
        await create(http, loop=True, keyframes={"frame0": gen_frame(source["id"])})


async def test_extend_needs_a_known_completed_luma_source(env) -> None:
    emu, http = env
    unknown = str(uuid.uuid4())
    body = {"model": "ray-2", "prompt": "Further", "keyframes": {"frame0": gen_frame(unknown)}}
    assert await post(http, body) == (400, {"detail": "Generation not found"})

    source = await create(http, prompt="Source [slow]")
    body["keyframes"] = {"frame0": gen_frame(source["id"])}
    assert await post(http, body) == (400, {"detail": NOT_COMPLETED})

    emu.force_state(source["id"], "completed")
    child = await create(http, **body)
    assert emu.generations[child["id"]].parent_id == source["id"]
    assert child["request"]["keyframes"] == {"frame0": gen_frame(source["id"])}

    # Reverse extend and interpolation need completed sources too.
    failed = await create(http, prompt="Broken [fail]")
    await finished(http, failed["id"])
    body["keyframes"] = {"frame0": gen_frame(source["id"]), "frame1": gen_frame(failed["id"])}
    assert await post(http, body) == (400, {"detail": NOT_COMPLETED})

    # Another family's id, or another key's, is unknown here.
    async with http.post(
        "/v2/generate/video/luma-ai/generation", json={"prompt": "AIML one"}
    ) as resp:
        aiml = await resp.json()
    emu.force_state(aiml["id"], "completed")
    body["keyframes"] = {"frame0": gen_frame(aiml["id"])}
    assert await post(http, body) == (400, {"detail": "Generation not found"})
    async with http.post(
        f"{LUMA}/generations/video",
        json={"model": "ray-2", "prompt": "Mine", "keyframes": {"frame0": gen_frame(source["id"])}},
        headers={"Authorization": "Bearer someone-else"},
    ) as resp:
        await assert_detail(resp, 400, "Generation not found")


# -- lifecycle and reads --------------------------------------------------------------------


async def test_get_follows_the_clock_to_completed_with_assets(env) -> None:
    emu, http = env
    gen = await create(http)
    body = await finished(http, gen["id"])
    assert body["state"] == "completed"
    assert body["assets"]["video"].endswith(f"/files/{gen['id']}.mp4")
    assert body["assets"]["image"].endswith(f"/files/{gen['id']}.jpg")
    assert body["assets"]["progress_video"] is None
    assert [s.value for s, _ in emu.generations[gen["id"]].history] == [
        "queued",
        "dreaming",
        "completed",
    ]
    async with http.get(body["assets"]["video"]) as resp:
        assert (resp.status, resp.content_type) == (200, "video/mp4")


@pytest.mark.parametrize(
    ("marker", "reason"),
    [
        ("[fail]", "Advanced prompt moderation failed"),
        ("[fail:frames]", "Failed to read user input frames"),
    ],
)
async def test_fail_markers(env, marker: str, reason: str) -> None:
    _, http = env
    gen = await create(http, prompt=f"Flying jellyfish {marker}")
    body = await finished(http, gen["id"])
    assert (body["state"], body["failure_reason"], body["assets"]) == ("failed", reason, None)


async def test_stuck_marker_and_image_keyframes_are_fetched(hook: Hook) -> None:
    async with serve() as (emu, http):
        stuck = await create(http, prompt="Waiting [stuck]")
        gen = await create(
            http, prompt="The cat", keyframes={"frame0": image_frame(hook.url("/cat.jpg"))}
        )
        assert (await finished(http, gen["id"]))["state"] == "completed"
        assert (await get(http, stuck["id"]))[1]["state"] == "queued"
        (fetch,) = emu.image_fetches
        assert (fetch.generation_id, fetch.url, fetch.ok) == (gen["id"], hook.url("/cat.jpg"), True)


async def test_unknown_generation_and_route_are_404_detail(env) -> None:
    _, http = env
    async with http.get(f"{LUMA}/generations/{uuid.uuid4()}") as resp:
        await assert_detail(resp, 404, "Generation not found")
    async with http.get(f"{LUMA}/nope") as resp:
        await assert_detail(resp, 404, "Not Found")
    async with http.put(f"{LUMA}/ping") as resp:
        await assert_detail(resp, 405, "Method Not Allowed")
    # Another family's generation is not visible here, nor one of another key.
    async with http.post(
        "/v2/generate/video/luma-ai/generation", json={"prompt": "AIML one"}
    ) as resp:
        aiml = await resp.json()
    assert (await get(http, aiml["id"]))[0] == 404
    gen = await create(http)
    async with http.get(
        f"{LUMA}/generations/{gen['id']}", headers={"Authorization": "Bearer other"}
    ) as resp:
        await assert_detail(resp, 404, "Generation not found")


async def test_list_is_newest_first_paginated_and_per_key(env) -> None:
    _, http = env
    ids = [(await create(http, prompt=f"Clip number {i}"))["id"] for i in range(3)]
    async with http.post(
        f"{LUMA}/generations/video",
        json={"model": "ray-2", "prompt": "Not mine"},
        headers={"Authorization": "Bearer other"},
    ) as resp:
        assert resp.status == 201
    await http.post("/v2/generate/video/luma-ai/generation", json={"prompt": "AIML one"})

    async with http.get(f"{LUMA}/generations") as resp:
        everything = await resp.json()
    assert [g["id"] for g in everything["generations"]] == ids[::-1]
    assert {k: everything[k] for k in ("count", "has_more", "limit", "offset")} == {
        "count": 3,
        "has_more": False,
        "limit": 100,
        "offset": 0,
    }
    async with http.get(f"{LUMA}/generations", params={"limit": 2}) as resp:
        first = await resp.json()
    assert [g["id"] for g in first["generations"]] == [ids[2], ids[1]]
    assert (first["count"], first["has_more"], first["limit"]) == (2, True, 2)
    async with http.get(f"{LUMA}/generations", params={"limit": 2, "offset": 2}) as resp:
        second = await resp.json()
    assert [g["id"] for g in second["generations"]] == [ids[0]]
    assert (second["count"], second["has_more"], second["offset"]) == (1, False, 2)
    async with http.get(f"{LUMA}/generations", params={"offset": 5}) as resp:
        past = await resp.json()
    assert (past["generations"], past["count"], past["has_more"]) == ([], 0, False)


@pytest.mark.parametrize(
    "params",
    [{"limit": "ten"}, {"limit": "0"}, {"offset": "-1"}, {"offset": "1.5"}],
)
async def test_list_query_validation(env, params: dict[str, str]) -> None:
    _, http = env
    async with http.get(f"{LUMA}/generations", params=params) as resp:
        assert resp.status == 400
        body = await resp.json()
    (name,) = params
    assert set(body) == {"detail"} and body["detail"].startswith(f"{name}: ")


async def test_ping_credits_and_concepts(env) -> None:
    emu, http = env
    async with http.get(f"{LUMA}/ping") as resp:
        assert (resp.status, await resp.json()) == (200, {"message": "pong"})
    async with http.get(f"{LUMA}/credits") as resp:
        assert await resp.json() == {"credit_balance": 100000.0}
    emu.config.credit_balance = 12.5
    async with http.get(f"{LUMA}/credits") as resp:
        assert await resp.json() == {"credit_balance": 12.5}
    async with http.get(f"{LUMA}/generations/concepts/list") as resp:
        concepts = await resp.json()
    assert resp.status == 200 and "dolly_zoom" in concepts
    assert all(isinstance(c, str) for c in concepts)


# -- delete -----------------------------------------------------------------------------------


async def test_delete_is_204_then_gone_and_its_clock_stops(env) -> None:
    emu, http = env
    gen = await create(http)
    keep = await create(http, prompt="Kept one")
    async with http.delete(f"{LUMA}/generations/{gen['id']}") as resp:
        assert resp.status == 204
        assert await resp.read() == b""
    assert (await get(http, gen["id"]))[0] == 404
    async with http.get(f"{LUMA}/generations") as resp:
        assert [g["id"] for g in (await resp.json())["generations"]] == [keep["id"]]
    async with http.delete(f"{LUMA}/generations/{gen['id']}") as resp:
        await assert_detail(resp, 404, "Generation not found")

    deleted = emu.generations[gen["id"]]  # kept for tests, flagged
    assert deleted.deleted and deleted.deleted_at is not None
    await finished(http, keep["id"])
    assert deleted.state == "queued"  # the clock stopped at delete
    assert [s.value for s, _ in deleted.history] == ["queued"]
    async with http.get("/_emulator/generations") as resp:
        listed = {g["id"]: g["deleted"] for g in await resp.json()}
    assert listed == {gen["id"]: True, keep["id"]: False}


async def test_a_delete_fault_hits_only_the_delete_and_the_generation_goes_on(env) -> None:
    emu, http = env
    gen = await create(http)
    emu.inject_fault("delete", 500, message="Could not delete generation")
    assert (await get(http, gen["id"]))[0] == 200  # a GET is not a delete: untouched
    async with http.delete(f"{LUMA}/generations/{gen['id']}") as resp:
        await assert_detail(resp, 500, "Could not delete generation")
    assert not emu.generations[gen["id"]].deleted
    assert (await finished(http, gen["id"]))["state"] == "completed"


async def test_deleted_generation_cannot_be_extended_and_its_files_are_gone(env) -> None:
    _, http = env
    gen = await create(http)
    done = await finished(http, gen["id"])
    async with http.delete(f"{LUMA}/generations/{gen['id']}") as resp:
        assert resp.status == 204
    async with http.get(done["assets"]["video"]) as resp:
        assert resp.status == 404
    body = {"model": "ray-2", "prompt": "Further", "keyframes": {"frame0": gen_frame(gen["id"])}}
    assert await post(http, body) == (400, {"detail": "Generation not found"})


async def test_delete_frees_a_concurrency_slot() -> None:
    async with serve(max_concurrent=1) as (_, http):
        gen = await create(http, prompt="Busy [stuck]")
        async with http.post(
            f"{LUMA}/generations/video", json={"model": "ray-2", "prompt": "One more"}
        ) as resp:
            assert resp.headers["Retry-After"] == "1"
            await assert_detail(resp, 429, "Too Many Requests")
        await http.delete(f"{LUMA}/generations/{gen['id']}")
        await create(http, prompt="One more")


# -- auth and faults: every error is {"detail": ...} ---------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer ", "Basic abc"])
async def test_missing_or_bad_key_is_401_detail(header: str | None) -> None:
    async with serve(api_keys=frozenset({KEY})) as (emu, _):
        headers = {} if header is None else {"Authorization": header}
        async with aiohttp.ClientSession(base_url=emu.url, headers=headers) as raw:
            async with raw.get(f"{LUMA}/ping") as resp:
                await assert_detail(resp, 401, "Invalid API key is provided")
        async with aiohttp.ClientSession(
            base_url=emu.url, headers={"Authorization": "Bearer wrong"}
        ) as raw:
            async with raw.post(f"{LUMA}/generations/video", json={}) as resp:
                await assert_detail(resp, 401, "Invalid API key is provided")


async def test_no_credits_key_is_403_detail() -> None:
    async with serve(no_credits_keys=frozenset({KEY})) as (_, http):
        async with http.post(
            f"{LUMA}/generations/video", json={"model": "ray-2", "prompt": "Broke"}
        ) as resp:
            await assert_detail(resp, 403, "Insufficient credits")


async def test_injected_faults_answer_with_detail(env) -> None:
    emu, http = env
    emu.inject_fault("create", 429, retry_after=2)
    async with http.post(
        f"{LUMA}/generations/video", json={"model": "ray-2", "prompt": "Jellyfish"}
    ) as resp:
        assert resp.headers["Retry-After"] == "2"
        await assert_detail(resp, 429, "Too Many Requests")
    gen = await create(http)  # one-shot
    emu.inject_fault("fetch", 503)
    async with http.get(f"{LUMA}/generations/{gen['id']}") as resp:
        await assert_detail(resp, 503, "Service Unavailable")
    emu.inject_fault("fetch", 500, message="Job queue exploded")
    async with http.delete(f"{LUMA}/generations/{gen['id']}") as resp:
        await assert_detail(resp, 500, "Job queue exploded")
    emu.inject_fault("any", 502)
    async with http.get(f"{LUMA}/ping") as resp:
        await assert_detail(resp, 502, "Bad Gateway")
    # The AIML families keep their own bodies.
    emu.inject_fault("fetch", 503)
    async with http.get(
        "/v2/generate/video/luma-ai/generation", params={"generation_id": str(uuid.uuid4())}
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["message"], body["statusCode"]) == (503, "Service unavailable", 503)


async def test_routes_are_recorded_with_their_family(env) -> None:
    emu, http = env
    gen = await create(http)
    await get(http, gen["id"])
    await http.get(f"{LUMA}/generations")
    await http.delete(f"{LUMA}/generations/{gen['id']}")
    assert [r.route for r in emu.requests] == [
        "create.luma.create_video",
        "fetch.luma.get",
        "fetch.luma.list",
        "fetch.luma.delete",
    ]


# -- callbacks --------------------------------------------------------------------------------


async def test_callbacks_post_dreaming_then_completed(hook: Hook) -> None:
    async with serve() as (emu, http):
        gen = await create(http, callback_url=hook.url())
        assert gen["request"]["callback_url"] == hook.url()
        done = await finished(http, gen["id"])
        # The hook sees a post before the emulator has read the answer and recorded the try.
        await until(lambda: len(hook.received) == 2 and len(emu.callbacks) == 2)
        assert hook.states() == ["dreaming", "completed"]
        # The body is the Generation object, as GET shows it in that state.
        assert hook.received[1] == done
        assert hook.received[0]["assets"] is None and hook.received[0]["id"] == gen["id"]
        attempts = list(emu.callbacks)
        async with http.get("/_emulator/callbacks") as resp:
            listed = await resp.json()
    assert all(isinstance(a, CallbackAttempt) for a in attempts)
    assert [(a.state, a.attempt, a.repeat, a.status, a.ok, a.dropped) for a in attempts] == [
        ("dreaming", 1, 1, 200, True, False),
        ("completed", 1, 1, 200, True, False),
    ]
    assert {(a.generation_id, a.url, a.error) for a in attempts} == {(gen["id"], hook.url(), None)}
    assert [c["state"] for c in listed] == ["dreaming", "completed"]
    assert listed[0]["ok"] is True and listed[0]["generation_id"] == gen["id"]


async def test_callback_on_failure(hook: Hook) -> None:
    async with serve() as (_, http):
        gen = await create(http, prompt="Jellyfish [fail:frames]", callback_url=hook.url())
        await finished(http, gen["id"])
        await until(lambda: len(hook.received) == 2)
    assert hook.states() == ["dreaming", "failed"]
    assert hook.received[1]["failure_reason"] == "Failed to read user input frames"


async def test_no_callbacks_without_callback_url(hook: Hook) -> None:
    async with serve() as (emu, http):
        gen = await create(http)
        await finished(http, gen["id"])
        await asyncio.sleep(0.05)
    assert emu.callbacks == [] and hook.received == []


async def test_failed_callback_is_retried_three_times_then_given_up(hook: Hook) -> None:
    async with serve(dream_seconds=1.0) as (emu, http):
        hook.statuses = [500] * 4
        await create(http, prompt="Retry me [stuck]", callback_url=hook.url())
        gen = await create(http, callback_url=hook.url())
        await until(lambda: len(emu.callbacks) == 4)
        await asyncio.sleep(0.15)  # nothing more comes
        attempts = list(emu.callbacks)
        assert emu.generations[gen["id"]].state == "dreaming"  # the clock was never held up
    assert [(a.state, a.attempt, a.status, a.error) for a in attempts] == [
        ("dreaming", n, 500, "HTTP 500") for n in (1, 2, 3, 4)
    ]
    assert len(hook.received) == 4
    gaps = [b.sent_at - a.sent_at for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 0.09 for gap in gaps), gaps  # 100 ms apart


async def test_callback_retry_succeeds_and_order_is_kept(hook: Hook) -> None:
    async with serve(callback_retry_delay=0.01) as (emu, http):
        hook.statuses = [503, 404]  # the first post fails twice, then all succeed
        gen = await create(http, callback_url=hook.url())
        await finished(http, gen["id"])
        await until(lambda: len(emu.callbacks) == 4)
    assert [(a.state, a.attempt, a.status) for a in emu.callbacks] == [
        ("dreaming", 1, 503),
        ("dreaming", 2, 404),
        ("dreaming", 3, 200),
        ("completed", 1, 200),
    ]
    assert hook.states() == ["dreaming"] * 3 + ["completed"]


async def test_callback_connection_errors_and_timeouts_are_retried(hook: Hook) -> None:
    async with serve(callback_retry_delay=0.01, callback_timeout=0.1, callback_max_retries=1) as (
        emu,
        http,
    ):
        await create(http, prompt="Hang [stuck]", callback_url=hook.url("/hang"))
        gen = await create(http, callback_url=hook.url("/hang"))
        refused = await create(http, callback_url=f"http://127.0.0.1:{free_port()}/hook")
        await finished(http, gen["id"])
        await finished(http, refused["id"])
        await until(lambda: len(emu.callbacks) == 8)
    hung = [a for a in emu.callbacks if a.generation_id == gen["id"]]
    assert [(a.state, a.attempt, a.status, a.error) for a in hung] == [
        ("dreaming", 1, None, "timed out after 0.1s"),
        ("dreaming", 2, None, "timed out after 0.1s"),
        ("completed", 1, None, "timed out after 0.1s"),
        ("completed", 2, None, "timed out after 0.1s"),
    ]
    lost = [a for a in emu.callbacks if a.generation_id == refused["id"]]
    assert len(lost) == 4 and all(a.status is None and not a.ok for a in lost)
    assert all(a.error and "Connect" in a.error for a in lost)


async def test_callback_repeats_post_each_state_twice(hook: Hook) -> None:
    async with serve(callback_repeats=2) as (emu, http):
        gen = await create(http, callback_url=hook.url())
        await finished(http, gen["id"])
        await until(lambda: len(hook.received) == 4 and len(emu.callbacks) == 4)
    assert hook.states() == ["dreaming", "dreaming", "completed", "completed"]
    assert hook.received[0] == hook.received[1]
    assert [(a.state, a.repeat) for a in emu.callbacks] == [
        ("dreaming", 1),
        ("dreaming", 2),
        ("completed", 1),
        ("completed", 2),
    ]


async def test_dropped_callbacks_are_recorded_but_not_sent(hook: Hook) -> None:
    async with serve(drop_callbacks=True) as (emu, http):
        gen = await create(http, callback_url=hook.url())
        await finished(http, gen["id"])
        await until(lambda: len(emu.callbacks) == 2)
        await asyncio.sleep(0.05)
    assert hook.received == []
    assert [(a.state, a.dropped, a.status, a.error, a.ok) for a in emu.callbacks] == [
        ("dreaming", True, None, "dropped", False),
        ("completed", True, None, "dropped", False),
    ]


async def test_drop_next_callbacks_loses_only_that_many(hook: Hook) -> None:
    async with serve() as (emu, http):
        emu.drop_next_callbacks(1)
        gen = await create(http, callback_url=hook.url())
        await finished(http, gen["id"])
        await until(lambda: len(hook.received) == 1)
        other = await create(http, callback_url=hook.url())
        await finished(http, other["id"])
        await until(lambda: len(hook.received) == 3 and len(emu.callbacks) == 4)
    assert hook.states() == ["completed", "dreaming", "completed"]
    assert [(a.generation_id, a.state, a.dropped) for a in emu.callbacks] == [
        (gen["id"], "dreaming", True),
        (gen["id"], "completed", False),
        (other["id"], "dreaming", False),
        (other["id"], "completed", False),
    ]


async def test_delete_stops_callbacks_including_retries(hook: Hook) -> None:
    async with serve(dream_seconds=0.2, callback_retry_delay=0.05) as (emu, http):
        hook.statuses = [500] * 10
        gen = await create(http, callback_url=hook.url())
        await until(lambda: len(emu.callbacks) == 1)  # dreaming, first try failed
        async with http.delete(f"{LUMA}/generations/{gen['id']}") as resp:
            assert resp.status == 204
        await asyncio.sleep(0.4)  # past the retries and the planned completion
        assert len(emu.callbacks) == 1 and len(hook.received) == 1
        assert emu.generations[gen["id"]].state == "dreaming"


async def test_forced_states_are_called_back(hook: Hook) -> None:
    async with serve() as (_, http):
        gen = await create(http, prompt="Operator [stuck]", callback_url=hook.url())
        async with http.post(
            f"/_emulator/generations/{gen['id']}/state",
            json={"state": "failed", "failure_reason": "Job failed"},
        ) as resp:
            assert resp.status == 200
        await until(lambda: len(hook.received) == 1)
    assert (hook.received[0]["state"], hook.received[0]["failure_reason"]) == (
        "failed",
        "Job failed",
    )


async def test_shutdown_cancels_pending_callbacks(hook: Hook) -> None:
    async with serve(callback_timeout=30) as (emu, http):
        gen = await create(http, callback_url=hook.url("/hang"))
        await until(lambda: emu.generations[gen["id"]].state == "dreaming")
        await asyncio.sleep(0.05)  # the post is under way and hangs
    # Cancelled, not waited for: a try that ran to its 30 s timeout would be recorded as failed.
    assert emu.callbacks == []


async def test_reset_clears_callbacks(hook: Hook) -> None:
    async with serve() as (emu, http):
        gen = await create(http, callback_url=hook.url())
        await finished(http, gen["id"])
        await until(lambda: len(emu.callbacks) == 2)
        async with http.post("/_emulator/reset") as resp:
            assert resp.status == 200
        assert emu.callbacks == []
        async with http.get("/_emulator/callbacks") as resp:
            assert await resp.json() == []


def test_cli_callback_flags() -> None:
    config = config_from_args(
        parse_args(["--drop-callbacks", "--callback-repeats", "2", "--credit-balance", "7"])
    )
    assert (config.drop_callbacks, config.callback_repeats, config.credit_balance) == (
        True,
        2,
        7.0,
    )
    defaults = config_from_args(parse_args([]))
    assert (defaults.drop_callbacks, defaults.callback_repeats) == (False, 1)
    assert (defaults.callback_retry_delay, defaults.callback_timeout) == (0.1, 5.0)
    assert defaults.callback_max_retries == 3


@pytest.mark.parametrize(
    "overrides",
    [
        {"callback_repeats": 0},
        {"callback_max_retries": -1},
        {"callback_timeout": 0},
        {"callback_retry_delay": -0.1},
    ],
)
def test_callback_config_validation(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**overrides)
