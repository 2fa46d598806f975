# syntax=docker/dockerfile:1
# Tayori's production image: one image for web (gunicorn), worker, beat, migrations and
# the development mail sink; docker-compose.yml picks the command.

# --- build: dependencies, compiled translations, collected static files --------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# gettext: msgfmt for compilemessages (the Japanese catalogue).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
# Dependencies first, so a code change does not re-install them. The project itself has
# no installable packages (pyproject: packages = []): this installs only dependencies.
COPY pyproject.toml ./
RUN pip install . && rm -rf build *.egg-info

# The application, picked out explicitly: nothing from a developer's var/ (database, TLS
# keys), .venv, .git or tests reaches the image. A new app needs a name here.
# locale/ may not exist yet in a clone (git keeps no empty folders).
COPY . /src
RUN mkdir -p /src/locale \
    && cd /src \
    && cp -r manage.py config accounts audit contacts segments campaigns delivery \
        templates static locale /app/ \
    && rm -rf /src \
    && find /app -name __pycache__ -type d -prune -exec rm -rf {} +

# Settings refuse DEBUG=0 without real secrets; these build-time values only let the
# two commands below load settings. They are not in the final image's environment.
RUN export DEBUG=0 SECRET_KEY=build-time-only-not-a-secret ALLOW_DEV_FIELD_KEY=1 \
        TAYORI_VAR_DIR=/app/var \
    && python manage.py compilemessages \
    && python manage.py collectstatic --noinput \
    && rm -f /app/var/db.sqlite3*

# --- runtime ---------------------------------------------------------------------------
FROM python:3.11-slim

# pg_dump/pg_restore for `manage.py backup` and `restore`. They must be of the server's
# major version or newer, so this follows the postgres image in docker-compose.yml
# (tests/ops/test_image.py keeps the two equal). Debian's own postgresql-client is
# one major version per release (15 in bookworm), so the client comes from the
# PostgreSQL project's apt repository (apt.postgresql.org), signed with its key.
ARG PG_MAJOR=16
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && . /etc/os-release \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" \
    && apt-get purge -y curl \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && pg_dump --version | grep -q " ${PG_MAJOR}\." \
    && pg_restore --version | grep -q " ${PG_MAJOR}\."

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    TAYORI_VAR_DIR=/app/var \
    DEBUG=0

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home tayori

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# var/ is where the process writes (beat's schedule, the sink's TLS material); tls/ is
# created here so a named volume mounted on it starts owned by the app user.
RUN mkdir -p /app/var/tls && chown tayori:tayori /app/var /app/var/tls

WORKDIR /app
USER tayori
EXPOSE 8000

CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-"]
