"""The catalogs in bot/locales/: every language has English's keys and placeholders, valid HTML."""

from __future__ import annotations

import string

import pytest

from bot.locales.en import EN
from bot.locales.ru import RU
from bot.texts import CATALOGS, text
from playground.fake_telegram import parse_html

pytestmark = pytest.mark.unit

OTHER_LANGUAGES = sorted(language for language in CATALOGS if language != "en")
COMMAND_KEYS = sorted(key for key in EN if key.startswith("command_"))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def dummies(key: str) -> dict[str, str]:
    return {name: f"x{index}" for index, name in enumerate(sorted(placeholders(EN[key])))}


def hostile_samples(key: str) -> dict[str, str]:
    """Values a user could type (echoed prompts, options, ids): markup that must be escaped."""
    return {name: f"<b>x{index} & </i>" for index, name in enumerate(sorted(placeholders(EN[key])))}


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_language_has_exactly_the_english_keys(language: str) -> None:
    keys = set(CATALOGS[language])
    assert not set(EN) - keys, "missing"
    assert not keys - set(EN), "extra"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
@pytest.mark.parametrize("key", sorted(EN))
def test_placeholders_match_english(language: str, key: str) -> None:
    assert placeholders(CATALOGS[language][key]) == placeholders(EN[key])


@pytest.mark.parametrize("language", sorted(CATALOGS))
@pytest.mark.parametrize("key", sorted(EN))
def test_every_message_is_valid_telegram_html(language: str, key: str) -> None:
    # The fake Bot API's parser: only Telegram's tags, balanced, entities escaped; raises if not.
    parse_html(text(key, language, **dummies(key)))
    plain, _ = parse_html(text(key, language, **hostile_samples(key)))
    assert all(f"<b>x{index} & </i>" in plain for index in range(len(placeholders(EN[key]))))


@pytest.mark.parametrize("language", ["ru", "ru-RU", "RU"])
def test_russian_language_codes_pick_russian(language: str) -> None:
    assert text("button_extend", language) == RU["button_extend"]


@pytest.mark.parametrize("language", ["de", None])
def test_other_languages_fall_back_to_english(language: str | None) -> None:
    assert text("button_extend", language) == EN["button_extend"]


@pytest.mark.parametrize("language", sorted(CATALOGS))
@pytest.mark.parametrize("key", COMMAND_KEYS)
def test_command_descriptions_fit_botfather(language: str, key: str) -> None:
    description = CATALOGS[language][key]
    assert "<" not in description and ">" not in description and "&" not in description
    assert 3 <= len(description) <= 256
