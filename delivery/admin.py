"""Django admin for delivery's platform-level models (read-only where they are records)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from delivery.models import SinkMessage


@admin.register(SinkMessage)
class SinkMessageAdmin(admin.ModelAdmin):
    """What the development sink received: a record of the wire, so nobody edits it here."""

    list_display = ("received_at", "mail_from", "recipients", "subject", "tls", "tls_version")
    list_filter = ("tls",)
    search_fields = ("mail_from",)
    date_hierarchy = "received_at"
    fields = (
        "received_at",
        "mail_from",
        "rcpt_tos",
        "peer",
        "tls",
        "tls_version",
        "tls_cipher",
        "source",
    )
    readonly_fields = fields

    @admin.display(description=_("recipients"))
    def recipients(self, obj: SinkMessage) -> str:
        return ", ".join(obj.rcpt_tos)

    @admin.display(description=_("subject"))
    def subject(self, obj: SinkMessage) -> str:
        return obj.summary()["subject"]

    @admin.display(description=_("raw source"))
    def source(self, obj: SinkMessage) -> str:
        return obj.raw_text()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
