"""Logging set-up with secret redaction and the job id on every line about a job.

Redaction happens when a record is *created* (a log-record factory), not in one handler's
formatter, so every handler sees clean text: the console, pytest's capture, anything an operator
adds. Exception text is rendered and redacted up front for the same reason: an httpx error
message carries the request URL, and Telegram URLs carry the bot token.

The worker sets `current_job_id` in each job's task; every record made in it (the worker's, the
API client's, the retry loop's) carries `job_id`. LOG_FORMAT=json writes one JSON object per line
for log pipelines; text shows `[job N]`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import traceback
from collections.abc import Iterable

# Anything shaped like a bot token inside a Telegram URL or on its own.
_TOKEN_SHAPE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
REDACTED = "<redacted>"
# Secrets the operator chooses (MEDIA_SIGNING_KEY, WEBHOOK_SECRET) are refused below this length
# at start, and shorter strings are never redacted: "2024" would vanish from every log line.
MIN_SECRET_LENGTH = 16

_secrets: list[str] = []
current_job_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_job_id", default=None
)
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
    job_id = current_job_id.get()
    record.job_id = job_id
    record.job = f" [job {job_id}]" if job_id is not None else ""
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_redaction(secrets: Iterable[str]) -> None:
    """Redact these exact strings (and any token-shaped text) from every log record; strings
    shorter than MIN_SECRET_LENGTH are ignored (they would mangle ordinary text)."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH and secret not in _secrets:
            _secrets.append(secret)
    # Longest first, so a secret containing another is replaced whole.
    _secrets.sort(key=len, reverse=True)
    logging.setLogRecordFactory(_redacting_factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, job_id, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)  # set by the job-id filter, when in a job
        if job_id is not None:
            entry["job_id"] = job_id
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(job)s: %(message)s"


def configure_logging(level: str, secrets: Iterable[str], log_format: str = "text") -> None:
    install_redaction(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO, and Telegram URLs contain the token.
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
