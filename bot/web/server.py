"""The bot's own HTTP server: `GET /healthz`, `GET /metrics`, `GET /media/<signed>`,
`POST /callbacks/<signed>`, the gallery Mini App under `/app/` (bot/web/gallery.py) and, in
webhook mode, `POST /telegram/webhook`.

Anyone can reach this port, so nothing a request carries is trusted before it is checked, and
nothing a stranger sends ends in a 500: signatures and secrets are compared in constant time on
bytes (any text compares), a signed path or the webhook secret is checked before a body is read,
bodies are read only up to their route's limit (413 beyond), and JSON is parsed without letting
its depth raise. GET routes never read a body.

`/media` serves a Telegram photo to whoever holds a valid signed link (the video API), fetched
from Telegram server-side (bot/web/media.py) so the token-bearing file URL never leaves the process.
Every kind of failure is a plain 404: a prober learns nothing. `/callbacks` takes a provider's
news of a job (bot/web/provider_callbacks.py). `/metrics` needs `Authorization: Bearer
METRICS_TOKEN` when that is set, and with `METRICS_PORT` it is served on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from telegram import Bot

if TYPE_CHECKING:
    from aiohttp.web_urldispatcher import _InfoDict
from telegram.error import TelegramError
from yarl import URL

from bot.config import WEBHOOK_PATH
from bot.links import VIDEO_TYPE, LinkSigner, secrets_equal
from bot.metrics import CONTENT_TYPE
from bot.web.bodies import json_or_none, read_body
from bot.web.gallery import Gallery
from bot.web.health import Health
from bot.web.media import VIDEO_CACHE_BYTES, CachedFile, FileCache, video_type
from bot.web.provider_callbacks import CallbackReceiver
from bot.web.webhook import RETRY_LATER_SECONDS, SECRET_HEADER, WebhookReceiver

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 20 * 1024 * 1024  # what getFile can download from the cloud Bot API
# A provider's callback is one Generation object: a few kilobytes.
CALLBACK_BODY_LIMIT = 64 * 1024
# Telegram's largest updates (a 4096-character message with its entities and the message it
# replies to) are tens of kilobytes; refusing a genuine one would make Telegram re-send it.
WEBHOOK_BODY_LIMIT = 1024 * 1024
# Videos fetched from Telegram at once for the gallery (each up to 20 MB in memory meanwhile).
VIDEO_FETCHES = 2
# A byte range of a file: "bytes=first-last", "bytes=first-" or "bytes=-suffix length".
_RANGE = re.compile(r"bytes=(\d{0,15})-(\d{0,15})")


class WebServer:
    def __init__(
        self,
        *,
        bot: Bot,
        signer: LinkSigner | None,
        gallery: Gallery | None = None,
        host: str,
        port: int,
        health: Health,
        callbacks: CallbackReceiver | None = None,
        webhook: WebhookReceiver | None = None,
        metrics_token: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self._bot = bot
        self._signer = signer
        self._gallery = gallery
        self._health = health
        self._callbacks = callbacks
        self._webhook = webhook
        self._metrics_token = metrics_token
        self._metrics_port = metrics_port
        self._host = host
        self._port = port
        self._runners: list[web.AppRunner] = []
        self.photos = FileCache(self._from_telegram)
        self.videos = FileCache(
            self._from_telegram,
            sniff=video_type,
            max_bytes=VIDEO_CACHE_BYTES,
            max_fetches=VIDEO_FETCHES,
        )
        self.port: int | None = None
        self.metrics_port: int | None = None

    def app(self) -> web.Application:
        """The public listener."""
        application = web.Application(middlewares=[_close_after_encoded_bodies])
        routes = application.router
        routes.add_get("/healthz", self._healthz, expect_handler=_expect)
        if self._metrics_port is None:
            routes.add_get("/metrics", self._public_metrics, expect_handler=_expect)
        routes.add_get("/media/{token}", self._media, expect_handler=_expect)
        routes.add_post("/callbacks/{token}", self._callback, expect_handler=_expect)
        routes.add_post(WEBHOOK_PATH, self._telegram_update, expect_handler=_expect)
        for method, path, handler in self._gallery.routes() if self._gallery else ():
            routes.add_route(method, path, handler, expect_handler=_expect)
        _answer_the_rest(application)
        return application

    def metrics_app(self) -> web.Application:
        """The METRICS_PORT listener, on 127.0.0.1: only what is on this machine reaches it."""
        application = web.Application(middlewares=[_close_after_encoded_bodies])
        application.router.add_get("/metrics", self._metrics, expect_handler=_expect)
        _answer_the_rest(application)
        return application

    async def start(self) -> None:
        self.port = await self._serve(self.app(), self._host, self._port)
        log.info("HTTP server listening on port %s", self.port)
        if self._metrics_port is not None:
            self.metrics_port = await self._serve(
                self.metrics_app(), "127.0.0.1", self._metrics_port
            )
            log.info("/metrics served on 127.0.0.1:%s", self.metrics_port)
        elif self._metrics_token is None:
            log.warning(
                "/metrics is public on port %s and needs no token: set METRICS_TOKEN "
                "or METRICS_PORT (see the README's configuration table)",
                self.port,
            )

    async def _serve(self, application: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(application, access_log=None, logger=_ServerLog(server_logger))
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        return sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        healthy, report = await self._health.report()
        return web.json_response(report, status=200 if healthy else 503)

    async def _public_metrics(self, request: web.Request) -> web.Response:
        if self._metrics_token is not None and not _bearer_is(request, self._metrics_token):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
        return await self._metrics(request)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = await self._health.metrics_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _telegram_update(self, request: web.Request) -> web.Response:
        webhook = self._webhook
        if webhook is None or not webhook.authentic(request.headers.get(SECRET_HEADER)):
            raise web.HTTPNotFound()  # polling mode, or not Telegram: nothing to see
        payload = json_or_none(await read_body(request, WEBHOOK_BODY_LIMIT))
        status = await webhook.receive(payload)
        headers = {"Retry-After": str(RETRY_LATER_SECONDS)} if status == 503 else None
        return web.Response(status=status, headers=headers)

    async def _callback(self, request: web.Request) -> web.Response:
        callbacks = self._callbacks
        job_id = callbacks.job_of(request.match_info["token"]) if callbacks is not None else None
        if callbacks is None or job_id is None:
            raise web.HTTPNotFound()
        payload = json_or_none(await read_body(request, CALLBACK_BODY_LIMIT))
        status = await callbacks.receive(job_id, payload)
        return web.json_response({"ok": status == 200}, status=status)

    async def _media(self, request: web.Request) -> web.Response:
        ref = self._signer.verify(request.match_info["token"]) if self._signer else None
        cache = self.videos if ref is not None and ref.mime_type == VIDEO_TYPE else self.photos
        file = await cache.get(ref.file_id) if ref is not None else None
        if file is None:
            raise web.HTTPNotFound()
        return _file_answer(request, file)

    async def _from_telegram(self, file_id: str) -> bytes | None:
        try:
            telegram_file = await self._bot.get_file(file_id)
            if (telegram_file.file_size or 0) > MAX_MEDIA_BYTES:
                return None
            return bytes(await telegram_file.download_as_bytearray())
        except TelegramError as error:
            log.warning("media link for a file Telegram would not serve: %s", error)
            return None


class _ServerLog(logging.LoggerAdapter):
    """aiohttp's server log, except that a request its HTTP parser refuses (bad framing, bad
    header bytes: anyone can send one) is answered 400 and logged at DEBUG in one line, not as
    an ERROR with a traceback. A handler's own exception stays an ERROR."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            self.debug(f"{msg}: refused as malformed: %.200r", *args, error.message)
            return
        super().exception(msg, *args, **kwargs)


@web.middleware
async def _close_after_encoded_bodies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    _close_if_encoded(request)
    return await handler(request)


def _close_if_encoded(request: web.Request) -> None:
    """aiohttp drains what a route left unread after the answer, decoding a compressed body as
    it goes, and logs a client's broken one (`Content-Encoding: gzip` over junk) as its own
    unhandled error. No route here needs a compressed body's connection kept alive: it is
    closed after the answer instead of drained. (Every request passes here: the middleware,
    or `_expect`, which runs before it.)"""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if encoding != "identity" and request.protocol is not None:
        request.protocol.force_close()


async def _expect(request: web.Request) -> None:
    """aiohttp's handling of `Expect` without its echo of an unknown value, which answered a
    500 when the value was not UTF-8."""
    _close_if_encoded(request)
    if request.version != HttpVersion11:
        return
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text="Unknown Expect")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer proper has not begun


class _EveryPath(web.Resource):
    """A resource every request matches, whatever its path ("*" and absolute forms included)."""

    @property
    def canonical(self) -> str:
        return "/"  # indexed at the root, which aiohttp's router tries last

    def url_for(self, **kwargs: str) -> URL:
        return URL("/")

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError

    def get_info(self) -> _InfoDict:
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def _match(self, path: str) -> dict[str, str]:
        return {}


def _answer_the_rest(application: web.Application) -> None:
    """Whatever no route takes (another path, another method) is a 404 answered through
    `_expect`: aiohttp's own 404s and 405s use its echoing Expect handling."""
    resource = _EveryPath()
    resource.add_route("*", _not_found, expect_handler=_expect)
    application.router.register_resource(resource)


async def _not_found(_: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def _file_answer(request: web.Request, file: CachedFile) -> web.Response:
    """The file, or the one byte range asked for (a video player seeks by ranges; Safari plays
    nothing without them). A range that is not understood is ignored, as HTTP allows."""
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    size = len(file.data)
    span = _byte_range(request.headers.get(hdrs.RANGE, ""), size)
    if span is None:
        return web.Response(body=file.data, content_type=file.content_type, headers=headers)
    first, last = span
    if first >= size:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return web.Response(
        status=206,
        body=file.data[first : last + 1],
        content_type=file.content_type,
        headers=headers,
    )


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range`; None for none, several or a malformed one."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # the last `last` bytes
        return max(size - int(last), 0), size - 1
    if last and int(last) < int(first):
        return None
    return int(first), min(int(last), size - 1) if last else size - 1


def _bearer_is(request: web.Request, token: str) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets_equal(credentials.strip(), token)
