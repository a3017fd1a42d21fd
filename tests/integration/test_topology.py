"""The compose stack as deployed: health, scaling, resource limits, hardening, network.

Checked from the engine's side (``docker inspect`` through the Docker SDK), not from compose's
own view of its file, so a setting compose silently drops would be caught.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.integration.stack import (
    PROJECT_LABEL,
    SERVICES,
    WORKERS,
    Stack,
    eventually,
)

pytestmark = pytest.mark.integration

SCALED = 5
NANO_CPUS = 500_000_000  # cpus: 0.5
MEMORY = 134_217_728  # 128 MiB
APP_UID = "10001"


def _all_healthy(stack: Stack, workers: int) -> None:
    for service in ("redis", "master"):
        container = stack.service(service)
        assert stack.health(container) == "healthy", f"{container.name} not healthy"
    found = stack.workers()
    assert len(found) == workers, [c.name for c in found]
    assert len(stack.workers(running=False)) == workers, "stopped worker containers linger"
    for container in found:
        assert stack.health(container) == "healthy", f"{container.name} not healthy"


def _live_workers(stack: Stack) -> int:
    response = stack.http.get("/workers")
    assert response.status_code == 200, response.text
    return len(response.json()["workers"])


def test_services_healthy_and_scale(stack: Stack) -> None:
    _all_healthy(stack, WORKERS)
    eventually(lambda: _live_workers(stack) >= WORKERS, 60, f"{WORKERS} live workers")
    try:
        stack.up("--scale", f"worker={SCALED}")
        _all_healthy(stack, SCALED)
        eventually(lambda: _live_workers(stack) >= SCALED, 60, f"{SCALED} live workers")
        # the new workers find Redis by name and take work
        job_ids = [stack.submit("echo", {"n": n}) for n in range(SCALED * 2)]
        for job_id in job_ids:
            stack.wait_job(job_id)
    finally:
        stack.up("--scale", f"worker={WORKERS}")
    _all_healthy(stack, WORKERS)


def test_idle_worker_memory(stack: Stack) -> None:
    """Not a performance assertion: prints what ``docker stats`` says an idle worker uses."""
    names = [str(c.name) for c in stack.workers()]
    fmt = "{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}"
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", fmt, *names],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    print(f"\n[integration] idle workers (docker stats --no-stream):\n{out}")
    for line in out.splitlines():
        assert line.split("\t")[1].endswith("/ 128MiB"), f"limit not in effect: {line}"


def _hardening(container: Any) -> None:
    host: dict[str, Any] = container.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True, container.name
    assert host["CapDrop"] == ["ALL"], (container.name, host["CapDrop"])
    assert not host.get("CapAdd"), (container.name, host["CapAdd"])
    assert "no-new-privileges:true" in (host.get("SecurityOpt") or []), container.name
    assert host["Init"] is True, container.name
    assert host["Privileged"] is False, container.name
    user = str(container.attrs["Config"]["User"])
    assert user and user.split(":", maxsplit=1)[0] not in ("0", "root"), (container.name, user)


@pytest.mark.parametrize("service", SERVICES)
def test_hardening(stack: Stack, service: str) -> None:
    """Every service: read-only rootfs, no capabilities, no setuid, tini, a non-root user
    that the running process really has."""
    for container in stack.containers(service):
        _hardening(container)
        assert stack.exec(container, "id", "-u").strip() != "0", container.name


def test_worker_limits(stack: Stack) -> None:
    workers = stack.workers()
    assert len(workers) == WORKERS
    for container in workers:
        host: dict[str, Any] = container.attrs["HostConfig"]
        assert host["NanoCpus"] == NANO_CPUS, (container.name, host["NanoCpus"])
        assert host["Memory"] == MEMORY, (container.name, host["Memory"])
        assert host["MemorySwap"] == MEMORY, (container.name, host["MemorySwap"])  # no swap
        assert (host["PidsLimit"] or 0) > 0, (container.name, host["PidsLimit"])
        assert container.attrs["Config"]["User"].split(":", maxsplit=1)[0] == APP_UID
        assert stack.exec(container, "id", "-u").strip() == APP_UID
        # every process, not just the exec'd one: tini (PID 1), the worker, its children
        status = stack.exec(container, "sh", "-c", "grep -h '^Uid:' /proc/[0-9]*/status")
        uids = [line.split()[1:] for line in status.splitlines()]
        assert len(uids) >= 2 and all(u == [APP_UID] * 4 for u in uids), uids


def test_network_and_ports(stack: Stack) -> None:
    containers = stack.containers()
    assert {c.labels["com.docker.compose.service"] for c in containers} == set(SERVICES)
    networks: set[str] = set()
    for container in containers:
        attached = set(container.attrs["NetworkSettings"]["Networks"])
        assert len(attached) == 1, (container.name, attached)
        networks |= attached
    assert len(networks) == 1, networks  # all services share one network
    (name,) = networks
    network = stack.docker.networks.get(name)
    assert name.endswith("jobfleet-net"), name
    assert network.attrs["Driver"] == "bridge", network.attrs["Driver"]
    assert network.attrs["Labels"][PROJECT_LABEL] == stack.project  # ours, not "bridge"

    published = {
        str(c.name): {
            port: binding
            for port, binding in (c.attrs["NetworkSettings"]["Ports"] or {}).items()
            if binding
        }
        for c in containers
    }
    master = str(stack.service("master").name)
    assert all(not ports for name, ports in published.items() if name != master), published
    assert published[master] == {
        "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(stack.port)}]
    }, published[master]
    redis_bindings = stack.service("redis").attrs["HostConfig"]["PortBindings"]
    assert not redis_bindings, redis_bindings


def test_master_reaches_redis_by_name(stack: Stack) -> None:
    assert stack.http.get("/readyz").status_code == 200
    master = stack.service("master")
    stack.exec(master, "python", "-c", "import socket; socket.getaddrinfo('redis', 6379)")
    stack.exec(
        master, "python", "-c", "import socket; socket.create_connection(('redis', 6379), 5)"
    )
