#!/usr/bin/env bash
# Create the compose stack's Redis credentials once, in compose/.secrets/ (gitignored, mode 0600).
# Run by tools/build_images.sh, hence by `make up` and the integration/chaos test sessions;
# safe to run any time: existing files are left alone.
#
#   compose/.secrets/app.env    master + workers: JOBFLEET_REDIS_USERNAME=jobfleet and
#                               JOBFLEET_REDIS_PASSWORD (the app's ACL user)
#   compose/.secrets/redis.env  redis: JOBFLEET_REDIS_APP_PASSWORD_SHA256 (the app password, hashed:
#                               the redis container never holds it) and REDISCLI_AUTH, the
#                               password of the admin `default` user, for redis-cli inside the
#                               container (healthcheck, operators, the chaos negative control)
#
# Your own passwords: set JOBFLEET_REDIS_PASSWORD and/or JOBFLEET_REDIS_ADMIN_PASSWORD when the
# files are written (delete them to write them again), then `docker compose up -d` recreates
# the containers with the new values. Otherwise each password is 256 random bits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${JOBFLEET_SECRETS_DIR:-$ROOT/compose/.secrets}
APP=$DIR/app.env
REDIS=$DIR/redis.env

if [[ -s $APP && -s $REDIS ]]; then
  exit 0
fi

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
check() { # passwords end up in env files and a Redis ACL file: keep them to a safe alphabet
  [[ $2 =~ ^[A-Za-z0-9._~+/=-]{16,256}$ ]] ||
    { echo "$1 must be 16-256 characters of [A-Za-z0-9._~+/=-]" >&2; exit 2; }
}

umask 077
mkdir -p "$DIR"
chmod 700 "$DIR"
app_password=${JOBFLEET_REDIS_PASSWORD:-$(random_hex)}
admin_password=${JOBFLEET_REDIS_ADMIN_PASSWORD:-$(random_hex)}
check JOBFLEET_REDIS_PASSWORD "$app_password"
check JOBFLEET_REDIS_ADMIN_PASSWORD "$admin_password"
app_hash=$(printf %s "$app_password" | sha256sum | cut -d' ' -f1)

# Both files are written together (they must match), each atomically.
printf 'JOBFLEET_REDIS_USERNAME=jobfleet\nJOBFLEET_REDIS_PASSWORD=%s\n' "$app_password" >"$APP.tmp"
printf 'JOBFLEET_REDIS_APP_PASSWORD_SHA256=%s\nREDISCLI_AUTH=%s\n' "$app_hash" "$admin_password" \
  >"$REDIS.tmp"
mv -f "$APP.tmp" "$APP"
mv -f "$REDIS.tmp" "$REDIS"
echo "ensure_secrets: wrote new Redis credentials to $DIR" >&2
