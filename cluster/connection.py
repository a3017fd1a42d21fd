"""Redis connections, configured once from settings."""

from __future__ import annotations

from redis.asyncio import Redis

from cluster.settings import Settings


def connect(settings: Settings) -> Redis:
    """A connection pool to the configured Redis, as the ACL user ``JOBFLEET_REDIS_USERNAME``
    with ``JOBFLEET_REDIS_PASSWORD`` (so the URL holds no secret; credentials in the URL win)."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return Redis.from_url(
        settings.redis_url,
        username=settings.redis_username,
        password=password,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
        health_check_interval=5,
    )
