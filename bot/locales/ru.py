"""Russian. Same keys and placeholders as English (bot/locales/en.py); a missing key falls back
to English, and tests/test_locales.py fails on it."""

from __future__ import annotations

from typing import Final

RU: Final[dict[str, str]] = {}
