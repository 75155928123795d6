"""The emulator's real clips (``EmulatorConfig(clips=True)``): every generation's video is its
own solid-colour MP4, an extension's video holds its source's, and tests read them back by
decoding frames (tests/media.py)."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.worker.mp4 import read_video_info
from emulator import EmulatorConfig, run_emulator
from emulator import clips as clips_module
from emulator.__main__ import config_from_args, parse_args
from emulator.assets import VIDEO_FILE, sample_bytes
from emulator.clips import PALETTE, ClipSpec, Segment, frame_size, render_clip
from emulator.config import parse_clip_seconds
from tests.media import (
    colour_runs,
    colours_at,
    duration_of,
    frame_colours,
    nearest_colour,
    probe,
)

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
FAST = {"queue_seconds": 0.05, "dream_seconds": 0.1, "long_poll_seconds": 0.3}
V2 = "/v2/generate/video/luma-ai"
LUMA = "/dream-machine/v1"
UNIVERSAL = "/v2/video/generations"
MB = 10**6


@asynccontextmanager
async def serve(**overrides: Any) -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    config = EmulatorConfig(**{**FAST, "clips": True, **overrides})
    async with (
        run_emulator(config, port=0) as emu,
        aiohttp.ClientSession(base_url=emu.url, headers=AUTH) as http,
    ):
        yield emu, http


@pytest.fixture
async def env() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    async with serve() as pair:
        yield pair


def gen_frame(gen_id: str) -> dict[str, str]:
    return {"type": "generation", "id": gen_id}


async def _post(http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with http.post(path, json=body) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()


async def _get(http: aiohttp.ClientSession, path: str, **params: str) -> Any:
    async with http.get(path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@dataclass(frozen=True)
class Api:
    """One family's create (with optional forward / reverse sources) and where its finished
    generation's video is, as its own API says."""

    name: str
    create: Callable[..., Awaitable[str]]
    video_url: Callable[[aiohttp.ClientSession, str], Awaitable[str]]


def _frames(extend: str | None, reverse: str | None) -> dict[str, Any]:
    frames = {}
    if extend:
        frames["frame0"] = gen_frame(extend)
    if reverse:
        frames["frame1"] = gen_frame(reverse)
    return {"keyframes": frames} if frames else {}


async def v2_create(
    http: aiohttp.ClientSession, extend: str | None = None, reverse: str | None = None, **body: Any
) -> str:
    body = {"prompt": "Flying jellyfish", **_frames(extend, reverse), **body}
    return (await _post(http, f"{V2}/generation", body))["id"]


async def v2_video(http: aiohttp.ClientSession, gen_id: str) -> str:
    return (await _get(http, f"{V2}/generation", generation_id=gen_id))["assets"]["video"]


async def luma_create(
    http: aiohttp.ClientSession, extend: str | None = None, reverse: str | None = None, **body: Any
) -> str:
    body = {"model": "ray-2", "prompt": "Flying jellyfish", **_frames(extend, reverse), **body}
    return (await _post(http, f"{LUMA}/generations/video", body))["id"]


async def luma_video(http: aiohttp.ClientSession, gen_id: str) -> str:
    return (await _get(http, f"{LUMA}/generations/{gen_id}"))["assets"]["video"]


async def universal_create(
    http: aiohttp.ClientSession, extend: str | None = None, reverse: str | None = None, **body: Any
) -> str:
    body = {"model": "luma/ray-2", "prompt": "Flying jellyfish", **_frames(extend, reverse), **body}
    return (await _post(http, UNIVERSAL, body))["id"]


async def universal_video(http: aiohttp.ClientSession, gen_id: str) -> str:
    return (await _get(http, UNIVERSAL, generation_id=gen_id))["video"]["url"]


async def legacy_create(
    http: aiohttp.ClientSession, extend: str | None = None, reverse: str | None = None, **body: Any
) -> str:
    assert reverse is None, "the legacy family extends forward only"
    body = {"user_prompt": "Flying jellyfish", "aspect_ratio": "16:9", **body}
    path = "/luma-ai/generations" + (f"/{extend}/extend" if extend else "")
    return (await _post(http, path, body))["id"]


async def legacy_video(http: aiohttp.ClientSession, gen_id: str) -> str:
    return (await _get(http, "/luma-ai/generation", ids=gen_id))[0]["video"]["url"]


APIS = {
    "aiml_v2": Api("aiml_v2", v2_create, v2_video),
    "luma": Api("luma", luma_create, luma_video),
    "aiml_universal": Api("aiml_universal", universal_create, universal_video),
    "aiml_v1": Api("aiml_v1", legacy_create, legacy_video),
}


async def download(http: aiohttp.ClientSession, url: str, **headers: str) -> bytes:
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200, resp.status
        assert resp.content_type == "video/mp4"
        return await resp.read()


async def made(emu: Any, api: Api, http: aiohttp.ClientSession, **create: Any) -> str:
    """A generation, completed at once (forced, so no test waits on the clock)."""
    gen_id = await api.create(http, **create)
    emu.force_state(gen_id, "completed")
    return gen_id


async def video_of(api: Api, http: aiohttp.ClientSession, gen_id: str) -> bytes:
    return await download(http, await api.video_url(http, gen_id))


def top_boxes(data: bytes) -> list[bytes]:
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        kinds.append(kind)
        pos += size
    return kinds


V2_API = APIS["aiml_v2"]


# -- distinct clips ---------------------------------------------------------------------------


async def test_each_generation_gets_its_own_colour(env) -> None:
    emu, http = env
    ids = [await made(emu, V2_API, http) for _ in range(3)]
    videos = [await video_of(V2_API, http, gen_id) for gen_id in ids]
    assert len(set(videos)) == 3
    # Clip 1, 2, 3 in creation order: red, green, blue, whole.
    assert [colour_runs(video) for video in videos] == [
        [("red", 2.0)],
        [("green", 2.0)],
        [("blue", 2.0)],
    ]
    for video, expected in zip(videos, PALETTE, strict=False):
        (rgb,) = frame_colours(video, [1.0])
        assert max(abs(a - b) for a, b in zip(rgb, expected.rgb, strict=True)) < 16
        assert nearest_colour(rgb) is expected
    assert [emu.generations[gen_id].clip.colours for gen_id in ids] == [
        ["red"],
        ["green"],
        ["blue"],
    ]
    # A real H.264 MP4, faststart, no sound, the size the legacy DTO and the bot's reader see.
    info = probe(videos[0])
    assert (info.codec, info.width, info.height, info.fps, info.audio) == (
        "h264",
        320,
        180,
        8.0,
        None,
    )
    assert top_boxes(videos[0])[:2] == [b"ftyp", b"moov"]
    assert read_video_info(videos[0]).width == 320


async def test_durations_follow_the_requested_duration(env) -> None:
    emu, http = env
    cases = [
        (V2_API, {}, 2.0),  # no duration counts as "5s"
        (V2_API, {"duration": "5s"}, 2.0),
        (V2_API, {"duration": "9s"}, 3.0),
        (APIS["luma"], {"duration": "9s"}, 3.0),
        (APIS["aiml_universal"], {"duration": 9}, 3.0),
        (APIS["aiml_universal"], {"duration": 5}, 2.0),
        (APIS["aiml_v1"], {}, 2.0),  # the legacy family names no duration
    ]
    for api, body, seconds in cases:
        video = await video_of(api, http, await made(emu, api, http, **body))
        assert duration_of(video) == pytest.approx(seconds, abs=0.01), (api.name, body)


async def test_clip_seconds_scale_the_durations() -> None:
    async with serve(clip_seconds={"5s": 1.0, "9s": 1.5}) as (emu, http):
        video = await video_of(V2_API, http, await made(emu, V2_API, http, duration="9s"))
        assert duration_of(video) == pytest.approx(1.5, abs=0.01)
        assert colour_runs(video) == [("red", 1.5)]


@pytest.mark.parametrize("api", APIS.values(), ids=APIS.keys())
async def test_every_family_serves_its_own_clips(api: Api) -> None:
    async with serve() as (emu, http):
        first = await made(emu, api, http)
        second = await made(emu, api, http)
        assert [colours_at(await video_of(api, http, g), [0.5]) for g in (first, second)] == [
            ["red"],
            ["green"],
        ]
        # Files are named by the id up to any ":<model>" (universal ids).
        stem = emu.generations[second].file_stem
        assert colours_at(await download(http, f"/files/{stem}.mp4"), [0.5]) == ["green"]


async def test_aspect_ratio_shapes_the_clip(env) -> None:
    emu, http = env
    tall = await video_of(V2_API, http, await made(emu, V2_API, http, aspect_ratio="9:16"))
    square = await video_of(V2_API, http, await made(emu, V2_API, http, aspect_ratio="1:1"))
    assert (probe(tall).width, probe(tall).height) == (180, 320)
    assert (probe(square).width, probe(square).height) == (320, 320)


async def test_the_legacy_video_object_has_the_clips_size(env) -> None:
    emu, http = env
    gen_id = await made(emu, APIS["aiml_v1"], http, aspect_ratio="9:16")
    (body,) = await _get(http, "/luma-ai/generation", ids=gen_id)
    assert (body["video"]["width"], body["video"]["height"]) == (180, 320)
    assert probe(await download(http, body["video"]["url"])).width == 180


async def test_the_palette_survives_encoding() -> None:
    spec = ClipSpec(tuple(Segment(colour, 0.5) for colour in PALETTE), 320, 180, 8)
    video = await asyncio.to_thread(render_clip, spec)
    assert colour_runs(video) == [(colour.name, 0.5) for colour in PALETTE]
    assert duration_of(video) == pytest.approx(4.0, abs=0.01)


# -- extensions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["aiml_v2", "luma", "aiml_universal", "aiml_v1"])
async def test_a_forward_extension_holds_the_source_then_the_new_part(name: str) -> None:
    api = APIS[name]
    async with serve() as (emu, http):
        source = await made(emu, api, http)
        extension = await made(emu, api, http, extend=source)
        video = await video_of(api, http, extension)
        assert colour_runs(video) == [("red", 2.0), ("green", 2.0)]
        assert duration_of(video) == pytest.approx(4.0, abs=0.01)
        assert colours_at(video, [1.0, 3.0]) == ["red", "green"]
        # The source itself is untouched.
        assert colour_runs(await video_of(api, http, source)) == [("red", 2.0)]


@pytest.mark.parametrize("name", ["aiml_v2", "luma", "aiml_universal"])
async def test_a_reverse_extension_holds_the_new_part_then_the_source(name: str) -> None:
    api = APIS[name]
    async with serve() as (emu, http):
        source = await made(emu, api, http, duration="9s" if name != "aiml_universal" else 9)
        extension = await made(emu, api, http, reverse=source)
        video = await video_of(api, http, extension)
        assert colour_runs(video) == [("green", 2.0), ("red", 3.0)]
        assert duration_of(video) == pytest.approx(5.0, abs=0.01)


async def test_extending_an_extension_holds_the_whole_chain(env) -> None:
    emu, http = env
    first = await made(emu, V2_API, http)
    second = await made(emu, V2_API, http, extend=first, duration="9s")
    third = await made(emu, V2_API, http, extend=second)
    before = await made(emu, V2_API, http, reverse=third)
    video = await video_of(V2_API, http, before)
    assert colour_runs(video) == [("yellow", 2.0), ("red", 2.0), ("green", 3.0), ("blue", 2.0)]
    assert duration_of(video) == pytest.approx(9.0, abs=0.01)
    gen = emu.generations[before]
    assert [s.generation_id for s in gen.clip.segments] == [before, first, second, third]


async def test_interpolating_two_videos_puts_the_new_part_between_them(env) -> None:
    emu, http = env
    start = await made(emu, V2_API, http)
    end = await made(emu, V2_API, http)
    between = await made(emu, V2_API, http, extend=start, reverse=end)
    video = await video_of(V2_API, http, between)
    assert colour_runs(video) == [("red", 2.0), ("blue", 2.0), ("green", 2.0)]


async def test_an_extension_keeps_its_sources_shape(env) -> None:
    emu, http = env
    source = await made(emu, V2_API, http, aspect_ratio="9:16")
    extension = await made(emu, V2_API, http, extend=source, aspect_ratio="16:9")
    info = probe(await video_of(V2_API, http, extension))
    assert (info.width, info.height, info.duration) == (180, 320, 4.0)


async def test_without_the_source_an_extension_is_the_new_part_alone() -> None:
    async with serve(extend_includes_source=False) as (emu, http):
        source = await made(emu, V2_API, http)
        forward = await made(emu, V2_API, http, extend=source, duration="9s")
        reverse = await made(emu, V2_API, http, reverse=source)
        assert colour_runs(await video_of(V2_API, http, forward)) == [("green", 3.0)]
        assert colour_runs(await video_of(V2_API, http, reverse)) == [("blue", 2.0)]
        legacy = APIS["aiml_v1"]
        task = await made(emu, legacy, http)
        extended = await made(emu, legacy, http, extend=task)
        assert colour_runs(await video_of(legacy, http, extended)) == [("magenta", 2.0)]


async def test_the_switch_applies_to_extensions_made_after_it(env) -> None:
    emu, http = env
    source = await made(emu, V2_API, http)
    whole = await made(emu, V2_API, http, extend=source)
    async with http.patch("/_emulator/config", json={"extend_includes_source": False}) as resp:
        assert resp.status == 200
    alone = await made(emu, V2_API, http, extend=source)
    assert colour_runs(await video_of(V2_API, http, whole)) == [("red", 2.0), ("green", 2.0)]
    assert colour_runs(await video_of(V2_API, http, alone)) == [("blue", 2.0)]


async def test_an_extension_still_holds_a_source_deleted_later(env) -> None:
    emu, http = env
    luma = APIS["luma"]
    source = await made(emu, luma, http)
    extension = await made(emu, luma, http, extend=source)
    async with http.delete(f"{LUMA}/generations/{source}") as resp:
        assert resp.status == 204
    assert colour_runs(await video_of(luma, http, extension)) == [("red", 2.0), ("green", 2.0)]


# -- upscale and soundtrack ---------------------------------------------------------------------


async def test_an_upscale_serves_the_sources_footage_larger(env) -> None:
    emu, http = env
    luma = APIS["luma"]
    source = await made(emu, luma, http)
    extension = await made(emu, luma, http, extend=source)
    upscaled = (await _post(http, f"{LUMA}/generations/{extension}/upscale", {}))["id"]
    emu.force_state(upscaled, "completed")
    video = await video_of(luma, http, upscaled)
    # 720p (the source named none) -> 1080p: 1.5 times the size, the same shots.
    info = probe(video)
    assert (info.width, info.height, info.duration) == (480, 270, 4.0)
    assert colour_runs(video) == [("red", 2.0), ("green", 2.0)]
    # An upscale makes no new footage: the next create takes the next colour.
    assert colours_at(await video_of(luma, http, await made(emu, luma, http)), [0]) == ["blue"]


async def test_a_4k_upscale_of_a_1080p_video_doubles_it(env) -> None:
    emu, http = env
    luma = APIS["luma"]
    source = await made(emu, luma, http, resolution="1080p", aspect_ratio="9:16")
    upscaled = await _post(http, f"{LUMA}/generations/{source}/upscale", {"resolution": "4k"})
    emu.force_state(upscaled["id"], "completed")
    info = probe(await video_of(luma, http, upscaled["id"]))
    assert (info.width, info.height) == (360, 640)


async def test_a_soundtrack_serves_the_sources_footage_with_sound(env) -> None:
    emu, http = env
    luma = APIS["luma"]
    source = await made(emu, luma, http, duration="9s")
    sound = (await _post(http, f"{LUMA}/generations/{source}/audio", {"prompt": "waves"}))["id"]
    emu.force_state(sound, "completed")
    video = await video_of(luma, http, sound)
    info = probe(video)
    assert info.audio == "aac"
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert colour_runs(video) == [("red", 3.0)]
    assert probe(await video_of(luma, http, source)).audio is None


# -- serving ------------------------------------------------------------------------------------


async def test_clips_are_served_with_range(env) -> None:
    emu, http = env
    url = await V2_API.video_url(http, await made(emu, V2_API, http))
    whole = await download(http, url)
    async with http.get(url, headers={"Range": "bytes=100-199"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
        assert await resp.read() == whole[100:200]
    async with http.get(url, headers={"Range": f"bytes={len(whole)}-"}) as resp:
        assert resp.status == 416
    async with http.head(url) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == len(whole)
    # A download that resumes where a broken one stopped gets the same clip.
    emu.inject_fault(route="download", kind="truncate", after_bytes=500)
    with pytest.raises(aiohttp.ClientPayloadError):
        await download(http, url)
    async with http.get(url, headers={"Range": "bytes=500-"}) as resp:
        assert resp.status == 206
        assert whole[:500] + await resp.read() == whole


async def test_a_video_size_pads_a_clip_that_still_decodes() -> None:
    async with serve(video_size=MB) as (emu, http):
        video = await video_of(V2_API, http, await made(emu, V2_API, http, duration="9s"))
        assert len(video) == MB
        assert top_boxes(video)[-1] == b"free"
        assert colour_runs(video) == [("red", 3.0)]
        assert duration_of(video) == pytest.approx(3.0, abs=0.01)


async def test_a_size_below_the_clip_serves_it_as_it_is() -> None:
    size = len(sample_bytes(VIDEO_FILE))  # the smallest size there is; a clip is not padded down
    async with serve(video_size=size) as (emu, http):
        extension = await made(emu, V2_API, http, extend=await made(emu, V2_API, http))
        video = await video_of(V2_API, http, extension)
        assert colour_runs(video) == [("red", 2.0), ("green", 2.0)]


async def test_clips_off_serve_the_sample_and_run_no_ffmpeg() -> None:
    async with serve(clips=False) as (emu, http):
        first = await made(emu, V2_API, http)
        extension = await made(emu, V2_API, http, extend=first)
        for gen_id in (first, extension):
            assert await video_of(V2_API, http, gen_id) == sample_bytes(VIDEO_FILE)
        assert emu.clips.made == 0
        # The plan is kept all the same, so turning clips on serves them at once.
        async with http.patch("/_emulator/config", json={"clips": True}) as resp:
            assert resp.status == 200
        assert colour_runs(await video_of(V2_API, http, extension)) == [("red", 2), ("green", 2)]


async def test_clips_are_made_once_per_spec(env) -> None:
    emu, http = env
    url = await V2_API.video_url(http, await made(emu, V2_API, http))
    videos = await asyncio.gather(*(download(http, url) for _ in range(4)))
    assert len(set(videos)) == 1
    await download(http, url)
    assert emu.clips.made == 1


async def test_clips_are_made_off_the_event_loop(env, monkeypatch: pytest.MonkeyPatch) -> None:
    emu, http = env
    started, release = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def blocking_render(spec: ClipSpec) -> bytes:
        threads.append(threading.current_thread())
        started.set()
        assert release.wait(10), "never released"
        return render_clip(spec)

    monkeypatch.setattr(clips_module, "render_clip", blocking_render)
    url = await V2_API.video_url(http, await made(emu, V2_API, http))
    pending = asyncio.create_task(download(http, url))
    assert await asyncio.to_thread(started.wait, 10)
    # FFmpeg is "running": the emulator still answers other requests meanwhile.
    async with asyncio.timeout(5):
        other = await made(emu, V2_API, http)
        assert (await _get(http, f"{V2}/generation", generation_id=other))["state"] == "completed"
    assert not pending.done()
    release.set()
    assert colour_runs(await pending) == [("red", 2.0)]
    assert threads and threads[0] is not threading.main_thread()


async def test_a_clip_ffmpeg_cannot_make_is_a_500(env, monkeypatch: pytest.MonkeyPatch) -> None:
    emu, http = env

    def broken(spec: ClipSpec) -> bytes:
        raise RuntimeError("ffmpeg could not make the clip (1): no")

    monkeypatch.setattr(clips_module, "render_clip", broken)
    url = await V2_API.video_url(http, await made(emu, V2_API, http))
    async with http.get(url) as resp:
        assert resp.status == 500


async def test_a_failed_generation_takes_its_colour_too(env) -> None:
    emu, http = env
    failed = await V2_API.create(http, prompt="Flying jellyfish [fail]")
    emu.force_state(failed, "failed")
    assert emu.generations[failed].clip.colours == ["red"]
    assert colours_at(await video_of(V2_API, http, await made(emu, V2_API, http)), [0]) == ["green"]


async def test_a_reset_of_generations_starts_the_palette_again(env) -> None:
    emu, http = env
    await made(emu, V2_API, http)
    emu.reset(generations=True)
    assert colours_at(await video_of(V2_API, http, await made(emu, V2_API, http)), [0]) == ["red"]


async def test_the_admin_list_shows_each_clips_colours(env) -> None:
    emu, http = env
    extension = await made(emu, V2_API, http, extend=await made(emu, V2_API, http))
    listed = await _get(http, "/_emulator/generations")
    assert {g["id"]: g["clip"] for g in listed}[extension] == ["red", "green"]


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.unit
def test_cli_clip_flags() -> None:
    config = config_from_args(
        parse_args(["--clips", "--clip-seconds", "9s=4", "--clip-fps", "12", "--clip-size", "160"])
    )
    assert (config.clips, config.clip_seconds, config.clip_fps, config.clip_size) == (
        True,
        {"5s": 2.0, "9s": 4.0},
        12,
        160,
    )
    assert config.extend_includes_source
    default = config_from_args(parse_args([]))
    assert not default.clips and default.clip_seconds == {"5s": 2.0, "9s": 3.0}
    assert not config_from_args(parse_args(["--extend-without-source"])).extend_includes_source


@pytest.mark.unit
@pytest.mark.parametrize("text", ["5s", "7s=2", "5s=0", "5s=x", "9s=-1"])
def test_bad_clip_seconds_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_clip_seconds(text)
    with pytest.raises(SystemExit):
        parse_args(["--clip-seconds", text])


@pytest.mark.unit
@pytest.mark.parametrize(
    "overrides",
    [{"clip_seconds": {"5s": 2.0}}, {"clip_seconds": {"5s": 0, "9s": 1}}, {"clip_fps": 0}],
)
def test_clip_config_validation(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**overrides)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("16:9", (320, 180)),
        ("9:16", (180, 320)),
        ("1:1", (320, 320)),
        ("21:9", (320, 138)),
        ("4:3", (320, 240)),
        (None, (320, 180)),
    ],
)
def test_frame_size_by_aspect_ratio(ratio: str | None, size: tuple[int, int]) -> None:
    assert frame_size(ratio, 320) == size
