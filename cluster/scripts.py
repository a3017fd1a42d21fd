"""The Lua scripts of the queue protocol, loaded once per connection and called by name.

Each script lives in ``cluster/scripts/<name>.lua`` with a header listing its KEYS and ARGV.
``redis-py`` sends them with EVALSHA and re-loads them transparently after a Redis restart
(NOSCRIPT), so callers never see the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

SCRIPT_NAMES = (
    "submit",
    "claim",
    "finish",
    "renew",
    "maintain",
    "release",
    "cancel",
    "retry",
    "list_queued",
)


def script_source(name: str) -> str:
    """The text of one script, read from the installed package."""
    return (resources.files("cluster") / "scripts" / f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Scripts:
    """One registered script per protocol transition."""

    submit: AsyncScript
    claim: AsyncScript
    finish: AsyncScript
    renew: AsyncScript
    maintain: AsyncScript
    release: AsyncScript
    cancel: AsyncScript
    retry: AsyncScript
    list_queued: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
        return cls(**{name: redis.register_script(script_source(name)) for name in SCRIPT_NAMES})

    def all(self) -> list[AsyncScript]:
        return [getattr(self, name) for name in SCRIPT_NAMES]

    async def load(self, redis: Redis) -> None:
        """Load every script now (at start-up), so the first job pays nothing."""
        for name in SCRIPT_NAMES:
            await redis.script_load(script_source(name))

    async def loaded(self, redis: Redis) -> bool:
        """Whether Redis holds every script (readiness)."""
        found: list[Any] = await redis.script_exists(*(s.sha for s in self.all()))
        return all(found)
