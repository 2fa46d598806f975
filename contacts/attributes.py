"""Custom attribute values: parsed from text (CSV cells, form input) against their definition.

Stored in ``Contact.attributes`` as JSON: text and choice as strings, numbers as JSON
numbers, dates as ``YYYY-MM-DD``, booleans as ``true``/``false``. Input is NFKC-normalised
first, so full-width digits and punctuation from Japanese spreadsheets read as expected.
"""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from contacts.enums import FieldType

MAX_TEXT_LENGTH = 1000

# Marks used in Japanese spreadsheets for yes/no.
_TRUE = {"true", "yes", "y", "1", "on", "はい", "有", "あり", "○", "〇", "◯", "済"}  # noqa: RUF001 - intentional
_FALSE = {"false", "no", "n", "0", "off", "いいえ", "無", "なし", "×", "✕", "未"}  # noqa: RUF001 - intentional
_DATE_PATTERNS = [
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
]


class InvalidValue(ValueError):
    """The value does not fit the field; ``str()`` says why (translated)."""


def parse_value(field_type: str, raw: str, choices: list[str] | None = None):
    """The JSON value for ``raw``, or ``None`` for an empty input. Raises ``InvalidValue``."""
    text = raw.strip()
    if not text:
        return None
    if field_type == FieldType.TEXT:
        if len(text) > MAX_TEXT_LENGTH:
            raise InvalidValue(_("Longer than %(max)s characters.") % {"max": MAX_TEXT_LENGTH})
        return text
    folded = unicodedata.normalize("NFKC", text).strip()
    if field_type == FieldType.NUMBER:
        return _parse_number(folded)
    if field_type == FieldType.DATE:
        return _parse_date(folded)
    if field_type == FieldType.BOOLEAN:
        lowered = folded.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidValue(_("Not yes or no."))
    if field_type == FieldType.CHOICE:
        options = choices or []
        if text in options:
            return text
        by_folded = {unicodedata.normalize("NFKC", o).lower(): o for o in options}
        if folded.lower() in by_folded:
            return by_folded[folded.lower()]
        raise InvalidValue(
            _("Not one of the choices (%(choices)s).") % {"choices": ", ".join(options)}
        )
    raise InvalidValue(_("Unknown field type."))


def _parse_number(text: str):
    cleaned = text.replace(",", "").replace("円", "").replace("¥", "").strip()
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidValue(_("Not a number.")) from None
    if not number.is_finite():
        raise InvalidValue(_("Not a number."))
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    value = float(number)
    if math.isinf(value):
        raise InvalidValue(_("Not a number."))
    return value


def _parse_date(text: str) -> str:
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            try:
                year, month, day = (int(part) for part in match.groups())
                return datetime.date(year, month, day).isoformat()
            except ValueError:
                break
    raise InvalidValue(_("Not a date (use YYYY-MM-DD)."))


def display_value(field_type: str, value) -> str:
    if value is None:
        return ""
    if field_type == FieldType.BOOLEAN:
        return _("Yes") if value else _("No")
    return str(value)
