"""Redis connections, configured once from settings."""

from __future__ import annotations

from redis.asyncio import Redis

from cluster.settings import Settings


def connect(settings: Settings) -> Redis:
    """A connection pool to the configured Redis (password from settings if set)."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return Redis.from_url(
        settings.redis_url,
        password=password,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
        health_check_interval=5,
    )
