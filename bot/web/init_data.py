"""Who is asking, for the gallery Mini App: Telegram's `initData`, checked as Telegram says
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app).

When a user opens a Mini App, their Telegram app hands the page `initData`: a query string with
the user (JSON), `auth_date` and a `hash`, an HMAC-SHA-256 of every other field sorted by name
("key=value" lines) under a key derived from the bot token. Only Telegram and this bot know the
token, so a valid hash means Telegram vouches for the user; a changed byte anywhere breaks it. The
page sends it with every request (`Authorization: tma <initData>`); nothing else a request says
about who asks is believed. `auth_date` bounds how long a captured initData stays usable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, ValidationError

# initData is a few hundred bytes; anything much longer is not from Telegram.
MAX_INIT_DATA_CHARS = 4096
# A Telegram client's clock and ours may differ a little: an auth_date this far ahead passes.
CLOCK_SKEW_SECONDS = 60
AUTHORIZATION_SCHEME = "tma"


class AuthProblem(StrEnum):
    """Why a request is not let in; each is a catalog key the page shows."""

    MISSING = "gallery_auth_missing"
    INVALID = "gallery_auth_invalid"
    STALE = "gallery_auth_stale"


class WebAppUser(BaseModel):
    """The Telegram user initData names (the fields this bot uses)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    first_name: str = ""
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class InitDataChecker:
    """Checks initData against one bot token; `max_age` is GALLERY_AUTH_MAX_AGE."""

    secret: bytes
    max_age: float

    @classmethod
    def for_token(cls, bot_token: str, *, max_age: float) -> InitDataChecker:
        secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
        return cls(secret=secret, max_age=max_age)

    def user_of(
        self, authorization: str | None, *, now: float | None = None
    ) -> WebAppUser | AuthProblem:
        """The user an `Authorization: tma <initData>` header proves, or why it proves none."""
        scheme, _, init_data = (authorization or "").strip().partition(" ")
        if scheme.lower() != AUTHORIZATION_SCHEME or not init_data.strip():
            return AuthProblem.MISSING
        return self.check(init_data.strip(), now=now)

    def check(self, init_data: str, *, now: float | None = None) -> WebAppUser | AuthProblem:
        fields = _fields(init_data)
        if fields is None:
            return AuthProblem.INVALID
        given = fields.pop("hash", "")
        check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
        expected = hmac.new(self.secret, check_string.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return AuthProblem.INVALID
        try:  # signed by Telegram from here on: malformed now would be Telegram's change
            auth_date = int(fields["auth_date"])
            user = WebAppUser.model_validate(json.loads(fields["user"]))
        except (KeyError, ValueError, ValidationError):
            return AuthProblem.INVALID
        age = (now if now is not None else time.time()) - auth_date
        if age > self.max_age or age < -CLOCK_SKEW_SECONDS:
            return AuthProblem.STALE
        return user


def _fields(init_data: str) -> dict[str, str] | None:
    """initData's fields, or None if it is not a query string with each field once."""
    if len(init_data) > MAX_INIT_DATA_CHARS or not init_data.isascii():
        return None
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else None
