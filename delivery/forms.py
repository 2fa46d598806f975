"""Input validation for the sending pages. The rules (normalising a domain, refusing a
duplicate, checking PEM certificates) live in ``delivery.services``; the views copy a
service's ``ValidationError`` onto these forms so every error shows next to its field.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import fields_for_model
from django.utils.translation import gettext_lazy as _

from delivery.models import SmtpRelay
from delivery.services import RELAY_FIELDS

# A host name (letters, digits, hyphens and dots) or an IPv4/IPv6 address; nothing else
# (no scheme, port, path or spaces: those belong in their own fields or nowhere).
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$|^[0-9a-fA-F:.]+$")


class SendingDomainForm(forms.Form):
    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_(
            "The domain of your From addresses, e.g. mail.example.co.jp. We generate its "
            "DKIM keys and show the DNS records to publish."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def _relay_fields() -> dict[str, forms.Field]:
    fields = fields_for_model(SmtpRelay, fields=RELAY_FIELDS)
    fields["port"] = forms.IntegerField(
        label=fields["port"].label, min_value=1, max_value=65535, initial=587
    )
    fields["max_connections"] = forms.IntegerField(
        label=fields["max_connections"].label, min_value=1, max_value=100, initial=4
    )
    fields["rate_per_second"] = forms.IntegerField(
        label=fields["rate_per_second"].label, min_value=1, max_value=100_000, initial=50
    )
    fields["password"] = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    fields["ca_bundle"].widget = forms.Textarea(
        attrs={"rows": 6, "class": "code", "spellcheck": "false"}
    )
    fields["ca_bundle"].help_text = _(
        "Only for a private relay whose certificate no public CA signed: paste its CA "
        "certificate(s) in PEM form. Certificates are always verified; there is no option "
        "to skip verification, by design."
    )
    fields["security"].help_text = _(
        "TLS is always required. A relay that does not offer STARTTLS, or whose "
        "certificate does not verify, is refused and the campaign pauses."
    )
    fields["is_active"].help_text = _(
        "The first relay in use (oldest first) sends every campaign; with none in use, "
        "the platform's default relay does."
    )
    return fields


class RelayForm(forms.Form):
    """Every field of ``delivery.services.RELAY_FIELDS``. The password is write-only: it
    is never shown, and left empty when changing a relay it keeps the stored one. A relay
    with a stored password also gets ``clear_password``, the only way to remove it
    (``delivery.services.save_relay(clear_password=True)``)."""

    def __init__(self, *args, relay: SmtpRelay | None = None, **kwargs):
        if relay is not None:
            kwargs.setdefault(
                "initial",
                {name: getattr(relay, name) for name in RELAY_FIELDS if name != "password"},
            )
        super().__init__(*args, **kwargs)
        self.fields.update(_relay_fields())
        self.editing = relay is not None
        if self.editing:
            self.fields["password"].help_text = (
                _("Leave empty to keep the stored password.")
                if relay.password
                else _("No password is stored.")
            )
            if relay.password:
                self.fields["clear_password"] = forms.BooleanField(
                    label=_("Clear the stored password"),
                    required=False,
                    help_text=_(
                        "The relay is then used without a password. If it takes mail "
                        "without logging in, clear the username too."
                    ),
                )
                at = RELAY_FIELDS.index("password") + 1
                self.order_fields([*RELAY_FIELDS[:at], "clear_password", *RELAY_FIELDS[at:]])
        else:
            self.fields["password"].help_text = _("Stored encrypted; never shown again.")

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip().rstrip(".").lower()
        if not _HOST.match(host) or "://" in host:
            raise ValidationError(
                _("Enter a host name or IP address only, like smtp.example.co.jp."),
                code="host",
            )
        return host

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip()

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's ``ValidationError`` on the field it names (or the form)."""
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                for item in errors:
                    self.add_error(name if name in self.fields else None, item)
        else:
            for message in error.messages:
                self.add_error(None, message)
