"""Secrets never reach a log record, whatever handler reads it."""

from __future__ import annotations

import logging

import pytest

from bot.logs import REDACTED, install_redaction, redact

pytestmark = pytest.mark.unit

TOKEN = "987654:TEST_secret_token_value_abcdefghijkl"


def test_token_shapes_and_known_secrets_are_redacted() -> None:
    install_redaction(["luma-secret-key-42"])
    line = f"GET https://api.telegram.org/bot{TOKEN}/getMe with luma-secret-key-42"
    assert redact(line) == f"GET https://api.telegram.org/bot{REDACTED}/getMe with {REDACTED}"


def test_records_are_clean_for_every_handler(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction(["luma-secret-key-42"])
    logger = logging.getLogger("test.redaction")
    with caplog.at_level(logging.INFO):
        logger.info("url %s key %s", f"/file/bot{TOKEN}/photo.jpg", "luma-secret-key-42")
        try:
            raise RuntimeError(f"request to /bot{TOKEN}/sendVideo failed")
        except RuntimeError:
            logger.exception("boom")
    assert TOKEN not in caplog.text
    assert "luma-secret-key-42" not in caplog.text
    assert REDACTED in caplog.text


def test_secrets_too_short_to_be_secret_are_never_registered() -> None:
    # A short secret would be "redacted" out of every ordinary number or word in the logs:
    # MEDIA_SIGNING_KEY=2024 would turn "job 2024 delivered" into "job <redacted> delivered".
    install_redaction(["2024", "abc", "fifteen-chars-x"])
    line = "job 2024 delivered at 12:00 (abc) fifteen-chars-xy"
    assert redact(line) == line
