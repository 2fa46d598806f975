"""Encrypted backups: the file format, and a real backup restored into a new database."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from psycopg import sql

from accounts.enums import Role
from accounts.management.commands import backup
from audit import alerts, record
from audit.enums import Action
from tests.factories import make_member, make_organization

KEY = backup.generate_key()
OTHER_KEY = backup.generate_key()
ROOT = Path(__file__).resolve().parents[2]


def _encrypt(data: bytes, key: str = KEY) -> bytes:
    out = io.BytesIO()
    backup.encrypt_stream(io.BytesIO(data), out, backup.load_key(key))
    return out.getvalue()


def _decrypt(blob: bytes, key: str = KEY) -> bytes:
    return b"".join(backup.decrypt_chunks(io.BytesIO(blob), backup.load_key(key)))


@pytest.fixture
def small_chunks(monkeypatch):
    # A setting, not a stand-in: 16-byte chunks make a small real dump span many chunks,
    # so chunk boundaries, order and truncation are exercised without a huge database.
    monkeypatch.setattr(backup, "CHUNK_SIZE", 16)


# --- The format ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 100])
def test_any_length_round_trips(small_chunks, size):
    data = os.urandom(size)

    blob = _encrypt(data)

    assert _decrypt(blob) == data
    assert size < 8 or data not in blob  # (a byte or two may occur by chance)


def test_each_backup_uses_a_fresh_nonce(small_chunks):
    data = b"same dump" * 10

    assert _encrypt(data) != _encrypt(data)


def test_another_key_is_named_as_such(small_chunks):
    blob = _encrypt(b"dump")

    with pytest.raises(backup.BackupFormatError, match="made with another key"):
        _decrypt(blob, OTHER_KEY)


def test_an_altered_byte_is_detected(small_chunks):
    blob = bytearray(_encrypt(b"x" * 40))
    blob[backup.HEADER_SIZE + 4 + 3] ^= 1

    with pytest.raises(backup.BackupFormatError, match="chunk 0 is damaged or altered"):
        _decrypt(bytes(blob))


def test_an_altered_header_is_detected(small_chunks):
    blob = bytearray(_encrypt(b"x" * 40))
    blob[backup.HEADER_SIZE - 1] ^= 1  # the nonce base

    with pytest.raises(backup.BackupFormatError, match="damaged or altered"):
        _decrypt(bytes(blob))


def _frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    header, rest, frames = blob[: backup.HEADER_SIZE], blob[backup.HEADER_SIZE :], []
    while rest:
        length = int.from_bytes(rest[:4], "big") & ~backup.LAST_FLAG
        frames.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return header, frames


def test_a_file_cut_after_a_whole_chunk_is_detected(small_chunks):
    header, frames = _frames(_encrypt(b"x" * 40))

    with pytest.raises(backup.BackupFormatError, match="cut short"):
        _decrypt(header + b"".join(frames[:-1]))


def test_reordered_chunks_are_detected(small_chunks):
    header, frames = _frames(_encrypt(b"a" * 16 + b"b" * 16 + b"c" * 8))

    with pytest.raises(backup.BackupFormatError, match="chunk 0 is damaged"):
        _decrypt(header + frames[1] + frames[0] + frames[2])


def test_a_forged_last_bit_is_detected(small_chunks):
    header, frames = _frames(_encrypt(b"x" * 40))
    first = bytearray(frames[0])
    first[0] |= 0x80  # claim the first chunk is the last: the rest would be dropped

    with pytest.raises(backup.BackupFormatError, match="chunk 0 is damaged"):
        _decrypt(header + bytes(first))


def test_trailing_bytes_are_refused(small_chunks):
    with pytest.raises(backup.BackupFormatError, match="unexpected data"):
        _decrypt(_encrypt(b"dump") + b"more")


def test_a_file_that_is_not_a_backup_is_named_as_such():
    with pytest.raises(backup.BackupFormatError, match="not a Tayori backup"):
        _decrypt(b"PGDMP\x01\x0e" + b"\x00" * 40)


@pytest.mark.parametrize("raw", ["", "short", "x" * 44])
def test_a_missing_or_malformed_key_is_refused(raw):
    with pytest.raises(CommandError):
        backup.load_key(raw)


def test_generate_key_prints_a_usable_key(capsys):
    call_command("backup", generate_key=True)

    printed = capsys.readouterr().out.strip()
    assert len(backup.load_key(printed)) == 32


# --- A real backup and restore ------------------------------------------------------------


def _admin_url(name: str) -> str:
    config = connections["default"].settings_dict
    user = config.get("USER") or "postgres"
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name}"


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        return {
            table: connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in tables
        }


@pytest.fixture
def restored_database():
    name = f"tayori_restore_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(_admin_url("postgres"), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def backup_key(monkeypatch):
    monkeypatch.setenv(backup.KEY_ENV, KEY)
    return KEY


def _some_history():
    organization = make_organization("org-backup", name="株式会社バックアップ")
    admin = make_member(organization, Role.ADMIN, "admin@backup.example")
    marketer = make_member(organization, Role.MARKETER, "marketer@backup.example")
    for rows in (10, 20_000):
        entry = record(
            Action.CONTACTS_EXPORTED, actor=marketer.user, organization=organization, rows=rows
        )
    alerts.evaluate_entry(entry.pk)
    record(Action.LOGIN_FAILED, actor="nobody@example.com", organization=None)
    return admin


@pytest.mark.slow
def test_backup_then_restore_round_trips_with_an_intact_audit_chain(
    transactional_db, tmp_path, backup_key, restored_database
):
    _some_history()
    source_url = _admin_url(connections["default"].settings_dict["NAME"])
    target_url = _admin_url(restored_database)
    file = tmp_path / "tayori.backup"

    call_command("backup", output=str(file))
    call_command("restore", str(file), database_url=target_url, create=True)

    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert not (tmp_path / "tayori.backup.partial").exists()
    assert b"PGDMP" not in file.read_bytes()  # pg_dump's own magic: nothing in the clear
    before, after = _row_counts(source_url), _row_counts(target_url)
    assert after == before
    assert (before["audit_auditentry"], before["audit_alert"]) == (3, 1)
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit_chain"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": target_url, "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stderr
    assert "chain(s) verified." in verified.stdout


@pytest.mark.slow
def test_restore_with_another_key_writes_nothing(
    transactional_db, tmp_path, backup_key, restored_database, monkeypatch
):
    file = tmp_path / "tayori.backup"
    call_command("backup", output=str(file))
    monkeypatch.setenv(backup.KEY_ENV, OTHER_KEY)

    with pytest.raises(CommandError, match="made with another key"):
        call_command("restore", str(file), database_url=_admin_url(restored_database), create=True)

    with psycopg.connect(_admin_url("postgres")) as connection:
        created = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [restored_database]
        ).fetchone()
    assert created is None


@pytest.mark.slow
def test_restore_refuses_a_database_that_is_not_empty(transactional_db, tmp_path, backup_key):
    file = tmp_path / "tayori.backup"
    call_command("backup", output=str(file))
    live = _admin_url(connections["default"].settings_dict["NAME"])

    with pytest.raises(CommandError, match="is not empty"):
        call_command("restore", str(file), database_url=live)


def test_a_failed_dump_leaves_no_file(db, tmp_path, backup_key):
    file = tmp_path / "tayori.backup"

    with pytest.raises(CommandError, match="pg_dump failed"):
        call_command("backup", output=str(file), database_url=_admin_url("no_such_database_here"))

    assert list(tmp_path.iterdir()) == []


def test_backup_refuses_to_overwrite(db, tmp_path, backup_key):
    file = tmp_path / "tayori.backup"
    file.write_bytes(b"an older backup")

    with pytest.raises(CommandError, match="exists already"):
        call_command("backup", output=str(file))

    assert file.read_bytes() == b"an older backup"
