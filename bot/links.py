"""Signed links to the bot's own server (bot/web/), so nothing secret ever leaves the process.

Two kinds, one signer:
- Media links, `PUBLIC_URL/media/<payload>.<signature>.<ext>`: photos for the video API
  (keyframes), and thumbnails and videos for the gallery Mini App. A Telegram file URL embeds the
  bot token; the bot's server answers a media link by fetching the file from Telegram
  server-side. The payload carries the file id, its content type and the expiry.
- Callback links for providers that POST state changes, `PUBLIC_URL/callbacks/<payload>.<sig>`.
  The payload names the job, so a callback can only ever concern the job it was made for.
The signature is an HMAC over the payload; no database row is needed, so any replica holding the
same key can serve any link. The two payloads have disjoint fields, so one kind never passes for
the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

_IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
IMAGE_TYPES = frozenset(_IMAGE_EXTENSIONS)
VIDEO_TYPE = "video/mp4"  # the gallery's videos, played from Telegram through the bot
_EXTENSIONS = {**_IMAGE_EXTENSIONS, VIDEO_TYPE: "mp4"}
CALLBACK_PURPOSE = "cb"


@dataclass(frozen=True)
class MediaRef:
    file_id: str
    mime_type: str


def derive_signing_key(bot_token: str) -> bytes:
    """A key derived from the token (one-way), so operators need not configure one."""
    return hmac.new(bot_token.encode(), b"luma-video-bot media links v1", hashlib.sha256).digest()


class LinkSigner:
    def __init__(self, *, public_url: str, key: bytes, ttl: float) -> None:
        self._base = public_url.rstrip("/")
        self._key = key
        self.ttl = ttl

    # --- photos -------------------------------------------------------------------------------

    def link(self, ref: MediaRef, *, now: float | None = None) -> str:
        return f"{self._base}{self.path(ref, now=now)}"

    def path(self, ref: MediaRef, *, now: float | None = None) -> str:
        """The link without PUBLIC_URL: for pages served from the same origin."""
        expires = int((now if now is not None else time.time()) + self.ttl)
        token = self._seal({"f": ref.file_id, "m": ref.mime_type, "e": expires})
        return f"/media/{token}.{_EXTENSIONS.get(ref.mime_type, 'bin')}"

    def verify(self, token: str, *, now: float | None = None) -> MediaRef | None:
        """The file a photo link names, or None if it is malformed, forged or expired."""
        sealed, _, _extension = token.rpartition(".")
        data = self._unseal(sealed, now)
        try:
            return MediaRef(str(data["f"]), str(data["m"])) if data else None
        except KeyError:
            return None

    # --- provider callbacks -------------------------------------------------------------------

    def callback_link(self, job_id: int, *, expires: float) -> str:
        token = self._seal({"p": CALLBACK_PURPOSE, "j": job_id, "e": int(expires)})
        return f"{self._base}/callbacks/{token}"

    def verify_callback(self, token: str, *, now: float | None = None) -> int | None:
        """The job a callback link was made for, or None if it is malformed, forged or expired."""
        data = self._unseal(token, now)
        if not data or data.get("p") != CALLBACK_PURPOSE or not isinstance(data.get("j"), int):
            return None
        return data["j"]

    # --- sealing ------------------------------------------------------------------------------

    def _seal(self, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def _unseal(self, token: str, now: float | None) -> dict[str, Any] | None:
        if not token.isascii():  # a sealed token is base64url: anything else is forged
            return None
        payload, _, signature = token.partition(".")
        if not secrets_equal(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            expires = float(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(data, dict) or expires < (now if now is not None else time.time()):
            return None
        return data

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:24])


def secrets_equal(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, in constant time. Compared as bytes: hmac.compare_digest
    refuses non-ASCII str, and whatever a stranger sends (lone surrogates included) must compare
    as unequal, not raise."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
