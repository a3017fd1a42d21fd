"""The session's compose stack: started once from ``compose/compose.yaml``, shared by every
integration test, torn down with ``down -v`` afterwards whether the tests passed or not.

Isolation: a fresh project name (``jfit<random>``) and a free loopback port, given to compose
both as environment variables (they win over a developer's ``compose/.env`` and over the
file's top-level ``name:``) and as the ``--env-file`` testcontainers passes. Nothing is ever
pulled (there is no registry): the images must already exist (``tools/build_images.sh``,
which ``nox -s integration`` runs first), ``pull=False``/``build=False``, and ryuk is off.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.errors import DockerException, ImageNotFound, NotFound
from testcontainers.compose import DockerCompose

from tests.integration.stack import (
    COMPOSE_DIR,
    COMPOSE_FILE,
    PROJECT_LABEL,
    ROOT,
    WORKERS,
    Stack,
)
from tests.redis_server import free_port

REPO_DOCKER_CONFIG = ROOT / ".docker"  # where noxfile.ensure_compose installs Compose v2


def _docker_client() -> Any:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        pytest.fail(f"no Docker engine reachable: {exc}")
    return client


def _require_images(client: Any) -> None:
    """Fail (never pull) when an image is missing: compose would try a registry."""
    wanted = (
        f"jobfleet-app:{os.environ.get('JOBFLEET_APP_TAG', 'latest')}",
        f"jobfleet-redis:{os.environ.get('JOBFLEET_REDIS_TAG', 'latest')}",
    )
    for image in wanted:
        try:
            client.images.get(image)
        except ImageNotFound:
            pytest.fail(f"image {image} is missing: run tools/build_images.sh (or nox -s images)")


def _require_compose_v2() -> None:
    done = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not done.stdout.strip().lstrip("v").startswith("2."):
        pytest.fail(
            "`docker compose` (v2) is unavailable; set DOCKER_CONFIG to a directory whose "
            f"cli-plugins holds it, e.g. {REPO_DOCKER_CONFIG} after `nox -s images` "
            f"({done.stderr.strip()[:300]})"
        )


def _sweep(client: Any, project: str) -> list[str]:
    """Remove anything of ``project`` that ``down -v`` left behind; return what it was."""
    label = {"label": [f"{PROJECT_LABEL}={project}"]}
    left: list[str] = []
    for container in client.containers.list(all=True, filters=label):
        left.append(f"container {container.name}")
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=label):
        left.append(f"network {network.name}")
        network.remove()
    for volume in client.volumes.list(filters=label):
        left.append(f"volume {volume.name}")
        volume.remove(force=True)
    return left


def _compose_logs(compose: DockerCompose) -> str:
    try:
        out, err = compose.get_logs()
    except subprocess.CalledProcessError as exc:
        return f"(compose logs failed: {exc})"
    return (out + err)[-6000:]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    client = _docker_client()
    project = f"jfit{secrets.token_hex(4)}"
    port = free_port()
    settings = {
        "COMPOSE_PROJECT_NAME": project,
        "JOBFLEET_PORT": str(port),
        "JOBFLEET_WORKERS": str(WORKERS),
    }
    env_file = Path(tmp_path_factory.mktemp("compose")) / "integration.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    with pytest.MonkeyPatch.context() as env:
        for name, value in settings.items():
            env.setenv(name, value)
        env.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
        env.setenv("COMPOSE_BAKE", "false")
        if "DOCKER_CONFIG" not in os.environ and (REPO_DOCKER_CONFIG / "cli-plugins").is_dir():
            env.setenv("DOCKER_CONFIG", str(REPO_DOCKER_CONFIG))
        _require_compose_v2()
        _require_images(client)
        compose = DockerCompose(
            context=COMPOSE_DIR,
            compose_file_name=COMPOSE_FILE,
            pull=False,
            build=False,
            wait=True,  # `up --wait`: every service healthy
            env_file=str(env_file),
        )
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
        started = time.monotonic()
        try:
            try:
                compose.start()
            except subprocess.CalledProcessError as exc:
                stderr = exc.stderr.decode("utf-8", "replace")[-3000:] if exc.stderr else ""
                pytest.fail(f"compose up failed:\n{stderr}\n--- logs ---\n{_compose_logs(compose)}")
            print(f"\n[integration] project {project} up on :{port} in "
                  f"{time.monotonic() - started:.1f}s")  # fmt: skip
            stack = Stack(project, port, compose, client, http)
            stack.wait_ready()
            yield stack
        finally:
            http.close()
            try:
                compose.stop(down=True)  # down --volumes
            except subprocess.CalledProcessError as exc:
                print(f"[integration] compose down failed: {exc}")
            try:
                left = _sweep(client, project)
            except (DockerException, NotFound) as exc:
                left = [f"sweep failed: {exc}"]
            if left:
                print(f"[integration] removed leftovers of {project}: {left}")
            client.close()
