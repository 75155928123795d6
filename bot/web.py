"""The bot's own HTTP server: `GET /healthz`, `GET /metrics`, `GET /media/<signed>`,
`POST /callbacks/<signed>` and, in webhook mode, `POST /telegram/webhook`.

`/media` streams a Telegram photo to whoever holds a valid signed link (the video API), fetching
it from Telegram server-side so the token-bearing file URL never leaves the process. Every kind
of failure is a plain 404: a prober learns nothing. `/callbacks` takes a provider's news of a
job (bot/provider_callbacks.py).
"""

from __future__ import annotations

import logging

from aiohttp import web
from telegram import Bot
from telegram.error import TelegramError

from bot.config import WEBHOOK_PATH
from bot.health import Health
from bot.links import LinkSigner
from bot.metrics import CONTENT_TYPE
from bot.provider_callbacks import CallbackReceiver
from bot.webhook import RETRY_LATER_SECONDS, SECRET_HEADER, WebhookReceiver

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 20 * 1024 * 1024  # what getFile can download from the cloud Bot API


class WebServer:
    def __init__(
        self,
        *,
        bot: Bot,
        signer: LinkSigner | None,
        host: str,
        port: int,
        health: Health,
        callbacks: CallbackReceiver | None = None,
        webhook: WebhookReceiver | None = None,
    ) -> None:
        self._bot = bot
        self._signer = signer
        self._health = health
        self._callbacks = callbacks
        self._webhook = webhook
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/media/{token}", self._media)
        application.router.add_post("/callbacks/{token}", self._callback)
        application.router.add_post(WEBHOOK_PATH, self._telegram_update)
        return application

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("HTTP server listening on port %s", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        healthy, report = await self._health.report()
        return web.json_response(report, status=200 if healthy else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = await self._health.metrics_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _telegram_update(self, request: web.Request) -> web.Response:
        webhook = self._webhook
        if webhook is None or not webhook.authentic(request.headers.get(SECRET_HEADER)):
            raise web.HTTPNotFound()  # polling mode, or not Telegram: nothing to see
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        status = await webhook.receive(payload)
        headers = {"Retry-After": str(RETRY_LATER_SECONDS)} if status == 503 else None
        return web.Response(status=status, headers=headers)

    async def _callback(self, request: web.Request) -> web.Response:
        if self._callbacks is None:
            raise web.HTTPNotFound()
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        status = await self._callbacks.receive(request.match_info["token"], payload)
        return web.json_response({"ok": status == 200}, status=status)

    async def _media(self, request: web.Request) -> web.Response:
        ref = self._signer.verify(request.match_info["token"]) if self._signer else None
        if ref is None:
            raise web.HTTPNotFound()
        try:
            telegram_file = await self._bot.get_file(ref.file_id)
            if (telegram_file.file_size or 0) > MAX_MEDIA_BYTES:
                raise web.HTTPNotFound()
            data = bytes(await telegram_file.download_as_bytearray())
        except TelegramError as error:
            log.warning("media link for a file Telegram would not serve: %s", error)
            raise web.HTTPNotFound() from None
        return web.Response(
            body=data,
            content_type=ref.mime_type,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )
