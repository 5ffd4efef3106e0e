# syntax=docker/dockerfile:1
# vox-dispatch: a small image that runs `vox-dispatch` as a non-root user.
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

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# TESTS=run (default): the build fails unless the linters and tests pass. TESTS=skip: no tests.
ARG TESTS=run

# ---- build: the package and its dependencies in a virtualenv, from this repository ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
RUN python -m venv /opt/vox-dispatch \
 && /opt/vox-dispatch/bin/pip install . \
 && /opt/vox-dispatch/bin/vox-dispatch --help > /dev/null

# ---- test: linters and the whole suite; the runtime stage depends on its report file ----------
FROM build AS test
# .dockerignore keeps the virtualenv, output, state and any credentials out of the context.
COPY . /src
RUN /opt/vox-dispatch/bin/pip install '.[test]' \
 && useradd --create-home tester \
 && chown -R tester /src
USER tester
RUN /opt/vox-dispatch/bin/ruff check dispatcher tests \
 && /opt/vox-dispatch/bin/ruff format --check dispatcher tests \
 && /opt/vox-dispatch/bin/mypy --strict dispatcher \
 && /opt/vox-dispatch/bin/python -m pytest -q -p no:cacheprovider \
 && echo "ruff, mypy --strict and pytest passed" > /tmp/test-report

FROM test AS gate-run
FROM build AS gate-skip
RUN echo "tests skipped at build time (TESTS=skip)" > /tmp/test-report
FROM gate-${TESTS} AS gate

# ---- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/vox-dispatch/bin:$PATH \
    VOXIMPLANT_CREDENTIALS=/credentials/credentials.json
RUN groupadd --system --gid 10001 vox \
 && useradd --system --uid 10001 --gid vox --home-dir /data --no-create-home vox \
 && mkdir -p /data /campaigns /credentials \
 && chown vox:vox /data
COPY --from=build /opt/vox-dispatch /opt/vox-dispatch
# Building this image runs the test stage first (unless --build-arg TESTS=skip).
COPY --from=gate /tmp/test-report /opt/vox-dispatch/test-report
VOLUME ["/data"]
WORKDIR /data
USER vox:vox
ENTRYPOINT ["vox-dispatch"]
CMD ["--help"]
