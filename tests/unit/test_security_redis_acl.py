"""Redis as compose runs it: passwords required, the app user confined to the queue's commands.

``compose_redis`` starts redis-server through the redis service's own entrypoint script and ACL
rules from ``compose/compose.yaml``; a real master and worker then run jobs through every
protocol path as the app user, and Redis' ACL log must show that nothing they did was refused.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.retry import Retry

from tests.unit.conftest import WORKER_SETTINGS, settings_env
from tests.unit.helpers import Api, Proc, clean_env, jobfleet_argv
from tests.unit.security_helpers import APP_USER, ComposeRedis, compose_redis, master_process

NO_RETRY = Retry(NoBackoff(), 0)  # a refused password is final: no reconnect loop
FORBIDDEN = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "appendonly", "no"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN", "NOSAVE"),
    ("ACL", "LIST"),
    ("ACL", "SETUSER", APP_USER, "+@all"),
    ("SCRIPT", "FLUSH"),
    ("FUNCTION", "FLUSH"),
    ("MONITOR",),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("INFO",),
    ("SAVE",),
    ("BGREWRITEAOF",),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("MODULE", "LIST"),
    ("MIGRATE", "127.0.0.1", "1", "jf:x", "0", "100"),
    ("PUBLISH", "jf:chan", "x"),
    ("GET", "other:key"),  # outside the jf: prefix
    ("SET", "evil", "1"),
]


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[ComposeRedis]:
    with compose_redis() as server:
        yield server


def app_client(server: ComposeRedis) -> redis.Redis:
    return redis.Redis(port=server.port, username=APP_USER, password=server.app_password)


def admin_client(server: ComposeRedis) -> redis.Redis:
    return redis.Redis(port=server.port, password=server.admin_password)


def test_unauthenticated_and_wrong_passwords_are_refused(acl_redis: ComposeRedis) -> None:
    anonymous = redis.Redis(port=acl_redis.port, protocol=2)  # RESP2: no HELLO, a plain PING
    with anonymous, pytest.raises(AuthenticationError, match="Authentication required"):
        anonymous.ping()
    for username, password in [
        (None, acl_redis.app_password),  # the app password is not the admin's
        (APP_USER, acl_redis.admin_password),
        (APP_USER, "wrong"),
        ("default", "wrong"),
        ("root", acl_redis.admin_password),
    ]:
        client = redis.Redis(
            port=acl_redis.port, username=username, password=password, retry=NO_RETRY
        )
        with client, pytest.raises(AuthenticationError):
            client.ping()


@pytest.mark.parametrize("command", FORBIDDEN, ids=[" ".join(c[:2]) for c in FORBIDDEN])
def test_app_user_cannot_run_admin_or_dangerous_commands(
    acl_redis: ComposeRedis, command: tuple[str, ...]
) -> None:
    # DEBUG is also off altogether (enable-debug-command no): refused before the ACL says so
    refused = ResponseError if command[0] == "DEBUG" else NoPermissionError
    with app_client(acl_redis) as app, pytest.raises(refused, match=r"permissions|not allowed"):
        app.execute_command(*command)


def test_scripts_run_with_the_app_users_rights(acl_redis: ComposeRedis) -> None:
    with app_client(acl_redis) as app:
        for body in ("return redis.call('FLUSHALL')", "return redis.call('KEYS', '*')",
                     "return redis.call('GET', 'other:key')"):  # fmt: skip
            with pytest.raises(
                ResponseError, match=r"user executing the script can't (run|access)"
            ):
                app.eval(body, 0)
        assert app.eval("return redis.call('SET', KEYS[1], 'ok')", 1, "jf:probe") == b"OK"


def test_admin_user_keeps_full_control(acl_redis: ComposeRedis) -> None:
    """What the healthcheck and the chaos suite's negative control run (via REDISCLI_AUTH)."""
    with admin_client(acl_redis) as admin:
        assert admin.ping()
        assert admin.config_get("appendonly")
        admin.config_set("appendfsync", "everysec")


def test_acl_file_holds_only_hashes(acl_redis: ComposeRedis) -> None:
    text = acl_redis.acl_file.read_text()
    assert acl_redis.app_password not in text
    assert acl_redis.admin_password not in text
    assert f"user {APP_USER} on #" in text


def test_master_and_worker_run_every_path_as_the_app_user(
    acl_redis: ComposeRedis, tmp_path: Path
) -> None:
    """Submit, batch, delay, run, fail and retry, cancel, re-queue, drain, read everything:
    Redis' ACL log must stay empty (no command of the protocol is refused)."""
    with admin_client(acl_redis) as admin:
        admin.execute_command("ACL", "LOG", "RESET")
    logs = tmp_path / "logs"
    env = acl_redis.app_env
    with master_process(tmp_path, acl_redis.url, logs, **_lower(env)) as url:
        api = Api(url)
        worker = _worker(acl_redis, logs, tmp_path)
        try:
            _exercise(api, worker)
        finally:
            worker.kill()
            api.close()
    with admin_client(acl_redis) as admin:
        denied = admin.execute_command("ACL", "LOG")
        assert denied == [], denied


def _lower(env: dict[str, str]) -> dict[str, str]:
    return {name.removeprefix("JOBFLEET_").lower(): value for name, value in env.items()}


def _worker(server: ComposeRedis, logs: Path, out: Path) -> Proc:
    settings = {**WORKER_SETTINGS, "redis_url": server.url, "log_dir": logs}
    environ = clean_env(settings_env(settings) | server.app_env)
    return Proc(jobfleet_argv("worker"), environ, out / "worker.log")


def _exercise(api: Api, worker: Proc) -> None:
    ok = api.submit("echo", {"n": 1})
    batch = api.http.post("/jobs/batch", json={"jobs": [{"type": "cpu", "payload": {"ms": 5}}]})
    assert batch.status_code == 202, batch.text
    keyed = api.http.post("/jobs", json={"type": "echo"}, headers={"Idempotency-Key": "k-1"})
    assert keyed.status_code == 202, keyed.text
    failing = api.submit("fail", {"times": 5}, max_attempts=2)
    later = api.submit("echo", delay_s=0.3)
    parked = api.submit("echo", delay_s=3600)
    assert api.http.delete(f"/jobs/{parked}").status_code == 200
    assert api.http.post(f"/jobs/{parked}/retry").status_code == 202
    for job_id in (ok, later, parked, *batch.json()["ids"]):
        assert api.wait_status(job_id, "succeeded", "failed", timeout=30)["status"] == "succeeded"
    assert api.wait_status(failing, "failed", timeout=30)["history"]
    assert api.http.post(f"/jobs/{failing}/retry").status_code == 202
    sleeper = api.submit("sleep", {"seconds": 30})
    api.wait_status(sleeper, "running", timeout=30)
    listings = tuple(f"/jobs?status={s}" for s in ("queued", "running", "succeeded"))
    reads = ("/jobs", *listings, f"/jobs/{ok}", f"/jobs/{ok}/logs", "/queues", "/workers")
    for path in (*reads, "/readyz", "/metrics", "/ui/summary"):
        assert api.http.get(path).status_code == 200, path
    worker.signal(signal.SIGTERM)  # drain: hands the sleeper back (release)
    assert worker.wait(30) == 0
    assert api.wait_status(sleeper, "queued", timeout=10)
