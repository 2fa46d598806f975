"""The development SMTP sink: STARTTLS required, every message kept byte for byte."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from delivery.models import SinkMessage
from tests.servers import free_port

BASE_DIR = Path(settings.BASE_DIR)

# Leading dots (SMTP dot-stuffing), 8-bit UTF-8, CRLF line ends: all must survive.
RAW = (
    b"From: Sender <sender@example.com>\r\n"
    b"To: receiver@example.com\r\n"
    b"Subject: =?utf-8?b?44GK55+l44KJ44Gb?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".leading dot\r\n"
    b"..two dots\r\n"
    b"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\r\n"
    b"trailing spaces   \r\n"
)


def _client(address, cafile) -> smtplib.SMTP:
    import ssl

    client = smtplib.SMTP(*address, timeout=10)
    client.starttls(context=ssl.create_default_context(cafile=str(cafile)))
    return client


@pytest.mark.django_db(transaction=True)
def test_sink_keeps_the_exact_bytes_and_the_tls_details(sink, dev_tls):
    with _client(sink, dev_tls.ca_cert) as client:
        refused = client.sendmail("sender@example.com", ["a@example.com", "b@example.com"], RAW)

    assert refused == {}
    message = SinkMessage.objects.get()
    assert message.raw_bytes == RAW
    assert message.mail_from == "sender@example.com"
    assert message.rcpt_tos == ["a@example.com", "b@example.com"]
    assert message.tls is True
    assert message.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert message.summary() == {
        "subject": "お知らせ",
        "from": "Sender <sender@example.com>",
        "to": "receiver@example.com",
    }
    # 8bit parts come back with their CRLFs: the body is not rewritten for display.
    assert message.text_body() == ".leading dot\r\n..two dots\r\n日本語\r\ntrailing spaces   \r\n"


@pytest.mark.django_db(transaction=True)
def test_sink_refuses_mail_before_starttls(sink):
    with smtplib.SMTP(*sink, timeout=10) as client:
        client.ehlo()
        offers_starttls = client.has_extn("starttls")
        code, reply = client.mail("sender@example.com")

    assert offers_starttls is True
    assert (code, reply) == (530, b"Must issue a STARTTLS command first")
    assert SinkMessage.objects.count() == 0


def test_run_smtp_sink_rejects_a_port_out_of_range():
    with pytest.raises(CommandError) as excinfo:
        call_command("run_smtp_sink", "--port", "70000")

    assert str(excinfo.value) == "--port 70000 is not a TCP port (1-65535)."


def _database_url() -> str:
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql", "the suite runs on PostgreSQL"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _wait_for_listener(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on {port} within {timeout} s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_smtp_sink_command_serves_stores_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "TAYORI_VAR_DIR": str(tmp_path),
        "DATABASE_URL": _database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_smtp_sink", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_listener(port, process)
        with _client(("127.0.0.1", port), tmp_path / "tls" / "ca.pem") as client:
            client.sendmail("sender@example.com", ["c@example.com"], RAW)
        stored = list(SinkMessage.objects.values_list("rcpt_tos", "tls"))

        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode()

    assert stored == [(["c@example.com"], True)]
    assert returncode == 0
    assert f"SMTP sink on 127.0.0.1:{port}, STARTTLS required" in output
    assert "SMTP sink stopped" in output
    assert sorted(p.name for p in (tmp_path / "tls").glob("*.pem")) == [
        "ca-key.pem",
        "ca.pem",
        "sink-key.pem",
        "sink.pem",
    ]
