"""The video API emulator, driven over real HTTP with tiny timings."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import EmulatorConfig, ImageFetch, run_emulator
from emulator.__main__ import config_from_args, parse_args
from emulator.assets import mp4_dimensions, sample_bytes, video_bytes

V2 = "/v2/generate/video/luma-ai"
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
FAST = {"queue_seconds": 0.05, "dream_seconds": 0.1, "long_poll_seconds": 0.3}
# A long-poll hold long enough that only a poll that fails to wake can run it out: tests compare
# the emulator's own record of how long it held a request against it, never the wall clock.
LONG_HOLD = 30.0
UNAUTHORIZED = (
    "This request requires a valid API key. "
    "You can create a new API key on the Billing page: https://aimlapi.com/app/keys"
)
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@asynccontextmanager
async def serve(**overrides: Any) -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    config = EmulatorConfig(**{**FAST, **overrides})
    async with (
        run_emulator(config, port=0) as emu,
        aiohttp.ClientSession(base_url=emu.url, headers=AUTH) as http,
    ):
        yield emu, http


@pytest.fixture
async def env() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    async with serve() as pair:
        yield pair


async def create(http: aiohttp.ClientSession, **body: Any) -> dict[str, Any]:
    body.setdefault("prompt", "Flying jellyfish")
    async with http.post(f"{V2}/generation", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def fetch(
    http: aiohttp.ClientSession, gen_id: str, **params: str
) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{V2}/generation", params={"generation_id": gen_id, **params}) as resp:
        return resp.status, await resp.json()


async def completed(http: aiohttp.ClientSession, gen_id: str) -> dict[str, Any]:
    """Long-poll until completed (the emulator's clock is a fraction of a second)."""
    for _ in range(20):
        status, body = await fetch(http, gen_id, state="completed")
        assert status == 200
        if body["state"] in ("completed", "failed"):
            return body
    raise AssertionError("generation never finished")


def held(request: Any) -> float:
    """How long the emulator held a request before answering, by its own clock."""
    assert request.held is not None, "the emulator has not answered it"
    return request.held


def assert_aiml_error(body: dict[str, Any], status: int, path: str) -> None:
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["statusCode"] == status  # a number, not "400"
    assert body["path"] == path
    uuid.UUID(body["requestId"])
    assert TIMESTAMP_RE.match(body["timestamp"])


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer ", "Basic abc", "Token test-key"])
async def test_missing_or_malformed_key_is_401(env, header: str | None) -> None:
    emu, _ = env
    headers = {} if header is None else {"Authorization": header}
    async with aiohttp.ClientSession() as raw:
        async with raw.post(f"{emu.url}{V2}/generation", json={}, headers=headers) as resp:
            assert resp.status == 401
            body = await resp.json()
    assert_aiml_error(body, 401, f"{V2}/generation")
    assert body["message"] == UNAUTHORIZED


async def test_only_configured_keys_are_accepted() -> None:
    async with serve(api_keys=frozenset({"good"})) as (emu, _):
        async with aiohttp.ClientSession(base_url=emu.url) as raw:
            for key, expected in (("good", 201), ("bad", 401)):
                headers = {"Authorization": f"Bearer {key}"}
                body = {"prompt": "Flying jellyfish"}
                async with raw.post(f"{V2}/generation", json=body, headers=headers) as resp:
                    assert resp.status == expected


async def test_no_credits_key_is_403() -> None:
    async with serve(no_credits_keys=frozenset({KEY})) as (_, http):
        async with http.post(f"{V2}/generation", json={"prompt": "Flying jellyfish"}) as resp:
            assert resp.status == 403
            body = await resp.json()
    assert_aiml_error(body, 403, f"{V2}/generation")
    assert body["message"].startswith("You've run out of credits")


# -- v2 create validation -------------------------------------------------------------------

GEN_ID = "0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"prompt": "Flying jellyfish", "foo": 1}, "Unrecognized key(s) in object: 'foo'"),
        ({"prompt": "Flying jellyfish", "concepts": "x"}, "'concepts'"),
        ({"prompt": "Flying jellyfish", "aspect_ratio": "19:9"}, "received '19:9'"),
        ({"prompt": "Flying jellyfish", "aspect_ratio": None}, "aspect_ratio"),
        ({"prompt": "Flying jellyfish", "loop": "true"}, "loop: Expected boolean"),
        ({"prompt": "Flying jellyfish", "duration": 5}, "duration"),
        ({"prompt": "Flying jellyfish", "model": "ray-3"}, "model: Invalid enum value"),
        ({"aspect_ratio": "16:9"}, "prompt: Required"),
        ({"prompt": "Fl"}, "Prompt is too short"),
        ({"prompt": "x" * 2049}, "maximum length is 2048"),
        (
            {"prompt": "Flying", "keyframes": {"frame0": {"type": "image", "url": "x", "a": 1}}},
            "keyframes.frame0: Unrecognized key(s) in object: 'a'",
        ),
        (
            {"prompt": "Flying", "keyframes": {"frame0": {"type": "video", "url": "http://a/b"}}},
            "keyframes.frame0: Invalid discriminator value",
        ),
        (
            {"prompt": "Flying", "keyframes": {"frame0": {"type": "generation", "id": "42"}}},
            "keyframes.frame0.id: Invalid uuid",
        ),
        (
            {"prompt": "Flying", "keyframes": {"frame0": {"type": "image", "url": "not a uri"}}},
            "keyframes.frame0.url: Invalid url",
        ),
        ({"prompt": "Flying", "keyframes": {}}, "No keyframes provided"),
        (
            {
                "prompt": "Flying",
                "loop": True,
                "keyframes": {"frame1": {"type": "image", "url": "https://x.test/a.png"}},
            },
            "Loop is not supported for end frame",
        ),
        (
            {
                "prompt": "Flying",
                "loop": True,
                "keyframes": {
                    "frame0": {"type": "image", "url": "https://x.test/a.png"},
                    "frame1": {"type": "image", "url": "https://x.test/b.png"},
                },
            },
            "Loop is not supported for keyframes",
        ),
        (
            {"prompt": "Flying", "keyframes": {"frame0": {"type": "generation", "id": GEN_ID}}},
            "keyframes.frame0.id: Generation not found",
        ),
    ],
)
async def test_create_rejects_invalid_bodies(env, body: dict[str, Any], fragment: str) -> None:
    emu, http = env
    async with http.post(f"{V2}/generation", json=body) as resp:
        assert resp.status == 400
        error = await resp.json()
    assert_aiml_error(error, 400, f"{V2}/generation")
    assert error["message"].startswith("Body validation error!")
    assert fragment in error["message"]
    assert emu.generations == {}


async def test_create_rejects_non_json_content_type(env) -> None:
    _, http = env
    async with http.post(f"{V2}/generation", data="prompt=Flying jellyfish") as resp:
        assert resp.status == 400
        assert "Content-Type" in (await resp.json())["message"]


async def test_extend_needs_a_completed_source(env) -> None:
    emu, http = env
    source = await create(http, prompt="Source [stuck]")
    keyframes = {"frame0": {"type": "generation", "id": source["id"]}}
    async with http.post(f"{V2}/generation", json={"prompt": "More", "keyframes": keyframes}) as r:
        assert r.status == 400
        assert "completed state" in (await r.json())["message"]
    emu.force_state(source["id"], "completed")
    extended = await create(http, prompt="More", keyframes=keyframes, loop=True)
    assert emu.generations[extended["id"]].parent_id == source["id"]
    # Prepending with loop is one of Luma's forbidden combinations.
    reverse = {"frame1": {"type": "generation", "id": source["id"]}}
    body = {"prompt": "More", "loop": True, "keyframes": reverse}
    async with http.post(f"{V2}/generation", json=body) as resp:
        assert resp.status == 400
        assert "Loop is not supported for extend reverse" in (await resp.json())["message"]


# -- v2 lifecycle and long-poll -------------------------------------------------------------


async def test_create_returns_queued_generation_object(env) -> None:
    emu, http = env
    gen = await create(http, prompt="Flying jellyfish", aspect_ratio="16:9", loop=False)
    uuid.UUID(gen["id"])
    assert gen["state"] == "queued"
    assert gen["assets"] is None
    assert gen["failure_reason"] is None
    assert gen["generation_type"] == "video"
    assert gen["model"] == "ray-2"
    assert gen["request"]["prompt"] == "Flying jellyfish"
    assert emu.generations[gen["id"]].state == "queued"


async def test_long_poll_returns_as_soon_as_completed(env) -> None:
    emu, http = env
    emu.config.long_poll_seconds = LONG_HOLD
    gen = await create(http)
    status, body = await fetch(http, gen["id"], state="completed")
    assert status == 200
    assert body["state"] == "completed"
    assert held(emu.requests[-1]) < LONG_HOLD  # woken at completion (after 0.15 s), not held out
    assets = body["assets"]
    assert assets["video"] == f"{emu.url}/files/{gen['id']}.mp4"
    assert assets["image"] == f"{emu.url}/files/{gen['id']}.jpg"
    assert assets["progress_video"] is None
    history = [state.value for state, _ in emu.generations[gen["id"]].history]
    assert history == ["queued", "dreaming", "completed"]


async def test_long_poll_holds_then_returns_current_state(env) -> None:
    _, http = env
    gen = await create(http, prompt="Never moves [stuck]")
    started = time.monotonic()
    status, body = await fetch(http, gen["id"], state="dreaming")
    assert status == 200
    assert body["state"] == "queued"
    assert time.monotonic() - started >= 0.29  # long_poll_seconds = 0.3


async def test_fetch_without_wait_is_immediate(env) -> None:
    emu, http = env
    emu.config.long_poll_seconds = LONG_HOLD
    gen = await create(http, prompt="Never moves [stuck]")
    status, body = await fetch(http, gen["id"])
    assert (status, body["state"]) == (200, "queued")
    assert held(emu.requests[-1]) < LONG_HOLD


async def test_force_state_wakes_a_long_poll(env) -> None:
    emu, http = env
    emu.config.long_poll_seconds = LONG_HOLD
    gen = await create(http, prompt="Never moves [stuck]")
    poll = asyncio.create_task(fetch(http, gen["id"], state="completed"))
    await asyncio.sleep(0.05)
    assert not poll.done()
    emu.force_state(gen["id"], "completed")
    status, body = await poll
    assert (status, body["state"]) == (200, "completed")
    assert held(emu.requests[-1]) < LONG_HOLD  # woken by the forced state, not held out


@pytest.mark.parametrize(
    ("marker", "reason"),
    [
        ("[fail]", "Advanced prompt moderation failed"),
        ("[FAIL:moderation]", "Advanced prompt moderation failed"),
        ("[fail:frames]", "Failed to read user input frames"),
        ("[fail:image]", "400: failed to moderate image"),
    ],
)
async def test_fail_markers_fail_with_reason(env, marker: str, reason: str) -> None:
    emu, http = env
    emu.config.long_poll_seconds = 5.0
    gen = await create(http, prompt=f"Flying jellyfish {marker}")
    body = await completed(http, gen["id"])
    assert body["state"] == "failed"
    assert body["failure_reason"] == reason
    assert body["assets"] is None
    assert marker in body["request"]["prompt"]
    # failed ranks beyond completed: waiting for completed returns at once.
    emu.config.long_poll_seconds = LONG_HOLD
    status, again = await fetch(http, gen["id"], state="completed")
    assert (status, again["state"]) == (200, "failed")
    assert held(emu.requests[-1]) < LONG_HOLD


async def test_slow_marker_stretches_the_dream_phase(env) -> None:
    emu, http = env
    emu.config.dream_seconds = 0.02
    emu.config.long_poll_seconds = 5.0
    gen = await create(http, prompt="Slowly [SLOW]")
    assert (await completed(http, gen["id"]))["state"] == "completed"
    times = dict(emu.generations[gen["id"]].history)
    assert times["completed"] - times["dreaming"] >= 0.19  # 10 x 0.02 s


@pytest.mark.parametrize(
    "params",
    [
        {"state": "failed"},
        {"state": "streaming"},
        {"state": "Completed"},
        {"generation_id": "not-a-uuid"},
    ],
)
async def test_single_fetch_query_validation(env, params: dict[str, str]) -> None:
    _, http = env
    gen = await create(http)
    async with http.get(f"{V2}/generation", params={"generation_id": gen["id"], **params}) as r:
        assert r.status == 400
        body = await r.json()
    assert_aiml_error(body, 400, f"{V2}/generation")
    assert body["message"].startswith("Query validation error!")


async def test_single_fetch_missing_id_is_400(env) -> None:
    _, http = env
    async with http.get(f"{V2}/generation") as resp:
        assert resp.status == 400


async def test_unknown_generation_is_404(env) -> None:
    _, http = env
    status, body = await fetch(http, str(uuid.uuid4()))
    assert status == 404
    assert body["message"] == "Generation not found"
    assert_aiml_error(body, 404, f"{V2}/generation")


async def test_wrong_named_wait_param_is_ignored(env) -> None:
    emu, http = env
    emu.config.long_poll_seconds = LONG_HOLD
    gen = await create(http, prompt="Never moves [stuck]")
    status, body = await fetch(http, gen["id"], status="completed")
    assert (status, body["state"]) == (200, "queued")
    assert held(emu.requests[-1]) < LONG_HOLD
    params = [("generation_ids", gen["id"]), ("state", "completed")]
    async with http.get(f"{V2}/generations", params=params) as resp:
        assert resp.status == 200
    assert held(emu.requests[-1]) < LONG_HOLD


async def test_strict_wait_params_reject_wrong_name() -> None:
    async with serve(strict_wait_params=True) as (_, http):
        gen = await create(http)
        status, _ = await fetch(http, gen["id"], status="completed")
        assert status == 400
        params = [("generation_ids", gen["id"]), ("state", "completed")]
        async with http.get(f"{V2}/generations", params=params) as resp:
            assert resp.status == 400


# -- v2 multi fetch ---------------------------------------------------------------------------


async def test_multi_fetch_accepts_every_id_encoding_in_request_order(env) -> None:
    _, http = env
    a, b, c = [(await create(http, prompt=f"Clip {n} [stuck]"))["id"] for n in "abc"]
    order = [c, a, b]
    encodings = [
        [("generation_ids[]", i) for i in order],
        [(f"generation_ids[{n}]", i) for n, i in enumerate(order)],
        [("generation_ids[1]", a), ("generation_ids[0]", c), ("generation_ids[2]", b)],
        [("generation_ids", ",".join(order))],
        [("generation_ids", i) for i in order],
    ]
    for params in encodings:
        async with http.get(f"{V2}/generations", params=params) as resp:
            assert resp.status == 200, params
            body = await resp.json()
        assert isinstance(body, list)
        assert [g["id"] for g in body] == order, params
        assert {g["state"] for g in body} == {"queued"}


async def test_multi_fetch_waits_for_all(env) -> None:
    emu, http = env
    emu.config.long_poll_seconds = LONG_HOLD
    quick = (await create(http))["id"]
    stuck = (await create(http, prompt="Never moves [stuck]"))["id"]
    params = [("generation_ids[]", quick), ("generation_ids[]", stuck), ("status", "completed")]

    async def get() -> list[dict[str, Any]]:
        async with http.get(f"{V2}/generations", params=params) as resp:
            assert resp.status == 200
            return await resp.json()

    poll = asyncio.create_task(get())
    await fetch(http, quick, state="completed")
    await asyncio.sleep(0.05)
    assert not poll.done()  # one of two is done: keep holding
    emu.force_state(stuck, "completed")
    body = await poll
    assert [g["state"] for g in body] == ["completed", "completed"]
    (held_poll,) = [r for r in emu.requests if r.path.endswith("/generations")]
    assert held(held_poll) < LONG_HOLD  # woken when the second one was done, not held out


@pytest.mark.parametrize(
    "params",
    [
        [("generation_ids", "a,b")],
        [("generation_ids[]", "x")],
        [("status", "completed")],
        [("generation_ids", GEN_ID), ("status", "streaming")],
        [("generation_ids", GEN_ID), ("status", "failed")],
        [("generation_ids", ",".join(str(uuid.uuid4()) for _ in range(7)))],
    ],
)
async def test_multi_fetch_query_validation(env, params: list[tuple[str, str]]) -> None:
    _, http = env
    async with http.get(f"{V2}/generations", params=params) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"].startswith("Query validation error!")


async def test_multi_fetch_unknown_id_is_404(env) -> None:
    _, http = env
    known = (await create(http))["id"]
    params = {"generation_ids": f"{known},{uuid.uuid4()}"}
    async with http.get(f"{V2}/generations", params=params) as resp:
        assert resp.status == 404
        assert (await resp.json())["message"] == "Generation not found"


# -- files ------------------------------------------------------------------------------------


async def test_completed_video_is_a_real_mp4(env) -> None:
    _, http = env
    gen = await completed(http, (await create(http))["id"])
    async with http.get(gen["assets"]["video"]) as resp:
        assert resp.status == 200
        assert resp.content_type == "video/mp4"
        data = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(data)
    assert data[4:8] == b"ftyp"
    assert len(data) < 30_000
    async with http.get(gen["assets"]["image"]) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/jpeg"
        assert (await resp.read())[:2] == b"\xff\xd8"


async def test_files_are_404_until_completed_and_for_unknown_ids(env) -> None:
    _, http = env
    gen = await create(http, prompt="Never moves [stuck]")
    for name in (f"{gen['id']}.mp4", f"{uuid.uuid4()}.mp4", f"{gen['id']}.gif"):
        async with http.get(f"/files/{name}") as resp:
            assert resp.status == 404


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
@pytest.mark.parametrize("size", [None, 9_000, 5_000_000])
def test_sample_video_size_matches_ffprobe(tmp_path, size: int | None) -> None:
    """The sample, and the sample padded to a real size (a trailing free box), probe alike."""
    data = video_bytes(size)
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    command = (
        "ffprobe -v error -select_streams v:0 -show_entries "
        "stream=width,height,codec_name:format=duration,size"
    )
    out = subprocess.run(
        [*command.split(), "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    probed = json.loads(out.stdout)
    stream = probed["streams"][0]
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == mp4_dimensions(data) == (320, 180)
    assert float(probed["format"]["duration"]) == pytest.approx(2.0, abs=0.1)
    assert int(probed["format"]["size"]) == len(data) == (size or len(sample_bytes("sample.mp4")))
    if shutil.which("ffmpeg"):  # and it decodes without a complaint
        decoded = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
            capture_output=True,
            check=True,
            text=True,
        )
        assert decoded.stderr == ""


async def test_public_url_is_used_for_assets() -> None:
    async with serve(public_url="https://emu.example/") as (emu, http):
        gen = await create(http)
        emu.force_state(gen["id"], "completed")
        _, body = await fetch(http, gen["id"])
    assert body["assets"]["video"] == f"https://emu.example/files/{gen['id']}.mp4"


# -- AIML v1 legacy ---------------------------------------------------------------------------


async def legacy_create(http: aiohttp.ClientSession, prefix: str = "", **body: Any) -> Any:
    body = {"user_prompt": "Flying jellyfish", "aspect_ratio": "16:9", **body}
    async with http.post(f"{prefix}/luma-ai/generations", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def legacy_fetch(http: aiohttp.ClientSession, params: Any, prefix: str = "") -> Any:
    async with http.get(f"{prefix}/luma-ai/generation", params=params) as resp:
        return resp.status, await resp.json()


async def test_legacy_states_and_video_object(env) -> None:
    emu, http = env
    gen = await legacy_create(http, user_prompt="Jellyfish [stuck]", expand_prompt=True)
    assert set(gen) == {
        "created_at",
        "estimate_wait_seconds",
        "id",
        "liked",
        "prompt",
        "state",
        "video",
    }
    assert (gen["state"], gen["video"], gen["prompt"]) == ("pending", None, "Jellyfish [stuck]")
    for forced, shown in (("dreaming", "processing"), ("completed", "completed")):
        emu.force_state(gen["id"], forced)
        status, body = await legacy_fetch(http, {"ids[0]": gen["id"]})
        assert status == 200
        assert [g["state"] for g in body] == [shown]
    video = body[0]["video"]
    assert video["url"] == f"{emu.url}/files/{gen['id']}.mp4"
    assert video["thumbnail"] == f"{emu.url}/files/{gen['id']}.jpg"
    assert (video["width"], video["height"]) == mp4_dimensions(sample_bytes("sample.mp4"))
    assert (video["width"], video["height"]) == (320, 180)


async def test_legacy_clock_reaches_completed(env) -> None:
    emu, http = env
    gen = await legacy_create(http)
    seen = ["pending"]
    deadline = time.monotonic() + 10  # gives up on a failing test only
    while seen[-1] != "completed" and time.monotonic() < deadline:
        _, body = await legacy_fetch(http, {"ids": gen["id"]})
        if body[0]["state"] != seen[-1]:
            seen.append(body[0]["state"])
        await asyncio.sleep(0.01)
    assert seen[-1] == "completed"
    assert set(seen) <= {"pending", "processing", "completed"}
    history = [s.legacy for s, _ in emu.generations[gen["id"]].history]
    assert history == ["pending", "processing", "completed"]


async def test_legacy_wait_estimate_counts_down_when_enabled(env) -> None:
    emu, http = env
    assert (await legacy_create(http))["estimate_wait_seconds"] is None  # upstream default
    emu.config.report_wait_estimate = True
    emu.config.queue_seconds, emu.config.dream_seconds = 0.2, 3.0
    gen = await legacy_create(http)
    await asyncio.sleep(0.05)
    _, body = await legacy_fetch(http, {"ids": gen["id"]})
    assert 2 <= body[0]["estimate_wait_seconds"] <= 4
    emu.force_state(gen["id"], "completed")
    _, body = await legacy_fetch(http, {"ids": gen["id"]})
    assert body[0]["estimate_wait_seconds"] is None


async def test_legacy_fetch_encodings_order_and_validation(env) -> None:
    _, http = env
    a, b = [(await legacy_create(http, user_prompt=f"Clip {n}"))["id"] for n in "ab"]
    for params in (
        [("ids[]", b), ("ids[]", a)],
        [("ids[0]", b), ("ids[1]", a)],
        [("ids", f"{b},{a}")],
        [("ids", b), ("ids", a)],
    ):
        status, body = await legacy_fetch(http, params)
        assert status == 200
        assert [g["id"] for g in body] == [b, a]
    for bad in ([("ids", a), ("state", "completed")], [("ids", "nope")], []):
        status, body = await legacy_fetch(http, bad)
        assert status == 400
        assert body["message"].startswith("Query validation error!")
    status, _ = await legacy_fetch(http, {"ids": str(uuid.uuid4())})
    assert status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"user_prompt": "Flying jellyfish"},
        {"aspect_ratio": "16:9"},
        {"user_prompt": "Flying jellyfish", "aspect_ratio": "19:9"},
        {"user_prompt": "Flying jellyfish", "aspect_ratio": "16:9", "prompt": "x"},
        {"user_prompt": "Flying jellyfish", "aspect_ratio": "16:9", "model": "ray-2"},
        {"user_prompt": "Flying jellyfish", "aspect_ratio": "16:9", "image_url": "nope"},
        {"user_prompt": "Fl", "aspect_ratio": "16:9"},
    ],
)
async def test_legacy_create_validation(env, body: dict[str, Any]) -> None:
    _, http = env
    async with http.post("/luma-ai/generations", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"].startswith("Body validation error!")


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_legacy_extend_and_v1_alias(env, prefix: str) -> None:
    emu, http = env
    parent = await legacy_create(http, prefix, user_prompt="Parent [stuck]")
    body = {"user_prompt": "Jellyfish with a hat", "aspect_ratio": "16:9"}
    extend = f"{prefix}/luma-ai/generations/{parent['id']}/extend"
    async with http.post(extend, json=body) as resp:
        assert resp.status == 400  # parent still pending
    emu.force_state(parent["id"], "completed")
    async with http.post(extend, json=body) as resp:
        assert resp.status == 201
        child = await resp.json()
    assert child["id"] != parent["id"]
    assert child["state"] == "pending"
    assert emu.generations[child["id"]].parent_id == parent["id"]
    async with http.post(f"{prefix}/luma-ai/generations/{uuid.uuid4()}/extend", json=body) as r:
        assert r.status == 400
    status, fetched = await legacy_fetch(http, {"ids[]": child["id"]}, prefix)
    assert status == 200 and fetched[0]["id"] == child["id"]


async def test_families_do_not_share_ids(env) -> None:
    _, http = env
    legacy = await legacy_create(http)
    status, _ = await fetch(http, legacy["id"])
    assert status == 404
    v2 = await create(http)
    status, _ = await legacy_fetch(http, {"ids": v2["id"]})
    assert status == 404


# -- rate limit and faults --------------------------------------------------------------------


async def test_max_concurrent_is_429_with_retry_after() -> None:
    async with serve(max_concurrent=1) as (emu, http):
        first = await create(http, prompt="Busy [stuck]")
        async with http.post(f"{V2}/generation", json={"prompt": "Second"}) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "1"
            assert (await resp.json())["message"] == "Too Many Requests"
        emu.force_state(first["id"], "failed")
        await create(http, prompt="Now there is room")


async def test_fault_429_with_retry_after_then_normal(env) -> None:
    emu, http = env
    emu.inject_fault(route="create", status=429, retry_after=1)
    async with http.post(f"{V2}/generation", json={"prompt": "Flying jellyfish"}) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
        body = await resp.json()
    assert_aiml_error(body, 429, f"{V2}/generation")
    assert body["message"] == "Too Many Requests"
    assert emu.generations == {}
    await create(http)  # one-shot
    assert len(emu.requests) == 2  # the faulted request was recorded too


async def test_fault_503_on_fetch_only(env) -> None:
    emu, http = env
    emu.inject_fault(route="fetch", status=503, count=2)
    gen = await create(http)  # create is not affected
    for _ in range(2):
        status, body = await fetch(http, gen["id"])
        assert (status, body["message"], body["statusCode"]) == (503, "Service unavailable", 503)
    status, _ = await fetch(http, gen["id"])
    assert status == 200


async def test_fault_drop_disconnects(env) -> None:
    emu, http = env
    emu.inject_fault(route="create", kind="drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(f"{V2}/generation", json={"prompt": "Flying jellyfish"}):
            pass
    assert emu.generations == {}
    await create(http)


async def test_fault_delay_holds_then_answers(env) -> None:
    emu, http = env
    gen = await create(http)
    emu.inject_fault(route="any", kind="delay", seconds=0.2)
    started = time.monotonic()
    status, _ = await fetch(http, gen["id"])
    assert status == 200
    assert time.monotonic() - started >= 0.19


async def test_fault_on_download_only(env) -> None:
    emu, http = env
    gen = await create(http)
    emu.force_state(gen["id"], "completed")
    emu.inject_fault(route="download", status=500)
    status, body = await fetch(http, gen["id"])  # API routes unaffected
    assert status == 200
    async with http.get(body["assets"]["video"]) as resp:
        assert resp.status == 500
    async with http.get(body["assets"]["video"]) as resp:
        assert resp.status == 200


async def test_unknown_route_is_aiml_404(env) -> None:
    _, http = env
    async with http.get("/v2/nope") as resp:
        assert resp.status == 404
        body = await resp.json()
    assert_aiml_error(body, 404, "/v2/nope")
    assert body["message"] == "Cannot GET /v2/nope"


# -- recording and admin ----------------------------------------------------------------------


async def test_requests_are_recorded_before_validation(env) -> None:
    emu, http = env
    async with aiohttp.ClientSession(base_url=emu.url) as raw:
        async with raw.post(f"{V2}/generation", data='{"oops"', headers={"X-Test": "1"}) as resp:
            assert resp.status == 401
    params = [("generation_ids[]", GEN_ID), ("status", "completed")]
    async with http.get(f"{V2}/generations", params=params):
        pass
    rejected, multi = emu.requests
    assert (rejected.method, rejected.path, rejected.body, rejected.json) == (
        "POST",
        f"{V2}/generation",
        '{"oops"',
        None,
    )
    assert rejected.header("x-test") == "1"
    assert rejected.header("Authorization") is None
    assert multi.query == {"generation_ids[]": [GEN_ID], "status": ["completed"]}
    assert multi.headers["Authorization"] == f"Bearer {KEY}"


async def test_admin_routes(env) -> None:
    emu, http = env
    gen = await create(http, prompt="Operator test [stuck]")
    async with http.get("/_emulator/requests") as resp:
        recorded = await resp.json()
    assert [r["path"] for r in recorded] == [f"{V2}/generation"]
    assert recorded[0]["json"]["prompt"] == "Operator test [stuck]"

    state = {"state": "failed", "failure_reason": "Job failed"}
    async with http.post(f"/_emulator/generations/{gen['id']}/state", json=state) as resp:
        assert resp.status == 200
        assert (await resp.json())["state"] == "failed"
    status, body = await fetch(http, gen["id"])
    assert (body["state"], body["failure_reason"]) == ("failed", "Job failed")
    async with http.post(f"/_emulator/generations/{GEN_ID}/state", json=state) as resp:
        assert resp.status == 404
    async with http.post(f"/_emulator/generations/{gen['id']}/state", json={"state": "x"}) as r:
        assert r.status == 400

    fault = {"route": "fetch", "status": 502, "count": 1}
    async with http.post("/_emulator/faults", json=fault) as resp:
        assert resp.status == 201
    status, body = await fetch(http, gen["id"])
    assert (status, body["message"]) == (502, "Bad gateway")
    async with http.post("/_emulator/faults", json={"route": "nowhere", "status": 500}) as resp:
        assert resp.status == 400

    async with http.patch("/_emulator/config", json={"dream_seconds": 0.2}) as resp:
        assert resp.status == 200
    assert emu.config.dream_seconds == 0.2

    await http.post("/_emulator/faults", json={"route": "any", "status": 500})
    async with http.post("/_emulator/reset") as resp:
        assert resp.status == 200
    assert emu.requests == [] and emu.faults.pending == []
    async with http.get("/_emulator/requests") as resp:
        assert await resp.json() == []  # admin calls are not recorded


# -- CLI --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_cli_starts_answers_and_stops() -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--port",
        str(port),
        "--queue-seconds",
        "0.05",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        status = None
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{url}{V2}/generation") as resp:
                        status = resp.status
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        assert status == 401
    finally:
        proc.terminate()
        _, stderr = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, stderr.decode()
    assert f"LUMA_API_URL={url}" in stderr.decode()
    assert "any API key works" in stderr.decode()


# -- image keyframes are fetched like Luma does -----------------------------------------------

IMAGE_FAILURE = "400: failed to moderate image"
JPEG = sample_bytes("sample.jpg")  # a real 320x180 JPEG


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x80\x00")  # filter byte + one pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png_1x1()
# A 1x1 lossless WEBP.
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
    b"/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)


class ImageHost:
    """A tiny web server playing the bot's photo links: good images, broken and slow ones."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.release = asyncio.Event()  # lets /hang.jpg finish at teardown
        self.root = ""

    def url(self, path: str) -> str:
        return f"{self.root}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits.append(path)
        if path == "/cat.jpg":
            return web.Response(body=JPEG, content_type="image/jpeg")
        if path == "/dog.png":
            return web.Response(body=PNG, content_type="image/png")
        if path == "/fox.webp":
            return web.Response(body=WEBP, content_type="image/webp")
        if path == "/redirect":
            raise web.HTTPFound("/cat.jpg")
        if path == "/page.html":
            return web.Response(
                text="<html>Sign in to view this photo</html>", content_type="text/html"
            )
        if path == "/empty.jpg":
            return web.Response(body=b"", content_type="image/jpeg")
        if path == "/text.jpg":
            return web.Response(body=b"not an image at all", content_type="image/jpeg")
        if path == "/slow.jpg":
            await asyncio.sleep(0.25)
            return web.Response(body=JPEG, content_type="image/jpeg")
        if path == "/hang.jpg":
            await self.release.wait()
            return web.Response(body=JPEG, content_type="image/jpeg")
        return web.Response(status=404, text="404: Not Found")


@pytest.fixture
async def images() -> AsyncIterator[ImageHost]:
    host = ImageHost()
    app = web.Application()
    app.router.add_get("/{tail:.*}", host.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host.root = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield host
    finally:
        host.release.set()
        await runner.cleanup()


def image_frames(frame0: str | None = None, frame1: str | None = None) -> dict[str, Any]:
    frames = {"frame0": frame0, "frame1": frame1}
    return {name: {"type": "image", "url": url} for name, url in frames.items() if url}


async def until(condition: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait for `condition`; the timeout only ends a test that is already failing."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def history_of(emu: Any, gen_id: str) -> list[str]:
    return [state.value for state, _ in emu.generations[gen_id].history]


@pytest.mark.parametrize(
    ("frame0", "frame1"),
    [
        ("/cat.jpg", None),
        (None, "/dog.png"),
        ("/cat.jpg", "/dog.png"),
        ("/fox.webp", None),
        ("/redirect", None),
    ],
)
async def test_image_keyframes_are_fetched_then_the_generation_completes(
    images: ImageHost, frame0: str | None, frame1: str | None
) -> None:
    bodies = {"/cat.jpg": JPEG, "/dog.png": PNG, "/fox.webp": WEBP, "/redirect": JPEG}
    wanted = {images.url(p): bodies[p] for p in (frame0, frame1) if p}
    async with serve() as (emu, http):
        keyframes = image_frames(*(images.url(p) if p else None for p in (frame0, frame1)))
        gen = await create(http, prompt="The cat walks away", keyframes=keyframes)
        assert gen["state"] == "queued"
        body = await completed(http, gen["id"])
        assert body["state"] == "completed", body
        assert history_of(emu, gen["id"]) == ["queued", "dreaming", "completed"]
        fetches = list(emu.image_fetches)
        assert emu.generations[gen["id"]].image_urls == tuple(
            images.url(p) for p in (frame0, frame1) if p
        )
    assert emu.image_fetcher.closed  # the fetcher's session is closed on shutdown
    assert all(isinstance(f, ImageFetch) for f in fetches)
    assert {f.url: f.body for f in fetches} == wanted  # recorded under the URL as given
    for f in fetches:
        assert (f.generation_id, f.status, f.ok, f.error) == (gen["id"], 200, True, None)
        assert f.content_type is not None and f.content_type.startswith("image/")
        assert f.fetched_at <= time.time()
    if frame0 == "/redirect":
        assert images.hits == ["/redirect", "/cat.jpg"]


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/missing.jpg", 404, "HTTP 404"),
        ("/page.html", 200, "Content-Type 'text/html; charset=utf-8' is not image/*"),
        ("/empty.jpg", 200, "empty body"),
        ("/text.jpg", 200, "body is not a JPEG, PNG or WEBP image"),
        ("refused", None, "ClientConnectorError"),
    ],
)
async def test_unusable_image_fails_the_generation(
    images: ImageHost, path: str, status: int | None, error: str
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/cat.jpg" if path == "refused" else images.url(path)
    async with serve() as (emu, http):
        gen = await create(http, prompt="The cat walks away", keyframes=image_frames(url))
        body = await completed(http, gen["id"])
        assert (body["state"], body["failure_reason"], body["assets"]) == (
            "failed",
            IMAGE_FAILURE,
            None,
        )
        # Failed as soon as the fetch failed, without dreaming first.
        assert history_of(emu, gen["id"]) == ["queued", "failed"]
        (fetch,) = emu.image_fetches
    assert (fetch.generation_id, fetch.url, fetch.status, fetch.ok) == (
        gen["id"],
        url,
        status,
        False,
    )
    assert fetch.error is not None and error in fetch.error
    if path == "/page.html":
        assert fetch.content_type == "text/html; charset=utf-8"
        assert b"Sign in" in fetch.body


async def test_one_bad_frame_fails_the_generation_and_both_fetches_are_recorded(
    images: ImageHost,
) -> None:
    async with serve() as (emu, http):
        frames = image_frames(images.url("/dog.png"), images.url("/page.html"))
        gen = await create(http, prompt="From dog to page", keyframes=frames)
        body = await completed(http, gen["id"])
        assert (body["state"], body["failure_reason"]) == ("failed", IMAGE_FAILURE)
        await until(lambda: len(emu.image_fetches) == 2)  # the other fetch may finish later
        by_url = {f.url: f for f in emu.image_fetches}
    assert by_url[images.url("/dog.png")].ok and by_url[images.url("/dog.png")].body == PNG
    assert not by_url[images.url("/page.html")].ok
    assert len(by_url) == 2


async def test_dreaming_waits_for_the_last_fetch(images: ImageHost) -> None:
    async with serve(queue_seconds=0.01) as (emu, http):
        frames = image_frames(images.url("/cat.jpg"), images.url("/slow.jpg"))
        gen = await create(http, prompt="Slow host", keyframes=frames)
        await asyncio.sleep(0.1)
        assert emu.generations[gen["id"]].state == "queued"  # queue time is over, a fetch is not
        assert (await completed(http, gen["id"]))["state"] == "completed"
        times = dict(emu.generations[gen["id"]].history)
    assert times["dreaming"] - times["queued"] >= 0.24  # /slow.jpg answers after 0.25 s
    assert [f.url.rsplit("/", 1)[1] for f in emu.image_fetches] == ["cat.jpg", "slow.jpg"]


async def test_image_fetch_timeout(images: ImageHost) -> None:
    async with serve(image_fetch_timeout=0.2) as (emu, http):
        gen = await create(
            http, prompt="Hanging host", keyframes=image_frames(images.url("/hang.jpg"))
        )
        body = await completed(http, gen["id"])
        assert (body["state"], body["failure_reason"]) == ("failed", IMAGE_FAILURE)
        (fetch,) = emu.image_fetches
    assert (fetch.status, fetch.ok, fetch.error) == (None, False, "timed out after 0.2s")


async def test_legacy_image_urls_are_fetched(images: ImageHost) -> None:
    async with serve() as (emu, http):
        good = await legacy_create(
            http, image_url=images.url("/cat.jpg"), image_end_url=images.url("/dog.png")
        )
        bad = await legacy_create(
            http, "/v1", image_url=images.url("/cat.jpg"), image_end_url=images.url("/missing.png")
        )
        for _ in range(100):
            _, listed = await legacy_fetch(http, [("ids", good["id"]), ("ids", bad["id"])])
            if all(g["state"] in ("completed", "failed") for g in listed):
                break
            await asyncio.sleep(0.02)
        assert [g["state"] for g in listed] == ["completed", "failed"]
        assert [s.legacy for s, _ in emu.generations[bad["id"]].history] == ["pending", "failed"]
        assert emu.generations[bad["id"]].failure_reason == IMAGE_FAILURE
        # An extend body may carry images too; they are fetched the same way.
        extend = f"/luma-ai/generations/{good['id']}/extend"
        body = {
            "user_prompt": "Jellyfish again",
            "aspect_ratio": "16:9",
            "image_url": images.url("/page.html"),
        }
        async with http.post(extend, json=body) as resp:
            assert resp.status == 201
            child = await resp.json()
        await until(lambda: emu.generations[child["id"]].state.terminal)
        _, (shown,) = await legacy_fetch(http, {"ids": child["id"]})
        assert shown["state"] == "failed"
        fetched = {(f.generation_id, f.url.rsplit("/", 1)[1], f.ok) for f in emu.image_fetches}
    assert fetched == {
        (good["id"], "cat.jpg", True),
        (good["id"], "dog.png", True),
        (bad["id"], "cat.jpg", True),
        (bad["id"], "missing.png", False),
        (child["id"], "page.html", False),
    }
    (end,) = [f for f in emu.image_fetches if f.url.endswith("dog.png")]
    assert end.body == PNG and end.content_type == "image/png"


async def test_fetch_images_off_only_validates_uris() -> None:
    async with serve(fetch_images=False) as (emu, http):
        frames = image_frames("https://unreachable.invalid/a.jpg", "https://unreachable.invalid/b")
        gen = await create(http, prompt="Offline", keyframes=frames)
        assert (await completed(http, gen["id"]))["state"] == "completed"
        assert emu.image_fetches == []
    assert config_from_args(parse_args(["--no-fetch-images"])).fetch_images is False
    assert config_from_args(parse_args([])).fetch_images is True


async def test_stuck_generation_fetches_its_images_but_stays_queued(images: ImageHost) -> None:
    async with serve() as (emu, http):
        ok = await create(
            http, prompt="Wait [stuck]", keyframes=image_frames(images.url("/cat.jpg"))
        )
        broken = await create(
            http, prompt="Wait [stuck]", keyframes=image_frames(images.url("/missing.jpg"))
        )
        status, body = await fetch(http, broken["id"], state="completed")
        assert (status, body["state"], body["failure_reason"]) == (200, "failed", IMAGE_FAILURE)
        await asyncio.sleep(0.2)  # longer than queue + dream
        assert emu.generations[ok["id"]].state == "queued"
        assert sorted(f.ok for f in emu.image_fetches) == [False, True]


async def test_reset_clears_image_fetches_and_admin_lists_them(images: ImageHost) -> None:
    async with serve() as (emu, http):
        gen = await create(http, prompt="Listed", keyframes=image_frames(images.url("/cat.jpg")))
        await completed(http, gen["id"])
        async with http.get("/_emulator/image-fetches") as resp:
            (listed,) = await resp.json()
        assert listed["url"] == images.url("/cat.jpg")
        assert (listed["ok"], listed["status"], listed["body_size"]) == (True, 200, len(JPEG))
        assert listed["generation_id"] == gen["id"]
        async with http.post("/_emulator/reset") as resp:
            assert resp.status == 200
        assert emu.image_fetches == []
        async with http.patch("/_emulator/config", json={"fetch_images": False}) as resp:
            assert (await resp.json())["fetch_images"] is False
        gen = await create(http, prompt="Not fetched", keyframes=image_frames(images.url("/x")))
        assert (await completed(http, gen["id"]))["state"] == "completed"
        assert emu.image_fetches == []


async def test_error_rates_answer_a_seeded_share_of_api_requests() -> None:
    import random

    import aiohttp

    from emulator import EmulatorConfig, run_emulator

    config = EmulatorConfig(error_rates={500: 0.3, 429: 0.1}, error_seed=3)
    async with run_emulator(config, port=0) as emu, aiohttp.ClientSession() as http:
        emu.random = random.Random(3)
        statuses = []
        for _ in range(200):
            async with http.get(
                f"{emu.url}/v2/generate/video/luma-ai/generation",
                params={"generation_id": "0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9"},
                headers={"Authorization": "Bearer k"},
            ) as response:
                statuses.append(response.status)
                if response.status == 429:
                    assert response.headers["Retry-After"] == "1"
    assert 40 <= statuses.count(500) <= 80
    assert 8 <= statuses.count(429) <= 35
    assert statuses.count(404) == 200 - statuses.count(500) - statuses.count(429)


async def test_download_error_rates_fail_a_seeded_share_of_result_downloads() -> None:
    import random

    async with serve(download_error_rates={503: 0.25}) as (emu, http):
        emu.random = random.Random(5)
        gen = await create(http)
        emu.force_state(gen["id"], "completed")
        statuses = []
        for _ in range(200):
            async with http.get(f"/files/{gen['id']}.mp4") as response:
                statuses.append(response.status)
        # API requests are left alone: only error_rates touches them.
        status, _ = await fetch(http, gen["id"])
    assert 30 <= statuses.count(503) <= 75
    assert statuses.count(200) == 200 - statuses.count(503)
    assert status == 200
    with pytest.raises(ValueError, match="download_error_rates"):
        EmulatorConfig(download_error_rates={200: 0.1})
    with pytest.raises(ValueError, match="download_error_rates"):
        EmulatorConfig(download_error_rates={503: 0.7, 500: 0.5})


async def test_dream_times_can_vary_within_a_range() -> None:
    from emulator.state import Family, Generation, GenerationStore, State

    config = EmulatorConfig(
        queue_seconds=0, dream_seconds=0.05, dream_seconds_max=0.2, error_seed=7
    )
    store = GenerationStore(lambda: config)
    made = [
        store.add(Generation(family=Family.AIML_V2, prompt="a cat", api_key="k", request={}))
        for _ in range(8)
    ]
    await store.wait_for(made, State.COMPLETED, hold=2.0)
    times = [generation.dream_seconds for generation in made]
    assert all(time is not None and 0.05 <= time <= 0.2 for time in times)
    assert len(set(times)) == len(times)  # drawn, not fixed
    await store.close()
    with pytest.raises(ValueError):
        EmulatorConfig(dream_seconds=2, dream_seconds_max=1)


async def test_fault_redirect_and_body_on_download(env) -> None:
    emu, http = env
    gen = await create(http)
    emu.force_state(gen["id"], "completed")
    _, body = await fetch(http, gen["id"])
    video = body["assets"]["video"]
    emu.inject_fault(route="download", kind="redirect", location=f"{emu.url}/_emulator/config")
    emu.inject_fault(
        route="download", kind="body", body=b"<html>hi</html>", content_type="video/mp4"
    )
    async with http.get(video, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == f"{emu.url}/_emulator/config"
    async with http.get(video) as resp:
        assert (resp.content_type, await resp.read()) == ("video/mp4", b"<html>hi</html>")
    async with http.get(video) as resp:
        assert (await resp.read())[4:8] == b"ftyp"
    with pytest.raises(ValueError, match="location"):
        emu.inject_fault(route="download", kind="redirect")
