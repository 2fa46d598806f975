"""The production image (Dockerfile) against the production shape (docker-compose.yml).

The image cannot be built here (no Docker daemon, no network in the test run), so these
tests read the two files: what would silently break ``manage.py backup`` inside the
image is a client of another major version than the server's.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _runtime_stage() -> str:
    """The Dockerfile's last stage: what the running containers are made of."""
    text = (ROOT / "Dockerfile").read_text()
    return text[text.rindex("\nFROM ") :]


def _compose_postgres_major() -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    image = compose["services"]["postgres"]["image"]
    match = re.fullmatch(r"postgres:(\d+)(?:[.-].*)?", image)
    assert match, f"the postgres service's image has no major version: {image}"
    return match.group(1)


def test_the_image_has_pg_dump_of_the_servers_major_version():
    stage = _runtime_stage()
    (major,) = re.findall(r"^ARG PG_MAJOR=(\d+)$", stage, re.MULTILINE)

    assert major == _compose_postgres_major()
    assert '"postgresql-client-${PG_MAJOR}"' in stage
    # The build itself fails if the installed programs are of another version.
    assert 'pg_dump --version | grep -q " ${PG_MAJOR}\\."' in stage
    assert 'pg_restore --version | grep -q " ${PG_MAJOR}\\."' in stage


def test_the_postgresql_apt_repository_is_signed_and_pinned_to_its_key():
    stage = _runtime_stage()

    assert "signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc" in stage
    assert "https://www.postgresql.org/media/keys/ACCC4CF8.asc" in stage
    assert "[trusted=yes]" not in stage


def test_the_backup_commands_call_the_programs_the_image_installs():
    from accounts.management.commands.backup import PG_DUMP, PG_RESTORE

    assert (PG_DUMP, PG_RESTORE) == ("pg_dump", "pg_restore")
