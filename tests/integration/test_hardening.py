"""Least privilege in the running stack, checked with ``docker inspect`` and from inside it.

Every service: non-root, read-only root fs with only a small /tmp tmpfs, no capabilities,
no-new-privileges, only the volumes it needs (the master reads the logs read-only), no Docker
socket. Redis: password required, the app user limited to the queue's commands, the admin
user reachable only inside the redis container (REDISCLI_AUTH), memory bounded (noeviction).
(``test_topology`` checks the published ports and the network.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.stack import SERVICES, Stack

pytestmark = pytest.mark.integration

VOLUMES = {  # service -> {mount point: writable}
    "redis": {"/data": True},
    "master": {"/data/logs": False},
    "worker": {"/data/logs": True},
}
APP_PROBE = """
import os, redis
from redis.exceptions import NoPermissionError
app = redis.Redis(host="redis", username=os.environ["JOBFLEET_REDIS_USERNAME"],
                  password=os.environ["JOBFLEET_REDIS_PASSWORD"])
assert app.ping()
for command in (["FLUSHALL"], ["CONFIG", "GET", "*"], ["KEYS", "*"], ["SHUTDOWN"],
                ["ACL", "LIST"], ["DEBUG", "SLEEP", "0"], ["GET", "other:key"]):
    try:
        app.execute_command(*command)
    except NoPermissionError:
        continue
    except redis.ResponseError as exc:
        assert "DEBUG" in command and "not allowed" in str(exc), (command, exc)
        continue
    raise SystemExit(f"app user may run {command}")
print("refused")
"""
ANONYMOUS_PROBE = """
import socket
with socket.create_connection(("redis", 6379), 5) as sock:
    sock.sendall(b"PING\\r\\nFLUSHALL\\r\\n")
    print(sock.recv(200).decode())
"""


def env_of(container: Any) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in container.attrs["Config"]["Env"] or [])
    return {name: value for name, value in pairs}


@pytest.mark.parametrize("service", SERVICES)
def test_least_privilege(stack: Stack, service: str) -> None:
    for container in stack.containers(service):
        host: dict[str, Any] = container.attrs["HostConfig"]
        user = str(container.attrs["Config"]["User"])
        assert user.split(":", maxsplit=1)[0] not in ("", "0", "root"), (container.name, user)
        assert host["ReadonlyRootfs"] is True, container.name
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd"), container.name
        assert "no-new-privileges:true" in (host.get("SecurityOpt") or []), container.name
        assert host["Privileged"] is False, container.name
        assert set(host.get("Tmpfs") or {}) == {"/tmp"}, host.get("Tmpfs")
        mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
        assert {d: m["RW"] for d, m in mounts.items()} == VOLUMES[service], mounts
        assert all(m["Type"] == "volume" for m in mounts.values()), mounts  # no host paths
        assert not any("docker.sock" in str(m.get("Source")) for m in mounts.values())
        assert not any("docker.sock" in bind for bind in host.get("Binds") or [])


def test_master_cannot_write_the_logs(stack: Stack) -> None:
    master = stack.service("master")
    code, output = master.exec_run(["sh", "-c", "touch /data/logs/x"])
    assert code != 0 and b"Read-only file system" in output, output
    code, output = master.exec_run(["sh", "-c", "touch /etc/x"])
    assert code != 0, output


def test_secrets_are_where_they_are_needed_only(stack: Stack) -> None:
    redis_env = env_of(stack.service("redis"))
    assert redis_env.get("REDISCLI_AUTH"), "the admin password must be in the redis container"
    assert "JOBFLEET_REDIS_PASSWORD" not in redis_env  # it holds only the app password's hash
    assert len(redis_env["JOBFLEET_REDIS_APP_PASSWORD_SHA256"]) == 64
    for container in [stack.service("master"), *stack.workers()]:
        env = env_of(container)
        assert env["JOBFLEET_REDIS_USERNAME"] == "jobfleet", container.name
        assert len(env["JOBFLEET_REDIS_PASSWORD"]) >= 16, container.name
        assert "REDISCLI_AUTH" not in env, container.name
        assert env["JOBFLEET_REDIS_PASSWORD"] != redis_env["REDISCLI_AUTH"]


def test_redis_refuses_clients_without_a_password(stack: Stack) -> None:
    out = stack.exec(stack.service("master"), "python", "-c", ANONYMOUS_PROBE)
    assert out.startswith("-NOAUTH"), out
    assert "+PONG" not in out and "+OK" not in out, out


def test_app_user_cannot_run_forbidden_commands(stack: Stack) -> None:
    for container in (stack.service("master"), stack.workers()[0]):
        assert stack.exec(container, "python", "-c", APP_PROBE).strip() == "refused"


def test_admin_in_the_redis_container_and_memory_bound(stack: Stack) -> None:
    """What the healthcheck and the chaos negative control use: redis-cli with REDISCLI_AUTH."""
    redis = stack.service("redis")
    assert stack.exec(redis, "redis-cli", "ping").strip() == "PONG"
    maxmemory = stack.exec(redis, "redis-cli", "config", "get", "maxmemory").split()
    assert maxmemory[0] == "maxmemory" and int(maxmemory[1]) > 0, maxmemory
    policy = stack.exec(redis, "redis-cli", "config", "get", "maxmemory-policy").split()
    assert policy == ["maxmemory-policy", "noeviction"], policy
    rules = stack.exec(redis, "redis-cli", "acl", "getuser", "jobfleet")
    assert "-@all" in rules and "~jf:*" in rules, rules
    _, output = redis.exec_run(["redis-cli", "--no-auth-warning", "-a", "wrong", "ping"])
    assert b"WRONGPASS" in output or b"AUTH failed" in output, output


def test_jobs_still_run_as_the_app_user(stack: Stack) -> None:
    redis = stack.service("redis")
    stack.exec(redis, "redis-cli", "acl", "log", "reset")  # the probes above were logged
    job_id = stack.submit("echo", {"hardened": True})
    assert stack.wait_job(job_id)["result"] == {"hardened": True}
    for path in ("/queues", "/workers", f"/jobs/{job_id}/logs", "/jobs?status=succeeded"):
        assert stack.http.get(path).status_code == 200, path
    out = stack.exec(redis, "redis-cli", "acl", "log")
    assert out.strip() == "", f"Redis refused commands of the app: {out[:2000]}"
