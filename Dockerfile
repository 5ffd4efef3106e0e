# syntax=docker/dockerfile:1
# vox-dispatch: a small image that runs `vox-dispatch` as a non-root user under tini.
#
#   docker build -t vox-dispatch .                 # runs ruff, mypy and the tests first
#   docker build -t vox-dispatch --build-arg TESTS=skip .   # without them
#   docker run --rm -v "$PWD/campaigns:/campaigns:ro" -v "$PWD/out:/data" \
#       vox-dispatch run /campaigns/demo.toml --sandbox --output-dir /data/demo
#
# Mount points (nothing secret is baked into the image):
#   /campaigns    campaign files and CSVs (read-only)
#   /credentials  credentials.json of the service account (read-only; VOXIMPLANT_CREDENTIALS)
#   /data         output: state, results.csv, rejects.csv, summary.json, metrics (read-write)
#
# Repeatable builds:
#   * the base image: PYTHON_IMAGE; for a build that gives the same image next month, pass it
#     pinned by digest, python:3.11-slim-bookworm@sha256:<digest> (the README shows how to look
#     the digest up);
#   * the Python packages: requirements.lock pins every runtime dependency and the build backend
#     to exact versions and hashes; pip installs wheels only, checked against those hashes;
#   * tini: the Debian package at TINI_VERSION (the version in the base image's release).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# TESTS=run (default): the build fails unless the linters and tests pass. TESTS=skip: no tests.
ARG TESTS=run

# ---- build: the package and its locked dependencies in a virtualenv ---------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/vox-dispatch \
 && /opt/vox-dispatch/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r requirements.lock
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
# This package from this source, on the locked set: no resolver, no download, and `pip check`
# fails the build if pyproject.toml asks for something the lock does not hold.
RUN /opt/vox-dispatch/bin/pip install --no-deps --no-build-isolation --no-index . \
 && /opt/vox-dispatch/bin/pip check \
 && /opt/vox-dispatch/bin/vox-dispatch --help > /dev/null

# ---- test: linters and the whole suite; the runtime stage depends on its report file ----------
FROM build AS test
# .dockerignore keeps the virtualenv, output, state and any credentials out of the context.
COPY . /src
RUN /opt/vox-dispatch/bin/pip install '.[test]' \
 && useradd --create-home --uid 10002 tester \
 && chown -R tester /src
USER 10002
RUN /opt/vox-dispatch/bin/ruff check dispatcher tests \
 && /opt/vox-dispatch/bin/ruff format --check dispatcher tests \
 && /opt/vox-dispatch/bin/mypy --strict dispatcher \
 && /opt/vox-dispatch/bin/python -m pytest -q -p no:cacheprovider \
 && echo "ruff, mypy --strict and pytest passed" > /tmp/test-report

FROM test AS gate-run
FROM build AS gate-skip
RUN echo "tests skipped at build time (TESTS=skip)" > /tmp/test-report
# A stage of this file chosen by TESTS, not an image from a registry.
# hadolint ignore=DL3006
FROM gate-${TESTS} AS gate

# ---- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG TINI_VERSION=0.19.0-1+b3
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/vox-dispatch/bin:$PATH \
    VOXIMPLANT_CREDENTIALS=/credentials/credentials.json
# tini is PID 1: the kernel gives PID 1 no default signal handling, so without it a SIGTERM from
# `docker stop` or Kubernetes is ignored until vox-dispatch has installed its own handlers, and
# nothing reaps zombies. tini forwards every signal to vox-dispatch and exits with its code.
# tzdata: calling windows are kept in each person's own time zone (zoneinfo reads the system's
# database). Not pinned: the rules change several times a year and the newest are the right ones.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends "tini=${TINI_VERSION}" tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vox \
 && useradd --system --uid 10001 --gid vox --home-dir /data --no-create-home vox \
 && mkdir -p /data /campaigns /credentials \
 && chown vox:vox /data
COPY --from=build /opt/vox-dispatch /opt/vox-dispatch
# Building this image runs the test stage first (unless --build-arg TESTS=skip).
COPY --from=gate /tmp/test-report /opt/vox-dispatch/test-report
VOLUME ["/data"]
WORKDIR /data
# Numeric, so Kubernetes can check runAsNonRoot against the image itself.
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "vox-dispatch"]
CMD ["--help"]
