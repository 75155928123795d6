"""Webhook mode of the fake Bot API (playground/fake_telegram.py), against tiny aiohttp receivers.

No bot is involved: a ``Receiver`` records what the fake POSTs and answers from a script.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, Update
from telegram.error import BadRequest, Conflict, RetryAfter

from playground.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@dataclass
class Received:
    update: dict
    headers: dict[str, str]
    path_qs: str
    at: float


@dataclass
class Receiver:
    """A webhook endpoint: records each POST, answers ``statuses`` first (then 200), sleeping
    ``delays`` first (then ``delay``)."""

    statuses: deque[int] = field(default_factory=deque)
    delays: deque[float] = field(default_factory=deque)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def update_ids(self) -> list[int]:
        return [r.update["update_id"] for r in self.received]

    async def _handle(self, request: web.Request) -> web.Response:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            body = await request.json()
            self.received.append(
                Received(body, dict(request.headers), request.path_qs, time.monotonic())
            )
            await asyncio.sleep(self.delays.popleft() if self.delays else self.delay)
            return web.Response(status=self.statuses.popleft() if self.statuses else 200)
        finally:
            self.active -= 1


def free_port() -> int:
    """A port nobody listens on (connection refused), e.g. a killed replica's."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_fake(**kwargs: Any) -> FakeTelegram:
    options: dict[str, Any] = {
        "webhook_retry_delay": 0.05,
        "webhook_timeout": 2.0,
        "set_webhook_interval": 0,
    }
    return FakeTelegram(token=TOKEN, **(options | kwargs))


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with fast_fake() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{tg.root}/bot") as b:
        yield b


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[[], Awaitable[Receiver]]]:
    started: list[Receiver] = []

    async def make() -> Receiver:
        started.append(await Receiver().start())
        return started[-1]

    yield make
    for r in started:
        await r.stop()


async def api(tg: FakeTelegram, method: str, **params: Any) -> tuple[int, dict]:
    """A raw Bot API call (JSON body): the HTTP status and the whole answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.root}/bot{tg.token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


async def info(tg: FakeTelegram) -> dict:
    return (await api(tg, "getWebhookInfo"))[1]["result"]


# ---------------------------------------------------------------------------- the methods


async def test_webhook_methods_answer_like_the_bot_api(
    tg: FakeTelegram, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    rx = await receivers()
    url = f"{rx.base}/tg/hook"
    assert await api(tg, "setWebhook", url=url) == (
        200,
        {"ok": True, "result": True, "description": "Webhook was set"},
    )
    assert (await api(tg, "setWebhook", url=url))[1]["description"] == "Webhook is already set"
    assert await info(tg) == {
        "url": url,
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 40,
        "ip_address": "127.0.0.1",
    }
    # any change (here the secret) replaces the webhook
    answer = await api(tg, "setWebhook", url=url, secret_token="abc")
    assert answer[1]["description"] == "Webhook was set"
    assert (await api(tg, "deleteWebhook"))[1] == {
        "ok": True,
        "result": True,
        "description": "Webhook was deleted",
    }
    assert (await api(tg, "deleteWebhook"))[1]["description"] == "Webhook is already deleted"
    assert (await api(tg, "setWebhook", url=""))[1]["description"] == "Webhook is already deleted"
    assert await info(tg) == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    assert [c.method for c in tg.calls].count("setWebhook") == 4
    assert all(c.ok for c in tg.calls)


async def test_set_webhook_validation(tg: FakeTelegram, bot: Bot) -> None:
    url = "http://127.0.0.1:9/hook"

    async def refused(**params: Any) -> tuple[int, str]:
        status, body = await api(tg, "setWebhook", **params)
        return status, body["description"]

    assert await refused(url=url, secret_token="not allowed!") == (
        400,
        "Bad Request: secret token contains unallowed characters",
    )
    assert await refused(url=url, secret_token="x" * 257) == (
        400,
        "Bad Request: secret token is too long",
    )
    assert await refused(url="ftp://example.com/hook") == (
        400,
        "Bad Request: invalid webhook URL specified",
    )
    assert await refused() == (400, "Bad Request: url is required")
    with pytest.raises(BadRequest, match="Secret token contains unallowed characters"):
        await bot.set_webhook(url, secret_token="a+b/c=")
    assert await bot.set_webhook(url, secret_token="A-z_09" * 42 + "abcd")  # 256 characters
    # max_connections is clamped to 1..100, like the server does
    for given, kept in ((0, 1), (1000, 100), ("7", 7), (None, 40)):
        params = {"url": url} | ({} if given is None else {"max_connections": given})
        assert (await api(tg, "setWebhook", **params))[0] == 200
        assert (await info(tg))["max_connections"] == kept
    # Telegram closes the old webhook before it validates the new one: a refused replacement
    # leaves no webhook at all
    assert await refused(url=url, secret_token="bad secret") == (
        400,
        "Bad Request: secret token contains unallowed characters",
    )
    assert (await info(tg))["url"] == ""
    assert await bot.get_updates() == ()


async def test_https_only_checks_scheme_and_port() -> None:
    async with fast_fake(webhook_https_only=True) as strict:
        status, body = await api(strict, "setWebhook", url="http://bot.example.com/hook")
        assert (status, body["description"]) == (
            400,
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        )
        status, body = await api(strict, "setWebhook", url="https://bot.example.com:3000/hook")
        assert body["description"] == (
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )
        assert (await api(strict, "setWebhook", url="https://bot.example.com:8443/h"))[0] == 200
        # without a scheme the URL is taken as https
        assert (await api(strict, "setWebhook", url="bot.example.com/h"))[0] == 200


async def test_set_webhook_flood_limit() -> None:
    async with FakeTelegram(token=TOKEN) as fake, Bot(TOKEN, base_url=f"{fake.root}/bot") as b:
        assert await b.set_webhook("http://127.0.0.1:9/a")
        assert await api(fake, "setWebhook", url="http://127.0.0.1:9/b") == (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        )
        with pytest.raises(RetryAfter):  # even an unchanged webhook within the second
            await b.set_webhook("http://127.0.0.1:9/a")
        assert await b.delete_webhook()  # deleting is not limited
        assert (await info(fake))["url"] == ""


async def test_get_updates_conflicts_while_a_webhook_is_set(tg: FakeTelegram, bot: Bot) -> None:
    held = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert await bot.set_webhook(f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(Conflict, match="terminated by setWebhook request"):
        await held
    assert await api(tg, "getUpdates") == (
        409,
        {"ok": False, "error_code": 409, "description": CONFLICT},
    )
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


# ---------------------------------------------------------------------------- delivery


async def test_updates_are_posted_as_json_with_the_secret_header(
    tg: FakeTelegram, bot: Bot, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    rx = await receivers()
    tg.user_sends("queued before the webhook")
    assert await bot.set_webhook(f"{rx.base}/tg/hook?x=1", secret_token="s3cret_-X")
    sent = tg.user_sends("after", user_id=2002)
    await tg.wait_for_webhook_idle(timeout=5)

    assert [r.update["message"]["text"] for r in rx.received] == [
        "queued before the webhook",
        "after",
    ]
    got = rx.received[1]
    assert got.headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_-X"
    assert got.headers["Content-Type"] == "application/json"
    assert got.path_qs == "/tg/hook?x=1"
    assert got.update == {"update_id": 2, "message": sent}
    update = Update.de_json(got.update, bot)
    assert update.message.text == "after" and update.effective_user.id == 2002
    assert tg.pending_updates() == 0 and tg.delivered_update_ids() == [1, 2]
    webhook = await bot.get_webhook_info()
    assert webhook.pending_update_count == 0 and webhook.last_error_message is None
    # no secret set: no header
    assert await bot.set_webhook(f"{rx.base}/tg/hook")
    tg.user_sends("no secret")
    await tg.wait_for_webhook_idle(timeout=5)
    assert "X-Telegram-Bot-Api-Secret-Token" not in rx.received[-1].headers


async def test_a_failed_delivery_is_retried_and_reported(
    tg: FakeTelegram, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    rx = await receivers()
    rx.statuses.extend([500, 503])
    await api(tg, "setWebhook", url=f"{rx.base}/hook")
    before = int(time.time())
    tg.user_sends("hi")
    await tg.wait_for_webhook_idle(timeout=5)

    assert rx.update_ids == [1, 1, 1]
    attempts = tg.webhook_deliveries
    assert [(d.status, d.error) for d in attempts] == [
        (500, "Wrong response from the webhook: 500 Internal Server Error"),
        (503, "Wrong response from the webhook: 503 Service Unavailable"),
        (200, None),
    ]
    assert attempts[1].at - attempts[0].at >= 0.04  # webhook_retry_delay
    assert tg.delivered_update_ids() == [1]
    now = await info(tg)
    # like Telegram, the last error stays reported after later successes
    assert now["last_error_message"] == "Wrong response from the webhook: 503 Service Unavailable"
    assert before <= now["last_error_date"] <= time.time()  # a Unix time, of the second failure
    assert now["pending_update_count"] == 0


async def test_connection_refused_until_the_bot_comes_up(tg: FakeTelegram) -> None:
    port = free_port()
    await api(tg, "setWebhook", url=f"http://127.0.0.1:{port}/hook")
    tg.user_sends("hi")
    await tg.wait_until(lambda: len(tg.webhook_deliveries) >= 2, timeout=5)
    assert {d.error for d in tg.webhook_deliveries} == {"Connection refused"}
    now = await info(tg)
    assert now["last_error_message"] == "Connection refused" and now["pending_update_count"] == 1
    rx = await Receiver().start(port)
    try:
        await tg.wait_for_webhook_idle(timeout=5)
        assert rx.update_ids == [1]
    finally:
        await rx.stop()


async def test_a_timeout_is_a_failure_and_the_update_comes_again(
    receivers: Callable[[], Awaitable[Receiver]],
) -> None:
    rx = await receivers()
    rx.delays.append(0.5)  # the first answer comes too late
    async with fast_fake(webhook_timeout=0.2) as fake:
        await api(fake, "setWebhook", url=f"{rx.base}/hook")
        fake.user_sends("slow")
        await fake.wait_for_webhook_idle(timeout=5)
        assert rx.update_ids == [1, 1]  # the bot saw it twice: dedupe on update_id
        assert [d.error for d in fake.webhook_deliveries] == ["Read timeout expired", None]
        assert (await info(fake))["last_error_message"] == "Read timeout expired"


async def test_one_update_at_a_time_per_chat_and_at_most_max_connections(
    tg: FakeTelegram, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    rx = await receivers()
    rx.delay = 0.1
    await api(tg, "setWebhook", url=f"{rx.base}/hook", max_connections=2)
    for round_ in range(2):
        for user in (11, 12, 13):
            tg.user_sends(f"{round_}", user_id=user)
    await tg.wait_for_webhook_idle(timeout=5)
    assert rx.peak == 2
    assert sorted(rx.update_ids) == list(range(1, 7))
    by_chat: dict[int, list[Received]] = {}
    for r in rx.received:
        by_chat.setdefault(r.update["message"]["chat"]["id"], []).append(r)
    for got in by_chat.values():
        assert [r.update["message"]["text"] for r in got] == ["0", "1"]
        assert got[1].at - got[0].at >= 0.09, "the second went out before the first was answered"


async def test_round_robin_over_two_replicas(
    tg: FakeTelegram, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    a, b = await receivers(), await receivers()
    tg.webhook_targets = [a.base, b.base + "/"]
    # the registered URL (the load balancer's) is never contacted; its path and query are kept
    await api(tg, "setWebhook", url="https://bot.example.com/tg/hook?k=v", max_connections=1)
    for user in range(21, 27):
        tg.user_sends("hi", user_id=user)
    await tg.wait_for_webhook_idle(timeout=5)
    assert a.update_ids == [1, 3, 5] and b.update_ids == [2, 4, 6]
    assert {r.path_qs for r in a.received + b.received} == {"/tg/hook?k=v"}
    assert [d.target for d in tg.webhook_deliveries] == [
        f"{a.base}/tg/hook?k=v",
        f"{b.base}/tg/hook?k=v",
    ] * 3


async def test_a_dead_replica_is_skipped(
    tg: FakeTelegram, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    a, b = await receivers(), await receivers()
    dead = f"http://127.0.0.1:{free_port()}"
    tg.webhook_targets = [a.base, dead, b.base]
    await api(tg, "setWebhook", url="https://lb.example.com/hook", max_connections=1)
    for user in range(31, 35):
        tg.user_sends("hi", user_id=user)
    await tg.wait_for_webhook_idle(timeout=5)
    assert sorted(a.update_ids + b.update_ids) == [1, 2, 3, 4]  # each exactly once
    to_dead = [d for d in tg.webhook_deliveries if d.target.startswith(dead)]
    assert to_dead and {d.error for d in to_dead} == {"Connection refused"}
    assert "last_error_message" not in await info(tg)  # the balancer hid it from Telegram

    # every replica down: the balancer answers 502 and Telegram keeps the update
    await a.stop()
    await b.stop()
    tg.user_sends("nobody home", user_id=36)
    await tg.wait_until(lambda: tg.webhook_last_error is not None, timeout=5)
    now = await info(tg)
    assert now["last_error_message"] == "Wrong response from the webhook: 502 Bad Gateway"
    assert now["pending_update_count"] == 1


async def _duplicated_ids(rate: float, seed: int, n: int, targets: list[str]) -> Counter[int]:
    async with fast_fake(duplicate_rate=rate, seed=seed, webhook_targets=targets) as fake:
        await api(fake, "setWebhook", url="https://lb.example.com/hook", max_connections=1)
        for user in range(n):
            fake.user_sends("hi", user_id=100 + user)
        await fake.wait_for_webhook_idle(timeout=5)
        copies = [d for d in fake.webhook_deliveries if d.redelivery]
        assert all(d.ok for d in fake.webhook_deliveries)
        assert len(copies) == sum(Counter(fake.delivered_update_ids()).values()) - n
        return Counter(fake.delivered_update_ids())


async def test_duplicates_at_the_configured_rate(
    receivers: Callable[[], Awaitable[Receiver]],
) -> None:
    a, b = await receivers(), await receivers()
    n, rate, seed = 30, 0.3, 7
    counts = await _duplicated_ids(rate, seed, n, [a.base, b.base])
    rng = random.Random(seed)
    expected = sum(rng.random() < rate for _ in range(n))  # one draw per confirmed update
    assert set(counts) == set(range(1, n + 1)) and set(counts.values()) <= {1, 2}
    twice = {u for u, c in counts.items() if c == 2}
    assert len(twice) == expected > 0
    for update_id in twice:  # the copy went to the other replica
        assert (update_id in a.update_ids) and (update_id in b.update_ids)
    # same seed, same duplicates
    again = await _duplicated_ids(rate, seed, n, [a.base, b.base])
    assert {u for u, c in again.items() if c == 2} == twice


async def test_allowed_updates_filter(
    tg: FakeTelegram, bot: Bot, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    rx = await receivers()
    tg.channel_posts("a post")
    tg.user_sends("a message")
    assert await bot.set_webhook(f"{rx.base}/hook", allowed_updates=["message"])
    await tg.wait_for_webhook_idle(timeout=5)
    assert [list(r.update)[1] for r in rx.received] == ["message"]
    assert tg.pending_updates() == 0  # the channel post was dropped
    assert (await bot.get_webhook_info()).allowed_updates == ("message",)
    # names are checked: a typo alone means the default set (no allowed_updates shown)
    await api(tg, "setWebhook", url=f"{rx.base}/hook", allowed_updates=["mesage"])
    assert "allowed_updates" not in await info(tg)


async def test_drop_pending_updates(
    tg: FakeTelegram, bot: Bot, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    rx = await receivers()
    for text in ("old 1", "old 2"):
        tg.user_sends(text)
    assert await bot.set_webhook(f"{rx.base}/hook", drop_pending_updates=True)
    tg.user_sends("fresh")
    await tg.wait_for_webhook_idle(timeout=5)
    assert [r.update["message"]["text"] for r in rx.received] == ["fresh"]

    # an undelivered update survives deleteWebhook and is served by getUpdates...
    assert await bot.set_webhook(f"http://127.0.0.1:{free_port()}/hook")
    tg.user_sends("stuck")
    await tg.wait_until(lambda: tg.webhook_deliveries[-1].error == "Connection refused")
    assert await bot.delete_webhook()
    assert [u.message.text for u in await bot.get_updates()] == ["stuck"]
    # ... unless dropped
    assert await bot.set_webhook(f"http://127.0.0.1:{free_port()}/hook")
    assert (await bot.get_webhook_info()).pending_update_count == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert tg.pending_updates() == 0 and await bot.get_updates() == ()


async def test_close_cancels_deliveries_in_flight(
    receivers: Callable[[], Awaitable[Receiver]],
) -> None:
    rx = await receivers()
    rx.delay = 30
    fake = await fast_fake(webhook_timeout=60).start()
    await api(fake, "setWebhook", url=f"{rx.base}/hook")
    fake.user_sends("hang")
    await fake.wait_until(lambda: rx.received, timeout=5)
    await fake.close()
    (delivery,) = fake.webhook_deliveries
    assert (delivery.update_id, delivery.error) == (1, "cancelled")
    assert delivery.elapsed < rx.delay  # cut by close, by the fake's clock, not answered late
    ours = ("FakeTelegram._deliver", "FakeTelegram._dispatch_webhook")
    leftovers = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ in ours]
    assert leftovers == []
