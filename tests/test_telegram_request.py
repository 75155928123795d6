"""The bot's PTB transport on aiohttp (bot/telegram/transport.py): PTB's error contract.

The rest of its behaviour (forms, uploads, downloads, every error status) runs through the fake
Bot API's own suite, which drives it alongside PTB's default transport
(tests/test_fake_telegram.py).
"""

from __future__ import annotations

import asyncio
import tempfile

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.telegram.transport import AiohttpRequest, StreamedBody
from playground.fake_telegram import FakeTelegram
from tests.conftest import free_port

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
ANN = 1001


async def test_nothing_listening_is_a_network_error_that_does_not_name_the_token() -> None:
    request = AiohttpRequest(connect_timeout=2)
    async with request:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe")
    assert not isinstance(raised.value, TimedOut)
    assert TOKEN.split(":")[1] not in str(raised.value)


async def test_a_slow_answer_is_timed_out() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        tg.user_sends("hi")
        tg.delay_next("sendMessage", 1.0)
        async with Bot(TOKEN, base_url=f"{tg.root}/bot", request=AiohttpRequest()) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(ANN, "slow", read_timeout=0.2)


async def test_a_full_pool_times_out_before_sending() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        tg.user_sends("hi")
        tg.delay_next("sendMessage", 2.0)
        request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.2)
        async with Bot(TOKEN, base_url=f"{tg.root}/bot", request=request) as bot:
            first = asyncio.create_task(bot.send_message(ANN, "holds the only connection"))
            # The first request holds the only connection (the fake answers it after 2 s).
            await tg.wait_until(request._slots.locked, timeout=5)
            with pytest.raises(TimedOut):
                await bot.send_message(ANN, "waits for a connection")
            await first
        assert [c.params["text"] for c in tg.calls_of("sendMessage")] == [
            "holds the only connection"
        ]


async def test_an_upload_arrives_byte_for_byte_with_its_fields() -> None:
    data = bytes(range(256)) * 40 + b'\r\n--"boundary-like"--\r\n'
    async with FakeTelegram(token=TOKEN) as tg:
        tg.user_sends("hi")
        async with Bot(TOKEN, base_url=f"{tg.root}/bot", request=AiohttpRequest()) as bot:
            sent = await bot.send_document(
                ANN,
                InputFile(data, filename='clip "one".bin'),
                caption="Ünïcode & <b>markup</b> stay as sent",
            )
    (call,) = tg.calls_of("sendDocument")
    assert call.params["caption"] == "Ünïcode & <b>markup</b> stay as sent"
    assert tg.file(sent.document.file_id).data == data
    assert sent.document.file_name == "clip %22one%22.bin"


async def test_a_file_handle_is_streamed_whole_from_its_start_each_time_it_is_sent() -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: several STREAM_CHUNKs
    with tempfile.TemporaryFile() as file:
        file.write(data)  # the handle is left at the end, as after a download
        async with FakeTelegram(token=TOKEN) as tg:
            tg.user_sends("hi")
            # PTB's rate limiter sends a request refused with 429 again: the same file, whole.
            tg.fail_next("sendVideo", 429, retry_after=1, count=1)
            upload = InputFile(file, filename="clip.mp4", read_file_handle=False)
            async with Bot(TOKEN, base_url=f"{tg.root}/bot", request=AiohttpRequest()) as bot:
                with pytest.raises(RetryAfter):
                    await bot.send_video(ANN, upload, caption="first try")
                sent = await bot.send_video(ANN, upload, caption="second try", width=3)
        first, second = tg.calls_of("sendVideo")
    assert first.files["video"] == second.files["video"] == data
    assert tg.file(sent.video.file_id).data == data
    assert second.params["caption"] == "second try" and second.params["width"] == "3"


def test_a_streamed_body_knows_its_length_and_has_no_text() -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"x" * 1000)
        body = StreamedBody([b"head", file, b"tail"], "multipart/form-data; boundary=b")
        assert body.size == 1008
        with pytest.raises(TypeError):
            body.decode()


async def test_used_before_initialize_says_so() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:1/", "GET")


async def test_the_proxy_from_the_environment_carries_telegram_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where Telegram is blocked, operators set HTTP(S)_PROXY; PTB's httpx honoured it, so the
    bot's transport does too. A forward proxy here relays absolute-form requests."""
    relayed: list[str] = []

    async def relay(request: web.Request) -> web.Response:
        relayed.append(str(request.url))
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method, str(request.url), data=await request.read(), headers=request.headers
            ) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read())

    proxy = web.Application()
    proxy.router.add_route("*", "/{tail:.*}", relay)
    runner = web.AppRunner(proxy)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with FakeTelegram(token=TOKEN, bot_username="ProxiedBot") as tg:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            async with Bot(TOKEN, base_url=f"{tg.root}/bot", request=AiohttpRequest()) as bot:
                assert (await bot.get_me()).username == "ProxiedBot"
    finally:
        await runner.cleanup()
    assert relayed and relayed[0].endswith("/getMe")
