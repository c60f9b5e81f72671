# Production image of idp: gunicorn serving the package installed from its wheel (never
# editable), at the versions pinned in constraints.txt, as a non-root user, in production mode.
#
#   docker build -t idp .
#   docker run --rm --env-file idp.env idp idp db upgrade    # once per release, before serving
#   docker run -d -p 8000:8000 --env-file idp.env idp
#
# Configure with IDP_<SECTION>__<KEY> variables or a TOML file mounted and named by IDP_CONFIG
# (docs/deployment.md, config.example.toml). Started without configuration, it refuses with
# one line naming everything production mode lacks.
#
# The two stages run scripts/build_wheelhouse.sh and scripts/install_wheelhouse.sh, which
# tests/integration/test_wheel_install.py runs too (it also runs this file's CMD, ENV and
# HEALTHCHECK against the installed wheel).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md constraints.txt ./
COPY scripts/build_wheelhouse.sh scripts/install_wheelhouse.sh scripts/
COPY idp idp
COPY templates templates
COPY static static
COPY migrations migrations
RUN sh scripts/build_wheelhouse.sh /wheelhouse

FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Bind mounts, so the wheels and the script are not left in a layer of the image.
RUN --mount=type=bind,from=build,source=/wheelhouse,target=/wheelhouse \
    --mount=type=bind,from=build,source=/src/scripts/install_wheelhouse.sh,target=/install_wheelhouse.sh \
    PYTHON=python sh /install_wheelhouse.sh /opt/idp /wheelhouse
RUN groupadd --system --gid 10001 idp \
    && useradd --system --uid 10001 --gid idp --home-dir /srv/idp --create-home --shell /usr/sbin/nologin idp \
    && install -d -o idp -g idp -m 0700 /srv/idp/instance

# Production mode: with nothing else set, `idp serve` names what is missing and exits (2).
# The instance folder is outside site-packages (its default there would be in the package).
# `idp serve` reads where to listen and how many workers from [serve]: all interfaces of the
# container, 4 sync worker processes (which need ratelimit.storage_uri on Redis;
# IDP_SERVE__WORKERS=1 otherwise): two per core of a 2-core container, processes rather than
# threads as docs/performance.md measured. The workers' metrics are added up in a folder under /tmp (a tmpfs in compose).
# HEALTHCHECK_URL is read by the HEALTHCHECK below only (no IDP_ settings key): /healthz says
# the process is alive, so a database outage never gets healthy containers restarted.
ENV PATH=/opt/idp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IDP_SERVER__DEVELOPMENT=false \
    IDP_SERVER__INSTANCE_PATH=/srv/idp/instance \
    IDP_SERVE__BIND=0.0.0.0:8000 \
    IDP_SERVE__WORKERS=4 \
    HEALTHCHECK_URL=http://127.0.0.1:8000/healthz

# Numeric, so that orchestrators can check that the user is not root (runAsNonRoot).
USER 10001:10001
WORKDIR /srv/idp
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4).status == 200 else 1)"]
CMD ["idp", "serve"]
