"""Settings: read from the environment and `.env` (pydantic-settings).

Names follow the operator contract in the design card; every one is documented in `.env.example`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.catalog.prices import PriceOverrides

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{1,}$")
_DATABASE_URL_RE = re.compile(r"^postgres(?:ql)?://\S*$")
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class StarPack:
    """A Telegram Stars top-up pack: pay `stars`, receive `credits`."""

    __slots__ = ("credits", "stars")

    def __init__(self, stars: int, credits: int) -> None:
        self.stars = stars
        self.credits = credits

    def __repr__(self) -> str:
        return f"StarPack(stars={self.stars}, credits={self.credits})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StarPack) and (self.stars, self.credits) == (other.stars, other.credits)

    def __hash__(self) -> int:
        return hash((self.stars, self.credits))


_ENV = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)
_PRICE_DEFAULTS = PriceOverrides()


class PriceSettings(BaseSettings):
    """The settings that price the catalog: enough for `python -m bot models`, which needs no token.

    The figures' defaults live in one place, bot.catalog.prices.PriceOverrides.
    """

    model_config = _ENV

    # User price = KIE credits x PRICE_MARKUP, rounded up.
    price_markup: float = Field(default=1.0, gt=0)
    # Optional TOML file that shapes the menu: hide, reorder, rename models, per-model markups, fixed
    # prices, "new"/"recommended" marks (see catalog-overrides.example.toml). Checked at start.
    catalog_overrides_file: Path | None = None
    # Prices KIE does not publish (UNCERTAIN in kie-api.md); KIE credits per video.
    price_luma_modify: int = Field(default=_PRICE_DEFAULTS.luma_modify, ge=1)
    price_seedance_lite_per_s: int = Field(default=_PRICE_DEFAULTS.seedance_lite_per_s, ge=1)
    price_seedance_pro_per_s: int = Field(default=_PRICE_DEFAULTS.seedance_pro_per_s, ge=1)
    price_seedance_pro_fast_per_s: int = Field(default=_PRICE_DEFAULTS.seedance_pro_fast_per_s, ge=1)
    price_sora2_15s: int = Field(default=_PRICE_DEFAULTS.sora2_15s, ge=1)
    price_hailuo02_i2v_768p_6s: int = Field(default=_PRICE_DEFAULTS.hailuo02_i2v_768p_6s, ge=1)
    # KIE credits per second of video (UNCERTAIN in kie-api-2026.md).
    price_seedance2_480p_per_s: int = Field(default=_PRICE_DEFAULTS.seedance2_480p_per_s, ge=1)
    price_seedance2_720p_per_s: int = Field(default=_PRICE_DEFAULTS.seedance2_720p_per_s, ge=1)
    price_seedance2_1080p_per_s: int = Field(default=_PRICE_DEFAULTS.seedance2_1080p_per_s, ge=1)
    price_seedance2_fast_480p_per_s: int = Field(default=_PRICE_DEFAULTS.seedance2_fast_480p_per_s, ge=1)
    price_seedance2_fast_720p_per_s: int = Field(default=_PRICE_DEFAULTS.seedance2_fast_720p_per_s, ge=1)
    price_seedance25_1080p_per_s: int = Field(default=_PRICE_DEFAULTS.seedance25_1080p_per_s, ge=1)
    price_wan26_720p_per_s: int = Field(default=_PRICE_DEFAULTS.wan26_720p_per_s, ge=1)
    price_wan26_1080p_per_s: int = Field(default=_PRICE_DEFAULTS.wan26_1080p_per_s, ge=1)

    def price_overrides(self) -> PriceOverrides:
        return PriceOverrides(
            **{name: getattr(self, f"price_{name}") for name in PriceOverrides.field_names()}
        )


class Settings(PriceSettings):
    model_config = _ENV

    # --- Telegram ---
    bot_token: SecretStr
    telegram_api_base: str | None = None
    # Webhook mode: when true, Telegram pushes updates to PUBLIC_URL/tg/webhook.
    telegram_webhook: bool = False
    webhook_secret: SecretStr | None = None
    # Largest file the bot uploads to Telegram. 50 MB on the cloud Bot API; raise it only with a
    # local Bot API server (TELEGRAM_API_BASE), which accepts up to 2000 MB.
    telegram_upload_limit_mb: int = Field(default=50, ge=1, le=2000)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    # A 429 asking to wait up to this many seconds is waited out inside the call; a longer one fails
    # the call (a video delivery is then rescheduled after retry_after, see services/tracker.py).
    telegram_flood_wait_max_s: float = Field(default=60.0, ge=0)
    # Outgoing messages and edits are paced to stay within Telegram's limits (about 30 a second per
    # bot, one a second per chat, 20 a minute per group) instead of running into 429s: at most this many
    # per second for the whole bot and per chat (groups also at most 18 a minute). Deliveries go first,
    # then answers to users, then status-message edits (see bot/telegram/outgoing.py).
    telegram_max_messages_per_s: float = Field(default=25.0, gt=0)
    telegram_max_per_chat_per_s: float = Field(default=1.0, gt=0)

    # --- KIE.ai ---
    kie_api_key: SecretStr | None = None
    kie_api_base: str = "https://api.kie.ai"
    kie_upload_base: str = "https://kieai.redpandaai.co"
    kie_sandbox: bool = False
    kie_webhook_hmac_key: SecretStr | None = None
    kie_create_limit: int = Field(default=20, ge=1)
    kie_create_window_s: float = Field(default=10.0, gt=0)
    # Status calls per second. KIE's docs give two readings of this limit: 10/s per API key
    # (kie-api.md) or 10/s per task id (KIE's 2026 skill text, kie-api-2026.md §1.2 item 3).
    # KIE_STATUS_LIMIT_SCOPE picks one: "key" (default, safe under both readings) makes every status,
    # credit and download-url call share this rate; "task" applies it to each task id on its own.
    kie_status_rps: float = Field(default=10.0, gt=0)
    kie_status_limit_scope: Literal["key", "task"] = "key"
    # KIE balances are decimal (5916.25), so the threshold is too.
    kie_low_balance_warning: Decimal = Field(default=Decimal(1000), ge=0)
    # KIE's model-discovery calls (model list, price, success rate, schema) share 1 request/s per
    # account. Raise it only for a test simulator that allows more.
    kie_discovery_rps: float = Field(default=1.0, gt=0)
    # How often the catalog is checked against KIE's model list (also once at start). Models KIE no
    # longer lists are hidden from the menu until they come back; the admins are told.
    kie_models_check_hours: float = Field(default=6.0, gt=0)
    # true: a model whose success rate KIE reports as not normal is hidden too (false: shown with ⚠️).
    kie_hide_degraded_models: bool = False
    # A KIE callback whose body has not fully arrived after this many seconds is refused (408) and
    # its connection closed, so slow senders cannot hold connections open.
    kie_callback_read_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # Rejected (forged, malformed) callbacks are logged at most once per this many seconds, as a count.
    kie_callback_log_interval_s: float = Field(default=60.0, gt=0)
    # Result downloads go only to public addresses. Exact host:port pairs listed here skip that
    # check (a simulator on 127.0.0.1 in tests); KIE_SANDBOX allows its own simulator by itself.
    result_fetch_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    # --- Credits and payments ---
    signup_bonus: int = Field(default=0, ge=0)
    # Credits given once to every new user so the first video is free (0 = off); set it to the
    # price of one video on a cheap model (see /models).
    free_first_video_credits: int = Field(default=0, ge=0)
    # Credits given to both the inviter and the invited user when the invited user's first paid
    # top-up lands (0 = referrals off: no /invite links are honoured).
    referral_bonus_credits: int = Field(default=0, ge=0)
    # "stars:credits" pairs, comma separated.
    star_packs: Annotated[tuple[StarPack, ...], NoDecode] = (
        StarPack(50, 50),
        StarPack(250, 260),
        StarPack(1000, 1100),
    )

    # --- Jobs ---
    job_timeout_minutes: float = Field(default=30.0, gt=0)
    max_jobs_in_flight: int = Field(default=3, ge=1)
    max_result_mb: int = Field(default=2000, ge=1)
    # Finished videos being downloaded, prepared and uploaded at once; the rest wait in line in the
    # order their jobs finished (services/delivery.py says why a burst is quicker that way).
    delivery_parallel: int = Field(default=8, ge=1)
    # How often a running job's status message refreshes its elapsed time (Telegram allows about one
    # edit a second per chat; parallel jobs share it).
    status_refresh_seconds: float = Field(default=15.0, gt=0)
    # Shrinks every polling interval (1 = KIE's recommended schedule). For tests and benchmarks.
    kie_poll_scale: float = Field(default=1.0, gt=0, le=1)

    # --- Storage, web, logging ---
    database_path: Path = Path("data/bot.sqlite3")
    # How long a write waits for another process's lock on the database before it fails (a Stars
    # payment that still cannot be written is kept in DATABASE_PATH.payments-journal meanwhile).
    database_busy_timeout_ms: int = Field(default=5000, ge=1, le=60_000)
    # postgresql://user:password@host:5432/dbname: the store on PostgreSQL instead of the SQLite file
    # (several bot processes on one database). Unset: SQLite at DATABASE_PATH.
    database_url: SecretStr | None = None
    # Connections each bot process keeps to PostgreSQL (one per database step running at once).
    database_pool_size: int = Field(default=10, ge=1, le=200)
    public_url: str | None = None
    web_host: str = "0.0.0.0"
    web_port: int = Field(default=8080, ge=0, le=65535)

    # --- Several instances on one database ---
    # This instance's name on the work it holds (a job's submission, status check or delivery, the
    # Telegram long poll). Default hostname:WEB_PORT: unique per live process, and the same after a
    # restart, which then takes its old work back at once. Two instances must never share one.
    instance_id: str | None = Field(default=None, min_length=1, max_length=200)
    # How long work held by an instance that died stays held before another instance takes it over
    # (live instances renew every third of it). Also the long-poll leader's lease.
    instance_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    log_level: str = "INFO"

    # --- Several instances (optional) ---
    # redis://[:password@]host:port/db (rediss:// for TLS). When set, open wizards (FSM state and
    # data), the per-user lock, the record of handled Telegram updates and KIE's client-side limits live
    # in Redis and are shared by every instance of the bot; unset, they live in the process.
    redis_url: SecretStr | None = None
    # Every key the bot writes in Redis starts with this (then the bot id, or the KIE account for the
    # KIE limits), so several bots or deployments can share one Redis.
    redis_key_prefix: str = Field(default="kvb", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token (expected 123456:ABC-...)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() == "":
            return None  # `WEBHOOK_SECRET=` in .env means "not set"
        if value is not None and not _WEBHOOK_SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ -")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if not _DATABASE_URL_RE.match(url):
            raise ValueError(
                "expected postgresql://user:password@host:port/dbname (or leave it unset for SQLite)"
            )
        return SecretStr(url)
    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None  # `REDIS_URL=` in .env means "not set"
        if not re.match(r"^(redis|rediss|unix)://\S+$", value.get_secret_value()):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0")
        return value

    @field_validator("telegram_api_base", "public_url", "kie_api_base", "kie_upload_base")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("must be comma-separated Telegram user ids, e.g. 12345,67890") from None
        return value

    @field_validator("star_packs", mode="before")
    @classmethod
    def _parse_star_packs(cls, value: object) -> object:
        if isinstance(value, str):
            packs = []
            for part in (p.strip() for p in value.split(",") if p.strip()):
                try:
                    stars, credits = (int(x) for x in part.split(":"))
                except ValueError:
                    raise ValueError("must be stars:credits pairs, e.g. 50:50,250:260") from None
                if not (1 <= stars <= 2500) or credits < 1:
                    raise ValueError("stars must be 1..2500 and credits at least 1")
                packs.append(StarPack(stars, credits))
            if not packs:
                raise ValueError("needs at least one stars:credits pair")
            return tuple(packs)
        return value

    @field_validator("result_fetch_allow_hosts", mode="before")
    @classmethod
    def _parse_allow_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list | tuple):
            for entry in value:
                host, sep, port = str(entry).rpartition(":")
                if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise ValueError("must be comma-separated host:port pairs, e.g. 127.0.0.1:8081")
            return tuple(str(e) for e in value)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if not self.kie_sandbox and self.kie_api_key is None:
            raise ValueError(
                "KIE_API_KEY is missing: set it, or set KIE_SANDBOX=true to try the bot for free"
            )
        if self.telegram_webhook and not self.public_url:
            raise ValueError("TELEGRAM_WEBHOOK=true needs PUBLIC_URL (the public https base of this server)")
        if self.telegram_webhook and self.webhook_secret is None:
            # Without it anyone who can reach /tg/webhook can forge updates (a /grant "from" an
            # admin, a successful_payment) and mint credits.
            raise ValueError(
                "TELEGRAM_WEBHOOK=true needs WEBHOOK_SECRET, or anyone can forge updates; make one with "
                'python -c "import secrets; print(secrets.token_urlsafe(32))" (see .env.example)'
            )
        return self

    @property
    def upload_limit_bytes(self) -> int:
        return self.telegram_upload_limit_mb * 1024 * 1024

    @property
    def secrets(self) -> list[str]:
        """Every secret value, for the log redaction filter."""
        values = [
            self.bot_token, self.kie_api_key, self.webhook_secret, self.kie_webhook_hmac_key, self.redis_url
        ]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        # A password inside a URL is a secret of its own (it shows up alone in driver errors).
        for url in (self.database_url, self.redis_url):
            if url is not None:
                password = urlsplit(url.get_secret_value()).password
                if password:
                    found.append(password)
        return found


class SettingsError(Exception):
    """A missing or invalid setting, already phrased as one line for the operator."""


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line naming the setting and the fix."""
    first = error.errors()[0]
    name = ".".join(str(p) for p in first.get("loc", ())).upper()
    if first.get("type") == "missing":
        return f"{name} is missing: set it in the environment or in .env (see .env.example)"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if not name:
        return message
    return f"{name} is invalid: {message} (see .env.example)"


def load_price_settings(**overrides: object) -> PriceSettings:
    """Only the price settings (PRICE_*), for commands that need no bot token."""
    try:
        return PriceSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
