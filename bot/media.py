"""Short-lived signed links to Telegram files, so the video API never sees the bot token.

A Telegram file URL embeds the token; instead the API gets
`PUBLIC_URL/media/<payload>.<signature>.<ext>`, which the bot's own server (bot/web.py) verifies
and answers by fetching the file from Telegram server-side. The payload carries the file id,
its content type and the expiry; the signature is an HMAC over it. No database row is needed,
so any replica holding the same key can serve any link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
IMAGE_TYPES = frozenset(_EXTENSIONS)


@dataclass(frozen=True)
class MediaRef:
    file_id: str
    mime_type: str


def derive_signing_key(bot_token: str) -> bytes:
    """A key derived from the token (one-way), so operators need not configure one."""
    return hmac.new(bot_token.encode(), b"luma-video-bot media links v1", hashlib.sha256).digest()


class MediaSigner:
    def __init__(self, *, public_url: str, key: bytes, ttl: float) -> None:
        self._base = public_url.rstrip("/")
        self._key = key
        self.ttl = ttl

    def link(self, ref: MediaRef, *, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.ttl)
        body = json.dumps(
            {"f": ref.file_id, "m": ref.mime_type, "e": expires}, separators=(",", ":")
        )
        payload = _b64(body.encode())
        extension = _EXTENSIONS.get(ref.mime_type, "bin")
        return f"{self._base}/media/{payload}.{self._sign(payload)}.{extension}"

    def verify(self, token: str, *, now: float | None = None) -> MediaRef | None:
        """The file a link names, or None if it is malformed, forged or expired."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        payload, signature, _extension = parts
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            ref, expires = MediaRef(str(data["f"]), str(data["m"])), float(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < (now if now is not None else time.time()):
            return None
        return ref

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:24])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
