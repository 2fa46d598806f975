"""Production settings: refuse to start without secrets, pass ``check --deploy``, and
serve a Content-Security-Policy that allows no inline script or style."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import Client

# Variables a developer's shell (or the suite's own environment) may carry that would
# change what these subprocesses see.
_STRIPPED = {
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "FIELD_ENCRYPTION_KEY",
    "ALLOW_DEV_FIELD_KEY",
    "ALLOWED_HOSTS",
    "AUDIT_CHAIN_KEY",
    "AUDIT_CHAIN_KEY_FILE",
    # The browser tests set it for their own process (Playwright's event loop);
    # a deployment must never have it (async.E001).
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def _manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**base, "TAYORI_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def _production_env() -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "tayori.example",
    }


def test_debug_off_without_secret_key_refuses_to_start(tmp_path):
    result = _manage(tmp_path, "check", DEBUG="0")

    assert result.returncode == 1
    assert _last_line(result.stderr) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DEBUG=0 requires SECRET_KEY (or SECRET_KEY_FILE) to be set."
    )


def test_debug_off_with_the_development_secret_key_refuses_to_start(tmp_path):
    result = _manage(
        tmp_path,
        "check",
        DEBUG="0",
        SECRET_KEY="development-only-secret-key-never-use-in-production-0123456789",
    )

    assert result.returncode == 1
    assert _last_line(result.stderr) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DEBUG=0 requires SECRET_KEY (or SECRET_KEY_FILE) to be set."
    )


def test_debug_off_without_field_encryption_key_refuses_to_start(tmp_path):
    env = _production_env()
    del env["FIELD_ENCRYPTION_KEY"]

    result = _manage(tmp_path, "check", **env)

    assert result.returncode == 1
    assert _last_line(result.stderr) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DEBUG=0 requires FIELD_ENCRYPTION_KEY to be set."
    )


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **_production_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."


def test_secret_key_can_come_from_a_file(tmp_path):
    # docker-compose mounts secrets as files: SECRET_KEY_FILE names one.
    env = _production_env()
    key_file = tmp_path / "secret_key"
    key_file.write_text(env.pop("SECRET_KEY") + "\n")

    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY_FILE=str(key_file),
        **env,
    )

    assert result.returncode == 0, result.stderr


def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
def test_pages_carry_a_csp_without_unsafe_inline(client):
    response = client.get("/login/")

    assert response.status_code == 200
    policy = _csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    header = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header


@pytest.mark.django_db
def test_logged_in_pages_carry_the_same_csp(admin_client, org_a):
    response = admin_client.get(f"/o/{org_a.slug}/")

    assert response.status_code == 200
    assert _csp(response)["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_rendered_login_page_has_no_inline_script_or_style():
    body = Client().get("/login/").content.decode()

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == []
    assert re.findall(r"<style\b|\sstyle=|\son[a-z]+=", body) == []
