"""Logging set-up with secret redaction.

Redaction happens when a record is *created* (a log-record factory), not in one handler's
formatter, so every handler sees clean text: the console, pytest's capture, anything an operator
adds. Exception text is rendered and redacted up front for the same reason: an httpx error
message carries the request URL, and Telegram URLs carry the bot token.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

# Anything shaped like a bot token inside a Telegram URL or on its own.
_TOKEN_SHAPE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
REDACTED = "<redacted>"

_secrets: list[str] = []
_base_factory = logging.getLogRecordFactory()


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPE.sub(REDACTED, text)


def _redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not kill logging
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_redaction(secrets: Iterable[str]) -> None:
    """Redact these exact strings (and any token-shaped text) from every log record."""
    for secret in secrets:
        if secret and secret not in _secrets:
            _secrets.append(secret)
    # Longest first, so a secret containing another is replaced whole.
    _secrets.sort(key=len, reverse=True)
    logging.setLogRecordFactory(_redacting_factory)


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    install_redaction(secrets)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx logs every request URL at INFO, and Telegram URLs contain the token.
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
