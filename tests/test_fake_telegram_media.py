"""The fake Bot API's media over real HTTP: URLs it fetches as Telegram does (redirects, limits,
timeouts, web pages, the emulator's real-size videos and broken downloads), uploads streamed
with or without a Content-Length, and keeping only the sizes of uploads for benchmarks."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InputMediaVideo
from telegram.error import BadRequest

from emulator.assets import mp4_dimensions, video_bytes
from playground.fake_telegram import MB, FakeTelegram
from tests.test_emulator import create, serve

ANN = 1001
FAILED = "Bad Request: failed to get HTTP URL content"
WRONG_TYPE = "Bad Request: wrong type of the web page content"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


class Origin:
    """A local web server with the answers a media URL can give."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: list[str] = []
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_get("/video.mp4", self.video)
        app.router.add_get("/photo.jpg", self.photo)
        app.router.add_get("/octet/clip.mp4", self.octet)
        app.router.add_get("/bytes/{n}", self.sized)
        app.router.add_get("/chunked/{n}", self.chunked)
        app.router.add_get("/hop/{n}", self.hop)
        app.router.add_get("/page", self.page)
        app.router.add_get("/missing", self.missing)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/cut", self.cut)
        app.router.add_get("/empty", self.empty)
        app.router.add_get("/away", self.away)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)

    async def video(self, request: web.Request) -> web.Response:
        return web.Response(body=VIDEO, content_type="video/mp4")

    async def photo(self, request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def octet(self, request: web.Request) -> web.Response:
        return web.Response(body=VIDEO, content_type="application/octet-stream")

    async def sized(self, request: web.Request) -> web.Response:
        return web.Response(body=bytes(int(request.match_info["n"])), content_type="video/mp4")

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        """``n`` bytes without a Content-Length, in 64 KB chunks (stops if the client leaves)."""
        response = web.StreamResponse()
        response.content_type = "video/mp4"
        response.enable_chunked_encoding()
        await response.prepare(request)
        left = int(request.match_info["n"])
        try:
            while left:
                piece = min(left, 64 * 1024)
                await response.write(bytes(piece))
                left -= piece
        except ConnectionError:
            return response
        await response.write_eof()
        return response

    async def hop(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        self.hits.append(request.path)
        if n:
            raise web.HTTPFound(f"/hop/{n - 1}")
        return web.Response(body=VIDEO, content_type="video/mp4")

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in to see this</html>", content_type="text/html")

    async def missing(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(body=VIDEO, content_type="video/mp4")

    async def cut(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "5000"})
        response.content_type = "video/mp4"
        await response.prepare(request)
        await response.write(VIDEO[:100])
        request.protocol.force_close()
        return response

    async def empty(self, request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="video/mp4")

    async def away(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("http://example.com/video.mp4")

    async def __aenter__(self) -> Origin:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await self.runner.cleanup()


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    async with Origin() as server:
        yield server


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        fake.add_chat(ANN)
        yield fake


async def api(tg: FakeTelegram, method: str, **params: Any) -> tuple[int, dict]:
    """A raw Bot API call (JSON body): the HTTP status and the whole answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.root}/bot{tg.token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


async def send_video(tg: FakeTelegram, url: str, **params: Any) -> tuple[int, dict]:
    return await api(tg, "sendVideo", chat_id=ANN, video=url, **params)


@contextmanager
def socket_closed() -> Iterator[int]:
    """A local port nobody listens on (bound, never listening, for the block)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def refused(answer: tuple[int, dict], description: str = FAILED) -> bool:
    status, body = answer
    return status == 400 and body == {"ok": False, "error_code": 400, "description": description}


# -- fetching URLs ----------------------------------------------------------------------------


async def test_a_video_url_is_fetched_and_stored(tg: FakeTelegram, origin: Origin) -> None:
    url = f"{origin.url}/video.mp4"
    status, body = await send_video(tg, url, width=320, height=180, duration=2)
    assert status == 200, body
    video = body["result"]["video"]
    assert (video["width"], video["height"], video["duration"]) == (320, 180, 2)
    assert (video["file_size"], video["mime_type"]) == (len(VIDEO), "video/mp4")
    assert tg.file(video["file_id"]).data == VIDEO
    (fetch,) = tg.url_fetches
    assert (fetch.url, fetch.status, fetch.error, fetch.ok) == (url, 200, None, True)
    assert (fetch.bytes_read, fetch.content_type, fetch.redirects) == (
        len(VIDEO),
        "video/mp4",
        (),
    )
    assert tg.bytes_fetched == len(VIDEO) and tg.bytes_received == 0
    assert tg.videos(ANN)[0].params["video"] == url  # the call as the bot made it
    # Telegram now has the file: getFile and the file route serve what it fetched.
    status, got = await api(tg, "getFile", file_id=video["file_id"])
    assert status == 200 and got["result"]["file_size"] == len(VIDEO)
    path = got["result"]["file_path"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{tg.root}/file/bot{tg.token}/{path}") as resp,
    ):
        assert await resp.read() == VIDEO


async def test_photos_documents_and_edits_fetch_too(tg: FakeTelegram, origin: Origin) -> None:
    status, body = await api(tg, "sendPhoto", chat_id=ANN, photo=f"{origin.url}/photo.jpg")
    assert status == 200, body
    sizes = body["result"]["photo"]
    assert sizes[-1]["file_size"] == len(JPEG) and tg.file(sizes[-1]["file_id"]).data == JPEG
    status, body = await api(tg, "sendDocument", chat_id=ANN, document=f"{origin.url}/video.mp4")
    assert status == 200 and body["result"]["document"]["file_size"] == len(VIDEO)
    status, text = await api(tg, "sendMessage", chat_id=ANN, text="Rendering")
    media = {"type": "video", "media": f"{origin.url}/octet/clip.mp4", "width": 320}
    status, body = await api(
        tg, "editMessageMedia", chat_id=ANN, message_id=text["result"]["message_id"], media=media
    )
    assert status == 200, body
    video = body["result"]["video"]
    # application/octet-stream says nothing: the type is guessed from the URL.
    assert (video["file_size"], video["mime_type"], video["width"]) == (
        len(VIDEO),
        "video/mp4",
        320,
    )
    assert [f.ok for f in tg.url_fetches] == [True, True, True]


async def test_an_html_page_is_the_wrong_type(tg: FakeTelegram, origin: Origin) -> None:
    page = f"{origin.url}/page"
    assert refused(await send_video(tg, page), WRONG_TYPE)
    assert refused(await api(tg, "sendPhoto", chat_id=ANN, photo=page), WRONG_TYPE)
    assert [(f.status, f.error, f.bytes_read) for f in tg.url_fetches] == [
        (200, "a text/html page", 0),
        (200, "a text/html page", 0),
    ]
    assert tg.url_fetches[0].content_type.startswith("text/html")
    assert tg.bot_messages(ANN) == []


async def test_error_statuses_fail(tg: FakeTelegram, origin: Origin) -> None:
    assert refused(await send_video(tg, f"{origin.url}/missing"))
    assert (tg.url_fetches[0].status, tg.url_fetches[0].error) == (404, "HTTP 404")
    assert tg.bot_messages(ANN) == []


async def test_up_to_five_redirects_are_followed(tg: FakeTelegram, origin: Origin) -> None:
    status, body = await send_video(tg, f"{origin.url}/hop/5")
    assert status == 200, body
    assert tg.url_fetches[0].redirects == tuple(f"{origin.url}/hop/{n}" for n in range(4, -1, -1))
    assert tg.file(body["result"]["video"]["file_id"]).data == VIDEO
    origin.hits.clear()
    assert refused(await send_video(tg, f"{origin.url}/hop/6"))
    failed = tg.url_fetches[1]
    assert (failed.status, failed.error, len(failed.redirects)) == (302, "more than 5 redirects", 5)
    assert origin.hits == [f"/hop/{n}" for n in range(6, 0, -1)]  # /hop/0 never asked for


async def test_the_fake_never_leaves_this_machine(tg: FakeTelegram, origin: Origin) -> None:
    assert refused(await send_video(tg, "https://example.com/video.mp4"))
    assert refused(await send_video(tg, "http://93.184.215.14/video.mp4"))
    assert refused(await send_video(tg, f"{origin.url}/away"))  # a redirect out
    assert [(f.status, f.error) for f in tg.url_fetches] == [
        (None, "not a local address"),
        (None, "not a local address"),
        (302, "not a local address"),
    ]
    status, _ = await send_video(tg, f"http://localhost:{origin.url.rsplit(':', 1)[1]}/video.mp4")
    assert status == 200


async def test_unreachable_cut_off_and_empty_urls_fail(tg: FakeTelegram, origin: Origin) -> None:
    with socket_closed() as port:
        assert refused(await send_video(tg, f"http://127.0.0.1:{port}/video.mp4"))
    assert refused(await send_video(tg, f"{origin.url}/cut"))
    assert refused(await send_video(tg, f"{origin.url}/empty"))
    unreachable, cut, empty = tg.url_fetches
    assert unreachable.status is None and "ClientConnectorError" in (unreachable.error or "")
    assert cut.status == 200 and "ClientPayloadError" in (cut.error or "")
    assert (empty.status, empty.error) == (200, "empty body")


async def test_a_slow_url_times_out(origin: Origin) -> None:
    async with FakeTelegram(url_fetch_timeout=0.2) as tg:
        tg.add_chat(ANN)
        assert refused(await send_video(tg, f"{origin.url}/slow"))
        (fetch,) = tg.url_fetches
        assert (fetch.status, fetch.error) == (None, "timed out after 0.2s")
        assert fetch.elapsed >= 0.2


async def test_a_url_over_20_mb_fails(tg: FakeTelegram, origin: Origin) -> None:
    assert tg.url_download_limit == 20 * MB
    # Said up front (Content-Length): refused without reading the body.
    assert refused(await send_video(tg, f"{origin.url}/bytes/{20 * MB + 1}"))
    # Not said (chunked): read until just past the limit, then refused.
    assert refused(await send_video(tg, f"{origin.url}/chunked/{25 * MB}"))
    said, streamed = tg.url_fetches
    assert (said.error, said.bytes_read) == (f"over the {20 * MB}-byte limit", 0)
    assert (streamed.error, streamed.bytes_read) == (f"over the {20 * MB}-byte limit", 20 * MB + 1)
    # Exactly the limit is fine.
    status, body = await send_video(tg, f"{origin.url}/chunked/{20 * MB}")
    assert status == 200 and body["result"]["video"]["file_size"] == 20 * MB
    assert tg.bytes_fetched == 40 * MB + 1


async def test_the_limit_is_an_option(origin: Origin) -> None:
    async with FakeTelegram(url_download_limit=1000) as tg:
        tg.add_chat(ANN)
        assert refused(await send_video(tg, f"{origin.url}/bytes/1001"))
        assert (await send_video(tg, f"{origin.url}/bytes/1000"))[0] == 200


async def test_ptb_sees_telegrams_answer(tg: FakeTelegram, origin: Origin) -> None:
    async with Bot(tg.token, base_url=f"{tg.root}/bot") as bot:
        with pytest.raises(BadRequest, match="Failed to get http url content"):
            await bot.send_video(ANN, f"{origin.url}/missing")
        with pytest.raises(BadRequest, match="Wrong type of the web page content"):
            await bot.send_video(ANN, f"{origin.url}/page")
        message = await bot.send_video(ANN, f"{origin.url}/video.mp4", width=320, height=180)
    assert message.video.file_size == len(VIDEO)


async def test_fetch_urls_off_only_records_the_url(origin: Origin) -> None:
    async with FakeTelegram(fetch_urls=False) as tg:
        tg.add_chat(ANN)
        status, body = await send_video(tg, "https://example.com/v.mp4")
        assert status == 200
        stored = tg.file(body["result"]["video"]["file_id"])
        assert (stored.data, stored.size, stored.mime_type) == (None, None, "video/mp4")
        assert "file_size" not in body["result"]["video"]
        assert tg.url_fetches == [] and tg.bytes_fetched == 0


# -- the emulator's real-size videos ----------------------------------------------------------


async def test_an_emulator_video_by_url(tg: FakeTelegram) -> None:
    async with serve(video_size=3 * MB) as (emu, http):
        gen = await create(http)
        emu.force_state(gen["id"], "completed")
        url = f"{emu.url}/files/{gen['id']}.mp4"
        status, body = await send_video(tg, url, width=320, height=180, duration=2)
        assert status == 200, body
        data = tg.file(body["result"]["video"]["file_id"]).data
        assert data == video_bytes(3 * MB) and mp4_dimensions(data) == (320, 180)
        # A download that breaks mid-way is a URL Telegram can't fetch.
        emu.inject_fault(route="download", kind="truncate", after_bytes=MB)
        assert refused(await send_video(tg, url))
        assert "ClientPayloadError" in (tg.url_fetches[-1].error or "")
        assert (emu.downloads, emu.bytes_served) == (2, 4 * MB)
        assert tg.bytes_fetched == 4 * MB


# -- uploads --------------------------------------------------------------------------------------


def multipart(boundary: str, fields: dict[str, str], name: str, data: bytes) -> list[bytes]:
    """A multipart/form-data body in pieces: the fields, then one file part."""
    pieces = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    pieces.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="clip.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n".encode()
    )
    pieces += [data[i : i + 65536] for i in range(0, len(data), 65536)]
    pieces.append(f"\r\n--{boundary}--\r\n".encode())
    return pieces


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_a_streamed_upload_parses(tg: FakeTelegram, with_length: bool) -> None:
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    boundary = "fake-boundary-7c1d"
    pieces = multipart(boundary, {"chat_id": str(ANN), "width": "320"}, "video", data)

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece
            await asyncio.sleep(0)

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if with_length:
        headers["Content-Length"] = str(sum(len(p) for p in pieces))
    sent: dict[str, str] = {}

    async def on_headers(session: Any, context: Any, params: Any) -> None:
        sent.update(params.headers)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        session.post(f"{tg.root}/bot{tg.token}/sendVideo", data=body(), headers=headers) as resp,
    ):
        assert resp.status == 200, await resp.text()
        result = (await resp.json())["result"]
    assert ("Content-Length" in sent) is with_length
    assert (sent.get("Transfer-Encoding") == "chunked") is not with_length
    assert result["video"]["file_size"] == len(data) and result["video"]["width"] == 320
    (call,) = tg.calls_of("sendVideo")
    assert call.files["video"] == data and call.sizes == {"video": len(data)}
    assert call.filenames["video"] == "clip.mp4"
    assert tg.bytes_received == len(data)


async def test_sizes_are_recorded_when_uploads_are_kept(tg: FakeTelegram) -> None:
    async with Bot(tg.token, base_url=f"{tg.root}/bot") as bot:
        await bot.send_video(ANN, VIDEO, width=320, height=180)
    (call,) = tg.calls_of("sendVideo")
    assert call.files == {"video": VIDEO} and call.sizes == {"video": len(VIDEO)}
    assert tg.bytes_received == len(VIDEO)


async def test_keep_uploads_off_keeps_only_the_sizes(origin: Origin) -> None:
    async with (
        FakeTelegram(keep_uploads=False) as tg,
        Bot(tg.token, base_url=f"{tg.root}/bot") as bot,
    ):
        tg.add_chat(ANN)
        uploaded = await bot.send_video(ANN, VIDEO, width=320, height=180, duration=2)
        fetched = await bot.send_video(ANN, f"{origin.url}/video.mp4")
        photo = await bot.send_photo(ANN, JPEG)
        status = await bot.send_message(ANN, "Rendering")
        edited = await bot.edit_message_media(InputMediaVideo(VIDEO * 2), ANN, status.message_id)
        # What the bot was answered is as before: sizes, dimensions.
        assert uploaded.video.file_size == fetched.video.file_size == len(VIDEO)
        assert (uploaded.video.width, uploaded.video.duration.total_seconds()) == (320, 2)
        assert photo.photo[-1].file_size == len(JPEG) and len(photo.photo) == 3
        assert edited.video.file_size == 2 * len(VIDEO)
        # But no bytes are kept: not in the calls, not in the files.
        videos = tg.calls_of("sendVideo")
        assert [c.files for c in videos] == [{"video": b""}, {}]
        assert [c.sizes for c in videos] == [{"video": len(VIDEO)}, {}]
        (edit,) = tg.calls_of("editMessageMedia")
        assert list(edit.files.values()) == [b""] and list(edit.sizes.values()) == [2 * len(VIDEO)]
        stored = [tg.file(f.file_id) for f in (uploaded.video, fetched.video, photo.photo[-1])]
        assert [(f.data, f.size, f.dropped) for f in stored] == [
            (None, len(VIDEO), True),
            (None, len(VIDEO), True),
            (None, len(JPEG), True),
        ]
        assert tg.bytes_received == 3 * len(VIDEO) + len(JPEG)
        assert tg.bytes_fetched == len(VIDEO)
        with pytest.raises(BadRequest, match="kept no bytes"):
            await bot.get_file(uploaded.video.file_id)
        # The test's own files (what users send) are kept: the bot downloads them.
        file_id = tg.add_file(JPEG)
        assert (await bot.get_file(file_id)).file_size == len(JPEG)


async def test_many_uploads_leave_nothing_behind() -> None:
    data = bytes(MB)
    async with FakeTelegram(keep_uploads=False) as tg:
        tg.add_chat(ANN)
        async with aiohttp.ClientSession() as session:
            for _ in range(30):
                form = aiohttp.FormData()
                form.add_field("chat_id", str(ANN))
                form.add_field("video", data, filename="v.mp4", content_type="video/mp4")
                async with session.post(f"{tg.root}/bot{tg.token}/sendVideo", data=form) as resp:
                    assert resp.status == 200
        assert tg.bytes_received == 30 * MB
        assert all(len(v) == 0 for c in tg.calls for v in c.files.values())
        assert all(f.data is None for f in tg._files.values())
        assert [c.sizes for c in tg.calls] == [{"video": MB}] * 30
