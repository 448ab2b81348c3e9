# migration-gate image: the `migration-gate` command (admission webhook, operator API, metrics).
#
# Multi-stage: the builder installs the package and its wheels into a venv; the final stage is
# the same slim Python base (so the venv's interpreter link stays valid) with only that venv,
# no compiler, no pip cache, no apt lists. Runs as uid 10001 on a read-only root filesystem:
# it writes only to /tmp and /data (the chart mounts emptyDirs there). No HEALTHCHECK on purpose:
# Kubernetes probes /livez and /readyz on the metrics port.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY webhook ./webhook
# bytecode is compiled here, at build time, so nothing needs writing at run time
RUN /opt/venv/bin/pip install --no-cache-dir --no-compile . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="migration-gate" \
      org.opencontainers.image.description="Fail-closed admission webhook gating migrations and replications" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
RUN groupadd --system --gid 10001 gate \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gate \
    && mkdir -p /data \
    && chown 10001:10001 /data \
    && chmod 0750 /data
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
# admission (TLS), operator API + UI, metrics + health
EXPOSE 8443 8080 9090
ENTRYPOINT ["migration-gate"]
CMD ["serve", "--host", "0.0.0.0", "--state-dir", "/data"]
