"""``python manage.py backup [--output FILE] [--database-url URL]``: an encrypted backup.

The database is dumped with ``pg_dump --format=custom`` and encrypted as it streams out
(the plain dump never touches the disk) with the key in ``BACKUP_ENCRYPTION_KEY`` (or the
file named by ``BACKUP_ENCRYPTION_KEY_FILE``): 32 random bytes, URL-safe base64, made by
``python manage.py backup --generate-key``. The key is read by this command only; the web
and worker processes never need it. Keep it apart from the backups (a password manager,
a secrets store): a backup is only as private as its key.

The backup is written to ``FILE.partial`` (mode 0600) and renamed to ``FILE`` only once
``pg_dump`` has succeeded and the last chunk is written, so a file with the final name is
always complete. ``python manage.py restore`` reads it back.

Run it with a database role that is not subject to row-level security (the schema owner
with ``BYPASSRLS``, or a superuser): see docs/security.md. ``--database-url`` names that
connection; by default the app's own ``DATABASE_URL`` is used.

File format (version 1)
-----------------------
::

    header   "TAYORIBK"  8 bytes  magic
             0x01        1 byte   format version
             key id      8 bytes  HMAC-SHA256(key, "tayori-backup key id")[:8]
             nonce base  7 bytes  random, new for every backup
    chunks   frame       4 bytes  big-endian: top bit set on the last chunk, the other 31
                                  bits the length of the ciphertext that follows
             ciphertext  AES-256-GCM of up to 1 MiB of the dump, with its 16-byte tag

Chunk ``i`` (from 0) is encrypted with nonce ``nonce base || i (4 bytes, big-endian) ||
last`` where ``last`` is 1 for the final chunk and 0 otherwise, and with the 24-byte
header as associated data (the STREAM construction): a chunk that is altered, dropped,
repeated, reordered, moved to another backup or given a false "last" bit fails
authentication, and a file cut short has no chunk marked last. The final chunk may be
empty. The key id lets ``restore`` say "wrong key" instead of "damaged file".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import dj_database_url
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from config.env import env_secret

MAGIC = b"TAYORIBK"
VERSION = 1
CHUNK_SIZE = 1024 * 1024
HEADER_SIZE = len(MAGIC) + 1 + 8 + 7
TAG_SIZE = 16
LAST_FLAG = 0x8000_0000
KEY_ENV = "BACKUP_ENCRYPTION_KEY"
# pg_dump and pg_restore are the PostgreSQL client programs (major version >= server's).
PG_DUMP = "pg_dump"
PG_RESTORE = "pg_restore"


class BackupFormatError(ValueError):
    """The file is not a backup, was made with another key, or is damaged or cut short."""


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_key(raw: str | None = None) -> bytes:
    """The 32-byte key from ``raw`` or the environment; ``CommandError`` saying what is wrong."""
    raw = env_secret(KEY_ENV) if raw is None else raw
    if not raw:
        raise CommandError(
            f"{KEY_ENV} is not set (or {KEY_ENV}_FILE). Make a key with "
            "`python manage.py backup --generate-key` and keep it apart from the backups."
        )
    try:
        key = base64.urlsafe_b64decode(raw.strip().encode())
    except (ValueError, TypeError):
        key = b""
    if len(key) != 32:
        raise CommandError(f"{KEY_ENV} must be 32 bytes in URL-safe base64 (44 characters).")
    return key


def key_id(key: bytes) -> bytes:
    return hmac.new(key, b"tayori-backup key id", hashlib.sha256).digest()[:8]


def _nonce(base: bytes, index: int, last: bool) -> bytes:
    if index >= 2**32:
        raise BackupFormatError("backup too large for this format (4 PiB)")
    return base + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def encrypt_stream(source: BinaryIO, target: BinaryIO, key: bytes) -> int:
    """Encrypt everything ``source`` yields into ``target``; returns plaintext bytes read."""
    aead = AESGCM(key)
    header = MAGIC + bytes([VERSION]) + key_id(key) + secrets.token_bytes(7)
    target.write(header)
    total, index = 0, 0
    chunk = _read_full(source, CHUNK_SIZE)
    while True:
        following = _read_full(source, CHUNK_SIZE) if len(chunk) == CHUNK_SIZE else b""
        last = not following
        sealed = aead.encrypt(_nonce(header[-7:], index, last), chunk, header)
        target.write(struct.pack(">I", len(sealed) | (LAST_FLAG if last else 0)) + sealed)
        total += len(chunk)
        if last:
            return total
        chunk, index = following, index + 1


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Read exactly ``size`` bytes unless the stream ends (pipes return short reads)."""
    parts, wanted = [], size
    while wanted:
        part = stream.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def decrypt_chunks(source: BinaryIO, key: bytes) -> Iterator[bytes]:
    """Yield the plaintext chunks of a backup, each only after it is authenticated.

    Raises ``BackupFormatError`` for another key, a damaged chunk, a cut-short file or
    trailing bytes. A caller that must not act on a partly valid backup reads it through
    once first (``verify``).
    """
    header = _read_full(source, HEADER_SIZE)
    if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
        raise BackupFormatError("not a Tayori backup file")
    if header[len(MAGIC)] != VERSION:
        raise BackupFormatError(f"unknown backup format version {header[len(MAGIC)]}")
    if not hmac.compare_digest(header[len(MAGIC) + 1 : len(MAGIC) + 9], key_id(key)):
        raise BackupFormatError(f"this backup was made with another key than {KEY_ENV}")
    aead, base, index = AESGCM(key), header[-7:], 0
    while True:
        frame = _read_full(source, 4)
        if len(frame) < 4:
            raise BackupFormatError("the backup is cut short (its last chunk is missing)")
        (value,) = struct.unpack(">I", frame)
        last, length = bool(value & LAST_FLAG), value & ~LAST_FLAG
        if not TAG_SIZE <= length <= CHUNK_SIZE + TAG_SIZE:
            raise BackupFormatError(f"chunk {index} is damaged (impossible length)")
        sealed = _read_full(source, length)
        if len(sealed) < length:
            raise BackupFormatError("the backup is cut short")
        try:
            yield aead.decrypt(_nonce(base, index, last), sealed, header)
        except InvalidTag:
            raise BackupFormatError(f"chunk {index} is damaged or altered") from None
        if last:
            if source.read(1):
                raise BackupFormatError("unexpected data after the last chunk")
            return
        index += 1


def verify(path: Path, key: bytes) -> int:
    """Authenticate the whole file without writing anything; returns the dump's size."""
    with path.open("rb") as source:
        return sum(len(chunk) for chunk in decrypt_chunks(source, key))


def connection_settings(database_url: str | None) -> dict:
    """Django-style settings of the database to dump/restore (PostgreSQL only)."""
    if database_url:
        config = dj_database_url.parse(database_url)
    else:
        config = dict(connections["default"].settings_dict)
    if "postgresql" not in config.get("ENGINE", ""):
        raise CommandError("Backups need PostgreSQL (DATABASE_URL=postgres://...).")
    return config


def libpq_environment(config: dict) -> dict[str, str]:
    """Connection details for pg_dump/pg_restore as libpq variables: the password never
    appears on a command line (where ``ps`` would show it)."""
    env = dict(os.environ)
    values = {
        "PGHOST": config.get("HOST") or "",
        "PGPORT": str(config.get("PORT") or ""),
        "PGUSER": config.get("USER") or "",
        "PGPASSWORD": config.get("PASSWORD") or "",
        "PGDATABASE": str(config.get("NAME") or ""),
        "PGSSLMODE": (config.get("OPTIONS") or {}).get("sslmode", ""),
    }
    for name, value in values.items():
        env.pop(name, None)
        if value:
            env[name] = value
    return env


def require_program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CommandError(f"{name} is not installed (the PostgreSQL client programs).")
    return found


class Command(BaseCommand):
    help = "Back up the database: pg_dump, encrypted with BACKUP_ENCRYPTION_KEY (AES-256-GCM)."

    def add_arguments(self, parser):
        parser.add_argument("--output", metavar="FILE", help="Where to write the backup.")
        parser.add_argument(
            "--database-url",
            metavar="URL",
            help="Dump this database instead of the app's (a role not subject to RLS).",
        )
        parser.add_argument("--generate-key", action="store_true", help="Print a new key and exit.")

    def handle(self, *args, output=None, database_url=None, generate_key=False, **options):
        if generate_key:
            self.stdout.write(globals()["generate_key"]())
            return
        key = load_key()
        config = connection_settings(database_url)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        target = Path(output or f"tayori-{config['NAME']}-{stamp}.backup").resolve()
        if target.exists():
            raise CommandError(f"{target} exists already; choose another --output.")
        pg_dump = require_program(PG_DUMP)
        partial = target.with_name(target.name + ".partial")
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(  # noqa: S603 - fixed program, no shell, no user text
                [pg_dump, "--format=custom", "--no-password"],
                stdout=subprocess.PIPE,
                stderr=errors,
                env=libpq_environment(config),
            )
            try:
                descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as out:
                    size = encrypt_stream(process.stdout, out, key)
                    out.flush()
                    os.fsync(out.fileno())
                returncode = process.wait()
            except BaseException:
                process.kill()
                process.wait()
                partial.unlink(missing_ok=True)
                raise
            if returncode != 0:
                partial.unlink(missing_ok=True)
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()
                raise CommandError(f"pg_dump failed ({returncode}): {message}")
        partial.rename(target)
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup of {config['NAME']} written to {target} ({size} bytes of dump)."
            )
        )
