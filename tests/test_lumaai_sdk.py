"""The official ``lumaai`` SDK (1.21) as an independent client of the emulator's Luma family.

Where the SDK and the emulator disagree, the emulator is wrong. The emulator runs in the
test's event loop, so the sync client runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import lumaai
import pytest
from lumaai.types import Generation

from tests.test_emulator_luma import KEY, Hook, hook_server, serve, until

LUMA = "/dream-machine/v1"


@asynccontextmanager
async def luma(
    key: str = KEY, max_retries: int = 0, **overrides: Any
) -> AsyncIterator[tuple[Any, lumaai.AsyncLumaAI]]:
    async with serve(**overrides) as (emu, _):
        client = lumaai.AsyncLumaAI(
            auth_token=key, base_url=f"{emu.url}{LUMA}", max_retries=max_retries
        )
        async with client:
            yield emu, client


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    async with hook_server() as server:
        yield server


async def finished(client: lumaai.AsyncLumaAI, gen_id: str) -> Generation:
    for _ in range(100):
        gen = await client.generations.get(gen_id)
        if gen.state in ("completed", "failed"):
            return gen
        await asyncio.sleep(0.02)
    raise AssertionError("generation never finished")


async def test_create_and_poll_until_completed() -> None:
    async with luma() as (emu, client):
        gen = await client.generations.create(model="ray-2", prompt="Flying jellyfish")
        assert (gen.state, gen.model, gen.generation_type, gen.assets) == (
            "queued",
            "ray-2",
            "video",
            None,
        )
        assert gen.created_at is not None and gen.created_at.tzinfo is not None
        assert gen.request is not None and gen.request.model_dump(exclude_none=True) == {
            "model": "ray-2",
            "prompt": "Flying jellyfish",
            "aspect_ratio": "16:9",
            "loop": False,
            "generation_type": "video",
        }
        done = await finished(client, gen.id or "")
        assert done.state == "completed" and done.failure_reason is None
        assert done.assets is not None and done.assets.video is not None
        assert done.assets.video.endswith(f"/files/{gen.id}.mp4")
        # The SDK posts to the path Luma's current API uses.
        assert emu.requests[0].path == f"{LUMA}/generations/video"
        assert emu.requests[0].header("x-stainless-retry-count") == "0"


async def test_video_resource_and_all_create_params(hook: Hook) -> None:
    async with luma() as (emu, client):
        gen = await client.generations.video.create(
            model="ray-flash-2",
            prompt="Cat on a skateboard",
            aspect_ratio="9:16",
            resolution="720p",
            duration="9s",
            loop=True,
            concepts=[{"key": "dolly_zoom"}],
            generation_type="video",
            keyframes={"frame0": {"type": "image", "url": hook.url("/cat.jpg")}},
            callback_url=hook.url(),
        )
        done = await finished(client, gen.id or "")
        assert done.state == "completed"
        assert emu.generations[gen.id].image_urls == (hook.url("/cat.jpg"),)
        request = done.request
        assert request is not None
        assert request.model_dump(exclude_none=True) == {
            "model": "ray-flash-2",
            "prompt": "Cat on a skateboard",
            "aspect_ratio": "9:16",
            "resolution": "720p",
            "duration": "9s",
            "loop": True,
            "concepts": [{"key": "dolly_zoom"}],
            "generation_type": "video",
            "keyframes": {"frame0": {"type": "image", "url": hook.url("/cat.jpg")}},
            "callback_url": hook.url(),
        }
        await until(lambda: len(hook.received) == 2)
    # The callback bodies are Generation objects the SDK's own model accepts.
    posted = [Generation.model_validate(body) for body in hook.received]
    assert [g.state for g in posted] == ["dreaming", "completed"]
    assert posted[1].assets is not None and posted[1].assets.video == done.assets.video


async def test_extend_reverse_extend_and_interpolate() -> None:
    async with luma() as (emu, client):
        first = await finished(
            client, (await client.generations.create(model="ray-2", prompt="Dawn")).id or ""
        )
        second = await finished(
            client, (await client.generations.create(model="ray-2", prompt="Dusk")).id or ""
        )
        extend = await client.generations.create(
            model="ray-2",
            prompt="Then the sun rises",
            keyframes={"frame0": {"type": "generation", "id": first.id or ""}},
        )
        reverse = await client.generations.create(
            model="ray-2",
            prompt="Before that, night",
            keyframes={"frame1": {"type": "generation", "id": first.id or ""}},
        )
        between = await client.generations.create(
            model="ray-2",
            prompt="The day passes",
            keyframes={
                "frame0": {"type": "generation", "id": first.id or ""},
                "frame1": {"type": "generation", "id": second.id or ""},
            },
        )
        for gen in (extend, reverse, between):
            assert (await finished(client, gen.id or "")).state == "completed"
            assert emu.generations[gen.id].parent_id == first.id


async def test_list_pages_newest_first() -> None:
    async with luma() as (_, client):
        ids = [
            (await client.generations.create(model="ray-2", prompt=f"Clip {i}")).id
            for i in range(3)
        ]
        page = await client.generations.list(limit=2, offset=0)
        assert [g.id for g in page.generations] == [ids[2], ids[1]]
        assert (page.count, page.has_more, page.limit, page.offset) == (2, True, 2, 0)
        rest = await client.generations.list(limit=2, offset=2)
        assert [g.id for g in rest.generations] == [ids[0]]
        assert (rest.count, rest.has_more) == (1, False)
        everything = await client.generations.list()
        assert (everything.count, everything.limit, everything.offset) == (3, 100, 0)


async def test_delete_then_get_raises_not_found() -> None:
    async with luma() as (emu, client):
        gen = await client.generations.create(model="ray-2", prompt="Short lived")
        assert await client.generations.delete(gen.id or "") is None
        with pytest.raises(lumaai.NotFoundError) as caught:
            await client.generations.get(gen.id or "")
        assert caught.value.status_code == 404
        assert caught.value.body == {"detail": "Generation not found"}
        with pytest.raises(lumaai.NotFoundError):
            await client.generations.delete(gen.id or "")
        assert emu.generations[gen.id].deleted
        assert (await client.generations.list()).generations == []

        other = await client.generations.create(model="ray-2", prompt="Raw delete")
        raw = await client.generations.with_raw_response.delete(other.id or "")
        assert raw.status_code == 204 and await raw.read() == b""
        assert await raw.parse() is None


async def test_bad_key_raises_authentication_error() -> None:
    async with serve(api_keys=frozenset({KEY})) as (emu, _):
        async with lumaai.AsyncLumaAI(
            auth_token="wrong", base_url=f"{emu.url}{LUMA}", max_retries=0
        ) as client:
            with pytest.raises(lumaai.AuthenticationError) as caught:
                await client.generations.create(model="ray-2", prompt="Flying jellyfish")
    assert caught.value.status_code == 401
    assert caught.value.body == {"detail": "Invalid API key is provided"}


async def test_no_credits_raises_permission_denied() -> None:
    async with luma(no_credits_keys=frozenset({KEY})) as (_, client):
        with pytest.raises(lumaai.PermissionDeniedError) as caught:
            await client.credits.get()
    assert caught.value.body == {"detail": "Insufficient credits"}


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"prompt": "Fl"}, "Prompt is too short, minimum length is 3 characters"),
        ({"prompt": "x" * 5001}, "Prompt is too long, maximum length is 5000 characters"),
        ({}, "Prompt is required"),
        (
            {
                "prompt": "Looping",
                "loop": True,
                "keyframes": {"frame1": {"type": "image", "url": "https://example.com/a.jpg"}},
            },
            "Loop is not supported for end frame",
        ),
        ({"prompt": "Nothing", "keyframes": {}}, "No keyframes provided"),
        (
            {
                "prompt": "Further",
                "keyframes": {
                    "frame0": {"type": "generation", "id": "0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9"}
                },
            },
            "Generation not found",
        ),
    ],
)
async def test_create_time_errors_raise_bad_request(params: dict[str, Any], detail: str) -> None:
    async with luma() as (_, client):
        with pytest.raises(lumaai.BadRequestError) as caught:
            await client.generations.create(model="ray-2", **params)
    assert caught.value.status_code == 400
    assert caught.value.body == {"detail": detail}


async def test_extending_an_unfinished_generation_is_a_bad_request() -> None:
    async with luma() as (_, client):
        gen = await client.generations.create(model="ray-2", prompt="Not yet [stuck]")
        with pytest.raises(lumaai.BadRequestError) as caught:
            await client.generations.create(
                model="ray-2",
                prompt="Further",
                keyframes={"frame0": {"type": "generation", "id": gen.id or ""}},
            )
    body = caught.value.body
    assert isinstance(body, dict) and "completed state" in body["detail"]


async def test_failed_generation_reports_its_reason() -> None:
    async with luma() as (_, client):
        gen = await client.generations.create(model="ray-2", prompt="Jellyfish [fail]")
        done = await finished(client, gen.id or "")
    assert (done.state, done.failure_reason, done.assets) == (
        "failed",
        "Advanced prompt moderation failed",
        None,
    )


async def test_ping_credits_and_concepts() -> None:
    async with luma(credit_balance=4321.5) as (_, client):
        assert (await client.ping.check()).message == "pong"
        assert (await client.credits.get()).credit_balance == 4321.5
        concepts = await client.generations.concepts.list()
    assert "dolly_zoom" in concepts


async def test_sdk_honours_retry_after_on_429() -> None:
    async with luma(max_retries=1) as (emu, client):
        emu.inject_fault("create", 429, retry_after=0.05)
        gen = await client.generations.create(model="ray-2", prompt="Second time lucky")
        assert gen.state == "queued"
        creates = [r for r in emu.requests if r.route == "create.luma.create_video"]
    assert [r.header("x-stainless-retry-count") for r in creates] == ["0", "1"]


async def test_server_errors_raise_internal_server_error() -> None:
    async with luma() as (emu, client):
        emu.inject_fault("fetch", 503)
        with pytest.raises(lumaai.InternalServerError) as caught:
            await client.ping.check()
        emu.inject_fault("create", 429)
        with pytest.raises(lumaai.RateLimitError) as limited:
            await client.generations.create(model="ray-2", prompt="Too soon")
    assert caught.value.body == {"detail": "Service Unavailable"}
    assert limited.value.body == {"detail": "Too Many Requests"}


async def test_unknown_params_via_extra_body_are_ignored() -> None:
    async with luma() as (emu, client):
        gen = await client.generations.create(
            model="ray-2", prompt="With extras", extra_body={"seed": 42}
        )
        assert emu.requests[-1].json["seed"] == 42
        assert gen.request is not None and "seed" not in gen.request.model_dump()


def _sync_flow(base_url: str) -> tuple[str, str | None, list[str | None]]:
    """The blocking client, end to end (runs in a worker thread)."""
    with lumaai.LumaAI(auth_token=KEY, base_url=base_url, max_retries=0) as client:
        gen = client.generations.create(model="ray-2", prompt="Blocking jellyfish")
        for _ in range(200):
            got = client.generations.get(gen.id or "")
            if got.state == "completed":
                break
            time.sleep(0.01)  # a worker thread: the emulator's loop keeps running
        video = got.assets.video if got.assets else None
        listed = [g.id for g in client.generations.list(limit=10).generations]
        client.generations.delete(gen.id or "")
        try:
            client.generations.get(gen.id or "")
        except lumaai.NotFoundError:
            return "deleted", video, listed
        return "still there", video, listed


async def test_sync_client_in_a_thread() -> None:
    async with serve() as (emu, _):
        outcome, video, listed = await asyncio.to_thread(_sync_flow, f"{emu.url}{LUMA}")
    assert outcome == "deleted"
    assert video is not None and video.endswith(".mp4")
    (gen_id,) = listed
    assert emu.generations[gen_id].deleted


# -- upscale and audio (POST /generations/{id}/upscale, /audio) -------------------------------


async def made(client: lumaai.AsyncLumaAI, **params: Any) -> Generation:
    """A finished video to upscale or give sound."""
    params = {"model": "ray-2", "prompt": "A lighthouse in a storm", **params}
    return await finished(client, (await client.generations.create(**params)).id or "")


async def test_upscale_makes_a_new_generation_at_the_resolution(hook: Hook) -> None:
    async with luma(video_sizes={"4k": 20_000}) as (emu, client):
        source = await made(client)
        gen = await client.generations.upscale(
            source.id or "",
            resolution="4k",
            callback_url=hook.url(),
            generation_type="upscale_video",
        )
        assert gen.id != source.id and (gen.state, gen.generation_type) == ("queued", "video")
        assert gen.request is not None and gen.request.model_dump(exclude_none=True) == {
            "generation_type": "upscale_video",
            "resolution": "4k",
            "callback_url": hook.url(),
        }
        done = await finished(client, gen.id or "")
        assert done.state == "completed" and done.assets is not None
        assert done.assets.video is not None and done.assets.video.endswith(f"/{gen.id}.mp4")
        assert emu.generations[gen.id].parent_id == source.id
        upscales = [r for r in emu.requests if r.path.endswith("/upscale")]
        assert [r.path for r in upscales] == [f"{LUMA}/generations/{source.id}/upscale"]
        await until(lambda: len(hook.received) == 2)
        async with aiohttp.ClientSession() as http, http.get(done.assets.video) as response:
            assert len(await response.read()) == 20_000  # sized for 4K
    assert [Generation.model_validate(body).state for body in hook.received] == [
        "dreaming",
        "completed",
    ]


async def test_audio_with_and_without_a_prompt() -> None:
    async with luma() as (emu, client):
        source = await made(client, resolution="1080p")
        gen = await client.generations.audio(
            source.id or "", prompt="waves and thunder", negative_prompt="music"
        )
        assert gen.request is not None and gen.request.model_dump(exclude_none=True) == {
            "generation_type": "add_audio",
            "prompt": "waves and thunder",
            "negative_prompt": "music",
        }
        assert (await finished(client, gen.id or "")).state == "completed"
        assert emu.generations[gen.id].resolution == "1080p"  # the source's, kept
        bare = await client.generations.audio(source.id or "")
        assert emu.requests[-1].json == {}
        assert (await finished(client, bare.id or "")).state == "completed"


async def test_audio_prompt_markers_script_the_outcome() -> None:
    async with luma() as (_, client):
        source = await made(client)
        gen = await client.generations.audio(source.id or "", prompt="a scream [fail]")
        done = await finished(client, gen.id or "")
        assert (done.state, done.failure_reason) == ("failed", "Advanced prompt moderation failed")


@pytest.mark.parametrize(
    ("resolution", "source_resolution", "detail"),
    [
        ("720p", None, "Cannot upscale a 720p generation to 720p"),
        ("1080p", "1080p", "Cannot upscale a 1080p generation to 1080p"),
        ("540p", "720p", "Cannot upscale a 720p generation to 540p"),
    ],
)
async def test_upscale_goes_up_only(
    resolution: str, source_resolution: str | None, detail: str
) -> None:
    async with luma() as (_, client):
        params = {"resolution": source_resolution} if source_resolution else {}
        source = await made(client, **params)
        with pytest.raises(lumaai.BadRequestError) as caught:
            await client.generations.upscale(source.id or "", resolution=resolution)
        assert caught.value.body == {"detail": detail}


async def test_upscale_and_audio_refusals() -> None:
    async with luma() as (emu, client):
        with pytest.raises(lumaai.NotFoundError):
            await client.generations.upscale("4b7e1c2a-0000-4000-8000-000000000000")
        queued = await client.generations.create(model="ray-2", prompt="Not yet")
        with pytest.raises(lumaai.BadRequestError) as caught:
            await client.generations.audio(queued.id or "")
        assert caught.value.body == {
            "detail": "Generation must be completed before audio can be added"
        }
        source = await made(client)
        with pytest.raises(lumaai.BadRequestError):
            await client.generations.upscale(source.id or "", resolution="8k")
        emu.inject_fault("upscale", 500)
        with pytest.raises(lumaai.InternalServerError):
            await client.generations.upscale(source.id or "", resolution="4k")
        # The fault was the upscale route's: audio (and the next upscale) go through.
        assert (await client.generations.audio(source.id or "")).state == "queued"
        assert (await client.generations.upscale(source.id or "", resolution="4k")).id
    async with serve(api_keys=frozenset({KEY, "other"})) as (emu, _):
        async with (
            lumaai.AsyncLumaAI(auth_token=KEY, base_url=f"{emu.url}{LUMA}", max_retries=0) as mine,
            lumaai.AsyncLumaAI(
                auth_token="other", base_url=f"{emu.url}{LUMA}", max_retries=0
            ) as theirs,
        ):
            source = await made(mine)
            with pytest.raises(lumaai.NotFoundError):
                await theirs.generations.upscale(source.id or "", resolution="4k")
