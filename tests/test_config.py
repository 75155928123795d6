"""Settings: defaults, parsing, and one-line errors naming the variable."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings

pytestmark = pytest.mark.unit

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"


def settings(**values: object):
    return load_settings(_env_file=None, **values)


def test_defaults_need_only_the_two_secrets() -> None:
    loaded = settings(telegram_bot_token=TOKEN, luma_api_key="k")
    assert loaded.luma_api_family == "aiml-v2"
    assert loaded.api_url == "https://api.aimlapi.com"
    assert loaded.database_url == "sqlite:///data/bot.sqlite3"
    assert loaded.daily_quota == 3 and loaded.port == 8080 and loaded.public_url is None


def test_values_are_normalised() -> None:
    loaded = settings(
        telegram_bot_token=TOKEN,
        luma_api_key="k",
        luma_api_url="https://api.umamiai.xyz/v1/",
        public_url="https://bot.example.com/",
        admin_user_ids="1, 22,333",
        log_level="debug",
    )
    assert loaded.luma_api_url == "https://api.umamiai.xyz/v1"
    assert loaded.public_url == "https://bot.example.com"
    assert loaded.admin_user_ids == frozenset({1, 22, 333})
    assert loaded.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("family", "url"),
    [
        ("aiml-v2", "https://api.aimlapi.com"),
        ("aiml-v1", "https://api.aimlapi.com"),
        ("aiml-universal", "https://api.aimlapi.com"),
        ("luma", "https://api.lumalabs.ai/dream-machine/v1"),
    ],
)
def test_each_family_has_its_own_default_address(family: str, url: str) -> None:
    loaded = settings(telegram_bot_token=TOKEN, luma_api_key="k", luma_api_family=family)
    assert loaded.api_url == url
    assert loaded.luma_model is None


def test_postgresql_and_webhook_settings() -> None:
    loaded = settings(
        telegram_bot_token=TOKEN,
        luma_api_key="k",
        database_url="postgresql://bot:pw@db.internal:5432/bot",
        telegram_webhook="true",
        public_url="https://bot.example.com",
        webhook_secret="s3cret_-webhook-token",
        log_format="JSON",
    )
    assert loaded.webhook_url == "https://bot.example.com/telegram/webhook"
    assert "s3cret_-webhook-token" in loaded.secrets() and loaded.log_format == "json"


def test_an_explicit_address_wins_over_the_family_default() -> None:
    loaded = settings(
        telegram_bot_token=TOKEN,
        luma_api_key="k",
        luma_api_family="luma",
        luma_api_url="https://luma-proxy.example.com/dream-machine/v1",
        luma_model="ray-flash-2",
    )
    assert loaded.api_url == "https://luma-proxy.example.com/dream-machine/v1"
    assert loaded.luma_model == "ray-flash-2"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"telegram_bot_token": None}, "TELEGRAM_BOT_TOKEN is required"),
        ({"telegram_bot_token": "nonsense"}, "TELEGRAM_BOT_TOKEN is invalid"),
        ({"luma_api_key": "  "}, "LUMA_API_KEY is invalid"),
        ({"luma_api_url": "ftp://x"}, "LUMA_API_URL is invalid"),
        ({"public_url": "bot.example.com"}, "PUBLIC_URL is invalid"),
        ({"port": "99999"}, "PORT is invalid"),
        ({"delivery_grace_seconds": "-1"}, "DELIVERY_GRACE_SECONDS is invalid"),
        ({"admin_user_ids": "1,bob"}, "ADMIN_USER_IDS is invalid"),
        ({"database_url": "mysql://x/y"}, "DATABASE_URL is invalid"),
        ({"telegram_webhook": "true"}, "TELEGRAM_WEBHOOK=true needs PUBLIC_URL and WEBHOOK_SECRET"),
        ({"webhook_secret": "has spaces but is long enough"}, "WEBHOOK_SECRET is invalid"),
        ({"webhook_secret": "short_secret-15"}, "WEBHOOK_SECRET is invalid"),
        ({"webhook_secret": "x" * 257}, "WEBHOOK_SECRET is invalid"),
        ({"media_signing_key": "fifteen chars.."}, "MEDIA_SIGNING_KEY is invalid"),
        ({"media_signing_key": "1"}, "MEDIA_SIGNING_KEY is invalid"),
        ({"log_format": "xml"}, "LOG_FORMAT is invalid"),
        ({"log_level": "LOUD"}, "LOG_LEVEL is invalid"),
        ({"media_link_ttl": "600"}, "MEDIA_LINK_TTL must be at least GENERATION_TIMEOUT"),
        ({"luma_model": "ray-3"}, "LUMA_MODEL is invalid"),
        (
            {"luma_api_family": "aiml-v1", "luma_model": "ray-2"},
            "LUMA_MODEL cannot be chosen on the aiml-v1 family",
        ),
    ],
)
def test_errors_name_the_variable(values: dict, message: str) -> None:
    merged = {"telegram_bot_token": TOKEN, "luma_api_key": "k"} | values
    with pytest.raises(ConfigError) as caught:
        settings(**{name: value for name, value in merged.items() if value is not None})
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_secrets_of_sixteen_characters_are_accepted() -> None:
    loaded = settings(
        telegram_bot_token=TOKEN,
        luma_api_key="k",
        media_signing_key="sixteen chars ok",
        webhook_secret="Sixteen_chars-ok",
    )
    assert loaded.media_signing_key is not None and loaded.webhook_secret is not None
    assert {"sixteen chars ok", "Sixteen_chars-ok"} <= set(loaded.secrets())


@pytest.mark.parametrize("variable", ["media_signing_key", "webhook_secret"])
def test_a_blank_secret_is_unset_not_an_empty_key(variable: str) -> None:
    # MEDIA_SIGNING_KEY= in a .env file must not sign links with an empty key.
    loaded = settings(telegram_bot_token=TOKEN, luma_api_key="k", **{variable: " "})
    assert getattr(loaded, variable) is None


def test_the_readme_documents_every_setting() -> None:
    from pathlib import Path

    from bot.config import Settings

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert missing == [], f"add these to the README's configuration table: {missing}"


@pytest.mark.parametrize(
    ("value", "packs"),
    [("10:100,50:450", [(10, 100), (50, 450)]), (" 10 : 100 , ", [(10, 100)]), ("", [])],
)
def test_credit_packs_are_credits_colon_stars(value: str, packs: list[tuple[int, int]]) -> None:
    loaded = settings(
        telegram_bot_token=TOKEN, luma_api_key="k", credit_packs=value, support_contact="@help"
    )
    assert [tuple(pack) for pack in loaded.credit_packs] == packs


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"credit_packs": "10:100,ten:5"}, "CREDIT_PACKS is invalid: 'ten:5' is not credits:stars"),
        ({"credit_packs": "10:0"}, "CREDIT_PACKS is invalid: '10:0': credits must be"),
        ({"credit_packs": "10:1,10:2"}, "CREDIT_PACKS is invalid: two packs of 10 credits"),
        ({"credit_packs": "10:100", "support_contact": ""}, "CREDIT_PACKS needs SUPPORT_CONTACT"),
        ({"support_contact": "a\nb"}, "SUPPORT_CONTACT is invalid"),
        ({"referral_credits": "-1"}, "REFERRAL_CREDITS is invalid"),
    ],
)
def test_a_bad_sales_setting_names_its_variable(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(telegram_bot_token=TOKEN, luma_api_key="k", **values)
