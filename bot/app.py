"""Composition root: `build_application(settings)` wires the real bot, for production and tests.

Tests swap URLs in Settings (fake Bot API, emulator, temporary database); nothing is
monkeypatched. `running(app)` is the one lifecycle both `python -m bot` and the tests use.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
from telegram import Bot, BotCommand, MenuButtonCommands, MenuButtonWebApp, WebAppInfo
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults

import handlers
from bot.allowances import Allowances
from bot.config import GALLERY_PATH, Settings
from bot.domain.access import AccessPolicy
from bot.domain.albums import AlbumCollector
from bot.domain.generations import GenerationService
from bot.domain.payments import PaymentReconciler, PaymentService
from bot.domain.pricing import Prices
from bot.domain.upgrades import Upgrades
from bot.links import LinkSigner, derive_signing_key
from bot.llm import ChatClient, PromptHelper
from bot.logs import install_redaction
from bot.luma import Wakeups, create_client
from bot.metrics import Metrics
from bot.runtime import CONTEXT_TYPES, Runtime, bot_data
from bot.telegram.flood import FloodGuard
from bot.telegram.pacing import PacingRateLimiter
from bot.telegram.polling import UpdatePoller
from bot.telegram.transport import AiohttpRequest
from bot.telegram.updates import HandledUpdates
from bot.texts import CATALOGS, text
from bot.web.gallery import Gallery
from bot.web.health import Health
from bot.web.init_data import InitDataChecker
from bot.web.provider_callbacks import CallbackReceiver
from bot.web.server import WebServer
from bot.web.webhook import WebhookReceiver
from bot.worker.alerts import OperatorAlerts
from bot.worker.delivery import Delivery
from bot.worker.worker import Worker, WorkerSettings
from storage import open_repository

log = logging.getLogger(__name__)

# pre_checkout_query: Telegram asks before taking Stars (handlers/payments.py); a successful
# payment arrives as a message. inline_query: `@Bot <words>` in any chat (handlers/inline.py).
ALLOWED_UPDATES = [
    "message",
    "channel_post",
    "callback_query",
    "pre_checkout_query",
    "inline_query",
]
MENU_COMMANDS = ("video", "story", "extend", "cancel", "quota", "history", "help")


def link_signer(settings: Settings) -> LinkSigner | None:
    """Signed photo links need a public address; without one, photo keyframes are refused."""
    if settings.public_url is None:
        return None
    key = (
        settings.media_signing_key.get_secret_value().encode()
        if settings.media_signing_key is not None
        else derive_signing_key(settings.telegram_bot_token.get_secret_value())
    )
    return LinkSigner(public_url=settings.public_url, key=key, ttl=settings.media_link_ttl)


def prompt_helper(settings: Settings, http: aiohttp.ClientSession) -> PromptHelper | None:
    """The prompt helper, where an LLM is configured (Settings.llm)."""
    endpoint = settings.llm
    if endpoint is None:
        return None
    chat = ChatClient(
        base_url=endpoint.url,
        api_key=endpoint.key.get_secret_value(),
        model=settings.llm_model,
        session=http,
        timeout=settings.llm_timeout,
    )
    return PromptHelper(chat, translate=settings.translate_prompts == "auto")


def build_application(settings: Settings) -> Application:
    # Whoever builds the bot gets redaction, whatever logging set-up they have.
    install_redaction(settings.secrets())
    token = settings.telegram_bot_token.get_secret_value()
    metrics = Metrics()
    requests = (AiohttpRequest(), AiohttpRequest(connection_pool_size=2))
    limiter = PacingRateLimiter(
        metrics, private_burst=settings.telegram_private_chat_burst, max_retries=3
    )
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        # Telegram's flood limits (30 msg/s overall, 20/min per group), with retries on 429.
        .rate_limiter(limiter)
        .concurrent_updates(64)
        # Updates come from bot/telegram/polling.py (at-least-once), not PTB's Updater.
        .updater(None)
        .request(requests[0])
        .get_updates_request(requests[1])
        .context_types(CONTEXT_TYPES)
        .post_init(_start_services)
        .post_stop(_stop_services)
        .build()
    )
    data = bot_data(application)
    data.settings, data.metrics, data.limiter, data.requests = settings, metrics, limiter, requests
    data.flood = FloodGuard(
        burst=settings.flood_burst,
        per_minute=settings.flood_per_minute,
        exempt=settings.admin_user_ids.__contains__,
        slow_down=lambda update: handlers.slow_down(application, update),
        metrics=metrics,
    )
    handlers.register(application)
    return application


async def _start_services(application: Application) -> None:
    """PTB's `post_init`: every service, each stop pushed as it starts (a start-up that fails
    half-way stops what it started)."""
    data = bot_data(application)
    async with AsyncExitStack() as services:
        data.runtime = await _open_services(application, services)
        data.services = services.pop_all()


async def _set_menu_button(bot: Bot, settings: Settings) -> None:
    """🎞 Gallery as the private chats' menu button while Telegram can open the gallery (an
    https PUBLIC_URL); the command list again once it cannot, if the button was the bot's own
    gallery. A refusal costs the button, not the start."""
    url = settings.gallery_url
    try:
        if url is not None:
            button = MenuButtonWebApp(text("menu_gallery"), WebAppInfo(url))
            await bot.set_chat_menu_button(menu_button=button)
            return
        current = await bot.get_chat_menu_button()
        if isinstance(current, MenuButtonWebApp) and current.web_app.url.endswith(GALLERY_PATH):
            await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    except TelegramError as error:
        log.warning("the gallery's menu button was not set: %s", error)


def _gallery_state(settings: Settings) -> str:
    if settings.gallery_url is not None:
        return f"at {settings.gallery_url}"
    if settings.public_url is not None:
        return "served, but Telegram opens only an https PUBLIC_URL"
    return "off (no PUBLIC_URL)"


async def _stop_services(application: Application) -> None:
    """PTB's `post_stop`, before it closes the bot's connections (which the worker still uses
    to finish an upload): what was started is stopped in reverse order."""
    data = bot_data(application)
    services, data.services, data.runtime = data.services, None, None
    if services is not None:  # None when start-up failed before the services existed
        await services.aclose()


async def _open_services(application: Application, services: AsyncExitStack) -> Runtime:
    data = bot_data(application)
    settings, metrics = data.settings, data.metrics
    repository = await open_repository(settings.database_url)
    services.push_async_callback(repository.close)
    wakeups = Wakeups()
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.luma_max_connections),
        raise_for_status=False,
    )
    services.push_async_callback(http.close)
    family = settings.luma_api_family.value
    client = create_client(
        family,
        base_url=settings.api_url,
        api_key=settings.luma_api_key.get_secret_value(),
        session=http,
        long_poll_seconds=settings.luma_long_poll_seconds,
        poll_interval=settings.luma_poll_interval,
        model=settings.luma_model,
        wakeups=wakeups,
        max_connections=settings.luma_max_connections,
        on_request=lambda operation, outcome, seconds: metrics.api_request(
            family, operation, outcome, seconds
        ),
    )
    services.push_async_callback(client.close)
    signer = link_signer(settings)
    # Callbacks need an address the provider can reach, and a family that offers them.
    callbacks = (
        CallbackReceiver(signer=signer, repository=repository, wakeups=wakeups)
        if signer is not None and client.accepts_callbacks
        else None
    )
    helper = prompt_helper(settings, http)
    worker = Worker(
        repository=repository,
        client=client,
        bot=application.bot,
        delivery=Delivery(
            application.bot,
            http,
            upload_limit=settings.telegram_upload_limit,
            upgrades=Upgrades.of(client),
        ),
        settings=WorkerSettings(
            max_concurrent=settings.max_concurrent_generations,
            progress_interval=settings.progress_interval,
            lease_seconds=settings.job_lease_seconds,
            delivery_grace=settings.delivery_grace_seconds,
            deliver_by_url=settings.deliver_by_url,
        ),
        signer=signer,
        callbacks=callbacks,
        alerts=OperatorAlerts(application.bot, settings.admin_user_ids),
        metrics=metrics,
        telegram_room=data.limiter.has_room,
        prompt_helper=helper,
    )
    service = GenerationService(
        repository=repository,
        client=client,
        signer=signer,
        family=family,
        policy=AccessPolicy(
            daily_quota=settings.daily_quota,
            chat_identity_daily_quota=settings.chat_identity_daily_quota,
            chat_daily_quota=settings.chat_daily_quota,
            global_daily_quota=settings.global_daily_quota,
            max_active_per_user=settings.max_active_per_user,
            admin_user_ids=settings.admin_user_ids,
            allowed_user_ids=settings.allowed_user_ids,
            allowed_chat_ids=settings.allowed_chat_ids,
        ),
        generation_timeout=settings.generation_timeout,
        wake_worker=worker.wake,
        prices=Prices(
            resolution=settings.cost_resolution,
            duration=settings.cost_duration,
            model=settings.cost_model,
            enhance=settings.cost_enhance,
            upscale=settings.cost_upscale,
            audio=settings.cost_audio,
        ),
        can_enhance=helper is not None,
        story_max_shots=settings.story_max_shots,
    )
    updates = HandledUpdates(repository)
    webhook = (
        WebhookReceiver(
            application=application,
            updates=updates,
            secret=settings.webhook_secret.get_secret_value(),
            owner=worker.owner,
            metrics=metrics,
            flood=data.flood,
        )
        if settings.telegram_webhook and settings.webhook_secret is not None
        else None
    )
    gallery = (
        Gallery(
            bot=application.bot,
            service=service,
            signer=signer,
            checker=InitDataChecker.for_token(
                settings.telegram_bot_token.get_secret_value(),
                max_age=settings.gallery_auth_max_age,
            ),
            actions=handlers.GalleryActions(application),
            allowances=Allowances(burst=settings.flood_burst, per_minute=settings.flood_per_minute),
        )
        if signer is not None
        else None
    )
    web = WebServer(
        bot=application.bot,
        signer=signer,
        gallery=gallery,
        host="0.0.0.0",
        port=settings.port,
        health=Health(repository=repository, client=client, metrics=metrics),
        callbacks=callbacks,
        webhook=webhook,
        metrics_token=(
            settings.metrics_token.get_secret_value() if settings.metrics_token else None
        ),
        metrics_port=settings.metrics_port,
    )
    albums = AlbumCollector(
        repository=repository,
        wait=settings.album_wait_seconds,
        on_complete=lambda items: handlers.album_complete(application, items),
    )
    payments = PaymentService(
        store=repository,
        packs=settings.credit_packs,
        policy=service.policy,
        referral_credits=settings.referral_credits,
        confirm_retry=settings.payments_confirm_retry_seconds,
        metrics=metrics,
    )
    # Payments whose update never arrived, found in Telegram's list of Stars transactions.
    reconciler = (
        PaymentReconciler(
            service=payments,
            fetch=lambda offset, limit: handlers.star_transactions(application.bot, offset, limit),
            on_recorded=lambda purchase: handlers.confirm_recovered(application, purchase),
            tell=lambda payment: handlers.confirm_untold(application, payment),
            every=settings.payments_reconcile_seconds,
            confirm_every=settings.payments_confirm_retry_seconds,
        )
        if payments.for_sale
        else None
    )
    runtime = Runtime(
        settings=settings,
        repository=repository,
        http=http,
        client=client,
        worker=worker,
        service=service,
        updates=updates,
        signer=signer,
        web=web,
        albums=albums,
        payments=payments,
        reconciler=reconciler,
    )
    # The menu in every catalog language; Telegram shows the one matching the user's app.
    menu = (
        *MENU_COMMANDS,
        *(["invite"] if settings.referral_credits else []),
        *(["buy"] if payments.for_sale else []),
    )
    for language in CATALOGS:
        await application.bot.set_my_commands(
            [BotCommand(name, text(f"command_{name}", language)) for name in menu],
            language_code=None if language == "en" else language,
        )
    await _set_menu_button(application.bot, settings)
    await web.start()
    services.push_async_callback(web.stop)
    await worker.start()
    services.push_async_callback(worker.stop)
    await albums.start()  # also sweeps up albums whose collecting process died
    services.push_async_callback(albums.stop)
    if reconciler is not None:
        await reconciler.start()  # its first pass runs now, in the background
        services.push_async_callback(reconciler.stop)
    log.info(
        "bot @%s started (%s): family %s at %s, database %s, prompt helper %s, gallery %s",
        application.bot.username,
        "webhook" if settings.telegram_webhook else "polling",
        family,
        settings.api_url,
        _without_password(settings.database_url),
        f"{settings.llm_model} at {settings.llm.url}" if settings.llm else "off",
        _gallery_state(settings),
    )
    return runtime


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


@asynccontextmanager
async def running(application: Application) -> AsyncIterator[Application]:
    """Start the services, then polling (or, in webhook mode, nothing more: updates arrive on
    the web server); on exit stop polling first, then everything else (PTB's order)."""
    data = bot_data(application)
    poller = data.poller = (
        None
        if data.settings.telegram_webhook
        else UpdatePoller(application, allowed_updates=ALLOWED_UPDATES, flood=data.flood)
    )
    try:
        await application.initialize()
    except BaseException:
        # getMe refused (bad token) or Telegram unreachable: PTB leaves the HTTP sessions it
        # opened for that open, and their "unclosed session" noise would bury the one line.
        for request in data.requests:
            await request.shutdown()
        raise
    try:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        if poller is not None:
            await poller.start()
        yield application
    finally:
        if poller is not None:
            await poller.stop()
        if application.running:
            await application.stop()
        if application.post_stop:
            await application.post_stop(application)
        await application.shutdown()


async def until_stopped(application: Application, stop: asyncio.Event) -> None:
    """Wait for `stop` (SIGTERM); raise InvalidToken as soon as Telegram rejects the token
    mid-run (revoked with @BotFather): polling cannot go on, so `python -m bot` exits and its
    supervisor restarts it or raises the alarm, instead of a process that looks alive."""
    poller = bot_data(application).poller
    stopped = asyncio.ensure_future(stop.wait())
    failed: asyncio.Future[InvalidToken] = (
        asyncio.ensure_future(poller.failure()) if poller is not None else asyncio.Future()
    )
    try:
        either: list[asyncio.Future[Any]] = [stopped, failed]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in (stopped, failed):
            waiting.cancel()
    if failed.done() and not failed.cancelled():
        raise failed.result()
