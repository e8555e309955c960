# syntax=docker/dockerfile:1.7
# helved's image: one image for every workload in k8s/ (`helved run`, `python -m bytewax.run`,
# `helved os-emulator`, `helved topics ...`); the manifests give each container its command.
#
#   docker build -t helved .
#
# Stage 1 builds helved's wheel and fetches the wheels of its dependencies (binary wheels only:
# nothing is compiled, in either stage). Stage 2 installs them into a virtualenv in a clean slim
# image, without pip's cache, build tools or the source tree, and runs as a non-root user.
# tests/ops/test_image.py performs these same install steps without Docker (CI has none), and
# runs hadolint on this file.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY helved ./helved
COPY dataflows ./dataflows
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip download --only-binary=:all: --dest /wheels /wheels/helved-*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="helved" \
      org.opencontainers.image.description="Payment pipeline between benefit systems and Oppdrag, on Bytewax" \
      org.opencontainers.image.source="https://github.com/navikt/helved"
ENV PATH=/opt/helved/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HELVED_LOG_FORMAT=json \
    HELVED_METRICS_PORT=9464
# No pip cache, no index: exactly the wheels of stage 1 (bound, not copied: no layer keeps them).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/helved \
 && /opt/helved/bin/pip install --no-cache-dir --no-index --find-links /wheels helved \
 && /opt/helved/bin/pip uninstall --yes pip \
 && groupadd --system --gid 10001 helved \
 && useradd --system --uid 10001 --gid helved --home-dir /var/lib/helved --no-create-home --shell /usr/sbin/nologin helved \
 && mkdir -p /var/lib/helved /var/cache/bytewax \
 && chown helved:helved /var/lib/helved /var/cache/bytewax
WORKDIR /var/lib/helved
USER 10001:10001
# Bytewax's dataflow API (pipeline: /dataflow, /metrics), helved's own /metrics (bridge, or
# `helved run` without the API), Bytewax's worker port (cluster peers).
EXPOSE 3030 8090 9464 9999
# Kubernetes ignores HEALTHCHECK (k8s/ has its own probes); for `docker run` of a long-running
# command: healthy while the process serves /metrics (see `helved.metrics` for the port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "helved.metrics", "--check"]
ENTRYPOINT ["helved"]
CMD ["--help"]
