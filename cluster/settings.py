"""Every setting of jobfleet, read from ``JOBFLEET_*`` environment variables.

Nothing is read at import time: call :func:`get_settings` (cached) or build ``Settings(...)``
directly in tests.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

QUEUE_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class Settings(BaseSettings):
    """Configuration shared by the master, the workers and the tools."""

    model_config = SettingsConfigDict(env_prefix="JOBFLEET_", extra="ignore")

    # --- Redis -----------------------------------------------------------------------------
    redis_url: str = "redis://localhost:6379/0"
    redis_password: SecretStr | None = None
    redis_username: str | None = None  # an ACL user (compose: `jobfleet`); None = `default`
    key_prefix: str = Field(default="jf", pattern=r"^[A-Za-z0-9_.-]{1,32}$")

    # --- master ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_payload_bytes: int = Field(default=65_536, ge=64)
    max_batch: int = Field(default=5_000, ge=1)
    idempotency_ttl_s: int = Field(default=86_400, ge=1)
    result_ttl_s: int = Field(default=7 * 86_400, ge=60)
    max_payload_depth: int = Field(default=32, ge=1, le=256)  # nesting of objects and arrays

    # --- access and abuse limits (cluster/auth.py, cluster/master/guard.py) ----------------
    # Entries `<sha256 hex>:<scope>+<scope>` (see cluster/auth.py); none at all = open API.
    api_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_tokens_file: Path | None = None
    submit_rate: float = Field(default=2_000.0, ge=0)  # jobs/s per token (or IP); 0 = no limit
    submit_burst: int = Field(default=20_000, ge=1)  # jobs a token may submit at once
    max_queue_depth: int = Field(default=100_000, ge=0)  # ready + scheduled per queue; 0 = any

    # --- queues ----------------------------------------------------------------------------
    queues: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])
    default_max_attempts: int = Field(default=3, ge=1, le=100)
    default_timeout_s: float = Field(default=300.0, gt=0)

    # --- worker ----------------------------------------------------------------------------
    concurrency: int = Field(default=1, ge=1, le=1024)
    lease_s: float = Field(default=5.0, gt=0)
    heartbeat_s: float = Field(default=1.0, gt=0)
    maintenance_s: float = Field(default=0.25, gt=0)
    drain_s: float = Field(default=20.0, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    log_dir: Path = Path("/data/logs")
    heartbeat_file: Path | None = None
    tasks_module: str | None = None
    worker_name: str | None = None
    metrics_port: int = Field(default=0, ge=0, le=65535)  # worker/autoscaler /metrics; 0 = off

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        from cluster.auth import parse_entry, split_entries

        entries = split_entries(value) if isinstance(value, str) else value
        if isinstance(entries, list):
            for entry in entries:
                parse_entry(str(entry))  # refuse a malformed entry at start-up
        return entries

    @field_validator("queues")
    @classmethod
    def _check_queues(cls, value: list[str]) -> list[str]:
        import re

        if not value:
            raise ValueError("at least one queue must be declared")
        for name in value:
            if not re.match(QUEUE_NAME_PATTERN, name):
                raise ValueError(f"invalid queue name {name!r}")
        return value

    @property
    def lease_ms(self) -> int:
        return int(self.lease_s * 1000)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
