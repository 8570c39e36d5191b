# Enclave GraphQL gateway.
#
#   docker build -t enclave .            (or: docker-compose build)
#
# Written for the classic builder as well as BuildKit (docker-compose v1 uses the
# classic one by default), so no `RUN --mount=type=cache` tricks.

# The console (console/): its locked npm packages and its build, in a stage of its own so
# that Node never reaches the gateway's image; only console/dist does.
FROM node:20-bookworm-slim AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console/ ./
RUN npm run build

FROM python:3.11-slim

# Same uv as the one that wrote uv.lock: an older uv may reject the lock's format.
ARG UV_VERSION=0.13.9
# Fixed, non-root uid/gid. Override (e.g. `--build-arg APP_UID=$(id -u)`) when
# bind-mounted files such as the compose secrets must be readable by the container.
ARG APP_UID=10001
ARG APP_GID=10001

# UV_COMPILE_BYTECODE: compile .pyc at build time, as the (non-root) user cannot write
#   to /app at run time.
# UV_LINK_MODE=copy / UV_NO_CACHE: no hard links into, and no layer for, a uv cache that
#   is not needed at run time.
# UV_PYTHON_DOWNLOADS=never: use the image's /usr/local/bin/python3.11, never fetch one.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && groupadd --system --gid "${APP_GID}" enclave \
 && useradd --system --uid "${APP_UID}" --gid enclave --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin enclave

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock changes,
# not on every source edit. native/ (libmongocrypt's crypto hooks in C) is one of them and
# is compiled here: gcc and OpenSSL's headers, removed again once the project is synced.
COPY pyproject.toml uv.lock ./
COPY native/ ./native/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/* \
 && uv sync --frozen --no-dev --no-install-project

# Then the project itself (hatchling needs README.md, named as `readme` in pyproject.toml).
COPY gateway/ ./gateway/
COPY schema/ ./schema/
COPY resolvers/ ./resolvers/
COPY storage/ ./storage/
COPY regions/ ./regions/
COPY --from=console /console/dist/ ./console/dist/
COPY README.md ./
# /app/.enclave is the only place the app may write to (local state); everything else,
# code and venv included, stays root-owned and read-only for the app user.
RUN uv sync --frozen --no-dev \
 && apt-get purge -y --auto-remove gcc libc6-dev libssl-dev \
 && mkdir -p /app/.enclave \
 && chown enclave:enclave /app/.enclave

USER enclave

EXPOSE 8000

# --no-sync: the image is already synced; never touch the network or the venv at start.
ENTRYPOINT ["uv", "run", "--no-sync", "enclave", "serve", "--host", "0.0.0.0", "--port", "8000"]
