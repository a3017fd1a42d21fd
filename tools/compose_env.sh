# Source me from bash: `. tools/compose_env.sh`. Afterwards `docker compose` is the project's
# Compose v2 (installed into .docker/cli-plugins by `make images` / `nox -s up`), which is also
# what testcontainers' DockerCompose runs. The machine itself only has Compose v1.
_jf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DOCKER_CONFIG="$_jf_root/.docker"
export TESTCONTAINERS_RYUK_DISABLED=true # no registry: the ryuk image cannot be pulled
export COMPOSE_BAKE=false                 # no buildx: quiets compose's "Bake" warning
[ -x "$DOCKER_CONFIG/cli-plugins/docker-compose" ] ||
  echo "compose_env: $DOCKER_CONFIG/cli-plugins/docker-compose is missing: run make up" >&2
unset _jf_root
