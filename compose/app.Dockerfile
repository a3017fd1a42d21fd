# jobfleet-app: the master and the worker (`jobfleet master` / `jobfleet worker`).
# Build context: the repository root. tools/build_images.sh streams just the files used below
# (classic builder); `docker compose build` transfers only those too (BuildKit).
# The bases come from tools/build_images.sh: Debian bookworm via mmdebstrap (default) or
# python:3.11-slim when JOBFLEET_IMAGE_SOURCE=registry. Builder and runtime base must share
# the interpreter path, since the venv's python is a symlink to it.
ARG BUILD_BASE=jobfleet-base-build:current
ARG RUNTIME_BASE=jobfleet-base-runtime:current

# ---- builder: resolves and installs with the image's own python (3.11.2 on bookworm) ----------
FROM ${BUILD_BASE} AS builder
# pip.conf + the host's CA bundle (TLS proxy in front of PyPI). This stage is thrown away.
COPY compose/.build/pip /tmp/pip
ENV PIP_CONFIG_FILE=/tmp/pip/pip.conf \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# Dependencies first, from pyproject.toml alone: this layer is reused until pyproject changes.
# setuptools/wheel are installed here so the project build below needs no network.
COPY pyproject.toml /src/
# The `autoscale` extra (the docker SDK, ~1 MB; only `jobfleet autoscaler` imports it) too.
RUN python3 -c 'import tomllib; project = tomllib.load(open("/src/pyproject.toml", "rb")); \
      print(*project["project"]["dependencies"], sep="\n"); \
      print(*project["project"]["optional-dependencies"]["autoscale"], sep="\n")' \
      >/tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt "setuptools>=68" wheel
# Then the code. (No README: setuptools only warns, and re-copying an unchanged file trips a
# classic-builder bug, "layer does not exist", moby/moby#37965.)
COPY cluster /src/cluster
COPY chaos /src/chaos
# Install the project, then drop the packaging tools: the runtime never installs anything.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src \
 && /opt/venv/bin/pip uninstall -y setuptools wheel pip

# ---- runtime: base + venv, no compilers, no pip, no caches -------------------------------------
FROM ${RUNTIME_BASE}
# --no-log-init: a high uid would otherwise grow a huge sparse /var/log/lastlog.
RUN groupadd --gid 10001 jobfleet \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin jobfleet \
 && install -d -o 10001 -g 10001 -m 0755 /data/logs
# HOME=/tmp: the root fs is read-only in compose, /tmp is a tmpfs. Bytecode was compiled at
# install time, so Python has no reason to write any.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
LABEL org.opencontainers.image.title="jobfleet" \
      org.opencontainers.image.description="jobfleet master and worker"
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["jobfleet"]
CMD ["--help"]
# Last, so a code change only redoes this layer (metadata steps above stay cached).
COPY --from=builder /opt/venv /opt/venv
