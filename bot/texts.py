"""Every user-facing sentence comes from here: the catalogs live in bot/locales/, one per language.

Messages are Telegram HTML. `text()` escapes every value it interpolates, so a prompt with `<` or
`&` can never break a message; pass `Html(...)` for a value that is already safe markup.
The language follows the user's Telegram `language_code`; English is the fallback.
"""

from __future__ import annotations

import html
import re
from typing import Final

from bot.locales.en import EN
from bot.locales.ru import RU


class Html(str):
    """A value that is already valid Telegram HTML and must not be escaped again."""


CATALOGS: Final[dict[str, dict[str, str]]] = {"en": EN, "ru": RU}


def language_of(language_code: str | None) -> str:
    """The catalog for a Telegram `language_code` ("ru", "ru-RU", "en-GB"...), English if none."""
    base = (language_code or "en").split("-")[0].lower()
    return base if base in CATALOGS else "en"


def text(key: str, language: str | None = None, **values: object) -> str:
    """The message `key` in `language` (falling back to English), with values HTML-escaped."""
    catalog = CATALOGS[language_of(language)]
    template = catalog.get(key) or EN[key]
    escaped = {
        name: value if isinstance(value, Html) else html.escape(_bounded(str(value)), quote=False)
        for name, value in values.items()
    }
    return template.format(**escaped)


# Values come from users (an option, a ratio, an id): echoing one back must never push a message
# past Telegram's 4096-character limit. Prompts are cut shorter by their callers (`excerpt`).
MAX_VALUE_CHARS = 300


def _bounded(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"


def strip_html(message: str) -> str:
    """A catalog message as plain text (button alerts cannot show HTML)."""
    return html.unescape(re.sub(r"<[^>]+>", "", message))


def excerpt(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary where possible, with an ellipsis."""
    value = " ".join(value.split())
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut + "…"


def duration_words(seconds: float, language: str | None = None) -> str:
    """'3h 12m', '12m', '45s' (in the user's language) — for resets and wait estimates."""
    seconds = max(int(seconds), 0)
    hours, remainder = divmod(seconds, 3600)
    minutes = remainder // 60
    if hours:
        return text("duration_hours", language, hours=hours, minutes=minutes)
    if minutes:
        return text("duration_minutes", language, minutes=minutes)
    return text("duration_seconds", language, seconds=seconds)


def clock(seconds: float) -> str:
    """Elapsed time as m:ss."""
    minutes, secs = divmod(max(int(seconds), 0), 60)
    return f"{minutes}:{secs:02d}"
