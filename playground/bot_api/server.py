"""The HTTP side of the fake: the routes, reading a request (form, multipart or JSON), checking
the method and its parameters, applying scripted faults and flood limits, recording the
``Call`` and answering like the Bot API (or not at all, or garbled).
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from typing import Any

from aiohttp import web

from playground.bot_api.faults import FaultScript
from playground.bot_api.flood import FloodLimits
from playground.bot_api.protocol import (
    _CANONICAL,
    JSON_FIELD_NAMES,
    JSON_FIELDS,
    METHODS,
    ApiError,
    _bad,
)
from playground.bot_api.records import Call, _Described, _Upload


class HttpServer(FaultScript, FloodLimits):
    """The Bot API, file download and catch-all routes; a method ``x`` is answered by ``_m_x``."""

    async def _handle_api(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        method = _CANONICAL.get(raw_method.lower(), raw_method)
        call = Call(
            method, {}, token=request.match_info["token"], path=request.path, at=time.monotonic()
        )
        status, fault = 200, None
        try:
            uploads, bad_json = await self._read(request, call)
            if call.token != self.token:
                raise ApiError(401, "Unauthorized")
            if method not in METHODS:
                raise ApiError(404, "Not Found")
            fault = self._apply_fault(method)
            if fault and fault.delay:
                call.delayed = fault.delay
                if not await self._hold(request, fault.delay):
                    self._record(call)  # the client gave up during the delay: nothing was done
                    return self._hang_up(request)
            if fault and fault.garble:
                self._record(call)
                return self._garbled(request)
            if fault and fault.odd_answer is not None:
                call.response = fault.odd_answer
                self._record(call)
                return web.json_response(fault.odd_answer)
            if bad_json:
                raise _bad(f"can't parse {JSON_FIELD_NAMES.get(bad_json, bad_json)} JSON object")
            allowed, required = METHODS[method]
            for name in call.params:
                if name not in allowed:
                    raise _bad(f"unknown parameter {name}")
            for name in sorted(required):
                if name not in call.params and name not in uploads:
                    raise _bad(f"{name} is required")
            charged = self._flood_take(method, call.params)
            try:
                result = await self._handlers[method](call.params, uploads)
            except Exception:  # a failed call uses up no flood budget
                self._flood_refund(charged)
                raise
            body: dict[str, Any] = {"ok": True, "result": result}
            if isinstance(result, _Described):
                body = {"ok": True, "result": result.result, "description": result.description}
        except ApiError as exc:
            status, body = exc.code, exc.body()
        except Exception:  # a bug in the fake: answer 500 and keep the traceback visible
            self.internal_errors.append(traceback.format_exc())
            status, body = 500, {"ok": False, "error_code": 500, "description": "fake crashed"}
        if fault and fault.lose:  # done, but the answer never arrives
            call.lost = True
            self._record(call)
            await self._hold(request, fault.hold)
            return self._hang_up(request)
        call.response = body
        self._record(call)
        return web.json_response(body, status=status)

    def _record(self, call: Call) -> None:
        if not self.keep_uploads:  # the sizes stay in call.sizes
            call.files = dict.fromkeys(call.files, b"")
        call.answered_at = time.monotonic()
        self.calls.append(call)
        self._notify()

    async def _hold(self, request: web.Request, seconds: float) -> bool:
        """Keep the request open up to ``seconds``; False as soon as the client has left."""
        deadline = time.monotonic() + seconds
        while not self._closing and (left := deadline - time.monotonic()) > 0:
            if request.transport is None or request.transport.is_closing():
                return False
            await asyncio.sleep(min(left, 0.01))
        return request.transport is not None and not request.transport.is_closing()

    @staticmethod
    def _hang_up(request: web.Request) -> web.Response:
        """Close the connection without an answer (aiohttp then drops the response quietly)."""
        request.protocol.force_close()
        return web.Response(status=204)

    @staticmethod
    def _garbled(request: web.Request) -> web.Response:
        """Write a status line no HTTP client accepts, then close the connection."""
        if request.transport is not None:
            request.transport.write(b"HTTP/1.1 OK GARBAGE\r\n\r\n")
        request.protocol.force_close()
        return web.Response(status=204)

    async def _read(self, request: web.Request, call: Call) -> tuple[dict[str, _Upload], str]:
        params: dict[str, Any] = dict(request.query)
        uploads: dict[str, _Upload] = {}
        try:
            if request.content_type == "application/json":
                body = await request.json() if request.can_read_body else {}
                params.update(body if isinstance(body, dict) else {})
            elif request.can_read_body:
                for name, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        with value.file:  # a spooled temporary file: closed once read
                            data = value.file.read()
                        uploads[name] = _Upload(data, value.filename, value.content_type)
                        call.files[name], call.filenames[name] = data, value.filename
                        call.sizes[name] = len(data)
                        self.bytes_received += len(data)
                    else:
                        params[name] = value
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "Request Entity Too Large") from None
        except ValueError:
            raise _bad("invalid request body") from None
        bad_json = ""
        for name in JSON_FIELDS & params.keys():
            if isinstance(params[name], str):
                try:
                    params[name] = json.loads(params[name])
                except ValueError:
                    bad_json = name
        call.params = params
        return uploads, bad_json

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        stored = self._paths.get(request.match_info["file_path"])
        if stored is None or stored.data is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        self.downloads.append(request.match_info["file_path"])
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)
