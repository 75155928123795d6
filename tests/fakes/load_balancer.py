"""A round-robin HTTP load balancer for replica tests: what sits between the internet and the
bot's replicas in production. A replica that refuses the connection (killed) is skipped for the
next one; a replica that dies mid-request makes the balancer answer 502, as real ones do."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class LoadBalancer:
    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None
        self.url: str | None = None
        self.forwarded: list[tuple[str, str, int]] = []  # (target, path, status)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        start = next(self._turn)
        for offset in range(len(self.targets)):
            target = self.targets[(start + offset) % len(self.targets)]
            try:
                async with self._session.request(
                    request.method,
                    f"{target}{request.path_qs}",
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                ) as answer:
                    payload = await answer.read()
                    self.forwarded.append((target, request.path, answer.status))
                    kept = {
                        k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS
                    }
                    return web.Response(status=answer.status, body=payload, headers=kept)
            except aiohttp.ClientConnectorError:
                continue  # this replica is down: the next one
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                self.forwarded.append((target, request.path, 502))
                return web.Response(status=502, text="replica went away")
        return web.Response(status=503, text="no replica up")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LoadBalancer]:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            yield self
        finally:
            await self._session.close()
            await runner.cleanup()
