"""What one run of an import needs, shared by both engines."""

from __future__ import annotations

import csv
import datetime
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.core.cache import cache
from django.utils.translation import gettext as _

from audit.services import neutralise_cell
from contacts.csvfiles import records
from contacts.enums import ReportOutcome, SuppressionReason
from contacts.importing.rows import RowValidator

SAMPLE_SIZE = 100
_PROGRESS_INTERVAL = 0.5


@dataclass
class ImportPlan:
    job: object  # contacts.models.ImportJob
    organization: object
    validator: RowValidator
    contact_list: object | None
    actor: object | None
    actor_label: str
    hidden_edit_list_ids: frozenset[int]
    now: datetime.datetime
    messages: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        # Translated once, in the language of the person who started the import.
        reasons = {value: label for value, label in SuppressionReason.choices}
        self.messages = {
            **{
                f"suppressed:{code}": _(
                    "The address is on the suppression list (%(reason)s); an import never "
                    "resubscribes it."
                )
                % {"reason": label}
                for code, label in reasons.items()
            },
            "limit": _(
                "Over your plan's limit of %(max)s contacts: this row would add a contact "
                "beyond it."
            )
            % {"max": self.organization.max_contacts},
            "restricted": _(
                "The address belongs to a restricted list you may not change; ask an admin."
            ),
            "resubscribe": _(
                "The file says subscribed, but the contact's status stays as it is: imports "
                "never resubscribe anyone."
            ),
            "merged": _("Same address as line {line}: merged into that row."),
        }


@dataclass
class ImportResult:
    counts: dict
    report: bytes
    sample: list[dict]


class Progress:
    """Writes the running import's progress to the cache for the polling fragment."""

    def __init__(self, job_id: int | None, callback: Callable[[dict], None] | None = None):
        self.job_id = job_id
        self.callback = callback
        self._last = 0.0

    @staticmethod
    def cache_key(job_id: int) -> str:
        return f"contacts:import:{job_id}:progress"

    def __call__(self, phase: str, percent: float, rows: int = 0, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _PROGRESS_INTERVAL:
            return
        self._last = now
        state = {
            "phase": phase,
            "percent": max(0, min(100, int(percent))),
            "rows": rows,
            "at": time.time(),  # the heartbeat that tells a stuck import from a slow one
        }
        if self.job_id is not None:
            cache.set(self.cache_key(self.job_id), state, timeout=24 * 3600)
        if self.callback is not None:
            self.callback(state)


def staged_tuples(plan: ImportPlan, handle, progress: Progress) -> Iterator[tuple]:
    """Validate every data record of the job's file (``handle``: binary, at its start),
    streaming: neither the bytes nor the decoded text are ever held whole."""
    job = plan.job
    size = max(job.file_size, 1)
    plan.validator.may_contain_nul = _may_contain_nul(handle, job.encoding)
    stream = io.TextIOWrapper(handle, encoding=job.encoding, newline="")
    iterator = records(stream, job.delimiter)
    if job.has_header:
        next(iterator, None)
    validate = plan.validator
    count = 0
    for record in iterator:
        yield validate(record)
        count += 1
        if not count % 4096:
            progress("reading", 60 * handle.tell() / size, count)
    progress("reading", 60, count, force=True)


def _may_contain_nul(handle, encoding: str) -> bool:
    """Whether the decoded text can contain NUL (a fast byte scan; rewinds ``handle``)."""
    if "16" in encoding or "32" in encoding:
        return True  # UTF-16/32: zero bytes are everywhere; check each cell instead
    found = False
    while chunk := handle.read(4 * 1024 * 1024):
        if b"\x00" in chunk:
            found = True
            break
    handle.seek(0)
    return found


REPORT_HEADER_FIELDS = ("line", "result", "email", "column", "value", "message")


def report_header() -> list[str]:
    return [_("Line"), _("Result"), _("E-mail address"), _("Column"), _("Value"), _("Message")]


def build_report(entries: Iterable[tuple]) -> tuple[bytes, list[dict]]:
    """CSV (UTF-8 with BOM, cells neutralised for Excel) and the first entries as dicts.

    ``entries`` are ``(line, outcome, email, column, value, message)`` in line order.
    """
    raw = io.BytesIO()
    buffer = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    writer = csv.writer(buffer)
    writer.writerow(report_header())
    outcomes = dict(ReportOutcome.choices)
    sample = []
    for entry in entries:
        line, outcome, email, column, value, message = entry
        writer.writerow(
            [
                line,
                str(outcomes.get(outcome, outcome)),
                neutralise_cell(email),
                neutralise_cell(column),
                neutralise_cell(value),
                neutralise_cell(message),
            ]
        )
        if len(sample) < SAMPLE_SIZE:
            sample.append(dict(zip(REPORT_HEADER_FIELDS, entry, strict=True)))
    buffer.flush()
    return raw.getvalue(), sample


def report_entry(
    line, email, reject_reason, reject_column, reject_value, note, merged_into, email_column
):
    """One report line for a staged row that was rejected, merged or warned about."""
    if reject_reason is not None:
        message = reject_reason if not note else f"{reject_reason} / {note}"
        column = reject_column or email_column
        value = reject_value if reject_column else email
        return (line, ReportOutcome.REJECTED.value, email, column, value, message)
    if merged_into is not None:
        return (line, ReportOutcome.MERGED.value, email, email_column, email, note or "")
    return (line, ReportOutcome.WARNING.value, email, "", "", note or "")


def empty_counts() -> dict:
    return {
        "rows": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "merged": 0,
        "warnings": 0,
        "added_to_list": 0,
        "suppressed": 0,
    }
