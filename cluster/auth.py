"""API tokens: generate one, hash it, parse the configured entries, check a presented token.

A token is ``jf_`` followed by 43 URL-safe characters (256 random bits). The master never
stores a token, only its SHA-256: an entry is ``<sha256 hex>:<scope>+<scope>``, e.g.
``9f86d0...0f00a08:submit+read``. Scopes:

- ``submit``  POST /jobs, POST /jobs/batch
- ``read``    every GET (jobs, logs, queues, workers)
- ``admin``   every other change: cancel (DELETE /jobs/{id}), retry, and any later operator
  endpoint (scale, ...). Scopes do not imply each other; give a token all it needs.

Entries come from ``JOBFLEET_API_TOKENS`` (comma or whitespace separated) and/or the JSON file
named by ``JOBFLEET_API_TOKENS_FILE`` (a list of entry strings, or of objects
``{"sha256": "<hex>", "scopes": ["read"], "name": "ci"}``). With no entry at all the API is open.

``jobfleet token --scopes submit,read`` (or ``python -m cluster.auth``) prints a new token and
its entry.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCOPES = ("submit", "read", "admin")
TOKEN_PREFIX = "jf_"
MAX_TOKEN_CHARS = 256  # longer Authorization values are refused without hashing them
_ENTRY = re.compile(r"^(?P<digest>[0-9a-f]{64}):(?P<scopes>[a-z+]+)$")
_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class TokenEntry:
    """One configured token: its hash, what it may do, and a label for logs and rate limits."""

    digest: bytes
    scopes: frozenset[str]
    name: str = ""

    @property
    def subject(self) -> str:
        """Who is rate-limited: the token's name, else the first 16 hex digits of its hash."""
        return self.name or self.digest.hex()[:16]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _scopes(raw: Iterable[str], where: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in raw if s.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise ValueError(f"{where}: scopes must be some of {', '.join(SCOPES)} (got {sorted(raw)})")
    return scopes


def parse_entry(text: str) -> TokenEntry:
    """``<sha256 hex>:<scope>+<scope>`` -> entry; ValueError (without the hash) if malformed."""
    found = _ENTRY.match(text.strip().lower())
    if found is None:
        raise ValueError("an API token entry is '<64 hex digits of sha256>:<scope>+<scope>'")
    digest = bytes.fromhex(found["digest"])
    return TokenEntry(digest, _scopes(found["scopes"].split("+"), "API token entry"))


def split_entries(value: str) -> list[str]:
    """``JOBFLEET_API_TOKENS`` as a list: entries separated by commas or whitespace."""
    return [part for part in _SPLIT.split(value) if part]


def _file_entry(item: Any, number: int) -> TokenEntry:
    if isinstance(item, str):
        return parse_entry(item)
    if not isinstance(item, dict) or not isinstance(item.get("sha256"), str):
        raise ValueError(f"token file entry {number}: expected a string or {{'sha256', 'scopes'}}")
    scopes = item.get("scopes", [])
    if not isinstance(scopes, list):
        raise ValueError(f"token file entry {number}: scopes must be a list")
    entry = parse_entry(f"{item['sha256']}:{'+'.join(str(s) for s in scopes)}")
    return TokenEntry(entry.digest, entry.scopes, str(item.get("name") or ""))


def load_token_file(path: Path) -> list[TokenEntry]:
    """The entries of a JSON token file (see the module docstring)."""
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of token entries")
    return [_file_entry(item, number) for number, item in enumerate(data)]


class TokenTable:
    """The configured tokens. ``lookup`` compares hashes in constant time and never stops at
    the first match, so the time taken says nothing about which entry (if any) matched."""

    def __init__(self, entries: Sequence[TokenEntry]) -> None:
        self.entries = tuple(entries)

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    @classmethod
    def from_config(cls, entries: Iterable[str], path: Path | None) -> TokenTable:
        parsed = [parse_entry(text) for text in entries]
        if path is not None:
            parsed += load_token_file(path)
        return cls(parsed)

    def lookup(self, token: str) -> TokenEntry | None:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        found: TokenEntry | None = None
        for entry in self.entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return found


def main(argv: list[str] | None = None) -> int:
    """Print a new token and the entry that configures it."""
    parser = argparse.ArgumentParser(
        prog="jobfleet token", description="Generate an API token and its hashed entry."
    )
    parser.add_argument(
        "--scopes",
        default="submit,read",
        help=f"comma or + separated, some of {', '.join(SCOPES)} (default submit,read)",
    )
    args = parser.parse_args(argv)
    try:
        scopes = _scopes(re.split(r"[,+]", args.scopes), "--scopes")
    except ValueError as exc:
        parser.error(str(exc))
    token = generate_token()
    entry = f"{hash_token(token)}:{'+'.join(s for s in SCOPES if s in scopes)}"
    sys.stdout.write(
        f"token: {token}\n"
        f"entry: {entry}\n"
        "\n"
        "Give the token to the client (JOBFLEET_TOKEN=... or Authorization: Bearer ...).\n"
        "Add the entry to the master's JOBFLEET_API_TOKENS (comma separated) and restart it;\n"
        "the token itself is not stored anywhere and cannot be shown again.\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
