"""Signed links: photo links and callback links share one signer but never pass for each other."""

from __future__ import annotations

import time

import pytest

from bot.links import LinkSigner, MediaRef

pytestmark = pytest.mark.unit

BASE = "https://bot.example.com"


def signer(key: bytes = b"k" * 32) -> LinkSigner:
    return LinkSigner(public_url=BASE, key=key, ttl=3600)


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_a_callback_link_names_its_job_until_it_expires() -> None:
    link = signer().callback_link(42, expires=time.time() + 60)
    assert link.startswith(f"{BASE}/callbacks/")
    assert signer().verify_callback(token_of(link)) == 42
    assert signer().verify_callback(token_of(link), now=time.time() + 120) is None
    assert signer(b"other" * 8).verify_callback(token_of(link)) is None


def test_one_kind_of_link_never_passes_for_the_other() -> None:
    photo = signer().link(MediaRef("file-1", "image/jpeg"))
    callback = signer().callback_link(7, expires=time.time() + 60)
    photo_token = token_of(photo)
    assert signer().verify(photo_token) == MediaRef("file-1", "image/jpeg")
    assert signer().verify_callback(photo_token) is None
    assert signer().verify_callback(photo_token.rsplit(".", 1)[0]) is None
    assert signer().verify(token_of(callback) + ".jpg") is None


def test_tampering_is_refused() -> None:
    link = signer().callback_link(7, expires=time.time() + 60)
    payload, signature = token_of(link).split(".")
    assert signer().verify_callback(f"{payload}.{signature[::-1]}") is None
    assert signer().verify_callback(f"{payload}x.{signature}") is None
    assert signer().verify_callback("garbage") is None
    assert signer().verify_callback("") is None
