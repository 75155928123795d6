"""Webhook mode: ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo`` and delivering updates by
POST, as the real Bot API server does (telegram-bot-api's ``Client.cpp`` /
``WebhookActor.cpp``).

``setWebhook`` / ``deleteWebhook`` / ``getWebhookInfo`` answer with Telegram's descriptions
("Webhook was set", "Webhook is already set", "Webhook was deleted", "Webhook is already
deleted"); a non-empty ``setWebhook`` more often than once a second gets 429 "retry after 1"
(``set_webhook_interval``); ``max_connections`` is clamped to 1..100 (default 40); an empty
``secret_token`` means none. While a webhook is set ``getUpdates`` answers 409, and a held long
poll ends with 409 "terminated by setWebhook request". Queued updates (also those queued
before, unless dropped) are POSTed as JSON with ``X-Telegram-Bot-Api-Secret-Token``; one at a
time per chat (Telegram's per-chat webhook queues), at most ``max_connections`` at once. Only a
2xx answer confirms an update; otherwise it stays pending, ``last_error_date`` /
``last_error_message`` are set ("Wrong response from the webhook: 503 Service Unavailable",
"Connection refused", "Read timeout expired") and it is retried after ``webhook_retry_delay``
(or the answer's ``Retry-After``). Test knobs: ``webhook_targets`` (a load balancer in front of
replicas: round robin, a refused connection moves on to the next target at once, all refused =
502 Bad Gateway), ``duplicate_rate`` + ``seed`` (a confirmed update is sent once more to the
next target, as when Telegram did not see the answer), ``webhook_deliveries`` (every attempt),
``delivered_update_ids()`` and ``await wait_for_webhook_idle()``.
Deviations: http:// URLs and any port are accepted (``webhook_https_only=True`` checks them),
no DNS check at ``setWebhook``, no slow start of connections, the first retry is not immediate,
and a 2xx answer carrying a method call is not executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from playground.bot_api.protocol import (
    _MESSAGE_KINDS,
    _WEBHOOK_PORTS,
    UPDATE_TYPES,
    ApiError,
    _as_bool,
    _bad,
)
from playground.bot_api.records import WebhookDelivery, _Described, _WebhookConfig
from playground.bot_api.state import FakeState


class WebhookMethods(FakeState):
    """The webhook methods, and the dispatcher that POSTs queued updates while a webhook is set."""

    async def _m_setWebhook(self, p: dict, uploads: dict) -> _Described:
        """The server's process_set_webhook_query / do_set_webhook, in its order: the flood
        limit first; an unchanged webhook is "already set"; otherwise the old webhook is closed
        and pending updates dropped *before* the new URL and secret are validated (so a refused
        replacement leaves no webhook, as on Telegram)."""
        url = str(p.get("url") or "")
        now = time.monotonic()
        if url and self.set_webhook_interval > 0:
            if now < self._next_set_webhook_at:
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._next_set_webhook_at = now + self.set_webhook_interval
        async with self._wh_lock:  # one change at a time; getUpdates meanwhile gets 409
            return await self._set_webhook(p, uploads, url)

    async def _m_deleteWebhook(self, p: dict, uploads: dict) -> _Described:
        # The server runs deleteWebhook as setWebhook with an empty URL.
        return await self._m_setWebhook({**p, "url": ""}, {})

    async def _m_getWebhookInfo(self, p: dict, uploads: dict) -> dict:
        info: dict[str, Any] = {
            "url": self._wh.url if self._wh else "",
            "has_custom_certificate": bool(self._wh and self._wh.has_custom_certificate),
            "pending_update_count": len(self._updates),
        }
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        if self._wh is not None:
            info["max_connections"] = self._wh.max_connections
            info["ip_address"] = self._wh.ip_address or self._webhook_ip(self._wh.url)
        if self._allowed_updates is not None:
            info["allowed_updates"] = [t for t in UPDATE_TYPES if t in self._allowed_updates]
        return info

    async def _set_webhook(self, p: dict, uploads: dict, url: str) -> _Described:
        new = self._webhook_config(p, uploads) if url else None
        drop = _as_bool(p.get("drop_pending_updates"))
        unchanged = new == self._wh and not (new and new.has_custom_certificate)
        if unchanged and not drop:
            self._update_allowed_updates(p)
            return _Described(
                True, "Webhook is already set" if url else "Webhook is already deleted"
            )
        if url:
            self._webhook_epoch += 1  # a held getUpdates ends with 409
            self._notify()
        was_set = self._wh is not None
        self._wh, self.webhook, self.webhook_last_error = None, {}, None
        await self._stop_webhook()
        if self._closing:
            raise ApiError(500, "Internal Server Error: restart")
        if drop:
            self._updates.clear()
            self._wh_retry_at.clear()
            self._notify()
        if new is None:
            return _Described(
                True, "Webhook was deleted" if was_set else "Webhook is already deleted"
            )
        self._check_webhook(new)
        self._update_allowed_updates(p)
        self._wh = new
        self.webhook = dict(p)
        self.webhook_last_error = None
        self._wh_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            skip_auto_headers=("User-Agent",),
        )
        self._wh_dispatcher = asyncio.create_task(self._dispatch_webhook())
        self._notify()
        return _Described(True, "Webhook was set")

    def _webhook_config(self, p: dict, uploads: dict) -> _WebhookConfig:
        cert = p.get("certificate")
        has_cert = "certificate" in uploads or (
            isinstance(cert, str)
            and cert.startswith("attach://")
            and cert[len("attach://") :] in uploads
        )
        raw = p.get("max_connections")
        try:
            max_connections = 40 if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            max_connections = 0  # the server's to_integer: garbage reads as 0, then clamped
        return _WebhookConfig(
            url=str(p["url"]),
            max_connections=min(max(max_connections, 1), 100),
            secret_token=str(p.get("secret_token") or ""),
            ip_address=str(p.get("ip_address") or ""),
            has_custom_certificate=has_cert,
        )

    def _check_webhook(self, config: _WebhookConfig) -> None:
        url = config.url if "://" in config.url else "https://" + config.url  # https by default
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _bad("invalid webhook URL specified") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _bad("invalid webhook URL specified")
        if len(config.secret_token) > 256:
            raise _bad("secret token is too long")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", config.secret_token):
            raise _bad("secret token contains unallowed characters")
        if self.webhook_https_only:
            if parts.scheme.lower() != "https":
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (port or 443) not in _WEBHOOK_PORTS:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")

    @staticmethod
    def _webhook_ip(url: str) -> str:
        """What the server resolved the host to ("<unknown>" before it did): IP literals only,
        the fake does no DNS."""
        host = urlsplit(url if "://" in url else "https://" + url).hostname or ""
        if host == "localhost":
            return "127.0.0.1"
        return host if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", host) else "<unknown>"

    @staticmethod
    def _queue_key(update: dict) -> tuple:
        """The server's webhook queue of an update: updates of one queue go out one at a time,
        in order (the next only after the previous was confirmed)."""
        kind = next(k for k in update if k != "update_id")
        body = update[kind] if isinstance(update[kind], dict) else {}
        if kind in _MESSAGE_KINDS and "chat" in body:
            return ("chat", body["chat"]["id"])
        if kind == "callback_query" and "from" in body:
            return ("callback_query", body["from"]["id"])
        chat_id = (body.get("chat") or {}).get("id")
        if chat_id is not None:
            return (kind, chat_id)
        return ("update", update["update_id"])

    async def _dispatch_webhook(self) -> None:
        """Start deliveries as slots, queues and retry times allow; sleep until something
        changes (a new update, a finished delivery, a retry falling due)."""
        while self._wh is not None and not self._closing:
            changed = self._changed
            wake_at = self._start_deliveries()
            delay = None if wake_at is None else max(wake_at - time.monotonic(), 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await changed.wait()

    def _start_deliveries(self) -> float | None:
        assert self._wh is not None
        now = time.monotonic()
        kept = [u for u in self._updates if self._allowed(u)]
        if len(kept) != len(self._updates):
            self._updates = kept
            self._notify()
        busy = {key for _, key in self._wh_inflight.values()}
        seen: set[tuple] = set()
        wake_at: float | None = None
        for update in self._updates:
            if len(self._wh_inflight) >= self._wh.max_connections:
                break
            key = self._queue_key(update)
            if key in seen or key in busy:  # only the head of each queue may go
                seen.add(key)
                continue
            seen.add(key)
            update_id = update["update_id"]
            due = self._wh_retry_at.get(update_id, 0.0)
            if due > now:
                wake_at = due if wake_at is None else min(wake_at, due)
                continue
            task = asyncio.create_task(self._deliver(copy.deepcopy(update), self._wh))
            self._wh_inflight[update_id] = (task, key)
        return wake_at

    def _targets(self, config: _WebhookConfig) -> list[str]:
        url = config.url if "://" in config.url else "https://" + config.url
        if not self.webhook_targets:
            return [url]
        parts = urlsplit(url)
        tail = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return [t.rstrip("/") + tail for t in self.webhook_targets]

    async def _deliver(self, update: dict, config: _WebhookConfig) -> None:
        update_id = update["update_id"]
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        redelivery = update_id in self._wh_duplicate
        targets = self._targets(config)
        balanced = bool(self.webhook_targets)
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        index = 0
        try:
            for attempt in range(len(targets)):
                if redelivery and attempt == 0:
                    index = self._wh_duplicate[update_id] % len(targets)
                else:
                    index, self._wh_rr = self._wh_rr % len(targets), self._wh_rr + 1
                started = time.monotonic()
                outcome: tuple[int | None, str | None, float | None, bool]
                outcome = (None, "cancelled", None, False)  # kept if cancelled meanwhile
                try:
                    outcome = await self._post(targets[index], body, headers)
                finally:
                    status, error, retry_after, refused = outcome
                    elapsed = time.monotonic() - started
                    self.webhook_deliveries.append(
                        WebhookDelivery(
                            update_id, targets[index], status, error, started, elapsed, redelivery
                        )
                    )
                if not (balanced and refused):
                    break
            else:  # the load balancer found no live replica
                status, error = 502, "Wrong response from the webhook: 502 Bad Gateway"
            self._delivered(update_id, status, error, retry_after, index, redelivery)
        finally:
            self._wh_inflight.pop(update_id, None)
            self._notify()

    def _delivered(
        self,
        update_id: int,
        status: int | None,
        error: str | None,
        retry_after: float | None,
        index: int,
        redelivery: bool,
    ) -> None:
        if redelivery:
            self._wh_duplicate.pop(update_id, None)
        if error is None:
            self._wh_retry_at.pop(update_id, None)
            if (
                update_id not in self._wh_duplicated
                and self.duplicate_rate > 0
                and self._rng.random() < self.duplicate_rate
            ):  # Telegram did not see the answer: the same update once more, to the next target
                self._wh_duplicated.add(update_id)
                self._wh_duplicate[update_id] = index + 1
                return
            self._wh_duplicated.discard(update_id)
            self._updates = [u for u in self._updates if u["update_id"] != update_id]
            return
        self.webhook_last_error = (int(time.time()), error)
        delay = self.webhook_retry_delay if not retry_after else retry_after
        self._wh_retry_at[update_id] = time.monotonic() + delay

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None, float | None, bool]:
        """One POST: (status, Telegram's error text or None, Retry-After, connection refused?)."""
        assert self._wh_session is not None
        try:
            async with asyncio.timeout(self.webhook_timeout):
                async with self._wh_session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    await resp.read()
        except TimeoutError:
            return None, "Read timeout expired", None, False
        except aiohttp.ClientConnectorDNSError:
            return None, "Failed to resolve host: Name or service not known", None, True
        except aiohttp.ClientConnectorError as exc:  # "Connection refused", "... timed out"
            err = exc.os_error
            return None, os.strerror(err.errno) if err.errno else str(err), None, True
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return None, "Webhook connection closed", None, False
        except aiohttp.ClientError as exc:
            return None, f"Connection error: {exc}", None, False
        if 200 <= resp.status <= 299:
            return resp.status, None, None, False
        retry_after = None
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(min(max(int(resp.headers.get("Retry-After", "")), 0), 3600))
        error = f"Wrong response from the webhook: {resp.status} {resp.reason or ''}".rstrip()
        return resp.status, error, retry_after, False

    async def _stop_webhook(self) -> None:
        """Stop delivering: cancel the dispatcher and the deliveries in flight (their updates
        stay queued, as on Telegram), close the HTTP session."""
        tasks = [t for t, _ in self._wh_inflight.values()]
        if self._wh_dispatcher is not None:
            tasks.append(self._wh_dispatcher)
        self._wh_dispatcher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._wh_inflight.clear()
        self._wh_retry_at.clear()
        self._wh_duplicate.clear()
        self._wh_duplicated.clear()
        if self._wh_session is not None:
            await self._wh_session.close()
            self._wh_session = None
