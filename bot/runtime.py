"""What one bot process holds, typed: PTB's `bot_data` is a `BotData` and every handler gets a
`BotContext` (PTB's `ContextTypes`), so services are attributes, never string keys.

`build_application` (bot/app.py) fills in what exists before the event loop runs (settings,
metrics, pacing, transports); `runtime` exists from start-up to shutdown.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.domain.admin import AdminService
from bot.domain.albums import AlbumCollector
from bot.domain.generations import GenerationService
from bot.domain.payments import PaymentReconciler, PaymentService
from bot.domain.promos import PromoService
from bot.links import LinkSigner
from bot.luma import VideoApiClient
from bot.metrics import Metrics
from bot.telegram.flood import FloodGuard
from bot.telegram.pacing import PacingRateLimiter
from bot.telegram.polling import UpdatePoller
from bot.telegram.transport import AiohttpRequest
from bot.telegram.updates import HandledUpdates
from bot.web.server import WebServer
from bot.worker.worker import Worker
from storage.repository import Repository


@dataclass
class Runtime:
    """The live services, started in `post_init` and closed at shutdown."""

    settings: Settings
    repository: Repository
    http: aiohttp.ClientSession
    client: VideoApiClient
    worker: Worker
    service: GenerationService
    updates: HandledUpdates
    signer: LinkSigner | None
    web: WebServer
    albums: AlbumCollector
    payments: PaymentService
    reconciler: PaymentReconciler | None  # None while nothing is for sale (CREDIT_PACKS)

    @property
    def admin(self) -> AdminService:
        return AdminService(self.repository, self.service.policy)

    @property
    def promos(self) -> PromoService:
        return PromoService(self.repository, access=self.service.access_refusal)


class BotData:
    """PTB's `bot_data` for this bot: in-process handles only, never durable state (DESIGN.md).
    PTB creates it empty; `build_application` sets every field before anything runs."""

    settings: Settings
    metrics: Metrics
    limiter: PacingRateLimiter
    flood: FloodGuard
    requests: tuple[AiohttpRequest, AiohttpRequest]  # (calls, getUpdates)

    def __init__(self) -> None:
        self.poller: UpdatePoller | None = None  # None in webhook mode
        self.runtime: Runtime | None = None
        self.services: AsyncExitStack | None = None  # stops what `runtime` started


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The context every handler receives."""

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.application)


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)


def bot_data(application: Application[Any, Any, Any, Any, Any, Any]) -> BotData:
    data = application.bot_data
    assert isinstance(data, BotData), "build the application with bot.app.build_application"
    return data


def runtime_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Runtime:
    runtime = bot_data(application).runtime
    if runtime is None:
        raise RuntimeError("the bot's services are not running")
    return runtime
