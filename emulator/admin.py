"""Introspection routes under ``/_emulator/`` (not part of the contract; no auth)."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from emulator.config import EmulatorConfig
from emulator.core import emulator_of
from emulator.faults import Fault
from emulator.state import Script

ADMIN_PREFIX = "/_emulator"


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        payload = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return payload


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response([r.to_dict() for r in emulator_of(request).requests])


async def list_image_fetches(request: web.Request) -> web.Response:
    return web.json_response([f.to_dict() for f in emulator_of(request).image_fetches])


async def list_callbacks(request: web.Request) -> web.Response:
    return web.json_response([c.to_dict() for c in emulator_of(request).callbacks])


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([f.to_dict() for f in emulator_of(request).faults.pending])


async def add_fault(request: web.Request) -> web.Response:
    """Body: the ``inject_fault`` keyword arguments, e.g. ``{"route": "create", "status": 429}``."""
    payload = await _json_object(request)
    try:
        fault = emulator_of(request).faults.add(Fault(**payload))
    except (TypeError, ValueError) as exc:
        return _problem(400, str(exc))
    return web.json_response(fault.to_dict(), status=201)


async def list_scripts(request: web.Request) -> web.Response:
    return web.json_response([s.to_dict() for s in emulator_of(request).scripted])


async def add_script(request: web.Request) -> web.Response:
    """Body: ``{"fail": "moderation"}``, ``{"stuck": true}``, ``{"slow": true}`` (combinable),
    and ``"count"`` (default 1): the outcome of the next generations (``script_next``)."""
    payload = await _json_object(request)
    fail, count = payload.pop("fail", None), payload.pop("count", 1)
    flags = {name: payload.pop(name, False) for name in ("stuck", "slow")}
    if payload:
        return _problem(400, f"unknown fields: {sorted(payload)}")
    if not (fail is None or isinstance(fail, str)) or not all(
        isinstance(flag, bool) for flag in flags.values()
    ):
        return _problem(400, "fail must be a string or null, stuck and slow booleans")
    if isinstance(count, bool) or not isinstance(count, int):
        return _problem(400, "count must be a whole number")
    script = Script(**flags)
    if fail is not None:
        script = script.merged(Script.failing(fail))
    try:
        emulator_of(request).script_next(script, count)
    except ValueError as exc:
        return _problem(400, str(exc))
    return web.json_response(script.to_dict(), status=201)


async def list_generations(request: web.Request) -> web.Response:
    gens = emulator_of(request).generations.values()
    return web.json_response([g.summary() for g in gens])


async def set_generation_state(request: web.Request) -> web.Response:
    """Body: ``{"state": "completed"|"failed"|..., "failure_reason": null}``."""
    payload = await _json_object(request)
    state = payload.get("state")
    reason = payload.get("failure_reason")
    if not isinstance(state, str) or not (reason is None or isinstance(reason, str)):
        return _problem(400, "state must be a string and failure_reason a string or null")
    generation_id = request.match_info["generation_id"]
    try:
        gen = emulator_of(request).force_state(generation_id, state, reason)
    except KeyError:
        return _problem(404, f"unknown generation {generation_id}")
    except ValueError as exc:
        return _problem(400, str(exc))
    return web.json_response(gen.summary())


async def reset(request: web.Request) -> web.Response:
    """Clear recorded requests, image fetches, callbacks, faults and scripted outcomes;
    ``{"generations": true}`` also drops generations."""
    payload = await _json_object(request)
    emulator_of(request).reset(generations=bool(payload.get("generations", False)))
    return web.json_response({"ok": True})


def _config_view(config: EmulatorConfig) -> dict[str, Any]:
    view = dataclasses.asdict(config)
    for name in ("api_keys", "no_credits_keys"):
        if view[name] is not None:
            view[name] = sorted(view[name])
    return view


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(_config_view(emulator_of(request).config))


async def patch_config(request: web.Request) -> web.Response:
    """Change settings at run time, e.g. ``{"dream_seconds": 1}``."""
    emu = emulator_of(request)
    payload = await _json_object(request)
    try:
        emu.config = dataclasses.replace(emu.config, **payload)
    except (TypeError, ValueError) as exc:
        return _problem(400, str(exc))
    return web.json_response(_config_view(emu.config))


def register(router: web.UrlDispatcher) -> None:
    p = ADMIN_PREFIX
    router.add_get(f"{p}/requests", list_requests)
    router.add_get(f"{p}/image-fetches", list_image_fetches)
    router.add_get(f"{p}/callbacks", list_callbacks)
    router.add_get(f"{p}/faults", list_faults)
    router.add_post(f"{p}/faults", add_fault)
    router.add_get(f"{p}/scripts", list_scripts)
    router.add_post(f"{p}/scripts", add_script)
    router.add_get(f"{p}/generations", list_generations)
    # ".+": universal ids ("<uuid>:luma/ray-2") contain a slash.
    router.add_post(f"{p}/generations/{{generation_id:.+}}/state", set_generation_state)
    router.add_post(f"{p}/reset", reset)
    router.add_get(f"{p}/config", get_config)
    router.add_patch(f"{p}/config", patch_config)
