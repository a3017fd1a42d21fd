"""API tokens against a real master: every way in without the right token is refused.

One master for the module, configured with four tokens (submit / read / admin / all three);
its Redis is the session's (flushed per test by ``flush``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cluster.auth import (
    MAX_TOKEN_CHARS,
    TokenTable,
    generate_token,
    hash_token,
    parse_entry,
    split_entries,
)
from cluster.client import ApiError, Client
from cluster.settings import Settings
from tests.unit.conftest import Fleet
from tests.unit.helpers import clean_env, jobfleet_argv
from tests.unit.security_helpers import Tokens, bearer, master_process

JOB = "0" * 32
# (method, path, body) of every protected operation, and the scope it needs
PROTECTED: list[tuple[str, str, Any, str]] = [
    ("POST", "/jobs", {"type": "echo"}, "submit"),
    ("POST", "/jobs/batch", {"jobs": [{"type": "echo"}]}, "submit"),
    ("GET", "/jobs", None, "read"),
    ("GET", f"/jobs/{JOB}", None, "read"),
    ("GET", f"/jobs/{JOB}/logs", None, "read"),
    ("GET", "/queues", None, "read"),
    ("GET", "/workers", None, "read"),
    ("GET", "/ui/summary", None, "read"),
    ("GET", "/metrics", None, "read"),
    ("DELETE", f"/jobs/{JOB}", None, "admin"),
    ("POST", f"/jobs/{JOB}/retry", None, "admin"),
]
IDS = [f"{method} {path}" for method, path, _, _ in PROTECTED]
UNROUTED: list[tuple[str, str, Any, str]] = [
    ("PATCH", "/jobs", None, "admin"),  # no such route: still needs a token first
    ("POST", "/scale", None, "admin"),  # an operator endpoint added later: admin by default
    ("GET", "/no/such/path", None, "read"),
]


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens.new()


@pytest.fixture(scope="module")
def secured(
    tokens: Tokens, redis_url: str, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    out = tmp_path_factory.mktemp("secured")
    with master_process(out, redis_url, log_dir, api_tokens=tokens.entries) as url:
        yield url


@pytest.fixture
def http(secured: str, flush: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secured, timeout=15) as client:
        yield client


def call(http: httpx.Client, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = bearer(token) if token else {}
    return http.request(method, path, json=body, headers=headers)


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    # one fixed message: it never says whether the token was missing, malformed or unknown
    assert response.json() == {
        "detail": "missing or invalid API token (Authorization: Bearer <token>)"
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "scope"),
    PROTECTED + UNROUTED,
    ids=IDS + [f"{m} {p}" for m, p, _, _ in UNROUTED],
)
def test_no_token_is_401(http: httpx.Client, method: str, path: str, body: Any, scope: str) -> None:
    assert_unauthorized(call(http, method, path, body, None))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer jf_not-a-real-token",
        "Bearer " + generate_token(),  # well-formed, never configured
        "Bearer",
        "Token jf_not-a-real-token",
        "Basic dXNlcjpwYXNz",
        "jf_no-scheme",
        "Bearer " + "x" * (MAX_TOKEN_CHARS + 1),
        "Bearer " + "x" * 20_000,
    ],
    ids=["garbage", "unknown", "no token", "other scheme", "basic", "no scheme", "long", "huge"],
)
def test_wrong_token_is_401(http: httpx.Client, authorization: str) -> None:
    for method, path, body, _ in PROTECTED:
        response = http.request(method, path, json=body, headers={"Authorization": authorization})
        assert_unauthorized(response)


def test_hash_or_prefix_of_a_token_is_not_a_token(http: httpx.Client, tokens: Tokens) -> None:
    """The configured entry (the hash) is useless as a credential, and so are near misses."""
    everything = tokens.everything
    for fake in (hash_token(everything), everything[:-1], everything + "x", everything.upper()):
        assert_unauthorized(call(http, "GET", "/queues", None, fake))


def test_two_authorization_headers_are_401(http: httpx.Client, tokens: Tokens) -> None:
    headers = [("Authorization", f"Bearer {tokens.everything}"), ("Authorization", "Bearer x")]
    assert_unauthorized(http.get("/queues", headers=headers))


@pytest.mark.parametrize(("method", "path", "body", "scope"), PROTECTED, ids=IDS)
def test_wrong_scope_is_403_and_right_scope_passes(
    http: httpx.Client, tokens: Tokens, method: str, path: str, body: Any, scope: str
) -> None:
    by_scope = {"submit": tokens.submit, "read": tokens.read, "admin": tokens.admin}
    for other, token in by_scope.items():
        response = call(http, method, path, body, token)
        if other == scope:
            assert response.status_code not in (401, 403), response.text
        else:
            assert response.status_code == 403, (other, response.text)
            assert response.json() == {"detail": f"this API token lacks the {scope!r} scope"}
            assert f'scope="{scope}"' in response.headers["www-authenticate"]
    assert call(http, method, path, body, tokens.everything).status_code not in (401, 403)


def test_refused_requests_change_nothing(http: httpx.Client, tokens: Tokens) -> None:
    job_id = call(http, "POST", "/jobs", {"type": "echo"}, tokens.submit).json()["id"]
    for token in (None, "wrong", tokens.read, tokens.submit):
        assert call(http, "DELETE", f"/jobs/{job_id}", None, token).status_code in (401, 403)
        assert call(http, "POST", f"/jobs/{job_id}/retry", None, token).status_code in (401, 403)
    for token in (None, "wrong", tokens.read, tokens.admin):
        assert call(http, "POST", "/jobs", {"type": "echo"}, token).status_code in (401, 403)
    listed = call(http, "GET", "/jobs", None, tokens.read).json()["jobs"]
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "queued")]
    cancelled = call(http, "DELETE", f"/jobs/{job_id}", None, tokens.admin)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs", "/ui"])
def test_public_paths_need_no_token(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 200


def test_openapi_declares_bearer_auth(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/jobs"]["post"]["security"] == [{"bearer": []}]
    assert "401" in doc["paths"]["/queues"]["get"]["responses"]
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_client_sends_the_token(secured: str, tokens: Tokens, flush: None) -> None:
    with Client(secured, token=tokens.everything) as client:
        job = client.submit("echo", {"n": 1})
        assert client.job(job["id"])["status"] == "queued"
    with Client(secured, token="") as anonymous, pytest.raises(ApiError, match="-> 401"):
        anonymous.queues()


def test_client_and_cli_read_jobfleet_token(
    secured: str, tokens: Tokens, flush: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBFLEET_TOKEN", tokens.read)
    with Client(secured) as client:
        assert client.queues()
    argv = [*jobfleet_argv("status"), JOB, "--url", secured]
    env = clean_env({"JOBFLEET_TOKEN": tokens.read})
    found = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert "404" in found.stderr  # got past access control
    env = clean_env({"JOBFLEET_TOKEN": tokens.submit})
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 2
    assert "403" in refused.stderr
    flag = subprocess.run(
        [*argv, "--token", tokens.read], env=clean_env({}), capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert "404" in flag.stderr


def test_token_command_prints_a_working_entry() -> None:
    done = subprocess.run(
        [*jobfleet_argv("token"), "--scopes", "read,admin"],
        env=clean_env({}), capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    token, entry = lines["token"], lines["entry"]
    assert token.startswith("jf_") and len(token) >= 40
    assert token not in entry
    parsed = parse_entry(entry)
    assert parsed.scopes == {"read", "admin"}
    assert TokenTable([parsed]).lookup(token) == parsed
    assert TokenTable([parsed]).lookup(token[:-1]) is None
    bad = subprocess.run(
        [*jobfleet_argv("token"), "--scopes", "root"],
        env=clean_env({}), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert bad.returncode == 2


def test_token_file_configures_named_tokens(
    redis_url: str, log_dir: Path, tmp_path: Path, flush: None
) -> None:
    token = generate_token()
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(
        json.dumps([{"sha256": hash_token(token), "scopes": ["read"], "name": "dashboard"}])
    )
    with master_process(tmp_path, redis_url, log_dir, api_tokens_file=tokens_file) as url:
        assert httpx.get(f"{url}/queues", headers=bearer(token)).status_code == 200
        assert httpx.get(f"{url}/queues").status_code == 401
        refused = httpx.post(f"{url}/jobs", json={"type": "echo"}, headers=bearer(token))
        assert refused.status_code == 403


@pytest.mark.parametrize(
    "entry",
    ["abc:read", "0" * 64, "0" * 64 + ":", "0" * 64 + ":root", "0" * 63 + "g:read", "x" * 64],
)
def test_malformed_entries_are_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_entry(entry)
    with pytest.raises(ValueError):
        Settings(api_tokens=entry)  # type: ignore[arg-type]


def test_entries_split_on_commas_and_whitespace() -> None:
    a, b = hash_token("a"), hash_token("b")
    assert split_entries(f" {a}:read,{b}:submit+admin\n") == [f"{a}:read", f"{b}:submit+admin"]
    settings = Settings(api_tokens=f"{a}:read, {b}:admin")  # type: ignore[arg-type]
    table = TokenTable.from_config(settings.api_tokens, None)
    assert table.lookup("a") is not None and table.lookup("b") is not None
    assert Settings(api_tokens="").api_tokens == []  # type: ignore[arg-type]


def test_open_master_needs_no_token(fleet: Fleet) -> None:
    """Without tokens (the session master) nothing asks for one, and nothing declares it."""
    assert httpx.get(f"{fleet.master_url}/queues").status_code == 200
    doc = orjson.loads(httpx.get(f"{fleet.master_url}/openapi.json").content)
    assert "securitySchemes" not in doc["components"]
