"""The video-API client against the emulator (real HTTP), plus its tolerant parsing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.luma import Wakeups, create_client, errors
from bot.luma.aiml_v1 import build_create
from bot.luma.aiml_v2 import build_create_body
from bot.luma.answers import BatchAnswers
from bot.luma.client import _parse_retry_after
from bot.luma.models import (
    AudioRequest,
    Generation,
    GenerationKeyframe,
    GenerationState,
    ImageKeyframe,
    UpscaleRequest,
    VideoRequest,
    parse_generation_list,
)
from bot.luma.wakeups import MAX_ID_CHARS
from tests.conftest import API_KEY


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# Where each family lives on the emulator.
FAMILY_PATHS = {"aiml-v2": "", "aiml-v1": "", "aiml-universal": "", "luma": "/dream-machine/v1"}


def client_for(
    family: str,
    emulator: Any,
    http: aiohttp.ClientSession,
    key: str = API_KEY,
    wakeups: Wakeups | None = None,
):
    return create_client(
        family,
        base_url=emulator.url + FAMILY_PATHS[family],
        wakeups=wakeups,
        api_key=key,
        session=http,
        long_poll_seconds=0.5,
        poll_interval=0.05,
    )


# --- parsing: every shape the reference doc says the client may meet --------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("payload", "state", "url"),
    [
        (
            {"id": "a", "state": "completed", "assets": {"video": "https://v/1.mp4"}},
            "completed",
            "https://v/1.mp4",
        ),
        (
            {"id": "a", "status": "completed", "video": {"url": "https://v/2.mp4"}},
            "completed",
            "https://v/2.mp4",
        ),
        ({"id": "a", "status": "generating", "video": None}, "dreaming", None),
        ({"id": "a", "state": "pending", "video": None}, "queued", None),
        ({"id": "a", "state": "processing"}, "dreaming", None),
        ({"id": "a", "status": "error", "error": {"name": "x", "message": "boom"}}, "failed", None),
        (
            {"id": "a", "state": "completed", "video": "https://v/3.mp4"},
            "completed",
            "https://v/3.mp4",
        ),
        (
            {"id": "a", "state": "completed", "video_url": "https://v/4.mp4"},
            "completed",
            "https://v/4.mp4",
        ),
    ],
)
def test_generation_parsing_is_tolerant(payload: dict, state: str, url: str | None) -> None:
    generation = Generation.parse(payload)
    assert generation.state == GenerationState(state)
    assert generation.video_url == url


@pytest.mark.unit
def test_failure_reason_from_either_shape() -> None:
    assert (
        Generation.parse(
            {"id": "a", "state": "failed", "failure_reason": "Frame moderation failed"}
        ).failure_reason
        == "Frame moderation failed"
    )
    assert (
        Generation.parse(
            {"id": "a", "status": "error", "error": {"message": "boom"}}
        ).failure_reason
        == "boom"
    )


@pytest.mark.unit
def test_lists_may_be_bare_or_wrapped() -> None:
    item = {"id": "a", "state": "queued"}
    for payload in ([item], {"generations": [item]}, {"data": [item]}):
        assert [g.id for g in parse_generation_list(payload)] == ["a"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("extra", "position", "wait"),
    [
        ({}, None, None),
        ({"estimate_wait_seconds": None}, None, None),
        ({"estimate_wait_seconds": 42}, None, 42.0),
        ({"estimate_wait_seconds": "12.5"}, None, 12.5),
        ({"estimate_wait_seconds": -3}, None, None),
        ({"estimate_wait_seconds": True}, None, None),
        ({"queue_state": 3}, 3, None),
        ({"queue_state": {"position": "2"}}, 2, None),
        ({"queue_state": "waiting"}, None, None),
        ({"queue_position": 0}, None, None),
    ],
)
def test_queue_information_is_read_when_the_api_gives_it(
    extra: dict, position: int | None, wait: float | None
) -> None:
    generation = Generation.parse({"id": "g", "state": "pending", **extra})
    assert (generation.queue_position, generation.estimate_wait_seconds) == (position, wait)


@pytest.mark.unit
def test_unknown_state_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        Generation.parse({"id": "a", "state": "streaming"})


@pytest.mark.unit
def test_retry_after_seconds_and_dates() -> None:
    assert _parse_retry_after("2") == 2.0
    assert _parse_retry_after(None) is None
    assert _parse_retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (_parse_retry_after(future) or 0) <= 30


# --- what is sent: only documented fields, aspect_ratio always ---------------------------------


@pytest.mark.unit
def test_v2_body_is_minimal_and_always_has_aspect_ratio() -> None:
    assert build_create_body(VideoRequest(prompt="a cat")) == {
        "prompt": "a cat",
        "aspect_ratio": "16:9",
    }
    body = build_create_body(
        VideoRequest(
            prompt="a cat",
            aspect_ratio="9:16",
            loop=True,
            frame0=GenerationKeyframe(id="0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9"),
        )
    )
    assert body == {
        "prompt": "a cat",
        "aspect_ratio": "9:16",
        "loop": True,
        "keyframes": {
            "frame0": {"type": "generation", "id": "0f3ea4aa-10e7-4dae-af0b-263ab4ac45f9"}
        },
    }


@pytest.mark.unit
def test_v1_maps_images_and_extend_and_refuses_what_it_cannot_express() -> None:
    path, body = build_create(
        VideoRequest(
            prompt="a cat",
            frame0=ImageKeyframe(url="https://x/a.jpg"),
            frame1=ImageKeyframe(url="https://x/b.jpg"),
        )
    )
    assert path == "/luma-ai/generations"
    assert body == {
        "user_prompt": "a cat",
        "aspect_ratio": "16:9",
        "image_url": "https://x/a.jpg",
        "image_end_url": "https://x/b.jpg",
    }
    path, _ = build_create(VideoRequest(prompt="more", frame0=GenerationKeyframe(id="g1")))
    assert path == "/luma-ai/generations/g1/extend"
    with pytest.raises(errors.UnsupportedRequestError):
        build_create(VideoRequest(prompt="back", frame1=GenerationKeyframe(id="g1")))
    with pytest.raises(errors.UnsupportedRequestError):
        build_create(VideoRequest(prompt="loop", loop=True))


@pytest.mark.unit
def test_loop_with_an_end_frame_is_refused_before_any_call() -> None:
    with pytest.raises(ValueError):
        VideoRequest(prompt="x", loop=True, frame1=ImageKeyframe(url="https://x/b.jpg"))


# --- against the emulator ---------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILY_PATHS))
async def test_create_and_wait_until_completed(
    emulator: Any, http: aiohttp.ClientSession, family: str
) -> None:
    client = client_for(family, emulator, http)
    created = await client.create(VideoRequest(prompt="a jellyfish", aspect_ratio="1:1"))
    assert created.state is GenerationState.QUEUED
    seen: list[GenerationState] = []

    async def on_update(generation: Generation) -> None:
        seen.append(generation.state)

    done = await client.wait_until_done(created.id, deadline=time.time() + 10, on_update=on_update)
    assert done.state is GenerationState.COMPLETED
    assert done.video_url and done.video_url.endswith(".mp4")
    assert seen[-1] is GenerationState.COMPLETED


async def test_v2_waits_with_the_server_side_long_poll(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    emulator.config.dream_seconds = 0.6
    client = client_for("aiml-v2", emulator, http)
    created = await client.create(VideoRequest(prompt="a jellyfish"))
    await client.wait_until_done(created.id, deadline=time.time() + 10)
    waits = [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/generation")]
    assert waits, "the client must wait on the documented route"
    assert all(r.query.get("state") == ["completed"] for r in waits)
    # A long-poll answers when the state is reached, so a 0.65 s job needs few requests.
    assert len(waits) <= 3


async def test_v1_polls_by_ids(emulator: Any, http: aiohttp.ClientSession) -> None:
    client = client_for("aiml-v1", emulator, http)
    created = await client.create(VideoRequest(prompt="a jellyfish"))
    await client.wait_until_done(created.id, deadline=time.time() + 10)
    polls = [r for r in emulator.requests if r.method == "GET" and "luma-ai/generation" in r.path]
    assert polls and all(r.query.get("ids") == [created.id] for r in polls)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
    ],
)
async def test_one_error_class_per_status(
    emulator: Any, http: aiohttp.ClientSession, status: int, error_class: type
) -> None:
    emulator.inject_fault(route="create", status=status, count=1, retry_after=3)
    with pytest.raises(error_class) as caught:
        await client_for("aiml-v2", emulator, http).create(VideoRequest(prompt="a jellyfish"))
    assert caught.value.status == status
    if status == 429:
        assert caught.value.retry_after == 3


async def test_auth_credits_and_validation_errors(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    emulator.config.api_keys = frozenset({"good-key"})
    emulator.config.no_credits_keys = frozenset({"broke-key"})
    request = VideoRequest(prompt="a jellyfish")
    with pytest.raises(errors.AuthenticationError) as caught:
        await client_for("aiml-v2", emulator, http, key="wrong").create(request)
    assert "valid API key" in caught.value.message
    with pytest.raises(errors.CreditsError):
        await client_for("aiml-v2", emulator, http, key="broke-key").create(request)
    with pytest.raises(errors.ValidationError):
        await client_for("aiml-v2", emulator, http, key="good-key").fetch("not-a-uuid")


async def test_a_dropped_create_is_a_timeout_error(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    emulator.inject_fault(route="create", kind="drop", count=1)
    with pytest.raises(errors.ApiTimeoutError):
        await client_for("aiml-v2", emulator, http).create(VideoRequest(prompt="a jellyfish"))
    assert len([r for r in emulator.requests if r.method == "POST"]) == 1  # not retried


async def test_unreachable_api_is_a_connection_error(http: aiohttp.ClientSession) -> None:
    client = create_client("aiml-v2", base_url="http://127.0.0.1:9", api_key="k", session=http)
    with pytest.raises(errors.ApiConnectionError):
        await client.create(VideoRequest(prompt="a jellyfish"))


async def test_reads_are_retried_through_faults_until_done(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    client = client_for("aiml-v2", emulator, http)
    created = await client.create(VideoRequest(prompt="a jellyfish"))
    emulator.inject_fault(route="fetch", status=502, count=2)
    emulator.inject_fault(route="fetch", kind="drop", count=1)
    done = await client.wait_until_done(created.id, deadline=time.time() + 20)
    assert done.state is GenerationState.COMPLETED


async def test_waiting_stops_at_the_deadline(emulator: Any, http: aiohttp.ClientSession) -> None:
    client = client_for("aiml-v2", emulator, http)
    created = await client.create(VideoRequest(prompt="a jellyfish [stuck]"))
    with pytest.raises(errors.DeadlineExceeded):
        await client.wait_until_done(created.id, deadline=time.time() + 1.0)


@pytest.mark.parametrize("body", ["<html>gateway</html>", '{"unexpected": true}', "[]"])
async def test_an_unreadable_create_answer_is_an_unknown_outcome(
    http: aiohttp.ClientSession, body: str
) -> None:
    # A 201 we cannot read may still have been charged: the worker must not re-send it, so the
    # client reports it as an ApiTimeoutError (outcome unknown), never as a plain failure.
    from aiohttp import web

    async def created(_: web.Request) -> web.Response:
        return web.Response(status=201, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v2/generate/video/luma-ai/generation", created)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client = create_client(
            "aiml-v2", base_url=f"http://127.0.0.1:{port}", api_key="k", session=http
        )
        with pytest.raises(errors.UnreadableResponseError) as caught:
            await client.create(VideoRequest(prompt="a jellyfish"))
        assert isinstance(caught.value, errors.ApiTimeoutError)
    finally:
        await runner.cleanup()


# --- Luma's own API and AI/ML's universal endpoint ---------------------------------------------


async def test_luma_creates_with_a_model_reads_by_id_and_deletes(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    client = client_for("luma", emulator, http)
    created = await client.create(VideoRequest(prompt="a jellyfish", resolution="720p"))
    (create,) = [r for r in emulator.requests if r.method == "POST"]
    assert create.path == "/dream-machine/v1/generations/video"
    assert create.json == {
        "model": "ray-2",
        "prompt": "a jellyfish",
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }
    assert (await client.fetch(created.id)).id == created.id
    await client.delete(created.id)
    with pytest.raises(errors.NotFoundError) as caught:
        await client.fetch(created.id)
    assert caught.value.message == "Generation not found"  # from Luma's {"detail": ...}


async def test_luma_errors_are_read_from_detail(emulator: Any, http: aiohttp.ClientSession) -> None:
    emulator.config.api_keys = frozenset({"good-key"})
    with pytest.raises(errors.AuthenticationError) as caught:
        await client_for("luma", emulator, http, key="wrong").create(VideoRequest(prompt="a cat"))
    assert caught.value.message == "Invalid API key is provided"
    emulator.inject_fault(route="create", status=429, count=1, retry_after=2)
    with pytest.raises(errors.RateLimitError) as limited:
        await client_for("luma", emulator, http, key="good-key").create(
            VideoRequest(prompt="a cat")
        )
    assert limited.value.retry_after == 2


async def test_luma_upscales_and_adds_sound_through_submit(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    client = client_for("luma", emulator, http)
    source = await client.create(VideoRequest(prompt="a jellyfish"))
    await client.wait_until_done(source.id, deadline=time.time() + 10)
    hook = "https://bot.example/callbacks/signed"
    upscaled = await client.submit(
        UpscaleRequest(generation_id=source.id, resolution="4k", callback_url=hook)
    )
    sounded = await client.submit(AudioRequest(generation_id=source.id, prompt="rain"))
    silent_choice = await client.submit(AudioRequest(generation_id=source.id))
    posts = [r for r in emulator.requests if r.method == "POST"][1:]
    assert [(r.path, r.json) for r in posts] == [
        (
            f"/dream-machine/v1/generations/{source.id}/upscale",
            {"generation_type": "upscale_video", "resolution": "4k", "callback_url": hook},
        ),
        (
            f"/dream-machine/v1/generations/{source.id}/audio",
            {"generation_type": "add_audio", "prompt": "rain"},
        ),
        (f"/dream-machine/v1/generations/{source.id}/audio", {"generation_type": "add_audio"}),
    ]
    # Each answer is a new generation, waited for like any other.
    assert len({source.id, upscaled.id, sounded.id, silent_choice.id}) == 4
    done = await client.wait_until_done(upscaled.id, deadline=time.time() + 10)
    assert done.state is GenerationState.COMPLETED and done.video_url


@pytest.mark.parametrize("family", ["aiml-v2", "aiml-v1", "aiml-universal"])
async def test_families_without_upscale_or_sound_refuse_them_unsent(
    family: str, emulator: Any, http: aiohttp.ClientSession
) -> None:
    client = client_for(family, emulator, http)
    assert not client.can_upscale and not client.can_add_audio
    for request in (
        UpscaleRequest(generation_id="g", resolution="1080p"),
        AudioRequest(generation_id="g"),
    ):
        with pytest.raises(errors.UnsupportedRequestError):
            client.check(request)
        with pytest.raises(errors.UnsupportedRequestError):
            await client.submit(request)
    assert emulator.requests == []


async def test_universal_speaks_its_own_dialect(emulator: Any, http: aiohttp.ClientSession) -> None:
    client = client_for("aiml-universal", emulator, http)
    created = await client.create(
        VideoRequest(prompt="a jellyfish", model="ray-flash-2", duration_seconds=9)
    )
    assert created.id.endswith(":luma/ray-flash-2")
    (create,) = [r for r in emulator.requests if r.method == "POST"]
    assert create.path == "/v2/video/generations"
    assert create.json["model"] == "luma/ray-flash-2" and create.json["duration"] == 9
    done = await client.wait_until_done(created.id, deadline=time.time() + 10)
    assert done.state is GenerationState.COMPLETED and done.video_url
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert gets and all(r.query.get("generation_id") == [created.id] for r in gets)


@pytest.mark.parametrize(
    ("family", "options"), [("aiml-v1", {"model": "ray-2"}), ("aiml-v1", {"resolution": "4k"})]
)
async def test_options_a_family_lacks_are_refused_before_any_call(
    emulator: Any, http: aiohttp.ClientSession, family: str, options: dict
) -> None:
    client = client_for(family, emulator, http)
    with pytest.raises(errors.UnsupportedOptionError) as caught:
        client.check(VideoRequest(prompt="a jellyfish", **options))
    assert caught.value.family == "aiml-v1"
    assert emulator.requests == []


async def test_a_wake_up_ends_the_pause_and_the_state_comes_from_a_get(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    wakeups = Wakeups()
    client = client_for("luma", emulator, http, wakeups=wakeups)
    client.poll_interval = 60.0  # no poll could come in time
    emulator.config.dream_seconds = 60.0
    created = await client.create(VideoRequest(prompt="a jellyfish"))
    emulator.force_state(created.id, "completed")
    wakeups.wake(created.id)
    wakeups.wake(created.id)  # twice before the wait looks: one look
    done = await client.wait_until_done(
        created.id, deadline=time.time() + 10, expect_callbacks=True
    )
    assert done.state is GenerationState.COMPLETED
    assert done.video_url == f"{emulator.url}/files/{created.id}.mp4"
    assert [r.method for r in emulator.requests] == ["POST", "GET"]
    assert wakeups.held_chars == 0  # the wait is over: nothing kept for it


@pytest.mark.unit
async def test_wake_ups_hold_a_bounded_number_of_short_ids() -> None:
    wakeups = Wakeups(max_pending=3)
    for n in range(100):
        wakeups.wake(f"generation-{n}")
    wakeups.wake("x" * 1_000_000)  # not an id the API gives: not kept
    assert wakeups.held_chars <= 3 * MAX_ID_CHARS
    assert await wakeups.wait("generation-99", 0) is True
    assert await wakeups.wait("generation-99", 0) is False  # taken
    assert await wakeups.wait("generation-0", 0) is False  # dropped first
    assert await wakeups.wait("x" * 1_000_000, 0) is False


@pytest.mark.unit
async def test_batch_answers_are_taken_once_and_never_go_backwards() -> None:
    pushed = BatchAnswers()
    dreaming = Generation(id="g", state=GenerationState.DREAMING)
    completed = Generation(id="g", state=GenerationState.COMPLETED)
    pushed.push(dreaming)
    pushed.push(completed)
    pushed.push(dreaming)  # late and out of order: ignored
    assert await pushed.wait("g", 0) == completed
    assert await pushed.wait("g", 0.01) is None  # taken
    pushed.push(dreaming)
    pushed.forget("g")
    assert await pushed.wait("g", 0) is None


@pytest.mark.unit
async def test_untaken_batch_answers_are_bounded() -> None:
    pushed = BatchAnswers(max_untaken=2)
    for name in ("a", "b", "c"):
        pushed.push(Generation(id=name, state=GenerationState.DREAMING))
    assert await pushed.wait("a", 0) is None
    assert await pushed.wait("c", 0) is not None


async def test_v1_waits_for_many_generations_with_a_few_batch_requests(
    emulator: Any, http: aiohttp.ClientSession
) -> None:
    import asyncio

    emulator.config.dream_seconds = 0.5
    client = client_for("aiml-v1", emulator, http)
    created = [await client.create(VideoRequest(prompt=f"a jellyfish {n}")) for n in range(20)]
    done = await asyncio.gather(
        *(client.wait_until_done(g.id, deadline=time.time() + 20) for g in created)
    )
    await client.close()
    assert all(generation.state is GenerationState.COMPLETED for generation in done)
    polls = [r for r in emulator.requests if r.method == "GET"]
    assert max(len(r.query["ids"]) for r in polls) == 20  # one request asks for them all
    # Polling each job every 0.05 s for ~0.55 s would take ~200 requests.
    assert len(polls) < 40


@pytest.mark.unit
def test_v1_rounds_come_faster_when_many_ids_share_a_request() -> None:
    from bot.luma.aiml_v1 import BATCH_REQUESTS_PER_SECOND, BATCH_SIZE, batch_interval

    assert batch_interval(5.0, 1) == 5.0  # a lone job: the configured interval
    assert batch_interval(5.0, 2) == 2.5  # each id's share of the requests stays 1 per 5 s
    assert batch_interval(5.0, 300) == 6 / BATCH_REQUESTS_PER_SECOND  # 6 requests a round
    for waiting in (1, 3, 10, 49, 50, 51, 300, 10_000):
        interval = batch_interval(5.0, waiting)
        requests_per_round = -(-waiting // BATCH_SIZE)
        assert requests_per_round / waiting / interval <= 1 / 5.0  # a lone job's cost, at most
        if interval < 5.0:  # sped up: only as far as the poller's request rate allows
            assert requests_per_round / interval <= BATCH_REQUESTS_PER_SECOND
        assert 1.0 <= interval <= 5.0
    assert batch_interval(0.05, 300) == 0.05  # never slower than configured
