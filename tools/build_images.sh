#!/usr/bin/env bash
# Build every jobfleet image from nothing, with no container registry.
#
#   tools/build_images.sh           # build what is missing or stale, reuse the rest
#   FRESH=1 tools/build_images.sh   # rebuild everything, no cache (picks up security updates)
#
# Images:
#   jobfleet-base-{runtime,build,redis}:current  bases the Dockerfiles start FROM (ARG defaults)
#   jobfleet-app:$JOBFLEET_APP_TAG               master + worker (compose/app.Dockerfile)
#   jobfleet-redis:$JOBFLEET_REDIS_TAG           redis (compose/redis.Dockerfile)
#   jobfleet-prometheus:$JOBFLEET_PROMETHEUS_TAG prometheus (compose/prometheus.Dockerfile), only
#                                                with COMPOSE_PROFILES=observability
#
# JOBFLEET_IMAGE_SOURCE picks where the bases come from (environment wins over compose/.env):
#   local    (default) bootstrap Debian bookworm with mmdebstrap and `docker import` it. Each base
#            is tagged with a hash of its recipe; a base whose hash tag exists is not rebuilt.
#   registry pull python:3.11-slim and redis:7 and tag them as the bases.
# Either way the `:current` tags are what compose.yaml and the Dockerfiles use, so switching the
# source never needs an edit. App/redis images rely on docker's layer cache for "build once".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE=$ROOT/compose/.env
STAGE=$ROOT/compose/.build # gitignored

# env_default NAME FALLBACK: keep $NAME from the environment, else compose/.env, else FALLBACK.
env_default() {
  local val=""
  [[ -n "${!1:-}" ]] && return 0
  [[ -f $ENV_FILE ]] && val=$(sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1)
  printf -v "$1" '%s' "${val:-$2}"
}
env_default JOBFLEET_IMAGE_SOURCE local
env_default JOBFLEET_APP_TAG latest
env_default JOBFLEET_REDIS_TAG latest
env_default JOBFLEET_PROMETHEUS_TAG latest
# Profiles whose extra images to build too (same variable as compose's): `observability` adds
# jobfleet-prometheus (Debian's prometheus package). Off by default: it is a big bootstrap.
env_default COMPOSE_PROFILES ""
with_prometheus() { [[ ",$COMPOSE_PROFILES," == *,observability,* || ",$COMPOSE_PROFILES," == *,\**,* ]]; }
env_default JOBFLEET_DEBIAN_MIRROR http://deb.debian.org/debian
env_default JOBFLEET_DEBIAN_SECURITY http://deb.debian.org/debian-security
env_default JOBFLEET_CA_BUNDLE /etc/ssl/certs/ca-certificates.crt

log() { printf '\033[1m==> [%3ds] %s\033[0m\n' "$SECONDS" "$*" >&2; }

# Redis credentials for the stack (compose/.secrets/, once): every path that starts the stack
# (make up, the integration and chaos sessions) runs this script first.
bash "$ROOT/tools/ensure_secrets.sh"

# ---------------------------------------------------------------------------------------------
# Bases from mmdebstrap. Bump RECIPE_VERSION to force a rebuild after changing something the
# hash does not see. The mirror URLs are left out of the hash: they do not change the content.
RECIPE_VERSION=1
SUITE=bookworm
MMDEBSTRAP_OPTS=(
  --variant=essential # Essential:yes only: no apt, no perl beyond perl-base in the images
  # merged /usr via symlinks + usr-is-merged; otherwise apt picks usrmerge, which drags in perl
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  # no docs, man pages, locales: they are most of the weight a container never reads
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
)
declare -A BASE_PACKAGES=(
  [runtime]=python3,passwd            # passwd: useradd for the non-root user
  [build]=python3,python3-venv,passwd # venv + ensurepip's bundled pip/setuptools wheels
  [redis]=redis-server                # brings redis-cli (healthcheck) and the redis user
  [prometheus]=prometheus             # + promtool; only with COMPOSE_PROFILES=observability
)

recipe_hash() {
  printf '%s\n' "$RECIPE_VERSION" "$SUITE" "${MMDEBSTRAP_OPTS[@]}" "${BASE_PACKAGES[$1]}" |
    sha256sum | cut -c1-12
}

# build_local_base NAME: bootstrap (unless the hash tag exists) and point :current at it.
build_local_base() {
  local name=$1 repo=jobfleet-base-$1 hash
  hash=$(recipe_hash "$name")
  if [[ -n "${FRESH:-}" ]] || ! docker image inspect "$repo:$hash" >/dev/null 2>&1; then
    log "bootstrapping $repo:$hash (${BASE_PACKAGES[$name]})"
    local id=""
    # Stream the tarball into `docker import`, untagged: `docker import` happily imports a
    # truncated stream, so the hash tag is set only once pipefail says both sides succeeded.
    if ! id=$(mmdebstrap --quiet "${MMDEBSTRAP_OPTS[@]}" --include="${BASE_PACKAGES[$name]}" \
      "$SUITE" - \
      "deb $JOBFLEET_DEBIAN_MIRROR $SUITE main" \
      "deb $JOBFLEET_DEBIAN_MIRROR $SUITE-updates main" \
      "deb $JOBFLEET_DEBIAN_SECURITY $SUITE-security main" |
      docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/sh"]' \
        --message "mmdebstrap $SUITE ${BASE_PACKAGES[$name]} recipe $hash" -); then
      [[ $id == sha256:* ]] && docker rmi "$id" >/dev/null # the truncated import
      echo "bootstrapping $repo failed" >&2
      return 1
    fi
    docker tag "$id" "$repo:$hash"
    log "imported $repo:$hash (${id:7:12})"
  else
    log "$repo:$hash is current, reusing it"
  fi
  docker tag "$repo:$hash" "$repo:current"
  # Untag bases of older recipes (images built on them keep their layers).
  docker images --format '{{.Repository}}:{{.Tag}}' "$repo" |
    grep -v -e ":$hash\$" -e ':current$' | xargs -r docker rmi >/dev/null 2>&1 || true
}

build_local_bases() {
  command -v mmdebstrap >/dev/null ||
    { echo "mmdebstrap is missing: apt-get install -y mmdebstrap" >&2; exit 1; }
  [[ $(id -u) == 0 ]] || { echo "mmdebstrap needs root here (root mode)" >&2; exit 1; }
  # The three bootstraps are mostly download + dpkg; in parallel they take ~1/2 the time.
  # Wait for all of them (no orphans left running), then fail if any failed.
  local pids=() name pid failed=0
  local names=(runtime build redis)
  if with_prometheus; then names+=(prometheus); fi
  for name in "${names[@]}"; do
    build_local_base "$name" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || { echo "a base image failed to build (see above)" >&2; exit 1; }
}

# tag_registry_base NAME IMAGE: use a registry image as base NAME.
tag_registry_base() {
  docker image inspect "$2" >/dev/null 2>&1 || docker pull "$2"
  docker tag "$2" "jobfleet-base-$1:current"
  log "jobfleet-base-$1:current = $2"
}

# ---------------------------------------------------------------------------------------------
case $JOBFLEET_IMAGE_SOURCE in
  local) build_local_bases ;;
  registry)
    tag_registry_base runtime "${JOBFLEET_PYTHON_IMAGE:-python:3.11-slim}"
    tag_registry_base build "${JOBFLEET_PYTHON_IMAGE:-python:3.11-slim}"
    tag_registry_base redis "${JOBFLEET_REDIS_IMAGE:-redis:7}"
    if with_prometheus; then
      tag_registry_base prometheus "${JOBFLEET_PROMETHEUS_IMAGE:-prom/prometheus:v2.42.0}"
    fi
    ;;
  *) echo "JOBFLEET_IMAGE_SOURCE must be local or registry, not '$JOBFLEET_IMAGE_SOURCE'" >&2; exit 2 ;;
esac

# pip inside the builder stage must trust the host's CA bundle (PyPI goes through a TLS proxy
# here). Staged as a pip config so the Dockerfile needs no conditionals; only the builder stage
# copies it, never the final image.
mkdir -p "$STAGE/pip"
if [[ -s $JOBFLEET_CA_BUNDLE ]]; then
  cp "$JOBFLEET_CA_BUNDLE" "$STAGE/pip/ca.crt"
  printf '[global]\ncert = /tmp/pip/ca.crt\n' >"$STAGE/pip/pip.conf"
else
  : >"$STAGE/pip/ca.crt"
  : >"$STAGE/pip/pip.conf"
fi

# The app build context is streamed as a tar of exactly what the image needs: the repo has no
# .dockerignore of ours, and sending .venv/.nox/.git (or __pycache__, which breaks the cache)
# would be slow and wasteful.
build_opts=()
[[ -n "${FRESH:-}" ]] && build_opts+=(--no-cache)
log "building jobfleet-app:$JOBFLEET_APP_TAG"
ctx=(compose/app.Dockerfile compose/.build/pip pyproject.toml cluster chaos)
tar -C "$ROOT" -cf - --owner=0 --group=0 --numeric-owner --sort=name \
  --exclude='__pycache__' --exclude='*.pyc' "${ctx[@]}" |
  docker build "${build_opts[@]}" -f compose/app.Dockerfile -t "jobfleet-app:$JOBFLEET_APP_TAG" -

log "building jobfleet-redis:$JOBFLEET_REDIS_TAG"
docker build "${build_opts[@]}" -t "jobfleet-redis:$JOBFLEET_REDIS_TAG" - <"$ROOT/compose/redis.Dockerfile"

if with_prometheus; then
  log "building jobfleet-prometheus:$JOBFLEET_PROMETHEUS_TAG"
  docker build "${build_opts[@]}" -t "jobfleet-prometheus:$JOBFLEET_PROMETHEUS_TAG" - \
    <"$ROOT/compose/prometheus.Dockerfile"
fi

docker images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep '^jobfleet-' | sort >&2
