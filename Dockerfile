# Production image: idp under gunicorn. Configure with IDP_CONFIG (a mounted TOML file) or
# IDP_<SECTION>__<KEY> variables; run `idp db upgrade` once per release before starting.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN useradd --system --create-home --home-dir /srv/idp idp
WORKDIR /srv/idp

COPY pyproject.toml README.md ./
COPY idp ./idp
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# Editable install: templates/, static/ and migrations/ are read from this checkout.
RUN pip install -e . && mkdir -p /srv/idp/instance && chown idp:idp /srv/idp/instance

USER idp
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health').status == 200 else 1)"
CMD ["idp", "serve", "--bind", "0.0.0.0:8000", "--workers", "4"]
