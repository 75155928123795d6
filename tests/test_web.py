"""The web edge (bot/web/server.py) against requests nobody vouches for: odd signatures and secrets,
deeply nested and oversized bodies, /healthz that says only what is wrong (never the API's own
words), /metrics behind METRICS_TOKEN or on METRICS_PORT, and /media that fetches a photo from
Telegram once per link and serves only images."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.links import MediaRef
from bot.metrics import Metrics
from bot.web.health import Health
from bot.web.media import FileCache, image_type
from playground.fake_telegram import FakeTelegram
from tests.conftest import BOT_TOKEN, free_port

SECRET = "webhook-secret_42"
LUMA_PATH = "/dream-machine/v1"
PNG_IMAGE = b"\x89PNG\r\n\x1a\n" + b"png-frame" + bytes(300)
METRICS_TOKEN = "scrape-token-0123456789"


async def raw_request(
    port: int,
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> int | None:
    """Send bytes exactly as given (non-ASCII headers and paths included) and return the status
    the server answers, or None if it hung up without an answer. One request per connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [method + b" " + target + b" " + version, b"Host: 127.0.0.1", b"Connection: close"]
        head += [name + b": " + value for name, value in headers]
        if body and not any(name.lower() == b"transfer-encoding" for name, _ in headers):
            head.append(b"Content-Length: %d" % len(body))
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass  # the server answered (413, 400) and hung up before reading it all
        try:
            status = await asyncio.wait_for(_final_status(reader), 30)
            await asyncio.wait_for(reader.read(), 30)
        except ConnectionResetError:
            return None
    finally:
        writer.close()
    return status


async def _final_status(reader: asyncio.StreamReader) -> int | None:
    """The status of the final answer, past any "100 Continue"."""
    while True:
        fields = (await reader.readline()).split()
        if len(fields) < 2:
            return None
        if not fields[1].startswith(b"1"):
            return int(fields[1])
        while (await reader.readline()).strip():
            pass  # the interim answer's headers


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def start_luma(start_bot: Callable[..., Any], emulator: Any, **overrides: Any) -> Any:
    """The one family with provider callbacks, in webhook mode: every route exists."""
    return await start_bot(
        public=True,
        luma_api_family="luma",
        luma_api_url=emulator.url + LUMA_PATH,
        telegram_webhook=True,
        webhook_secret=SECRET,
        **overrides,
    )


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- 7: nothing unauthenticated causes a 500 or an ERROR -------------------------------------


@pytest.mark.parametrize("expect", [None, b"webhook-secret_42x"])
async def test_a_broken_compressed_body_is_answered_without_an_error_logged(
    expect: bytes | None,
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # aiohttp drains a body a route did not read, decoding it: junk sent as gzip was logged as
    # the server's own unhandled error (found by tests/test_web_fuzz.py).
    bot = await start_bot(public=True)
    headers = [(b"Content-Encoding", b"gzip")] + ([(b"Expect", expect)] if expect else [])
    port = bot.runtime.web.port
    for method, target in ((b"POST", b"/healthz"), (b"POST", b"/nowhere"), (b"GET", b"/healthz")):
        status = await raw_request(port, method, target, headers, body=b"\x00\x00" * 100)
        assert status is None or status < 500, (method, target)  # None: it hung up
    assert errors_logged(caplog) == []


async def test_a_non_ascii_photo_signature_is_a_404_not_a_crash(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_luma(start_bot, emulator)
    photo = bot.runtime.signer.link(MediaRef("file-1", "image/jpeg")).rsplit("/", 1)[1]
    payload = photo.split(".")[0]
    for target in (
        f"/media/{payload}.%C3%A9.jpg",
        "/media/%C3%A9",
        f"/media/{payload}.%FF%FE.jpg",
        f"/media/{payload}.%ED%B3%BF.jpg",  # a lone surrogate, UTF-8 encoded
    ):
        assert await raw_request(bot.runtime.web.port, b"GET", target.encode()) == 404, target
    # Not even percent-encoded: the HTTP parser refuses the request line itself.
    raw = f"/media/{payload}.\u00e9.jpg".encode()
    assert await raw_request(bot.runtime.web.port, b"GET", raw) == 400
    assert errors_logged(caplog) == []


async def test_a_non_ascii_callback_signature_is_a_404_not_a_crash(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_luma(start_bot, emulator)
    callback = bot.runtime.signer.callback_link(1, expires=time.time() + 60).rsplit("/", 1)[1]
    for target in (f"/callbacks/{callback.split('.')[0]}.%C3%A9", "/callbacks/%C3%A9"):
        status = await raw_request(bot.runtime.web.port, b"POST", target.encode(), body=b"{}")
        assert status == 404, target
    assert errors_logged(caplog) == []


async def test_a_non_ascii_webhook_secret_is_a_404_not_a_crash(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_luma(start_bot, emulator)
    for secret in ("\u00e9".encode(), "caf\u00e9".encode("latin-1"), b"\xff" * 20):
        status = await raw_request(
            bot.runtime.web.port,
            b"POST",
            b"/telegram/webhook",
            [(b"X-Telegram-Bot-Api-Secret-Token", secret), (b"Content-Type", b"application/json")],
            b'{"update_id": 1}',
        )
        assert status == 404, secret
    assert errors_logged(caplog) == []
    assert not await bot.runtime.repository.update_handled(1)


async def test_deeply_nested_json_to_a_callback_is_refused_without_a_crash(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_luma(start_bot, emulator)
    port = bot.runtime.web.port
    valid = bot.runtime.signer.callback_link(1, expires=time.time() + 60).rsplit("/", 1)[1]
    forged = valid[:-2] + ("AA" if not valid.endswith("AA") else "BB")
    json_header = [(b"Content-Type", b"application/json")]
    # A forged link is refused before its body is read.
    assert await raw_request(port, b"POST", f"/callbacks/{forged}".encode(), json_header,
                             nested(100_000)) == 404  # fmt: skip
    # A genuine link (the provider's) with a body too deep to parse: a clean 4xx.
    status = await raw_request(
        port, b"POST", f"/callbacks/{valid}".encode(), json_header, nested(5_000)
    )
    assert status in (400, 404)
    assert errors_logged(caplog) == []


async def test_each_route_limits_its_body_and_answers_413(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_luma(start_bot, emulator)
    port = bot.runtime.web.port
    valid = bot.runtime.signer.callback_link(1, expires=time.time() + 60).rsplit("/", 1)[1]
    # A provider's callback is a Generation object of a few kilobytes.
    big_callback = json.dumps({"id": "x", "padding": "a" * 200_000}).encode()
    status = await raw_request(port, b"POST", f"/callbacks/{valid}".encode(), body=big_callback)
    assert status == 413
    # Chunked, without a Content-Length: the limit holds while reading.
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(big_callback), big_callback)
    status = await raw_request(
        port,
        b"POST",
        f"/callbacks/{valid}".encode(),
        [(b"Transfer-Encoding", b"chunked")],
        chunked,
    )
    assert status == 413
    # Telegram's updates are far smaller than a megabyte.
    huge_update = json.dumps({"update_id": 5, "padding": "a" * 2_000_000}).encode()
    status = await raw_request(
        port,
        b"POST",
        b"/telegram/webhook",
        [(b"X-Telegram-Bot-Api-Secret-Token", SECRET.encode())],
        huge_update,
    )
    assert status == 413
    assert errors_logged(caplog) == []
    assert not await bot.runtime.repository.update_handled(5)


async def test_a_malformed_request_is_a_400_without_an_error_traceback(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(public=True)
    port = bot.runtime.web.port
    both_lengths = [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"5")]
    assert await raw_request(port, b"POST", b"/healthz", both_lengths, b"0\r\n\r\n") == 400
    assert await raw_request(port, b"GET", b"/healthz", [(b"X-Bad\x01Name", b"1")]) == 400
    assert await raw_request(port, b"GET", b"/healthz", [(b"X-Long", b"a" * 20_000)]) in (400, 431)
    assert errors_logged(caplog) == []


async def test_an_unknown_expect_header_is_a_417_on_every_path(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # aiohttp echoes an unknown Expect in its 417, and a value that is not UTF-8 made that a 500.
    bot = await start_luma(start_bot, emulator)
    port = bot.runtime.web.port
    for value in (b"\xe9", "caf\u00e9".encode(), b"something-else"):
        for method, target in (
            (b"GET", b"/healthz"),
            (b"POST", b"/healthz"),  # a known path, another method
            (b"GET", b"/nowhere"),
            (b"POST", b"/callbacks/forged"),
            (b"OPTIONS", b"*"),
        ):
            status = await raw_request(port, method, target, [(b"Expect", value)], b"{}")
            assert status in (400, 404, 417), (method, target, value)
    assert await raw_request(port, b"GET", b"/healthz", [(b"Expect", b"100-Continue")]) == 200
    assert errors_logged(caplog) == []


# --- 8: /healthz says what is wrong, not the API's words; /metrics is protected ---------------


async def test_healthz_names_the_category_and_logs_the_detail(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    leak = "upstream db-7.internal.corp:5432 refused the connection"
    emulator.inject_fault(route="any", status=502, message=leak)
    bot = await start_bot()
    base = f"http://127.0.0.1:{bot.runtime.web.port}"
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
        assert response.status == 503
        body = await response.text()
    assert json.loads(body) == {"status": "degraded", "database": "ok", "api": "unreachable"}
    assert "internal.corp" not in body
    assert any(leak in r.getMessage() for r in caplog.records), "the detail is logged"


async def test_healthz_never_shows_the_api_address(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(luma_api_url=f"http://127.0.0.1:{free_port()}")  # nothing listens
    base = f"http://127.0.0.1:{bot.runtime.web.port}"
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
        body = await response.text()
    assert json.loads(body)["api"] == "unreachable"
    assert "127.0.0.1" not in body


async def test_metrics_token_guards_metrics_on_the_public_port(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(metrics_token=METRICS_TOKEN)
    port = bot.runtime.web.port
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as http:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": METRICS_TOKEN},
            {"Authorization": f"Basic {METRICS_TOKEN}"},
        ):
            async with http.get(url, headers=headers) as response:
                assert response.status == 401, headers
                assert "luma_bot" not in await response.text()
        for scheme in ("Bearer", "bearer"):
            headers = {"Authorization": f"{scheme} {METRICS_TOKEN}"}
            async with http.get(url, headers=headers) as response:
                assert response.status == 200
                assert "luma_bot_jobs" in await response.text()
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200  # load balancers need no token
    non_ascii = [(b"Authorization", "Bearer \u00e9t\u00e9".encode())]
    assert await raw_request(port, b"GET", b"/metrics", non_ascii) == 401


async def test_metrics_port_serves_metrics_on_localhost_only(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    metrics_port = free_port()
    bot = await start_bot(metrics_port=metrics_port, metrics_token=METRICS_TOKEN)
    public = f"http://127.0.0.1:{bot.runtime.web.port}"
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{public}/metrics", headers=auth) as response:
            assert response.status == 404
        async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            assert response.status == 200
            assert "luma_bot_jobs" in await response.text()
        async with http.get(f"{public}/healthz") as response:
            assert response.status == 200


async def test_public_unprotected_metrics_is_warned_about_at_start(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await start_bot()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("METRICS_TOKEN" in line and "METRICS_PORT" in line for line in warnings)
    caplog.clear()
    await start_bot(metrics_token=METRICS_TOKEN)
    assert not any("METRICS_TOKEN" in r.getMessage() for r in caplog.records)


@pytest.mark.unit
async def test_concurrent_scrapes_and_probes_share_one_count_and_one_ping() -> None:
    calls: list[str] = []

    class Repository:
        async def jobs_by_state(self) -> dict[str, int]:
            calls.append("count jobs")
            await asyncio.sleep(0)
            return {"delivered": 7}

        async def ping(self) -> None:
            calls.append("SELECT 1")

    class Client:
        async def ping(self) -> str:
            calls.append("ping the API")
            await asyncio.sleep(0)
            return "unreachable"

    health = Health(repository=Repository(), client=Client(), metrics=Metrics())  # type: ignore[arg-type]
    texts = await asyncio.gather(*(health.metrics_text() for _ in range(20)))
    reports = await asyncio.gather(*(health.report() for _ in range(20)))
    await health.metrics_text()
    assert calls.count("count jobs") == 1, "one count for every scrape within 5 s"
    assert calls.count("ping the API") == 1, "one API check for every probe within 15 s"
    assert calls.count("SELECT 1") == 20
    assert all(b'luma_bot_jobs{state="delivered"} 7.0' in text for text in texts)
    assert all(report == (False, reports[0][1]) for report in reports)


async def test_metrics_still_answer_when_the_database_is_gone(
    start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """An outage is no reason for a 500 and a traceback on every scrape: the job gauge keeps
    its last value, the rest of the metrics (the ones that show the outage) still come."""
    bot = await start_bot()
    await bot.runtime.repository.close()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{bot.runtime.web.port}/metrics") as response:
            assert response.status == 200
            assert "luma_bot_updates" in await response.text()
    web_errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and r.name != "bot.worker.leases"
    ]  # the worker rightly complains that it cannot claim jobs
    assert not web_errors
    assert "jobs could not be counted" in caplog.text


@pytest.mark.unit
@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"METRICS_TOKEN": "too-short"}, "METRICS_TOKEN is invalid: must be at least 16"),
        ({"METRICS_TOKEN": "has spaces in the middle"}, "METRICS_TOKEN is invalid"),
        ({"METRICS_PORT": "70000"}, "METRICS_PORT is invalid"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT is invalid"),
        ({"METRICS_PORT": "nine"}, "METRICS_PORT is invalid"),
        ({"METRICS_PORT": "8080"}, "METRICS_PORT must differ from PORT"),
        ({"METRICS_PORT": "9100", "PORT": "9100"}, "METRICS_PORT must differ from PORT"),
    ],
)
def test_bad_metrics_settings_stop_the_bot_with_one_line(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, telegram_bot_token=BOT_TOKEN, luma_api_key="k")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "too-short" not in str(caught.value)


@pytest.mark.unit
def test_metrics_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)
    monkeypatch.setenv("METRICS_PORT", "9100")
    loaded = load_settings(_env_file=None, telegram_bot_token=BOT_TOKEN, luma_api_key="k")
    assert loaded.metrics_port == 9100
    assert loaded.metrics_token is not None and METRICS_TOKEN in loaded.secrets()
    monkeypatch.setenv("METRICS_TOKEN", "")
    monkeypatch.setenv("METRICS_PORT", "")
    loaded = load_settings(_env_file=None, telegram_bot_token=BOT_TOKEN, luma_api_key="k")
    assert loaded.metrics_token is None and loaded.metrics_port is None


# --- 9: /media fetches once per link, bounded, and serves only images -------------------------


async def test_a_photo_link_fetched_many_times_costs_one_telegram_download(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    file_id = tg.add_file(PNG_IMAGE, "documents/file_9.png")
    link = bot.runtime.signer.link(MediaRef(file_id, "image/png"))
    async with aiohttp.ClientSession() as http:

        async def fetch() -> bytes:
            async with http.get(link) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "image/png"
                return await response.read()

        bodies = await asyncio.gather(*(fetch() for _ in range(5)))  # at once
        bodies += [await fetch() for _ in range(5)]  # one after another
    assert bodies == [PNG_IMAGE] * 10
    assert tg.downloads == ["documents/file_9.png"]
    assert len(tg.calls_of("getFile")) == 1


@pytest.mark.parametrize(
    ("data", "claimed"),
    [
        (b"<html><script>alert(1)</script></html>", "image/jpeg"),
        (b"%PDF-1.4 not a picture", "image/png"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "image/webp"),
        (b"", "image/jpeg"),
    ],
)
async def test_a_file_that_is_not_an_image_is_not_served(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    claimed: str,
) -> None:
    bot = await start_bot(public=True)
    file_id = tg.add_file(data, "documents/file_10.bin")
    link = bot.runtime.signer.link(MediaRef(file_id, claimed))
    async with aiohttp.ClientSession() as http, http.get(link) as response:
        assert response.status == 404
        assert await response.read() != data or not data
    assert errors_logged(caplog) == []


async def test_the_content_type_comes_from_the_bytes_not_the_link(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(public=True)
    file_id = tg.add_file(PNG_IMAGE, "documents/file_11.png")
    link = bot.runtime.signer.link(MediaRef(file_id, "image/jpeg"))  # the user's file name lied
    async with aiohttp.ClientSession() as http, http.get(link) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.unit
async def test_the_photo_cache_stays_within_its_bytes_and_limits_fetches() -> None:
    photos = {f"file-{n}": b"\xff\xd8\xff" + bytes([n]) * 1000 for n in range(20)}
    loads: list[str] = []
    at_once = peak = 0
    release = asyncio.Event()

    async def load(file_id: str) -> bytes:
        nonlocal at_once, peak
        loads.append(file_id)
        at_once += 1
        peak = max(peak, at_once)
        await release.wait()
        at_once -= 1
        return photos[file_id]

    cache = FileCache(load, max_bytes=5_000, max_fetches=3)
    waiting = [asyncio.ensure_future(cache.get(file_id)) for file_id in photos]
    waiting += [asyncio.ensure_future(cache.get("file-0")) for _ in range(5)]
    for _ in range(50):  # every waiter runs as far as it can
        await asyncio.sleep(0)
    assert len(loads) == 3, "no more than 3 fetches at once"
    release.set()
    got = await asyncio.gather(*waiting)
    assert [photo.data for photo in got[:20]] == list(photos.values())
    assert all(photo is got[0] for photo in got[20:]), "one fetch for one file"
    assert peak == 3 and sorted(loads) == sorted(photos)
    assert cache.size <= 5_000
    assert (await cache.get("file-19")).data == photos["file-19"]  # the most recent is kept
    assert len(loads) == 20
    await cache.get("file-0")  # evicted long ago: fetched again
    assert len(loads) == 21 and cache.size <= 5_000


@pytest.mark.unit
async def test_a_photo_larger_than_the_cache_is_served_but_not_kept() -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(10_000)

    async def load(file_id: str) -> bytes:
        return big

    cache = FileCache(load, max_bytes=5_000)
    photo = await cache.get("big")
    assert photo is not None and photo.content_type == "image/png" and photo.data == big
    assert cache.size == 0


@pytest.mark.unit
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"RIFF\x10\x00\x00\x00AVI ", None),
        (b"\xff\xd8", None),
        (b"", None),
    ],
)
def test_image_type_reads_the_first_bytes(data: bytes, expected: str | None) -> None:
    assert image_type(data) == expected
