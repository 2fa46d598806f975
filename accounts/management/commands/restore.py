"""``python manage.py restore FILE --database-url URL``: restore an encrypted backup.

Contract
--------
- Restores only into a database that is empty (no tables, views or sequences outside
  the system schemas); ``--create`` creates the database first. It never overwrites a
  live database: restoring means pointing the app at the restored database afterwards.
- The whole file is authenticated first (``BACKUP_ENCRYPTION_KEY``, see ``backup``): a
  wrong key, a damaged or cut-short file is refused before anything is written.
- It is then decrypted as it streams into ``pg_restore --single-transaction
  --exit-on-error``: the restore is all or nothing.
- Roles are not part of a database dump. The role names the dump grants to (the app's
  ``tayori_app``, the owner) must exist in the target cluster, or pass ``--no-owner``
  and ``--no-privileges`` (then grant the app role its rights again; docs/security.md).
- Afterwards: ``python manage.py verify_audit_chain`` against the restored database
  proves the audit log came back intact (the test does exactly that).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import psycopg
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

from accounts.management.commands.backup import (
    PG_RESTORE,
    BackupFormatError,
    connection_settings,
    decrypt_chunks,
    libpq_environment,
    load_key,
    require_program,
    verify,
)

_USER_OBJECTS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
"""


def _connect(config: dict, dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname=dbname,
        sslmode=(config.get("OPTIONS") or {}).get("sslmode") or None,
        autocommit=True,
    )


def create_database(config: dict) -> None:
    with _connect(config, "postgres") as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if exists:
            raise CommandError(f"The database {config['NAME']} exists already (drop --create).")
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def require_empty(config: dict) -> None:
    try:
        with _connect(config, config["NAME"]) as connection:
            (objects,) = connection.execute(_USER_OBJECTS).fetchone()
    except psycopg.OperationalError as error:
        raise CommandError(f"Cannot connect to the target database: {error}") from None
    if objects:
        raise CommandError(
            f"The database {config['NAME']} is not empty ({objects} tables, views or "
            "sequences): restore into a new, empty database."
        )


class Command(BaseCommand):
    help = "Restore an encrypted backup (made by `backup`) into a new, empty database."

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="The backup file.")
        parser.add_argument(
            "--database-url", metavar="URL", required=True, help="The database to restore into."
        )
        parser.add_argument(
            "--create", action="store_true", help="Create the database first (must not exist)."
        )
        parser.add_argument("--no-owner", action="store_true", help="Do not restore object owners.")
        parser.add_argument(
            "--no-privileges", action="store_true", help="Do not restore grants (GRANT/REVOKE)."
        )

    def handle(self, *args, file, database_url, create, no_owner, no_privileges, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        key = load_key()
        config = connection_settings(database_url)
        pg_restore = require_program(PG_RESTORE)
        try:
            size = verify(path, key)
        except BackupFormatError as error:
            raise CommandError(f"{path}: {error}. Nothing was restored.") from None
        if create:
            create_database(config)
        require_empty(config)
        command = [
            pg_restore,
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={config['NAME']}",
        ]
        if no_owner:
            command.append("--no-owner")
        if no_privileges:
            command.append("--no-privileges")
        with tempfile.TemporaryFile() as errors, path.open("rb") as source:
            process = subprocess.Popen(  # noqa: S603 - fixed program, no shell, no user text
                command, stdin=subprocess.PIPE, stderr=errors, env=libpq_environment(config)
            )
            try:
                for chunk in decrypt_chunks(source, key):
                    process.stdin.write(chunk)
                process.stdin.close()
            except BrokenPipeError:
                pass  # pg_restore stopped early; its exit status and message say why
            except BaseException:
                process.kill()
                process.wait()
                raise
            returncode = process.wait()
            if returncode != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()
                raise CommandError(
                    f"pg_restore failed ({returncode}); nothing was restored: {message}"
                )
        self.stdout.write(
            self.style.SUCCESS(f"Restored {path} ({size} bytes of dump) into {config['NAME']}.")
        )
