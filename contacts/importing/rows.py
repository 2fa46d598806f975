"""Turning CSV records into staged rows: validation, normalisation, merging duplicates.

A staged row is a tuple in the column order of the PostgreSQL staging table (so the
PostgreSQL engine can COPY it as it is); ``StagedRow`` is the same data as an object for
the ORM engine and for merging.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from contacts.attributes import InvalidValue, parse_value
from contacts.csvfiles import ATTRIBUTE_PREFIX, EMAIL, Record
from contacts.emails import InvalidEmail, normalise_email
from contacts.enums import ContactStatus

TAG_SEPARATOR = "\x1f"
MAX_LENGTHS = {"last_name": 200, "first_name": 200, "company": 200, "phone": 50}
MAX_TAG_LENGTH = 100
_TAG_SPLIT = re.compile(r"[,;、|，；｜]")  # noqa: RUF001 - full-width separators too
_NAME_SPLIT = re.compile(r"[\s\u3000]+")
_EMPTY_ATTRIBUTES = "{}"

# Status cells, NFKC-folded and lower-cased, in English and Japanese.
STATUS_WORDS = {
    ContactStatus.SUBSCRIBED: [
        "subscribed",
        "active",
        "opt-in",
        "optin",
        "yes",
        "購読",
        "購読中",
        "配信",
        "配信中",
        "配信する",
        "配信希望",
        "有効",
    ],
    ContactStatus.UNSUBSCRIBED: [
        "unsubscribed",
        "opt-out",
        "optout",
        "no",
        "配信停止",
        "停止",
        "解除",
        "購読解除",
        "配信解除",
        "配信しない",
        "配信不要",
        "無効",
    ],
    ContactStatus.BOUNCED: ["bounced", "bounce", "hard bounce", "不達", "エラー", "バウンス"],
    ContactStatus.COMPLAINED: ["complained", "complaint", "spam", "苦情", "迷惑メール報告"],
}
_STATUS_INDEX = {word: status for status, words in STATUS_WORDS.items() for word in words}

# Column order of the staging table.
COLUMNS = (
    "line",
    "email",
    "last_name",
    "first_name",
    "company",
    "phone",
    "status",
    "attributes",
    "tags",
    "reject_reason",
    "reject_column",
    "reject_value",
    "note",
)


@dataclass(slots=True)
class StagedRow:
    line: int
    email: str = ""
    last_name: str = ""
    first_name: str = ""
    company: str = ""
    phone: str = ""
    status: str | None = None
    attributes: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    reject_reason: str | None = None
    reject_column: str | None = None
    reject_value: str | None = None
    note: str | None = None
    merged_into: int | None = None

    @classmethod
    def from_tuple(cls, values) -> StagedRow:
        row = cls(*values[:13])
        row.attributes = json.loads(row.attributes) if row.attributes else {}
        row.tags = row.tags.split(TAG_SEPARATOR) if row.tags else []
        return row

    def as_tuple(self) -> tuple:
        return (
            self.line,
            self.email,
            self.last_name,
            self.first_name,
            self.company,
            self.phone,
            self.status,
            json.dumps(self.attributes, ensure_ascii=False) if self.attributes else "{}",
            TAG_SEPARATOR.join(self.tags),
            self.reject_reason,
            self.reject_column,
            self.reject_value,
            self.note,
        )

    @property
    def key(self) -> str:
        return self.email.lower()

    @property
    def ok(self) -> bool:
        return self.reject_reason is None and self.merged_into is None

    def add_note(self, text: str) -> None:
        self.note = f"{self.note} / {text}" if self.note else text


def join_notes(*notes: str | None) -> str | None:
    present = [n for n in notes if n]
    return " / ".join(present) if present else None


def parse_status(cell: str) -> str | None:
    """The status a cell names, ``None`` for an empty cell; ``KeyError`` if unknown."""
    folded = unicodedata.normalize("NFKC", cell).strip().lower()
    if not folded:
        return None
    return _STATUS_INDEX[folded]


def split_tags(cell: str) -> list[str]:
    tags = []
    for part in _TAG_SPLIT.split(cell):
        name = unicodedata.normalize("NFKC", part).replace(TAG_SEPARATOR, "").strip()
        if name and name not in tags:
            tags.append(name)
    return tags


class RowValidator:
    """Validates one record against the column mapping; returns a staging tuple.

    ``mapping`` is ``{column index (str): target}``; ``fields`` the organisation's custom
    fields by key; ``columns`` the column names (for the report).
    """

    def __init__(
        self, mapping: dict[str, str], fields: dict, columns: list[str], may_contain_nul=True
    ):
        # PostgreSQL text cannot hold NUL; checking every cell costs time, so callers that
        # scanned the file and found none say so.
        self.may_contain_nul = may_contain_nul
        self.columns = columns
        self.width = len(columns)
        self.email_index = None
        self.simple: list[tuple[int, int, int]] = []  # (cell index, tuple position, max)
        self.full_name_index = None
        self.status_index = None
        self.tags_index = None
        self.attributes: list[tuple[int, str, str, list]] = []
        positions = {name: COLUMNS.index(name) for name in MAX_LENGTHS}
        for key, target in mapping.items():
            index = int(key)
            if target == EMAIL:
                self.email_index = index
            elif target in MAX_LENGTHS:
                self.simple.append((index, positions[target], MAX_LENGTHS[target]))
            elif target == "full_name":
                self.full_name_index = index
            elif target == "status":
                self.status_index = index
            elif target == "tags":
                self.tags_index = index
            elif target.startswith(ATTRIBUTE_PREFIX):
                definition = fields[target[len(ATTRIBUTE_PREFIX) :]]
                self.attributes.append(
                    (index, definition.key, definition.field_type, definition.choices)
                )
        if self.email_index is None:
            raise ValueError("mapping has no e-mail column")
        self.mapped_positions = {position for _i, position, _m in self.simple}

    def column_name(self, index: int) -> str:
        return self.columns[index] if index < self.width else str(index + 1)

    def _reject(self, line: int, reason: str, index: int, value: str, email: str = "") -> tuple:
        return (
            line,
            email,
            "",
            "",
            "",
            "",
            None,
            "{}",
            "",
            reason,
            self.column_name(index),
            value,
            None,
        )

    def __call__(self, record: Record) -> tuple:
        cells, line = record.cells, record.line
        notes = []
        if self.may_contain_nul and any("\x00" in cell for cell in cells):
            cells = [cell.replace("\x00", "") for cell in cells]
            notes.append(_("NUL characters removed."))
        if len(cells) > self.width and any(c.strip() for c in cells[self.width :]):
            notes.append(
                _(
                    "The row has %(cells)s cells but the header has %(columns)s; "
                    "extra cells ignored."
                )
                % {"cells": len(cells), "columns": self.width}
            )
        width = len(cells)
        raw_email = cells[self.email_index] if self.email_index < width else ""
        if not raw_email.strip():
            return self._reject(line, _("No e-mail address."), self.email_index, raw_email)
        try:
            normalised = normalise_email(raw_email)
        except InvalidEmail as error:
            return self._reject(line, str(error), self.email_index, raw_email)
        email = normalised.address
        if normalised.warning:
            notes.append(normalised.warning)
        row = [line, email, "", "", "", "", None, _EMPTY_ATTRIBUTES, "", None, None, None, None]
        for index, position, maximum in self.simple:
            if index < width:
                value = cells[index].strip()
                if len(value) > maximum:
                    return self._reject(
                        line,
                        _("%(column)s is longer than %(max)s characters.")
                        % {"column": self.column_name(index), "max": maximum},
                        index,
                        value,
                        email,
                    )
                row[position] = value
        if self.full_name_index is not None and self.full_name_index < width:
            full = cells[self.full_name_index].strip()
            if full:
                parts = _NAME_SPLIT.split(full, maxsplit=1)
                last, first = parts[0], (parts[1] if len(parts) > 1 else "")
                if len(last) > 200 or len(first) > 200:
                    return self._reject(
                        line,
                        _("%(column)s is longer than %(max)s characters.")
                        % {"column": self.column_name(self.full_name_index), "max": 200},
                        self.full_name_index,
                        full,
                        email,
                    )
                if not row[2]:
                    row[2] = last
                if not row[3]:
                    row[3] = first
        if self.status_index is not None and self.status_index < width:
            cell = cells[self.status_index]
            try:
                row[6] = parse_status(cell)
            except KeyError:
                return self._reject(
                    line,
                    _(
                        "Unknown status “%(value)s” (use subscribed, unsubscribed, bounced "
                        "or complained)."
                    )
                    % {"value": cell.strip()},
                    self.status_index,
                    cell,
                    email,
                )
        if self.tags_index is not None and self.tags_index < width:
            tags = split_tags(cells[self.tags_index])
            for tag in tags:
                if len(tag) > MAX_TAG_LENGTH:
                    return self._reject(
                        line,
                        _("A tag is longer than %(max)s characters.") % {"max": MAX_TAG_LENGTH},
                        self.tags_index,
                        cells[self.tags_index],
                        email,
                    )
            row[8] = TAG_SEPARATOR.join(tags)
        if self.attributes:
            values = {}
            for index, key, field_type, choices in self.attributes:
                if index >= width:
                    continue
                try:
                    value = parse_value(field_type, cells[index], choices)
                except InvalidValue as error:
                    return self._reject(
                        line,
                        _("%(column)s: %(error)s")
                        % {"column": self.column_name(index), "error": error},
                        index,
                        cells[index],
                        email,
                    )
                if value is not None:
                    values[key] = value
            if values:
                row[7] = json.dumps(values, ensure_ascii=False)
        if notes:
            row[12] = " / ".join(notes)
        return tuple(row)


def merge_group(rows: list[StagedRow], template: str) -> StagedRow:
    """Merge rows with the same address (in file order) into the first one.

    Later non-empty values win, custom fields are combined, tags are united; the other
    rows are marked ``merged_into`` the first with a note. ``template`` contains
    ``{line}``.
    """
    winner = rows[0]
    for other in rows[1:]:
        for name in ("email", "last_name", "first_name", "company", "phone"):
            value = getattr(other, name)
            if value:
                setattr(winner, name, value)
        if other.status is not None:
            winner.status = other.status
        winner.attributes.update(other.attributes)
        for tag in other.tags:
            if tag not in winner.tags:
                winner.tags.append(tag)
        other.merged_into = winner.line
        other.add_note(template.replace("{line}", str(winner.line)))
    return winner
