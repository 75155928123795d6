"""Settings from environment variables and an optional `.env` file.

Every operator-facing knob lives here. A missing or invalid value is reported as one line naming
the variable (see `load_settings`), never as a traceback.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.llm.client import CHAT_ROUTE
from bot.logs import MIN_SECRET_LENGTH
from bot.luma.models import DURATIONS, MODELS, RESOLUTIONS

# What each price setting may name: the options a request can carry.
PRICED_OPTIONS: dict[str, tuple[str, ...]] = {
    "cost_resolution": RESOLUTIONS,
    "cost_duration": tuple(f"{seconds}s" for seconds in DURATIONS),
    "cost_model": MODELS,
}

# BotFather tokens look like "123456789:AAH...": a numeric bot id, a colon, a secret.
BOT_TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")


class ApiFamily(StrEnum):
    """Which dialect of the video API the client speaks (see docs/architecture.md)."""

    AIML_V2 = "aiml-v2"
    AIML_V1 = "aiml-v1"
    AIML_UNIVERSAL = "aiml-universal"
    LUMA = "luma"

    @property
    def default_url(self) -> str:
        return LUMA_URL if self is ApiFamily.LUMA else AIML_URL


AIML_URL = "https://api.aimlapi.com"
GALLERY_PATH = "/app/"
WEBHOOK_PATH = "/telegram/webhook"
LUMA_URL = "https://api.lumalabs.ai/dream-machine/v1"


class CreditPack(NamedTuple):
    """One pack for sale (`CREDIT_PACKS`): this many credits for this many Telegram Stars."""

    credits: int
    stars: int


# Bounds of a pack: credits fit the buttons' data (`buy:<credits>`, 9 digits at most); the
# price is a Stars amount Telegram can take in one invoice.
MAX_PACK_CREDITS = 1_000_000
MAX_PACK_STARS = 100_000
MAX_SUPPORT_CONTACT = 200


# LLM_API_URL=off turns the prompt helper off.
LLM_OFF = "off"


class LlmEndpoint(NamedTuple):
    """Where the prompt helper's requests go (`Settings.llm`)."""

    url: str  # the OpenAI-style base, e.g. https://api.aimlapi.com/v1
    key: SecretStr


def _host(url: str | None) -> str:
    return urlsplit(url or "").netloc.lower()


class ConfigError(Exception):
    """Raised with a single human-readable line naming the bad variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr
    telegram_api_url: str = "https://api.telegram.org"
    luma_api_key: SecretStr
    # None: the family's own address (ApiFamily.default_url).
    luma_api_url: str | None = None
    luma_api_family: ApiFamily = ApiFamily.AIML_V2
    # None: ray-2 where the family needs a model; the legacy family has no choice of model.
    luma_model: Literal["ray-2", "ray-flash-2"] | None = None
    database_url: str = "sqlite:///data/bot.sqlite3"
    daily_quota: int = Field(default=3, ge=0)
    chat_daily_quota: int = Field(default=0, ge=0)
    # Groups and channels acting as themselves (anonymous admins, posts as a channel, channel
    # posts): their daily allowance. Unset: as DAILY_QUOTA; 0: credits only.
    chat_identity_daily_quota: int | None = Field(default=None, ge=0)
    global_daily_quota: int = Field(default=0, ge=0)
    # Prices in credits (issue 17): a generation costs the product of its options' factors; an
    # option not given (or not listed) counts 1, so a request with no options costs 1.
    cost_resolution: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"540p": 1, "720p": 1, "1080p": 2, "4k": 4}
    )
    cost_duration: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"5s": 1, "9s": 2}
    )
    cost_model: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: {"ray-2": 1, "ray-flash-2": 1}
    )
    # Flat prices in credits of ⬆ Upscale (either size) and 🔊 Add sound, where the family
    # has them.
    cost_upscale: int = Field(default=1, ge=1, le=9999)
    cost_audio: int = Field(default=1, ge=1, le=9999)
    # Credits a referrer gets when someone who started the bot with their link first buys
    # credits; 0: no referral bonus (and /invite says so).
    referral_credits: int = Field(default=0, ge=0)
    admin_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    allowed_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    allowed_chat_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # text: one readable line per record; json: one JSON object per line (job_id included).
    log_format: Literal["text", "json"] = "text"

    # Webhook mode (several replicas behind a load balancer): Telegram POSTs updates to
    # PUBLIC_URL/telegram/webhook; polling stays the default for a single process.
    telegram_webhook: bool = False
    webhook_secret: SecretStr | None = None

    # The bot's own HTTP server: /healthz, and /media links that hand photos to the video API.
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    media_signing_key: SecretStr | None = None
    media_link_ttl: float = Field(default=7200.0, ge=60)
    album_wait_seconds: float = Field(default=1.5, gt=0)
    # /metrics on the public port asks for `Authorization: Bearer METRICS_TOKEN`; with
    # METRICS_PORT it moves to 127.0.0.1:METRICS_PORT (no token) and leaves the public port.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # The gallery Mini App (PUBLIC_URL/app/): how old a Telegram login (initData's auth_date)
    # may be. Telegram hands a fresh one each time the app is opened.
    gallery_auth_max_age: float = Field(default=86400.0, ge=60)

    # Timing knobs: production defaults; tests shrink them to keep the suite fast.
    generation_timeout: float = Field(default=1200.0, gt=0)
    # How long past GENERATION_TIMEOUT delivery (and a step that failed unexpectedly) is retried.
    delivery_grace_seconds: float = Field(default=600.0, ge=0)
    luma_poll_interval: float = Field(default=5.0, gt=0)
    luma_long_poll_seconds: float = Field(default=30.0, gt=0)
    progress_interval: float = Field(default=10.0, gt=0)
    max_concurrent_generations: int = Field(default=10, ge=1)
    # Open connections to the video API (and result downloads) at most; waits queue beyond it.
    luma_max_connections: int = Field(default=500, ge=2)
    max_active_per_user: int = Field(default=2, ge=1)
    # How long a worker's claim on a job lasts without renewal: a killed process's jobs are
    # picked up by the next process after at most this long.
    job_lease_seconds: float = Field(default=60.0, ge=1)
    # Messages one private chat may get in a burst before the bot paces it at one a second
    # (Telegram's per-chat limit, which PTB does not pace); 0 turns the pacing off.
    telegram_private_chat_burst: int = Field(default=3, ge=0)
    # Bytes Telegram accepts per upload: 50 MB on the cloud Bot API, 2000 MB on a local server
    # (telegram-bot-api --local); a larger video is sent as a link.
    telegram_upload_limit: int = Field(default=50 * 1024 * 1024, ge=1, le=2000 * 1024 * 1024)
    # Send a finished video of up to 20 MB as its URL, for Telegram to fetch: the bot moves
    # 64 KB instead of the video twice; an upload whenever Telegram cannot fetch it.
    deliver_by_url: bool = False

    # Selling credits for Telegram Stars (README, "Selling credits"): the packs for sale
    # (`credits:stars,…`; empty: nothing is for sale), where buyers get help (/paysupport,
    # /terms), and how often the bot reads Telegram's list of Stars transactions for a payment
    # whose update was lost.
    credit_packs: Annotated[tuple[CreditPack, ...], NoDecode] = ()
    support_contact: str | None = None
    payments_reconcile_seconds: float = Field(default=600.0, ge=1)
    # A purchase's confirmation that did not go out (a crash, Telegram unreachable) is sent
    # again after this long; the bot looks for such confirmations this often.
    payments_confirm_retry_seconds: float = Field(default=60.0, ge=1)

    # Flood control (README, "Abuse"): each sender may send a burst of FLOOD_BURST messages or
    # button presses, then FLOOD_PER_MINUTE a minute; faster ones are dropped. 0: no limit.
    flood_burst: int = Field(default=10, ge=1)
    flood_per_minute: float = Field(default=30.0, ge=0)

    # /story (README, "Storyboards"): the most shots one story may have.
    story_max_shots: int = Field(default=6, ge=1, le=20)

    # The prompt helper (README, "Prompt helper"): an OpenAI-compatible chat-completions API
    # (`<LLM_API_URL>/chat/completions`). Unset: AI/ML API's own at the video API's root, with
    # the video key, on the aiml-* families; none on `luma`. "off": no helper.
    llm_api_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    # The helper never holds a video up longer than this; then the prompt goes as typed.
    llm_timeout: float = Field(default=20.0, gt=0, le=120)
    # auto: a prompt not in English is translated before it is sent (when a helper exists).
    translate_prompts: Literal["auto", "off"] = "auto"
    # Credits `--enhance` (or the Improve button) adds to a video's cost; never charged when
    # the helper failed.
    cost_enhance: int = Field(default=0, ge=0, le=9999)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not BOT_TOKEN_PATTERN.match(value.get_secret_value().strip()):
            raise ValueError("does not look like a BotFather token (digits:secret)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("luma_api_key")
    @classmethod
    def _key_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty")
        return SecretStr(value.get_secret_value().strip())

    @field_validator(
        "public_url",
        "luma_api_url",
        "luma_model",
        "media_signing_key",
        "webhook_secret",
        "metrics_token",
        "metrics_port",
        "support_contact",
        "llm_api_url",
        "llm_api_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("chat_identity_daily_quota", mode="before")
    @classmethod
    def _blank_quota_is_unset(cls, value: object) -> object:
        # Unset differs from 0 here (0 means credits only), and an empty line means unset.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_api_url", "luma_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("llm_api_url")
    @classmethod
    def _llm_url(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == LLM_OFF:
            return None if value is None else LLM_OFF
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, or {LLM_OFF}")
        # Taken with or without the route itself: the base is what is kept.
        return value.rstrip("/").removesuffix(CHAT_ROUTE).rstrip("/")

    @field_validator("translate_prompts", mode="before")
    @classmethod
    def _lower_choice(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if re.match(r"^postgres(ql)?://[^/\s]+/\S+$", value):
            return value
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(
                "must look like sqlite:///path/to/file.sqlite3 or postgresql://user@host/db"
            )
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # What Telegram accepts as secret_token (1-256 of these), and too long to guess.
        pattern = rf"[A-Za-z0-9_-]{{{MIN_SECRET_LENGTH},256}}"
        if value is not None and not re.fullmatch(pattern, value.get_secret_value()):
            raise ValueError(
                f"must be {MIN_SECRET_LENGTH}-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return value

    @field_validator("media_signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Sent in a header: visible ASCII; long enough not to be guessed.
        pattern = rf"[!-~]{{{MIN_SECRET_LENGTH},}}"
        if value is not None and not re.fullmatch(pattern, value.get_secret_value()):
            raise ValueError(
                f"must be at least {MIN_SECRET_LENGTH} characters, printable ASCII without spaces"
            )
        return value

    @field_validator("admin_user_ids", "allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _comma_separated_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                raise ValueError("must be comma-separated numeric Telegram ids")
            return frozenset(int(part) for part in parts)
        return value

    @field_validator("cost_resolution", "cost_duration", "cost_model", mode="before")
    @classmethod
    def _price_factors(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        known = PRICED_OPTIONS[info.field_name or ""]
        factors: dict[str, int] = {}
        for part in (part.strip() for part in value.split(",") if part.strip()):
            option, _, factor = part.partition(":")
            option = option.strip().lower()
            if option not in known or not re.fullmatch(r"[1-9][0-9]{0,3}", factor.strip()):
                raise ValueError(
                    f"must be comma-separated option:factor pairs (options: {', '.join(known)}; "
                    "factors 1 to 9999), e.g. " + ",".join(f"{o}:1" for o in known)
                )
            factors[option] = int(factor)
        return factors

    @field_validator("credit_packs", mode="before")
    @classmethod
    def _credit_packs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        packs: list[CreditPack] = []
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            match = re.fullmatch(r"([0-9]+)\s*:\s*([0-9]+)", part)
            if match is None:
                raise ValueError(f"{part!r} is not credits:stars; write packs like 10:100,50:450")
            credits, stars = int(match.group(1)), int(match.group(2))
            if not 1 <= credits <= MAX_PACK_CREDITS or not 1 <= stars <= MAX_PACK_STARS:
                raise ValueError(
                    f"{part!r}: credits must be 1-{MAX_PACK_CREDITS} and stars 1-{MAX_PACK_STARS}"
                )
            if any(pack.credits == credits for pack in packs):
                raise ValueError(f"two packs of {credits} credits; each size once")
            packs.append(CreditPack(credits, stars))
        return tuple(packs)

    @field_validator("support_contact")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if "\n" in value or len(value) > MAX_SUPPORT_CONTACT:
            raise ValueError(f"must be one line of at most {MAX_SUPPORT_CONTACT} characters")
        return value

    @model_validator(mode="after")
    def _sales_need_support(self) -> Settings:
        # Telegram asks every bot that takes payments to answer /paysupport.
        if self.credit_packs and self.support_contact is None:
            raise ValueError(
                "CREDIT_PACKS needs SUPPORT_CONTACT (where buyers get help: @username, "
                "e-mail or a link)"
            )
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _webhook_needs_its_parts(self) -> Settings:
        if self.telegram_webhook and (self.public_url is None or self.webhook_secret is None):
            raise ValueError("TELEGRAM_WEBHOOK=true needs PUBLIC_URL and WEBHOOK_SECRET")
        return self

    @model_validator(mode="after")
    def _metrics_port_is_its_own(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("METRICS_PORT must differ from PORT")
        return self

    @property
    def gallery_url(self) -> str | None:
        """Where Telegram opens the gallery Mini App: PUBLIC_URL/app/ when it is https (Telegram
        opens no other), else None (the page is still served, for a browser on the way)."""
        if self.public_url is None or not self.public_url.lower().startswith("https://"):
            return None
        return f"{self.public_url}{GALLERY_PATH}"

    @property
    def webhook_url(self) -> str | None:
        """Where Telegram delivers updates in webhook mode."""
        return f"{self.public_url}{WEBHOOK_PATH}" if self.public_url else None

    @model_validator(mode="after")
    def _model_fits_family(self) -> Settings:
        if self.luma_model is not None and self.luma_api_family is ApiFamily.AIML_V1:
            raise ValueError("LUMA_MODEL cannot be chosen on the aiml-v1 family (ray-1-6 only)")
        return self

    @property
    def api_url(self) -> str:
        """LUMA_API_URL, or the family's own address."""
        return self.luma_api_url or self.luma_api_family.default_url

    @property
    def llm(self) -> LlmEndpoint | None:
        """Where the prompt helper's chat completions go, with which key; None: no helper."""
        if self.llm_api_url == LLM_OFF:
            return None
        if self.llm_api_url is None:
            if self.luma_api_family is ApiFamily.LUMA:
                return None  # Luma sells no chat completions: LLM_API_URL must say where
            # AI/ML API (and its resellers) sell them at the video API's own root.
            return LlmEndpoint(f"{self.api_url}/v1", self._llm_key())
        return LlmEndpoint(self.llm_api_url, self._llm_key())

    def _llm_key(self) -> SecretStr:
        return self.llm_api_key or self.luma_api_key

    @model_validator(mode="after")
    def _llm_key_stays_home(self) -> Settings:
        # The video key goes to the video API's own host only, never to a third party's.
        if (
            self.llm_api_url not in (None, LLM_OFF)
            and self.llm_api_key is None
            and _host(self.llm_api_url) != _host(self.api_url)
        ):
            raise ValueError(
                "LLM_API_URL points to another host than the video API: set LLM_API_KEY "
                "(the video API's key is never sent elsewhere)"
            )
        return self

    @model_validator(mode="after")
    def _links_outlive_jobs(self) -> Settings:
        # A photo link is signed when the job is submitted; the API may fetch it any time before
        # the job's deadline, so a shorter expiry would fail jobs that merely waited in a queue.
        if self.media_link_ttl < self.generation_timeout:
            raise ValueError("MEDIA_LINK_TTL must be at least GENERATION_TIMEOUT")
        return self

    def secrets(self) -> list[str]:
        """Values that must never appear in logs or outgoing text (the token's secret half too:
        it is the secret, whatever comes before it)."""
        token = self.telegram_bot_token.get_secret_value()
        values = [token, token.split(":", 1)[1], self.luma_api_key.get_secret_value()]
        for optional in (
            self.media_signing_key,
            self.webhook_secret,
            self.metrics_token,
            self.llm_api_key,
        ):
            if optional is not None:
                values.append(optional.get_secret_value())
        return values


def load_settings(**overrides: object) -> Settings:
    """Build Settings or raise ConfigError with one line naming the first bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule across variables; its message names them
            raise ConfigError(f"configuration is invalid: {reason}") from None
        variable = str(first["loc"][0]).upper()
        if first["type"] == "missing":
            raise ConfigError(f"{variable} is required but not set") from None
        raise ConfigError(f"{variable} is invalid: {reason}") from None
