"""App factory, request pipeline (record -> fault -> auth -> handler) and the runner."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from emulator import admin, aiml_universal, aiml_v1, aiml_v2, chat, luma_direct
from emulator.assets import FILES_PREFIX, video_bytes
from emulator.config import EmulatorConfig
from emulator.core import API_KEY, EMULATOR_KEY, Emulator, Handler, RouteDef, emulator_of
from emulator.errors import AIML_ERRORS, DETAIL_ERRORS, ApiError, ErrorStyle
from emulator.faults import Fault, random_fault
from emulator.files import TRUNCATE_AFTER, serve_file
from emulator.recording import RecordedRequest
from emulator.state import Family

log = logging.getLogger("emulator")

# Each family contributes a tuple of RouteDef.
FAMILY_ROUTES: tuple[RouteDef, ...] = (
    *aiml_v2.ROUTES,
    *aiml_v1.ROUTES,
    *aiml_universal.ROUTES,
    *luma_direct.ROUTES,
    *chat.ROUTES,
)
_ROUTES_BY_NAME = {route.name: route for route in FAMILY_ROUTES}
# The one place that decides error bodies: by the matched route's family, else (unknown
# route or wrong method) by path prefix; AIML bodies for everything else.
ERROR_STYLES: dict[str, ErrorStyle] = {Family.LUMA: DETAIL_ERRORS}
_PREFIX_FAMILIES = ((luma_direct.PREFIX, Family.LUMA),)
API_KINDS = frozenset({"create", "fetch", "chat"})
SHUTDOWN_TIMEOUT = 1.0


def family_of(request: web.Request) -> str | None:
    """The family of the route that matched, or whose prefix the path is under."""
    route = _ROUTES_BY_NAME.get(request.match_info.route.name or "")
    if route is not None:
        return route.family
    path = request.path
    return next(
        (
            fam
            for prefix, fam in _PREFIX_FAMILIES
            if path == prefix or path.startswith(f"{prefix}/")
        ),
        None,
    )


def error_style(request: web.Request) -> ErrorStyle:
    return ERROR_STYLES.get(family_of(request) or "", AIML_ERRORS)


def authenticate(request: web.Request, config: EmulatorConfig) -> str:
    """Return the Bearer key or raise 401/403 (worded by the family's error style)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401)
    if key in config.no_credits_keys:
        raise ApiError(403)
    if config.api_keys is not None and key not in config.api_keys:
        raise ApiError(401)
    return key


async def _apply_fault(request: web.Request, fault: Fault, emu: Emulator) -> web.Response | None:
    """Answer per the fault, or None to carry on normally (after a delay; a truncate fault is
    carried out by the file route)."""
    if fault.kind == "drop":
        log.info("fault: dropping %s %s", request.method, request.path)
        if request.transport is not None:
            request.transport.close()
        # Nothing reaches the client: the transport is already closed.
        return web.Response(status=499)
    if fault.kind == "delay":
        log.info("fault: delaying %s %s by %ss", request.method, request.path, fault.seconds)
        await emu.store.sleep(fault.seconds)
        return None
    if fault.kind == "redirect":
        log.info("fault: redirecting %s %s to %s", request.method, request.path, fault.location)
        return web.Response(status=302, headers={"Location": fault.location or "/"})
    if fault.kind == "truncate":
        request[TRUNCATE_AFTER] = fault.after_bytes or 0
        return None
    if fault.kind == "body":
        log.info("fault: answering %s %s with another body", request.method, request.path)
        body = fault.body.encode() if isinstance(fault.body, str) else fault.body
        return web.Response(body=body, content_type=fault.content_type)
    status = fault.status or 500  # Fault validation guarantees a status for this kind
    log.info("fault: %s %s -> %s", request.method, request.path, status)
    raise ApiError(status, fault.message, headers=fault.retry_after_header())


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(admin.ADMIN_PREFIX):
        return await handler(request)
    emu = emulator_of(request)
    route = request.match_info.route.name or ""
    kind = route.partition(".")[0] or "other"
    operation = route.rpartition(".")[2]  # "delete" for Luma's DELETE (see FaultRoute)
    recorded: RecordedRequest | None = None
    response: web.StreamResponse | None = None
    try:
        # Recorded first, so tests can assert on what was sent even when it is rejected.
        recorded = await RecordedRequest.from_request(request, route)
        emu.requests.append(recorded)
        fault = emu.faults.take(kind, operation)
        if fault is None and kind in API_KINDS and emu.config.error_rates:
            fault = random_fault(emu.config.error_rates, emu.random, kind)
        elif fault is None and kind == "download" and emu.config.download_error_rates:
            fault = random_fault(emu.config.download_error_rates, emu.random, kind)
        if fault is not None:
            response = await _apply_fault(request, fault, emu)
            if response is not None:
                return response
        if kind in API_KINDS:
            request[API_KEY] = authenticate(request, emu.config)
        response = await handler(request)
        return response
    except ApiError as exc:
        response = error_style(request).api_error(request, exc)
        return response
    except web.HTTPException as exc:
        response = error_style(request).http_error(request, exc)
        return response
    finally:
        if recorded is not None:
            recorded.answered_at = time.time()
            # A dropped connection's 499 never reached the client.
            dropped = request.transport is None or request.transport.is_closing()
            if response is not None and not (dropped and response.status == 499):
                recorded.status = response.status


async def _close(app: web.Application) -> None:
    # Release held long-polls and stop clocks so shutdown is prompt.
    await app[EMULATOR_KEY].close()


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    """The emulator as an aiohttp app; its state is ``app[EMULATOR_KEY]``."""
    app = web.Application(middlewares=[pipeline])
    emu = app[EMULATOR_KEY] = Emulator(config)
    # Build the configured video sizes now rather than during the first download.
    for size in {emu.config.video_size, *emu.config.video_sizes.values()}:
        video_bytes(size)
    for route in FAMILY_ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    app.router.add_get(f"{FILES_PREFIX}/{{name}}", serve_file, name="download.files.get")
    admin.register(app.router)
    app.on_shutdown.append(_close)
    return app


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@asynccontextmanager
async def run_emulator(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Emulator]:
    """Serve the emulator over HTTP for the duration of the block; ``port=0`` picks a free one."""
    app = create_app(config)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        emu = app[EMULATOR_KEY]
        emu.url = f"http://{_display_host(host)}:{bound_port}"
        yield emu
    finally:
        await runner.cleanup()
