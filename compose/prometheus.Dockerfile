# jobfleet-prometheus: Debian's prometheus package (mmdebstrap base; tools/build_images.sh builds
# it only with COMPOSE_PROFILES=observability) or prom/prometheus (registry source). No build
# context: the configuration is bind-mounted from compose/prometheus/ (see compose.yaml).
ARG PROMETHEUS_BASE=jobfleet-base-prometheus:current
FROM ${PROMETHEUS_BASE}
USER root
# nobody (65534) in both bases; a fresh named volume copies this directory's owner.
RUN mkdir -p /prometheus && chown 65534:65534 /prometheus
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/jobfleet/prometheus.yml", "--storage.tsdb.path=/prometheus"]
