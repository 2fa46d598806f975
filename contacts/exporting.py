"""Exporting contacts to CSV: the rules.

- Needs ``contacts.export`` (viewers never have it) and a fresh re-authentication: the
  password or a two-factor code entered after signing in, asked by the view through
  ``accounts.reauth.require_recent_auth(request, login_counts=False)`` (the one
  re-authentication of the project; valid for five minutes in this session only).
- Exports only what the person can see (``services.visible_contacts``), whatever filter
  or queryset the caller passes.
- UTF-8 with BOM (Excel opens it correctly) by default; CP932 on request. Characters
  CP932 lacks but has a look-alike for (WAVE DASH, MINUS SIGN ...) are mapped to it, as
  Windows does; any other unencodable character refuses the export with an error naming
  the contact and the character (nothing is silently replaced or dropped).
- Every cell is neutralised for spreadsheets (``audit.services.neutralise_cell``).
- Audited with the row count, the filter and the encoding.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import require_perm
from accounts.models import Membership
from audit import record
from audit.enums import Action
from audit.services import neutralise_cell
from contacts.attributes import display_value
from contacts.models import Contact, CustomField, ListMembership
from contacts.services import visible_contacts, visible_lists

ENCODINGS = {
    "utf-8-sig": gettext_lazy("UTF-8 (Excel “CSV UTF-8”)"),
    "cp932": gettext_lazy("Shift_JIS / CP932 (older Excel)"),
}
# Characters Unicode text often has where CP932 has a different code point for the same
# glyph (the classic "wave dash problem"); Windows maps them the same way.
_CP932_LOOKALIKES = str.maketrans(
    {
        "\u301c": "\uff5e",  # WAVE DASH -> FULLWIDTH TILDE
        "\u2212": "\uff0d",  # MINUS SIGN -> FULLWIDTH HYPHEN-MINUS
        "\u2016": "\u2225",  # DOUBLE VERTICAL LINE -> PARALLEL TO
        "\u2014": "\u2015",  # EM DASH -> HORIZONTAL BAR
        "\u00a2": "\uffe0",  # CENT SIGN -> FULLWIDTH CENT SIGN
        "\u00a3": "\uffe1",  # POUND SIGN -> FULLWIDTH POUND SIGN
        "\u00ac": "\uffe2",  # NOT SIGN -> FULLWIDTH NOT SIGN
    }
)


class ExportError(ValueError):
    """The export cannot be produced as asked; ``str()`` says why (translated)."""


# --- The export -----------------------------------------------------------------------


@dataclass
class Export:
    file: tempfile.SpooledTemporaryFile
    rows: int
    file_name: str
    content_type: str


def export_columns(fields: list[CustomField]) -> list[str]:
    return [
        _("E-mail address"),
        _("Last name"),
        _("First name"),
        _("Company"),
        _("Phone"),
        _("Status"),
        _("Tags"),
        _("Lists"),
        _("Consent obtained through"),
        _("Consent obtained at"),
        _("Evidence of consent"),
        *[f.label for f in fields],
        _("Created"),
    ]


def export_contacts(
    membership: Membership,
    contacts: QuerySet[Contact],
    *,
    encoding: str = "utf-8-sig",
    description: dict | None = None,
    request=None,
) -> Export:
    """Write ``contacts`` (limited to what ``membership`` may see) to a CSV file.

    Raises ``ExportError`` for an unknown encoding or a character the encoding lacks.
    The caller must have asked for the re-authentication (the view does).
    """
    require_perm(membership, "contacts.export")
    if encoding not in ENCODINGS:
        raise ExportError(_("Unknown encoding."))
    visible = visible_contacts(membership)
    contacts = visible.filter(pk__in=contacts.values("pk")).order_by("email", "pk")
    list_names = dict(visible_lists(membership).values_list("pk", "name"))
    contacts = contacts.prefetch_related(
        "tags",
        Prefetch(
            "memberships",
            queryset=ListMembership.objects.filter(contact_list_id__in=list(list_names)),
            to_attr="visible_memberships",
        ),
    )
    fields = list(CustomField.objects.for_organization(membership.organization_id))
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned
    text = io.TextIOWrapper(spool, encoding=encoding, errors="strict", newline="")
    writer = csv.writer(text)
    writer.writerow([neutralise_cell(c) for c in export_columns(fields)])
    tz = timezone.get_current_timezone()
    count = 0
    for contact in contacts.iterator(chunk_size=2000):
        row = [
            contact.email,
            contact.last_name,
            contact.first_name,
            contact.company,
            contact.phone,
            contact.get_status_display(),
            ", ".join(sorted(t.name for t in contact.tags.all())),
            ", ".join(sorted(list_names[m.contact_list_id] for m in contact.visible_memberships)),
            contact.get_consent_method_display(),
            contact.consent_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            contact.consent_evidence,
            *[display_value(f.field_type, contact.attributes.get(f.key)) for f in fields],
            contact.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        ]
        cells = [neutralise_cell(str(cell)) for cell in row]
        if encoding == "cp932":
            cells = [cell.translate(_CP932_LOOKALIKES) for cell in cells]
        try:
            writer.writerow(cells)
        except UnicodeEncodeError as error:
            character = error.object[error.start : error.end]
            raise ExportError(
                _(
                    "%(email)s contains “%(char)s” (U+%(code)04X), which Shift_JIS/CP932 "
                    "cannot represent. Export as UTF-8 instead; nothing was exported."
                )
                % {"email": contact.email, "char": character, "code": ord(character[0])}
            ) from None
        count += 1
    text.flush()
    text.detach()
    spool.seek(0)
    record(
        Action.CONTACTS_EXPORTED,
        actor=membership.user,
        organization=membership.organization,
        request=request,
        rows=count,
        encoding=encoding,
        filter=description or {},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    charset = "shift_jis" if encoding == "cp932" else "utf-8"
    return Export(
        file=spool,
        rows=count,
        file_name=f"contacts-{membership.organization.slug}-{stamp}.csv",
        content_type=f"text/csv; charset={charset}",
    )
