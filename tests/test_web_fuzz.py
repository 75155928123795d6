"""Property-based fuzzing (hypothesis) of the bot's web server, the part anyone can reach.

Random methods, paths, headers and bodies are sent as raw bytes (non-ASCII and oversized
headers, broken framing, random bytes, deeply nested and huge JSON) to every route of a running
bot: `/healthz`, `/metrics`, `/media/<signed>`, `/callbacks/<signed>`, `/telegram/webhook`, the
gallery's page and API (with genuine, tampered and made-up initData), and paths that are none of
them. The bot is the real application on the `luma` family (the one with
provider callbacks) in webhook mode, with one delivered video behind it. Signed parts are
sometimes genuine (a photo, a non-image file, the delivered job's callback, an unknown job's),
sometimes expired, tampered with or made up; the webhook secret is never the right one.

Every example must: get an answer below 500 (or a refusal of the connection by the HTTP parser),
log nothing at ERROR or above, and leave every table of the database exactly as it was.

One bot serves the whole run (see tests/test_fuzz.py for how hypothesis and pytest-asyncio fit
together); runs are deterministic (`derandomize=True`, no example database).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.__main__ import set_webhook
from bot.links import LinkSigner, MediaRef
from playground.fake_telegram import FAKE_JPEG, FakeTelegram
from tests.conftest import BotDatabase
from tests.test_gallery import init_data
from tests.test_web import METRICS_TOKEN, PNG_IMAGE, SECRET, nested, raw_request, start_luma

USER = 1001
ROUTES = ["/healthz", "/metrics", "/media/", "/callbacks/", "/telegram/webhook"]
# The gallery Mini App: its page, and its API (only what changes nothing in the database: the
# send action re-sends a video by file_id).
SEND = "/app/api/videos/1/send"
GALLERY_ROUTES = ["/app/", "/app/gallery.js", "/app/api/me", "/app/api/videos", SEND]
GENUINE_INIT_DATA = init_data(USER).encode()


@dataclass(repr=False)
class Edge:
    bot: Any
    port: int
    database: BotDatabase
    caplog: pytest.LogCaptureFixture
    tokens: dict[str, str]  # what may follow /media/ or /callbacks/, by kind

    async def dump(self) -> dict[str, list[str]]:
        """Every row of every table, as text, in a stable order."""
        tables = await self.database.tables()
        return {
            name: sorted(repr(sorted(row.items())) for row in rows) for name, rows in tables.items()
        }


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


def _tokens(signer: LinkSigner, tg: FakeTelegram, job_id: int) -> dict[str, str]:
    photo = tg.add_file(FAKE_JPEG, "photos/fuzz.jpg")
    png = tg.add_file(PNG_IMAGE, "documents/fuzz.png")
    not_an_image = tg.add_file(b"%PDF-1.4 fuzz", "documents/fuzz.pdf")
    later = time.time() + 3600
    return {
        "photo": _token(signer.link(MediaRef(photo, "image/jpeg"))),
        "png": _token(signer.link(MediaRef(png, "image/png"))),
        "not an image": _token(signer.link(MediaRef(not_an_image, "image/png"))),
        "unknown file": _token(signer.link(MediaRef("no-such-file", "image/jpeg"))),
        "expired photo": _token(signer.link(MediaRef(photo, "image/jpeg"), now=0)),
        "delivered job": _token(signer.callback_link(job_id, expires=later)),
        "unknown job": _token(signer.callback_link(424_242, expires=later)),
        "expired job": _token(signer.callback_link(job_id, expires=1)),
        "other key": _token(
            LinkSigner(public_url="http://x", key=b"k" * 32, ttl=60).callback_link(
                job_id, expires=later
            )
        ),
    }


@pytest.fixture
async def edge(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Edge]:
    bot = await start_luma(start_bot, emulator, metrics_token=METRICS_TOKEN)
    assert await set_webhook(bot.runtime.settings) == 0
    tg.user_sends("/video a jellyfish to fuzz around", user_id=USER)
    await tg.wait_for_video(timeout=15)
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.result["text"])
    await tg.wait_for_webhook_idle(timeout=10)
    await tg.wait_until(lambda: bot.runtime.worker.in_flight == 0)
    caplog.set_level(logging.INFO)
    yield Edge(
        bot=bot,
        port=bot.runtime.web.port,
        database=database,
        caplog=caplog,
        tokens=_tokens(bot.runtime.signer, tg, job_id=1),
    )
    assert tg.internal_errors == []


# ------------------------------------------------------------------------------------------------
# Strategies: everything is bytes on the wire
# ------------------------------------------------------------------------------------------------

MEDIA_KINDS = ["photo", "png", "not an image", "unknown file", "expired photo"]
CALLBACK_KINDS = ["delivered job", "unknown job", "expired job", "other key"]
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
NO_LINE_BREAKS = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
SPOILERS = [b"", b"", b"x", b".jpg", b"%C3%A9", b"%FF", b"%ED%B3%BF", b"%00", b"/more", b".."]


def signed_part(kinds: list[str]) -> st.SearchStrategy[tuple[str, bytes]]:
    """What follows /media/ or /callbacks/: a token kind (resolved against the running bot)
    and how to spoil it, or bytes of our own."""
    return st.one_of(
        st.tuples(st.sampled_from(kinds), st.sampled_from(SPOILERS)),
        st.tuples(st.sampled_from(MEDIA_KINDS + CALLBACK_KINDS), st.sampled_from(SPOILERS)),
        st.tuples(st.just(""), ANY_TEXT.map(lambda text: quote(text, safe="").encode())),
        st.tuples(st.just(""), st.binary(max_size=40).map(lambda b: quote(b, safe="").encode())),
        st.tuples(st.just(""), st.sampled_from([b"A" * 1_000, b"A" * 9_000])),
    )


@dataclass(frozen=True)
class Request:
    method: bytes
    route: str  # one of ROUTES, or "" for a path of the request's own
    part: tuple[str, bytes] = ("", b"")  # after /media/ or /callbacks/ (see signed_part)
    path: bytes = b""  # the whole path when route is ""
    query: bytes = b""
    version: bytes = b"HTTP/1.1"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    chunked: bool = False

    def __repr__(self) -> str:
        body = f"{self.body[:80]!r}{'...' if len(self.body) > 80 else ''} ({len(self.body)} bytes)"
        headers = [(name[:40], value[:40]) for name, value in self.headers]
        return (
            f"Request({self.method!r} {self.route or self.path[:80]!r} part={self.part[0]!r}+"
            f"{self.part[1][:40]!r} query={self.query[:40]!r} {self.version!r} headers={headers}"
            f" body={body} chunked={self.chunked})"
        )

    def target(self, tokens: dict[str, str]) -> bytes:
        if not self.route:
            return self.path + self.query
        kind, tail = self.part
        if self.route in ("/media/", "/callbacks/"):
            return self.route.encode() + tokens.get(kind, "").encode() + tail + self.query
        return self.route.encode() + self.query


HEADER_NAMES = [
    b"X-Telegram-Bot-Api-Secret-Token", b"Authorization", b"Content-Type", b"Accept",
    b"Accept-Encoding", b"Content-Encoding", b"Cookie", b"Expect", b"Range", b"X-Forwarded-For",
    b"Connection", b"Upgrade", b"Origin",
]  # fmt: skip
HEADER_VALUES = [
    SECRET.encode() + b"x", SECRET[:-1].encode(), SECRET.upper().encode(), b"", b" ",
    "caf\u00e9".encode(), "caf\u00e9".encode("latin-1"), b"\xff\xfe", b"Bearer ",
    b"Bearer \xc3\xa9", b"Basic Zm9vOmJhcg==", b"Bearer " + METRICS_TOKEN.encode(),
    b"application/json",
    b"application/json; charset=\xff", b"gzip", b"deflate", b"br", b"100-continue",
    b"bytes=0-1", b"bytes=9-1", b"keep-alive", b"websocket", b"a" * 8_000,
    b"tma " + GENUINE_INIT_DATA, b"tma " + GENUINE_INIT_DATA.replace(b"User", b"Usor"),
    b"tma " + GENUINE_INIT_DATA + b"&auth_date=1", b"tma ", b"tma \xc3\xa9",
]  # fmt: skip
# Bytes an HTTP parser must refuse in a header: control characters, oversized fields.
BROKEN_HEADERS = st.tuples(
    st.one_of(st.just(b"X-Fuzz"), NO_LINE_BREAKS.map(lambda b: b"X" + b.replace(b":", b""))),
    st.one_of(st.sampled_from([b"\x00", b"a\x7fb", b"a" * 9_000]), NO_LINE_BREAKS),
)
HEADERS = st.tuples(
    st.one_of(st.sampled_from(HEADER_NAMES), st.from_regex(rb"\AX-[A-Za-z0-9-]{1,20}\Z")),
    st.one_of(
        st.sampled_from(HEADER_VALUES),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.encode),
        st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=40).map(str.encode),
    ),
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)
GENERATIONS = st.fixed_dictionaries(
    {
        "id": st.one_of(st.uuids().map(str), ANY_TEXT),
        "state": st.sampled_from(["queued", "dreaming", "completed", "failed", "?"]),
    },
    optional={
        "assets": st.fixed_dictionaries({"video": st.sampled_from(["http://127.0.0.1:9/x.mp4"])}),
        "failure_reason": ANY_TEXT,
    },
)
BODIES = st.one_of(
    st.binary(max_size=2_000),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    GENERATIONS.map(lambda value: json.dumps(value).encode()),
    st.builds(lambda n: json.dumps({"update_id": n}).encode(), st.integers()),
    st.sampled_from([1_000, 5_000, 30_000, 200_000]).map(nested),
    st.sampled_from([70_000, 1_100_000]).map(lambda size: b'{"a": "' + b"a" * size + b'"}'),
)
ODD_PATHS = [
    b"/", b"//healthz", b"/media", b"/callbacks", b"/../etc/passwd", b"/media/%2e%2e/x",
    "/m\u00e9dia/x".encode(), b"*", b"/" + b"a" * 9_000, b"/healthz/", b"/METRICS",
]  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """Mostly what a client could send to a route, so most requests reach a handler; now and
    then a method, version or header no HTTP parser should accept."""
    route = draw(
        st.sampled_from(
            [*ROUTES, *GALLERY_ROUTES, "/media/", "/callbacks/", "/telegram/webhook", ""]
        )
    )
    natural = b"POST" if route in ("/callbacks/", "/telegram/webhook", SEND) else b"GET"
    method = draw(
        st.one_of(
            st.just(natural),
            st.just(natural),
            st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]),
            st.sampled_from([b"FOO", b"G\x00T", "P\u00d6ST".encode(), b"get"]),
        )
    )
    part = ("", b"")
    if route == "/media/":
        part = draw(signed_part(MEDIA_KINDS))
    elif route == "/callbacks/":
        part = draw(signed_part(CALLBACK_KINDS))
    headers = draw(st.lists(HEADERS, max_size=4))
    # One request in ten (hypothesis favours 0, so not 0) has a header no parser accepts.
    if draw(st.integers(0, 9)) == 5:
        headers.append(draw(BROKEN_HEADERS))
    with_body = method not in (b"GET", b"HEAD") or draw(st.integers(0, 4)) == 3
    return Request(
        method=method,
        route=route,
        part=part,
        path=draw(
            st.one_of(
                st.sampled_from(ODD_PATHS),
                ANY_TEXT.map(lambda text: b"/" + quote(text).encode()),
            )
        ),
        query=draw(
            st.one_of(
                st.just(b""), ANY_TEXT.map(lambda text: b"?" + quote(text, safe="=&").encode())
            )
        ),
        version=draw(st.sampled_from([b"HTTP/1.1"] * 8 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.x"])),
        headers=tuple(headers),
        body=draw(BODIES) if with_body else b"",
        chunked=draw(st.booleans()),
    )


async def send(edge: Edge, request: Request) -> int | None:
    headers = list(request.headers)
    body = request.body
    if request.chunked and body:
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return await raw_request(
        edge.port, request.method, request.target(edge.tokens), headers, body, request.version
    )


# ------------------------------------------------------------------------------------------------
# The property
# ------------------------------------------------------------------------------------------------


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(request=requests())
# Regressions (issue 14, item 7): each of these was a 500 with an ERROR traceback.
@example(request=Request(b"GET", "/media/", ("photo", b"%C3%A9")))  # non-ASCII signature
@example(request=Request(b"POST", "/callbacks/", ("unknown job", b"%C3%A9"), body=b"{}"))
@example(
    request=Request(
        b"POST",
        "/telegram/webhook",
        headers=((b"X-Telegram-Bot-Api-Secret-Token", "\u00e9".encode()),),
        body=b'{"update_id": 7}',
    )
)
@example(request=Request(b"POST", "/callbacks/", ("other key", b""), body=nested(100_000)))
@example(request=Request(b"POST", "/callbacks/", ("delivered job", b""), body=nested(5_000)))
# A request aiohttp's parser refuses (Content-Length and Transfer-Encoding) was an ERROR.
@example(
    request=Request(b"POST", "/healthz", headers=((b"Content-Length", b"3"),), body=b"abc",
                    chunked=True)
)  # fmt: skip
# Genuine links still work under fire.
@example(request=Request(b"GET", "/media/", ("photo", b"")))
@example(request=Request(b"POST", "/callbacks/", ("delivered job", b""), body=b"{}"))
async def test_no_request_crashes_logs_an_error_or_changes_the_database(
    edge: Edge, request: Request
) -> None:
    before = await edge.dump()
    since = len(edge.caplog.records)
    status = await send(edge, request)
    event(f"{request.route or 'other'} {request.part[0] if request.route.endswith('/') else ''}"
          f" -> {status}")  # fmt: skip
    assert status is None or status < 500, f"{status} for {request!r}"
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in edge.caplog.records[since:]
        if r.levelno >= logging.ERROR
    ]
    assert errors == [], f"logged for {request!r}"
    assert await edge.dump() == before, f"the database changed for {request!r}"
