"""Configuration from the environment (every variable starts with ``O2O_``).

The README's configuration table lists these; keep the two in step.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "o2o-development-secret-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="O2O_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="sqlite:///./var/o2o.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    secret_key: str = Field(default=DEV_SECRET, description="Keys tokens, CSRF and identity-number hashes")
    var_dir: Path = Path("./var")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    log_format: Literal["console", "json"] = "console"

    inprocess_worker: bool = True
    worker_tick_seconds: float = 1.0

    demo_seed_on_start: bool = True
    demo_size: Literal["small", "medium", "large"] = "small"
    demo_seed: int = 42

    default_region: str = "CN"
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_max_per_hour: int = 5
    session_ttl_days: int = 30
    idempotency_ttl_hours: int = 24
    sms_backend: Literal["outbox"] = "outbox"

    public_url: str = Field(
        default="", description="Base URL the outside world (payment channels, cashiers) uses to reach us"
    )
    payment_timeout_minutes: int = 15
    # Orders: a checkout holds its units this long; an order unpaid (or not accepted by the shop) this long
    # after it was placed (paid) is canceled, and a paid one refunded.
    stock_hold_minutes: int = Field(default=10, ge=1, le=24 * 60)
    order_unpaid_minutes: int = Field(default=15, ge=1, le=24 * 60)
    order_accept_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # Group-buy vouchers: a redemption can be undone this long, then it settles to the merchant.
    voucher_undo_minutes: int = Field(default=10, ge=0, le=24 * 60)
    channel_sim_seed: int = 7
    channel_sim_duplicate_rate: float = 0.3
    channel_sim_tamper_rate: float = 0.15
    channel_sim_max_delay_seconds: float = 5.0

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.env == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("O2O_SECRET_KEY must be set to a private value when O2O_ENV=production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        """``public_url``, or where ``o2o serve`` listens."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def dev_tools_enabled(self) -> bool:
        """The SMS outbox page and friends exist only out of production."""
        return self.env != "production"


@functools.lru_cache
def get_settings() -> Settings:
    return Settings()
