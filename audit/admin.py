"""The audit log in the Django admin, for platform operators: read-only.

The database refuses changes anyway (migration 0002); taking away the add, change and
delete permissions keeps the admin from offering buttons that could only fail.
"""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "chain", "seq", "organization", "actor_label", "action")
    list_filter = ("action",)
    list_select_related = ("organization",)
    search_fields = ("actor_label", "target_label", "chain")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-seq")
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
