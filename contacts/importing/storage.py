"""Moving an import's file bytes in and out of the database without extra copies.

Django's psycopg backend binds parameters on the client, which sends ``bytea`` as a hex
string twice the file's size (and receives it the same way): for a 70 MB file that
costs hundreds of megabytes. On PostgreSQL the file is written with a binary parameter
and read back in binary slices into a spooled temporary file, so an import holds a few
megabytes of it in memory at a time.
"""

from __future__ import annotations

import io
import tempfile
from typing import BinaryIO

import psycopg
from django.db import connection

from contacts.models import ImportJob

_SLICE = 4 * 1024 * 1024
_SPOOL = 8 * 1024 * 1024
_TABLE = ImportJob._meta.db_table


def _binding_cursor() -> psycopg.Cursor:
    """A server-side-binding psycopg cursor on Django's connection (Django's own cursors
    are ``ClientCursor``s, which can neither send nor receive binary values)."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def create_job(data: bytes, **fields) -> ImportJob:
    """Create an import job holding ``data`` as its file."""
    if connection.vendor != "postgresql":
        return ImportJob.objects.create(file_data=data, **fields)
    job = ImportJob.objects.create(**fields)
    with _binding_cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET file_data = %b WHERE id = %s",  # noqa: S608 - model's table
            [data, job.pk],
        )
    return job


def open_file(job_id: int) -> BinaryIO:
    """The job's file as a binary file object positioned at the start."""
    if connection.vendor != "postgresql":
        value = ImportJob.objects.filter(pk=job_id).values_list("file_data", flat=True).get()
        return io.BytesIO(bytes(value))
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - returned open
    offset = 1
    with _binding_cursor() as cursor:
        while True:
            cursor.execute(
                f"SELECT substring(file_data FROM %s FOR %s) FROM {_TABLE} WHERE id = %s",  # noqa: S608 - model's table
                [offset, _SLICE, job_id],
                binary=True,
            )
            row = cursor.fetchone()
            chunk = row[0] if row else b""
            if not chunk:
                break
            spool.write(chunk)
            offset += len(chunk)
    spool.seek(0)
    return spool


def load_head(job_id: int, size: int = 256 * 1024) -> bytes:
    """The first ``size`` bytes of the job's file (previews; the whole file decoded when it
    was uploaded, so a character cut at the end is the only decoding problem possible)."""
    if connection.vendor != "postgresql":
        return load_file(job_id)[:size]
    with _binding_cursor() as cursor:
        cursor.execute(
            f"SELECT substring(file_data FROM 1 FOR %s) FROM {_TABLE} WHERE id = %s",  # noqa: S608 - model's table
            [size, job_id],
            binary=True,
        )
        row = cursor.fetchone()
    return bytes(row[0]) if row else b""


def load_file(job_id: int) -> bytes:
    """The whole file (previews and encoding checks of uploads; imports use ``open_file``)."""
    with open_file(job_id) as handle:
        return handle.read()
