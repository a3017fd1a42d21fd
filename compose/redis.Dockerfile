# jobfleet-redis: Debian's redis-server (from the mmdebstrap base) or redis:7 (registry source).
# No build context is needed. Flags are set in compose.yaml; CMD here is a safe standalone default.
ARG REDIS_BASE=jobfleet-base-redis:current
FROM ${REDIS_BASE}
# Both bases ship a `redis` system user. /data is where the named volume goes; a fresh named
# volume copies this directory's owner, so redis can write to it without root.
RUN install -d -o redis -g redis -m 0750 /data
WORKDIR /data
USER redis
EXPOSE 6379
# Debian's redis keeps protected mode on when started without a config file, which refuses
# every non-loopback client; redis is reachable only on the compose network, never published.
ENTRYPOINT ["redis-server"]
CMD ["--dir", "/data", "--protected-mode", "no", "--appendonly", "yes", "--appendfsync", "always"]
