# One image for every Flotilla component: `flotilla watcher`, `flotilla worker <type>`,
# `flotilla webhook`. Multi-stage: uv resolves the locked dependencies into a virtualenv in
# the build stage; the runtime stage gets only that virtualenv, runs as a non-root numeric
# user and works with a read-only root filesystem (bytecode is compiled at build time).
#
# Reproducible: base images pinned to exact versions (add `@sha256:` digests with your
# registry tooling when you publish), dependencies from uv.lock only (--frozen), no network
# in the runtime stage. Build: docker build -t flotilla:dev .

ARG PYTHON_VERSION=3.11.14

# The uv the project locks with (uv.lock is read by the same version).
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/flotilla
WORKDIR /src
# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-editable --no-install-project
COPY flotilla ./flotilla
COPY schemas ./schemas
COPY watcher ./watcher
COPY workers ./workers
COPY webhook ./webhook
COPY nodeagent ./nodeagent
# Then the node agent's CRI stubs, generated from k8s.io/cri-api's api.proto (fetched from the Go
# module proxy, checked against its pinned SHA-256): build output, never committed.
RUN uv sync --frozen --no-dev --no-editable \
 && /opt/flotilla/bin/python -m nodeagent.cri.stubs --out /opt/flotilla/cri

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="flotilla" \
      org.opencontainers.image.description="OpenKruise's advanced workloads as event-driven controllers over NATS JetStream" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/flotilla /opt/flotilla
ENV PATH=/opt/flotilla/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLOTILLA_HTTP_PORT=8080 \
    FLOTILLA_CRI_STUBS=/opt/flotilla/cri
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["flotilla"]
CMD ["--help"]
