"""Reading the CSV files Japanese marketing teams actually have.

- Encodings: UTF-8, UTF-8 with a BOM (Excel's "CSV UTF-8"), CP932 (Japanese Excel's
  default; ``cp932`` rather than ``shift_jis`` so NEC/IBM extension characters such as
  ①, ㈱ and 髙 decode), UTF-16 with a BOM (Excel's "Unicode text"); anything else is
  detected with charset-normalizer. The whole file must decode: a file that decodes only
  partly is refused rather than imported with replacement characters.
- Delimiter sniffed among comma, tab, semicolon and pipe.
- Records are read with the csv module (quoted commas and line breaks, blank lines), each
  with the physical line number where it starts.
- Column mapping guessed from English and Japanese headers, then from the values.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from charset_normalizer import from_bytes
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

ENCODING_CHOICES = [
    ("utf-8", gettext_lazy("UTF-8")),
    ("utf-8-sig", gettext_lazy("UTF-8 with BOM (Excel “CSV UTF-8”)")),
    ("cp932", gettext_lazy("Shift_JIS / CP932 (Japanese Excel)")),
    ("euc_jp", gettext_lazy("EUC-JP")),
    ("iso2022_jp", gettext_lazy("ISO-2022-JP (JIS)")),
    ("utf-16", gettext_lazy("UTF-16 (Excel “Unicode text”)")),
    ("latin-1", gettext_lazy("Latin-1")),
]
DELIMITER_CHOICES = [
    (",", gettext_lazy("Comma (,)")),
    ("\t", gettext_lazy("Tab")),
    (";", gettext_lazy("Semicolon (;)")),
    ("|", gettext_lazy("Pipe (|)")),
]
_DELIMITERS = "".join(d for d, _label in DELIMITER_CHOICES)
_CHUNK = 1 << 20
# Enough text to sniff a delimiter and show a preview.
_SAMPLE_CHARS = 64 * 1024

# The csv module refuses fields over 128 KiB by default; a contact never has one, but a
# broken quote can swallow the rest of a file into one field. Allow large fields so the
# row is reported (as too long) instead of the whole import failing.
csv.field_size_limit(16 * 1024 * 1024)


class CSVFileError(ValueError):
    """The file cannot be read as a CSV file; ``str()`` says why (translated)."""


def _decodes(data: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(data[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _halfwidth_kana_ratio(text: str) -> float:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return 0.0
    return sum(1 for ch in non_ascii if "\uff61" <= ch <= "\uff9f") / len(non_ascii)


def detect_encoding(data: bytes) -> str:
    """The encoding to read ``data`` with. Raises ``CSVFileError`` if none decodes it all."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and _decodes(data, "utf-16"):
        return "utf-16"
    if _decodes(data, "utf-8"):
        return "utf-8"
    if _decodes(data, "cp932"):
        # EUC-JP text also decodes as CP932, into half-width katakana soup. Real CP932
        # files rarely consist mostly of half-width katakana; ask charset-normalizer then.
        if _halfwidth_kana_ratio(data[:_SAMPLE_CHARS].decode("cp932", "ignore")) < 0.5:
            return "cp932"
        guess = from_bytes(data[:_CHUNK]).best()
        if (
            guess is not None
            and guess.encoding not in {"cp932", "shift_jis"}
            and _decodes(data, guess.encoding)
        ):
            return guess.encoding
        return "cp932"
    guess = from_bytes(data[:_CHUNK]).best()
    if guess is not None and _decodes(data, guess.encoding):
        return guess.encoding
    raise CSVFileError(
        _(
            "Could not determine the file's character encoding. Save it from Excel as "
            "“CSV UTF-8” and upload it again."
        )
    )


def check_encoding(data: bytes, encoding: str) -> None:
    """Raise ``CSVFileError`` unless all of ``data`` decodes with ``encoding``."""
    if not _decodes(data, encoding):
        raise CSVFileError(
            _("The file cannot be read as %(encoding)s: some bytes do not decode.")
            % {"encoding": encoding}
        )


def text_stream(data: bytes, encoding: str, errors: str = "strict") -> io.TextIOWrapper:
    """The file as text, decoded on the fly (the decoded text is never held whole)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors=errors, newline="")


def sample_text(data: bytes, encoding: str) -> str:
    stream = text_stream(data, encoding)
    text = stream.read(_SAMPLE_CHARS)
    if len(text) == _SAMPLE_CHARS and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    first_line = next((line for line in sample.splitlines() if line.strip()), "")
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    cells: list[str]


def records(stream: io.TextIOBase, delimiter: str) -> Iterator[Record]:
    """Each CSV record with the physical line (1-based) where it starts.

    Quoted line breaks count as lines, so the number is what a text editor shows.
    Blank lines are skipped (they are not records).
    """
    reader = csv.reader(stream, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    previous_end = 0
    for cells in reader:
        start = previous_end + 1
        previous_end = reader.line_num
        # The first cell is usually filled; only then is the whole row checked.
        if cells and (cells[0].strip() or any(cell.strip() for cell in cells)):
            yield Record(start, cells)


def read_header_and_sample(
    data: bytes, encoding: str, delimiter: str, rows: int = 10, *, truncated: bool = False
):
    """``(first_record, next rows)`` for the preview; ``(None, [])`` for an empty file.

    ``truncated``: ``data`` is the head of a file already checked whole; a character cut
    at its end is dropped instead of failing.
    """
    stream = text_stream(data, encoding, "ignore" if truncated else "strict")
    iterator = records(stream, delimiter)
    first = next(iterator, None)
    sample = []
    for record in iterator:
        sample.append(record)
        if len(sample) >= rows:
            break
    return first, sample


# --- Column mapping -------------------------------------------------------------------

EMAIL = "email"
IGNORE = ""
STANDARD_TARGETS = [
    (IGNORE, gettext_lazy("(do not import)")),
    ("email", gettext_lazy("E-mail address")),
    ("last_name", gettext_lazy("Last name")),
    ("first_name", gettext_lazy("First name")),
    ("full_name", gettext_lazy("Full name (split at the first space)")),
    ("company", gettext_lazy("Company")),
    ("phone", gettext_lazy("Phone")),
    ("status", gettext_lazy("Status")),
    ("tags", gettext_lazy("Tags (separated by , ; 、 or |)")),
]
ATTRIBUTE_PREFIX = "attr:"

# Normalised header (NFKC, lower-case, without spaces, dashes, underscores and dots)
# -> target.
_HEADER_GUESSES = {
    "email": [
        "email",
        "emailaddress",
        "mail",
        "mailaddress",
        "e-mail",
        "メールアドレス",
        "メール",
        "eメール",
        "eメールアドレス",
        "電子メール",
        "電子メールアドレス",
        "メアド",
        "pcメールアドレス",
        "携帯メールアドレス",
    ],
    "last_name": ["lastname", "surname", "familyname", "姓", "氏", "苗字", "名字"],
    "first_name": ["firstname", "givenname", "名", "下の名前"],
    "full_name": ["name", "fullname", "氏名", "名前", "お名前", "担当者名", "ご担当者名"],
    "company": [
        "company",
        "companyname",
        "organization",
        "organisation",
        "会社名",
        "会社",
        "企業名",
        "法人名",
        "所属",
        "勤務先",
    ],
    "phone": [
        "phone",
        "phonenumber",
        "tel",
        "telephone",
        "mobile",
        "電話番号",
        "電話",
        "携帯電話",
        "携帯番号",
        "連絡先電話番号",
    ],
    "status": ["status", "subscriptionstatus", "状態", "ステータス", "配信状態", "購読状態"],
    "tags": ["tags", "tag", "タグ", "ラベル"],
}
_HEADER_INDEX = {
    header: target for target, headers in _HEADER_GUESSES.items() for header in headers
}
# Full-width punctuation is intentional: it is what Japanese headers contain.
_HEADER_NOISE = re.compile(r"[\s\-_.・:：()（）]+")  # noqa: RUF001
_LOOKS_LIKE_EMAIL = re.compile(r"^[^@\s]+[@＠][^@\s]+\.[^@\s]+$")  # noqa: RUF001 - full-width @


def _normalise_header(header: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", header).strip().lower())


def guess_target(header: str, custom_fields: dict[str, str]) -> str:
    """The mapping target for one header; ``custom_fields`` maps normalised key/label -> key."""
    normalised = _normalise_header(header)
    if normalised in _HEADER_INDEX:
        return _HEADER_INDEX[normalised]
    if normalised in custom_fields:
        return ATTRIBUTE_PREFIX + custom_fields[normalised]
    return IGNORE


def guess_mapping(
    columns: list[str], sample_rows: list[list[str]], custom_fields: list[tuple[str, str]]
) -> dict[str, str]:
    """``{column index (str): target}``. Headers first; if no column maps to the e-mail
    address, the column whose sample values mostly look like addresses does."""
    lookup = {}
    for key, label in custom_fields:
        lookup[_normalise_header(key)] = key
        lookup[_normalise_header(label)] = key
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for index, header in enumerate(columns):
        target = guess_target(header, lookup)
        if target and target in used:
            target = IGNORE
        mapping[str(index)] = target
        if target:
            used.add(target)
    if EMAIL not in used:
        column = guess_email_column(len(columns), sample_rows)
        if column is not None:
            mapping[str(column)] = EMAIL
    return mapping


def guess_email_column(width: int, sample_rows: list[list[str]]) -> int | None:
    best, best_hits = None, 0
    for index in range(width):
        values = [row[index].strip() for row in sample_rows if index < len(row) and row[index]]
        hits = sum(1 for value in values if _LOOKS_LIKE_EMAIL.match(value))
        if values and hits * 2 > len(values) and hits > best_hits:
            best, best_hits = index, hits
    return best


def first_row_is_header(first: list[str]) -> bool:
    """A first record holding an e-mail address is data, not a header."""
    return not any(_LOOKS_LIKE_EMAIL.match(cell.strip()) for cell in first)


def column_names(first: list[str], has_header: bool) -> list[str]:
    if has_header:
        return [cell.strip() or _("Column %(n)s") % {"n": i} for i, cell in enumerate(first, 1)]
    return [_("Column %(n)s") % {"n": i} for i in range(1, len(first) + 1)]
